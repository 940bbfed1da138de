//! `verify`: proves that a server or cluster holds what dumps hold, key by key.
//!
//! For every key the filters select (or an even sample of them), in the db the loader puts
//! it in (`--to-db`, the URL's `/db`, else its own; a cluster has only db 0):
//! - presence, type (a module value's type name, as `TYPE` shows it), expiry
//!   (`PEXPIRETIME`; `PTTL` within 10 s before 7.0);
//! - strings: `GET` (`STRLEN` and `GETRANGE` pieces of 1 MiB for longer ones);
//! - lists, sets, sorted sets, hashes: element by element in batches of [`BATCH`]
//!   (`LRANGE`, `SMISMEMBER`/`SISMEMBER`, `ZMSCORE`/`ZSCORE`, `HMGET` with `HPEXPIRETIME`),
//!   and the cardinality, so that missing, changed and extra elements all show;
//! - streams: the entries with `XRANGE` per batch and the length, then everything after
//!   them: counters, consumer groups, consumers, pending entries (the `stream` submodule);
//! - module values: the `DUMP` payload without its 10-byte footer (version, CRC) must be the
//!   dump's serialized value (type byte, module id, opcodes) byte for byte.
//!
//! Optionally (`--extra`) the target's keys are scanned for keys the dump does not hold.
//!
//! Invariants:
//! - Every selected key is counted once: as checked (then same, missing or different) or as
//!   expired (its expiry has passed, or it is a collection with no element left, which a
//!   server does not keep).
//! - Memory is bounded by the batch, not by the key: a collection is decoded and checked
//!   [`BATCH`] elements at a time, a long string in 1 MiB pieces, a long PEL in pages.
//! - Round trips: keys are checked in windows of up to [`WINDOW_KEYS`] keys (and about
//!   [`WINDOW_BYTES`] of expected values): one pipelined write per node per window carries
//!   each key's presence, type, expiry and, for a key that fits one batch, its whole value.
//!   A bigger key (or a stream) is finished alone after its window, batch by batch.

mod collect;
mod compare;
mod extra;
mod job;
mod peers;
mod report;
mod streams;
mod window;

use collect::{Batch, Collect, Halt, Live, StringValue, batch_cmds};
use compare::{judge_batch, show};
use extra::KeySet;
pub use job::{Job, Outcome};
use peers::Cmds;
pub use peers::Peers;
use report::expiry;
pub use report::{NotComparable, VerifyReport, date};
use window::{Item, Want, Window};

use std::collections::BTreeSet;
use std::hash::Hasher;

use crate::encode::text::quote;
use crate::filter::Filter;
use crate::format::Scratch;
use crate::format::record::{Key, Options, Record};
use crate::format::stream::{Group, Idmp, StreamEntry, StreamId, StreamMeta};
use crate::format::types::{self, Kind};
use crate::format::visit::Visitor;
use crate::format::{Reader, Str, module};
use crate::resp::reply::Reply;
use crate::server::Server;

/// Why a verification could not go on (a key that differs is not an error: it is
/// reported).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target could not be reached, or answered wrongly.
    #[error(transparent)]
    Net(#[from] crate::net::Error),
    /// A dump is damaged.
    #[error(transparent)]
    Format(#[from] crate::format::Error),
    /// The target answered something verify cannot use, or the dump cannot be compared
    /// as asked.
    #[error("{0}")]
    Other(String),
}

/// Elements checked per round trip.
pub const BATCH: usize = 1000;
/// Keys whose commands go out in one pipelined write per node.
pub const WINDOW_KEYS: usize = 256;
/// Expected values gathered for one window, in bytes (a single bigger key still goes).
pub const WINDOW_BYTES: usize = 1 << 20;
/// Strings longer than this are compared in pieces of this size (`GETRANGE`).
pub const STRING_PIECE: usize = 1 << 20;
/// Default for `pel_exact` (see [`Job::pel_exact`]).
pub const PEL_EXACT: usize = 1000;
/// Names of missing, different and extra keys kept for the report, per kind.
pub const NAMES_KEPT: usize = 20;

/// How a verification runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The db every dump key is looked for in (`--to-db`, or the URL's `/db`), as `load`
    /// puts it there; `None`: the key's own db.
    pub(crate) to_db: Option<u64>,
    /// A consumer group's PEL of up to this many entries is compared from `XINFO STREAM
    /// FULL` (exact delivery times); a longer one is paged with `XPENDING`.
    pub(crate) pel_exact: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { to_db: None, pel_exact: PEL_EXACT }
    }
}

/// Whether the selection stage selects key `k` named `name` (expiry is decided apart).
pub fn selected(filter: &Filter, k: &Key, name: &[u8]) -> bool {
    filter.selects(k, name)
}

/// A quick skim of a dump: the dbs the keys the filters select go to (`--map-db`), and how
/// many keys they select (for `--sample`, and for a cluster, which has only db 0).
pub fn survey(data: &[u8], opts: Options, filter: &Filter) -> Result<(BTreeSet<u64>, u64), Error> {
    let mut r = Reader::new(data, opts)?;
    let (mut dbs, mut n) = (BTreeSet::new(), 0);
    while let Some(rec) = r.next_record()? {
        let Record::Key(k) = rec else { continue };
        if selected(filter, &k, &k.name()?) {
            dbs.insert(filter.dest_db(k.db()));
            n += 1;
        }
    }
    Ok((dbs, n))
}

