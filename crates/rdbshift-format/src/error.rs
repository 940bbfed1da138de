//! Typed errors of the format layer.
//!
//! Every error carries the absolute byte offset in the file where the problem was
//! found, and the key being read when one is known. Errors found inside an
//! LZF-compressed blob name the blob's offset in the file and the offset inside the
//! decompressed bytes, since the latter does not exist in the file.

use std::fmt;

/// What went wrong, without the position (see [`Error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("unexpected end of data: {needed} bytes needed, {available} remain")]
    /// The data ends inside an item: the file or a blob is cut short.
    Truncated {
        /// Bytes the item needs.
        needed: u64,
        /// Bytes that remain.
        available: u64,
    },
    #[error("not an RDB file: bad magic {0:?}")]
    /// The first 9 bytes are neither `REDIS` + 4 digits nor `VALKEY` + 3 digits (or the
    /// version is 0); holds the magic as shown by [`show_bytes`].
    BadMagic(String),
    #[error("unsupported RDB version {found} ({dialect}); the newest supported is {newest}")]
    /// The magic's version is newer than this reader knows and `--allow-newer` is off.
    TooNew {
        /// `redis` or `valkey`.
        dialect: &'static str,
        /// The version in the magic.
        found: u32,
        /// The newest version read for that dialect.
        newest: u32,
    },
    #[error("unknown opcode or value type {0} (0x{0:02x})")]
    /// A type or opcode byte this dialect and version do not define.
    UnknownType(u8),
    /// A type or opcode known by name whose layout is not published (see
    /// [`super::types::refused_by_name`]).
    #[error("{0}")]
    Refused(&'static str),
    #[error("{what} length {len} exceeds the {remaining} bytes that remain")]
    /// A declared length or count needs more bytes than remain: corruption or a hostile count,
    /// refused before anything is allocated for it.
    LengthTooLarge {
        /// What was counted (`string`, `LZF string`, a container's items).
        what: &'static str,
        /// The declared length or count.
        len: u64,
        /// Bytes that remain.
        remaining: u64,
    },
    #[error("invalid length encoding 0x{0:02x}")]
    /// A length prefix whose first byte no encoding uses, or a special (string) encoding where a
    /// plain length must be; holds that first byte.
    BadLength(u8),
    #[error("invalid LZF data: {0}")]
    /// An LZF-compressed string does not decompress to its declared length.
    Lzf(&'static str),
    #[error("corrupt {container}: {reason}")]
    /// A structure inside a value breaks its own rules (ziplist, listpack, intset, stream,
    /// template...).
    Corrupt {
        /// The structure being decoded.
        container: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    #[error("checksum mismatch: file says 0x{stored:016x}, content hashes to 0x{computed:016x}")]
    /// The CRC-64 trailer after EOF does not match the file's bytes (checked unless it is 0 or
    /// `--no-checksum` is given).
    Checksum {
        /// The trailer's value.
        stored: u64,
        /// The CRC-64 of every byte before the trailer.
        computed: u64,
    },
    #[error(
        "module value of type 6 (pre-GA module format, Redis 4.0 RC) cannot be read without its module"
    )]
    /// A type-6 module value (Redis 4.0 RC format), which cannot be skipped without its module.
    ModulePreGa,
    #[error(
        "key appears twice in database {db} (first at byte offset {first}): a server refuses such a file (\"Duplicated key found in RDB file\")"
    )]
    /// A key occurs twice in one database and duplicates are not allowed.
    DuplicateKey {
        /// The database number.
        db: u64,
        /// Offset in the file of the key's first occurrence.
        first: u64,
    },
    #[error("missing EOF opcode: file ends at {0} bytes")]
    /// The file ends without the EOF opcode; holds the file's length in bytes.
    NoEof(u64),
    /// A visitor failed with its own error, which the decoding hands back instead of this
    /// one (never seen outside the reader).
    #[doc(hidden)]
    #[error("the visitor stopped")]
    VisitorFailed,
}

/// A format error with its position.
#[derive(Debug)]
pub struct Error {
    /// Absolute offset in the file (for errors inside a compressed blob: the blob's offset).
    pub offset: u64,
    /// Offset inside the decompressed bytes of an LZF blob, when the error lies there.
    pub inner: Option<u64>,
    /// The key being decoded, when known.
    pub key: Option<Vec<u8>>,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl Error {
    /// An error at `offset` in the file, with no key attached yet.
    pub fn new(offset: u64, kind: ErrorKind) -> Self {
        Error { offset, inner: None, key: None, kind }
    }
    /// A [`ErrorKind::Corrupt`] error at `offset`.
    pub fn corrupt(offset: u64, container: &'static str, reason: impl Into<String>) -> Self {
        Error::new(offset, ErrorKind::Corrupt { container, reason: reason.into() })
    }
    /// Attaches the key if none is attached yet.
    pub fn with_key(mut self, key: &[u8]) -> Self {
        if self.key.is_none() {
            self.key = Some(key.to_vec());
        }
        self
    }
}

/// Renders bytes for a message: printable ASCII as is, everything else escaped, cut at 64 bytes.
pub fn show_bytes(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(64) {
        if (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    if b.len() > 64 {
        s.push_str("...");
    }
    s
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.kind, self.offset)?;
        if let Some(i) = self.inner {
            write!(f, " (offset {i} inside the LZF-compressed blob that starts there)")?;
        }
        if let Some(k) = &self.key {
            write!(f, " in key \"{}\"", show_bytes(k))?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The result of every fallible reader function.
pub type Result<T> = std::result::Result<T, Error>;
