//! The server an estimate is for: its family of memory layouts, the allocator it was built
//! with, and the encoding thresholds it loads with. [`FACTS`] is the one table of struct
//! sizes per family; the model and its tests read it.
//!
//! Sources (read for the facts, cited as `tree:file`): `object.c` (`objectComputeSize`,
//! `memoryCommand`), `server.h`, `dict.h`, `quicklist.h`, `stream.h`, `rax.h`, and for the
//! newest layouts `redis-8.6.3:object.h` (kvobj) and `valkey-8.1.1/9.1.2:hashtable.c`.
//! `docs/memory-model/notes.md` holds the longer account and the measurements.

use std::fmt;

use super::alloc::Allocator;
use crate::format::Dialect;
use crate::server::Server;

/// Servers that lay out and count memory alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Redis ≤ 5.0: keys and values counted by their requests, not their allocations.
    R50,
    /// Redis 6.0: sds counted by allocation; ziplists and intsets by their bytes.
    R60,
    /// Redis 6.2: as 6.0, and streams count their struct and allocated listpacks.
    R62,
    /// Redis 7.0: listpacks, 40-byte quicklist nodes.
    R70,
    /// Redis 7.2, 7.4 and 8.0 (and Valkey 7.2): listpack lists and sets.
    R72,
    /// Redis 8.2 and later: the key inside the value object (kvobj), exact allocation sizes.
    R86,
    /// Valkey 8.0: keys embedded in the keyspace's dict entries.
    V80,
    /// Valkey 8.1: keys in the object, the open-addressing hashtable.
    V81,
    /// Valkey 9.0 and later: embedded values up to 128 bytes.
    V91,
}

/// Struct sizes of one family (x86-64), in bytes.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    pub family: Family,
    /// `sizeof(dict)` (Redis dicts; 0 where the family uses Valkey's hashtable).
    pub dict: usize,
    /// `sizeof(hashtable)` (Valkey 8.1+).
    pub hashtable: usize,
    /// `sizeof(quicklist)`.
    pub quicklist: usize,
    /// `sizeof(quicklistNode)`.
    pub quicklist_node: usize,
    /// `sizeof(zskiplist)`.
    pub zskiplist: usize,
    /// `ZSKIPLIST_MAXLEVEL`: the header node's levels.
    pub skiplist_max_level: usize,
    /// `sizeof(stream)` as counted (5.0 and 6.0 leave it out).
    pub stream: usize,
    /// `sizeof(streamCG)`.
    pub stream_cg: usize,
    /// `sizeof(streamConsumer)`.
    pub stream_consumer: usize,
    /// `sizeof(streamNACK)`.
    pub stream_nack: usize,
    /// sds headers sized by Valkey 8's and Redis 8.6's rules (8-bit up to 252 bytes).
    pub new_sds: bool,
}

/// The facts of every family.
pub const FACTS: [Facts; 9] = [
    f(Family::R50, 96, 0, 40, 32, 32, 64, 0, 32, 24, 24, false),
    f(Family::R60, 96, 0, 40, 32, 32, 32, 0, 32, 24, 24, false),
    f(Family::R62, 96, 0, 40, 32, 32, 32, 40, 32, 24, 24, false),
    f(Family::R70, 56, 0, 40, 40, 32, 32, 80, 40, 24, 24, false),
    f(Family::R72, 56, 0, 40, 40, 32, 32, 80, 40, 32, 24, false),
    f(Family::R86, 56, 0, 48, 40, 40, 32, 160, 56, 32, 64, true),
    f(Family::V80, 56, 0, 40, 40, 32, 32, 80, 40, 32, 24, true),
    f(Family::V81, 0, 72, 40, 40, 32, 32, 80, 40, 32, 24, true),
    f(Family::V91, 0, 80, 40, 40, 32, 32, 80, 40, 32, 24, true),
];

#[allow(clippy::too_many_arguments)]
const fn f(
    family: Family,
    dict: usize,
    hashtable: usize,
    quicklist: usize,
    quicklist_node: usize,
    zskiplist: usize,
    skiplist_max_level: usize,
    stream: usize,
    stream_cg: usize,
    stream_consumer: usize,
    stream_nack: usize,
    new_sds: bool,
) -> Facts {
    Facts {
        family,
        dict,
        hashtable,
        quicklist,
        quicklist_node,
        zskiplist,
        skiplist_max_level,
        stream,
        stream_cg,
        stream_consumer,
        stream_nack,
        new_sds,
    }
}

