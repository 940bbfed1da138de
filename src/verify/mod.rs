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

mod job;
mod peers;
mod streams;

pub use job::{Job, Outcome};
use peers::Cmds;
pub use peers::Peers;

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

/// What a verification found. Key names are quoted as redis-cli shows them ([`quote`]).
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    pub checked: u64,
    pub missing: u64,
    pub different: u64,
    /// Keys not expected on the target: their expiry has passed (in the dump, or since), or
    /// they are collections with no element left (every field's TTL passed).
    pub expired: u64,
    pub missing_keys: Vec<String>,
    /// Key and what differs (the first difference found in it).
    pub different_keys: Vec<(String, String)>,
    /// `--extra`: keys on the target that the filters select and the dumps do not hold.
    pub extra: u64,
    pub extra_keys: Vec<String>,
    /// `--extra`: keys the scan looked at.
    pub scanned: u64,
    /// `--extra` on a cluster: the slots the dumps' selected keys hold (the scan counts
    /// only keys in them, so that one shard's dump can be verified alone).
    pub extra_slots: Option<u64>,
    /// Keys for which the server answered an error (counted, with the key and the error).
    pub errors: u64,
    pub error_keys: Vec<(String, String)>,
    /// What the target cannot hold and so could not be compared, per kind (see
    /// [`NotComparable`]).
    pub not_comparable: std::collections::BTreeMap<&'static str, NotComparable>,
}

/// Things of one kind that the target cannot hold (field TTLs before Redis 7.4, stream
/// IDMP, NACKs, arrays, module values without the module), so verify could not compare
/// them: how many, in how many keys, and the first keys' names.
#[derive(Debug, Default, Clone)]
pub struct NotComparable {
    pub keys: u64,
    /// Items (fields, entries) where that means more than the key.
    pub items: u64,
    pub names: Vec<String>,
    /// Why, in words (`Redis 7.0 has no hash field TTLs`).
    pub why: String,
}

impl VerifyReport {
    fn missing(&mut self, name: &[u8]) {
        self.missing += 1;
        if self.missing_keys.len() < NAMES_KEPT {
            self.missing_keys.push(quote(name));
        }
    }
    fn differ(&mut self, name: &[u8], what: String) {
        self.different += 1;
        if self.different_keys.len() < NAMES_KEPT {
            self.different_keys.push((quote(name), what));
        }
    }
    fn error(&mut self, name: &[u8], what: String) {
        self.errors += 1;
        if self.error_keys.len() < NAMES_KEPT {
            self.error_keys.push((quote(name), what));
        }
    }
    /// `items` things of `kind` in the key `name` could not be compared (`why`).
    fn not_comparable(&mut self, kind: &'static str, name: &[u8], items: u64, why: String) {
        let n = self.not_comparable.entry(kind).or_default();
        n.keys += 1;
        n.items += items;
        n.why = why;
        if n.names.len() < NAMES_KEPT {
            n.names.push(quote(name));
        }
    }
    /// Keys with something that could not be compared.
    pub fn not_comparable_keys(&self) -> u64 {
        self.not_comparable.values().map(|n| n.keys).sum()
    }

    /// The report as lines for a person (without the `rdbshift: ` prefix); `extra`: the
    /// target was scanned for keys the dumps do not hold.
    pub fn lines(&self, extra: bool, seconds: f64) -> Vec<String> {
        let mut v = vec![format!(
            "checked {} keys: {} missing, {} different, {} with server errors, {} expired (not expected), {} not comparable in {seconds:.2}s",
            self.checked,
            self.missing,
            self.different,
            self.errors,
            self.expired,
            self.not_comparable_keys()
        )];
        v.extend(self.missing_keys.iter().map(|k| format!("  missing: {k}")));
        v.extend(self.different_keys.iter().map(|(k, w)| format!("  different: {k}: {w}")));
        v.extend(self.error_keys.iter().map(|(k, w)| format!("  server error: {k}: {w}")));
        for (kind, n) in &self.not_comparable {
            let items = if n.items != n.keys {
                format!("{} {kind} in {} keys", n.items, n.keys)
            } else {
                format!("{} {kind}", n.keys)
            };
            v.push(format!("not comparable: {items}: {}", n.why));
            v.extend(n.names.iter().map(|k| format!("  not comparable: {k}")));
        }
        if extra {
            let scope = match self.extra_slots {
                Some(n) => format!(" in the {n} slots the dumps' keys hold"),
                None => String::new(),
            };
            v.push(format!(
                "extra: {} keys on the target{scope} that the dumps do not hold ({} scanned)",
                self.extra, self.scanned
            ));
            v.extend(self.extra_keys.iter().map(|k| format!("  extra: {k}")));
        }
        v
    }

    /// Whether anything could not be compared (`--strict` makes that a failure).
    pub fn incomplete(&self) -> bool {
        !self.not_comparable.is_empty()
    }
}

