//! SIGINT and SIGTERM ask the work to stop; which one came is remembered for the exit status.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static RECEIVED: AtomicUsize = AtomicUsize::new(0);

/// A signal that stops the tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: a service manager's stop.
    Terminate,
}

impl Signal {
    /// The signal's number, for the exit status 128 + number.
    pub fn number(self) -> u8 {
        match self {
            Signal::Interrupt => SIGINT as u8,
            Signal::Terminate => SIGTERM as u8,
        }
    }
}

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

/// The signal that stopped the work, if one did.
pub fn received() -> Option<Signal> {
    match RECEIVED.load(Ordering::SeqCst) {
        n if n == SIGINT as usize => Some(Signal::Interrupt),
        n if n == SIGTERM as usize => Some(Signal::Terminate),
        _ => None,
    }
}
