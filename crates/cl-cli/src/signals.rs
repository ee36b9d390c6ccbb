//! SIGINT and SIGTERM ask the work to stop; the exit code then says which one came.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static RECEIVED: AtomicUsize = AtomicUsize::new(0);

/// Installs the handlers. The first SIGINT or SIGTERM sets the returned flag, which the
/// library watches: no new work starts, in-flight files are finished or discarded. A second
/// one ends the process at once.
pub fn install() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as the previous signal left it.
        let _ = flag::register_conditional_shutdown(signal, 128 + signal, stop.clone());
        let _ = flag::register_usize(signal, &RECEIVED, signal as usize);
        let _ = flag::register(signal, stop.clone());
    }
    stop
}

/// True when SIGTERM (a service manager's stop) is what stopped the work.
pub fn terminated() -> bool {
    RECEIVED.load(Ordering::SeqCst) == SIGTERM as usize
}

/// The exit code for work a signal stopped: 128 + its number (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code() -> u8 {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => crate::exit::INTERRUPTED,
        n => u8::try_from(128 + n).unwrap_or(crate::exit::INTERRUPTED),
    }
}
