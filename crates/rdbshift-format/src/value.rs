//! Decoding one value body (`rdbLoadObject` in `src/rdb.c`) into [`Visitor`] events.
//!
//! Invariant: nothing here allocates in proportion to a count read from the file before the
//! file has shown it holds that many items; collections are streamed element by element.
//!
//! Integrity: a value the server refuses to load (with `sanitize-dump-payload yes`) is
//! refused here, with the offset of the offending element, and never repaired: the
//! container rules live in the container modules (`ziplist`, `listpack`,
//! `intset`, `zipmap`, [`super::stream`]); this module adds the rules of
//! `rdbLoadObject` itself: no duplicate set/zset members or hash fields in any encoding
//! (found in bounded memory with a `Seen` table), no NaN score, quicklist nodes that are neither
//! empty strings nor of an unknown container, even element counts for pairs, and the
//! field-TTL rules of hashes. Each rule, with the server check behind it (file, function,
//! line of Redis 8.6.3), is listed in the repository's `docs/integrity-rules.md`.

use super::cursor::{Cursor, Origin, RStr, Str, parse_double};
use super::dupset::{Dup, ElementAt, RdbStrings, Seen};
use super::error::{Error, ErrorKind, Result, show_bytes};
use super::header::{Dialect, Header};
use super::intset::Intset;
use super::listpack::{self, Listpack};
use super::template::{self, Template};
use super::types::*;
use super::visit::{ArrayValue, Container, ModuleValue, Visitor};
use super::ziplist::{self, Ziplist};
use super::zipmap::{self, Zipmap};
use super::{module, stream};

/// Scratch buffers for LZF content and the duplicate set, reused across values.
#[derive(Default)]
pub struct Scratch {
    a: Vec<u8>,
    b: Vec<u8>,
    blob: Vec<u8>,
    pub(crate) seen: Seen,
    tmpl: template::Bufs,
}

/// The duplicate set is sized up front for the declared count, but for no more elements
/// than one per this many bytes that remain (its table then takes at most about the size
/// of the input it covers).
const RESERVE_BYTES: u64 = 32;

/// Largest listpack the server builds (`LISTPACK_MAX_SAFETY_SIZE`, `lpSafeToAdd`).
const LISTPACK_MAX_SAFETY_SIZE: u64 = 1 << 30;

/// The file offset of a string's bytes just read from `c` (for raw strings: after the
/// length prefix that starts at `at`), so that errors inside a container name real offsets.
fn data_offset(c: &Cursor, s: &RStr, at: u64) -> u64 {
    match s {
        RStr::Raw(b) => c.offset() - b.len() as u64,
        _ => at,
    }
}

/// Reads a string holding a container and opens a cursor over its bytes.
fn open_container<'b, 'a: 'b>(
    c: &mut Cursor<'a>,
    blob: &'b mut Vec<u8>,
    container: &'static str,
) -> Result<Cursor<'b>> {
    let at = c.offset();
    let s = c.string()?;
    s.open(blob, container, data_offset(c, &s, at))
}

/// The error for a duplicate found in the elements of `c` (read again through `src`).
// rdb.c rdbLoadObject "Duplicate set members/zset fields/hash fields detected" (hashtable
// encodings, always), "Hash zipmap with dup elements" (always), ziplist pairs (always, rdb.c:2013)
// and listpacks (lpValidateIntegrityAndDups, sanitize-dump-payload yes)
fn dup_error(
    d: Dup,
    src: &dyn ElementAt,
    c: &Cursor,
    container: &'static str,
    what: &str,
) -> Error {
    let mut buf = Vec::new();
    let shown = src.bytes_at(d.second, &mut buf).map(show_bytes).unwrap_or_default();
    let first = match c.origin() {
        Origin::File(base) => format!("first at byte offset {}", base + d.first),
        Origin::Lzf(_) => format!("first at offset {} inside the LZF-compressed blob", d.first),
    };
    c.err_at(
        d.second as usize,
        ErrorKind::Corrupt { container, reason: format!("duplicate {what} \"{shown}\" ({first})") },
    )
}

/// Refuses a duplicate: records `x` (found at `pos` of `c`'s bytes) in `seen`.
fn no_dup(
    seen: &mut Seen,
    x: Str,
    pos: usize,
    src: &dyn ElementAt,
    c: &Cursor,
    container: &'static str,
    what: &str,
) -> Result<()> {
    let mut t = itoa::Buffer::new();
    match seen.check(x.bytes(&mut t), pos as u64, src)? {
        None => Ok(()),
        Some(d) => Err(dup_error(d, src, c, container, what)),
    }
}

/// Refuses a duplicate among the elements [`no_dup`] left pending (at the end of a
/// collection).
fn no_dup_left(
    seen: &mut Seen,
    src: &dyn ElementAt,
    c: &Cursor,
    container: &'static str,
    what: &str,
) -> Result<()> {
    match seen.finish(src)? {
        None => Ok(()),
        Some(d) => Err(dup_error(d, src, c, container, what)),
    }
}

/// A NaN score is refused (`Zset with NAN score detected`).
// rdb.c rdbLoadObject:2366-2371 for skiplist zsets (types 3, 5); in ziplist/listpack zsets
// no server check refuses one up to 128 pairs (past that t_zset.c:329 asserts): kept
// stricter than the server, since no command can write a NaN score (docs/integrity-rules.md)
fn no_nan(score: f64, c: &Cursor, pos: usize, container: &'static str) -> Result<f64> {
    if score.is_nan() {
        return Err(c.err_at(pos, ErrorKind::Corrupt { container, reason: "NaN score".into() }));
    }
    Ok(score)
}

