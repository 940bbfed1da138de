//! One key as an RDB record for the target: `[EXPIRETIME_MS][IDLE|FREQ][key metadata] type
//! name value`.
//!
//! - A value whose type the target loads is written as stored, byte for byte (checked
//!   first, as the server checks it: a corrupt value never reaches a file a server loads).
//! - Otherwise it is re-encoded into a form the target loads: a plain list, set, zset2 or
//!   hash (every server from 5.0 on loads them, and re-encodes them by its own thresholds
//!   as it loads), a hash with field TTLs in the target's own layout, a stream in the
//!   target's newest stream type ([`super::stream`]).
//! - What the target cannot hold is counted in [`Counts`], never silently dropped.
//!
//! Invariant: what is written for a key depends only on the key and the [`Plan`].

use crate::convert::bufs::Bufs;
use crate::convert::out::{Out, ZERO_COPY_MIN};
use crate::convert::{Counts, Error, KeyWriter, Plan, Result};
use crate::format::Str;
use crate::format::record::Key;
use crate::format::types::{self, Kind};
use crate::format::visit::Visitor;
use crate::format::write;
use crate::server::Server;

/// Writes key `k` under `name` (`renamed`: not its name in the dump). Returns whether
/// anything was written: an empty collection, a dropped module value or array, and a hash
/// whose every field has expired are counted and leave nothing.
pub fn key(w: &mut KeyWriter, k: &Key, name: &[u8], renamed: bool) -> Result<bool> {
    let plan: &Plan = w.plan;
    let (out, b, n) = (&mut *w.out, &mut *w.bufs, &mut *w.counts);
    let t = plan.target;
    let kind = k.kind();
    if kind == Kind::Module && !plan.keep_modules {
        n.modules_dropped += 1;
        return Ok(false);
    }
    // the value is checked whole before any of it is written, as the server checks it
    let elements = k.validate(&mut b.scratch)?;
    if elements == 0 && matches!(kind, Kind::List | Kind::Set | Kind::Zset | Kind::Hash) {
        n.empty += 1;
        return Ok(false);
    }
    // a hash whose every field has expired is an expired key (a primary drops it when it
    // loads the file), whether or not its type loads as stored
    let now = (!plan.filter.include_expired).then_some(plan.filter.now_ms);
    if kind == Kind::Hash && now.is_some() && field_ttls(k) {
        let mut c = HashCount { now, ..HashCount::default() };
        k.decode(&mut c, &mut b.scratch)?;
        if c.live == 0 {
            n.expired_fields += c.total;
            n.expired += 1;
            return Ok(false);
        }
    }
    let native = t.loads_type(k.ty(), k.header().dialect)
        && !(kind == Kind::Stream
            && t.exact_stream_length()
            && !crate::convert::commands::stream_length_exact(k, b)?);
    if native {
        prefix(out.buf(), k, &t, n);
        let (ty, body) = k.raw_value();
        out.buf().extend_from_slice(ty);
        name_of(out.buf(), k, name, renamed);
        out.raw(body)?;
        n.keys += 1;
        n.modules_written += u64::from(kind == Kind::Module);
        return Ok(true);
    }
    if value(w, k, Some((name, renamed)), elements)? {
        w.counts.keys += 1;
        return Ok(true);
    }
    Ok(false)
}

/// Writes the value of `k` re-encoded for the target, after its prefix, type byte and name
/// (`name`: the name and whether it is new), or as a DUMP payload's type byte and body
/// (`None`). Returns false when nothing was written: a hash whose fields have all expired.
fn value(w: &mut KeyWriter, k: &Key, name: Option<(&[u8], bool)>, elements: u64) -> Result<bool> {
    let t = w.plan.target;
    let kind = k.kind();
    if compact(w, k, name)? {
        return Ok(true);
    }
    match kind {
        Kind::Hash => return hash(w, k, name),
        Kind::Stream => {
            if name.is_some() {
                prefix(w.out.buf(), k, &t, w.counts);
            }
            super::stream::write(w, k, name)?;
        }
        Kind::List | Kind::Set | Kind::Zset => {
            let ty = match kind {
                Kind::List => types::LIST,
                Kind::Set => types::SET,
                _ => types::ZSET_2,
            };
            head(w.out.buf(), k, &t, ty, name, w.counts);
            write::len(w.out.buf(), elements);
            k.decode(&mut Plain { out: w.out, fields: None }, &mut w.bufs.scratch)?;
        }
        // strings, module values and plain types load everywhere; arrays were dropped
        _ => {
            return Err(Error::Format(k.context(crate::format::Error::corrupt(
                k.value_at() as u64,
                "value",
                format!("type {} cannot be written for {t}", k.ty()),
            ))));
        }
    }
    w.out.filled()?;
    Ok(true)
}

