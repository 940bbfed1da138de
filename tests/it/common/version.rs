//! Server versions as the tests need them: which commands a server of the matrix has.
//! The tests' own table (from the servers' release notes), so a change in rdbshift's
//! target logic cannot change what the tests expect.
#![allow(dead_code)]

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Redis,
    Valkey,
}

/// A server: Redis or Valkey `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub dialect: Dialect,
    pub major: u32,
    pub minor: u32,
}

impl Target {
    /// `7.0`, `redis-8.6`, `redis-stack-7.4`, `valkey-9.1`.
    pub fn parse(s: &str) -> Target {
        let dialect = if s.starts_with("valkey") { Dialect::Valkey } else { Dialect::Redis };
        let v = s.rsplit('-').next().unwrap();
        let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
        Target {
            dialect,
            major: major.parse().unwrap_or_else(|_| panic!("bad version {s:?}")),
            minor: minor.parse().unwrap_or_else(|_| panic!("bad version {s:?}")),
        }
    }
    fn redis_at_least(&self, major: u32, minor: u32) -> bool {
        self.dialect == Dialect::Redis && (self.major, self.minor) >= (major, minor)
    }
    /// Valkey forked from Redis 7.2: it has what Redis 7.2 has.
    fn since_redis(&self, major: u32, minor: u32) -> bool {
        self.dialect == Dialect::Valkey || self.redis_at_least(major, minor)
    }
    /// `XGROUP CREATECONSUMER` (6.2).
    pub fn create_consumer(&self) -> bool {
        self.since_redis(6, 2)
    }
    /// `PEXPIRETIME`, stream counters `entries-added`/`max-deleted-entry-id` (7.0).
    pub fn stream_counters(&self) -> bool {
        self.since_redis(7, 0)
    }
    /// `FUNCTION LOAD` (7.0).
    pub fn functions(&self) -> bool {
        self.since_redis(7, 0)
    }
    /// `HPEXPIRE ... FIELDS` (Redis 7.4, Valkey 9.0).
    pub fn field_ttl(&self) -> bool {
        self.redis_at_least(7, 4) || (self.dialect == Dialect::Valkey && self.major >= 9)
    }
    /// `XADD ... IDMP`, `XCFGSET` (Redis 8.6).
    pub fn idmp(&self) -> bool {
        self.redis_at_least(8, 6)
    }
}