/// The elements of a ziplist or listpack read again by position.
enum Elems<'a> {
    Zip(&'a [u8]),
    Pack(&'a [u8]),
    ZipmapKeys(&'a [u8]),
}

impl ElementAt for Elems<'_> {
    fn bytes_at<'s>(&'s self, pos: u64, buf: &'s mut Vec<u8>) -> Result<&'s [u8]> {
        let v = match *self {
            Elems::Zip(d) => ziplist::element_at(d, pos as usize)?,
            Elems::Pack(d) => listpack::element_at(d, pos as usize)?,
            Elems::ZipmapKeys(d) => return zipmap::key_at(d, pos as usize),
        };
        Ok(match v {
            Str::Bytes(b) => b,
            Str::Int(i) => {
                buf.clear();
                buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
                &buf[..]
            }
        })
    }
}

/// Decodes the value of type `t` at the cursor into `v`; the cursor ends after the value.
/// A template hash that refers to the registry (types 30, 32) needs [`decode_with`].
pub fn decode<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    t: u8,
    h: &Header,
    v: &mut V,
    s: &mut Scratch,
) -> Result<()> {
    decode_with(c, t, h, None, v, s)
}

/// [`decode`], given the template the key refers to (see [`super::record::Key::tmpl`]).
pub fn decode_with<'a, V: Visitor<Error = Error>>(
    c: &mut Cursor<'a>,
    t: u8,
    h: &Header,
    tmpl: Option<&Template<'a>>,
    v: &mut V,
    s: &mut Scratch,
) -> Result<()> {
    let Scratch { a, b, blob, seen, tmpl: tbufs } = s;
    match t {
        STRING => {
            let x = c.string()?;
            v.string(x.get(a)?)
        }
        LIST => {
            let n = c.count("collection", 1)?;
            for _ in 0..n {
                v.list_item(c.string()?.get(a)?)?;
            }
            Ok(())
        }
        SET => plain_set(c, v, a, seen),
        ZSET | ZSET_2 => plain_zset(c, t, v, a, seen),
        HASH => plain_hash(c, v, a, b, seen),
        MODULE_PRE_GA => Err(c.err(ErrorKind::ModulePreGa)),
        MODULE_2 => {
            let id = c.plain_len()?;
            let body_start = c.pos();
            module::skip_opcodes(c)?;
            v.module(&ModuleValue { id, body: &c.data()[body_start..c.pos()] })
        }
        HASH_ZIPMAP => zipmap_hash(c, v, blob, seen),
        LIST_ZIPLIST | ZSET_ZIPLIST | HASH_ZIPLIST => {
            let zc = open_container(c, blob, "ziplist")?;
            v.container(Container::Ziplist, zc.remaining())?;
            let z = Ziplist::open(zc)?;
            compact(ZipOrPack::Zip(z), kind(t), v, seen)
        }
        SET_INTSET => {
            let ic = open_container(c, blob, "intset")?;
            v.container(Container::Intset, ic.remaining())?;
            let mut i = Intset::open(ic)?;
            while let Some(x) = i.next_int()? {
                v.set_member(Str::Int(x))?;
            }
            Ok(())
        }
        LIST_QUICKLIST => quicklist(c, v, blob, seen),
        LIST_QUICKLIST_2 => quicklist_2(c, v, a, blob, seen),
        HASH_LISTPACK | ZSET_LISTPACK | SET_LISTPACK => {
            let lc = open_container(c, blob, "listpack")?;
            v.container(Container::Listpack, lc.remaining())?;
            let lp = Listpack::open(lc)?;
            compact(ZipOrPack::Pack(lp), kind(t), v, seen)
        }
        STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 => {
            stream::decode(c, t, v, a, h.dialect == Dialect::Valkey)
        }
        STREAM_LISTPACKS_4 if h.dialect == Dialect::Redis => stream::decode(c, t, v, a, false),
        STREAM_LISTPACKS_5 if types_ok(t, h) => stream::decode(c, t, v, a, false),
        ARRAY if types_ok(t, h) => array(c, v, a),
        HASH_TMPL_LP | HASH_TMPL_LP_REF | HASH_TMPL_ARRAY | HASH_TMPL_ARRAY_REF
            if types_ok(t, h) =>
        {
            template::decode(c, t, tmpl, v, tbufs)
        }
        VALKEY_HASH_2 if h.dialect == Dialect::Valkey => valkey_hash2(c, v, a, b, seen),
        HASH_METADATA_PRE_GA | HASH_METADATA if h.dialect == Dialect::Redis => {
            hash_with_ttls(c, t, v, a, b, seen)
        }
        HASH_LISTPACK_EX_PRE_GA | HASH_LISTPACK_EX if h.dialect == Dialect::Redis => {
            listpack_ex(c, t, v, blob, seen)
        }
        _ => Err(c.err(ErrorKind::UnknownType(t))),
    }
}

/// A set as RDB strings (type 2): members must be unique.
fn plain_set<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    v: &mut V,
    a: &mut Vec<u8>,
    seen: &mut Seen,
) -> Result<()> {
    let src = RdbStrings(c.data());
    let n = c.count("collection", 1)?;
    seen.clear();
    seen.reserve(n.min(c.remaining() as u64 / RESERVE_BYTES));
    for _ in 0..n {
        let at = c.pos();
        let x = c.string()?.get(a)?;
        no_dup(seen, x, at, &src, c, "set", "member")?;
        v.set_member(x)?;
    }
    no_dup_left(seen, &src, c, "set", "member")
}

