//! Decoding one value body (`rdbLoadObject` in `src/rdb.c`) into [`Visitor`] events.
//!
//! Invariant: nothing here allocates in proportion to a count read from the file before the
//! file has shown it holds that many items; collections are streamed element by element.

use super::cursor::{Cursor, Str, parse_double};
use super::error::{Error, ErrorKind, Result};
use super::header::{Dialect, Header};
use super::intset::Intset;
use super::listpack::Listpack;
use super::types::*;
use super::visit::{ModuleValue, Visitor};
use super::ziplist::Ziplist;
use super::zipmap::Zipmap;
use super::{module, stream};

/// Scratch buffers for LZF content, reused across values.
#[derive(Default)]
pub struct Scratch {
    a: Vec<u8>,
    b: Vec<u8>,
    blob: Vec<u8>,
}

/// Decodes the value of type `t` at the cursor into `v`; the cursor ends after the value.
pub fn decode<V: Visitor>(c: &mut Cursor, t: u8, h: &Header, v: &mut V, s: &mut Scratch) -> Result<()> {
    let Scratch { a, b, blob } = s;
    match t {
        STRING => {
            let x = c.string()?;
            v.string(x.get(a)?)
        }
        LIST | SET => {
            let n = c.count("collection", 1)?;
            for _ in 0..n {
                let x = c.string()?.get(a)?;
                if t == LIST { v.list_item(x)? } else { v.set_member(x)? }
            }
            Ok(())
        }
        ZSET | ZSET_2 => {
            let n = c.count("sorted set", if t == ZSET { 2 } else { 9 })?;
            for _ in 0..n {
                let m = c.string()?;
                let score = if t == ZSET { c.text_double()? } else { c.f64_le()? };
                v.zset_member(m.get(a)?, score)?;
            }
            Ok(())
        }
        HASH => {
            let n = c.count("hash", 2)?;
            for _ in 0..n {
                let f = c.string()?;
                let x = c.string()?;
                v.hash_field(f.get(a)?, x.get(b)?, None)?;
            }
            Ok(())
        }
        MODULE_PRE_GA => Err(c.err(ErrorKind::ModulePreGa)),
        MODULE_2 => {
            let id = c.plain_len()?;
            let body_start = c.pos();
            module::skip_opcodes(c)?;
            v.module(&ModuleValue { id, body: &c.data()[body_start..c.pos()] })
        }
        HASH_ZIPMAP => {
            let at = c.offset();
            let mut z = Zipmap::open(c.string()?.open(blob, "zipmap", at)?)?;
            while let Some((f, x)) = z.next()? {
                v.hash_field(Str::Bytes(f), Str::Bytes(x), None)?;
            }
            Ok(())
        }
        LIST_ZIPLIST | ZSET_ZIPLIST | HASH_ZIPLIST => {
            let at = c.offset();
            let z = Ziplist::open(c.string()?.open(blob, "ziplist", at)?)?;
            compact(ZipOrPack::Zip(z), kind(t), v)
        }
        SET_INTSET => {
            let at = c.offset();
            let mut i = Intset::open(c.string()?.open(blob, "intset", at)?)?;
            while let Some(x) = i.next()? {
                v.set_member(Str::Int(x))?;
            }
            Ok(())
        }
        LIST_QUICKLIST => {
            let n = c.count("quicklist nodes", 1)?;
            for _ in 0..n {
                let at = c.offset();
                let z = Ziplist::open(c.string()?.open(blob, "ziplist", at)?)?;
                compact(ZipOrPack::Zip(z), Kind::List, v)?;
            }
            Ok(())
        }
        LIST_QUICKLIST_2 => {
            let n = c.count("quicklist nodes", 2)?;
            for _ in 0..n {
                let at = c.offset();
                match c.plain_len()? {
                    1 => v.list_item(c.string()?.get(a)?)?,
                    2 => {
                        let at = c.offset();
                        let lp = Listpack::open(c.string()?.open(blob, "listpack", at)?)?;
                        compact(ZipOrPack::Pack(lp), Kind::List, v)?;
                    }
                    other => return Err(Error::corrupt(at, "quicklist", format!("unknown node container {other}"))),
                }
            }
            Ok(())
        }
        HASH_LISTPACK | ZSET_LISTPACK | SET_LISTPACK => {
            let at = c.offset();
            let lp = Listpack::open(c.string()?.open(blob, "listpack", at)?)?;
            compact(ZipOrPack::Pack(lp), kind(t), v)
        }
        STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 => stream::decode(c, t, v, a),
        STREAM_LISTPACKS_4 if h.dialect == Dialect::Redis => stream::decode(c, t, v, a),
        VALKEY_HASH_2 if h.dialect == Dialect::Valkey => valkey_hash2(c, v, a, b),
        HASH_METADATA_PRE_GA | HASH_METADATA if h.dialect == Dialect::Redis => {
            let min_expire = if t == HASH_METADATA { Some(c.u64_le()?) } else { None };
            let n = c.count("hash", 3)?;
            for _ in 0..n {
                let ttl_at = c.offset();
                let ttl = c.plain_len()?;
                let expire = match (ttl, min_expire) {
                    (0, _) => None,
                    (t, Some(m)) => Some(t.wrapping_add(m).wrapping_sub(1)),
                    (t, None) => Some(t),
                };
                let expire = checked_expire(expire, ttl_at)?;
                let f = c.string()?;
                let x = c.string()?;
                v.hash_field(f.get(a)?, x.get(b)?, expire)?;
            }
            Ok(())
        }
        HASH_LISTPACK_EX_PRE_GA | HASH_LISTPACK_EX if h.dialect == Dialect::Redis => {
            if t == HASH_LISTPACK_EX {
                c.u64_le()?; // min expire: a hint, the fields carry their own times
            }
            let at = c.offset();
            let mut lp = Listpack::open(c.string()?.open(blob, "listpack", at)?)?;
            while let Some(f) = lp.next()? {
                let x = lp.expect("a hash value")?;
                let ttl_at = lp.cursor().offset();
                let ttl = lp.expect_int("a field TTL")?;
                let expire = checked_expire((ttl != 0).then_some(ttl as u64), ttl_at)?;
                v.hash_field(f, x, expire)?;
            }
            Ok(())
        }
        _ => Err(c.err(ErrorKind::UnknownType(t))),
    }
}

