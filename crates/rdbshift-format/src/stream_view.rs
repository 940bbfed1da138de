//! The parts of a stream value, as checked views over its bytes: entry IDs, entries and
//! their fields, the stream's metadata, consumer groups with their PEL and consumers, NACKed
//! IDs (type 27), and the IDMP state (types 26-27). The decoder ([`super::stream`]) walks a
//! value and hands these to a [`super::visit::Visitor`]; they live here, apart from both, so
//! that neither depends on the other for them.

use super::cursor::{Cursor, Str};
use super::dupset::{Dup, RdbStrings, Seen};
use super::error::{ErrorKind, Result, show_bytes};
use super::listpack::{self};
use super::types;

pub(crate) fn corrupt(container: &'static str, reason: String) -> ErrorKind {
    ErrorKind::Corrupt { container, reason }
}
/// A stream entry ID, `ms-seq`; IDs order by `ms`, then `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId {
    /// The millisecond part (Unix ms when the server generated the ID).
    pub ms: u64,
    /// The sequence number within the millisecond.
    pub seq: u64,
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl StreamId {
    /// Parses the raw 16-byte form: `ms` then `seq`, each big-endian (node keys, PEL IDs).
    pub fn from_be(raw: &[u8; 16]) -> StreamId {
        StreamId {
            ms: u64::from_be_bytes(raw[..8].try_into().unwrap()),
            seq: u64::from_be_bytes(raw[8..].try_into().unwrap()),
        }
    }
    /// The raw 16-byte form: `ms` then `seq`, each big-endian.
    pub fn to_be(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }
    pub(crate) fn read(c: &mut Cursor) -> Result<StreamId> {
        Ok(StreamId { ms: c.plain_len()?, seq: c.plain_len()? })
    }
    pub(crate) fn read_raw(c: &mut Cursor) -> Result<StreamId> {
        Ok(StreamId::from_be(&c.array()?))
    }
}

/// One entry, as a view over its node's listpack (already checked).
pub struct StreamEntry<'a> {
    /// The entry's ID (node master ID plus the entry's deltas).
    pub id: StreamId,
    pub(crate) n: usize,
    /// The master entry's field names, for an entry flagged SAMEFIELDS.
    pub(crate) names: Option<Cursor<'a>>,
    /// The values (SAMEFIELDS), or the field/value pairs.
    pub(crate) values: Cursor<'a>,
}

impl<'a> StreamEntry<'a> {
    /// Number of field/value pairs.
    pub fn len(&self) -> usize {
        self.n
    }
    /// Whether the entry has no field/value pairs.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// The field/value pairs, in order.
    pub fn fields(&self) -> EntryFields<'a> {
        EntryFields { names: self.names, values: self.values, left: self.n }
    }
}

/// Iterator over an entry's field/value pairs, borrowed from the node's listpack.
pub struct EntryFields<'a> {
    names: Option<Cursor<'a>>,
    values: Cursor<'a>,
    left: usize,
}

impl<'a> Iterator for EntryFields<'a> {
    type Item = Result<(Str<'a>, Str<'a>)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut pair = || -> Result<(Str<'a>, Str<'a>)> {
            let f = match &mut self.names {
                Some(n) => listpack::read_element(n)?,
                None => listpack::read_element(&mut self.values)?,
            };
            Ok((f, listpack::read_element(&mut self.values)?))
        };
        Some(pair())
    }
}

/// The stream's own fields, after its entries.
#[derive(Debug, Clone, Default)]
pub struct StreamMeta {
    /// The length as stored: what the server's `XLEN` says. A server writes the number of
    /// live entries, but older ones could leave it larger after trims and deletions, and
    /// every server loads it as stored (`rdbLoadObject` in `rdb.c` only refuses a length
    /// with no nodes at all); see [`StreamMeta::live`].
    pub length: u64,
    /// The live entries the nodes hold, when they were walked (a decode; `None` from
    /// [`crate::Key::stream_tail`]). Differs from `length` in such odd but valid streams.
    pub live: Option<u64>,
    /// The last ID the stream generated (may be after its last live entry).
    pub last_id: StreamId,
    /// Stored from v2 (type 19) on; for v1 these are what the server derives on loading
    /// (the first entry's ID, 0-0, and the length).
    pub first_id: Option<StreamId>,
    /// The largest ID ever deleted from the stream (v2+; 0-0 derived for v1).
    pub max_deleted_id: Option<StreamId>,
    /// How many entries were ever added, deleted ones included (v2+; the length for v1).
    pub entries_added: Option<u64>,
}