impl Family {
    /// The family of a server version.
    pub fn of(s: Server) -> Family {
        let v = (s.major, s.minor);
        match s.dialect {
            Dialect::Valkey => match v {
                (..=7, _) => Family::R72,
                (8, 0) => Family::V80,
                (8, _) => Family::V81,
                _ => Family::V91,
            },
            _ => match v {
                (..=5, _) => Family::R50,
                (6, 0) => Family::R60,
                (6, _) => Family::R62,
                (7, 0) => Family::R70,
                (7, _) | (8, 0..=1) => Family::R72,
                _ => Family::R86,
            },
        }
    }

    pub fn facts(self) -> &'static Facts {
        FACTS.iter().find(|f| f.family == self).expect("every family has facts")
    }

    /// The key lives inside the value's object (no separate key sds, no dict entry counted).
    pub fn key_in_object(self) -> bool {
        matches!(self, Family::R86 | Family::V81 | Family::V91)
    }

    /// Listpacks (hash, zset; list nodes) rather than ziplists.
    pub fn listpacks(self) -> bool {
        self >= Family::R70
    }

    /// Lists and sets may be a single listpack (7.2 and later, every Valkey).
    pub fn small_lists_and_sets(self) -> bool {
        self >= Family::R72
    }

    /// Valkey's open-addressing hashtable instead of a chained dict.
    pub fn hashtable(self) -> bool {
        matches!(self, Family::V81 | Family::V91)
    }
}

/// The `*-max-*` settings that decide an encoding on load (defaults in every version here:
/// `config.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub hash_entries: u64,
    pub hash_value: u64,
    pub zset_entries: u64,
    pub zset_value: u64,
    pub set_intset_entries: u64,
    pub set_entries: u64,
    pub set_value: u64,
    /// `list-max-listpack-size` as a node's byte limit (−2: 8 KiB).
    pub list_node_bytes: u64,
    /// A positive `list-max-listpack-size`: entries per node.
    pub list_node_items: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_entries: 512,
            hash_value: 64,
            zset_entries: 128,
            zset_value: 64,
            set_intset_entries: 512,
            set_entries: 128,
            set_value: 64,
            list_node_bytes: 8192,
            list_node_items: None,
        }
    }
}

/// What an estimate is for.
#[derive(Clone, Debug)]
pub struct Target {
    pub server: Server,
    pub family: Family,
    pub alloc: Allocator,
    pub limits: Limits,
    /// Whether the allocator was given (otherwise [`default_allocator`]'s choice).
    pub alloc_given: bool,
}

impl Target {
    pub fn new(server: Server, alloc: Option<Allocator>, limits: Limits) -> Target {
        Target {
            server,
            family: Family::of(server),
            alloc: alloc.unwrap_or_else(|| default_allocator(server)),
            limits,
            alloc_given: alloc.is_some(),
        }
    }

    pub fn facts(&self) -> &'static Facts {
        self.family.facts()
    }

    /// `zmalloc_size` of a request.
    #[inline]
    pub fn a(&self, n: usize) -> usize {
        self.alloc.usable(n)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.server, self.alloc)
    }
}

/// The allocator a server version is assumed to be built with, unless `--allocator` says
/// otherwise: the builds of the server matrix (`SERVERS.md`) where the matrix has the
/// version (Debian packages link the system jemalloc with a 16-byte quantum; three of its
/// binaries use glibc), upstream's jemalloc elsewhere.
pub fn default_allocator(s: Server) -> Allocator {
    match (s.dialect, s.major, s.minor) {
        (Dialect::Redis, 6, 2) | (Dialect::Redis, 8, 6) => Allocator::Libc,
        (Dialect::Valkey, 8, 1) | (Dialect::Valkey, 9, 1) => Allocator::Libc,
        (Dialect::Redis, 7, 0) | (Dialect::Redis, 8, 0) => Allocator::Jemalloc16,
        (Dialect::Valkey, 8, 0) => Allocator::Jemalloc16,
        _ => Allocator::Jemalloc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        let r = |a, b| Family::of(Server::redis(a, b));
        let v = |a, b| Family::of(Server::valkey(a, b));
        assert_eq!(
            [r(4, 0), r(5, 0), r(6, 0), r(6, 2), r(7, 0), r(7, 4), r(8, 0), r(8, 6), r(8, 8)],
            [
                Family::R50,
                Family::R50,
                Family::R60,
                Family::R62,
                Family::R70,
                Family::R72,
                Family::R72,
                Family::R86,
                Family::R86
            ]
        );
        assert_eq!(
            [v(7, 2), v(8, 0), v(8, 1), v(9, 0), v(9, 1)],
            [Family::R72, Family::V80, Family::V81, Family::V91, Family::V91]
        );
        for f in FACTS {
            assert_eq!(f.family.facts().family, f.family);
            assert!(f.family.hashtable() == (f.hashtable > 0), "{:?}", f.family);
        }
    }
}