/// Largest field expiry Redis accepts (`EB_EXPIRE_TIME_MAX`, 2^48 - 1 ms).
const EXPIRE_TIME_MAX: u64 = (1 << 48) - 1;

fn checked_expire(e: Option<u64>, at: u64) -> Result<Option<i64>> {
    match e {
        Some(x) if x > EXPIRE_TIME_MAX => Err(Error::corrupt(at, "hash", format!("field expiry {x} out of range"))),
        other => Ok(other.map(|x| x as i64)),
    }
}

/// Valkey 9 `HASH_2` (type 22 in `VALKEY` files): a count, then per field the field, the
/// value and an 8-byte LE absolute expiry in ms, -1 for none.
fn valkey_hash2<V: Visitor>(c: &mut Cursor, v: &mut V, a: &mut Vec<u8>, b: &mut Vec<u8>) -> Result<()> {
    let n = c.count("hash", 10)?;
    for _ in 0..n {
        let f = c.string()?;
        let x = c.string()?;
        let at = c.offset();
        let e = c.i64_le()?;
        let expire = match e {
            -1 => None,
            e if e < -1 => return Err(Error::corrupt(at, "hash", format!("field expiry {e}"))),
            e => Some(e),
        };
        v.hash_field(f.get(a)?, x.get(b)?, expire)?;
    }
    Ok(())
}

