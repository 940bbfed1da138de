//! Streams (`src/t_stream.c`, `rdbLoadObject` in `src/rdb.c`), types 15, 19, 21 and 26.
//!
//! Layout: a count of listpack nodes, each a 16-byte big-endian master ID (as a string) and
//! a listpack; the stream length and last ID; from v2 (19) the first ID, the max deleted ID
//! and entries-added; the consumer groups: name, last delivered ID, from v2 entries-read,
//! the group PEL (raw 16-byte big-endian IDs, delivery time as 8-byte LE ms, delivery
//! count), the consumers (name, seen time, from v3 (21) active time, their PEL IDs, each of
//! which must be in the group PEL). Type 26 (Redis 8.6) then adds the IDMP section.
//!
//! Inside a node's listpack: the master entry (valid count, deleted count, master field
//! count, the field names, a 0), then per entry: flags, ms delta, seq delta, the values
//! (flag SAMEFIELDS) or a field count and field/value pairs, and the entry's element count.

use std::collections::HashMap;

use super::cursor::{Cursor, Str};
use super::error::Result;
use super::listpack::Listpack;
use super::visit::Visitor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl StreamId {
    pub fn from_be(raw: &[u8; 16]) -> StreamId {
        StreamId {
            ms: u64::from_be_bytes(raw[..8].try_into().unwrap()),
            seq: u64::from_be_bytes(raw[8..].try_into().unwrap()),
        }
    }
    pub fn to_be(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }
    fn read(c: &mut Cursor) -> Result<StreamId> {
        Ok(StreamId { ms: c.plain_len()?, seq: c.plain_len()? })
    }
    fn read_raw(c: &mut Cursor) -> Result<StreamId> {
        Ok(StreamId::from_be(&c.array()?))
    }
}

pub struct StreamEntry<'a> {
    pub id: StreamId,
    pub fields: Vec<(Str<'a>, Str<'a>)>,
}

/// The stream's own fields, after its entries.
#[derive(Debug, Clone, Default)]
pub struct StreamMeta {
    pub length: u64,
    pub last_id: StreamId,
    /// Stored from v2 (type 19) on; for v1 these are what the server derives on loading
    /// (the first entry's ID, 0-0, and the length).
    pub first_id: Option<StreamId>,
    pub max_deleted_id: Option<StreamId>,
    pub entries_added: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub id: StreamId,
    pub delivery_time_ms: i64,
    pub delivery_count: u64,
    /// Index into the group's consumers of the consumer that owns this entry.
    pub consumer: usize,
}

#[derive(Debug, Clone)]
pub struct Consumer {
    pub name: Vec<u8>,
    pub seen_time_ms: i64,
    /// v3+ only.
    pub active_time_ms: Option<i64>,
    pub pending: Vec<StreamId>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: Vec<u8>,
    pub last_id: StreamId,
    /// v2+ only; -1 when the server did not know it.
    pub entries_read: Option<i64>,
    pub pel: Vec<Pending>,
    pub consumers: Vec<Consumer>,
}

/// The idempotent-producer state of a Redis 8.6 stream (type 26).
#[derive(Debug, Clone, Default)]
pub struct Idmp {
    pub duration_s: u64,
    pub max_size: u64,
    pub producers: Vec<Producer>,
    pub iids_added: u64,
    pub iids_duplicates: u64,
}

impl Idmp {
    /// Server defaults (`stream-idmp-duration`/`-maxsize` 100), no producers, zero
    /// counters: what any stream has before IDMP is used, so nothing to carry.
    pub fn is_default(&self) -> bool {
        self.producers.is_empty()
            && self.duration_s == 100
            && self.max_size == 100
            && self.iids_added == 0
            && self.iids_duplicates == 0
    }
}

#[derive(Debug, Clone)]
pub struct Producer {
    pub name: Vec<u8>,
    /// (idempotent ID, stream ID it was recorded for), in file order.
    pub iids: Vec<(Vec<u8>, StreamId)>,
}

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// Decodes a stream value of type `t` (15, 19, 21 or 26) into `v`.
pub fn decode<V: Visitor>(c: &mut Cursor, t: u8, v: &mut V, scratch: &mut Vec<u8>) -> Result<()> {
    let nodes = c.count("stream listpack nodes", 2)?;
    let mut buf = Vec::new();
    let mut first = None;
    for _ in 0..nodes {
        let key_at = c.offset();
        let nodekey = c.string()?;
        let master = match nodekey.get(scratch)? {
            Str::Bytes(b) if b.len() == 16 => StreamId::from_be(b.try_into().unwrap()),
            _ => return Err(super::Error::corrupt(key_at, "stream", "node key is not a 16-byte ID")),
        };
        let lp_at = c.offset();
        let blob = c.string()?;
        let lc = blob.open(&mut buf, "stream listpack", lp_at)?;
        decode_node(lc, master, &mut first, v)?;
    }
    let tail = read_after_nodes(c, t, first)?;
    v.stream_meta(&tail.meta)?;
    for g in &tail.groups {
        v.stream_group(g)?;
    }
    if let Some(i) = &tail.idmp {
        v.stream_idmp(i)?;
    }
    Ok(())
}

