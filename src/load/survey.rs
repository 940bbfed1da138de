//! The pass over a dump before any byte of it is sent: the dump is proven intact (every
//! record's structure, and the CRC-64 trailer unless the user turned the check off), its
//! keys are counted per database, a checkpoint's offsets are checked to be key boundaries
//! of this very dump, and when several databases are merged into one, keys that would
//! overwrite each other are found.
//!
//! It reads the file once, sequentially, without decoding values (the same skim the
//! convert engine uses), releasing pages behind it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};

use crate::convert::engine::{Cut, Cutter};
use crate::filter::Filter;
use crate::format::record::{Key, KeyNameCheck, Options, Record, Trailer};
use crate::format::{Error, RStr, Reader, Result};

/// What the pre-pass found.
#[derive(Debug, Default)]
pub struct Survey {
    /// Key records in the dump, per db (before any filter).
    pub(crate) keys: BTreeMap<u64, u64>,
    /// The dbs holding keys the db filter selects.
    pub(crate) selected_dbs: BTreeSet<u64>,
    /// The asked offsets that are not key boundaries of this dump.
    pub(crate) bad_offsets: Vec<u64>,
    /// Names that occur in more than one of the merged dbs (up to 20), and how many.
    pub(crate) collisions: Vec<Vec<u8>>,
    pub(crate) collision_count: u64,
    /// Values no server writes but every server loads (said, not refused).
    pub(crate) oddities: crate::format::visit::Oddities,
    /// The dump cut into the engine's chunks, so that it need not skim the dump again
    /// (see [`crate::convert::engine::Cut`]); complete only when the survey is.
    pub(crate) cuts: Vec<Cut>,
    /// The dump's trailer (EOF and checksum), when the survey reached it.
    pub(crate) trailer: Option<Trailer>,
    /// Per cluster slot of the name each goes out under: the selected keys that have not
    /// expired, and their records' bytes in the dump (what pre-flight shows per node).
    pub(crate) per_slot: PerSlot,
    /// Of the keys the selection may keep, arrays and hashes stored with field TTLs; and
    /// the function libraries: what pre-flight checks against what the target can hold.
    pub(crate) arrays: u64,
    pub(crate) field_ttl_hashes: u64,
    pub(crate) functions: u64,
}

/// Keys and bytes per cluster slot (see [`Survey::per_slot`]).
#[derive(Debug, Clone)]
pub struct PerSlot(pub Vec<(u64, u64)>);

impl Default for PerSlot {
    fn default() -> Self {
        PerSlot(vec![(0, 0); crate::net::topology::SLOTS])
    }
}

impl PerSlot {
    /// Counts a key named `name` (in the dump) of `bytes` bytes, if the name rules select
    /// it (db, type and expiry were decided before).
    fn count(&mut self, filter: &Filter, name: &[u8], bytes: u64) {
        if !filter.key(name) {
            return;
        }
        let slot = crate::slot::of(&filter.rename.name(name)) as usize;
        self.0[slot].0 += 1;
        self.0[slot].1 += bytes;
    }

    pub(crate) fn add(&mut self, o: &PerSlot) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            a.0 += b.0;
            a.1 += b.1;
        }
    }

    /// Keys and bytes in all.
    pub fn total(&self) -> (u64, u64) {
        self.0.iter().fold((0, 0), |t, x| (t.0 + x.0, t.1 + x.1))
    }
}

/// Whether the selection may keep `k` whatever its name: its db, type and expiry (the
/// walk decides it once per key, and hands it to the duplicate-key check with the key).
fn may_keep(filter: &Filter, k: &Key<'_>) -> bool {
    filter.db(k.db()) && !filter.expired(k.expire_ms()) && filter.key_type(k)
}

impl Survey {
    pub fn total_keys(&self) -> u64 {
        self.keys.values().sum()
    }
}

