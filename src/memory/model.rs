//! The estimate for one key: a visitor gathers, in one pass over the value, what each
//! encoding the target could choose would cost ([`Shape`]); [`Shape::finish`] picks the
//! encoding the target loads the value into and prices it.
//!
//! Two numbers come out per key: what `MEMORY USAGE key SAMPLES 0` reports (`reported`:
//! some servers leave out or round differently some allocations), and what the allocator
//! really hands out for it (`allocated`), which is what `used_memory` grows by. Both are
//! kept side by side as `[reported, allocated]` ([`R`], [`M`]).
//!
//! The account for each family is `docs/memory-model/notes.md`, sections 1 and 8.

use crate::format::stream::{Group, StreamMeta};
use crate::format::types::{self, Kind};
use crate::format::visit::{Container, ModuleValue, Visitor};
use crate::format::{Dialect, Str};
use crate::format::{Error, Key, Scratch};

use super::rax;
use super::sizes::{self, LP_OVERHEAD, ZL_OVERHEAD};
use super::target::{Family, Target};

/// Index of the reported figure.
pub const R: usize = 0;
/// Index of the allocated figure.
pub const M: usize = 1;

/// The encoding a value gets on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Encoding {
    Int,
    Embstr,
    Raw,
    Listpack,
    ListpackEx,
    Ziplist,
    Quicklist,
    Intset,
    Hashtable,
    Skiplist,
    Stream,
    /// A module value, an array or a type the model does not know: priced at its
    /// serialized size, a floor.
    Floor,
}

impl Encoding {
    /// The name `OBJECT ENCODING` gives.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Int => "int",
            Encoding::Embstr => "embstr",
            Encoding::Raw => "raw",
            Encoding::Listpack => "listpack",
            Encoding::ListpackEx => "listpackex",
            Encoding::Ziplist => "ziplist",
            Encoding::Quicklist => "quicklist",
            Encoding::Intset => "intset",
            Encoding::Hashtable => "hashtable",
            Encoding::Skiplist => "skiplist",
            Encoding::Stream => "stream",
            Encoding::Floor => "serialized",
        }
    }
}

/// One key's estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cost {
    pub kind: Kind,
    pub encoding: Encoding,
    /// Elements (list items, members, fields, stream entries; 1 for a string).
    pub elements: u64,
    /// `MEMORY USAGE key SAMPLES 0`.
    pub reported: u64,
    /// What the key's allocations take (its part of `used_memory`).
    pub allocated: u64,
}

/// How a list's nodes come out on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nodes {
    /// As stored.
    Stored,
    /// As stored, each rebuilt as a listpack (ziplist nodes on 7.0+).
    AsListpacks,
    /// As stored, each rebuilt as a ziplist (listpack nodes on an older target).
    AsZiplists,
    /// Elements pushed one by one into nodes of the target's size.
    Refill,
}

/// The pass over one value.
pub struct Shape<'t> {
    t: &'t Target,
    ty: u8,
    fam: Family,
    new_sds: bool,
    /// Elements seen.
    n: u64,
    /// Longest element (member, field or value) in bytes.
    max_len: usize,
    /// Every set member is an integer; the widest intset width.
    all_int: bool,
    int_width: usize,
    string: Option<(usize, bool)>,
    /// Σ listpack / ziplist entry sizes, as the target would build the small encoding.
    lp: usize,
    zl: usize,
    zl_prev: usize,
    /// Σ listpack entries with field TTLs (field, value, TTL).
    lp_ex: usize,
    ttl_fields: u64,
    /// Σ per-element cost in the big encoding (hashtable, skiplist).
    big: [f64; 2],
    /// The stored blob (intset, ziplist, zipmap, listpack value).
    blob: Option<(Container, usize)>,
    // lists
    nodes_mode: Nodes,
    node_open: bool,
    node_stored: usize,
    node_plain: bool,
    node_lp: usize,
    node_zl: usize,
    node_zl_prev: usize,
    /// Entries of the open node.
    node_items: u64,
    nodes: u64,
    node_cost: [usize; 2],
    /// The first node's bytes used and allocated.
    first_node: (usize, usize),
    first_node_plain: bool,
    // streams
    masters: Vec<[u8; 16]>,
    lps: [usize; 2],
    groups: [usize; 2],
    group_names: Vec<Vec<u8>>,
    all_pel: Vec<[u8; 16]>,
    module_bytes: usize,
    /// A string that is an integer from 0 to 9999 (a shared object on classic servers).
    small_int: bool,
    /// The dump's writer formats scores as the shortest text that reads back (Redis 7.2+,
    /// RDB 11+, and Valkey); older ones use `%.17g`.
    writer_shortest: bool,
}

impl<'t> Shape<'t> {
    /// A string value of `len` bytes that is not an integer's text.
    fn long_string(&mut self, len: usize) {
        self.n = 1;
        self.small_int = false;
        self.string = Some((len, false));
    }