/// Largest ziplist node of a list written for RDB 9 (`list-max-ziplist-size -2`, the
/// servers' default: 8 KiB); a bigger element has a node of its own.
const NODE_BYTES: usize = 8 << 10;

/// A compact value the target cannot load as stored, in the compact form it loads (what
/// the server itself would have saved, so it loads the file at native speed): for RDB 9
/// (Redis 5.0-6.2), a listpack hash or sorted set as a ziplist, a quicklist of listpacks
/// as a quicklist of ziplists; for RDB 9 and 10, a set listpack of integers as an intset.
/// Returns false when the value has no such form (it is written plain).
fn compact(w: &mut KeyWriter, k: &Key, name: Option<(&[u8], bool)>) -> Result<bool> {
    let t = &w.plan.target;
    let (out, b, n) = (&mut *w.out, &mut *w.bufs, &mut *w.counts);
    let v = t.dump_version();
    let ty = k.ty();
    let zl = || Zl { z: write::ziplist::Ziplist::default(), score: Vec::new() };
    let blob = match (ty, v) {
        (types::HASH_LISTPACK, 9) | (types::ZSET_LISTPACK, 9) => {
            let mut z = zl();
            k.decode(&mut z, &mut b.scratch)?;
            let to =
                if ty == types::HASH_LISTPACK { types::HASH_ZIPLIST } else { types::ZSET_ZIPLIST };
            (to, z.z.finish())
        }
        (types::SET_LISTPACK, 9 | 10) => {
            let mut ints = Ints(Some(Vec::new()));
            k.decode(&mut ints, &mut b.scratch)?;
            match ints.0.as_mut().and_then(write::intset::build) {
                Some(blob) => (types::SET_INTSET, blob),
                None => return Ok(false),
            }
        }
        (types::LIST_QUICKLIST_2, 9) => {
            // the node count comes first: one pass to count the nodes, one to write them
            let mut count = Nodes { z: write::ziplist::Ziplist::default(), nodes: 0, out: None };
            k.decode(&mut count, &mut b.scratch)?;
            let nodes = count.nodes + u64::from(!count.z.is_empty());
            head(out.buf(), k, t, types::LIST_QUICKLIST, name, n);
            write::len(out.buf(), nodes);
            let mut w = Nodes { z: write::ziplist::Ziplist::default(), nodes: 0, out: Some(out) };
            k.decode(&mut w, &mut b.scratch)?;
            w.node()?;
            return Ok(true);
        }
        _ => return Ok(false),
    };
    head(out.buf(), k, t, blob.0, name, n);
    write::bytes(out.buf(), &blob.1);
    out.filled()?;
    Ok(true)
}

/// A hash's fields and values, or a sorted set's members and scores, into one ziplist.
struct Zl {
    z: write::ziplist::Ziplist,
    score: Vec<u8>,
}

impl Visitor for Zl {
    type Error = Error;
    fn hash_field(&mut self, f: Str<'_>, v: Str<'_>, _e: Option<i64>) -> Result<()> {
        self.z.push(f);
        self.z.push(v);
        Ok(())
    }
    fn zset_member(&mut self, m: Str<'_>, score: f64) -> Result<()> {
        self.z.push(m);
        let s = write::ziplist::score_text(score, &mut self.score);
        self.z.push(s);
        Ok(())
    }
}

/// A set's members, while they are all integers (`None` once one is not).
struct Ints(Option<Vec<i64>>);