/// A sorted set as RDB strings with text (type 3) or binary (type 5) scores.
fn plain_zset<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    t: u8,
    v: &mut V,
    a: &mut Vec<u8>,
    seen: &mut Seen,
) -> Result<()> {
    let src = RdbStrings(c.data());
    let n = c.count("sorted set", if t == ZSET { 2 } else { 9 })?;
    seen.clear();
    seen.reserve(n.min(c.remaining() as u64 / RESERVE_BYTES));
    for _ in 0..n {
        let at = c.pos();
        let m = c.string()?;
        let score_at = c.pos();
        let score = if t == ZSET { c.text_double()? } else { c.f64_le()? };
        let score = no_nan(score, c, score_at, "sorted set")?;
        let m = m.get(a)?;
        no_dup(seen, m, at, &src, c, "sorted set", "member")?;
        v.zset_member(m, score)?;
    }
    no_dup_left(seen, &src, c, "sorted set", "member")
}

/// One field and its value as RDB strings (types 4, 21, 22), the field checked unique
/// among the hash's fields so far; `bufs` hold them when they are compressed.
fn string_field<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    v: &mut V,
    (a, b): (&mut Vec<u8>, &mut Vec<u8>),
    seen: &mut Seen,
    src: &RdbStrings,
    expire: Option<i64>,
) -> Result<()> {
    let at = c.pos();
    let f = c.string()?;
    let x = c.string()?;
    let f = f.get(a)?;
    no_dup(seen, f, at, src, c, "hash", "field")?;
    v.hash_field(f, x.get(b)?, expire)
}

/// A hash as RDB strings (type 4): fields must be unique.
fn plain_hash<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    v: &mut V,
    a: &mut Vec<u8>,
    b: &mut Vec<u8>,
    seen: &mut Seen,
) -> Result<()> {
    let src = RdbStrings(c.data());
    let n = c.count("hash", 2)?;
    seen.clear();
    seen.reserve(n.min(c.remaining() as u64 / RESERVE_BYTES));
    for _ in 0..n {
        string_field(c, v, (a, b), seen, &src, None)?;
    }
    no_dup_left(seen, &src, c, "hash", "field")
}

/// A zipmap hash (type 9, before Redis 2.6).
fn zipmap_hash<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    v: &mut V,
    blob: &mut Vec<u8>,
    seen: &mut Seen,
) -> Result<()> {
    let zc = open_container(c, blob, "zipmap")?;
    v.container(Container::Zipmap, zc.remaining())?;
    let mut z = Zipmap::open(zc)?;
    seen.clear();
    let keys = Elems::ZipmapKeys(z.cursor().data());
    // the server rebuilds the zipmap as a listpack, refusing one that outgrows it
    let mut lp_bytes = 7u64;
    loop {
        let pos = z.pos();
        let Some((f, x)) = z.next_pair()? else { break };
        no_dup(seen, Str::Bytes(f), pos, &keys, z.cursor(), "zipmap", "field")?;
        if lp_bytes + (f.len() + x.len()) as u64 > LISTPACK_MAX_SAFETY_SIZE {
            return Err(z.cursor().err_at(
                pos,
                ErrorKind::Corrupt {
                    container: "zipmap",
                    reason: "entries outgrow a listpack (1 GiB)".into(),
                },
            ));
        }
        lp_bytes += listpack::entry_size(f) + listpack::entry_size(x);
        v.hash_field(Str::Bytes(f), Str::Bytes(x), None)?;
    }
    no_dup_left(seen, &keys, z.cursor(), "zipmap", "field")
}

/// A quicklist of ziplists (type 14).
fn quicklist<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    v: &mut V,
    blob: &mut Vec<u8>,
    seen: &mut Seen,
) -> Result<()> {
    let n = c.count("quicklist nodes", 1)?;
    for _ in 0..n {
        let at = c.offset();
        let node = c.string()?;
        if node.decoded_len() == 0 {
            return Err(Error::corrupt(at, "quicklist", "empty node"));
        }
        v.container(Container::Ziplist, node.decoded_len())?;
        let z = Ziplist::open(node.open(blob, "ziplist", data_offset(c, &node, at))?)?;
        compact(ZipOrPack::Zip(z), Kind::List, v, seen)?;
    }
    Ok(())
}

/// A quicklist of plain nodes and listpacks (type 18).
fn quicklist_2<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    v: &mut V,
    a: &mut Vec<u8>,
    blob: &mut Vec<u8>,
    seen: &mut Seen,
) -> Result<()> {
    let n = c.count("quicklist nodes", 2)?;
    for _ in 0..n {
        let at = c.offset();
        let container = c.plain_len()?;
        if container != 1 && container != 2 {
            return Err(Error::corrupt(
                at,
                "quicklist",
                format!("unknown node container {container}"),
            ));
        }
        let node_at = c.offset();
        let node = c.string()?;
        if node.decoded_len() == 0 {
            return Err(Error::corrupt(node_at, "quicklist", "empty node"));
        }
        if container == 1 {
            v.container(Container::PlainNode, node.decoded_len())?;
            v.list_item(node.get(a)?)?;
        } else {
            v.container(Container::Listpack, node.decoded_len())?;
            let lp =
                Listpack::open(node.open(blob, "listpack", data_offset(c, &node, node_at))?)?;
            compact(ZipOrPack::Pack(lp), Kind::List, v, seen)?;
        }
    }
    Ok(())
}

