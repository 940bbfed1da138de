//! A stop asked for by the user: SIGINT or SIGTERM.
//!
//! [`install`] makes the first signal set a flag instead of ending the process, so that the
//! work in progress ends cleanly: a conversion removes its unfinished output, a load stops
//! sending, waits a bounded time for acknowledgements, and writes its checkpoint and report.
//! A second signal ends the process at once (the default action).

use std::sync::atomic::{AtomicI32, Ordering};

static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Handles SIGINT and SIGTERM from now on (see the module doc). A signal the process was
/// started with ignored (a background job of a script ignores SIGINT) stays ignored.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: reads the current disposition, then installs a handler that only touches
        // an atomic and resets the disposition.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    if SIGNAL.swap(sig, Ordering::AcqRel) != 0 {
        // the second one: end now
        // SAFETY: signal() and raise() are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

/// The signal that asked for a stop, if one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::Acquire) {
        0 => None,
        s => Some(s),
    }
}

/// The exit code for a stop by `sig` (128 + the signal number: 130 for SIGINT, 143 for
/// SIGTERM), as shells report it.
pub fn exit_code(sig: i32) -> i32 {
    128 + sig
}

/// The error a reader or writer stops with when a stop was asked for.
pub fn error(sig: i32) -> std::io::Error {
    let name = match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    };
    std::io::Error::new(std::io::ErrorKind::Interrupted, format!("stopped by {name}"))
}

/// Asks for a stop as if `sig` had arrived (tests, and a caller that must stop).
pub fn request(sig: i32) {
    SIGNAL.store(sig, Ordering::Release);
}
