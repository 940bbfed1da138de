//! The one connection layer `load` and `verify` share: a target's URL, TCP or TLS, the
//! handshake (AUTH, PING, SELECT checks), a server's version and mode ([`probe`]), the
//! cluster's slot map ([`SlotMap`]), redirects ([`Redirect`]), a blocking connection for
//! questions ([`Conn`]) and the pipelined connection that carries a load ([`node::Node`]),
//! paced by what its acknowledgements tell of the path ([`pacing`]).
//!
//! Every wait is bounded by the URL's timeouts, and every error names the node and what was
//! being waited for ([`Error`]); a password never appears in one.

pub mod access;
pub mod client;
mod error;
mod handshake;
pub mod node;
pub mod pacing;
mod redirect;
pub mod tls;
pub mod topology;
pub mod transport;
pub mod url;

pub use client::Conn;
pub use error::{Error, secs};
pub use handshake::{handshake, handshake_in_db};
pub use redirect::Redirect;
pub use topology::{Hints, Probe, SlotMap, probe, probe_with};
pub use url::Url;