/// A hash with field TTLs as RDB strings (types 21 and 22, Redis 7.4+).
fn hash_with_ttls<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    t: u8,
    v: &mut V,
    a: &mut Vec<u8>,
    b: &mut Vec<u8>,
    seen: &mut Seen,
) -> Result<()> {
    let src = RdbStrings(c.data());
    let min_expire = if t == HASH_METADATA {
        let at = c.pos();
        let m = c.u64_le()?;
        if m > EXPIRE_TIME_MAX + 1 {
            return Err(c.err_at(
                at,
                ErrorKind::Corrupt {
                    container: "hash",
                    reason: format!("minimum field expiry {m} out of range"),
                },
            ));
        }
        Some(m)
    } else {
        None
    };
    let n = c.count("hash", 3)?;
    seen.clear();
    seen.reserve(n.min(c.remaining() as u64 / RESERVE_BYTES));
    for _ in 0..n {
        let ttl_at = c.offset();
        let ttl = c.plain_len()?;
        let expire = match (ttl, min_expire) {
            (0, _) => None,
            (t, Some(m)) => Some(t.wrapping_add(m).wrapping_sub(1)),
            (t, None) => Some(t),
        };
        let expire = checked_expire(expire, ttl_at)?;
        string_field(c, v, (a, b), seen, &src, expire)?;
    }
    no_dup_left(seen, &src, c, "hash", "field")
}

/// A listpack hash with field TTLs (types 23 and 25, Redis 7.4+).
fn listpack_ex<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    t: u8,
    v: &mut V,
    blob: &mut Vec<u8>,
    seen: &mut Seen,
) -> Result<()> {
    if t == HASH_LISTPACK_EX {
        c.u64_le()?; // min expire: a hint, the fields carry their own times
    }
    let lc = open_container(c, blob, "listpack")?;
    v.container(Container::Listpack, lc.remaining())?;
    let mut lp = Listpack::open(lc)?;
    seen.clear();
    let elems = Elems::Pack(lp.cursor().data());
    // the TTLs: integer-encoded, in range, ascending, those without TTL last
    // (`_lpEntryValidation` in rdb.c)
    let mut last: i64 = -1;
    loop {
        let pos = lp.pos();
        let Some(f) = lp.next_elem()? else { break };
        no_dup(seen, f, pos, &elems, lp.cursor(), "listpack", "hash field")?;
        let x = lp.expect("a hash value")?;
        let ttl_at = lp.pos();
        let ttl = lp.expect_encoded_int("a field TTL")?;
        let bad = |why: String| {
            lp.cursor().err_at(ttl_at, ErrorKind::Corrupt { container: "listpack", reason: why })
        };
        if ttl < 0 || ttl as u64 > EXPIRE_TIME_MAX {
            return Err(bad(format!("field expiry {ttl} out of range")));
        }
        if ttl != 0 && (last == 0 || ttl < last) {
            return Err(bad(format!(
                "field expiry {ttl} after {last}: fields must be ordered by expiry, those without one last"
            )));
        }
        last = ttl;
        v.hash_field(f, x, (ttl != 0).then_some(ttl))?;
    }
    no_dup_left(seen, &elems, lp.cursor(), "listpack", "hash field")
}

/// Whether the type, one of 27-32, exists in this file's dialect and version.
fn types_ok(t: u8, h: &Header) -> bool {
    is_value_type(t, h)
}

/// A Redis 8.8 array (type 28; docs/rdb-newest-formats.md section 3, from `rdbSaveObject`
/// and `rdbLoadObject` in `src/rdb.c`, tags from `src/sparsearray.h`): `len count` (> 0),
/// `len has_insert` (0 or 1), `[len insert_idx]`, then per element `len idx`, `len tag`,
/// and the payload (0 SDS: a string; 1 INT: 8-byte LE i64; 2 FLOAT: 8-byte LE f64; 3
/// SMALLSTR: a string of at most 7 bytes).
///
/// Indices must be plain lengths below 2^64-1 and strictly ascending: the server's writer
/// walks its slices in index order and never writes one twice. Its loader does not check
/// the order (a duplicate would silently replace an element and leave the count short);
/// we refuse both, as no server-written file has them. Nothing is allocated per index.
fn array<V: Visitor<Error = Error>>(c: &mut Cursor, v: &mut V, buf: &mut Vec<u8>) -> Result<()> {
    let bad = |c: &Cursor, at: usize, why: String| {
        c.err_at(at, ErrorKind::Corrupt { container: "array", reason: why })
    };
    let n_at = c.pos();
    let n = c.count("array elements", 3)?;
    if n == 0 {
        return Err(bad(c, n_at, "empty array (count 0)".into()));
    }
    let flag_at = c.pos();
    let insert = match c.plain_len()? {
        0 => None,
        1 => {
            let at = c.pos();
            let i = c.plain_len()?;
            if i == u64::MAX {
                return Err(bad(c, at, "insert index 2^64-1".into()));
            }
            Some(i)
        }
        f => return Err(bad(c, flag_at, format!("insert flag {f} (0 or 1)"))),
    };
    v.array_meta(insert)?;
    let mut prev: Option<u64> = None;
    for _ in 0..n {
        let at = c.pos();
        let idx = c.plain_len()?;
        if idx == u64::MAX {
            return Err(bad(c, at, "index 2^64-1".into()));
        }
        if let Some(p) = prev.filter(|p| *p >= idx) {
            let why = if p == idx {
                format!("index {idx} twice")
            } else {
                format!("index {idx} after {p}: indices must ascend")
            };
            return Err(bad(c, at, why));
        }
        prev = Some(idx);
        let tag_at = c.pos();
        let x = match c.plain_len()? {
            0 => ArrayValue::Str(c.string()?.get(buf)?),
            1 => ArrayValue::Int(c.i64_le()?),
            2 => ArrayValue::Float(c.f64_le()?),
            3 => {
                let s_at = c.pos();
                let s = c.string()?;
                if s.decoded_len() > 7 {
                    return Err(bad(
                        c,
                        s_at,
                        format!("small string of {} bytes (at most 7)", s.decoded_len()),
                    ));
                }
                ArrayValue::Str(s.get(buf)?)
            }
            tag => return Err(bad(c, tag_at, format!("element tag {tag} (0 to 3)"))),
        };
        v.array_element(idx, x)?;
    }
    Ok(())
}