impl Visitor for Ints {
    type Error = Error;
    fn set_member(&mut self, m: Str<'_>) -> Result<()> {
        let i = match m {
            Str::Int(i) => Some(i),
            Str::Bytes(b) => crate::format::parse_i64_strict(b),
        };
        match (i, &mut self.0) {
            (Some(i), Some(v)) => v.push(i),
            _ => self.0 = None,
        }
        Ok(())
    }
}

/// A list's items packed into ziplist nodes of at most [`NODE_BYTES`] (counted, or written
/// as RDB strings when `out` is given).
struct Nodes<'o, 's> {
    z: write::ziplist::Ziplist,
    nodes: u64,
    out: Option<&'o mut Out<'s>>,
}

impl Nodes<'_, '_> {
    /// Ends the node being filled (if it holds anything).
    fn node(&mut self) -> Result<()> {
        if self.z.is_empty() {
            return Ok(());
        }
        let blob = self.z.finish();
        self.nodes += 1;
        if let Some(out) = self.out.as_mut() {
            write::bytes(out.buf(), &blob);
            out.filled()?;
        }
        Ok(())
    }
}

impl Visitor for Nodes<'_, '_> {
    type Error = Error;
    fn list_item(&mut self, v: Str<'_>) -> Result<()> {
        // an entry takes at most its bytes and 10 more (prevlen 5, encoding 5)
        let size = match v {
            Str::Bytes(b) => b.len() + 10,
            Str::Int(_) => 14,
        };
        if !self.z.is_empty() && self.z.bytes() + size > NODE_BYTES {
            self.node()?;
        }
        self.z.push(v);
        Ok(())
    }
}

/// What comes before a re-encoded body: the prefix, the type byte and the name in a
/// record; the type byte alone in a payload (`name` `None`).
fn head(
    buf: &mut Vec<u8>,
    k: &Key,
    t: &Server,
    ty: u8,
    name: Option<(&[u8], bool)>,
    n: &mut Counts,
) {
    match name {
        Some((name, renamed)) => {
            prefix(buf, k, t, n);
            buf.push(ty);
            name_of(buf, k, name, renamed);
        }
        None => buf.push(ty),
    }
}

/// The key's value re-encoded for the target as a DUMP payload's type byte and body, for
/// a `RESTORE` into a server that cannot load the value as stored (see
/// [`reencodable`]). `None` when there is nothing to restore (a hash whose fields have
/// all expired). What the target cannot hold is counted in `n`.
pub fn payload(k: &Key, plan: &Plan, b: &mut Bufs, n: &mut Counts) -> Result<Option<Vec<u8>>> {
    let elements = k.validate(&mut b.scratch)?;
    if elements == 0 {
        // an empty collection: RESTORE refuses it (commands write its DEL)
        return Ok(None);
    }
    let input = k.record_bytes();
    let pool = crate::convert::out::BufPool::default();
    let mut acc: Vec<u8> = Vec::new();
    let wrote = {
        let mut send = |s: crate::convert::out::Seg| {
            match s {
                crate::convert::out::Seg::Bytes(v, _) => acc.extend_from_slice(&v),
                crate::convert::out::Seg::Mapped(r) => acc.extend_from_slice(&input[r]),
            }
            Ok(())
        };
        let mut out = Out::new(input, 1 << 20, &pool, &mut send);
        let mut w = KeyWriter { plan, out: &mut out, bufs: b, counts: n };
        let wrote = value(&mut w, k, None, elements)?;
        out.flush()?;
        wrote
    };
    Ok(wrote.then_some(acc))
}

/// Whether key `k` leaves anything in a file for `t` (the duplicate search asks, so that a
/// name is kept from a key that is written): not an array `t` cannot hold, a module value
/// left out, or a hash whose every field has expired by `now` (`None`: expired data kept).
/// (An empty collection, which no server saves, is not looked for.)
pub fn writes_something(
    k: &Key,
    t: &Server,
    keep_modules: bool,
    now: Option<i64>,
    s: &mut crate::format::Scratch,
) -> bool {
    match k.kind() {
        Kind::Array => t.arrays(),
        Kind::Module => keep_modules,
        Kind::Hash if now.is_some() && field_ttls(k) => {
            let mut c = HashCount { now, ..HashCount::default() };
            // a damaged value: its run reports it
            k.decode(&mut c, s).map_or(true, |_| c.live > 0)
        }
        _ => true,
    }
}

