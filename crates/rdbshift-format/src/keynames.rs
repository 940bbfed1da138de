//! The duplicate-key check in 8 bytes per key: the server refuses a file with a key twice
//! in one database (`rdbLoadRioWithLoadingCtx` in `src/rdb.c`: "Duplicated key found in
//! RDB file"), and so does the reader.
//!
//! Per key only a 64-bit fingerprint of (database, name) is kept, appended to one of
//! [`BUCKETS`] lists chosen by its top bits (appends, no random access: a few nanoseconds a
//! key). When the file is complete (or the reading stopped at damage), each list is checked
//! for equal fingerprints on its own, in a table the size of one list, and freed. Equal
//! fingerprints are only candidates: the keys are then read again from the file (the
//! *confirm pass*, which runs only when there is a candidate: a real duplicate, or two
//! names whose fingerprints collide, about n²/2⁶⁴ for n keys), and names are compared byte
//! for byte, so what is reported is exact: the first key, in file order, whose name an
//! earlier key of its database has, with both offsets.
//!
//! Memory: 8 bytes per key, plus at most one unfilled block per list (at most
//! `BUCKETS * BLOCK * 8` bytes = 8 MiB in all), plus, while checking, a table for one list.

use std::collections::{HashMap, HashSet};

use super::cursor::RStr;
use super::dupset::{ElementAt, Hasher, RdbStrings};
use super::error::{Error, ErrorKind, Result};
use super::record::{Key, Options, Reader, Record};

/// Lists the fingerprints are spread over (by their top 8 bits).
const BUCKETS: usize = 256;
/// Fingerprints per block of a list: a list grows a block at a time, never copying.
const BLOCK: usize = 4096;

/// One list: full blocks, and the block being filled (which grows by doubling up to
/// [`BLOCK`], so a small file holds little).
#[derive(Default)]
struct Bucket {
    full: Vec<Box<[u64]>>,
    cur: Vec<u64>,
}

impl Bucket {
    #[inline]
    fn push(&mut self, h: u64) {
        if self.cur.len() == BLOCK {
            let full = std::mem::replace(&mut self.cur, Vec::with_capacity(BLOCK));
            self.full.push(full.into_boxed_slice());
        }
        self.cur.push(h);
    }
    fn len(&self) -> usize {
        self.full.len() * BLOCK + self.cur.len()
    }
    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.full.iter().flat_map(|b| b.iter()).chain(self.cur.iter()).copied()
    }
}

/// From this many keys the lists are checked on every core.
const PARALLEL_FROM: u64 = 1 << 20;

/// The fingerprints that two keys of `lists` share: each list is checked on its own, in a
/// table the size of one list.
fn equal_fingerprints(lists: &[Bucket]) -> HashSet<u64> {
    let mut candidates = HashSet::new();
    let mut table: Vec<u64> = Vec::new();
    for b in lists {
        let n = b.len();
        if n < 2 {
            continue;
        }
        let size = (n * 2).next_power_of_two();
        table.clear();
        table.resize(size, 0);
        let mask = size - 1;
        for h in b.iter() {
            // the top bits are the list's; the low ones spread it over the table
            let mut i = h as usize & mask;
            loop {
                match table[i] {
                    0 => {
                        table[i] = h;
                        break;
                    }
                    x if x == h => {
                        candidates.insert(h);
                        break;
                    }
                    _ => i = (i + 1) & mask,
                }
            }
        }
    }
    candidates
}

/// The key names of one file, by fingerprint: fed every key in file order
/// ([`KeyNames::record`]), then asked whether two were equal ([`KeyNames::check`]).
#[derive(Default)]
pub(crate) struct KeyNames {
    hasher: Fingerprints,
    buckets: Vec<Bucket>,
    /// Keys recorded.
    keys: u64,
    buf: Vec<u8>,
}

/// How key names are fingerprinted, for callers that compute fingerprints on other threads
/// and add them with [`KeyNameCheck::add`]. Copied freely; every copy (in one process)
/// fingerprints alike.
#[derive(Clone, Copy, Default)]
pub struct Fingerprints(Hasher);

