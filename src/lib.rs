//! rdbshift: read Redis/Valkey RDB snapshots offline and move their data.
//!
//! Layers, each knowing only those below it (ARCHITECTURE.md draws them):
//! - [`mod@format`]: the RDB format over borrowed bytes (records, values as visitor events,
//!   integrity rules, checksums). No I/O.
//! - [`stop`]: SIGINT/SIGTERM as a request to stop cleanly; [`resp`]: the RESP command
//!   writer and the bounded reply parser; [`slot`]: cluster hash slots; [`rename`]: the
//!   names and dbs keys go out under.
//! - [`input`]: dump files, memory-mapped and guarded (SIGBUS, `VKCS` envelopes);
//!   [`filter`]: the one selection stage; [`server`]: what a target server understands.
//! - [`output`]: output files written beside their destination and renamed on success;
//!   [`encode`]: JSON (`inspect`); [`job`]: what a job is handed (`Progress`, `Stop`);
//!   [`net`]: the connection layer (URL, TLS, handshake, permissions, slot map, redirects,
//!   pipelines); [`metrics`]: Prometheus text served while a job runs.
//! - [`convert`]: keys to RESP commands or RESTORE payloads, and the parallel engine;
//!   [`stats`]: what `info` shows.
//! - [`load`]: pipelined loading into a server or cluster (pre-pass, pre-flight, limits,
//!   ledger, checkpoints, reports and their merge);
//!   [`verify`]: checking that a server holds what dumps hold.
//!
//! The binary (`src/cli/`) only parses arguments, runs the jobs and prints.

pub mod convert;
pub mod encode;
pub mod filter;
pub use rdbshift_format as format;
pub mod input;
pub mod job;
pub mod load;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod output;
pub mod rename;
pub mod resp;
pub mod rewrite;
pub mod server;
pub mod slot;
pub mod stats;
pub mod stop;
pub mod verify;