/// One entry of a group's PEL (pending entries list): delivered, not yet acknowledged.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The pending entry's ID.
    pub id: StreamId,
    /// When it was last delivered, in Unix ms.
    pub delivery_time_ms: i64,
    /// How many times it was delivered.
    pub delivery_count: u64,
    /// Index into the group's consumers of the consumer that owns this entry; `None` for a
    /// NACKed entry (type 27), which no consumer owns.
    pub consumer: Option<usize>,
}

/// One consumer of a group; its PEL is borrowed from the value's bytes.
#[derive(Debug, Clone)]
pub struct Consumer<'a> {
    /// The consumer's name (owned).
    pub name: Vec<u8>,
    /// When the consumer was last seen (any attempted interaction), in Unix ms.
    pub seen_time_ms: i64,
    /// When the consumer last read or claimed successfully, in Unix ms; v3 (type 21)+ only.
    pub active_time_ms: Option<i64>,
    /// The consumer's PEL: raw 16-byte big-endian IDs.
    pending: &'a [u8],
}

impl Consumer<'_> {
    /// Number of entries in the consumer's PEL.
    pub fn pending_len(&self) -> usize {
        self.pending.len() / 16
    }
    /// The IDs of the consumer's PEL, in file order (each is in the group PEL).
    pub fn pending(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.pending.chunks_exact(16).map(|r| StreamId::from_be(r.try_into().expect("16 bytes")))
    }
}

/// A consumer group, checked, as a view over the value's bytes.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// The group's name (owned).
    pub name: Vec<u8>,
    /// The last ID delivered to the group's consumers.
    pub last_id: StreamId,
    /// v2+ only; -1 when the server did not know it.
    pub entries_read: Option<i64>,
    t: u8,
    /// At the first group PEL entry.
    pel: Cursor<'a>,
    pel_len: u64,
    /// Where each consumer's record starts.
    consumers: Vec<usize>,
    /// (PEL entry, index of the consumer that owns it, or [`NACKED`]), sorted by ID.
    owners: Vec<(StreamId, u32)>,
    cur: Cursor<'a>,
    /// Type 27 only: the NACKed IDs (raw 16-byte big-endian), in file order.
    nacked: Option<&'a [u8]>,
}

/// The owner mark of a NACKed PEL entry (type 27).
const NACKED: u32 = u32::MAX - 1;

impl<'a> Group<'a> {
    /// Number of entries in the group PEL.
    pub fn pel_len(&self) -> u64 {
        self.pel_len
    }
    /// The group PEL, in file order.
    pub fn pel(&self) -> impl Iterator<Item = Result<Pending>> + '_ {
        let mut c = self.pel;
        (0..self.pel_len).map(move |_| {
            let id = StreamId::read_raw(&mut c)?;
            let delivery_time_ms = c.i64_le()?;
            let delivery_count = c.plain_len()?;
            let consumer = match self.owners.binary_search_by_key(&id, |o| o.0) {
                Ok(i) if self.owners[i].1 == NACKED => None,
                Ok(i) => Some(self.owners[i].1 as usize),
                Err(_) => return Err(c.corrupt("stream group", format!("PEL entry {id} lost"))),
            };
            Ok(Pending { id, delivery_time_ms, delivery_count, consumer })
        })
    }
    /// Number of consumers in the group.
    pub fn consumers_len(&self) -> usize {
        self.consumers.len()
    }
    /// The consumer at index `i` (as [`Pending::consumer`] gives it).
    pub fn consumer(&self, i: usize) -> Result<Consumer<'a>> {
        let mut c = self.cur;
        c.set_pos(self.consumers[i]);
        let mut buf = Vec::new();
        let name = c.string()?.bytes(&mut buf)?.to_vec();
        let seen_time_ms = c.i64_le()?;
        let active_time_ms =
            if self.t >= types::STREAM_LISTPACKS_3 { Some(c.i64_le()?) } else { None };
        let n = c.plain_len()? as usize;
        let pending = c.take(n * 16)?;
        Ok(Consumer { name, seen_time_ms, active_time_ms, pending })
    }
    /// The consumers, in file order (their index is what [`Pending::consumer`] refers to).
    pub fn consumers(&self) -> impl Iterator<Item = Result<Consumer<'a>>> + '_ {
        (0..self.consumers.len()).map(|i| self.consumer(i))
    }
    /// Whether the group has a NACK zone (type 27 streams, even when it is empty).
    pub fn has_nack_zone(&self) -> bool {
        self.nacked.is_some()
    }
    /// The NACKed IDs (type 27; empty otherwise), in file order: each is in the group PEL
    /// and owned by no consumer (XNACK released it).
    pub fn nacked(&self) -> impl Iterator<Item = StreamId> + use<'a> {
        self.nacked
            .unwrap_or_default()
            .chunks_exact(16)
            .map(|r| StreamId::from_be(r.try_into().expect("16 bytes")))
    }
    /// Number of NACKed IDs (0 before type 27).
    pub fn nacked_len(&self) -> usize {
        self.nacked.map_or(0, |n| n.len() / 16)
    }
}

