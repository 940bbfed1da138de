//! rdbshift: read Redis/Valkey RDB snapshots offline and move their data.
//!
//! Layers, each knowing only those below it:
//! - [`mod@format`]: the RDB format over borrowed bytes (records, values as visitor events,
//!   integrity rules, checksums). No I/O.
//! - [`input`]: dump files, memory-mapped and guarded (SIGBUS, `VKCS` envelopes);
//!   [`output`]: output files written beside their destination and renamed on success.
//! - [`filter`]: the one selection stage every command uses.
//! - [`encode`]: JSON (`inspect`); [`stats`]: what `info` shows.
//! - [`convert`]: keys to RESP commands or RESTORE payloads, and the parallel engine.
//! - [`resp`]: the RESP command writer, the bounded reply parser, the client and its
//!   transport (TCP or TLS); [`slot`]: cluster hash slots.
//! - [`load`]: pipelined loading into a server or cluster (pre-pass, ledger, checkpoints)
//!   and `verify`.
//! - [`stop`]: SIGINT/SIGTERM as a request to stop cleanly.
//!
//! The binary (`src/cli/`) only parses arguments and wires these together.

pub mod convert;
pub mod encode;
pub mod filter;
pub use rdbshift_format as format;
pub mod input;
pub mod job;
pub mod load;
pub mod net;
pub mod output;
pub mod resp;
pub mod server;
pub mod slot;
pub mod stats;
pub mod stop;
pub mod verify;