impl Fingerprints {
    /// The fingerprint of `name` in database `db`: never 0 (an empty slot while checking).
    #[inline]
    pub fn of(&self, db: u64, name: &[u8]) -> u64 {
        let h = self.0.hash(name);
        let r = (h as u128)
            .wrapping_mul(db.wrapping_mul(2).wrapping_add(0x9e37_79b9_7f4a_7c15) as u128);
        ((r as u64) ^ ((r >> 64) as u64)) | 1
    }
}

impl KeyNames {
    /// Records the key `name` (as stored) of database `db`.
    pub fn record(&mut self, db: u64, name: &RStr<'_>) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let h = self.hasher.of(db, name.bytes(&mut buf)?);
        self.buf = buf;
        self.add(h);
        Ok(())
    }

    /// Records a key by its fingerprint ([`Fingerprints::of`]).
    #[inline]
    pub fn add(&mut self, h: u64) {
        if self.buckets.is_empty() {
            self.buckets.resize_with(BUCKETS, Bucket::default);
        }
        self.buckets[(h >> 56) as usize].push(h);
        self.keys += 1;
    }

    /// Keys recorded so far.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// Whether two of the keys recorded have one name in one database; `data` is the whole
    /// file they were read from (read again only if fingerprints are equal). The table is
    /// emptied: what is recorded next starts a new set.
    pub fn check(&mut self, data: &[u8]) -> Result<()> {
        let keys = std::mem::take(&mut self.keys);
        let buckets = std::mem::take(&mut self.buckets);
        // the lists are independent: a large file's are checked on the cores (this runs
        // once the output is written, so its time is the run's last)
        let threads = if keys < PARALLEL_FROM {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
        };
        let share = buckets.len().div_ceil(threads).max(1);
        let mut candidates = HashSet::new();
        std::thread::scope(|s| {
            let found: Vec<_> = buckets
                .chunks(share)
                .map(|part| s.spawn(move || equal_fingerprints(part)))
                .collect();
            for f in found {
                candidates.extend(f.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
        });
        drop(buckets);
        if candidates.is_empty() {
            return Ok(());
        }
        self.confirm(data, keys, &candidates)
    }

    /// The confirm pass: the first `keys` keys of `data` are read again, and those whose
    /// fingerprint is a candidate compared by name with the earlier ones.
    fn confirm(&mut self, data: &[u8], keys: u64, candidates: &HashSet<u64>) -> Result<()> {
        let opts =
            Options::default().allow_newer(true).no_checksum(true).allow_duplicate_keys(true);
        let mut r = Reader::new(data, opts)?;
        let mut earlier: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
        let (mut buf, mut buf2) = (Vec::new(), Vec::new());
        let mut n = 0;
        while n < keys {
            let Some(rec) = r.next_record()? else { break };
            let Record::Key(k) = rec else { continue };
            n += 1;
            let name = k.raw_name().bytes(&mut buf)?;
            let h = self.hasher.of(k.db(), name);
            if !candidates.contains(&h) {
                continue;
            }
            let at = k.name_at() as u64;
            let list = earlier.entry(h).or_default();
            for &(db, first) in list.iter() {
                if db == k.db() && RdbStrings(data).bytes_at(first, &mut buf2)? == name {
                    return Err(
                        Error::new(at, ErrorKind::DuplicateKey { db, first }).with_key(name)
                    );
                }
            }
            list.push((k.db(), at));
        }
        Ok(())
    }
}

/// The duplicate-key check on its own, for a caller that runs it apart from the skim (on
/// another thread, with the reader's own check off): fed every key's name, in file order,
/// with [`KeyNameCheck::check`], then [`KeyNameCheck::finish`] once, at the end of the
/// file or where the reading stopped. It reports what the reader would: the first key
/// whose name is there already, and both offsets.
#[derive(Default)]
pub struct KeyNameCheck(KeyNames);

impl KeyNameCheck {
    /// What the check needs of key `k`: its database, its name as stored, and where that
    /// name starts. All of it borrows from the file, so it may be sent to another thread.
    pub fn of<'a>(k: &Key<'a>) -> (u64, RStr<'a>, usize) {
        (k.db(), *k.raw_name(), k.name_at())
    }

    /// Records the name `key` of a key in database `db` (see [`KeyNameCheck::of`]); fails
    /// only if the name cannot be read.
    pub fn check(&mut self, db: u64, key: &RStr<'_>) -> Result<()> {
        self.0.record(db, key)
    }

    /// How this check fingerprints names (for [`KeyNameCheck::add`]).
    pub fn fingerprints(&self) -> Fingerprints {
        self.0.hasher
    }

    /// Records a key by its fingerprint, computed with [`KeyNameCheck::fingerprints`]:
    /// every key of the file is added once, in any order, before the check that counts
    /// them finishes. A confirm pass reads the first keys of the file again (as many as
    /// were added), so the keys added must be the first ones of the file.
    pub fn add(&mut self, fingerprint: u64) {
        self.0.add(fingerprint)
    }

    /// Whether two of the keys recorded have one name in one database; `data` is the whole
    /// file (its keys are read again only when two fingerprints are equal).
    pub fn finish(&mut self, data: &[u8]) -> Result<()> {
        self.0.check(data)
    }

    /// Keys recorded since the last [`KeyNameCheck::finish`].
    pub fn keys(&self) -> u64 {
        self.0.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A string key record `name` = `value` (short strings).
    fn rec(name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut r = vec![0, name.len() as u8];
        r.extend_from_slice(name);
        r.push(value.len() as u8);
        r.extend_from_slice(value);
        r
    }

    /// An RDB 9 file of these records, with EOF and a zero checksum.
    fn file(body: &[u8]) -> Vec<u8> {
        let mut v = b"REDIS0009".to_vec();
        v.extend_from_slice(body);
        v.push(0xff);
        v.extend_from_slice(&[0; 8]);
        v
    }

    /// Every key of `data` recorded with `names`, then checked.
    fn run(names: &mut KeyNames, data: &[u8]) -> Result<()> {
        let opts = Options::default().allow_duplicate_keys(true);
        let mut r = Reader::new(data, opts)?;
        while let Some(rec) = r.next_record()? {
            if let Record::Key(k) = rec {
                names.record(k.db(), k.raw_name())?;
            }
        }
        names.check(data)
    }

    /// Fingerprints that are all alike (per database): every key is a candidate, and only
    /// the confirm pass tells names apart.
    fn colliding() -> KeyNames {
        KeyNames { hasher: Fingerprints(Hasher::degenerate()), ..KeyNames::default() }
    }

    #[test]
    fn colliding_fingerprints_are_confirmed_by_name() {
        let mut body = Vec::new();
        for i in 0..600u32 {
            body.extend(rec(format!("k{i}").as_bytes(), b"v"));
        }
        // the same names in another database are no duplicates
        body.extend([0xfe, 3]);
        body.extend(rec(b"k1", b"v"));
        body.extend(rec(b"k2", b"v"));
        let data = file(&body);
        run(&mut colliding(), &data).expect("distinct names, colliding fingerprints");
        run(&mut KeyNames::default(), &data).expect("distinct names");

        // two duplicates: the first in file order is the one reported, with both offsets
        let mut dup = body.clone();
        let second = 9 + dup.len() + 1;
        dup.extend(rec(b"k2", b"again"));
        dup.extend(rec(b"k1", b"again"));
        let data = file(&dup);
        let first = 9 + body.len() - rec(b"k2", b"v").len() + 1;
        for mut names in [colliding(), KeyNames::default()] {
            let e = run(&mut names, &data).unwrap_err();
            assert!(
                matches!(e.kind, ErrorKind::DuplicateKey { db: 3, first: f } if f == first as u64),
                "{e}"
            );
            assert_eq!(e.offset, second as u64);
            assert_eq!(e.key.as_deref(), Some(&b"k2"[..]));
        }
    }

    #[test]
    fn a_large_file_is_checked_on_every_core_alike() {
        // more keys than PARALLEL_FROM, with one name twice far apart: its lists are
        // checked on threads of their own, and what is found is the same
        let n = PARALLEL_FROM as usize + 4096;
        let mut body = Vec::with_capacity(n * 12);
        let (mut first, mut second) = (0, 0);
        for i in 0..n {
            if i == 1000 {
                first = 9 + body.len() + 1;
            }
            let name = if i == n - 7 {
                second = 9 + body.len() + 1;
                "k1000".to_string()
            } else {
                format!("k{i}")
            };
            body.extend(rec(name.as_bytes(), b"v"));
        }
        let e = run(&mut KeyNames::default(), &file(&body)).unwrap_err();
        assert!(
            matches!(e.kind, ErrorKind::DuplicateKey { db: 0, first: f } if f == first as u64),
            "{e}"
        );
        assert_eq!(e.offset, second as u64);
        // without the duplicate: every list of a million keys holds distinct fingerprints
        body.clear();
        for i in 0..n {
            body.extend(rec(format!("k{i}").as_bytes(), b"v"));
        }
        let mut names = KeyNames::default();
        run(&mut names, &file(&body)).expect("distinct names");
        assert_eq!(names.keys(), 0, "the check empties the table");
    }

    #[test]
    fn only_the_keys_recorded_are_confirmed() {
        // a, b, a: with only the first two recorded (the reading stopped there), no
        // duplicate, even though every fingerprint collides
        let mut body = rec(b"a", b"1");
        body.extend(rec(b"b", b"2"));
        body.extend(rec(b"a", b"3"));
        let data = file(&body);
        let mut names = colliding();
        let opts = Options::default().allow_duplicate_keys(true);
        let mut r = Reader::new(&data, opts).unwrap();
        for _ in 0..2 {
            let Some(Record::Key(k)) = r.next_record().unwrap() else { panic!("a key") };
            names.record(k.db(), k.raw_name()).unwrap();
        }
        names.check(&data).expect("two keys, two names");
        assert!(run(&mut colliding(), &data).is_err(), "all three");
    }

    #[test]
    fn a_duplicate_before_damage_is_the_error() {
        // a, b, a, then a record of an unknown type: the server refuses the key twice
        // first, and so does the reader
        let mut body = rec(b"a", b"1");
        body.extend(rec(b"b", b"2"));
        body.extend(rec(b"a", b"3"));
        body.extend([0x63, 1, b'x']);
        let data = file(&body);
        let mut r = Reader::new(&data, Options::default()).unwrap();
        let e = loop {
            match r.next_record() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("read to the end"),
                Err(e) => break e,
            }
        };
        assert!(matches!(e.kind, ErrorKind::DuplicateKey { db: 0, first: 10 }), "{e}");
        assert_eq!(e.offset, 20);
        // and the damage alone is reported as such
        let mut body = rec(b"a", b"1");
        body.extend([0x63, 1, b'x']);
        let data = file(&body);
        let mut r = Reader::new(&data, Options::default()).unwrap();
        r.next_record().unwrap();
        let e = r.next_record().unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnknownType(0x63)), "{e}");
    }

    #[test]
    fn fingerprints_differ_by_database_and_are_never_zero() {
        let k = KeyNames::default();
        assert_ne!(k.hasher.of(0, b"a"), k.hasher.of(1, b"a"));
        assert_ne!(k.hasher.of(0, b"a"), k.hasher.of(0, b"b"));
        for i in 0..1000u64 {
            assert_ne!(k.hasher.of(i, &i.to_le_bytes()), 0);
        }
    }

    #[test]
    fn buckets_grow_by_blocks() {
        let mut b = Bucket::default();
        for i in 0..(BLOCK as u64 * 3 + 5) {
            b.push(i);
        }
        assert_eq!(b.full.len(), 3);
        assert_eq!(b.len(), BLOCK * 3 + 5);
        assert!(b.iter().eq(0..(BLOCK as u64 * 3 + 5)));
    }
}