/// Whether a hash is stored with field TTLs.
fn field_ttls(k: &Key) -> bool {
    use crate::format::Dialect;
    matches!(
        (k.ty(), k.header().dialect),
        (types::VALKEY_HASH_2, Dialect::Valkey)
            | (types::HASH_METADATA_PRE_GA..=types::HASH_LISTPACK_EX, Dialect::Redis)
    )
}

/// Whether a value the target cannot load as stored can go to it re-encoded in a
/// payload (every kind but strings, modules and arrays, which either load everywhere or
/// nowhere), and is small enough to be built whole in memory first.
pub fn reencodable(k: &Key) -> bool {
    matches!(k.kind(), Kind::List | Kind::Set | Kind::Zset | Kind::Hash | Kind::Stream)
        && k.dump_len() <= REENCODE_MAX
}

/// Largest stored value re-encoded into a payload (it is built whole before it is sent).
pub const REENCODE_MAX: usize = 8 << 20;

/// The opcodes before the type byte: expiry (always in ms, 8 bytes LE: an old dump's
/// seconds or big-endian ms are written as the reader understood them), LRU or LFU, and
/// the key's metadata when the target holds it (counted as lost when not).
fn prefix(buf: &mut Vec<u8>, k: &Key, t: &Server, n: &mut Counts) {
    write::key_prefix(buf, k.expire_ms(), k.idle(), k.freq());
    if !k.meta().is_empty() {
        if t.key_meta() {
            buf.extend_from_slice(k.meta_bytes());
        } else {
            n.meta_dropped += 1;
        }
    }
}

/// The key's name: as stored (maybe integer- or LZF-encoded, which every server reads),
/// or the new one.
pub(super) fn name_of(buf: &mut Vec<u8>, k: &Key, name: &[u8], renamed: bool) {
    if renamed {
        write::bytes(buf, name);
    } else {
        buf.extend_from_slice(&k.record_bytes()[k.name_at() - k.start()..k.value_at() - k.start()]);
    }
}

/// A string element: a big one that lies in the input goes by reference.
pub(super) fn put_str(out: &mut Out, s: Str) -> Result<()> {
    match s {
        Str::Bytes(b) if b.len() >= ZERO_COPY_MIN => {
            write::len(out.buf(), b.len() as u64);
            out.raw(b)
        }
        s => {
            write::string(out.buf(), s);
            out.filled()
        }
    }
}

/// The elements of a list, set or sorted set (and a hash's fields, in `fields`'s layout)
/// as the plain forms store them.
struct Plain<'o, 's> {
    out: &'o mut Out<'s>,
    /// For a hash: how its fields are written, and which are left out.
    fields: Option<Fields>,
}

#[derive(Clone, Copy)]
struct Fields {
    layout: HashLayout,
    /// Fields that expired before this time are left out (`None`: keep them all).
    now: Option<i64>,
    min_expire: i64,
}

impl Visitor for Plain<'_, '_> {
    type Error = Error;
    fn list_item(&mut self, v: Str<'_>) -> Result<()> {
        put_str(self.out, v)
    }
    fn set_member(&mut self, v: Str<'_>) -> Result<()> {
        put_str(self.out, v)
    }
    fn zset_member(&mut self, m: Str<'_>, score: f64) -> Result<()> {
        put_str(self.out, m)?;
        write::double(self.out.buf(), score);
        Ok(())
    }
    fn hash_field(&mut self, f: Str<'_>, v: Str<'_>, expire_ms: Option<i64>) -> Result<()> {
        let Some(Fields { layout, now, min_expire }) = self.fields else { return Ok(()) };
        if let (Some(now), Some(e)) = (now, expire_ms)
            && e < now
        {
            return Ok(());
        }
        match layout {
            HashLayout::Plain => {
                put_str(self.out, f)?;
                put_str(self.out, v)
            }
            HashLayout::RedisMetadata => {
                // 0: no TTL; else relative to the min-expire, plus 1 (a time Redis cannot
                // hold goes without, counted)
                let ttl =
                    expire_ms.filter(|e| redis_ttl(*e)).map_or(0, |e| (e - min_expire) as u64 + 1);
                write::len(self.out.buf(), ttl);
                put_str(self.out, f)?;
                put_str(self.out, v)
            }
            HashLayout::Valkey2 => {
                put_str(self.out, f)?;
                put_str(self.out, v)?;
                write::ms(self.out.buf(), expire_ms.unwrap_or(-1));
                Ok(())
            }
        }
    }
}

