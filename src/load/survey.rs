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
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::convert::engine::{Cut, Cutter};
use crate::filter::Filter;
use crate::format::record::{Key, KeyNameCheck, Options, Record, Trailer};
use crate::format::{Error, RStr, Reader, Result, Run, Step};

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

/// What the survey's callers need of a key: its database, its name as stored and where
/// that name starts, and where its record lies. It borrows from the file only, so it may
/// be sent to another thread, and a plain string record gives it without its [`Key`].
#[derive(Clone, Copy)]
struct Seen<'a> {
    db: u64,
    name: RStr<'a>,
    name_at: usize,
    start: usize,
    end: usize,
}

impl<'a> Seen<'a> {
    fn of(k: &Key<'a>) -> Self {
        let (db, name, name_at) = KeyNameCheck::of(k);
        Seen { db, name, name_at, start: k.start(), end: k.end() }
    }
    fn bytes(&self) -> u64 {
        (self.end - self.start) as u64
    }
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
    let walk = |s: &mut Survey,
                opts,
                each: &mut dyn FnMut(Seen<'a>, bool) -> bool,
                by: Option<&AtomicUsize>| {
        let lean = merge.is_none() && !whole();
        let w = Walk { data, opts, filter, offsets, merge, chunk_bytes, release, lean };
        walk(s, w, each, by)
    };
    if opts.allow_duplicate_keys {
        let mut slots = PerSlot::default();
        let mut buf = Vec::new();
        let each = &mut |k: Seen<'a>, keep| {
            if keep && let Ok(n) = k.name.bytes(&mut buf) {
                slots.count(filter, n, k.bytes());
            }
            true
        };
        let r = walk(&mut s, opts, each, None);
        s.per_slot = slots;
        return (s, r.err());
    }
    // the duplicate-key check runs on the second core, fed in batches, so that the pass
    // costs about what the skim costs; it counts the keys per slot too
    let mut slots = PerSlot::default();
    let mut buf = Vec::new();
    let mut count = |((_, key, _), keep): &Named<'a>| {
        if let Some(bytes) = keep
            && let Ok(n) = key.bytes(&mut buf)
        {
            slots.count(filter, n, *bytes);
        }
    };
    let checked = crate::input::beside::check_names_beside(
        data,
        release,
        |(name, _): &Named<'a>| name,
        &mut count,
        |send, crc_at| {
            let mut send = |k: Seen<'a>, keep: bool| {
                let keep = keep.then(|| k.bytes());
                // false: the check stopped (it found a name it cannot read)
                send(((k.db, k.name, k.name_at), keep))
            };
            walk(&mut s, opts.allow_duplicate_keys(true), &mut send, Some(crc_at))
        },
    );
    s.per_slot.add(&slots);
    let err = checked.err();
    (s, err)
}

/// Counts a key handed on: `cur` is the run of keys of one database being counted (its db,
/// its keys, whether the filter selects the db); its offsets are no longer `want`ed as
/// checkpoint positions (one is the key's start, or one past it).
fn counted(
    s: &mut Survey,
    cur: &mut Option<(u64, u64, bool)>,
    want: &mut BTreeSet<u64>,
    filter: &Filter,
    key: &Seen,
) {
    if !want.is_empty() {
        want.remove(&(key.start as u64));
        want.remove(&(key.start as u64 + 1));
    }
    let db = key.db;
    match cur {
        Some((d, n, _)) if *d == db => *n += 1,
        _ => {
            if let Some((d, n, _)) = *cur {
                *s.keys.entry(d).or_default() += n;
            }
            *cur = Some((db, 1, filter.db(db)));
            if filter.db(db) {
                s.selected_dbs.insert(db);
            }
        }
    }
}

/// A key as the duplicate-key check sees it, with its bytes when the selection may keep it.
type Named<'a> = ((u64, RStr<'a>, usize), Option<u64>);

/// Most bytes of one run of plain strings read at once (the pages behind are released
/// between runs).
const RUN_BYTES: usize = 1 << 20;

/// What one walk reads and how (see [`survey`]).
struct Walk<'a, 'f> {
    data: &'a [u8],
    opts: Options,
    filter: &'f Filter,
    offsets: &'f [u64],
    merge: Option<&'f dyn Fn(u64) -> u64>,
    chunk_bytes: usize,
    release: &'f (dyn Fn(usize, usize) + Sync),
    /// A plain string record is taken from its step, without its Key built (measured: a
    /// third of the survey of the 2M-key benchmark); merging dbs compares names by key.
    lean: bool,
}

