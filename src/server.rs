//! The server a conversion is for: which commands and options it understands, which RDB
//! value types its `RESTORE` loads, and which DUMP payload version it accepts.
//!
//! Versions are `MAJOR.MINOR` of Redis, or of Valkey (`valkey-MAJOR.MINOR`). Valkey 7.2/8.x
//! speak Redis 7.2's commands; Valkey 9 adds hash field TTLs (same syntax as Redis 7.4).

use std::fmt;

use crate::format::header::Dialect;
use crate::format::types::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Server {
    pub dialect: Dialect,
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.dialect {
            Dialect::Valkey => write!(f, "Valkey {}.{}", self.major, self.minor),
            _ => write!(f, "Redis {}.{}", self.major, self.minor),
        }
    }
}

impl Server {
    pub const fn redis(major: u32, minor: u32) -> Server {
        Server { dialect: Dialect::Redis, major, minor }
    }
    pub const fn valkey(major: u32, minor: u32) -> Server {
        Server { dialect: Dialect::Valkey, major, minor }
    }

    /// Parses `7.0`, `7.0.15`, `valkey-9.1`, `valkey:9.1`, `redis-8.6`.
    pub fn parse(s: &str) -> Result<Server, String> {
        let lower = s.trim().to_ascii_lowercase();
        let (dialect, rest) = if let Some(r) =
            lower.strip_prefix("valkey").map(|r| r.trim_start_matches([':', '-', ' ']))
        {
            (Dialect::Valkey, r)
        } else {
            (
                Dialect::Redis,
                lower
                    .strip_prefix("redis")
                    .map(|r| r.trim_start_matches([':', '-', ' ']))
                    .unwrap_or(&lower),
            )
        };
        Self::version(dialect, rest.as_bytes()).ok_or_else(|| {
            format!("bad target version {s:?} (expected e.g. 7.0, 8.6 or valkey-9.1)")
        })
    }

    /// Parses a `redis-ver`/`valkey-ver` aux value (`7.0.15`, `255.255.255` for unstable).
    pub fn version(dialect: Dialect, v: &[u8]) -> Option<Server> {
        let s = std::str::from_utf8(v).ok()?;
        let mut it = s.split('.');
        let major = it.next()?.trim().parse().ok()?;
        let minor = it.next().map(|m| m.trim().parse()).transpose().ok()?.unwrap_or(0);
        Some(Server { dialect, major, minor })
    }

    /// The server that wrote a dump, from its aux fields; failing that, the oldest server
    /// that writes its RDB version.
    pub fn of_dump(
        version: u32,
        dialect: Dialect,
        redis_ver: Option<&[u8]>,
        valkey_ver: Option<&[u8]>,
    ) -> Server {
        if let Some(t) = valkey_ver.and_then(|v| Self::version(Dialect::Valkey, v)) {
            return t;
        }
        if dialect == Dialect::Valkey {
            return Server::valkey(9, 0);
        }
        if let Some(t) = redis_ver.and_then(|v| Self::version(Dialect::Redis, v)) {
            return t;
        }
        match version {
            0..=6 => Server::redis(2, 8),
            7 => Server::redis(3, 2),
            8 => Server::redis(4, 0),
            9 => Server::redis(5, 0),
            10 => Server::redis(7, 0),
            11 => Server::redis(7, 2),
            12 => Server::redis(7, 4),
            13 => Server::redis(8, 6),
            14 => Server::redis(8, 8),
            _ => Server::redis(8, 10),
        }
    }

    fn redis_at_least(&self, major: u32, minor: u32) -> bool {
        self.dialect == Dialect::Redis && (self.major, self.minor) >= (major, minor)
    }
    /// Valkey forked from Redis 7.2: every Valkey has what Redis 7.2 has.
    fn has_redis_7_2(&self, major: u32, minor: u32) -> bool {
        self.dialect == Dialect::Valkey || self.redis_at_least(major, minor)
    }
    /// `SET ... PXAT` (6.2).
    pub fn set_pxat(&self) -> bool {
        self.has_redis_7_2(6, 2)
    }
    /// `XGROUP CREATECONSUMER` (6.2).
    pub fn create_consumer(&self) -> bool {
        self.has_redis_7_2(6, 2)
    }
    /// `XSETID ... ENTRIESADDED MAXDELETEDID`, `XGROUP CREATE ... ENTRIESREAD` (7.0).
    pub fn stream_counters(&self) -> bool {
        self.has_redis_7_2(7, 0)
    }
    /// `FUNCTION LOAD` (7.0).
    pub fn functions(&self) -> bool {
        self.has_redis_7_2(7, 0)
    }
    /// `HPEXPIREAT ... FIELDS` (Redis 7.4, Valkey 9.0).
    pub fn field_ttl(&self) -> bool {
        self.redis_at_least(7, 4) || (self.dialect == Dialect::Valkey && self.major >= 9)
    }
    /// `XCFGSET` and `XIDMPRECORD` (Redis 8.6).
    pub fn idmp(&self) -> bool {
        self.redis_at_least(8, 6)
    }
    /// `XNACK` (Redis 8.8).
    pub fn xnack(&self) -> bool {
        self.redis_at_least(8, 8)
    }
    /// Arrays: `ARMSET`, `ARSEEK` (Redis 8.8).
    pub fn arrays(&self) -> bool {
        self.redis_at_least(8, 8)
    }
    /// Self-contained hash templates (types 29, 31) in `RESTORE` (Redis 8.10).
    pub fn templates(&self) -> bool {
        self.redis_at_least(8, 10)
    }
    /// Key metadata in DUMP payloads (Redis 8.6).
    pub fn key_meta(&self) -> bool {
        self.redis_at_least(8, 6)
    }