/// Largest field expiry Redis accepts (`EB_EXPIRE_TIME_MAX`, 2^48 - 1 ms).
const EXPIRE_TIME_MAX: u64 = (1 << 48) - 1;

fn checked_expire(e: Option<u64>, at: u64) -> Result<Option<i64>> {
    match e {
        Some(x) if x > EXPIRE_TIME_MAX => {
            Err(Error::corrupt(at, "hash", format!("field expiry {x} out of range")))
        }
        other => Ok(other.map(|x| x as i64)),
    }
}

/// Valkey 9 `HASH_2` (type 22 in `VALKEY` files): a count, then per field the field, the
/// value and an 8-byte LE absolute expiry in ms, -1 for none.
fn valkey_hash2<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    v: &mut V,
    a: &mut Vec<u8>,
    b: &mut Vec<u8>,
    seen: &mut Seen,
) -> Result<()> {
    let n = c.count("hash", 10)?;
    let src = RdbStrings(c.data());
    seen.clear();
    seen.reserve(n.min(c.remaining() as u64 / RESERVE_BYTES));
    for _ in 0..n {
        let f_at = c.pos();
        let f = c.string()?;
        let x = c.string()?;
        let at = c.offset();
        let e = c.i64_le()?;
        let expire = match e {
            -1 => None,
            e if e < -1 => return Err(Error::corrupt(at, "hash", format!("field expiry {e}"))),
            e => Some(e),
        };
        let f = f.get(a)?;
        no_dup(seen, f, f_at, &src, c, "hash", "field")?;
        v.hash_field(f, x.get(b)?, expire)?;
    }
    no_dup_left(seen, &src, c, "hash", "field")
}

enum ZipOrPack<'a> {
    Zip(Ziplist<'a>),
    Pack(Listpack<'a>),
}

impl<'a> ZipOrPack<'a> {
    fn next(&mut self) -> Result<Option<Str<'a>>> {
        match self {
            ZipOrPack::Zip(z) => z.next_elem(),
            ZipOrPack::Pack(p) => p.next_elem(),
        }
    }
    fn expect(&mut self, what: &str) -> Result<Str<'a>> {
        match self {
            ZipOrPack::Zip(z) => z.next_elem()?.ok_or_else(|| z.end_error(what)),
            ZipOrPack::Pack(p) => p.expect(what),
        }
    }
    fn pos(&self) -> usize {
        match self {
            ZipOrPack::Zip(z) => z.pos(),
            ZipOrPack::Pack(p) => p.pos(),
        }
    }
    fn cursor(&self) -> &Cursor<'a> {
        match self {
            ZipOrPack::Zip(z) => z.cursor(),
            ZipOrPack::Pack(p) => p.cursor(),
        }
    }
    fn name(&self) -> &'static str {
        match self {
            ZipOrPack::Zip(_) => "ziplist",
            ZipOrPack::Pack(_) => "listpack",
        }
    }
    fn elems(&self) -> Elems<'a> {
        match self {
            ZipOrPack::Zip(z) => Elems::Zip(z.cursor().data()),
            ZipOrPack::Pack(p) => Elems::Pack(p.cursor().data()),
        }
    }
}

/// Walks a ziplist or listpack holding a list, set, zset (member, score) or hash (field,
/// value). Members and fields must be unique (`lpValidateIntegrityAndDups`,
/// `ziplistPairsConvertAndValidateIntegrity`), pairs complete.
fn compact<V: Visitor<Error = Error>>(
    mut z: ZipOrPack,
    k: Kind,
    v: &mut V,
    seen: &mut Seen,
) -> Result<()> {
    let elems = z.elems();
    let what = match k {
        Kind::Set | Kind::Zset => "member",
        _ => "field",
    };
    if k != Kind::List {
        seen.clear();
    }
    loop {
        let pos = z.pos();
        let Some(x) = z.next()? else { break };
        if k != Kind::List {
            no_dup(seen, x, pos, &elems, z.cursor(), z.name(), what)?;
        }
        match k {
            Kind::List => v.list_item(x)?,
            Kind::Set => v.set_member(x)?,
            Kind::Zset => {
                let score_at = z.pos();
                let s = z.expect("a score")?;
                let score = match s {
                    Str::Int(i) => i as f64,
                    Str::Bytes(b) => parse_double(b).ok_or_else(|| z.bad_score(score_at))?,
                };
                let score = no_nan(score, z.cursor(), score_at, z.name())?;
                v.zset_member(x, score)?
            }
            _ => {
                let val = z.expect("a hash value")?;
                v.hash_field(x, val, None)?
            }
        }
    }
    if k != Kind::List {
        no_dup_left(seen, &elems, z.cursor(), z.name(), what)?;
    }
    Ok(())
}