    pub fn new(t: &'t Target, k: &Key) -> Shape<'t> {
        let ty = k.ty();
        let fam = t.family;
        let nodes_mode = match ty {
            types::LIST_QUICKLIST_2 if fam.listpacks() => Nodes::Stored,
            types::LIST_QUICKLIST_2 => Nodes::AsZiplists,
            types::LIST_QUICKLIST if fam.listpacks() => Nodes::AsListpacks,
            types::LIST_QUICKLIST => Nodes::Stored,
            _ => Nodes::Refill,
        };
        Shape {
            t,
            ty,
            fam,
            new_sds: t.facts().new_sds,
            n: 0,
            max_len: 0,
            all_int: true,
            int_width: 2,
            string: None,
            lp: 0,
            zl: 0,
            zl_prev: 0,
            lp_ex: 0,
            ttl_fields: 0,
            big: [0.0; 2],
            blob: None,
            nodes_mode,
            node_open: false,
            node_stored: 0,
            node_plain: false,
            node_lp: 0,
            node_zl: 0,
            node_zl_prev: 0,
            node_items: 0,
            nodes: 0,
            node_cost: [0; 2],
            first_node: (0, 0),
            first_node_plain: false,
            masters: Vec::new(),
            lps: [0; 2],
            groups: [0; 2],
            group_names: Vec::new(),
            all_pel: Vec::new(),
            // a value the model does not price (arrays, unknown types): its serialized
            // size, unless a module value says otherwise
            module_bytes: k.end() - k.value_at(),
            small_int: false,
            writer_shortest: k.header().version >= 11
                || k.header().dialect == crate::format::Dialect::Valkey,
        }
    }

    fn a(&self, n: usize) -> usize {
        self.t.a(n)
    }

    /// A heap sds of `len` bytes made with `sdsnewlen`: [reported, allocated].
    fn sds(&self, len: usize) -> [usize; 2] {
        let req = sizes::sds_req(len, self.new_sds);
        let real = self.a(req);
        let reported = match self.fam {
            // 5.0 counts the request (`sdsAllocSize` with alloc = len)
            Family::R50 => req,
            // 8.6's `sdsAllocSize` of a type-5 sds (no alloc field) is its request
            Family::R86 if len < 32 => req,
            _ => real,
        };
        [reported, real]
    }

    /// A blob (listpack, ziplist, intset) of `bytes`: counted by its bytes on 5.0 to 6.2
    /// (ziplists and intsets) and 8.6, by its allocation elsewhere.
    fn blob_cost(&self, bytes: usize) -> [usize; 2] {
        self.sized_blob(bytes, bytes)
    }

    fn element(&mut self, b: &[u8], int: Option<i64>) {
        self.max_len = self.max_len.max(b.len());
        self.lp += sizes::lp_entry(b.len(), int);
        let z = sizes::zl_entry(b.len(), int, self.zl_prev);
        self.zl += z;
        self.zl_prev = z;
    }

    fn add_big(&mut self, c: [f64; 2]) {
        self.big[R] += c[R];
        self.big[M] += c[M];
    }

    // ---- lists ----

    fn close_node(&mut self) {
        if !self.node_open {
            return;
        }
        self.node_open = false;
        let bytes = if self.node_plain {
            self.node_stored
        } else {
            match self.nodes_mode {
                Nodes::Stored => self.node_stored,
                Nodes::AsListpacks => self.node_lp + LP_OVERHEAD,
                Nodes::AsZiplists => self.node_zl + ZL_OVERHEAD,
                Nodes::Refill if self.fam.listpacks() => self.node_lp + LP_OVERHEAD,
                Nodes::Refill => self.node_zl + ZL_OVERHEAD,
            }
        };
        // on Valkey a ziplist node becomes a listpack in a buffer of the ziplist's size, not
        // shrunk (measured: Redis 6.2 lists loaded into Valkey 8.1; Redis 7.4 shrinks them)
        let alloc = match self.nodes_mode {
            Nodes::AsListpacks if !self.node_plain && self.t.server.dialect == Dialect::Valkey => {
                self.node_stored.max(bytes)
            }
            _ => bytes,
        };
        if self.nodes == 0 {
            self.first_node = (bytes, alloc);
            self.first_node_plain = self.node_plain;
        }
        self.nodes += 1;
        let f = self.t.facts();
        let blob = self.sized_blob(bytes, alloc);
        let node = match self.fam {
            // quicklistNode counted as its struct size
            Family::R86 => [self.a(f.quicklist_node), self.a(f.quicklist_node)],
            _ => [f.quicklist_node, self.a(f.quicklist_node)],
        };
        self.node_cost[R] += node[R] + blob[R];
        self.node_cost[M] += node[M] + blob[M];
    }

    /// A blob of `used` bytes in an allocation made for `alloc` bytes: counted by its used
    /// bytes where [`Shape::blob_cost`] says so, by the allocation elsewhere.
    fn sized_blob(&self, used: usize, alloc: usize) -> [usize; 2] {
        let real = self.a(alloc);
        match self.fam {
            Family::R50 | Family::R60 | Family::R62 | Family::R86 => [used, real],
            _ => [real, real],
        }
    }

    fn list_item(&mut self, b: &[u8], int: Option<i64>) {
        if self.nodes_mode == Nodes::Refill {
            let e = if self.fam.listpacks() {
                sizes::lp_entry(b.len(), int)
            } else {
                sizes::zl_entry(b.len(), int, self.node_zl_prev)
            };
            let cur = if self.fam.listpacks() {
                self.node_lp + LP_OVERHEAD
            } else {
                self.node_zl + ZL_OVERHEAD
            };
            let full = self.t.limits.list_node_items.is_some_and(|n| self.node_items >= n);
            if self.node_open && (full || cur + e > self.t.limits.list_node_bytes as usize) {
                self.close_node();
            }
            if !self.node_open {
                self.open_node(0, false);
            }
        }
        self.node_items += 1;
        self.node_lp += sizes::lp_entry(b.len(), int);
        let z = sizes::zl_entry(b.len(), int, self.node_zl_prev);
        self.node_zl += z;
        self.node_zl_prev = z;
    }

    fn open_node(&mut self, stored: usize, plain: bool) {
        self.close_node();
        self.node_open = true;
        self.node_stored = stored;
        self.node_plain = plain;
        self.node_lp = 0;
        self.node_zl = 0;
        self.node_zl_prev = 0;
        self.node_items = 0;
    }

    // ---- per-element costs in the big encodings ----

    /// A hashtable set member.
    fn set_member_big(&self, len: usize) -> [f64; 2] {
        let s = self.sds(len);
        let entry = match self.fam {
            // dictEntry counted (24) on every Redis dict family
            Family::R50 | Family::R60 | Family::R62 | Family::R70 => [24, self.a(24)],
            // 7.2+ and 8.6 count 24, but the no-value set dict allocates entries only for
            // chained members (added in `finish`)
            Family::R72 | Family::R86 => [24, 0],
            _ => [0, 0],
        };
        [(s[R] + entry[R]) as f64, (s[M] + entry[M]) as f64]
    }

    /// A skiplist member (sds and node; the dict entry is added in `finish`).
    fn zset_member_big(&self, len: usize) -> [f64; 2] {
        let t = self.t;
        match self.fam {
            Family::R86 => {
                // the member sds inside the node (`zslCreateNode`)
                let n = sizes::expected_node(t, 16 + sizes::sds_req(len, true));
                [n, n]
            }
            Family::V91 => {
                let n = sizes::expected_node(t, 16 + 1 + sizes::sds_req(len, true));
                [n, n]
            }
            _ => {
                let s = self.sds(len);
                let node = sizes::expected_node(t, 24);
                let entry = if self.fam.hashtable() { [0.0, 0.0] } else { [24.0, 24.0] };
                [s[R] as f64 + node + entry[R], s[M] as f64 + node + entry[M]]
            }
        }
    }

    /// A hashtable hash field and value.
    fn hash_pair_big(&self, flen: usize, vlen: usize) -> [f64; 2] {
        match self.fam {
            Family::R86 | Family::V81 | Family::V91 => {
                // one allocation when field and value fit 128 bytes together (`entry.c`)
                let fs = sizes::sds_req(flen, true);
                let vs = sizes::sds8_req(vlen, true);
                let e = if fs + vs <= 128 {
                    let real = self.a(fs + vs);
                    [if self.fam == Family::R86 { fs + vs } else { real }, real]
                } else {
                    let f8 = sizes::sds8_req(flen, true);
                    let v = self.sds(vlen);
                    if self.fam == Family::R86 {
                        [f8 + 8 + v[R], self.a(f8 + 8) + v[M]]
                    } else {
                        let head = self.a(8 + f8);
                        [head + v[R], head + v[M]]
                    }
                };
                // 8.6 counts a 24-byte dict entry per field; its dict stores the entries
                // themselves (no value): the chained ones are added in `hash_value`
                let entry = if self.fam == Family::R86 { 24 } else { 0 };
                [(e[R] + entry) as f64, e[M] as f64]
            }
            _ => {
                let (f, v) = (self.sds(flen), self.sds(vlen));
                [(24 + f[R] + v[R]) as f64, (self.a(24) + f[M] + v[M]) as f64]
            }
        }
    }
}

/// Bytes of a `Str`, through a scratch buffer for integers.
fn bytes_of<'s>(s: &'s Str<'_>, tmp: &'s mut itoa::Buffer) -> (&'s [u8], Option<i64>) {
    match *s {
        Str::Int(i) => (tmp.format(i).as_bytes(), Some(i)),
        Str::Bytes(b) => (b, sizes::as_int(b)),
    }
}