/// The consumer groups of a stream (already checked), read one at a time.
#[derive(Debug, Clone, Copy)]
pub struct Groups<'a> {
    pub(crate) c: Cursor<'a>,
    pub(crate) len: u64,
    pub(crate) t: u8,
}

impl<'a> Groups<'a> {
    /// Number of consumer groups.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// Whether the stream has no consumer groups.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The groups, in file order, each read from the value's bytes when reached.
    pub fn iter(&self) -> impl Iterator<Item = Result<Group<'a>>> + use<'a> {
        let (mut c, t) = (self.c, self.t);
        let mut names = Seen::eager();
        (0..self.len).map(move |_| read_group(&mut c, t, &mut names))
    }
}

/// The idempotent-producer state of a Redis 8.6+ stream (types 26 and 27), already
/// checked; the producers are read on demand.
#[derive(Debug, Clone, Copy)]
pub struct Idmp<'a> {
    /// How long an idempotent ID is kept, in seconds (`stream-idmp-duration`, 1..=86400).
    pub duration_s: u64,
    /// Most idempotent IDs kept per producer (`stream-idmp-maxsize`, 1..=10000).
    pub max_size: u64,
    /// All-time count of idempotent IDs recorded.
    pub iids_added: u64,
    /// All-time count of adds refused as duplicates of a recorded idempotent ID.
    pub iids_duplicates: u64,
    producers: Cursor<'a>,
    producers_len: u64,
}

impl<'a> Idmp<'a> {
    /// Server defaults (`stream-idmp-duration`/`-maxsize` 100), no producers, zero
    /// counters: what any stream has before IDMP is used, so nothing to carry.
    pub fn is_default(&self) -> bool {
        self.producers_len == 0
            && self.duration_s == 100
            && self.max_size == 100
            && self.iids_added == 0
            && self.iids_duplicates == 0
    }
    /// Number of producers.
    pub fn producers_len(&self) -> u64 {
        self.producers_len
    }
    /// The producers, in file order, each read from the value's bytes when reached.
    pub fn producers(&self) -> impl Iterator<Item = Result<Producer<'a>>> + use<'a> {
        let mut c = self.producers;
        (0..self.producers_len).map(move |_| {
            let name = c.string()?.bytes(&mut Vec::new())?.to_vec();
            let n = c.plain_len()?;
            let iids = c;
            for _ in 0..n {
                c.skip_string()?;
                StreamId::read(&mut c)?;
            }
            Ok(Producer { name, iids, len: n })
        })
    }
}

/// One idempotent producer of an IDMP stream; its idempotent IDs are read on demand.
pub struct Producer<'a> {
    /// The producer ID (owned).
    pub name: Vec<u8>,
    iids: Cursor<'a>,
    len: u64,
}

impl<'a> Producer<'a> {
    /// Number of idempotent IDs recorded for this producer.
    pub fn iids_len(&self) -> u64 {
        self.len
    }
    /// (idempotent ID, stream ID it was recorded for), in file order.
    pub fn iids(&self) -> impl Iterator<Item = Result<(Vec<u8>, StreamId)>> + use<'a> {
        let mut c = self.iids;
        (0..self.len).map(move |_| {
            let iid = c.string()?.bytes(&mut Vec::new())?.to_vec();
            Ok((iid, StreamId::read(&mut c)?))
        })
    }
}

