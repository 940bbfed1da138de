//! One key as commands: `SET`, or `DEL` then `RPUSH`/`SADD`/`ZADD`/`HSET`/`ARMSET` in
//! batches of bounded elements and bytes, field TTLs as `HPEXPIREAT ... FIELDS`, an array's
//! insert cursor as `ARSEEK` (Redis 8.8+; older targets cannot hold arrays: counted, not
//! written), then `PEXPIREAT`. Template hashes (8.10) are ordinary `HSET`s.
//! Streams are in [`super::stream`], `RESTORE` payloads in [`super::restore`].
//!
//! Invariants: a key's commands start with `DEL` (or a `SET`/`RESTORE ... REPLACE`, which
//! replaces), so replaying the output twice converges; no command has more than
//! `plan.max_elems` elements, nor more than `plan.max_bytes` argument bytes unless one
//! element alone is larger.

use super::Result;
use super::bufs::Bufs;
use super::out::{Out, ZERO_COPY_MIN, array_header, bulk, bulk_int, bulk_str};
use super::{Counts, KeyWriter, Mode, Plan};
use crate::encode::text;
use crate::format::Str;
use crate::format::record::Key;
use crate::format::types::{self, Kind};
use crate::format::visit::{ArrayValue, ModuleValue, Visitor};

/// Writes the commands for key `k` (named `name`), already selected by the filter.
pub fn key(w: &mut KeyWriter, k: &Key, name: &[u8]) -> Result<()> {
    let plan = w.plan;
    let (out, b, n) = (&mut *w.out, &mut *w.bufs, &mut *w.counts);
    let grouped = out.grouping() && groupable(k);
    let t = &plan.target;
    if dropped_array(plan, k, name, n) {
        return Ok(());
    }
    // a reference template hash (30, 32) goes in a payload as the self-contained form
    let template_ref = matches!(k.ty(), types::HASH_TMPL_LP_REF | types::HASH_TMPL_ARRAY_REF);
    let restorable = t.loads_type(k.ty(), k.header().dialect) && super::restore::fits(k);
    // a plain string is as exact with SET, and SET costs the server less than RESTORE
    let plain_string =
        k.ty() == types::STRING && k.idle().is_none() && k.freq().is_none() && k.meta().is_empty();
    let restore = k.ty() == types::MODULE_2
        || (restorable
            && ((plan.mode == Mode::Restore && !plain_string)
                || (!k.meta().is_empty() && t.key_meta())
                || !commands_exact(k, b)?));
    // A RESTORE payload carries the value's stored bytes unchanged: check them first, as
    // the server does before it accepts a payload, so that a corrupt value never goes out.
    // An empty collection (which a server skips when it loads the file, and refuses in a
    // RESTORE) goes the commands way: a DEL, nothing else.
    let restore = restore
        && {
            let elements = k.validate(&mut b.scratch)?;
            let kind = types::kind(k.ty());
            (elements > 0 || !matches!(kind, Kind::List | Kind::Set | Kind::Zset | Kind::Hash | Kind::Array))
            // a Valkey-written file had its stream lengths checked exactly by the reader
            && !(kind == Kind::Stream
                && t.exact_stream_length()
                && k.header().dialect != crate::format::Dialect::Valkey
                && !stream_length_exact(k, b)?)
        };
    // a value the target cannot load as stored goes re-encoded in a payload where that
    // costs less than commands (BENCHMARKS.md, "RESTORE of re-encoded values")
    let reencoded = if plan.mode == Mode::Restore
        && !restore
        && !restorable
        && !template_ref
        && crate::rewrite::key::reencodable(k)
        && reencode_pays(k)
    {
        let mut lost = Counts::default();
        let p = crate::rewrite::key::payload(k, plan, b, &mut lost)?;
        if p.is_some() {
            n.add(&lost);
        }
        p
    } else {
        None
    };
    if !k.meta().is_empty() && (!(restore || reencoded.is_some()) || !t.key_meta()) {
        n.meta_dropped += 1;
    }
    n.keys += 1;
    if let Some(p) = reencoded {
        n.restored += 1;
        return super::restore::reencoded(plan, k, name, out, &p);
    }
    if restore {
        n.restored += 1;
        if template_ref {
            return super::restore::template_key(plan, k, name, out);
        }
        return super::restore::key(plan, k, name, out);
    }
    if let Some(v) = k.string_value() {
        // the common case, without a visitor (measured: a tenth of a tiny key's cost)
        let v = v.get(&mut b.body).map_err(|e| super::in_key(k, e))?;
        return string(plan, out, name, k.expire_ms(), v, grouped);
    }
    match types::kind(k.ty()) {
        Kind::Stream => {
            super::stream::key(&mut KeyWriter { plan, out, bufs: b, counts: n }, k, name)
        }
        kind => {
            let Bufs { scratch, body, ttls } = b;
            body.clear();
            ttls.clear();
            let mut c = Coll {
                plan,
                key: name,
                out,
                kind,
                expire: k.expire_ms(),
                body,
                args: 0,
                elems: 0,
                ttls,
                wrote: false,
                n,
                insert: None,
                group: grouped,
            };
            if kind != Kind::String {
                c.out.command(&[b"DEL", name])?;
            }
            k.decode(&mut c, scratch)?;
            c.flush_batch().map_err(|e| super::in_key(k, e))?;
            if let (Kind::Array, Some(i)) = (kind, c.insert) {
                // ARSEEK sets the cursor so that the next insert goes to its index: stored + 1
                c.out.command(&[b"ARSEEK", name, itoa::Buffer::new().format(i + 1).as_bytes()])?;
            }
            if c.wrote
                && kind != Kind::String
                && let Some(ms) = k.expire_ms()
            {
                c.out.pexpireat(name, ms)?;
            }
            Ok(())
        }
    }
}