/// How a re-encoded hash is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HashLayout {
    /// Type 4: no field TTLs.
    Plain,
    /// Redis 7.4+ type 24: min-expire, then `[ttl][field][value]`.
    RedisMetadata,
    /// Valkey 9 type 22: `field value ms` (-1: none).
    Valkey2,
}

/// Whether Redis holds a field expiry of `e` ms: from 1 to `EB_EXPIRE_TIME_MAX` (2^48 - 1;
/// `rdbLoadObject` refuses a file with a larger one, and 0 means none).
fn redis_ttl(e: i64) -> bool {
    (1..1 << 48).contains(&e)
}

/// What a hash holds once its expired fields are left out.
#[derive(Default)]
struct HashCount {
    total: u64,
    live: u64,
    with_ttl: u64,
    /// Of those, expiries Redis cannot hold ([`redis_ttl`]).
    beyond_redis: u64,
    /// The earliest of the expiries Redis can hold.
    min_expire: Option<i64>,
    now: Option<i64>,
}

impl Visitor for HashCount {
    type Error = Error;
    fn hash_field(&mut self, _f: Str<'_>, _v: Str<'_>, expire_ms: Option<i64>) -> Result<()> {
        self.total += 1;
        if let (Some(now), Some(e)) = (self.now, expire_ms)
            && e < now
        {
            return Ok(());
        }
        self.live += 1;
        if let Some(e) = expire_ms {
            self.with_ttl += 1;
            if redis_ttl(e) {
                self.min_expire = Some(self.min_expire.map_or(e, |m| m.min(e)));
            } else {
                self.beyond_redis += 1;
            }
        }
        Ok(())
    }
}

/// A hash the target cannot load as stored: plain (type 4), or with its field TTLs in the
/// target's layout (Redis 7.4+ type 24, Valkey 9 type 22). Fields whose TTL has passed are
/// left out (counted) unless expired data is kept; a hash left with none is an expired key.
fn hash(w: &mut KeyWriter, k: &Key, name: Option<(&[u8], bool)>) -> Result<bool> {
    let plan = w.plan;
    let (out, b, n) = (&mut *w.out, &mut *w.bufs, &mut *w.counts);
    let t = plan.target;
    let f = &plan.filter;
    let now = (!f.include_expired).then_some(f.now_ms);
    let mut c = HashCount { now, ..HashCount::default() };
    k.decode(&mut c, &mut b.scratch)?;
    n.expired_fields += c.total - c.live;
    if c.live == 0 {
        n.expired += 1;
        return Ok(false);
    }
    let layout = match c.with_ttl {
        0 => HashLayout::Plain,
        _ if !t.field_ttl() => {
            n.field_ttls_dropped += c.with_ttl;
            HashLayout::Plain
        }
        _ if t.dialect == crate::format::Dialect::Valkey => HashLayout::Valkey2,
        n_ttl => {
            n.field_ttls_dropped += c.beyond_redis;
            if n_ttl == c.beyond_redis { HashLayout::Plain } else { HashLayout::RedisMetadata }
        }
    };
    let min_expire = c.min_expire.unwrap_or(0);
    let ty = match layout {
        HashLayout::Plain => types::HASH,
        HashLayout::RedisMetadata => types::HASH_METADATA,
        HashLayout::Valkey2 => types::VALKEY_HASH_2,
    };
    head(out.buf(), k, &t, ty, name, n);
    let buf = out.buf();
    if layout == HashLayout::RedisMetadata {
        write::ms(buf, min_expire);
    }
    write::len(buf, c.live);
    let mut p = Plain { out, fields: Some(Fields { layout, now, min_expire }) };
    k.decode(&mut p, &mut b.scratch)?;
    out.filled()?;
    Ok(true)
}
