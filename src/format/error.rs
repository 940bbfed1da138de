//! Typed errors of the format layer.
//!
//! Every error carries the absolute byte offset in the file where the problem was
//! found, and the key being read when one is known. Errors found inside an
//! LZF-compressed blob name the blob's offset in the file and the offset inside the
//! decompressed bytes, since the latter does not exist in the file.

use std::fmt;

/// What went wrong, without the position (see [`Error`]).
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("unexpected end of data: {needed} bytes needed, {available} remain")]
    Truncated { needed: u64, available: u64 },
    #[error("not an RDB file: bad magic {0:?}")]
    BadMagic(String),
    #[error(
        "unsupported RDB version {found} ({dialect}); the newest supported is {newest} (use --allow-newer to try anyway)"
    )]
    TooNew { dialect: &'static str, found: u32, newest: u32 },
    #[error("unknown opcode or value type {0} (0x{0:02x})")]
    UnknownType(u8),
    /// A type or opcode known by name whose layout is not published (see
    /// [`super::types::refused_by_name`]).
    #[error("{0}")]
    Refused(&'static str),
    #[error("{what} length {len} exceeds the {remaining} bytes that remain")]
    LengthTooLarge { what: &'static str, len: u64, remaining: u64 },
    #[error("invalid length encoding 0x{0:02x}")]
    BadLength(u8),
    #[error("invalid LZF data: {0}")]
    Lzf(&'static str),
    #[error("corrupt {container}: {reason}")]
    Corrupt { container: &'static str, reason: String },
    #[error("checksum mismatch: file says 0x{stored:016x}, content hashes to 0x{computed:016x}")]
    Checksum { stored: u64, computed: u64 },
    #[error("module value of type 6 (pre-GA module format, Redis 4.0 RC) cannot be read without its module")]
    ModulePreGa,
    #[error(
        "key appears twice in database {db} (first at byte offset {first}): a server refuses such a file (\"Duplicated key found in RDB file\"); --allow-duplicate-keys accepts it, the last one wins"
    )]
    DuplicateKey { db: u64, first: u64 },
    #[error("missing EOF opcode: file ends at {0} bytes")]
    NoEof(u64),
    #[error("output error: {0}")]
    Sink(#[from] std::io::Error),
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
    pub kind: ErrorKind,
}

impl Error {
    pub fn new(offset: u64, kind: ErrorKind) -> Self {
        Error { offset, inner: None, key: None, kind }
    }
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
        if let ErrorKind::Sink(e) = &self.kind {
            return write!(f, "output error: {e}");
        }
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

pub type Result<T> = std::result::Result<T, Error>;
