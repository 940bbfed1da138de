//! Loading dumps into a live server or cluster: the convert engine's commands, routed per
//! key to the node that owns its slot, pipelined over a bounded window per node, with
//! redirects, retries and reconnects, and a report of what arrived.
//!
//! - [`Job`]: a whole load (pre-pass, checkpoint, one engine run per dump, the report);
//! - `pool` ([`Pool`]): the connections, the slot map, reconnects and nodes given up;
//! - `sink`: the engine's sink (gather and route); `outcome`: replies into the
//!   `ledger`; `retry`: keys sent again ([`Finish`]); [`report`]: what the load did;
//! - `survey`: the pre-pass; [`checkpoint`]: progress kept across runs.
//!
//! Invariants:
//! - A key is counted loaded only when every one of its commands was acknowledged without
//!   error; otherwise it is retried or counted failed with the error. Nothing is dropped
//!   silently.
//! - A retry decodes the key again from the dump and sends all its commands: they start
//!   with `DEL` (or `RESTORE ... REPLACE`), so a key half-written before a failure converges.

pub mod checkpoint;
mod job;
mod ledger;
pub mod merge;
mod metrics;
mod outcome;
mod pool;
pub mod preflight;
pub mod report;
mod retry;
mod sink;
mod survey;
pub mod throttle;

pub use job::{Job, Outcome};
pub use ledger::MAX_ATTEMPTS;
pub use pool::{Pool, STRIKES};
pub use report::Report;
pub use retry::Finish;

/// What to do with a key that already exists on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Conflict {
    /// Replace it (the commands start with `DEL`, `RESTORE` has `REPLACE`).
    #[default]
    Replace,
    /// Leave it, count it as skipped.
    Skip,
    /// Leave it, count it as failed (exit code 1).
    Fail,
}

/// Why a load, or one dump's part of it, could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A node could not be reached, or answered the handshake wrongly.
    #[error(transparent)]
    Net(#[from] crate::net::Error),
    /// The target cannot take the load as asked (a db it lacks, a cluster and a db other
    /// than 0, a node that did not come back); names what to change.
    #[error("{0}")]
    Refused(String),
    /// A command that every later one depends on failed (`SELECT`, `ASKING`), or a key to
    /// send again is not where it was.
    #[error("{0}")]
    Fatal(String),
    /// The checkpoint or the report could not be written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A key to send again could not be decoded again.
    #[error(transparent)]
    Format(#[from] crate::format::Error),
    /// A key's commands could not be written.
    #[error(transparent)]
    Convert(#[from] crate::convert::Error),
    /// The dump changed while it was being read.
    #[error("the dump changed while it was being read; nothing more is sent")]
    Changed,
    /// A stop was asked for (the signal).
    #[error("{}", crate::stop::error(*.0))]
    Stopped(i32),
}
