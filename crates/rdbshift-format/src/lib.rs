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
//!         keys.push((k.db(), k.name()?));
//!     }
//! }
//! assert_eq!(keys, vec![(0, b"hello".to_vec())]);
//! # Ok::<(), rdbshift_format::Error>(())
//! ```
//!
//! # Decoding a value
//!
//! A [`visit::Visitor`] states only the events it wants; every method has a default. A key
//! borrows the file it came from, so [`Key::decode`] needs only the visitor (and reusable
//! buffer space): a value cannot be decoded against the wrong bytes.
//!
//! ```
//! use rdbshift_format::visit::Visitor;
//! use rdbshift_format::{Reader, Record, Scratch, Str, record::Options};
//!
//! /// Collects a string value, or the items of a list.
//! #[derive(Default)]
//! struct Items(Vec<Vec<u8>>);
//!
//! impl Visitor for Items {
//!     type Error = rdbshift_format::Error;
//!     fn string(&mut self, v: Str<'_>) -> Result<(), Self::Error> {
//!         self.0.push(v.to_vec());
//!         Ok(())
//!     }
//!     fn list_item(&mut self, v: Str<'_>) -> Result<(), Self::Error> {
//!         self.0.push(v.to_vec());
//!         Ok(())
//!     }
//! }
//!
//! // A list "l" (type 1, linked list) holding "a" and "b", checksum off.
//! let dump = b"REDIS0006\xfe\x00\x01\x01l\x02\x01a\x01b\xff\0\0\0\0\0\0\0\0";
//! let mut reader = Reader::new(dump, Options::default())?;
//! let mut scratch = Scratch::default();
//! while let Some(record) = reader.next_record()? {
//!     if let Record::Key(k) = record {
//!         let mut items = Items::default();
//!         k.decode(&mut items, &mut scratch)?;
//!         assert_eq!(items.0, vec![b"a".to_vec(), b"b".to_vec()]);
//!     }
//! }
//! # Ok::<(), rdbshift_format::Error>(())
//! ```
//!
//! # A visitor with its own error, stopping early
//!
//! A visitor's `Error` type is its own; the reader's errors convert into it (`From`). A
//! method that returns an error stops the decoding there, and [`Key::decode`] returns that
//! error unchanged: this is also how a visitor stops once it has what it wants.
//!
//! ```
//! use rdbshift_format::visit::Visitor;
//! use rdbshift_format::{Reader, Record, Scratch, Str, record::Options};
//!
//! #[derive(Debug)]
//! enum Found {
//!     /// The first item longer than 1 byte, and how many items were seen.
//!     Long(Vec<u8>, usize),
//!     /// The file is damaged.
//!     Format(rdbshift_format::Error),
//! }
//! impl From<rdbshift_format::Error> for Found {
//!     fn from(e: rdbshift_format::Error) -> Self {
//!         Found::Format(e)
//!     }
//! }
//!
//! struct FirstLong(usize);
//! impl Visitor for FirstLong {
//!     type Error = Found;
//!     fn list_item(&mut self, v: Str<'_>) -> Result<(), Found> {
//!         self.0 += 1;
//!         let v = v.to_vec();
//!         if v.len() > 1 { Err(Found::Long(v, self.0)) } else { Ok(()) }
//!     }
//! }
//!
//! // A list "l" holding "a", "bc" and "d": the visitor stops at "bc" and never sees "d".
//! let dump = b"REDIS0006\xfe\x00\x01\x01l\x03\x01a\x02bc\x01d\xff\0\0\0\0\0\0\0\0";
//! let mut reader = Reader::new(dump, Options::default()).unwrap();
//! let k = loop {
//!     match reader.next_record().unwrap() {
//!         Some(Record::Key(k)) => break k,
//!         Some(_) => {} // SELECTDB
//!         None => panic!("no key"),
//!     }
//! };
//! match k.decode(&mut FirstLong(0), &mut Scratch::default()) {
//!     Err(Found::Long(item, seen)) => assert_eq!((item, seen), (b"bc".to_vec(), 2)),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! A complete program that prints every key of a file is in `examples/keys.rs`.

mod crc;
mod cursor;
mod dupset;
pub mod error;
pub mod header;
mod intset;
mod keymeta;
mod keynames;
mod listpack;
mod lzf;
pub mod module;
pub mod record;
pub mod stream;
mod stream_view;
mod template;
pub mod types;
mod value;
pub mod visit;
#[cfg(feature = "write")]
pub mod write;
mod ziplist;
mod zipmap;

pub use crc::{Crc64, crc64};
pub use cursor::{RStr, Str, parse_double};
pub use error::{Error, ErrorKind, Result};
pub use header::{Dialect, Header};
pub use keymeta::MetaClass;
pub use listpack::{entry_len as listpack_entry_len, parse_i64_strict};
pub use record::{Key, RawString, Reader, Record, Run, Step};
pub use value::Scratch;
