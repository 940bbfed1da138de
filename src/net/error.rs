//! The connection layer's errors: each names the node and what was being waited for.

use std::time::Duration;

use super::transport::is_timeout;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("timed out after {} waiting for {addr} ({what})", secs(*.after))]
    TimedOut { addr: String, after: Duration, what: String },
    #[error("{addr} ({what}): {source}")]
    Io {
        addr: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("protocol error from {addr}: {msg}")]
    Protocol { addr: String, msg: String },
    #[error("connection closed by {addr} ({what})")]
    Closed { addr: String, what: String },
    /// The server answered an error where the handshake needs success (`AUTH`, `SELECT`,
    /// `PING`, `INFO`, `CLUSTER SLOTS`).
    #[error("{addr}: {what}{}{msg}", if what.is_empty() { "" } else { " failed: " })]
    Refused { addr: String, what: String, msg: String },
    /// The TLS setup (certificates, server name) failed before a byte was sent.
    #[error("{0}")]
    Tls(String),
    /// The target's cluster state cannot be used (no slot map, a slot without a node).
    #[error("{0}")]
    Cluster(String),
    /// The target's URL cannot be read.
    #[error("{0}")]
    Url(String),
}

/// A duration for messages: `2 s`, `1.5 s`.
pub fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl Error {
    /// Whether a wait ran out (a node that times out again and again is given up).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::TimedOut { .. })
    }
    /// An error reply `msg` from `addr` to `what`.
    pub fn refused(addr: &str, what: &str, msg: &[u8]) -> Error {
        Error::Refused {
            addr: addr.into(),
            what: what.into(),
            msg: String::from_utf8_lossy(msg).into_owned(),
        }
    }
    /// An I/O error while waiting for `what` from `addr`: a timeout says so.
    pub fn io(addr: &str, what: &str, after: Duration, e: std::io::Error) -> Error {
        if is_timeout(&e) {
            Error::TimedOut { addr: addr.into(), after, what: what.into() }
        } else {
            Error::Io { addr: addr.into(), what: what.into(), source: e }
        }
    }
}