/// Reads and checks one group (`rdbLoadObject`: unique group names, unique PEL entries,
/// unique consumer names, consumer PEL entries in the group PEL and owned once, every PEL
/// entry owned); the cursor ends after it.
pub(crate) fn read_group<'a>(
    c: &mut Cursor<'a>,
    t: u8,
    group_names: &mut Seen,
) -> Result<Group<'a>> {
    let data = c.data();
    let name_at = c.pos();
    let name = c.string()?.bytes(&mut Vec::new())?.to_vec();
    if let Some(Dup { first: prev, .. }) =
        group_names.check(&name, name_at as u64, &RdbStrings(data))?
    {
        return Err(c.err_at(
            name_at,
            corrupt(
                "stream",
                format!("two groups named \"{}\" (first at byte offset {prev})", show_bytes(&name)),
            ),
        ));
    }
    let last_id = StreamId::read(c)?;
    let entries_read =
        if t >= types::STREAM_LISTPACKS_2 { Some(c.plain_len()? as i64) } else { None };
    let (pel, npel, mut owners) = read_pel(c)?;
    let consumers = read_consumers(c, t, &mut owners)?;
    let nacked = read_nacked(c, t, &mut owners)?;
    let cur = *c;
    if let Some(o) = owners.iter().find(|o| o.1 == u32::MAX) {
        // rdb.c:3346-3358 "Stream CG PEL entry without consumer" (sanitize-dump-payload yes)
        return Err(c.corrupt("stream group", format!("PEL entry {} has no consumer", o.0)));
    }
    Ok(Group { name, last_id, entries_read, t, pel, pel_len: npel, consumers, owners, cur, nacked })
}

/// A group's PEL entries with their owner (a consumer's index, [`NACKED`], or `u32::MAX`
/// for none yet), sorted by ID.
type Owners = Vec<(StreamId, u32)>;

/// A group's PEL: a cursor at it, its length, and its entries with no owner yet; duplicate
/// entries are refused.
fn read_pel<'a>(c: &mut Cursor<'a>) -> Result<(Cursor<'a>, u64, Owners)> {
    let npel = c.count("group PEL entries", 25)?;
    let pel = *c;
    let mut owners: Vec<(StreamId, u32)> = Vec::new();
    let mut pel_at: Vec<usize> = Vec::new();
    for _ in 0..npel {
        pel_at.push(c.pos());
        let id = StreamId::read_raw(c)?;
        c.i64_le()?;
        c.plain_len()?;
        owners.push((id, u32::MAX));
    }
    // the PEL in ID order, to find duplicates and owners; positions kept only for the message
    let mut order: Vec<u32> = (0..owners.len() as u32).collect();
    order.sort_unstable_by_key(|&i| owners[i as usize].0);
    for w in order.windows(2) {
        if owners[w[0] as usize].0 == owners[w[1] as usize].0 {
            let later = pel_at[w[0] as usize].max(pel_at[w[1] as usize]);
            return Err(c.err_at(
                later,
                corrupt("stream group", format!("duplicate PEL entry {}", owners[w[0] as usize].0)),
            ));
        }
    }
    drop(pel_at);
    owners.sort_unstable_by_key(|o| o.0);
    drop(order);
    Ok((pel, npel, owners))
}

/// A group's consumers (the offset of each): unique names, each PEL entry in the group PEL
/// and owned once; `owners` records the owner of each entry.
fn read_consumers(c: &mut Cursor, t: u8, owners: &mut [(StreamId, u32)]) -> Result<Vec<usize>> {
    let data = c.data();
    let ncons = c.count("consumers", if t >= types::STREAM_LISTPACKS_3 { 18 } else { 10 })?;
    let mut consumers = Vec::new();
    let mut cnames = Seen::eager();
    let src = RdbStrings(data);
    for ci in 0..ncons as u32 {
        let at = c.pos();
        consumers.push(at);
        let cname = c.string()?;
        let mut buf = Vec::new();
        let cname = cname.bytes(&mut buf)?;
        if let Some(Dup { first: prev, .. }) = cnames.check(cname, at as u64, &src)? {
            return Err(c.err_at(
                at,
                corrupt(
                    "stream group",
                    format!(
                        "duplicate consumer \"{}\" (first at byte offset {prev})",
                        show_bytes(cname)
                    ),
                ),
            ));
        }
        c.i64_le()?;
        if t >= types::STREAM_LISTPACKS_3 {
            c.i64_le()?;
        }
        let n = c.count("consumer PEL entries", 16)?;
        for _ in 0..n {
            let at = c.pos();
            let id = StreamId::read_raw(c)?;
            let Ok(pi) = owners.binary_search_by_key(&id, |o| o.0) else {
                return Err(c.err_at(
                    at,
                    corrupt(
                        "stream group",
                        format!("consumer PEL entry {id} is not in the group PEL"),
                    ),
                ));
            };
            match owners[pi].1 {
                u32::MAX => owners[pi].1 = ci,
                o if o == ci => {
                    // rdb.c:3335-3341 "Duplicated consumer PEL entry"
                    return Err(c.err_at(
                        at,
                        corrupt("stream group", format!("PEL entry {id} twice in one consumer")),
                    ));
                }
                _ => {
                    // stricter than the server (rdb.c:3334 keeps the last owner); no server writes it
                    return Err(c.err_at(
                        at,
                        corrupt("stream group", format!("PEL entry {id} owned by two consumers")),
                    ));
                }
            }
        }
    }
    Ok(consumers)
}

