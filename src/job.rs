//! What every job (a load, a conversion, a verification) is handed and hands back: how it
//! tells a person watching how far it is ([`Progress`]; the library only reports, the binary
//! draws), what stops it ([`Stop`]), and its problems with its inputs ([`Problem`]).

/// Progress of a job, in bytes of its dumps and keys written. Every method has a no-op
/// default; the calls come from several threads.
pub trait Progress: Sync {
    /// The job has `total` bytes of dumps to go through.
    fn start(&self, _total: u64) {}
    /// `bytes` more of the dumps are done.
    fn advance(&self, _bytes: u64) {}
    /// `keys` keys have been written (acknowledged by the target, for a load) so far.
    fn keys(&self, _keys: u64) {}
    /// A line for the person: a note, a warning, a dump's error (without the program's
    /// name in front).
    fn note(&self, _line: &str) {}
    /// The job is over (the bar goes away).
    fn finish(&self) {}
}

/// Progress nobody watches.
pub struct Silent;

impl Progress for Silent {}

/// A problem with one input of a job: its path (or what was being done) and the error. A
/// reader error is a [`crate::format::Error`] somewhere in the error's chain, which the
/// binary turns into a hint by its kind.
pub type Problem = (std::path::PathBuf, Box<dyn std::error::Error + Send + Sync>);

/// What a running job checks to know it must stop, handed down to it as a value: a stop
/// asked for (a signal once [`crate::stop::install`] ran, or [`Stop::request`] by the caller), and its
/// dumps' mappings faulting (a file that shrank while it was read: see
/// [`crate::input::faulted`]).
///
/// The signal handler and the SIGBUS handler can only set process-wide flags; a `Stop` is
/// what carries them to the code that acts on them, so that a job's owner (the binary, a
/// test, a library caller) decides what stops it.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    asked: std::sync::Arc<std::sync::atomic::AtomicI32>,
    /// Whether SIGINT/SIGTERM stop it (the binary), or only [`Stop::request`] (a library
    /// caller that handles signals itself).
    signals: bool,
}

impl Stop {
    /// Stops on SIGINT/SIGTERM (once [`crate::stop::install`] ran) and on [`Stop::request`].
    pub fn on_signals() -> Stop {
        Stop { asked: Default::default(), signals: true }
    }

    /// Stops only on [`Stop::request`].
    pub fn manual() -> Stop {
        Stop::default()
    }

    /// Asks the job to stop as if `sig` had arrived.
    pub fn request(&self, sig: i32) {
        self.asked.store(sig, std::sync::atomic::Ordering::Release);
        if self.signals {
            crate::stop::request(sig);
        }
    }

    /// The signal that asked for a stop, if one did.
    pub fn requested(&self) -> Option<i32> {
        match self.asked.load(std::sync::atomic::Ordering::Acquire) {
            0 if self.signals => crate::stop::requested(),
            0 => None,
            s => Some(s),
        }
    }

    /// Whether a dump could not be read because its file changed under the mapping.
    pub fn input_changed(&self) -> bool {
        crate::input::faulted()
    }
}
