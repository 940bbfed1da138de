//! What `rdbshift memory` adds up, in bounded memory: totals per db, type and encoding,
//! size and expiry histograms, the biggest keys, and a prefix tree whose size is held under
//! a byte budget (the smallest prefixes are dropped when it would pass it; what they held
//! stays in their parents and shows as "(other)").

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use super::model::{Cost, Encoding};
use super::sizes;
use super::target::{Family, Target};
use crate::format::types::Kind;

/// Keys, elements and bytes of a group of keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum {
    pub keys: u64,
    pub elements: u64,
    /// Σ `MEMORY USAGE`.
    pub reported: u64,
    /// Σ allocated.
    pub allocated: u64,
}

impl Sum {
    fn add(&mut self, c: &Cost) {
        self.keys += 1;
        self.elements += c.elements;
        self.reported += c.reported;
        self.allocated += c.allocated;
    }
}

/// Upper bounds of the size histogram's buckets (the last bucket is open).
pub const SIZE_BUCKETS: [u64; 12] = [
    64,
    128,
    256,
    512,
    1 << 10,
    4 << 10,
    16 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
    16 << 20,
    256 << 20,
];

/// The expiry histogram's buckets.
pub const EXPIRY_BUCKETS: [&str; 6] = ["expired", "< 1 h", "< 1 d", "< 7 d", "later", "never"];

/// One of the biggest keys.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Big {
    pub reported: u64,
    pub db: u64,
    pub key: Vec<u8>,
    pub kind: Kind,
    pub encoding: Encoding,
    pub elements: u64,
}

/// How key names are cut into prefixes.
#[derive(Clone, Debug)]
pub struct Prefixes {
    /// Bytes that end a namespace (default `:`).
    pub separators: Vec<u8>,
    /// Levels of the tree.
    pub depth: usize,
    /// A segment that looks like an id (digits; hex or a UUID, 8+ characters with a digit)
    /// stands as `*`, so that
    /// `user:1:cart` and `user:2:cart` meet under `user:*:`.
    pub collapse_ids: bool,
}

impl Default for Prefixes {
    fn default() -> Self {
        Prefixes { separators: b":".to_vec(), depth: 3, collapse_ids: true }
    }
}

impl Prefixes {
    /// The prefixes of `key`, shortest first, each ending with its separator.
    pub fn of(&self, key: &[u8], out: &mut Vec<Vec<u8>>) {
        out.clear();
        let mut cur: Vec<u8> = Vec::new();
        let mut seg_start = 0;
        for (i, &b) in key.iter().enumerate() {
            if out.len() >= self.depth {
                break;
            }
            if self.separators.contains(&b) {
                let seg = &key[seg_start..i];
                if self.collapse_ids && looks_like_id(seg) {
                    cur.push(b'*');
                } else {
                    cur.extend_from_slice(seg);
                }
                cur.push(b);
                out.push(cur.clone());
                seg_start = i + 1;
            }
        }
    }
}

fn looks_like_id(seg: &[u8]) -> bool {
    if seg.is_empty() {
        return false;
    }
    if seg.iter().all(u8::is_ascii_digit) {
        return true;
    }
    let hexish = seg.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-');
    hexish && seg.len() >= 8 && seg.iter().any(u8::is_ascii_digit)
}

/// Bytes one prefix entry is charged against the budget besides its name (the map's
/// slot, the name's allocation, the sums).
const ENTRY_OVERHEAD: usize = 160;

/// The aggregation of a run.
pub struct Tally {
    pub total: Sum,
    /// Keys the server drops on load (already expired): counted here only.
    pub expired: Sum,
    /// Keys priced at their serialized size (modules, unknown types): a floor.
    pub floors: u64,
    pub by_db: BTreeMap<u64, Sum>,
    pub by_encoding: BTreeMap<(Kind, Encoding), Sum>,
    pub sizes: BTreeMap<Kind, [Sum; SIZE_BUCKETS.len() + 1]>,
    pub expiry: [Sum; EXPIRY_BUCKETS.len()],
    top: BinaryHeap<Reverse<Big>>,
    top_n: usize,
    prefixes: HashMap<Vec<u8>, Sum>,
    /// Keys with no prefix at all.
    pub unprefixed: Sum,
    prefix_bytes: usize,
    budget: usize,
    /// How much any kept prefix's figures may be short (the largest drop of each prune,
    /// added up).
    pub prefix_error: u64,
    /// Prefixes dropped to stay within the budget.
    pub prefixes_dropped: u64,
    cut: Prefixes,
    scratch: Vec<Vec<u8>>,
    now_ms: i64,
}

impl Tally {
    pub fn new(top_n: usize, cut: Prefixes, budget: usize, now_ms: i64) -> Tally {
        Tally {
            total: Sum::default(),
            expired: Sum::default(),
            floors: 0,
            by_db: BTreeMap::new(),
            by_encoding: BTreeMap::new(),
            sizes: BTreeMap::new(),
            expiry: Default::default(),
            top: BinaryHeap::new(),
            top_n,
            prefixes: HashMap::new(),
            unprefixed: Sum::default(),
            prefix_bytes: 0,
            budget: budget.max(1 << 20),
            prefix_error: 0,
            prefixes_dropped: 0,
            cut,
            scratch: Vec::new(),
            now_ms,
        }
    }

    /// A key the server drops on load (its TTL has passed).
    pub fn expired(&mut self, c: &Cost) {
        self.expired.add(c);
        self.expiry[0].add(c);
    }