    /// The RDB version this server writes in DUMP payloads, which it also accepts.
    pub fn dump_version(&self) -> u16 {
        match self.dialect {
            Dialect::Valkey if self.major >= 9 => 80,
            Dialect::Valkey => 11,
            _ => match (self.major, self.minor) {
                (0..=3, _) => 7,
                (4, _) => 8,
                (5..=6, _) => 9,
                (7, 0..=1) => 10,
                (7, 2..=3) => 11,
                (7, _) | (8, 0..=5) => 12,
                (8, 6..=7) => 13,
                (8, 8..=9) => 14,
                _ => 15,
            },
        }
    }

    /// Whether the server refuses a stream whose stored length is not its live entries
    /// (Valkey 9: "Stream length inconsistent with the number of valid entries", also in a
    /// `RESTORE`); such a stream goes to it as commands.
    pub fn exact_stream_length(&self) -> bool {
        self.dialect == Dialect::Valkey && self.dump_version() >= 80
    }

    /// Whether this server's `RESTORE` loads a value of type `t` written in `source`'s dialect.
    pub fn loads_type(&self, t: u8, source: Dialect) -> bool {
        let (v, valkey_only) = match t {
            STRING | LIST | SET | ZSET | HASH | HASH_ZIPMAP | LIST_ZIPLIST | SET_INTSET
            | ZSET_ZIPLIST | HASH_ZIPLIST => (0, false),
            ZSET_2 | MODULE_2 | LIST_QUICKLIST => (8, false),
            STREAM_LISTPACKS => (9, false),
            HASH_LISTPACK | ZSET_LISTPACK | LIST_QUICKLIST_2 | STREAM_LISTPACKS_2 => (10, false),
            SET_LISTPACK | STREAM_LISTPACKS_3 => (11, false),
            VALKEY_HASH_2 if source == Dialect::Valkey => (80, true),
            // pre-GA field-TTL hashes (7.4 RCs) are rebuilt with commands
            HASH_METADATA | HASH_LISTPACK_EX if source == Dialect::Redis => (12, false),
            STREAM_LISTPACKS_4 if source == Dialect::Redis => (13, false),
            STREAM_LISTPACKS_5 | ARRAY if source == Dialect::Redis => (14, false),
            // a save's reference types (30, 32) are never valid in a payload; they go as
            // the self-contained 29/31 (see `restore`)
            HASH_TMPL_LP | HASH_TMPL_ARRAY | HASH_TMPL_LP_REF | HASH_TMPL_ARRAY_REF
                if source == Dialect::Redis =>
            {
                (15, false)
            }
            _ => return false,
        };
        let mine = self.dump_version();
        match self.dialect {
            Dialect::Valkey => (v <= 11 && !valkey_only) || (valkey_only && mine >= 80),
            _ => !valkey_only && v <= mine as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_features() {
        assert_eq!(Server::parse("7.0").unwrap(), Server::redis(7, 0));
        assert_eq!(Server::parse("8.6.3").unwrap(), Server::redis(8, 6));
        assert_eq!(Server::parse("valkey-9.1").unwrap(), Server::valkey(9, 1));
        assert_eq!(Server::parse("Valkey:8.0").unwrap(), Server::valkey(8, 0));
        assert!(Server::parse("seven").is_err());
        let r62 = Server::redis(6, 2);
        assert!(r62.create_consumer() && r62.set_pxat() && !r62.stream_counters());
        assert!(!Server::redis(6, 0).create_consumer());
        assert!(Server::redis(7, 4).field_ttl() && !Server::redis(7, 2).field_ttl());
        assert!(Server::valkey(9, 0).field_ttl() && !Server::valkey(8, 1).field_ttl());
        assert!(
            Server::redis(8, 6).idmp()
                && !Server::redis(8, 0).idmp()
                && !Server::valkey(9, 1).idmp()
        );
    }

    #[test]
    fn restore_types() {
        let (r, v) = (Dialect::Redis, Dialect::Valkey);
        assert!(Server::redis(7, 0).loads_type(HASH_LISTPACK, r));
        assert!(!Server::redis(6, 2).loads_type(HASH_LISTPACK, r));
        assert!(!Server::redis(7, 0).loads_type(SET_LISTPACK, r));
        assert!(Server::valkey(8, 1).loads_type(STREAM_LISTPACKS_3, r));
        assert!(!Server::valkey(9, 1).loads_type(HASH_LISTPACK_EX, r));
        assert!(Server::valkey(9, 1).loads_type(VALKEY_HASH_2, v));
        assert!(!Server::redis(8, 6).loads_type(VALKEY_HASH_2, v));
        assert!(Server::redis(8, 6).loads_type(STREAM_LISTPACKS_4, r));
        assert!(!Server::redis(8, 0).loads_type(STREAM_LISTPACKS_4, r));
        assert!(
            Server::redis(8, 8).loads_type(STREAM_LISTPACKS_5, r)
                && Server::redis(8, 8).loads_type(ARRAY, r)
        );
        assert!(
            !Server::redis(8, 6).loads_type(STREAM_LISTPACKS_5, r)
                && !Server::redis(8, 6).loads_type(ARRAY, r)
        );
        assert!(
            Server::redis(8, 10).loads_type(HASH_TMPL_LP_REF, r)
                && !Server::redis(8, 8).loads_type(HASH_TMPL_LP, r)
        );
        assert_eq!(
            (Server::redis(8, 8).dump_version(), Server::redis(8, 10).dump_version()),
            (14, 15)
        );
        assert_eq!(Server::of_dump(15, r, None, None), Server::redis(8, 10));
        assert_eq!(Server::of_dump(11, r, Some(b"7.2.4"), Some(b"8.1.1")), Server::valkey(8, 1));
        assert_eq!(Server::of_dump(9, r, None, None), Server::redis(5, 0));
    }
}
