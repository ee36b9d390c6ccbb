//! What stops the tools from outside, and which one came, for the exit status: SIGINT and
//! SIGTERM on Unix; on Windows the console's Ctrl-C, Ctrl-Break and close (or log-off and
//! shut-down) events, through the console control API rather than the C runtime's `signal`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// A request to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT, Ctrl-C: the person at the terminal.
    Interrupt,
    /// SIGTERM, Ctrl-Break, a console closing: a service manager's or the system's stop.
    Terminate,
}

impl Signal {
    /// The Unix signal number, for the exit status 128 + number (the same on Windows).
    pub fn number(self) -> u8 {
        match self {
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
        }
    }
}

/// The signal received, as its number; 0 for none yet.
static RECEIVED: AtomicU8 = AtomicU8::new(0);
/// Set by the first signal: the library watches it.
static STOP: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

/// The signal that stopped the work, if one did.
pub fn received() -> Option<Signal> {
    match RECEIVED.load(Ordering::SeqCst) {
        2 => Some(Signal::Interrupt),
        15 => Some(Signal::Terminate),
        _ => None,
    }
}

/// Notes a signal: the first sets the stop flag (no new work starts, in-flight files are
/// finished or discarded); a second ends the process at once.
fn arrived(signal: Signal) {
    let first = RECEIVED
        .compare_exchange(0, signal.number(), Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    match STOP.get() {
        Some(stop) if first => stop.store(true, Ordering::SeqCst),
        _ => std::process::exit(128 + i32::from(signal.number())),
    }
}

/// Installs the handlers and returns the flag the first signal sets.
pub fn install() -> Arc<AtomicBool> {
    let stop = STOP
        .get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone();
    platform::install();
    stop
}

#[cfg(unix)]
mod platform {
    use super::{Signal, arrived};
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    /// A thread waits for the signals, so the handler itself only wakes it.
    pub fn install() {
        let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    arrived(match signal {
                        SIGTERM => Signal::Terminate,
                        _ => Signal::Interrupt,
                    });
                }
            });
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod platform {
    use super::{Signal, arrived};
    use windows_sys::Win32::System::Console::{
        CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT,
        SetConsoleCtrlHandler,
    };

    /// Runs on a thread the system starts for each console event.
    unsafe extern "system" fn handler(event: u32) -> i32 {
        match event {
            CTRL_C_EVENT => arrived(Signal::Interrupt),
            CTRL_BREAK_EVENT => arrived(Signal::Terminate),
            CTRL_CLOSE_EVENT | CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT => {
                arrived(Signal::Terminate);
                // The system ends the process once this returns: give the run the few
                // seconds it allows to stop cleanly (main exits the process before then).
                std::thread::sleep(std::time::Duration::from_secs(4));
            }
            _ => return 0,
        }
        1
    }

    pub fn install() {
        // SAFETY: `handler` matches PHANDLER_ROUTINE and lives as long as the process.
        unsafe {
            SetConsoleCtrlHandler(Some(handler), 1);
        }
    }
}