impl Visitor for Shape<'_> {
    type Error = Error;

    fn container(&mut self, kind: Container, bytes: usize) -> Result<(), Error> {
        match kind {
            Container::StreamNode(master) => {
                self.masters.push(master);
                let c = if matches!(self.fam, Family::R50 | Family::R60 | Family::R86) {
                    [bytes, self.a(bytes)]
                } else {
                    let a = self.a(bytes);
                    [a, a]
                };
                self.lps[R] += c[R];
                self.lps[M] += c[M];
            }
            Container::PlainNode => self.open_node(bytes, true),
            _ if self.ty == types::LIST_QUICKLIST || self.ty == types::LIST_QUICKLIST_2 => {
                self.open_node(bytes, false)
            }
            _ => self.blob = Some((kind, bytes)),
        }
        Ok(())
    }

    fn string(&mut self, v: Str<'_>) -> Result<(), Error> {
        let mut tmp = itoa::Buffer::new();
        let (b, int) = bytes_of(&v, &mut tmp);
        self.n = 1;
        self.small_int = int.is_some_and(|i| (0..10_000).contains(&i));
        self.string = Some((b.len(), int.is_some()));
        Ok(())
    }

    fn list_item(&mut self, v: Str<'_>) -> Result<(), Error> {
        let mut tmp = itoa::Buffer::new();
        let (b, int) = bytes_of(&v, &mut tmp);
        self.n += 1;
        self.max_len = self.max_len.max(b.len());
        self.list_item(b, int);
        Ok(())
    }

    fn set_member(&mut self, v: Str<'_>) -> Result<(), Error> {
        let mut tmp = itoa::Buffer::new();
        let (b, int) = bytes_of(&v, &mut tmp);
        self.n += 1;
        match int {
            Some(i) => self.int_width = self.int_width.max(sizes::intset_width(i)),
            None => self.all_int = false,
        }
        self.element(b, int);
        let c = self.set_member_big(b.len());
        self.add_big(c);
        Ok(())
    }

    fn zset_member(&mut self, m: Str<'_>, score: f64) -> Result<(), Error> {
        let mut tmp = itoa::Buffer::new();
        let (b, int) = bytes_of(&m, &mut tmp);
        self.n += 1;
        self.element(b, int);
        // the score as it is written into a listpack or ziplist: by the dump's writer when
        // the stored blob is kept or converted entry by entry, else by the target
        let shortest =
            if self.blob.is_some() { self.writer_shortest } else { self.fam >= Family::R72 };
        let (slen, sint) = sizes::score_text(score, shortest);
        self.lp += sizes::lp_entry(slen, sint);
        let z = sizes::zl_entry(slen, sint, self.zl_prev);
        self.zl += z;
        self.zl_prev = z;
        let c = self.zset_member_big(b.len());
        self.add_big(c);
        Ok(())
    }

    fn hash_field(&mut self, f: Str<'_>, v: Str<'_>, ttl: Option<i64>) -> Result<(), Error> {
        let (mut t1, mut t2) = (itoa::Buffer::new(), itoa::Buffer::new());
        let (fb, fi) = bytes_of(&f, &mut t1);
        let (vb, vi) = bytes_of(&v, &mut t2);
        self.n += 1;
        self.element(fb, fi);
        self.element(vb, vi);
        self.lp_ex += sizes::lp_entry(fb.len(), fi) + sizes::lp_entry(vb.len(), vi);
        self.lp_ex += match ttl {
            Some(ms) => sizes::lp_entry(0, Some(ms)),
            // a field without a TTL carries 0 in a listpack-ex
            None => 1 + 1,
        };
        self.ttl_fields += u64::from(ttl.is_some());
        let c = self.hash_pair_big(fb.len(), vb.len());
        self.add_big(c);
        Ok(())
    }

    fn stream_entry(&mut self, _e: &crate::format::stream::StreamEntry<'_>) -> Result<(), Error> {
        self.n += 1;
        Ok(())
    }

    fn stream_meta(&mut self, _m: &StreamMeta) -> Result<(), Error> {
        Ok(())
    }

    fn stream_group(&mut self, g: &Group<'_>) -> Result<(), Error> {
        let mut pel: Vec<[u8; 16]> = Vec::with_capacity(g.pel_len().min(1 << 20) as usize);
        for p in g.pel() {
            pel.push(p?.id.to_be());
        }
        pel.sort_unstable();
        let t = self.t;
        let f = t.facts();
        let pel_len = pel.len();
        let mut c = [0usize; 2];
        let mut add = |x: [usize; 2]| {
            c[R] += x[R];
            c[M] += x[M];
        };
        match self.fam {
            Family::R86 => {
                add(same(t.a(f.stream_cg)));
                add(same(rax_alloc(t, &pel)));
                add(same(t.a(f.stream_nack) * pel_len));
                let mut names: Vec<Vec<u8>> = Vec::new();
                for cons in g.consumers() {
                    let cons = cons?;
                    let mut cp: Vec<[u8; 16]> = cons.pending().map(|i| i.to_be()).collect();
                    cp.sort_unstable();
                    add(same(t.a(f.stream_consumer)));
                    add(self.sds(cons.name.len()));
                    add(same(rax_alloc(t, &cp)));
                    names.push(cons.name);
                }
                names.sort();
                names.dedup();
                let nk: Vec<&[u8]> = names.iter().map(|n| n.as_slice()).collect();
                add(same(rax_alloc_keys(t, &nk)));
                self.all_pel.extend_from_slice(&pel);
                self.group_names.push(g.name.clone());
            }
            Family::V81 | Family::V91 => {
                add(same(f.stream_cg + rax_alloc(t, &pel) + f.stream_nack * pel_len));
                for cons in g.consumers() {
                    let cons = cons?;
                    let mut cp: Vec<[u8; 16]> = cons.pending().map(|i| i.to_be()).collect();
                    cp.sort_unstable();
                    add(same(f.stream_consumer + cons.name.len() + rax_alloc(t, &cp)));
                }
            }
            _ => {
                add(same(f.stream_cg + radix_old(&pel) + f.stream_nack * pel_len));
                for cons in g.consumers() {
                    let cons = cons?;
                    let mut cp: Vec<[u8; 16]> = cons.pending().map(|i| i.to_be()).collect();
                    cp.sort_unstable();
                    add(same(f.stream_consumer + cons.name.len() + radix_old(&cp)));
                }
            }
        }
        self.groups[R] += c[R];
        self.groups[M] += c[M];
        Ok(())
    }

    fn module(&mut self, m: &ModuleValue<'_>) -> Result<(), Error> {
        self.module_bytes = m.body.len();
        Ok(())
    }
}

