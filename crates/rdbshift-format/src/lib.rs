#![deny(missing_docs)]
//! A reader for Redis and Valkey RDB snapshot files, over borrowed bytes: no I/O, no
//! knowledge of what the data is used for, no allocation driven by a count read from the
//! file.
//!
//! - [`Reader`] walks a file's records ([`Record`]): keys with their database, expiry and
//!   value type, aux fields, functions, module aux data, and the checksum at the end.
//! - [`Key::decode`] turns one value into [`visit::Visitor`] events, element by element, so
//!   a value of any size is never held whole.
//! - Every length is checked against the bytes that remain; every error carries the byte
//!   offset (and the key, when one is known): [`Error`].
//! - The integrity rules Redis applies when it loads a file (duplicate members, ziplist and
//!   listpack consistency, stream groups ...) are applied as values are read;
//!   [`Key::validate`] runs them without a visitor. Each rule and the server check behind
//!   it are listed in the repository's `docs/integrity-rules.md`. What no server check
//!   refuses is read as the server reads it and reported as a [`visit::Oddity`].
//!
//! RDB versions 1 to 15 (Redis 2.x to 8.10) and Valkey's `VALKEY080`/`VALKEY081` are read;
//! the magic decides the dialect, which decides what the newest type bytes mean.
//!
//! # Reading a file and listing its keys
//!
//! ```
//! use rdbshift_format::record::Options;
//! use rdbshift_format::{Reader, Record};
//!
//! // A one-key dump: magic, SELECTDB 0, a string "hello" = "world", EOF, and a checksum of
//! // zeros (the writer turned checksums off). Real files come from `std::fs::read` or a
//! // memory map.
//! let dump = b"REDIS0011\xfe\x00\x00\x05hello\x05world\xff\0\0\0\0\0\0\0\0";
//! let mut reader = Reader::new(dump, Options::default())?;
//! let mut keys = Vec::new();
//! while let Some(record) = reader.next_record()? {
//!     if let Record::Key(k) = record {
//!         keys.push((k.db, k.name()?));
//!     }
//! }
//! assert_eq!(keys, vec![(0, b"hello".to_vec())]);
//! # Ok::<(), rdbshift_format::Error>(())
//! ```
//!
//! # Decoding a value
//!
//! A [`visit::Visitor`] states only the events it wants; every method has a default.
//!
//! ```
//! use rdbshift_format::record::Options;
//! use rdbshift_format::value::Scratch;
//! use rdbshift_format::visit::Visitor;
//! use rdbshift_format::{Reader, Record, Str};
//!
//! /// Collects a string value, or the items of a list.
//! #[derive(Default)]
//! struct Items(Vec<Vec<u8>>);
//!
//! impl Visitor for Items {
//!     fn string(&mut self, v: Str<'_>) -> rdbshift_format::Result<()> {
//!         self.0.push(v.to_vec());
//!         Ok(())
//!     }
//!     fn list_item(&mut self, v: Str<'_>) -> rdbshift_format::Result<()> {
//!         self.0.push(v.to_vec());
//!         Ok(())
//!     }
//! }
//!
//! // A list "l" (type 1, linked list) holding "a" and "b", checksum off.
//! let dump = b"REDIS0006\xfe\x00\x01\x01l\x02\x01a\x01b\xff\0\0\0\0\0\0\0\0";
//! let mut reader = Reader::new(dump, Options::default())?;
//! let header = reader.header;
//! let mut scratch = Scratch::default();
//! while let Some(record) = reader.next_record()? {
//!     if let Record::Key(k) = record {
//!         let mut items = Items::default();
//!         k.decode(dump, &header, &mut items, &mut scratch)?;
//!         assert_eq!(items.0, vec![b"a".to_vec(), b"b".to_vec()]);
//!     }
//! }
//! # Ok::<(), rdbshift_format::Error>(())
//! ```
//!
//! A complete program that prints every key of a file is in `examples/keys.rs`.

pub mod crc;
pub mod cursor;
mod dupset;
pub mod error;
pub mod header;
mod intset;
pub mod keymeta;
mod listpack;
mod lzf;
pub mod module;
pub mod record;
pub mod stream;
pub mod stream_view;
pub mod template;
pub mod types;
pub mod value;
pub mod visit;
mod ziplist;
mod zipmap;

pub use cursor::{Cursor, RStr, Str};
pub use error::{Error, ErrorKind, Result};
pub use header::{Dialect, Header};
pub use record::{Key, Reader, Record};

impl Key<'_> {
    /// The value's logical type, as `TYPE` reports it (module values are
    /// [`types::Kind::Module`]; [`Key::ty`] is the raw type byte, which says the encoding).
    pub fn kind(&self) -> types::Kind {
        types::kind(self.ty)
    }
}
