//! The RDB format over borrowed bytes: no I/O, no knowledge of what the data is used for.
//!
//! [`record::Reader`] walks the records of a file; [`value::decode`] turns one value into
//! [`visit::Visitor`] events. Everything checks lengths against the bytes that remain and
//! reports errors with the absolute byte offset ([`error::Error`]).

pub mod crc;
pub mod cursor;
pub mod dupset;
pub mod error;
pub mod header;
pub mod intset;
pub mod keymeta;
pub mod listpack;
pub mod lzf;
pub mod module;
pub mod record;
pub mod stream;
pub mod template;
pub mod types;
pub mod value;
pub mod visit;
pub mod ziplist;
pub mod zipmap;

pub use cursor::{Cursor, RStr, Str};
pub use error::{Error, ErrorKind, Result};
pub use header::{Dialect, Header};
pub use record::{Key, Reader, Record};