fn same(x: usize) -> [usize; 2] {
    [x, x]
}

/// The old `streamRadixTreeMemoryUsage` (Redis ≤ 8.0, Valkey 8.0): 16 per element and 244
/// per node (its struct line is overwritten, so not counted).
fn radix_old(ids: &[[u8; 16]]) -> usize {
    let keys: Vec<&[u8]> = ids.iter().map(|k| k.as_slice()).collect();
    16 * ids.len() + 244 * rax::count(&keys) as usize
}

/// An exactly tracked rax (Valkey 8.1+, Redis 8.6): the struct and every node allocated.
fn rax_alloc(t: &Target, ids: &[[u8; 16]]) -> usize {
    let keys: Vec<&[u8]> = ids.iter().map(|k| k.as_slice()).collect();
    rax_alloc_keys(t, &keys)
}

fn rax_alloc_keys(t: &Target, keys: &[&[u8]]) -> usize {
    let mut n = t.a(32);
    rax::nodes(keys, true, &mut |len| n += t.a(len));
    n
}

impl Shape<'_> {
    /// The value's encoding and cost on the target, for a key whose name is `key_len`
    /// bytes (`expires`: it has a TTL).
    pub fn finish(mut self, key_len: usize, expires: bool) -> Cost {
        self.close_node();
        let kind = types::kind(self.ty);
        let elements = if kind == Kind::String { 1 } else { self.n };
        let (encoding, total) =
            if self.fam.key_in_object() {
                let pre = if expires || key_len >= 128 { 8 } else { 0 };
                match self.string.filter(|_| kind == Kind::String).and_then(|(len, int)| {
                    (!int).then(|| self.embedded(key_len, len, pre)).flatten()
                }) {
                    Some(whole) => (Encoding::Embstr, [whole as f64; 2]),
                    None => {
                        let obj = self.a(pre + 16 + 1 + sizes::sds_req(key_len, true)) as f64;
                        let (e, v) = self.value(kind);
                        (e, [obj + v[R], obj + v[M]])
                    }
                }
            } else {
                let key = self.key_part(key_len);
                let (e, v) = self.value(kind);
                let obj = self.classic_object(kind, e);
                (e, [key[R] + obj[R] + v[R], key[M] + obj[M] + v[M]])
            };
        Cost {
            kind,
            encoding,
            elements,
            reported: total[R].round() as u64,
            allocated: total[M].round() as u64,
        }
    }

    /// The key's sds and its dict entry (Redis ≤ 8.0), or the dict entry the key is
    /// embedded in (Valkey 8.0).
    fn key_part(&self, kl: usize) -> [f64; 2] {
        let t = self.t;
        match self.fam {
            Family::R50 => {
                let req = sizes::sds_req(kl, false);
                [(req + 24) as f64, (t.a(req) + t.a(24)) as f64]
            }
            Family::V80 => [t.a(17 + sizes::sds_req(kl, true)) as f64; 2],
            _ => {
                let s = t.a(sizes::sds_req(kl, false));
                [(s + 24) as f64, (s + t.a(24)) as f64]
            }
        }
    }

    /// The value's object where it is apart from the key: counted as 16; allocated unless
    /// it is a shared integer (0 to 9999) or the string is embedded in it (priced with the
    /// value). A module value's object is not counted.
    fn classic_object(&self, kind: Kind, e: Encoding) -> [f64; 2] {
        match (kind, e) {
            (_, Encoding::Floor) => [0.0, self.a(16) as f64],
            (_, Encoding::Embstr) => [0.0, 0.0],
            (Kind::String, Encoding::Int) if self.small_int => [16.0, 0.0],
            _ => [16.0, self.a(16) as f64],
        }
    }

    /// On the families that keep the key in the object, the whole allocation of an object
    /// with the key and an embedded string of `len` bytes, if it is embedded.
    fn embedded(&self, kl: usize, len: usize, pre: usize) -> Option<usize> {
        let key = sizes::sds_req(kl, true);
        match self.fam {
            // `kvobjSet`/`createObjectWithKeyAndExpire`: an EMBSTR value (≤ 44 bytes) whose
            // object, key and sdshdr8 value fit a 64-byte cache line (the key counted as
            // keylen + 3 whatever its header, the expire slot left out of the test though
            // it is allocated: measured on Valkey 8.1 with TTLs)
            Family::R86 | Family::V81 => (len <= 44 && 16 + (kl + 3) + 4 + len <= 64)
                .then(|| self.a(pre + 16 + 1 + key + 3 + len + 1)),
            // Valkey 9: embedded when everything fits 128 bytes (`shouldEmbedStringObject`),
            // without the value pointer
            Family::V91 => {
                let v = (len + 4).max(8);
                (8 + v <= 128 && 8 + pre + 1 + key + v <= 128)
                    .then(|| self.a(8 + pre + 1 + key + v))
            }
            _ => None,
        }
    }

    /// The encoding and the value's own cost (without its object).
    fn value(&mut self, kind: Kind) -> (Encoding, [f64; 2]) {
        match kind {
            Kind::String => self.string_value(),
            Kind::List => self.list_value(),
            Kind::Set => self.set_value(),
            Kind::Zset => self.zset_value(),
            Kind::Hash => self.hash_value(),
            Kind::Stream => {
                let c = self.stream_value();
                (Encoding::Stream, [c[R] as f64, c[M] as f64])
            }
            _ => {
                let b = self.module_bytes.max(1) as f64;
                (Encoding::Floor, [b, b])
            }
        }
    }

    fn string_value(&mut self) -> (Encoding, [f64; 2]) {
        let (len, int) = self.string.unwrap_or((0, false));
        let t = self.t;
        if int {
            // the value lives in the object's pointer
            return (Encoding::Int, [0.0, 0.0]);
        }
        match self.fam {
            // one allocation with the object: counted as 16 + len + 2 up to 6.2
            Family::R50 | Family::R60 | Family::R62 if len <= 44 => {
                (Encoding::Embstr, [(16 + len + 2) as f64, t.a(20 + len) as f64])
            }
            Family::R70 | Family::R72 | Family::V80 if len <= 44 => {
                (Encoding::Embstr, [t.a(20 + len) as f64; 2])
            }
            _ => {
                let s = self.sds(len);
                (Encoding::Raw, [s[R] as f64, s[M] as f64])
            }
        }
    }

    fn list_value(&mut self) -> (Encoding, [f64; 2]) {
        let t = self.t;
        let f = t.facts();
        if self.fam.small_lists_and_sets()
            && self.nodes == 1
            && !self.first_node_plain
            && self.first_node.0 as u64 <= t.limits.list_node_bytes
        {
            let c = self.sized_blob(self.first_node.0, self.first_node.1);
            return (Encoding::Listpack, [c[R] as f64, c[M] as f64]);
        }
        let head = match self.fam {
            Family::R86 => [t.a(f.quicklist); 2],
            _ => [f.quicklist, t.a(f.quicklist)],
        };
        (
            Encoding::Quicklist,
            [(head[R] + self.node_cost[R]) as f64, (head[M] + self.node_cost[M]) as f64],
        )
    }

    /// A small encoding's blob cost: kept as stored when the stored blob is what the target
    /// uses, else rebuilt from the elements (`lp` or `zl` entries).
    fn small_blob(&self, stored_kind: Container, rebuilt: usize) -> [usize; 2] {
        match self.blob {
            Some((k, bytes)) if k == stored_kind => self.blob_cost(bytes),
            _ => self.blob_cost(rebuilt),
        }
    }

    fn set_value(&mut self) -> (Encoding, [f64; 2]) {
        let t = self.t;
        let l = t.limits;
        let n = self.n;
        let stored = self.blob.map(|b| b.0);
        let intset_bytes = 8 + self.int_width * n as usize;
        let lp_bytes = self.lp + LP_OVERHEAD;
        let enc =
            match stored {
                Some(Container::Intset) if n <= l.set_intset_entries => Encoding::Intset,
                Some(Container::Listpack) if self.fam.small_lists_and_sets() => {
                    if n <= l.set_entries { Encoding::Listpack } else { Encoding::Hashtable }
                }
                _ if self.all_int && n <= l.set_intset_entries => Encoding::Intset,
                _ if self.fam.small_lists_and_sets()
                    && n <= l.set_entries
                    && self.max_len as u64 <= l.set_value =>
                {
                    Encoding::Listpack
                }
                _ => Encoding::Hashtable,
            };
        let c = match enc {
            Encoding::Intset => {
                let c = self.small_blob(Container::Intset, intset_bytes);
                [c[R] as f64, c[M] as f64]
            }
            Encoding::Listpack => {
                let c = self.small_blob(Container::Listpack, lp_bytes);
                [c[R] as f64, c[M] as f64]
            }
            _ => self.table(self.big, true),
        };
        (enc, c)
    }

    /// A dict or hashtable of `n` entries whose elements cost `elems`. `set`: a no-value
    /// set dict (entries only for chained members on 7.2+, 8.6, Valkey 8.0).
    fn table(&self, elems: [f64; 2], set: bool) -> [f64; 2] {
        let t = self.t;
        let f = t.facts();
        let n = self.n;
        if self.fam.hashtable() {
            let ht = f.hashtable as f64 + sizes::valkey_bucket_bytes(n);
            return [ht + elems[R], ht + elems[M]];
        }
        let b = sizes::dict_buckets(n);
        let base = (f.dict + 8 * b as usize) as f64;
        let chained = if set && matches!(self.fam, Family::R72 | Family::R86 | Family::V80) {
            16.0 * sizes::chained(n, b)
        } else {
            0.0
        };
        let reported_chained = if self.fam == Family::V80 && set { chained } else { 0.0 };
        [base + elems[R] + reported_chained, base + elems[M] + chained]
    }

    fn zset_value(&mut self) -> (Encoding, [f64; 2]) {
        let t = self.t;
        let l = t.limits;
        let n = self.n;
        let stored = self.blob.map(|b| b.0);
        let small_kind =
            if self.fam.listpacks() { Container::Listpack } else { Container::Ziplist };
        let small_enc = if self.fam.listpacks() { Encoding::Listpack } else { Encoding::Ziplist };
        let small = match stored {
            Some(_) => n <= l.zset_entries,
            None => n <= l.zset_entries && self.max_len as u64 <= l.zset_value,
        };
        if small {
            let rebuilt =
                if self.fam.listpacks() { self.lp + LP_OVERHEAD } else { self.zl + ZL_OVERHEAD };
            let c = self.small_blob(small_kind, rebuilt);
            return (small_enc, [c[R] as f64, c[M] as f64]);
        }
        let f = t.facts();
        let big = self.big;
        let c = match self.fam {
            Family::R86 => {
                let fixed = 16.0 + t.a(f.zskiplist) as f64 + t.a(16 + 16 * 32) as f64;
                let d = self.table86([24.0 * n as f64, 0.0]);
                [fixed + big[R] + d[R], fixed + big[M] + d[M]]
            }
            Family::V91 => {
                let ht = self.table([0.0; 2], false);
                let fixed = 16.0 + 528.0 + ht[R];
                [fixed + big[R], fixed + big[M]]
            }
            Family::V81 => {
                let ht = self.table([0.0; 2], false);
                let fixed =
                    16.0 + f.zskiplist as f64 + ht[R] + t.a(24 + 16 * f.skiplist_max_level) as f64;
                [fixed + big[R], fixed + big[M]]
            }
            _ => {
                let b = sizes::dict_buckets(n) as f64;
                let header = t.a(24 + 16 * f.skiplist_max_level) as f64;
                let fixed = 16.0 + f.zskiplist as f64 + f.dict as f64 + 8.0 * b + header;
                [fixed + big[R], fixed + big[M]]
            }
        };
        (Encoding::Skiplist, c)
    }

    fn hash_value(&mut self) -> (Encoding, [f64; 2]) {
        let t = self.t;
        let l = t.limits;
        let n = self.n;
        let stored = self.blob.map(|b| b.0);
        if self.ttl_fields > 0 || matches!(self.ty, types::HASH_LISTPACK_EX) {
            return self.hash_with_ttls();
        }
        let small = match stored {
            Some(Container::Zipmap) => n <= l.hash_entries && self.max_len as u64 <= l.hash_value,
            Some(_) => n <= l.hash_entries,
            None => n <= l.hash_entries && self.max_len as u64 <= l.hash_value,
        };
        if small {
            let (kind, enc, rebuilt) = if self.fam.listpacks() {
                (Container::Listpack, Encoding::Listpack, self.lp + LP_OVERHEAD)
            } else {
                (Container::Ziplist, Encoding::Ziplist, self.zl + ZL_OVERHEAD)
            };
            let c = self.small_blob(kind, rebuilt);
            return (enc, [c[R] as f64, c[M] as f64]);
        }
        let big = self.big;
        let c = if self.fam == Family::R86 { self.table86(big) } else { self.table(big, false) };
        (Encoding::Hashtable, c)
    }

    /// Redis 8.6's no-value dict of `n` entries whose elements cost `elems`: counted with
    /// 24 bytes per entry (in `elems`), allocated with 16 per chained entry.
    fn table86(&self, elems: [f64; 2]) -> [f64; 2] {
        let b = sizes::dict_buckets(self.n);
        let fixed = (self.t.facts().dict + 8 * b as usize) as f64;
        [fixed + elems[R], fixed + elems[M] + 16.0 * sizes::chained(self.n, b)]
    }

    /// A hash with field TTLs: a listpack with a TTL per field when small (Redis 7.4+),
    /// else a hashtable whose fields carry their expiry.
    fn hash_with_ttls(&mut self) -> (Encoding, [f64; 2]) {
        let t = self.t;
        let l = t.limits;
        let n = self.n;
        let redis_lp = matches!(self.fam, Family::R72 | Family::R86);
        if redis_lp && n <= l.hash_entries && self.max_len as u64 <= l.hash_value {
            let lp = self.lp_ex + LP_OVERHEAD;
            let c = if self.fam == Family::R86 {
                [24 + lp, t.a(24) + t.a(lp)]
            } else {
                [t.a(32) + t.a(lp), t.a(32) + t.a(lp)]
            };
            return (Encoding::ListpackEx, [c[R] as f64, c[M] as f64]);
        }
        let ttl = 16.0 * self.ttl_fields as f64;
        let big = [self.big[R] + ttl, self.big[M] + ttl];
        let c = if self.fam == Family::R86 { self.table86(big) } else { self.table(big, false) };
        (Encoding::Hashtable, c)
    }

    fn stream_value(&mut self) -> [usize; 2] {
        let t = self.t;
        let f = t.facts();
        let mut masters = std::mem::take(&mut self.masters);
        masters.sort_unstable();
        let mut c = [0usize; 2];
        match self.fam {
            Family::R86 => {
                c[R] = t.a(f.stream) + rax_alloc(t, &masters) + self.lps[R] + self.groups[R];
                c[M] = t.a(f.stream) + rax_alloc(t, &masters) + self.lps[M] + self.groups[M];
                if !self.group_names.is_empty() {
                    self.group_names.sort();
                    let nk: Vec<&[u8]> = self.group_names.iter().map(|n| n.as_slice()).collect();
                    let mut refs = std::mem::take(&mut self.all_pel);
                    refs.sort_unstable();
                    refs.dedup();
                    let extra = rax_alloc_keys(t, &nk) + rax_alloc(t, &refs);
                    c[R] += extra;
                    c[M] += extra;
                }
            }
            Family::V81 | Family::V91 => {
                let base = f.stream + rax_alloc(t, &masters);
                c[R] = base + self.lps[R] + self.groups[R];
                c[M] = base + self.lps[M] + self.groups[M];
            }
            _ => {
                let base = f.stream + radix_old(&masters);
                c[R] = base + self.lps[R] + self.groups[R];
                c[M] = base + self.lps[M] + self.groups[M];
            }
        }
        c
    }
}