impl ZipOrPack<'_> {
    // stricter than the server: it reads such a score as 0 (zzlStrtod); no server writes one
    fn bad_score(&self, at: usize) -> Error {
        self.cursor().err_at(
            at,
            ErrorKind::Corrupt { container: self.name(), reason: "score is not a number".into() },
        )
    }
}

/// Counts the elements a value holds (string and module values count 1, streams their
/// live entries).
struct Count(u64);

impl Visitor for Count {
    type Error = crate::Error;
    fn string(&mut self, _v: Str<'_>) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn list_item(&mut self, _v: Str<'_>) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn set_member(&mut self, _v: Str<'_>) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn zset_member(&mut self, _m: Str<'_>, _score: f64) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn hash_field(&mut self, _f: Str<'_>, _v: Str<'_>, _e: Option<i64>) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn stream_entry(&mut self, _e: &super::stream::StreamEntry<'_>) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn module(&mut self, _m: &ModuleValue<'_>) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn array_element(&mut self, _i: u64, _v: ArrayValue<'_>) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
}

/// Checks a whole value as the server does before it accepts it (`rdbLoadObject` with
/// `sanitize-dump-payload yes`: every container walked, every rule of [`decode`]), without
/// producing anything; returns how many elements it holds. This is what must pass before
/// a value's stored bytes are sent on unchanged (a `RESTORE` payload). The cost is one
/// walk of the value; no element is copied, the only memory is the duplicate set.
#[cfg(test)]
pub(crate) fn validate(c: &mut Cursor, t: u8, h: &Header, s: &mut Scratch) -> Result<u64> {
    validate_with(c, t, h, None, s)
}

/// [`validate`] given the key's template (types 30, 32).
pub fn validate_with<'a>(
    c: &mut Cursor<'a>,
    t: u8,
    h: &Header,
    tmpl: Option<&Template<'a>>,
    s: &mut Scratch,
) -> Result<u64> {
    let mut n = Count(0);
    decode_with(c, t, h, tmpl, &mut n, s)?;
    Ok(n.0)
}

/// Whether [`skip`] checks the whole value of type `t` (it decodes streams, whose end
/// cannot be found otherwise).
pub fn skip_checks(t: u8, h: &Header) -> bool {
    match t {
        STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 => true,
        STREAM_LISTPACKS_4 => h.dialect == Dialect::Redis,
        STREAM_LISTPACKS_5 => is_value_type(t, h),
        _ => false,
    }
}

/// Skips a value without decoding its elements (no LZF decompression, no container walk);
/// used to find where a key ends.
pub fn skip(c: &mut Cursor, t: u8, h: &Header, odd: &mut super::visit::Oddities) -> Result<()> {
    match t {
        STRING | HASH_ZIPMAP | LIST_ZIPLIST | SET_INTSET | ZSET_ZIPLIST | HASH_ZIPLIST
        | HASH_LISTPACK | ZSET_LISTPACK | SET_LISTPACK => c.skip_string(),
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
        // Streams and the rest: a full decode, listening only for oddities.
        _ => decode(c, t, h, odd, &mut Scratch::default()),
    }
}

#[cfg(test)]
mod tests {
    //! Hand-made values for each rule `rdbLoadObject` adds to the container checks.
    use super::*;
    use crate::listpack::tests::build as lp;
    use crate::ziplist::tests::build as zl;

    fn h() -> Header {
        Header::parse(b"REDIS0013", false).unwrap()
    }

    /// An RDB string with a 6- or 14-bit length.
    fn s(b: &[u8]) -> Vec<u8> {
        let mut v = if b.len() < 64 {
            vec![b.len() as u8]
        } else {
            vec![0x40 | (b.len() >> 8) as u8, b.len() as u8]
        };
        v.extend_from_slice(b);
        v
    }

    /// Checks a value of type `t` placed at file offset 100.
    fn check(t: u8, body: &[u8]) -> Result<u64> {
        let mut data = vec![0u8; 100];
        data.extend_from_slice(body);
        let mut c = Cursor::file(&data);
        c.set_pos(100);
        let n = validate(&mut c, t, &h(), &mut Scratch::default())?;
        assert_eq!(c.remaining(), 0, "the whole value is read");
        Ok(n)
    }

    fn refused(t: u8, body: &[u8], says: &str) -> Error {
        let e = check(t, body).expect_err(says);
        assert!(e.to_string().contains(says), "{e} (expected {says:?})");
        e
    }