    /// A key the server keeps.
    pub fn add(&mut self, db: u64, key: &[u8], expire_ms: Option<i64>, c: &Cost) {
        self.total.add(c);
        self.floors += u64::from(c.encoding == Encoding::Floor);
        self.by_db.entry(db).or_default().add(c);
        self.by_encoding.entry((c.kind, c.encoding)).or_default().add(c);
        let b = SIZE_BUCKETS.iter().position(|&u| c.reported <= u).unwrap_or(SIZE_BUCKETS.len());
        self.sizes.entry(c.kind).or_default()[b].add(c);
        let e = match expire_ms {
            None => 5,
            Some(at) => {
                let left = at.saturating_sub(self.now_ms);
                match left {
                    ..0 => 0,
                    0..3_600_000 => 1,
                    3_600_000..86_400_000 => 2,
                    86_400_000..604_800_000 => 3,
                    _ => 4,
                }
            }
        };
        self.expiry[e].add(c);
        if self.top_n > 0
            && (self.top.len() < self.top_n
                || self.top.peek().is_some_and(|Reverse(m)| m.reported < c.reported))
        {
            self.top.push(Reverse(Big {
                reported: c.reported,
                db,
                key: key.to_vec(),
                kind: c.kind,
                encoding: c.encoding,
                elements: c.elements,
            }));
            if self.top.len() > self.top_n {
                self.top.pop();
            }
        }
        let mut pre = std::mem::take(&mut self.scratch);
        self.cut.of(key, &mut pre);
        if pre.is_empty() {
            self.unprefixed.add(c);
        }
        for p in &pre {
            match self.prefixes.get_mut(p.as_slice()) {
                Some(s) => s.add(c),
                None => {
                    let mut s = Sum::default();
                    s.add(c);
                    self.prefix_bytes += p.len() + ENTRY_OVERHEAD;
                    self.prefixes.insert(p.clone(), s);
                }
            }
        }
        self.scratch = pre;
        if self.prefix_bytes > self.budget {
            self.prune();
        }
    }

    /// Drops the smaller half of the prefixes (by bytes): those below the median, then as
    /// many at it as make half. A dropped prefix may come back and be dropped again, so
    /// [`Tally::prefix_error`] adds up the largest drop of each round: no kept prefix is
    /// short by more.
    fn prune(&mut self) {
        let mut sizes: Vec<u64> = self.prefixes.values().map(|s| s.reported).collect();
        let half = sizes.len() / 2;
        let (_, &mut cut, _) = sizes.select_nth_unstable(half);
        let below = sizes.iter().filter(|&&x| x < cut).count();
        let mut at_cut = half.saturating_sub(below);
        let before = self.prefixes.len();
        let mut dropped_max = 0;
        let mut freed = 0;
        self.prefixes.retain(|k, s| {
            let drop = s.reported < cut
                || (s.reported == cut && at_cut > 0 && {
                    at_cut -= 1;
                    true
                });
            if drop {
                dropped_max = dropped_max.max(s.reported);
                freed += k.len() + ENTRY_OVERHEAD;
            }
            !drop
        });
        self.prefixes.shrink_to_fit();
        self.prefix_bytes -= freed;
        self.prefixes_dropped += (before - self.prefixes.len()) as u64;
        self.prefix_error += dropped_max;
    }

    /// The biggest keys, biggest first.
    pub fn top(&self) -> Vec<Big> {
        let mut v: Vec<Big> = self.top.iter().map(|Reverse(b)| b.clone()).collect();
        v.sort_by(|a, b| b.reported.cmp(&a.reported).then(a.key.cmp(&b.key)));
        v
    }

    /// The prefixes kept, sorted by name.
    pub fn prefixes(&self) -> Vec<(&[u8], Sum)> {
        let mut v: Vec<(&[u8], Sum)> =
            self.prefixes.iter().map(|(k, s)| (k.as_slice(), *s)).collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// How a prefix's depth is counted: its separators.
    pub fn depth_of(&self, p: &[u8]) -> usize {
        p.iter().filter(|b| self.cut.separators.contains(b)).count()
    }

    pub fn separators(&self) -> &[u8] {
        &self.cut.separators
    }
}

/// What loading the keys costs besides the keys themselves: the keyspace's and the expires'
/// tables (their buckets, and entries where the key is not in one), for `keys` keys of
/// which `volatile` have a TTL, in one db.
pub fn keyspace_overhead(t: &Target, keys: u64, volatile: u64) -> u64 {
    let table = |n: u64, entry: f64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        if t.family.hashtable() {
            sizes::valkey_bucket_bytes(n)
        } else {
            let b = sizes::dict_buckets(n);
            8.0 * b as f64 + entry
        }
    };
    let (main, exp) = match t.family {
        // the main dict's entries are counted by MEMORY USAGE; the expires dict has its own
        Family::R50 | Family::R60 | Family::R62 | Family::R70 | Family::R72 | Family::V80 => {
            (table(keys, 0.0), table(volatile, (t.a(24) as u64 * volatile) as f64))
        }
        // no-value dicts of objects: an entry only for a chained object
        Family::R86 => {
            let chained = |n: u64| 16.0 * sizes::chained(n, sizes::dict_buckets(n));
            (table(keys, chained(keys)), table(volatile, chained(volatile)))
        }
        _ => (table(keys, 0.0), table(volatile, 0.0)),
    };
    (main + exp).round() as u64
}