/// A verification: the target, the selection, and what was found.
pub struct Verifier {
    pub(super) p: Peers,
    pub(super) filter: Filter,
    pub(super) settings: Settings,
    pub(super) report: VerifyReport,
    /// The selected dump keys, when `--extra` will look for others.
    keys: Option<KeySet>,
    /// The dbs of the target that the dumps' keys of the selected dbs go to (what
    /// `--extra` scans on a standalone server).
    pub(super) dbs: BTreeSet<u64>,
    /// Whether the target has modules loaded (asked when a module value is missing).
    has_modules: Option<bool>,
    /// The cluster slots of the selected dump keys (for `--extra` on a cluster): a bit each.
    slots: Vec<u64>,
    /// The trailer of the last dump read to its end (its checksum, where it ends).
    pub(super) trailer: Option<crate::format::record::Trailer>,
}

impl Verifier {
    /// `extra`: remember the selected keys, to look for others afterwards ([`Verifier::extra`]).
    pub fn new(p: Peers, filter: Filter, settings: Settings, extra: bool) -> Verifier {
        let keys = extra.then(KeySet::default);
        Verifier {
            p,
            filter,
            settings,
            report: VerifyReport::default(),
            keys,
            dbs: BTreeSet::new(),
            has_modules: None,
            slots: vec![0; 16384 / 64],
            trailer: None,
        }
    }

    /// Verifies every selected key of one dump (those for which `pick` says yes).
    /// `release(from, to)` is told about byte ranges of the dump no longer needed.
    pub fn dump(
        &mut self,
        data: &[u8],
        opts: Options,
        pick: &mut dyn FnMut() -> bool,
        release: &dyn Fn(usize, usize),
        progress: &dyn crate::job::Progress,
    ) -> Result<(), Error> {
        let mut r = Reader::new(data, opts)?;
        let mut shown = 0;
        self.trailer = None;
        let mut scratch = Scratch::default();
        let mut w = Window::default();
        let mut behind = crate::input::Behind::new(release);
        loop {
            // the pages behind the reader go once no key of the window still needs them
            if w.items.is_empty() {
                behind.passed(r.checked_upto());
            }
            let Some(rec) = r.next_record()? else { break };
            let k = match rec {
                Record::Key(k) => k,
                Record::Eof(t) => {
                    self.trailer = Some(t);
                    continue;
                }
                _ => continue,
            };
            if !self.filter.db(k.db()) {
                continue;
            }
            let db = self.settings.to_db.unwrap_or(self.filter.dest_db(k.db()));
            self.dbs.insert(db);
            let name = k.name()?;
            if !selected(&self.filter, &k, &name) {
                continue;
            }
            // the name it was loaded under (`--rename-*`)
            let name = match self.filter.rename.name(&name) {
                std::borrow::Cow::Borrowed(_) => name,
                std::borrow::Cow::Owned(n) => n,
            };
            if self.p.is_cluster() && db != 0 {
                return Err(Error::Other(format!(
                    "key {} is in db {db}, and a cluster has only db 0: choose a db with --db N and map it with --to-db 0",
                    quote(&name)
                )));
            }
            if let Some(s) = &mut self.keys {
                s.insert(db, &name);
                let slot = crate::slot::of(&name) as usize;
                self.slots[slot / 64] |= 1 << (slot % 64);
            }
            if !pick() {
                continue;
            }
            if k.ty() == types::ARRAY && !self.p.server.arrays() {
                let why = format!(
                    "{} has no arrays (Redis 8.8 has them): load leaves them out",
                    self.p.server
                );
                self.report.not_comparable("arrays", &name, 1, why);
                continue;
            }
            if self.filter.expired(k.expire_ms()) {
                self.report.expired += 1;
                continue;
            }
            self.report.checked += 1;
            let item = self.prepare(k, name, db, &mut scratch)?;
            w.bytes += item.bytes;
            w.items.push(item);
            if w.items.len() >= WINDOW_KEYS || w.bytes >= WINDOW_BYTES {
                self.run_window(&mut w, &mut scratch)?;
                progress.advance((r.pos() - shown) as u64);
                shown = r.pos();
                progress.keys(self.report.checked);
            }
        }
        self.run_window(&mut w, &mut scratch)?;
        progress.advance((data.len() - shown.min(data.len())) as u64);
        progress.keys(self.report.checked);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_utc() {
        assert_eq!(date(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(date(1), "1970-01-01T00:00:00.001Z");
        assert_eq!(date(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(date(1_733_400_000_123), "2024-12-05T12:00:00.123Z");
        // the largest expiry a server keeps (year 2262) and before 1970
        assert_eq!(date(9_223_372_036_854), "2262-04-11T23:47:16.854Z");
        assert_eq!(date(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(expiry(Some(-1)), "none");
        assert_eq!(expiry(Some(86_400_000)), "86400000 (1970-01-02T00:00:00.000Z)");
    }

    #[test]
    fn quoting_as_redis_cli() {
        assert_eq!(quote(b"user:1"), "user:1");
        assert_eq!(quote(b"a b"), "\"a b\"");
        assert_eq!(quote(b"k\n\xff"), "\"k\\n\\xff\"");
        assert_eq!(quote(b"q\"\\"), "\"q\\\"\\\\\"");
        assert_eq!(quote(b"\r\t\x07\x08\x00"), "\"\\r\\t\\a\\b\\x00\"");
        assert_eq!(quote(b""), "\"\"");
        assert_eq!(quote("é".as_bytes()), "\"\\xc3\\xa9\"");
    }

    #[test]
    fn key_set() {
        let mut s = KeySet::default();
        s.insert(0, b"a");
        s.insert(3, b"b");
        assert!(s.contains(0, b"a") && s.contains(3, b"b"));
        assert!(!s.contains(3, b"a") && !s.contains(0, b"b") && !s.contains(0, b"c"));
    }
}