/// Type 27's NACK zone: IDs pending in the group and owned by no consumer.
fn read_nacked<'a>(
    c: &mut Cursor<'a>,
    t: u8,
    owners: &mut [(StreamId, u32)],
) -> Result<Option<&'a [u8]>> {
    let data = c.data();
    // type 27: the NACK zone, IDs that are pending in the group and owned by no consumer
    // (`rdbLoadObject`: "not found in group global PEL", "has a consumer assigned")
    Ok(if t >= types::STREAM_LISTPACKS_5 {
        let n = c.count("NACKed IDs", 16)?;
        let zone_at = c.pos();
        for _ in 0..n {
            let at = c.pos();
            let id = StreamId::read_raw(c)?;
            let Ok(pi) = owners.binary_search_by_key(&id, |o| o.0) else {
                return Err(c.err_at(
                    at,
                    corrupt("stream group", format!("NACKed ID {id} is not in the group PEL")),
                ));
            };
            match owners[pi].1 {
                u32::MAX => owners[pi].1 = NACKED,
                NACKED => {
                    return Err(
                        c.err_at(at, corrupt("stream group", format!("NACKed ID {id} twice")))
                    );
                }
                _ => {
                    return Err(c.err_at(
                        at,
                        corrupt("stream group", format!("NACKed ID {id} is owned by a consumer")),
                    ));
                }
            }
        }
        Some(&data[zone_at..c.pos()])
    } else {
        None
    })
}

/// The IDMP section of type 26 (`rdbLoadStreamIdmpEntries`): duration (s, 1..86400), max
/// entries (1..10000), producers (pid, count, then per IID the IID and its stream ID), then
/// the all-time counters IIDs added and duplicates. Producer IDs are unique (the server
/// fails on inserting one twice).
pub(crate) fn read_idmp<'a>(c: &mut Cursor<'a>) -> Result<Idmp<'a>> {
    let at = c.pos();
    let duration_s = c.plain_len()?;
    let max_size = c.plain_len()?;
    if !(1..=86400).contains(&duration_s) || !(1..=10000).contains(&max_size) {
        return Err(c.err_at(
            at,
            corrupt(
                "stream IDMP",
                format!("duration {duration_s} or max size {max_size} out of range"),
            ),
        ));
    }
    let n = c.count("IDMP producers", 2)?;
    let producers = *c;
    let mut seen = Seen::eager();
    let src = RdbStrings(c.data());
    let mut buf = Vec::new();
    for _ in 0..n {
        let at = c.pos();
        let name = c.string()?.bytes(&mut buf)?;
        if let Some(Dup { first: prev, .. }) = seen.check(name, at as u64, &src)? {
            return Err(c.err_at(
                at,
                corrupt(
                    "stream IDMP",
                    format!(
                        "producer \"{}\" twice (first at byte offset {prev})",
                        show_bytes(name)
                    ),
                ),
            ));
        }
        let count = c.count("IDMP entries", 3)?;
        for _ in 0..count {
            c.skip_string()?;
            StreamId::read(c)?;
        }
    }
    Ok(Idmp {
        duration_s,
        max_size,
        producers,
        producers_len: n,
        iids_added: c.plain_len()?,
        iids_duplicates: c.plain_len()?,
    })
}