/// Estimates one key for `t`.
pub fn estimate(t: &Target, k: &Key, name_len: usize, s: &mut Scratch) -> Result<Cost, Error> {
    let mut shape = Shape::new(t, k);
    k.decode(&mut shape, s)?;
    Ok(shape.finish(name_len, k.expire_ms().is_some()))
}

/// [`estimate`], taking a compressed string's length from its header instead of
/// decompressing it: an integer's text is at most 20 bytes, so a longer compressed string
/// is never one, and its length is all the model needs. The compressed data is not
/// checked: for a sample of keys that are decoded (and checked) later anyway, as a load's
/// pre-flight samples values before anything is sent.
pub fn estimate_by_header(
    t: &Target,
    k: &Key,
    name_len: usize,
    s: &mut Scratch,
) -> Result<Cost, Error> {
    match k.string_value() {
        Some(crate::format::RStr::Lzf { ulen, .. }) if ulen > 20 => {
            let mut shape = Shape::new(t, k);
            shape.long_string(ulen);
            Ok(shape.finish(name_len, k.expire_ms().is_some()))
        }
        _ => estimate(t, k, name_len, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::{Options, Record};
    use crate::format::{Dialect, Reader};
    use crate::memory::target::Limits;
    use crate::server::Server;

    /// The servers of `docs/memory-model/notes.md`, section 9, in its columns' order, with
    /// the allocators of the binaries measured there.
    fn matrix() -> Vec<Target> {
        [
            (Dialect::Redis, 5, 0),
            (Dialect::Redis, 6, 0),
            (Dialect::Redis, 6, 2),
            (Dialect::Redis, 7, 0),
            (Dialect::Redis, 7, 4),
            (Dialect::Redis, 8, 0),
            (Dialect::Redis, 8, 6),
            (Dialect::Valkey, 8, 0),
            (Dialect::Valkey, 8, 1),
            (Dialect::Valkey, 9, 1),
        ]
        .into_iter()
        .map(|(dialect, major, minor)| {
            Target::new(Server { dialect, major, minor }, None, Limits::default())
        })
        .collect()
    }

    fn rdb_str(out: &mut Vec<u8>, b: &[u8]) {
        assert!(b.len() < 16384);
        if b.len() < 64 {
            out.push(b.len() as u8);
        } else {
            out.extend_from_slice(&[0x40 | (b.len() >> 8) as u8, b.len() as u8]);
        }
        out.extend_from_slice(b);
    }

    /// What each server of the matrix reports for one key (type `ty`, value bytes as
    /// stored), estimated.
    fn estimates(ty: u8, name: &[u8], value: &[u8]) -> Vec<u64> {
        estimates_with(ty, name, value, estimate)
    }

    type Estimate = fn(&Target, &Key, usize, &mut Scratch) -> Result<Cost, Error>;

    fn estimates_with(ty: u8, name: &[u8], value: &[u8], how: Estimate) -> Vec<u64> {
        let mut f = b"REDIS0009".to_vec();
        f.push(ty);
        rdb_str(&mut f, name);
        f.extend_from_slice(value);
        f.push(0xff);
        f.extend_from_slice(&[0; 8]);
        matrix()
            .iter()
            .map(|t| {
                let mut r = Reader::new(&f, Options::default()).unwrap();
                let Some(Record::Key(k)) = r.next_record().unwrap() else { panic!("a key") };
                how(t, &k, name.len(), &mut Scratch::default()).unwrap().reported
            })
            .collect()
    }

    fn string(name: &str, v: &[u8]) -> Vec<u64> {
        let mut value = Vec::new();
        rdb_str(&mut value, v);
        estimates(types::STRING, name.as_bytes(), &value)
    }

    // the golden values measured on the ten servers after SAVE and a restart
    // (notes.md, section 9)
    #[test]
    fn strings_as_each_server_reports_them() {
        assert_eq!(string("s:int", b"12345"), [47, 48, 64, 48, 48, 48, 24, 48, 24, 24]);
        assert_eq!(string("s:v1", b"x"), [49, 51, 67, 64, 56, 64, 40, 64, 40, 24]);
        assert_eq!(string("s:v45", &[b'x'; 45]), [96, 104, 120, 112, 104, 112, 80, 112, 80, 72]);
        // 8.6: the notes' table has 1072, a run with glibc's 16-byte split slack (notes,
        // section 2); a fresh 8.6 loading the same key reports 1056 (measured again)
        assert_eq!(
            string("s:v1000", &[b'x'; 1000]),
            [1055, 1080, 1080, 1080, 1080, 1080, 1056, 1072, 1056, 1056]
        );
    }

    /// `v` stored LZF-compressed, as literal runs only (valid LZF, what a decompressor
    /// reads like any other).
    fn lzf_string(name: &str, v: &[u8], how: Estimate) -> Vec<u64> {
        let mut data = Vec::new();
        for run in v.chunks(32) {
            data.push(run.len() as u8 - 1);
            data.extend_from_slice(run);
        }
        let mut value = vec![0xC3];
        rdb_str_len(&mut value, data.len());
        rdb_str_len(&mut value, v.len());
        value.extend_from_slice(&data);
        estimates_with(types::STRING, name.as_bytes(), &value, how)
    }

    fn rdb_str_len(out: &mut Vec<u8>, n: usize) {
        assert!(n < 16384);
        if n < 64 {
            out.push(n as u8);
        } else {
            out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
        }
    }

    #[test]
    fn a_compressed_string_costs_what_it_costs_stored_plain() {
        // decompressed, or priced from its length alone (longer than any integer's text)
        for len in [21, 44, 45, 1000, 5000] {
            let v: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert_eq!(lzf_string("k", &v, estimate), string("k", &v), "{len} bytes");
            assert_eq!(lzf_string("k", &v, estimate_by_header), string("k", &v), "{len} bytes");
        }
        // what could be an integer is decompressed either way
        let int = string("s:int", b"12345");
        assert_eq!(lzf_string("s:int", b"12345", estimate_by_header), int);
        assert_ne!(lzf_string("s:int", b"1234x", estimate_by_header), int);
    }

    #[test]
    fn an_intset_as_each_server_reports_it() {
        let mut blob = vec![2, 0, 0, 0, 10, 0, 0, 0];
        for i in 0..10u16 {
            blob.extend_from_slice(&i.to_le_bytes());
        }
        let mut value = Vec::new();
        rdb_str(&mut value, &blob);
        assert_eq!(
            estimates(types::SET_INTSET, b"set:int10", &value),
            [79, 84, 92, 88, 88, 88, 68, 80, 80, 80]
        );
    }

    #[test]
    fn a_plain_set_of_ten_strings_as_each_server_holds_it() {
        // a 7.0 dump's 10-member set: a hashtable up to 7.0, a listpack from 7.2 on
        let mut value = vec![10];
        for i in 0..10 {
            rdb_str(&mut value, format!("m{i}").as_bytes());
        }
        assert_eq!(
            estimates(types::SET, b"set:lp10", &value),
            [554, 600, 768, 560, 104, 104, 87, 96, 96, 96]
        );
    }
}