/// Surveys `data`; on damage, what was found before it comes with the error. `offsets`: checkpoint offsets that must each be a key record's start
/// (or one past it: a checkpoint records "after this key"), or the file's length.
/// `merge`: where each db's keys go; when given, find the selected keys that go out under
/// the same name into the same db as another key (several dbs merged into one, or renames). `chunk_bytes`: the size of
/// the engine's chunks ([`Survey::cuts`]).
#[allow(clippy::too_many_arguments, reason = "the survey's inputs, passed through once")]
pub fn survey<'a>(
    data: &'a [u8],
    opts: Options,
    filter: &Filter,
    offsets: &[u64],
    merge: Option<&dyn Fn(u64) -> u64>,
    chunk_bytes: usize,
    release: &(dyn Fn(usize, usize) + Sync),
) -> (Survey, Option<Error>) {
    let mut s = Survey::default();
    let walk = |s: &mut Survey, opts, each: &mut dyn FnMut(&Key<'a>, bool) -> bool| {
        let w = Walk { data, opts, filter, offsets, merge, chunk_bytes, release };
        walk(s, w, each)
    };
    if opts.allow_duplicate_keys {
        let mut slots = PerSlot::default();
        let mut buf = Vec::new();
        let r = walk(&mut s, opts, &mut |k, keep| {
            if keep && let Ok(n) = k.raw_name().bytes(&mut buf) {
                slots.count(filter, n, (k.end() - k.start()) as u64);
            }
            true
        });
        s.per_slot = slots;
        return (s, r.err());
    }
    // the duplicate-key check runs on the second core, fed in batches, so that the pass
    // costs about what the skim costs; it counts the keys per slot too
    let (walked, checked) = std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Named<'a>>>(8);
        let checker = sc.spawn(move || -> (Result<()>, PerSlot) {
            let mut names = KeyNameCheck::default();
            let mut slots = PerSlot::default();
            let mut buf = Vec::new();
            // the names are read from the mapping behind the walk, which has released those
            // pages already: what this thread reads in again it releases behind itself
            let mut behind = crate::input::Behind::new(release);
            for batch in rx {
                for ((db, key, _), keep) in &batch {
                    if let Err(e) = names.check(*db, key) {
                        return (Err(e), slots);
                    }
                    if let Some(bytes) = keep
                        && let Ok(n) = key.bytes(&mut buf)
                    {
                        slots.count(filter, n, *bytes);
                    }
                }
                if let Some(&((_, _, at), _)) = batch.last() {
                    behind.passed(at);
                }
            }
            (names.finish(data), slots)
        });
        let mut batch = Vec::with_capacity(BATCH);
        let mut send = |k: &Key<'a>, keep: bool| {
            let keep = keep.then(|| (k.end() - k.start()) as u64);
            batch.push((KeyNameCheck::of(k), keep));
            if batch.len() < BATCH {
                return true;
            }
            // false: the checker stopped (it found a duplicate)
            tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).is_ok()
        };
        let opts = opts.allow_duplicate_keys(true);
        let walked = walk(&mut s, opts, &mut send);
        let _ = tx.send(batch);
        drop(tx);
        let (checked, slots) = checker.join().unwrap_or_else(|_| {
            (Err(Error::corrupt(0, "file", "the duplicate-key check stopped")), PerSlot::default())
        });
        s.per_slot.add(&slots);
        (walked, checked)
    });
    // the earlier of the two errors is the one that counts
    let err = match (walked.err(), checked.err()) {
        (Some(a), Some(b)) => Some(if b.offset < a.offset { b } else { a }),
        (a, b) => a.or(b),
    };
    (s, err)
}

/// A key as the duplicate-key check sees it, with its bytes when the selection may keep it.
type Named<'a> = ((u64, RStr<'a>, usize), Option<u64>);

/// Keys per batch handed to the duplicate-key check.
const BATCH: usize = 4096;

/// What one walk reads and how (see [`survey`]).
struct Walk<'a, 'f> {
    data: &'a [u8],
    opts: Options,
    filter: &'f Filter,
    offsets: &'f [u64],
    merge: Option<&'f dyn Fn(u64) -> u64>,
    chunk_bytes: usize,
    release: &'f (dyn Fn(usize, usize) + Sync),
}