/// A string key with no LRU, LFU or metadata, expiring at `expire`, whose record starts at
/// `record` (a plain string record, [`crate::format::Step::PlainString`], or one a run of
/// [`crate::format::Reader::raw_strings`] read), the filter having kept it: its mark and its
/// commands, exactly what [`key`] writes for it, without its [`Key`]. With no expiry it
/// joins the `MSET` being gathered, when `out` gathers them ([`groupable`] holds for it).
/// On an error the key is left open, for the caller to drop.
pub fn plain_string(
    plan: &Plan,
    out: &mut Out,
    n: &mut Counts,
    record: usize,
    name: &[u8],
    expire: Option<i64>,
    v: Str<'_>,
) -> Result<()> {
    // the slot routes a load; a file needs none
    let slot = out.marked().then(|| crate::slot::of(name));
    let group = out.grouping() && expire.is_none();
    if group {
        out.begin_grouped_key(record, slot, name);
    } else {
        out.begin_key(record, slot, name);
    }
    n.keys += 1;
    string(plan, out, name, expire, v, group)?;
    out.end_key();
    Ok(())
}

/// A string key's commands: its place in the `MSET` being gathered (`group`), or `SET`
/// (with `PXAT`, or a `PEXPIREAT` after it for a target older than 6.2 or a time before 1970).
fn string(
    plan: &Plan,
    out: &mut Out,
    key: &[u8],
    expire: Option<i64>,
    v: Str<'_>,
    group: bool,
) -> Result<()> {
    if group {
        return out.group_string(key, v);
    }
    // PXAT takes only positive times; an older time still goes through PEXPIREAT
    let pxat = plan.target.set_pxat() && expire.is_some_and(|ms| ms > 0);
    if expire.is_some() && pxat {
        out.buf.extend_from_slice(b"*5\r\n$3\r\nSET\r\n");
    } else {
        out.buf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
    }
    bulk(&mut out.buf, key);
    out.bulk_str(v)?;
    if let (Some(ms), true) = (expire, pxat) {
        bulk(&mut out.buf, b"PXAT");
        bulk_int(&mut out.buf, ms);
    }
    out.end_cmd()?;
    if let (Some(ms), false) = (expire, pxat) {
        out.pexpireat(key, ms)?;
    }
    Ok(())
}

/// A plain string: no TTL, no LRU/LFU, no metadata. Such a key is exactly one `SET key
/// value`, so when the output gathers groups ([`Out::with_groups`]) it shares an `MSET`
/// with its neighbours. The engine asks before it begins the key
/// ([`Out::begin_grouped_key`]), and [`key`] writes it so.
pub fn groupable(k: &Key) -> bool {
    k.ty() == types::STRING
        && k.expire_ms().is_none()
        && k.idle().is_none()
        && k.freq().is_none()
        && k.meta().is_empty()
}