/// Unix milliseconds as a UTC date and time, `2262-04-11T23:47:16.854Z` (proleptic
/// Gregorian; what a person reads next to the number).
pub fn date(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // days since 1970-01-01 to (y, m, d): Howard Hinnant's civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// An expiry as verify shows it: milliseconds and the date (`none` for no expiry).
fn expiry(ms: Option<i64>) -> String {
    match ms {
        None | Some(-1) => "none".into(),
        Some(-2) => "none (no such key)".into(),
        Some(e) => format!("{e} ({})", date(e)),
    }
}

/// 64-bit hashes of the selected dump keys (with the db each is looked for in), for
/// `--extra`: a target key whose hash is not here is not in the dump.
///
/// Choice: hashes, not names. 8 bytes per key in a sorted vector (80 MB for 10M keys),
/// whatever the names' lengths. A key on the target that is not in the dump is missed
/// only if its 64-bit hash (std's `DefaultHasher`, the same in one process)
/// equals one of the dump's n hashes: a chance of
/// n / 2^64 per such key (5e-13 for 10M keys).
#[derive(Default)]
pub struct KeySet {
    hashes: Vec<u64>,
    sorted: bool,
}

impl KeySet {
    fn hash(db: u64, name: &[u8]) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write_u64(db);
        h.write(name);
        h.finish()
    }
    fn insert(&mut self, db: u64, name: &[u8]) {
        self.hashes.push(Self::hash(db, name));
        self.sorted = false;
    }
    fn contains(&mut self, db: u64, name: &[u8]) -> bool {
        if !self.sorted {
            self.hashes.sort_unstable();
            self.hashes.dedup();
            self.sorted = true;
        }
        self.hashes.binary_search(&Self::hash(db, name)).is_ok()
    }
}

/// Whether the selection stage selects key `k` named `name` (expiry is decided apart).
pub fn selected(filter: &Filter, k: &Key, name: &[u8]) -> bool {
    filter.selects(k, name)
}

