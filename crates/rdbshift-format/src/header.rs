//! The 9-byte magic: `REDIS` + 4 digits (Redis, Valkey up to 8.x) or `VALKEY` + 3 digits
//! (Valkey 9+). The magic decides the dialect, and the dialect decides what type bytes >= 22
//! and opcodes 242/243 mean (`src/rdb.h` of each server).

use super::error::{Error, ErrorKind, Result};

/// Which server family wrote the file, decided by the magic alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// `REDISnnnn`: Redis, and Valkey up to 8.x (which writes `REDIS0011`).
    Redis,
    /// `VALKEYnnn`: Valkey 9.0 and later.
    Valkey,
}

impl Dialect {
    /// `redis` or `valkey`, as messages and output show it.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Redis => "redis",
            Dialect::Valkey => "valkey",
        }
    }
}

/// Newest `REDISnnnn` version read (15: Redis 8.10; 14 is Redis 8.8, 13 Redis 8.6;
/// docs/rdb-newest-formats.md section 1.1).
pub const NEWEST_REDIS: u32 = 15;
/// Newest `VALKEYnnn` version read (81: Valkey 9.2; 80: Valkey 9.0/9.1).
pub const NEWEST_VALKEY: u32 = 81;

/// The parsed magic at the start of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The server family that wrote the file.
    pub dialect: Dialect,
    /// The RDB version from the magic's digits (Redis 1-15, Valkey 80-81; higher only with
    /// `allow_newer`).
    pub version: u32,
    /// Length of the magic in bytes (always 9).
    pub len: usize,
}

impl Header {
    /// Parses the magic. With `allow_newer`, versions past the newest known are accepted.
    pub fn parse(data: &[u8], allow_newer: bool) -> Result<Header> {
        let Some(magic) = data.get(..9) else {
            // shorter than a magic: a cut RDB file only if what is there starts like one
            let looks = |m: &[u8]| {
                let n = data.len().min(m.len());
                data[..n] == m[..n] && data[n..].iter().all(u8::is_ascii_digit)
            };
            if data.is_empty() || !(looks(b"REDIS") || looks(b"VALKEY")) {
                return Err(Error::new(0, ErrorKind::BadMagic(super::error::show_bytes(data))));
            }
            return Err(Error::new(
                0,
                ErrorKind::Truncated { needed: 9, available: data.len() as u64 },
            ));
        };
        let digits = |d: &[u8]| -> Option<u32> {
            d.iter().all(u8::is_ascii_digit).then(|| std::str::from_utf8(d).ok()?.parse().ok())?
        };
        let (dialect, version, newest) =
            if let Some(v) = magic.strip_prefix(b"REDIS").and_then(digits) {
                (Dialect::Redis, v, NEWEST_REDIS)
            } else if let Some(v) = magic.strip_prefix(b"VALKEY").and_then(digits) {
                (Dialect::Valkey, v, NEWEST_VALKEY)
            } else {
                return Err(Error::new(0, ErrorKind::BadMagic(super::error::show_bytes(magic))));
            };
        if version == 0 {
            return Err(Error::new(5, ErrorKind::BadMagic(super::error::show_bytes(magic))));
        }
        if version > newest && !allow_newer {
            return Err(Error::new(
                5,
                ErrorKind::TooNew { dialect: dialect.name(), found: version, newest },
            ));
        }
        Ok(Header { dialect, version, len: 9 })
    }

    /// Whether the file ends with an 8-byte CRC-64 (RDB 5 and later).
    pub fn has_checksum(&self) -> bool {
        self.dialect == Dialect::Valkey || self.version >= 5
    }

    /// The equivalent Redis RDB version for feature checks (Valkey 9 = 11 + its own types).
    pub fn redis_level(&self) -> u32 {
        match self.dialect {
            Dialect::Redis => self.version,
            Dialect::Valkey => 11,
        }
    }

    /// The magic as text (`REDIS0011`, `VALKEY080`).
    pub fn describe(&self) -> String {
        match self.dialect {
            Dialect::Redis => format!("REDIS{:04}", self.version),
            Dialect::Valkey => format!("VALKEY{:03}", self.version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics() {
        assert_eq!(Header::parse(b"REDIS0011", false).unwrap().version, 11);
        let v = Header::parse(b"VALKEY080", false).unwrap();
        assert_eq!((v.dialect, v.version), (Dialect::Valkey, 80));
        assert_eq!(Header::parse(b"REDIS0014", false).unwrap().version, 14);
        assert_eq!(Header::parse(b"REDIS0015", false).unwrap().version, 15);
        let e = Header::parse(b"REDIS0016", false).unwrap_err();
        assert!(
            e.to_string().contains("16") && e.to_string().contains("newest supported is 15"),
            "{e}"
        );
        assert!(Header::parse(b"REDIS0016", true).is_ok());
        assert_eq!(Header::parse(b"VALKEY081", false).unwrap().version, 81);
        assert!(Header::parse(b"VALKEY082", false).is_err());
        assert!(Header::parse(b"REDIX0011", false).is_err());
        assert!(Header::parse(b"REDIS", false).is_err());
    }

    #[test]
    fn short_files_are_cut_rdb_files_only_when_they_start_like_one() {
        let kind = |b: &[u8]| Header::parse(b, false).unwrap_err().to_string();
        for cut in [&b"REDIS"[..], b"REDIS00", b"VALK", b"VALKEY08", b"R"] {
            assert!(kind(cut).contains("bytes needed"), "{cut:?}: {}", kind(cut));
        }
        for other in [&b"\x89PNG\r\n"[..], b"hello", b"REDIX", b"REDIS0x", b"\0\0\0"] {
            assert!(kind(other).contains("not an RDB file"), "{other:?}: {}", kind(other));
        }
    }
}