/// What a stream value holds after its entries.
#[derive(Debug, Clone, Default)]
pub struct Tail {
    pub meta: StreamMeta,
    pub groups: Vec<Group>,
    /// Type 26 only.
    pub idmp: Option<Idmp>,
}

/// Reads a stream value's metadata, groups and IDMP state without decoding its entries
/// (the node listpacks are skipped by their length prefixes). For type 15, whose first ID
/// the server derives from the entries, `meta.first_id` is `None`.
pub fn read_tail(c: &mut Cursor, t: u8) -> Result<Tail> {
    let nodes = c.count("stream listpack nodes", 2)?;
    for _ in 0..nodes {
        c.skip_string()?;
        c.skip_string()?;
    }
    let mut tail = read_after_nodes(c, t, None)?;
    if t < super::types::STREAM_LISTPACKS_2 {
        tail.meta.first_id = None;
    }
    Ok(tail)
}

fn read_after_nodes(c: &mut Cursor, t: u8, first: Option<StreamId>) -> Result<Tail> {
    let mut meta = StreamMeta { length: c.plain_len()?, last_id: StreamId::read(c)?, ..Default::default() };
    if t >= super::types::STREAM_LISTPACKS_2 {
        meta.first_id = Some(StreamId::read(c)?);
        meta.max_deleted_id = Some(StreamId::read(c)?);
        meta.entries_added = Some(c.plain_len()?);
    } else {
        // v1 has none of these; the server derives them as follows when it loads the stream.
        meta.first_id = Some(first.unwrap_or_default());
        meta.max_deleted_id = Some(StreamId::default());
        meta.entries_added = Some(meta.length);
    }
    let ngroups = c.count("stream consumer groups", 3)?;
    let mut scratch = Vec::new();
    let mut groups = Vec::new();
    for _ in 0..ngroups {
        groups.push(read_group(c, t, &mut scratch)?);
    }
    let idmp = if t == super::types::STREAM_LISTPACKS_4 { Some(read_idmp(c)?) } else { None };
    Ok(Tail { meta, groups, idmp })
}

fn decode_node<V: Visitor>(lc: Cursor, master: StreamId, first: &mut Option<StreamId>, v: &mut V) -> Result<()> {
    let mut lp = Listpack::open(lc)?;
    let corrupt = |lp: &Listpack, why: String| lp.cursor().corrupt("stream listpack", why);
    let valid = lp.expect_int("the valid entry count")?;
    let deleted = lp.expect_int("the deleted entry count")?;
    let nfields = lp.expect_int("the master field count")?;
    if nfields < 0 || nfields as u64 > lp.cursor().remaining() as u64 {
        return Err(corrupt(&lp, format!("master field count {nfields}")));
    }
    let mut master_fields = Vec::with_capacity(nfields as usize);
    for _ in 0..nfields {
        master_fields.push(lp.expect("a master field")?);
    }
    if lp.expect_int("the master entry terminator")? != 0 {
        return Err(corrupt(&lp, "master entry not terminated by 0".into()));
    }
    let (mut seen_valid, mut seen_deleted) = (0i64, 0i64);
    let mut fields = Vec::new();
    loop {
        let Some(flags) = lp.next()? else { break };
        let flags = match flags {
            Str::Int(f) => f,
            Str::Bytes(_) => return Err(corrupt(&lp, "entry flags are not an integer".into())),
        };
        let ms = lp.expect_int("an ID delta")?;
        let seq = lp.expect_int("an ID delta")?;
        let id = StreamId { ms: master.ms.wrapping_add(ms as u64), seq: master.seq.wrapping_add(seq as u64) };
        fields.clear();
        let n = if flags & FLAG_SAMEFIELDS != 0 {
            for f in &master_fields {
                fields.push((*f, lp.expect("a value")?));
            }
            master_fields.len() as i64
        } else {
            let n = lp.expect_int("a field count")?;
            if n < 0 || n as u64 > lp.cursor().remaining() as u64 {
                return Err(corrupt(&lp, format!("field count {n}")));
            }
            for _ in 0..n {
                let f = lp.expect("a field")?;
                fields.push((f, lp.expect("a value")?));
            }
            n
        };
        let lp_count = lp.expect_int("the entry's element count")?;
        let expect = if flags & FLAG_SAMEFIELDS != 0 { n + 3 } else { 2 * n + 4 };
        if lp_count != expect {
            return Err(corrupt(&lp, format!("entry element count {lp_count}, expected {expect}")));
        }
        if flags & FLAG_DELETED != 0 {
            seen_deleted += 1;
        } else {
            seen_valid += 1;
            first.get_or_insert(id);
            v.stream_entry(&StreamEntry { id, fields: std::mem::take(&mut fields) })?;
        }
    }
    if seen_valid != valid || seen_deleted != deleted {
        return Err(corrupt(
            &lp,
            format!(
                "master entry counts {valid} valid and {deleted} deleted entries, found {seen_valid} and {seen_deleted}"
            ),
        ));
    }
    if seen_valid + seen_deleted == 0 {
        return Err(corrupt(&lp, "empty listpack node".into()));
    }
    Ok(())
}