/// Whether `RESTORE` of a re-encoded value costs the target less than commands, by kind.
/// Measured into Redis 6.2 (scripts/bench-reencode.sh, BENCHMARKS.md "RESTORE of
/// re-encoded values"): lists 0.95x the wall time of commands, hashes 0.65x, sorted sets
/// 0.55x, sets 0.66x; streams carry in a payload what commands cannot (consumer times,
/// counters). So every kind is re-encoded. `RDBSHIFT_REENCODE` (kind names, comma
/// separated; `none`) overrides it, for that benchmark only.
fn reencode_pays(k: &Key) -> bool {
    static KINDS: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    match KINDS.get_or_init(|| std::env::var("RDBSHIFT_REENCODE").ok()) {
        Some(v) => v.split(',').any(|x| x == k.kind().name()),
        None => true,
    }
}

/// An array (Redis 8.8) for a target that cannot hold one: counted and named, never
/// written. The engine asks before it opens the key, so that a loader never counts the
/// key as delivered.
pub fn dropped_array(plan: &Plan, k: &Key, name: &[u8], n: &mut Counts) -> bool {
    if k.ty() != types::ARRAY || plan.target.arrays() {
        return false;
    }
    n.arrays_dropped += 1;
    if n.arrays_dropped_names.len() < super::NAMES_KEPT {
        n.arrays_dropped_names.push(name.to_vec());
    }
    true
}

/// Whether a stream's stored length (what `XLEN` says) is its live entries: a dump an old
/// server wrote may hold a larger one, which the reader reports as an oddity and Valkey 9
/// refuses.
pub(crate) fn stream_length_exact(k: &Key, b: &mut Bufs) -> Result<bool> {
    let mut odd = crate::format::visit::Oddities::default();
    k.decode(&mut odd, &mut b.scratch)?;
    Ok(odd.get(crate::format::visit::Oddity::StreamLengthNotLive) == 0)
}

/// Whether commands rebuild the value exactly. They cannot write a -0 score into a compact
/// sorted set (`ZADD` stores it as 0 there, while a loaded ziplist/listpack keeps "-0"), so
/// such keys go as `RESTORE`.
fn commands_exact(k: &Key, b: &mut Bufs) -> Result<bool> {
    if k.ty() != types::ZSET_ZIPLIST && k.ty() != types::ZSET_LISTPACK {
        return Ok(true);
    }
    struct NegZero(bool);
    impl Visitor for NegZero {
        type Error = super::Error;
        fn zset_member(&mut self, _m: Str<'_>, score: f64) -> Result<()> {
            self.0 |= score == 0.0 && score.is_sign_negative();
            Ok(())
        }
    }
    let mut z = NegZero(false);
    k.decode(&mut z, &mut b.scratch)?;
    Ok(!z.0)
}

/// A collection (or string) being written.
struct Coll<'p, 'o, 's, 'b> {
    plan: &'p Plan,
    key: &'p [u8],
    out: &'o mut Out<'s>,
    kind: Kind,
    expire: Option<i64>,
    /// Arguments of the batch being gathered, RESP-encoded.
    body: &'b mut Vec<u8>,
    args: usize,
    elems: usize,
    /// Fields of the batch with a TTL.
    ttls: &'b mut Vec<(i64, Vec<u8>)>,
    wrote: bool,
    n: &'b mut Counts,
    /// An array's insert cursor (sent after its elements).
    insert: Option<u64>,
    /// The string goes into the `MSET` being gathered (see [`groupable`]).
    group: bool,
}

fn is_big(s: &Str) -> bool {
    matches!(s, Str::Bytes(b) if b.len() >= ZERO_COPY_MIN)
}

