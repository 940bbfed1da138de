//! Keys that would meet under one name in one output file: the same name in several dumps
//! being merged, two names a rename makes one, or a name twice in one dump read with
//! `--allow-duplicate-keys`. A server refuses a file that holds a key twice (`rdbLoad`:
//! "Duplicate key found in RDB file"), so one is kept and the others are left out and
//! named. The last in input order is kept, as when the dumps are replayed one after the
//! other (`convert`, `load`: a later key replaces an earlier one).
//!
//! In bounded memory: a first pass keeps an 8-byte fingerprint per selected key (its db
//! and the name it goes out under); only if two fingerprints are equal does a second pass
//! read those keys' names again and compare them byte for byte, so a fingerprint collision
//! never leaves a key out.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::filter::{Filter, Verdict};
use crate::format::record::{Fingerprints, Options, Record};
use crate::format::{Reader, Result};

/// Where a key is: input index, record offset.
type Place = (usize, usize);

/// One key left out, and the one kept (the last of its name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    /// The name and db it goes out under.
    pub name: Vec<u8>,
    pub db: u64,
    /// (input index, record offset) of the key left out, and of the key kept.
    pub dropped: (usize, usize),
    pub kept: (usize, usize),
}

/// What to leave out of each input: record offsets per input, and each case.
#[derive(Debug, Default)]
pub struct Found {
    pub skip: Vec<BTreeSet<usize>>,
    pub cases: Vec<Duplicate>,
}

/// What [`walk`] calls per key: input index, record offset, db, name.
type Each<'e> = &'e mut dyn FnMut(usize, usize, u64, &[u8]);
/// Whether a selected key leaves anything in the file (one that does not never takes a
/// name from another: [`super::key::writes_something`]).
type Writes<'w> = &'w mut dyn FnMut(&crate::format::Key) -> bool;

/// Calls `each(input, db, name)` for every key of `inputs` the filter selects and that
/// `writes`, with the db and name it goes out under, and its record offset.
fn walk(
    inputs: &[&[u8]],
    opts: Options,
    filter: &Filter,
    writes: Writes,
    each: Each,
) -> Result<()> {
    let mut buf = Vec::new();
    for (i, data) in inputs.iter().enumerate() {
        let mut r = Reader::new(data, opts.allow_duplicate_keys(true).no_checksum(true))?;
        while let Some(rec) = r.next_record()? {
            let Record::Key(k) = rec else { continue };
            let name = k.raw_name().bytes(&mut buf)?;
            if let Verdict::Keep(out) = filter.judge(&k, name)
                && writes(&k)
            {
                each(i, k.start(), filter.dest_db(k.db()), &out);
            }
        }
    }
    Ok(())
}

/// Finds the keys of `inputs` (in order, into one output) that meet under one name.
pub fn find(inputs: &[&[u8]], opts: Options, filter: &Filter, writes: Writes) -> Result<Found> {
    let fp = Fingerprints::default();
    let mut all: Vec<u64> = Vec::new();
    walk(inputs, opts, filter, &mut *writes, &mut |_, _, db, name| all.push(fp.of(db, name)))?;
    all.sort_unstable();
    let candidates: HashSet<u64> = all.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    drop(all);
    let mut found = Found { skip: vec![BTreeSet::new(); inputs.len()], cases: Vec::new() };
    if candidates.is_empty() {
        return Ok(found);
    }
    // every place of each name whose fingerprint meets another, in input order
    let mut places: HashMap<(u64, Vec<u8>), Vec<Place>> = HashMap::new();
    walk(inputs, opts, filter, writes, &mut |i, at, db, name| {
        if candidates.contains(&fp.of(db, name)) {
            places.entry((db, name.to_vec())).or_default().push((i, at));
        }
    })?;
    let mut cases: Vec<Duplicate> = Vec::new();
    for ((db, name), at) in places {
        let Some((&kept, earlier)) = at.split_last() else { continue };
        for &dropped in earlier {
            found.skip[dropped.0].insert(dropped.1);
            cases.push(Duplicate { name: name.clone(), db, dropped, kept });
        }
    }
    cases.sort_by_key(|c| c.dropped);
    found.cases = cases;
    Ok(found)
}