enum ZipOrPack<'a> {
    Zip(Ziplist<'a>),
    Pack(Listpack<'a>),
}

impl<'a> ZipOrPack<'a> {
    fn next(&mut self) -> Result<Option<Str<'a>>> {
        match self {
            ZipOrPack::Zip(z) => z.next(),
            ZipOrPack::Pack(p) => p.next(),
        }
    }
    fn expect(&mut self, what: &str) -> Result<Str<'a>> {
        match self {
            ZipOrPack::Zip(z) => z.next()?.ok_or_else(|| z.end_error(what)),
            ZipOrPack::Pack(p) => p.expect(what),
        }
    }
}

/// Walks a ziplist or listpack holding a list, set, zset (member, score) or hash (field, value).
fn compact<V: Visitor>(mut z: ZipOrPack, k: Kind, v: &mut V) -> Result<()> {
    while let Some(x) = z.next()? {
        match k {
            Kind::List => v.list_item(x)?,
            Kind::Set => v.set_member(x)?,
            Kind::Zset => {
                let s = z.expect("a score")?;
                let score = match s {
                    Str::Int(i) => i as f64,
                    Str::Bytes(b) => parse_double(b).ok_or_else(|| z.bad_score())?,
                };
                v.zset_member(x, score)?
            }
            _ => {
                let val = z.expect("a hash value")?;
                v.hash_field(x, val, None)?
            }
        }
    }
    Ok(())
}

impl ZipOrPack<'_> {
    fn bad_score(&self) -> Error {
        match self {
            ZipOrPack::Zip(z) => z.end_error("a numeric score"),
            ZipOrPack::Pack(p) => p.cursor().corrupt("listpack", "score is not a number"),
        }
    }
}

/// Skips a value without decoding its elements (no LZF decompression, no container walk);
/// used to find where a key ends.
pub fn skip(c: &mut Cursor, t: u8, h: &Header) -> Result<()> {
    match t {
        STRING | HASH_ZIPMAP | LIST_ZIPLIST | SET_INTSET | ZSET_ZIPLIST | HASH_ZIPLIST | HASH_LISTPACK
        | ZSET_LISTPACK | SET_LISTPACK => c.skip_string(),
        LIST | SET | LIST_QUICKLIST => {
            let n = c.count("collection", 1)?;
            (0..n).try_for_each(|_| c.skip_string())
        }
        HASH => {
            let n = c.count("hash", 2)?;
            (0..2 * n).try_for_each(|_| c.skip_string())
        }
        ZSET | ZSET_2 => {
            let n = c.count("sorted set", if t == ZSET { 2 } else { 9 })?;
            for _ in 0..n {
                c.skip_string()?;
                if t == ZSET {
                    let l = c.u8()?;
                    if l < 253 {
                        c.skip(l as u64)?;
                    }
                } else {
                    c.skip(8)?;
                }
            }
            Ok(())
        }
        LIST_QUICKLIST_2 => {
            let n = c.count("quicklist nodes", 2)?;
            for _ in 0..n {
                c.plain_len()?;
                c.skip_string()?;
            }
            Ok(())
        }
        HASH_METADATA_PRE_GA | HASH_METADATA if h.dialect == Dialect::Redis => {
            if t == HASH_METADATA {
                c.skip(8)?;
            }
            let n = c.count("hash", 3)?;
            for _ in 0..n {
                c.plain_len()?;
                c.skip_string()?;
                c.skip_string()?;
            }
            Ok(())
        }
        HASH_LISTPACK_EX_PRE_GA | HASH_LISTPACK_EX if h.dialect == Dialect::Redis => {
            if t == HASH_LISTPACK_EX {
                c.skip(8)?;
            }
            c.skip_string()
        }
        MODULE_2 => {
            c.plain_len()?;
            module::skip_opcodes(c)
        }
        VALKEY_HASH_2 if h.dialect == Dialect::Valkey => {
            let n = c.count("hash", 10)?;
            for _ in 0..n {
                c.skip_string()?;
                c.skip_string()?;
                c.skip(8)?;
            }
            Ok(())
        }
        // Streams and the rest: a full decode with nothing listening.
        _ => decode(c, t, h, &mut super::visit::Ignore, &mut Scratch::default()),
    }
}