    #[test]
    fn duplicates_in_hashtable_encodings() {
        let mut set = vec![3];
        set.extend([s(b"a"), s(b"b"), s(b"a")].concat());
        let e = refused(SET, &set, "duplicate member \"a\" (first at byte offset 101)");
        assert_eq!(e.offset, 105);
        // an integer-encoded member is its decimal text
        let mut set = vec![2];
        set.extend(s(b"12"));
        set.extend([0xc0, 12]);
        refused(SET, &set, "duplicate member \"12\"");
        let mut hash = vec![2];
        hash.extend([s(b"f"), s(b"1"), s(b"f"), s(b"2")].concat());
        refused(HASH, &hash, "duplicate field \"f\"");
        let mut zset = vec![2];
        zset.extend(
            [s(b"m"), 1.0f64.to_le_bytes().to_vec(), s(b"m"), 2.0f64.to_le_bytes().to_vec()]
                .concat(),
        );
        refused(ZSET_2, &zset, "duplicate member \"m\"");
        // the same members in different keys (or a list) are fine
        let mut list = vec![2];
        list.extend([s(b"a"), s(b"a")].concat());
        assert_eq!(check(LIST, &list).unwrap(), 2);
        // many members: the table path, one duplicate at the end
        let mut big = vec![0x40 | (301u16 >> 8) as u8, 301u16 as u8];
        for i in 0..300 {
            big.extend(s(format!("member{i}").as_bytes()));
        }
        big.extend(s(b"member7"));
        refused(SET, &big, "duplicate member \"member7\"");
    }

    #[test]
    fn duplicates_in_compact_encodings() {
        // a listpack set holding "5" as a string and 5 as an integer: the same member
        let pack = lp(&[Str::Bytes(b"5"), Str::Int(5)]);
        refused(SET_LISTPACK, &s(&pack), "duplicate member \"5\"");
        let pack = lp(&[Str::Bytes(b"f"), Str::Int(1), Str::Bytes(b"f"), Str::Int(2)]);
        refused(HASH_LISTPACK, &s(&pack), "duplicate field \"f\"");
        // values may repeat, fields not
        let pack = lp(&[Str::Bytes(b"f"), Str::Int(1), Str::Bytes(b"g"), Str::Int(1)]);
        assert_eq!(check(HASH_LISTPACK, &s(&pack)).unwrap(), 2);
        let zip = zl(&[b"\x01m", b"\xf2", b"\x01m", b"\xf3"]);
        refused(ZSET_ZIPLIST, &s(&zip), "duplicate member \"m\"");
        let zip = zl(&[b"\x01a", b"\x01x", b"\x01b"]);
        refused(HASH_ZIPLIST, &s(&zip), "ends where a hash value was expected");
        let mut zm = vec![2, 1, b'a', 1, 0, b'x', 1, b'a', 1, 0, b'y', 255];
        refused(HASH_ZIPMAP, &s(&zm), "duplicate field \"a\"");
        zm[7] = b'b';
        assert_eq!(check(HASH_ZIPMAP, &s(&zm)).unwrap(), 2);
    }

    #[test]
    fn nan_scores() {
        let mut z = vec![1];
        z.extend(s(b"m"));
        z.push(253); // the text-double form of NaN
        refused(ZSET, &z, "NaN score");
        let pack = lp(&[Str::Bytes(b"m"), Str::Bytes(b"nan")]);
        refused(ZSET_LISTPACK, &s(&pack), "NaN score");
        let pack = lp(&[Str::Bytes(b"m"), Str::Bytes(b"inf")]);
        assert_eq!(check(ZSET_LISTPACK, &s(&pack)).unwrap(), 1);
    }

    #[test]
    fn quicklist_nodes() {
        let node = lp(&[Str::Bytes(b"x")]);
        let good = [vec![1, 2], s(&node)].concat();
        assert_eq!(check(LIST_QUICKLIST_2, &good).unwrap(), 1);
        refused(LIST_QUICKLIST_2, &[1, 3, 1, b'x'], "unknown node container 3");
        refused(LIST_QUICKLIST_2, &[1, 2, 0], "empty node");
        refused(LIST_QUICKLIST_2, &[1, 1, 0], "empty node");
        refused(LIST_QUICKLIST, &[1, 0], "empty node");
        // an empty listpack or ziplist node is skipped, as the server does; all empty: an
        // empty list (which the caller leaves out)
        let empty = [vec![2, 2], s(&lp(&[])), vec![1], s(b"y")].concat();
        assert_eq!(check(LIST_QUICKLIST_2, &empty).unwrap(), 1);
        assert_eq!(check(LIST_QUICKLIST, &[vec![1], s(&zl(&[]))].concat()).unwrap(), 0);
    }

    #[test]
    fn field_ttls() {
        let ex = |items: &[Str]| [vec![0; 8], s(&lp(items))].concat();
        let (f, g, v) = (Str::Bytes(b"f"), Str::Bytes(b"g"), Str::Bytes(b"v"));
        let t = 1_700_000_000_000i64;
        assert_eq!(
            check(HASH_LISTPACK_EX, &ex(&[f, v, Str::Int(t), g, v, Str::Int(0)])).unwrap(),
            2
        );
        refused(
            HASH_LISTPACK_EX,
            &ex(&[f, v, Str::Int(0), g, v, Str::Int(t)]),
            "those without one last",
        );
        refused(
            HASH_LISTPACK_EX,
            &ex(&[f, v, Str::Int(t), g, v, Str::Int(t - 1)]),
            "ordered by expiry",
        );
        refused(
            HASH_LISTPACK_EX,
            &ex(&[f, v, Str::Bytes(b"1700000000000")]),
            "is a string, not an integer",
        );
        refused(HASH_LISTPACK_EX, &ex(&[f, v, Str::Int(1 << 48)]), "out of range");
        refused(HASH_LISTPACK_EX, &ex(&[f, v, Str::Int(-5)]), "out of range");
        refused(
            HASH_LISTPACK_EX,
            &ex(&[f, v, Str::Int(t), f, v, Str::Int(t)]),
            "duplicate hash field",
        );
        // type 24: the minimum expiry must be a time or "none" (2^48)
        let mut b = ((1u64 << 48) + 1).to_le_bytes().to_vec();
        b.push(0);
        refused(HASH_METADATA, &b, "minimum field expiry");
        let mut b = (1u64 << 48).to_le_bytes().to_vec();
        b.push(0);
        assert_eq!(check(HASH_METADATA, &b).unwrap(), 0);
    }