impl Coll<'_, '_, '_, '_> {
    fn verb(&self) -> &'static [u8] {
        match self.kind {
            Kind::List => b"RPUSH",
            Kind::Set => b"SADD",
            Kind::Zset => b"ZADD",
            Kind::Array => b"ARMSET",
            _ => b"HSET",
        }
    }

    /// Adds one element (its arguments after the key) to the batch.
    fn element(&mut self, args: &[Str]) -> Result<()> {
        if args.iter().any(is_big) {
            // alone, with the big strings sent from the input by reference
            self.flush_batch()?;
            array_header(&mut self.out.buf, 2 + args.len());
            let verb = self.verb();
            bulk(&mut self.out.buf, verb);
            bulk(&mut self.out.buf, self.key);
            for a in args {
                self.out.bulk_str(*a)?;
            }
            self.out.end_cmd()?;
            self.wrote = true;
            return self.field_ttls();
        }
        for a in args {
            bulk_str(self.body, *a);
        }
        self.args += args.len();
        self.elems += 1;
        if self.elems >= self.plan.max_elems || self.body.len() >= self.plan.max_bytes {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<()> {
        if self.elems == 0 {
            return self.field_ttls();
        }
        array_header(&mut self.out.buf, 2 + self.args);
        let verb = self.verb();
        bulk(&mut self.out.buf, verb);
        bulk(&mut self.out.buf, self.key);
        self.out.buf.extend_from_slice(self.body);
        self.body.clear();
        self.args = 0;
        self.elems = 0;
        self.out.end_cmd()?;
        self.wrote = true;
        self.field_ttls()
    }

    /// `HPEXPIREAT key ms FIELDS n f...` for the fields just written, one per distinct time.
    fn field_ttls(&mut self) -> Result<()> {
        if self.ttls.is_empty() {
            return Ok(());
        }
        self.ttls.sort();
        let mut i = 0;
        while i < self.ttls.len() {
            let ms = self.ttls[i].0;
            let j = i + self.ttls[i..].iter().take_while(|t| t.0 == ms).count();
            array_header(&mut self.out.buf, 5 + (j - i));
            bulk(&mut self.out.buf, b"HPEXPIREAT");
            bulk(&mut self.out.buf, self.key);
            bulk_int(&mut self.out.buf, ms);
            bulk(&mut self.out.buf, b"FIELDS");
            bulk_int(&mut self.out.buf, j - i);
            for (_, f) in &self.ttls[i..j] {
                bulk(&mut self.out.buf, f);
            }
            self.out.end_cmd()?;
            i = j;
        }
        self.ttls.clear();
        Ok(())
    }
}

impl Visitor for Coll<'_, '_, '_, '_> {
    type Error = super::Error;
    fn string(&mut self, v: Str<'_>) -> Result<()> {
        string(self.plan, self.out, self.key, self.expire, v, self.group)
    }
    fn list_item(&mut self, v: Str<'_>) -> Result<()> {
        self.element(&[v])
    }
    fn set_member(&mut self, v: Str<'_>) -> Result<()> {
        self.element(&[v])
    }
    fn zset_member(&mut self, m: Str<'_>, score: f64) -> Result<()> {
        let mut t = Vec::with_capacity(24);
        text::double(&mut t, score);
        self.element(&[Str::Bytes(&t), m])
    }
    fn hash_field(&mut self, f: Str<'_>, v: Str<'_>, expire_ms: Option<i64>) -> Result<()> {
        if let Some(ms) = expire_ms {
            if self.plan.filter.expired(Some(ms)) {
                self.n.expired_fields += 1;
                return Ok(());
            }
            // after the element: its HPEXPIREAT must follow the HSET that creates it
            self.element(&[f, v])?;
            if self.plan.target.field_ttl() {
                self.ttls.push((ms, f.to_vec()));
            } else {
                self.n.field_ttls_dropped += 1;
            }
            return Ok(());
        }
        self.element(&[f, v])
    }
    fn module(&mut self, _m: &ModuleValue<'_>) -> Result<()> {
        unreachable!("module values go through RESTORE")
    }
    fn array_meta(&mut self, insert_index: Option<u64>) -> Result<()> {
        self.insert = insert_index;
        Ok(())
    }
    fn array_element(&mut self, index: u64, v: ArrayValue<'_>) -> Result<()> {
        let mut i = itoa::Buffer::new();
        let idx = i.format(index).as_bytes();
        match v {
            ArrayValue::Str(s) => self.element(&[Str::Bytes(idx), s]),
            other => {
                let mut t = Vec::new();
                let text = other.text(&mut t);
                self.element(&[Str::Bytes(idx), Str::Bytes(text)])
            }
        }
    }
}
