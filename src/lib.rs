//! rdbshift: read Redis/Valkey RDB snapshots offline and move their data.
//!
//! Layers, each knowing only those below it: [`mod@format`] (the RDB format over `&[u8]`),
//! [`encode`] (JSON and RESP writers fed by format visitors), and the binary's CLI.

pub mod convert;
pub mod encode;
pub mod filter;
pub mod format;
pub mod input;
pub mod load;
pub mod output;
pub mod resp;
pub mod slot;
pub mod stats;
pub mod stop;