    #[test]
    fn errors_inside_a_container_name_the_file_offset() {
        // raw: the offset is the element's own, past the string's length prefix
        let pack = lp(&[Str::Bytes(b"a"), Str::Bytes(b"a")]);
        let e = refused(SET_LISTPACK, &s(&pack), "duplicate member");
        assert_eq!(e.offset, 101 + 6 + 3, "data at 101, header 6, first element 3 bytes");
        assert_eq!(e.inner, None);
        // LZF-compressed: the blob's offset and the offset inside it
        let mut blob = vec![0xc3, 14, 13]; // compressed 14 bytes (one literal run), 13 decompressed
        blob.extend([12, 13, 0, 0, 0, 2, 0, 0x81, b'a', 2, 0x81, b'a', 2, 0xff]);
        let e = refused(SET_LISTPACK, &blob, "duplicate member");
        assert_eq!((e.offset, e.inner), (100, Some(9)));
        assert!(e.to_string().contains("first at offset 6 inside the LZF-compressed blob"), "{e}");
    }

    /// Decodes a type 28 body at offset 100 of a v14 value (docs/rdb-newest-formats.md 3.1).
    type ArraySeen = (Option<u64>, Vec<(u64, String)>);
    fn array_of(body: &[u8]) -> Result<ArraySeen> {
        #[derive(Default)]
        struct Got(Option<u64>, Vec<(u64, String)>);
        impl Visitor for Got {
            type Error = crate::Error;
            fn array_meta(&mut self, i: Option<u64>) -> Result<()> {
                self.0 = i;
                Ok(())
            }
            fn array_element(&mut self, i: u64, v: ArrayValue<'_>) -> Result<()> {
                self.1.push((i, String::from_utf8_lossy(v.text(&mut Vec::new())).into_owned()));
                Ok(())
            }
        }
        let mut data = vec![0u8; 100];
        data.extend_from_slice(body);
        let mut c = Cursor::file(&data);
        c.set_pos(100);
        let mut g = Got::default();
        decode(
            &mut c,
            ARRAY,
            &Header::parse(b"REDIS0014", false).unwrap(),
            &mut g,
            &mut Scratch::default(),
        )?;
        assert_eq!(c.remaining(), 0);
        Ok((g.0, g.1))
    }

    #[test]
    fn arrays_every_tag_and_rule() {
        let mut b = vec![5, 1, 7];
        b.extend([0, 0]);
        b.extend(s(b"a long string"));
        b.extend([1, 1]);
        b.extend((-42i64).to_le_bytes());
        b.extend([2, 2]);
        b.extend(100f64.to_le_bytes());
        b.extend([3, 2]);
        b.extend(0.25f64.to_le_bytes());
        b.extend([7, 3]);
        b.extend(s(b"abc"));
        let (ins, els) = array_of(&b).unwrap();
        assert_eq!(ins, Some(7));
        let want = [(0, "a long string"), (1, "-42"), (2, "100.0"), (3, "0.25"), (7, "abc")];
        assert_eq!(els, want.map(|(i, v)| (i, v.to_string())));
        // the largest index (a 0x81 length: 2^64-2)
        let mut b = vec![1, 0, 0x81];
        b.extend((u64::MAX - 1).to_be_bytes());
        b.extend([3, 0xc0, 5]);
        assert_eq!(array_of(&b).unwrap().1, vec![(u64::MAX - 1, "5".into())]);
        let bad = |b: &[u8], says: &str| {
            let e = array_of(b).expect_err(says);
            assert!(e.to_string().contains(says), "{e} (expected {says:?})");
            e
        };
        let e = bad(&[0, 0], "empty array");
        assert_eq!(e.offset, 100);
        bad(&[1, 2, 0, 0, 1, b'x'], "insert flag 2");
        bad(&[1, 0, 0, 4, 1, b'x'], "element tag 4");
        let e = bad(&[2, 0, 5, 3, 1, b'x', 5, 3, 1, b'y'], "index 5 twice");
        assert_eq!(e.offset, 106);
        bad(&[2, 0, 5, 3, 1, b'x', 4, 3, 1, b'y'], "index 4 after 5");
        bad(
            &[1, 0, 0, 3, 8, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h'],
            "small string of 8 bytes",
        );
        bad(&[1, 0, 0xc0, 1, 3, 1, b'x'], "invalid length encoding");
        let mut b = vec![1, 0, 0x81];
        b.extend(u64::MAX.to_be_bytes());
        b.extend([3, 1, b'x']);
        bad(&b, "index 2^64-1");
        bad(&[0x80, 0x10, 0, 0, 0, 0], "array elements length 268435456 exceeds");
        // not a type before RDB 14
        let mut c = Cursor::file(&[1, 0, 0, 3, 1, b'x']);
        let e =
            decode(&mut c, ARRAY, &h(), &mut super::super::visit::Ignore, &mut Scratch::default())
                .unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnknownType(28)), "{e}");
    }
}