/// A quick skim of a dump: the dbs that hold keys the filters select, and how many keys
/// they select (for `--sample`, and for a cluster, which has only db 0).
pub fn survey(data: &[u8], opts: Options, filter: &Filter) -> Result<(BTreeSet<u64>, u64), Error> {
    let mut r = Reader::new(data, opts)?;
    let (mut dbs, mut n) = (BTreeSet::new(), 0);
    while let Some(rec) = r.next_record()? {
        let Record::Key(k) = rec else { continue };
        if selected(filter, &k, &k.name()?) {
            dbs.insert(k.db());
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
        }
    }

    /// Verifies every selected key of one dump (those for which `pick` says yes).
    pub fn dump(
        &mut self,
        data: &[u8],
        opts: Options,
        pick: &mut dyn FnMut() -> bool,
    ) -> Result<(), Error> {
        let mut r = Reader::new(data, opts)?;
        let mut scratch = Scratch::default();
        let mut w = Window::default();
        while let Some(rec) = r.next_record()? {
            let Record::Key(k) = rec else { continue };
            if !self.filter.db(k.db()) {
                continue;
            }
            let db = self.settings.to_db.unwrap_or(k.db());
            self.dbs.insert(db);
            let name = k.name()?;
            if !selected(&self.filter, &k, &name) {
                continue;
            }
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
            }
        }
        self.run_window(&mut w, &mut scratch)
    }

    /// The commands that check key `k`, and what they must answer.
    fn prepare<'a>(
        &self,
        k: Key<'a>,
        name: Vec<u8>,
        db: u64,
        scratch: &mut Scratch,
    ) -> Result<Item<'a>, Error> {
        let server = &self.p.server;
        let kind = types::kind(k.ty());
        let mut cmds = Cmds::default();
        cmds.push(&[b"TYPE", &name]);
        cmds.push(&[if server.stream_counters() { b"PEXPIRETIME" } else { b"PTTL" }, &name]);
        let mut bytes = 64 + name.len();
        let want = match kind {
            Kind::String => {
                let mut v = StringValue(None);
                k.decode(&mut v, scratch)?;
                let v = v.0.unwrap_or_default();
                if v.len() > STRING_PIECE {
                    cmds.push(&[b"STRLEN", &name]);
                    Want::LongString(v.len())
                } else {
                    cmds.push(&[b"GET", &name]);
                    bytes += 2 * v.len();
                    Want::String(v)
                }
            }
            Kind::Module => {
                cmds.push(&[b"DUMP", &name]);
                bytes += 2 * k.dump_len();
                Want::Module
            }
            Kind::Stream => {
                cmds.push(&[b"XLEN", &name]);
                Want::Big
            }
            _ => {
                let card: &[u8] = match kind {
                    Kind::List => b"LLEN",
                    Kind::Set => b"SCARD",
                    Kind::Zset => b"ZCARD",
                    _ => b"HLEN",
                };
                cmds.push(&[card, &name]);
                let mut c = Collect::new(kind, &self.filter, server, None);
                match k.decode(&mut c, scratch) {
                    Err(Halt::Overflow) => Want::Big,
                    Err(Halt::Format(e)) => return Err(e.into()),
                    Err(Halt::Target(e)) => return Err(e),
                    Ok(()) => {
                        bytes += 2 * c.batch.bytes;
                        batch_cmds(&mut cmds, kind, &name, &c.batch, 0, c.single);
                        Want::Elements {
                            batch: c.batch,
                            seen: c.seen,
                            single: c.single,
                            expired_fields: c.expired_fields,
                            ttl_skipped: c.ttl_skipped,
                        }
                    }
                }
            }
        };
        Ok(Item { k, name, db, cmds, want, bytes })
    }

    /// Sends the window's commands (one write per node), judges the replies, then finishes
    /// the keys too big for one batch one by one.
    fn run_window(&mut self, w: &mut Window, scratch: &mut Scratch) -> Result<(), Error> {
        let items = std::mem::take(&mut w.items);
        w.bytes = 0;
        if items.is_empty() {
            return Ok(());
        }
        // per node: bytes to send, and per reply to read, the item it belongs to (None: SELECT)
        let mut plan: Vec<(Vec<u8>, Vec<Option<usize>>)> = Vec::new();
        for (j, it) in items.iter().enumerate() {
            let i = self.p.node_of(&it.name);
            if plan.len() <= i {
                plan.resize_with(i + 1, Default::default);
            }
            let (buf, order) = &mut plan[i];
            if self.p.select_into(i, it.db, buf) {
                order.push(None);
            }
            buf.extend_from_slice(it.cmds.bytes());
            order.extend(std::iter::repeat_n(Some(j), it.cmds.len()));
        }
        for (i, (buf, _)) in plan.iter().enumerate() {
            if !buf.is_empty() {
                self.p.send(i, buf)?;
            }
        }
        let mut replies: Vec<Vec<Reply>> =
            items.iter().map(|it| Vec::with_capacity(it.cmds.len())).collect();
        for (i, (_, order)) in plan.iter().enumerate() {
            for who in order {
                match who {
                    None => self.p.read_select(i)?,
                    Some(j) => replies[*j].push(self.p.read(i)?),
                }
            }
        }
        for (it, mut r) in items.into_iter().zip(replies) {
            let redirected =
                r.iter().any(|x| matches!(x, Reply::Error(e) if e.starts_with(b"MOVED ") || e.starts_with(b"ASK ")));
            if redirected {
                r = self.p.run(&it.name, it.db, &it.cmds)?;
            }
            self.judge(&it, &r, scratch)?;
        }
        Ok(())
    }

    /// Judges one key from its replies (and finishes it, if it is bigger than one batch).
    fn judge(&mut self, it: &Item, r: &[Reply], scratch: &mut Scratch) -> Result<(), Error> {
        let (k, name) = (&it.k, &it.name[..]);
        if let Reply::Error(e) = &r[0] {
            self.report.error(name, format!("TYPE: {}", String::from_utf8_lossy(e)));
            return Ok(());
        }
        let kind = types::kind(k.ty());
        if let Want::Elements { ttl_skipped, .. } = it.want
            && ttl_skipped > 0
        {
            self.report.not_comparable("hash field TTLs", name, ttl_skipped, self.no_field_ttls());
        }
        if r[0] == Reply::Status(b"none".to_vec()) {
            let gone = k.expire_ms().is_some_and(|e| e <= crate::filter::now_ms());
            let empty = matches!(it.want, Want::Elements { seen: 0, .. });
            if gone || empty {
                // its expiry passed since, or nothing in it is left to hold
                self.report.expired += 1;
                self.report.checked -= 1;
            } else if kind == Kind::Module && !self.target_has_modules(it) {
                let t = k.module_id().map(module::type_name).unwrap_or_default();
                let why = format!(
                    "{} has no modules loaded, so it cannot hold a {t} value",
                    self.p.server
                );
                self.report.not_comparable("module values", name, 1, why);
                self.report.checked -= 1;
            } else {
                self.report.missing(name);
            }
            return Ok(());
        }
        let want_type = match kind {
            Kind::Module => k.module_id().map(module::type_name).unwrap_or_default(),
            k => k.name().to_string(),
        };
        if r[0] != Reply::Status(want_type.as_bytes().to_vec()) {
            // whatever the value commands answered (WRONGTYPE), the type is the difference
            self.report.differ(name, format!("type {}, expected {want_type}", show(&r[0])));
            return Ok(());
        }
        for (x, what) in r.iter().zip(["TYPE", "the expiry", "the value"]).skip(1) {
            if let Reply::Error(e) = x {
                self.report.error(name, format!("{what}: {}", String::from_utf8_lossy(e)));
                return Ok(());
            }
        }
        let rep = &mut self.report;
        let exact_ttl = self.p.server.stream_counters();
        let ttl_ok = match (&r[1], k.expire_ms()) {
            (Reply::Int(-1), None) => true,
            (Reply::Int(t), Some(e)) if exact_ttl => *t == e,
            (Reply::Int(t), Some(e)) => *t >= 0 && (e - crate::filter::now_ms() - t).abs() < 10_000,
            _ => false,
        };
        if !ttl_ok {
            let what = if exact_ttl {
                format!("expiry {}, expected {}", expiry(r[1].int()), expiry(k.expire_ms()))
            } else {
                let want = k
                    .expire_ms()
                    .map_or("none".to_string(), |e| format!("{} ms", e - crate::filter::now_ms()));
                format!(
                    "TTL {} ms, expected about {want} (expiry {})",
                    show(&r[1]),
                    expiry(k.expire_ms())
                )
            };
            rep.differ(name, what);
            return Ok(());
        }
        let diff = match &it.want {
            Want::String(v) => (!matches!(&r[2], Reply::Bulk(Some(b)) if b == v))
                .then(|| "value differs".to_string()),
            Want::LongString(len) => {
                if r[2] != Reply::Int(*len as i64) {
                    Some(format!("length {}, expected {len}", show(&r[2])))
                } else {
                    self.long_string(it, scratch)?
                }
            }
            Want::Module => module_diff(&self.p.server, k, &r[2]),
            Want::Elements { batch, seen, single, expired_fields, .. } => {
                match judge_batch(kind, batch, 0, *single, &r[3..]) {
                    Some(d) => Some(d),
                    None => self.cardinality(it, &r[2], *seen, *expired_fields)?,
                }
            }
            Want::Big => self.big(it, &r[2], scratch)?,
        };
        if let Some(d) = diff {
            self.report.differ(name, d);
        }
        Ok(())
    }

    /// Compares the target's cardinality `card` with the `seen` elements of the dump.
    ///
    /// A hash's `HLEN` also counts fields whose TTL has passed and that the server has not
    /// reclaimed yet, so when the dump has `expired_fields`, a count up to that many higher
    /// is checked again with `HKEYS` (which leaves them out), up to 10 batches of fields;
    /// beyond that it is accepted as such.
    fn cardinality(
        &mut self,
        it: &Item,
        card: &Reply,
        seen: u64,
        expired_fields: u64,
    ) -> Result<Option<String>, Error> {
        let Reply::Int(n) = *card else { return Ok(Some(count_diff(card, seen))) };
        let n = n.max(0) as u64;
        if n == seen {
            return Ok(None);
        }
        if !(seen < n && n <= seen + expired_fields) {
            return Ok(Some(count_diff(card, seen)));
        }
        if n > 10 * BATCH as u64 {
            return Ok(None);
        }
        let mut c = Cmds::default();
        c.push(&[b"HKEYS", &it.name]);
        let r = self.p.run(&it.name, it.db, &c)?;
        let live = r[0].array().len() as u64;
        Ok((live != seen).then(|| format!("{live} fields, expected {seen}")))
    }

    /// A string longer than one piece, compared piece by piece with `GETRANGE`.
    fn long_string(&mut self, it: &Item, scratch: &mut Scratch) -> Result<Option<String>, Error> {
        let mut v = StringValue(None);
        it.k.decode(&mut v, scratch)?;
        let v = v.0.unwrap_or_default();
        for (n, piece) in v.chunks(STRING_PIECE).enumerate() {
            let from = n * STRING_PIECE;
            let mut c = Cmds::default();
            let (a, b) = (from.to_string(), (from + piece.len() - 1).to_string());
            c.push(&[b"GETRANGE", &it.name, a.as_bytes(), b.as_bytes()]);
            let r = self.p.run(&it.name, it.db, &c)?;
            if r[0].bytes() != Some(piece) {
                return Ok(Some(format!("value differs in bytes {a} to {b}")));
            }
        }
        Ok(None)
    }

    /// A collection bigger than one batch, or a stream: decoded again and checked batch by
    /// batch, then the cardinality (`card`, from the window), then a stream's groups.
    fn big(
        &mut self,
        it: &Item,
        card: &Reply,
        scratch: &mut Scratch,
    ) -> Result<Option<String>, Error> {
        let kind = types::kind(it.k.ty());
        let server = self.p.server;
        let live = Live { p: &mut self.p, key: &it.name, db: it.db, diff: None };
        let mut c = Collect::new(kind, &self.filter, &server, Some(live));
        match it.k.decode(&mut c, scratch) {
            Ok(()) => c.flush()?,
            Err(Halt::Format(e)) => return Err(e.into()),
            Err(Halt::Target(e)) => return Err(e),
            Err(Halt::Overflow) => {
                return Err(Error::Other("a live check stopped at one batch".into()));
            }
        }
        let (seen, expired_fields, tail) = (c.seen, c.expired_fields, std::mem::take(&mut c.tail));
        let ttl_skipped = c.ttl_skipped;
        let Some(Live { diff, .. }) = c.live.take() else { return Ok(None) };
        if ttl_skipped > 0 {
            let why = self.no_field_ttls();
            self.report.not_comparable("hash field TTLs", &it.name, ttl_skipped, why);
        }
        if tail.idmp.is_some() && !server.idmp() {
            let why = format!("{server} has no stream IDMP state");
            self.report.not_comparable("stream IDMP", &it.name, 1, why);
        }
        let nacked = tail.groups.iter().map(|g| g.nacked()).sum::<u64>();
        if nacked > 0 && !server.xnack() {
            let why = format!(
                "{server} has no NACKed stream entries (they go as unowned or are dropped)"
            );
            self.report.not_comparable("stream NACKs", &it.name, nacked, why);
        }
        if diff.is_some() {
            return Ok(diff);
        }
        match tail.meta.as_ref().filter(|m| kind == Kind::Stream && m.length != seen) {
            // an odd but valid stream: its stored length is not its live entries. RESTORE
            // carries the stored length; commands cannot (XLEN counts the entries)
            Some(m) => match card.int() {
                Some(n) if n as u64 == m.length => {}
                Some(n) if n as u64 == seen => {
                    let why = format!(
                        "the stored length ({}) is not the live entries ({seen}); commands cannot set it (load --mode restore carries it)",
                        m.length
                    );
                    self.report.not_comparable("stream lengths", &it.name, 1, why);
                }
                _ => {
                    let d = format!(
                        "stream length {}, expected {} (stored; {seen} live entries)",
                        show(card),
                        m.length
                    );
                    return Ok(Some(d));
                }
            },
            None => {
                if let Some(d) = self.cardinality(it, card, seen, expired_fields)? {
                    return Ok(Some(d));
                }
            }
        }
        if kind == Kind::Stream {
            return streams::compare(
                &mut self.p,
                &it.name,
                it.db,
                &tail,
                self.settings.pel_exact,
                self.filter.now_ms,
            );
        }
        Ok(None)
    }

    fn no_field_ttls(&self) -> String {
        format!(
            "{} has no hash field TTLs (Redis 7.4 and Valkey 9.0 have them): the fields were compared without",
            self.p.server
        )
    }

    /// Whether the target has any module loaded (`MODULE LIST`, asked once).
    fn target_has_modules(&mut self, it: &Item) -> bool {
        if let Some(m) = self.has_modules {
            return m;
        }
        let mut c = Cmds::default();
        c.push(&[b"MODULE", b"LIST"]);
        let m = match self.p.run(&it.name, it.db, &c) {
            Ok(r) => !matches!(r.first(), Some(Reply::Array(Some(v))) if v.is_empty()),
            Err(_) => true,
        };
        self.has_modules = Some(m);
        m
    }

    /// `--extra`: scans every master's selected dbs (a cluster: db 0) for keys the filters
    /// select and the dumps do not hold. Counts them, and keeps the first names.
    ///
    /// On a cluster only the slots the dumps' selected keys hold are looked at (a shard's
    /// dump verified alone does not report the other shards' keys); on a standalone server
    /// every key of the dbs is (give every dump of the migration).
    pub fn extra(&mut self) -> Result<(), Error> {
        let Some(mut set) = self.keys.take() else { return Ok(()) };
        let cluster = self.p.is_cluster();
        if cluster {
            self.report.extra_slots = Some(self.slots.iter().map(|w| w.count_ones() as u64).sum());
        }
        let dbs: Vec<u64> = if self.p.is_cluster() {
            vec![0]
        } else if let Some(d) = self.settings.to_db {
            vec![d]
        } else if !self.filter.dbs.is_empty() {
            self.filter.dbs.clone()
        } else {
            self.dbs.iter().copied().collect()
        };
        for i in self.p.masters() {
            for &db in &dbs {
                let mut cursor = b"0".to_vec();
                loop {
                    let mut c = Cmds::default();
                    c.push(&[b"SCAN", &cursor, b"COUNT", b"1000"]);
                    let r = self.p.exec(i, db, &c)?;
                    let a = r[0].array();
                    let (Some(next), Some(keys)) = (a.first().and_then(Reply::bytes), a.get(1))
                    else {
                        return Err(Error::Other(format!(
                            "{}: SCAN gave {}",
                            self.p.addr(i),
                            show(&r[0])
                        )));
                    };
                    cursor = next.to_vec();
                    let keys = keys.array();
                    self.report.scanned += keys.len() as u64;
                    let slots = &self.slots;
                    let ours = |k: &[u8]| {
                        let s = crate::slot::of(k) as usize;
                        !cluster || slots[s / 64] & (1 << (s % 64)) != 0
                    };
                    let mut found: Vec<&[u8]> = keys
                        .iter()
                        .filter_map(Reply::bytes)
                        .filter(|k| ours(k) && self.filter.key(k) && !set.contains(db, k))
                        .collect();
                    if self.filter.by_type() && !found.is_empty() {
                        let mut c = Cmds::default();
                        for k in &found {
                            c.push(&[b"TYPE", k]);
                        }
                        let types = self.p.exec(i, db, &c)?;
                        let mut t = types.iter();
                        found.retain(|_| {
                            let name = t.next().map(Reply::text).unwrap_or_default();
                            match Kind::from_name(&name) {
                                Some(kind) => self.filter.kind(kind, None),
                                None => self.filter.kind(Kind::Module, Some(&name)),
                            }
                        });
                    }
                    for k in found {
                        self.report.extra += 1;
                        if self.report.extra_keys.len() < NAMES_KEPT {
                            self.report.extra_keys.push(quote(k));
                        }
                    }
                    if cursor == b"0" {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// "N elements, expected M".
fn count_diff(got: &Reply, want: u64) -> String {
    format!("{} elements, expected {want}", show(got))
}

/// Keys gathered for one pipelined round trip.
#[derive(Default)]
struct Window<'a> {
    items: Vec<Item<'a>>,
    bytes: usize,
}

/// One key of a window: its commands and what they must answer.
struct Item<'a> {
    k: Key<'a>,
    name: Vec<u8>,
    /// The db it is looked for in.
    db: u64,
    /// `TYPE`, the expiry, the value or cardinality, then a small collection's elements.
    cmds: Cmds,
    want: Want,
    /// Memory the item holds (expected values and commands), roughly.
    bytes: usize,
}

/// What the third and later replies of an item must be.
enum Want {
    /// `GET`.
    String(Vec<u8>),
    /// `STRLEN`, then pieces compared after the window.
    LongString(usize),
    /// `DUMP`: compared with the dump's bytes.
    Module,
    /// The cardinality, then the elements of a collection that fits one batch.
    Elements { batch: Batch, seen: u64, single: bool, expired_fields: u64, ttl_skipped: u64 },
    /// The cardinality; the elements (and a stream's groups) are checked after the window.
    Big,
}

fn show(r: &Reply) -> String {
    match r {
        Reply::Bulk(Some(b)) | Reply::Status(b) | Reply::Error(b) => quote(&b[..b.len().min(60)]),
        Reply::Bulk(None) | Reply::Array(None) => "nil".into(),
        Reply::Int(i) => i.to_string(),
        Reply::Array(Some(v)) => format!("[{} items]", v.len()),
    }
}

/// Compares a `DUMP` payload with the dump's serialized module value.
fn module_diff(server: &Server, k: &Key, r: &Reply) -> Option<String> {
    // the payload: key metadata (8.6, as `RESTORE` gave it), the type byte, the value
    let meta: &[u8] = if server.key_meta() { k.meta_bytes() } else { &[] };
    let (ty, value) = k.raw_value();
    let Some(payload) = r.bytes().filter(|p| p.len() >= 10) else {
        return Some(format!("DUMP gave {}", show(r)));
    };
    let body = &payload[..payload.len() - 10];
    let n = meta.len() + ty.len();
    if body.len() == n + value.len()
        && body[..meta.len()] == *meta
        && body[meta.len()..n] == *ty
        && body[n..] == *value
    {
        return None;
    }
    // name a different module encoding version: the bytes then cannot match
    let theirs = (body.get(meta.len()) == Some(&types::MODULE_2))
        .then(|| module::payload_id(&body[meta.len() + 1..]))
        .flatten();
    match (theirs, k.module_id()) {
        (Some(t), Some(o)) if t != o && module::type_name(t) == module::type_name(o) => {
            Some(format!(
                "module encoding version {} on the target, {} in the dump: the bytes cannot be compared",
                module::encver(t),
                module::encver(o)
            ))
        }
        _ => Some("module value differs (DUMP payload)".into()),
    }
}

/// Elements of one batch of a collection, as the dump has them.
#[derive(Default)]
struct Batch {
    /// (item / member / field, score text / value).
    elems: Vec<(Vec<u8>, Vec<u8>)>,
    /// Hash fields' expiries (-1: none), when the target has field TTLs.
    ttls: Vec<(Vec<u8>, i64)>,
    /// Stream entries: ID and flat field/value list.
    entries: Vec<(StreamId, Vec<Vec<u8>>)>,
    /// Bytes held.
    bytes: usize,
}

impl Batch {
    fn len(&self) -> usize {
        self.elems.len() + self.entries.len()
    }
    fn clear(&mut self) {
        self.elems.clear();
        self.ttls.clear();
        self.entries.clear();
        self.bytes = 0;
    }
}

/// Writes the commands that check batch `b` of `key` (whose first element is number `first`).
fn batch_cmds(c: &mut Cmds, kind: Kind, key: &[u8], b: &Batch, first: u64, single: bool) {
    match kind {
        _ if b.len() == 0 => {}
        Kind::List => {
            let (from, to) = (first.to_string(), (first + b.elems.len() as u64 - 1).to_string());
            c.push(&[b"LRANGE", key, from.as_bytes(), to.as_bytes()]);
        }
        Kind::Set | Kind::Zset if single => {
            let verb: &[u8] = if kind == Kind::Set { b"SISMEMBER" } else { b"ZSCORE" };
            for (m, _) in &b.elems {
                c.push(&[verb, key, m]);
            }
        }
        Kind::Set | Kind::Zset | Kind::Hash => {
            let verb: &[u8] = match kind {
                Kind::Set => b"SMISMEMBER",
                Kind::Zset => b"ZMSCORE",
                _ => b"HMGET",
            };
            let mut args: Vec<&[u8]> = vec![verb, key];
            args.extend(b.elems.iter().map(|e| &e.0[..]));
            c.push(&args);
            if kind == Kind::Hash && !b.ttls.is_empty() {
                let n = b.ttls.len().to_string();
                let mut args: Vec<&[u8]> = vec![b"HPEXPIRETIME", key, b"FIELDS", n.as_bytes()];
                args.extend(b.ttls.iter().map(|t| &t.0[..]));
                c.push(&args);
            }
        }
        _ => {
            let (a, z) = (b.entries[0].0.to_string(), b.entries[b.entries.len() - 1].0.to_string());
            c.push(&[b"XRANGE", key, a.as_bytes(), z.as_bytes()]);
        }
    }
}

/// The first difference between batch `b` and the replies to its [`batch_cmds`].
fn judge_batch(kind: Kind, b: &Batch, first: u64, single: bool, r: &[Reply]) -> Option<String> {
    if b.len() == 0 {
        return None;
    }
    if let Some(Reply::Error(e)) = r.iter().find(|x| x.is_error()) {
        return Some(format!("checking elements gave {}", String::from_utf8_lossy(e)));
    }
    let single = single && matches!(kind, Kind::Set | Kind::Zset);
    let gathered;
    let items: &[Reply] = if single {
        gathered = r.to_vec();
        &gathered
    } else {
        match r.first() {
            Some(Reply::Array(Some(a))) => a,
            other => {
                return Some(format!(
                    "element check gave {}",
                    other.map_or("nothing".into(), show)
                ));
            }
        }
    };
    match kind {
        Kind::List => {
            for (i, (want, _)) in b.elems.iter().enumerate() {
                if items.get(i).and_then(Reply::bytes) != Some(&want[..]) {
                    return Some(format!("list item {} differs", first + i as u64));
                }
            }
        }
        Kind::Set => {
            if let Some(i) = (0..b.elems.len()).find(|&i| items.get(i) != Some(&Reply::Int(1))) {
                return Some(format!("member {} missing", quote(&b.elems[i].0)));
            }
        }
        Kind::Zset => {
            for (i, (m, want)) in b.elems.iter().enumerate() {
                let got = items.get(i).and_then(Reply::bytes).and_then(crate::format::parse_double);
                let want = crate::format::parse_double(want);
                // -0 and 0 compare equal: a compact sorted set stores -0 as it pleases
                if got.is_none() || got != want {
                    let shown = got.map_or("none".to_string(), |g| g.to_string());
                    let want = want.map_or("?".to_string(), |w| w.to_string());
                    return Some(format!("member {}: score {shown}, expected {want}", quote(m)));
                }
            }
        }
        Kind::Hash => {
            for (i, (f, want)) in b.elems.iter().enumerate() {
                if items.get(i).and_then(Reply::bytes) != Some(&want[..]) {
                    return Some(format!("field {} differs", quote(f)));
                }
            }
            if !b.ttls.is_empty() {
                let t = r.get(1).map(Reply::array).unwrap_or_default();
                for (i, (f, want)) in b.ttls.iter().enumerate() {
                    if t.get(i) != Some(&Reply::Int(*want)) {
                        let got = t.get(i).map_or("nothing".into(), show);
                        return Some(format!("field {}: TTL {got}, expected {want}", quote(f)));
                    }
                }
            }
        }
        _ => {
            let same = items.len() == b.entries.len()
                && items.iter().zip(&b.entries).all(|(e, (id, fv))| {
                    let e = e.array();
                    let got_id = e.first().and_then(Reply::bytes);
                    let got_fv = e.get(1).map(Reply::array).unwrap_or_default();
                    got_id == Some(id.to_string().as_bytes())
                        && got_fv.len() == fv.len()
                        && got_fv.iter().zip(fv).all(|(x, y)| x.bytes() == Some(&y[..]))
                });
            if !same {
                let (a, z) = (b.entries[0].0, b.entries[b.entries.len() - 1].0);
                return Some(format!("stream entries between {a} and {z} differ"));
            }
        }
    }
    None
}

/// Checks batches on the target as they fill up.
struct Live<'p> {
    p: &'p mut Peers,
    key: &'p [u8],
    db: u64,
    diff: Option<String>,
}

/// Why collecting a value's elements stopped before its end.
#[derive(Debug)]
enum Halt {
    /// The dump is damaged.
    Format(crate::format::Error),
    /// More than one batch, and no live check: the key is finished after its window.
    Overflow,
    /// The target failed while a batch was checked.
    Target(Error),
}

impl From<crate::format::Error> for Halt {
    fn from(e: crate::format::Error) -> Halt {
        Halt::Format(e)
    }
}

/// Gathers a value's elements into batches while it is decoded. Without a [`Live`] check
/// it stops at the first full batch ([`Halt::Overflow`]: the key is finished after its window).
struct Collect<'p> {
    kind: Kind,
    now_ms: i64,
    /// The target has field TTLs: every field's expiry is compared (-1 for none).
    field_ttl: bool,
    /// The target has no `SMISMEMBER`/`ZMSCORE` (before 6.2): one command per member.
    single: bool,
    batch: Batch,
    /// Elements decoded so far (the number of the batch's first is `seen - batch.len()`).
    seen: u64,
    /// Hash fields left out because their TTL has passed.
    expired_fields: u64,
    /// Hash fields with a TTL the target cannot hold (compared without it).
    ttl_skipped: u64,
    live: Option<Live<'p>>,
    tail: streams::Tail,
}

impl<'p> Collect<'p> {
    fn new(kind: Kind, filter: &Filter, server: &Server, live: Option<Live<'p>>) -> Self {
        Collect {
            kind,
            now_ms: filter.now_ms,
            field_ttl: server.field_ttl(),
            single: !server.set_pxat(),
            batch: Batch::default(),
            seen: 0,
            expired_fields: 0,
            ttl_skipped: 0,
            live,
            tail: streams::Tail::default(),
        }
    }

    /// Checks the gathered batch (live), and empties it.
    fn flush(&mut self) -> Result<(), Error> {
        let Some(l) = &mut self.live else { return Ok(()) };
        if l.diff.is_none() && self.batch.len() > 0 {
            let first = self.seen - self.batch.len() as u64;
            let mut c = Cmds::default();
            batch_cmds(&mut c, self.kind, l.key, &self.batch, first, self.single);
            let r = l.p.run(l.key, l.db, &c)?;
            l.diff = judge_batch(self.kind, &self.batch, first, self.single, &r);
        }
        self.batch.clear();
        Ok(())
    }

    /// Makes room for one more element: a full batch is checked, or (not live) ends the decode.
    fn room(&mut self) -> Result<(), Halt> {
        if self.batch.len() < BATCH {
            return Ok(());
        }
        if self.live.is_none() {
            return Err(Halt::Overflow);
        }
        self.flush().map_err(Halt::Target)
    }

    fn push(&mut self, a: Vec<u8>, b: Vec<u8>) -> Result<(), Halt> {
        self.room()?;
        self.batch.bytes += a.len() + b.len() + 16;
        self.batch.elems.push((a, b));
        self.seen += 1;
        Ok(())
    }
}

impl Visitor for Collect<'_> {
    type Error = Halt;
    fn list_item(&mut self, v: Str<'_>) -> Result<(), Halt> {
        self.push(v.to_vec(), Vec::new())
    }
    fn set_member(&mut self, v: Str<'_>) -> Result<(), Halt> {
        self.push(v.to_vec(), Vec::new())
    }
    fn zset_member(&mut self, m: Str<'_>, score: f64) -> Result<(), Halt> {
        let mut t = Vec::new();
        crate::encode::text::double(&mut t, score);
        self.push(m.to_vec(), t)
    }
    fn hash_field(&mut self, f: Str<'_>, v: Str<'_>, expire_ms: Option<i64>) -> Result<(), Halt> {
        // a field whose TTL has passed is not on the target (whatever --include-expired says)
        if expire_ms.is_some_and(|e| e <= self.now_ms) {
            self.expired_fields += 1;
            return Ok(());
        }
        self.room()?;
        if self.field_ttl {
            self.batch.ttls.push((f.to_vec(), expire_ms.unwrap_or(-1)));
        } else if expire_ms.is_some() {
            self.ttl_skipped += 1;
        }
        self.push(f.to_vec(), v.to_vec())
    }
    fn stream_entry(&mut self, e: &StreamEntry<'_>) -> Result<(), Halt> {
        self.room()?;
        self.tail.first_entry.get_or_insert(e.id);
        let mut fv: Vec<Vec<u8>> = Vec::new();
        for r in e.fields() {
            let (f, v) = r?;
            fv.push(f.to_vec());
            fv.push(v.to_vec());
        }
        self.batch.bytes += fv.iter().map(|x| x.len() + 16).sum::<usize>();
        self.batch.entries.push((e.id, fv));
        self.seen += 1;
        Ok(())
    }
    fn stream_meta(&mut self, m: &StreamMeta) -> Result<(), Halt> {
        self.tail.meta = Some(m.clone());
        Ok(())
    }
    fn stream_group(&mut self, g: &Group) -> Result<(), Halt> {
        self.tail.groups.push(streams::DGroup::of(g)?);
        Ok(())
    }
    fn stream_idmp(&mut self, i: &Idmp) -> Result<(), Halt> {
        self.tail.idmp = Some(streams::DIdmp::of(i)?);
        Ok(())
    }
}

struct StringValue(Option<Vec<u8>>);

impl Visitor for StringValue {
    type Error = crate::format::Error;
    fn string(&mut self, v: Str<'_>) -> crate::format::Result<()> {
        self.0 = Some(v.to_vec());
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