fn walk<'a>(
    s: &mut Survey,
    w: Walk<'a, '_>,
    each_key: &mut dyn FnMut(&Key<'a>, bool) -> bool,
) -> Result<()> {
    let Walk { data, opts, filter, offsets, merge, chunk_bytes, release } = w;
    let mut r = Reader::new(data, opts)?;
    let mut cutter = Cutter::new(chunk_bytes);
    let mut want: BTreeSet<u64> =
        offsets.iter().copied().filter(|&o| o != data.len() as u64).collect();
    let mut behind = crate::input::Behind::new(release);
    // hash of (db, name) a key goes out under -> the record of the first key to do so
    let mut seen: HashMap<u64, (u64, usize)> = HashMap::new();
    let hasher = std::collections::hash_map::RandomState::new();
    let mut name = Vec::new();
    // keys of the current db, counted here and added at each change of db (a map per key
    // was a tenth of the pass on tiny keys)
    let mut cur: Option<(u64, u64, bool)> = None;
    let result = loop {
        // the record stays where the reader wrote it (moving a key costs more than reading it)
        let at = r.pos();
        let next = r.next_record();
        let rec = match &next {
            Ok(Some(rec)) => rec,
            Ok(None) => break Ok(()),
            Err(_) => break next.map(|_| ()),
        };
        behind.passed(r.checked_upto());
        match rec {
            Record::Eof(t) => {
                s.oddities = t.oddities;
                s.trailer = Some(*t);
                s.cuts.extend(cutter.close());
            }
            Record::Function(_) => {
                s.functions += 1;
                s.cuts.extend(cutter.item(at, r.pos(), None, 0).into_iter().flatten());
            }
            Record::ModuleAux { .. } => {
                s.cuts.extend(cutter.item(at, r.pos(), None, 0).into_iter().flatten());
            }
            Record::Key(k) => {
                let grows = k.grows();
                s.cuts.extend(cutter.item(at, k.end(), Some(k.db()), grows).into_iter().flatten());
            }
            Record::Template(_) => s.cuts.extend(cutter.close()),
            _ => {}
        }
        let Record::Key(k) = rec else { continue };
        // whether the selection may keep it whatever its name (decided once per key)
        let keep = may_keep(filter, k);
        if !each_key(k, keep) {
            // the duplicate-key check has its error: no need to read on
            break Ok(());
        }
        let db = k.db();
        match &mut cur {
            Some((d, n, _)) if *d == db => *n += 1,
            _ => {
                if let Some((d, n, _)) = cur {
                    *s.keys.entry(d).or_default() += n;
                }
                cur = Some((db, 1, filter.db(db)));
                if filter.db(db) {
                    s.selected_dbs.insert(db);
                }
            }
        }
        if !want.is_empty() {
            want.remove(&(k.start() as u64));
            want.remove(&(k.start() as u64 + 1));
        }
        if cur.is_some_and(|c| !c.2) {
            continue;
        }
        // what pre-flight weighs: keys the selection may keep (name globs aside)
        if keep {
            if k.ty() == crate::format::types::ARRAY {
                s.arrays += 1;
            } else if crate::format::types::field_ttls(k.ty(), &r.header) {
                s.field_ttl_hashes += 1;
            }
        }
        if let Some(dest) = merge {
            let n = match k.raw_name().bytes(&mut name) {
                Ok(n) => n,
                Err(e) => break Err(k.context(e)),
            };
            if !filter.selects(k, n) || filter.expired(k.expire_ms()) {
                continue;
            }
            let out = filter.rename.name(n);
            let mut h = hasher.build_hasher();
            h.write_u64(dest(db));
            h.write(&out);
            match seen.entry(h.finish()) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert((db, k.start()));
                }
                std::collections::hash_map::Entry::Occupied(first) => {
                    // confirm: the first key, read again, goes out the same way and is
                    // another key (a name twice in one db is the duplicate-key check's)
                    let (fdb, at) = *first.get();
                    let same = match Reader::resume(data, r.header, at, fdb).next_record() {
                        Ok(Some(Record::Key(f))) => f.name().is_ok_and(|f| {
                            dest(fdb) == dest(db)
                                && *filter.rename.name(&f) == *out
                                && (fdb != db || f != n)
                        }),
                        _ => false,
                    };
                    if same {
                        s.collision_count += 1;
                        if s.collisions.len() < 20 {
                            s.collisions.push(out.into_owned());
                        }
                    }
                }
            }
        }
    };
    if let Some((d, n, _)) = cur {
        *s.keys.entry(d).or_default() += n;
    }
    s.bad_offsets = want.into_iter().collect();
    result
}
