//! `--extra`: the target's keys that the dumps do not hold (a set of 64-bit hashes of the
//! dumps' keys, a `SCAN` of the target).

// a part of verify: it shares the module's imports and types
use super::*;

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
    pub(super) hashes: Vec<u64>,
    pub(super) sorted: bool,
}

impl KeySet {
    pub(super) fn hash(db: u64, name: &[u8]) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write_u64(db);
        h.write(name);
        h.finish()
    }
    pub(super) fn insert(&mut self, db: u64, name: &[u8]) {
        self.hashes.push(Self::hash(db, name));
        self.sorted = false;
    }
    pub(super) fn contains(&mut self, db: u64, name: &[u8]) -> bool {
        if !self.sorted {
            self.hashes.sort_unstable();
            self.hashes.dedup();
            self.sorted = true;
        }
        self.hashes.binary_search(&Self::hash(db, name)).is_ok()
    }
}

impl Verifier {
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
            let mut d: Vec<u64> = self.filter.dbs.iter().map(|&d| self.filter.dest_db(d)).collect();
            d.sort();
            d.dedup();
            d
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
                        // a renamed key's glob was about its name in the dump, which the
                        // target's name no longer tells: then every name is looked at
                        .filter(|k| {
                            ours(k)
                                && (self.filter.rename.names() || self.filter.key(k))
                                && !set.contains(db, k)
                        })
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
