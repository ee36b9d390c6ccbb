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
/// A runner's hand-off (see [`relay`]): when set, signals go there and stop nothing here.
type Forward = Box<dyn Fn(Signal) + Send + Sync>;
static RELAY: std::sync::OnceLock<Forward> = std::sync::OnceLock::new();

/// The signal that stopped the work, if one did.
pub fn received() -> Option<Signal> {
    match RECEIVED.load(Ordering::SeqCst) {
        2 => Some(Signal::Interrupt),
        15 => Some(Signal::Terminate),
        _ => None,
    }
}

/// Notes a signal: the first sets the stop flag (no new work starts, in-flight files are
/// finished or discarded); a second ends the process at once. Under [`relay`], every signal
/// is handed on instead.
fn arrived(signal: Signal) {
    let first = RECEIVED
        .compare_exchange(0, signal.number(), Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    if let Some(forward) = RELAY.get() {
        forward(signal);
        return;
    }
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

/// Installs the handlers for a program that runs others and outlives them (cl-pull): every
/// signal is noted (the first for [`received`]) and handed to `forward`, and none stops or
/// ends this process, which waits for its children and reports how they ended.
pub fn relay(forward: impl Fn(Signal) + Send + Sync + 'static) {
    if RELAY.set(Box::new(forward)).is_ok() {
        platform::install();
    }
}

/// Sends `signal` to the process `pid`. (On Windows there is nothing to send: the processes
/// of a console receive its events themselves.)
#[cfg(unix)]
pub fn send(pid: u32, signal: Signal) -> std::io::Result<()> {
    use rustix::process::{Pid, Signal as Sig, kill_process};
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| std::io::Error::other(format!("no such process {pid}")))?;
    let sig = match signal {
        Signal::Interrupt => Sig::INT,
        Signal::Terminate => Sig::TERM,
    };
    kill_process(pid, sig).map_err(std::io::Error::from)
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