#[cfg(test)]
thread_local! {
    /// Every key read whole, for a test that compares the two ways.
    static WHOLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a test asked for every key read whole (`WHOLE`); never outside tests.
fn whole() -> bool {
    #[cfg(test)]
    return WHOLE.with(|w| w.get());
    #[cfg(not(test))]
    false
}

/// `released_by`: another thread releases the pages behind; the walk tells it how far its
/// checksum has read (the walk releases them itself otherwise).
fn walk<'a>(
    s: &mut Survey,
    w: Walk<'a, '_>,
    each_key: &mut dyn FnMut(Seen<'a>, bool) -> bool,
    released_by: Option<&AtomicUsize>,
) -> Result<()> {
    let Walk { data, opts, filter, offsets, merge, chunk_bytes, release, lean } = w;
    let mut r = Reader::new(data, opts)?;
    let mut cutter = Cutter::new(chunk_bytes);
    let mut want: BTreeSet<u64> =
        offsets.iter().copied().filter(|&o| o != data.len() as u64).collect();
    let mut behind = crate::input::Behind::new(release);
    let mut passed = |at: usize| match released_by {
        Some(p) => p.store(at, Ordering::Release),
        None => behind.passed(at),
    };
    // hash of (db, name) a key goes out under -> the record of the first key to do so
    let mut seen: HashMap<u64, (u64, usize)> = HashMap::new();
    let hasher = std::collections::hash_map::RandomState::new();
    let mut name = Vec::new();
    // keys of the current db, counted here and added at each change of db (a map per key
    // was a tenth of the pass on tiny keys)
    let mut cur: Option<(u64, u64, bool)> = None;
    let result = loop {
        if lean && !whole() {
            // a run of strings with raw names and values, and at most an expiry, no step
            // or key built (what the steps below do with each); a megabyte at a time, so
            // that the pages behind are released as the run goes
            let (db, from, mut stopped) = (r.db(), r.pos(), false);
            let string = filter.db(db) && filter.string_type();
            r.raw_strings(usize::MAX, |k| {
                let (start, end) = (k.start, k.end);
                let grows = k.grows();
                s.cuts.extend(cutter.item(start, end, Some(db), grows).into_iter().flatten());
                let keep = string && !filter.expired(k.expire_ms);
                let key = Seen { db, name: RStr::Raw(k.name), name_at: k.name_at, start, end };
                if !each_key(key, keep) {
                    stopped = true;
                    return Run::Stop;
                }
                counted(s, &mut cur, &mut want, filter, &key);
                if end - from < RUN_BYTES { Run::On } else { Run::Stop }
            });
            if stopped {
                // the duplicate-key check has its error: no need to read on
                break Ok(());
            }
            if r.pos() != from {
                passed(r.checked_upto());
                continue;
            }
        }
        // the record stays where the reader wrote it (moving a key costs more than reading it)
        let at = r.pos();
        let next = if lean { r.next_step() } else { r.next_record().map(|r| r.map(Step::Record)) };
        let step = match &next {
            Ok(Some(step)) => step,
            Ok(None) => break Ok(()),
            Err(_) => break next.map(|_| ()),
        };
        passed(r.checked_upto());
        // the key as the callers see it, and whether the selection may keep it whatever
        // its name (decided once per key); the key itself when it was read whole
        let (key, keep, k) = match step {
            Step::PlainString { start, end, grows, name, .. } => {
                let (db, start, end) = (r.db(), *start, *end);
                s.cuts.extend(cutter.item(start, end, Some(db), *grows).into_iter().flatten());
                // a string with nothing before it: no expiry
                let keep = filter.db(db) && filter.string_type();
                (Seen { db, name: *name, name_at: start + 1, start, end }, keep, None)
            }
            Step::Record(Record::Key(k)) => {
                let grows = k.grows();
                s.cuts.extend(cutter.item(at, k.end(), Some(k.db()), grows).into_iter().flatten());
                (Seen::of(k), may_keep(filter, k), Some(k))
            }
            Step::Record(rec) => {
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
                    Record::Template(_) => s.cuts.extend(cutter.close()),
                    _ => {}
                }
                continue;
            }
        };
        if !each_key(key, keep) {
            // the duplicate-key check has its error: no need to read on
            break Ok(());
        }
        counted(s, &mut cur, &mut want, filter, &key);
        let db = key.db;
        // what follows needs the whole key (a plain string has none of it: no array, no
        // field TTLs, and merging dbs reads every key whole)
        let Some(k) = k else { continue };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::types::op;
    use crate::format::write;

    /// Plain strings of every string encoding among keys that are not plain, in two dbs,
    /// and `twice` a name again; with the offsets of its key records.
    fn dump(twice: bool) -> (Vec<u8>, Vec<usize>) {
        let mut b = b"REDIS0009".to_vec();
        let mut at = vec![];
        write::select_db(&mut b, 0);
        for i in 0..300u32 {
            if i == 150 {
                write::select_db(&mut b, 5);
            }
            at.push(b.len());
            match i % 6 {
                1 => b.extend([0, 0xc0, i as u8, 0xc1, 0x34, 0x12]),
                2 => {
                    // an LZF value: "abcabcabc"
                    b.push(0);
                    write::bytes(&mut b, format!("z{i}").as_bytes());
                    b.extend([0xc3, 6, 9, 2, b'a', b'b', b'c', 0x80, 2]);
                }
                3 => {
                    b.push(op::EXPIRETIME_MS);
                    b.extend(1000i64.to_le_bytes());
                    b.push(0);
                    write::bytes(&mut b, format!("e{i}").as_bytes());
                    write::bytes(&mut b, b"x");
                }
                4 => {
                    b.push(4);
                    write::bytes(&mut b, format!("h{i}").as_bytes());
                    b.push(1);
                    write::bytes(&mut b, b"f");
                    write::bytes(&mut b, b"v");
                }
                _ => {
                    b.push(0);
                    let name = if twice && i == 293 { "k174".into() } else { format!("k{i}") };
                    write::bytes(&mut b, name.as_bytes());
                    write::bytes(
                        &mut b,
                        format!("value {i}").repeat(i as usize % 7 + 1).as_bytes(),
                    );
                }
            }
        }
        let mut crc = crate::format::Crc64::default();
        crc.update(&b);
        write::eof(&mut b, &mut crc);
        (b, at)
    }

    fn both(data: &[u8], opts: Options, filter: &Filter, offsets: &[u64]) -> [String; 2] {
        [false, true].map(|whole| {
            WHOLE.with(|w| w.set(whole));
            let (s, e) = survey(data, opts, filter, offsets, None, 200, &|_, _| {});
            WHOLE.with(|w| w.set(false));
            let slots: Vec<_> = s.per_slot.0.iter().enumerate().filter(|x| x.1.0 > 0).collect();
            format!(
                "{:?} {:?} {:?} {:?} {:?} {} {} {:?} {:?}",
                s.keys,
                s.selected_dbs,
                s.bad_offsets,
                s.cuts,
                slots,
                s.arrays,
                s.functions,
                s.trailer.map(|t| (t.eof_at, t.computed)),
                e.map(|e| e.to_string())
            )
        })
    }

    #[test]
    fn plain_strings_are_surveyed_alike_from_their_steps_and_from_their_keys() {
        let now = crate::filter::now_ms();
        let base = Filter { now_ms: now, ..Filter::default() };
        let filters = [
            base.clone(),
            Filter { dbs: vec![5], ..base.clone() },
            Filter { types: vec!["hash".into()], ..base.clone() },
            Filter { globs: vec![b"k1*".to_vec()], ..base.clone() },
            Filter { include_expired: true, ..base.clone() },
        ];
        let (data, at) = dump(false);
        // offsets of a checkpoint: key boundaries (a record, or its name), and two that are not
        let offsets = [
            at[7] as u64,
            at[12] as u64 + 1,
            at[40] as u64 + 1,
            at[3] as u64 + 2,
            at[299] as u64 + 3,
        ];
        let mut runs = 0;
        for f in &filters {
            for opts in [Options::default(), Options::default().allow_duplicate_keys(true)] {
                let [lean, whole] = both(&data, opts, f, &offsets);
                assert_eq!(lean, whole);
                assert!(lean.contains("{0: 150, 5: 150}"), "{lean}");
                assert!(lean.contains(&format!("[{}, {}]", at[3] + 2, at[299] + 3)), "{lean}");
                runs += 1;
            }
        }
        assert_eq!(runs, 10);
        // a name twice: the same error, named at the same offsets
        let (data, _) = dump(true);
        let [lean, whole] = both(&data, Options::default(), &base, &[]);
        assert_eq!(lean, whole);
        assert!(lean.contains("k174"), "{lean}");
    }
}