fn read_group(c: &mut Cursor, t: u8, scratch: &mut Vec<u8>) -> Result<Group> {
    let name = c.string()?.get(scratch)?.to_vec();
    let last_id = StreamId::read(c)?;
    let entries_read = if t >= super::types::STREAM_LISTPACKS_2 { Some(c.plain_len()? as i64) } else { None };
    let npel = c.count("group PEL entries", 25)?;
    let mut pel = Vec::with_capacity(npel as usize);
    let mut index = HashMap::with_capacity(npel as usize);
    for i in 0..npel {
        let at = c.offset();
        let id = StreamId::read_raw(c)?;
        if index.insert(id, i as usize).is_some() {
            return Err(super::Error::corrupt(at, "stream group", format!("duplicate PEL entry {id}")));
        }
        pel.push(Pending { id, delivery_time_ms: c.i64_le()?, delivery_count: c.plain_len()?, consumer: usize::MAX });
    }
    let ncons = c.count("consumers", 9)?;
    let mut consumers = Vec::with_capacity(ncons as usize);
    for ci in 0..ncons as usize {
        let name = c.string()?.get(scratch)?.to_vec();
        let seen_time_ms = c.i64_le()?;
        let active_time_ms = if t >= super::types::STREAM_LISTPACKS_3 { Some(c.i64_le()?) } else { None };
        let n = c.count("consumer PEL entries", 16)?;
        let mut pending = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let at = c.offset();
            let id = StreamId::read_raw(c)?;
            let Some(&pi) = index.get(&id) else {
                return Err(super::Error::corrupt(
                    at,
                    "stream group",
                    format!("consumer PEL entry {id} is not in the group PEL"),
                ));
            };
            if pel[pi].consumer != usize::MAX {
                return Err(super::Error::corrupt(
                    at,
                    "stream group",
                    format!("PEL entry {id} owned by two consumers"),
                ));
            }
            pel[pi].consumer = ci;
            pending.push(id);
        }
        consumers.push(Consumer { name, seen_time_ms, active_time_ms, pending });
    }
    if let Some(p) = pel.iter().find(|p| p.consumer == usize::MAX) {
        return Err(c.corrupt("stream group", format!("PEL entry {} has no consumer", p.id)));
    }
    Ok(Group { name, last_id, entries_read, pel, consumers })
}

/// The IDMP section of type 26 (`rdbLoadStreamIdmpEntries`): duration (s, 1..86400), max
/// entries (1..10000), producers (pid, count, then per IID the IID and its stream ID), then
/// the all-time counters IIDs added and duplicates.
fn read_idmp(c: &mut Cursor) -> Result<Idmp> {
    let at = c.offset();
    let duration_s = c.plain_len()?;
    let max_size = c.plain_len()?;
    if !(1..=86400).contains(&duration_s) || !(1..=10000).contains(&max_size) {
        return Err(super::Error::corrupt(
            at,
            "stream IDMP",
            format!("duration {duration_s} or max size {max_size} out of range"),
        ));
    }
    let n = c.count("IDMP producers", 2)?;
    let mut producers = Vec::with_capacity(n as usize);
    let mut scratch = Vec::new();
    for _ in 0..n {
        let name = c.string()?.get(&mut scratch)?.to_vec();
        let count = c.count("IDMP entries", 3)?;
        let mut iids = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let iid = c.string()?.get(&mut scratch)?.to_vec();
            iids.push((iid, StreamId::read(c)?));
        }
        producers.push(Producer { name, iids });
    }
    Ok(Idmp { duration_s, max_size, producers, iids_added: c.plain_len()?, iids_duplicates: c.plain_len()? })
}
