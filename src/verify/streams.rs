//! Streams after their entries: what `verify` compares once `XRANGE` has matched the entries
//! and `XLEN` the length.
//!
//! Compared with the dump:
//! - the stream: length and last-generated-id; where the target reports them (7.0+),
//!   max-deleted-entry-id, entries-added and recorded-first-entry-id (the last only for a
//!   stream with entries: an empty stream's first ID is whatever its last change left);
//! - IDMP (8.6, when the dump has it): duration and maximum size exactly, the tracked
//!   producers and IIDs between the number the server may have expired by now and the
//!   dump's number. The all-time counters (`iids-added`, `iids-duplicates`) are left out:
//!   only `RESTORE` carries them;
//! - every consumer group, by name, so that missing and extra groups both show: its
//!   last-delivered-id, its entries-read (7.0+; for a type-15 dump, the value a 7.0+ server
//!   derives when it loads the file), its consumers by name with their pending counts, and
//!   every pending entry with its owner, delivery count and delivery time. Consumers'
//!   seen/active times are not compared: no command sets them.
//!
//! Where the target's values come from:
//! - 6.0+: one `XINFO STREAM key FULL COUNT n`, n the dump's longest group PEL, at most
//!   `pel_exact`: delivery times are exact.
//! - 5.0 (no `FULL`): `XINFO STREAM`, `XINFO GROUPS`, then `XINFO CONSUMERS` per group.
//! - A PEL longer than that (every PEL on 5.0) is read in pages of 1000 with
//!   `XPENDING key group start + 1000`, between two `TIME` calls in one pipeline. `XPENDING`
//!   gives the idle time (the server's now minus the delivery time, 0 for a time in the
//!   future), so a delivery time is checked to within that bracket, plus 1 ms of rounding.
//!
//! Memory: the dump's groups are what the decoder holds anyway (it reads a group's PEL
//! whole); at most `max(pel_exact, 1000)` of the target's PEL entries are held at a time.

use super::{Cmds, Error, Peers, quote};
use crate::format::Dialect;
use crate::format::Result as FResult;
use crate::format::stream::{Group, Idmp, Pending, StreamId, StreamMeta};
use crate::resp::reply::Reply;

/// `XPENDING` page size.
const PAGE: usize = 1000;

/// What the dump holds after a stream's entries, gathered while they are decoded.
#[derive(Default)]
pub(super) struct Tail {
    pub meta: Option<StreamMeta>,
    pub groups: Vec<DGroup>,
    pub idmp: Option<DIdmp>,
    /// The first entry's ID (a type-15 stream stores no first ID: the server derives it).
    pub first_entry: Option<StreamId>,
}

/// A consumer group of the dump, held for the comparison (the format layer reads groups
/// as views over the value's bytes; verify keeps what it compares).
pub(super) struct DGroup {
    pub name: Vec<u8>,
    pub last_id: StreamId,
    pub entries_read: Option<i64>,
    pub pel: Vec<Pending>,
    pub consumers: Vec<DConsumer>,
    /// PEL entries NACKed (Redis 8.8): owned by no consumer.
    pub nacked: u64,
}

pub(super) struct DConsumer {
    pub name: Vec<u8>,
    pub pending_len: usize,
}

impl DGroup {
    pub fn of(g: &Group<'_>) -> FResult<DGroup> {
        Ok(DGroup {
            name: g.name.clone(),
            last_id: g.last_id,
            entries_read: g.entries_read,
            pel: g.pel().collect::<FResult<_>>()?,
            consumers: g
                .consumers()
                .map(|c| c.map(|c| DConsumer { pending_len: c.pending_len(), name: c.name }))
                .collect::<FResult<_>>()?,
            nacked: g.nacked_len() as u64,
        })
    }

    pub fn nacked(&self) -> u64 {
        self.nacked
    }
}

/// A stream's IDMP state from the dump: settings, and each producer's IIDs.
pub(super) struct DIdmp {
    pub duration_s: u64,
    pub max_size: u64,
    pub producers: Vec<Vec<(Vec<u8>, StreamId)>>,
}

impl DIdmp {
    pub fn of(i: &Idmp<'_>) -> FResult<DIdmp> {
        let mut producers = Vec::new();
        for p in i.producers() {
            producers.push(p?.iids().collect::<FResult<_>>()?);
        }
        Ok(DIdmp { duration_s: i.duration_s, max_size: i.max_size, producers })
    }
}

/// A pending entry as the target reports it: ID, owner, delivery time, delivery count.
type SrvPending = (StreamId, Vec<u8>, i64, i64);

/// A consumer group as the target reports it.
struct SrvGroup {
    name: Vec<u8>,
    last_id: Option<StreamId>,
    /// `None`: the target does not report it (before 7.0); `Some(None)`: unknown (nil).
    entries_read: Option<Option<i64>>,
    pel_count: Option<i64>,
    /// The whole PEL (id, owner, delivery time, delivery count), when one reply held it.
    pel: Option<Vec<SrvPending>>,
    consumers: Vec<(Vec<u8>, Option<i64>)>,
}

/// A field of a flat RESP2 map (name, value, name, value...).
fn get<'r>(m: &'r [Reply], name: &str) -> Option<&'r Reply> {
    m.chunks(2).find(|p| p[0].bytes() == Some(name.as_bytes())).and_then(|p| p.get(1))
}

fn parse_id(r: &Reply) -> Option<StreamId> {
    let t = std::str::from_utf8(r.bytes()?).ok()?;
    let (ms, seq) = t.split_once('-')?;
    Some(StreamId { ms: ms.parse().ok()?, seq: seq.parse().ok()? })
}

fn shown_id(r: Option<&Reply>) -> String {
    match r {
        Some(r) => r.text(),
        None => "nothing".into(),
    }
}

fn bytes(r: Option<&Reply>) -> Vec<u8> {
    r.and_then(|r| r.bytes()).map(<[u8]>::to_vec).unwrap_or_default()
}

fn fail(what: &str, r: &Reply) -> Result<(), Error> {
    match r {
        Reply::Error(e) => Err(Error::Other(format!("{what} gave {}", String::from_utf8_lossy(e)))),
        _ => Ok(()),
    }
}

/// Parses `XINFO STREAM key FULL COUNT n`'s groups.
fn full_groups(info: &[Reply], n: usize) -> Vec<SrvGroup> {
    let mut out = Vec::new();
    for g in get(info, "groups").map(Reply::array).unwrap_or_default() {
        let m = g.array();
        let pel_count = get(m, "pel-count").and_then(Reply::int);
        let pel = pel_count.filter(|&c| c as usize <= n).map(|_| {
            get(m, "pending")
                .map(Reply::array)
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    let e = e.array();
                    let id = e.first().and_then(parse_id).unwrap_or_default();
                    let int = |i: usize| e.get(i).and_then(Reply::int).unwrap_or(-1);
                    (id, bytes(e.get(1)), int(2), int(3))
                })
                .collect()
        });
        let consumers = get(m, "consumers")
            .map(Reply::array)
            .unwrap_or_default()
            .iter()
            .map(|c| {
                (bytes(get(c.array(), "name")), get(c.array(), "pel-count").and_then(Reply::int))
            })
            .collect();
        out.push(SrvGroup {
            name: bytes(get(m, "name")),
            last_id: get(m, "last-delivered-id").and_then(parse_id),
            entries_read: get(m, "entries-read").map(Reply::int),
            pel_count,
            pel,
            consumers,
        });
    }
    out
}

/// The stream's fields and groups from a target without `XINFO STREAM ... FULL` (5.0).
fn plain_info(p: &mut Peers, key: &[u8], db: u64) -> Result<(Reply, Vec<SrvGroup>), Error> {
    let mut c = Cmds::default();
    c.push(&[b"XINFO", b"STREAM", key]);
    c.push(&[b"XINFO", b"GROUPS", key]);
    let mut r = p.run(key, db, &c)?;
    fail("XINFO STREAM", &r[0])?;
    fail("XINFO GROUPS", &r[1])?;
    let groups_reply = r.pop().unwrap_or(Reply::Array(None));
    let info = r.pop().unwrap_or(Reply::Array(None));
    let mut groups: Vec<SrvGroup> = groups_reply
        .array()
        .iter()
        .map(|g| {
            let m = g.array();
            SrvGroup {
                name: bytes(get(m, "name")),
                last_id: get(m, "last-delivered-id").and_then(parse_id),
                entries_read: get(m, "entries-read").map(Reply::int),
                pel_count: get(m, "pending").and_then(Reply::int),
                pel: None,
                consumers: Vec::new(),
            }
        })
        .collect();
    if !groups.is_empty() {
        let mut c = Cmds::default();
        for g in &groups {
            c.push(&[b"XINFO", b"CONSUMERS", key, &g.name]);
        }
        let r = p.run(key, db, &c)?;
        for (g, cons) in groups.iter_mut().zip(&r) {
            fail("XINFO CONSUMERS", cons)?;
            g.consumers = cons
                .array()
                .iter()
                .map(|c| {
                    (bytes(get(c.array(), "name")), get(c.array(), "pending").and_then(Reply::int))
                })
                .collect();
        }
    }
    Ok((info, groups))
}

/// Compares what follows a stream's entries with the target; `Some(difference)` or `None`.
pub(super) fn compare(
    p: &mut Peers,
    key: &[u8],
    db: u64,
    t: &Tail,
    pel_exact: usize,
    now_ms: i64,
) -> Result<Option<String>, Error> {
    let Some(meta) = &t.meta else { return Ok(None) };
    let full = p.server.dialect == Dialect::Valkey || (p.server.major, p.server.minor) >= (6, 0);
    let (info, groups) = if full {
        let n = t.groups.iter().map(|g| g.pel.len()).max().unwrap_or(0).clamp(1, pel_exact.max(1));
        let mut c = Cmds::default();
        c.push(&[b"XINFO", b"STREAM", key, b"FULL", b"COUNT", n.to_string().as_bytes()]);
        let r = p.run(key, db, &c)?.pop().unwrap_or(Reply::Array(None));
        fail("XINFO STREAM FULL", &r)?;
        let groups = full_groups(r.array(), n);
        (r, groups)
    } else {
        plain_info(p, key, db)?
    };
    let m = info.array();
    if let Some(d) = stream_fields(m, meta, t, now_ms) {
        return Ok(Some(d));
    }
    // groups by name: missing and extra ones both show
    let mut want: Vec<&[u8]> = t.groups.iter().map(|g| &g.name[..]).collect();
    let mut got: Vec<&[u8]> = groups.iter().map(|g| &g.name[..]).collect();
    want.sort_unstable();
    got.sort_unstable();
    if let Some(g) = want.iter().find(|g| got.binary_search(g).is_err()) {
        return Ok(Some(format!("consumer group {} missing", quote(g))));
    }
    if let Some(g) = got.iter().find(|g| want.binary_search(g).is_err()) {
        return Ok(Some(format!("extra consumer group {}", quote(g))));
    }
    for g in &t.groups {
        let Some(sg) = groups.iter().find(|s| s.name == g.name) else { continue };
        if let Some(d) = group(p, key, db, meta, t.first_entry, g, sg)? {
            return Ok(Some(format!("group {}: {d}", quote(&g.name))));
        }
    }
    Ok(None)
}

/// The stream's own fields: length, IDs, counters, IDMP.
fn stream_fields(m: &[Reply], meta: &StreamMeta, t: &Tail, now_ms: i64) -> Option<String> {
    let int = |f: &str| get(m, f).and_then(Reply::int);
    // a stored length that is not the live entries may arrive as the live entries (by
    // commands): the caller counted that as not comparable
    let live = meta.live.filter(|l| *l != meta.length).map(|l| l as i64);
    if int("length") != Some(meta.length as i64) && (live.is_none() || int("length") != live) {
        return Some(format!(
            "stream length {}, expected {}",
            shown_id(get(m, "length")),
            meta.length
        ));
    }
    let ids = [
        ("last-generated-id", Some(meta.last_id)),
        ("max-deleted-entry-id", meta.max_deleted_id),
        ("recorded-first-entry-id", meta.first_id.filter(|_| meta.length > 0)),
    ];
    for (f, want) in ids {
        // absent before 7.0; the last-generated-id is always there
        let Some(want) = want else { continue };
        let got = get(m, f);
        if (got.is_some() || f == "last-generated-id") && got.and_then(parse_id) != Some(want) {
            return Some(format!("stream {f} {}, expected {want}", shown_id(got)));
        }
    }
    if let (Some(got), Some(want)) = (get(m, "entries-added"), meta.entries_added)
        && got.int() != Some(want as i64)
    {
        return Some(format!("stream entries-added {}, expected {want}", got.text()));
    }
    let i = t.idmp.as_ref()?;
    get(m, "idmp-duration")?;
    for (f, want) in [("idmp-duration", i.duration_s), ("idmp-maxsize", i.max_size)] {
        if int(f) != Some(want as i64) {
            return Some(format!("stream {f} {}, expected {want}", shown_id(get(m, f))));
        }
    }
    // the server expires IIDs older than the duration (from the head of each producer's
    // list, once a second): any count between what must remain and the dump's is right
    let cutoff = now_ms.saturating_sub(i.duration_s as i64 * 1000).max(0) as u64;
    let left: Vec<usize> = i
        .producers
        .iter()
        .map(|p| p.len() - p.iter().take_while(|x| x.1.ms <= cutoff).count())
        .collect();
    let total_iids: usize = i.producers.iter().map(Vec::len).sum();
    let bounds = [
        ("pids-tracked", left.iter().filter(|&&n| n > 0).count(), i.producers.len()),
        ("iids-tracked", left.iter().sum(), total_iids),
    ];
    for (f, lo, hi) in bounds {
        if !int(f).is_some_and(|n| (lo as i64..=hi as i64).contains(&n)) {
            return Some(format!("stream {f} {}, expected {lo} to {hi}", shown_id(get(m, f))));
        }
    }
    None
}

/// One group: last-delivered-id, entries-read, consumers, PEL.
fn group(
    p: &mut Peers,
    key: &[u8],
    db: u64,
    meta: &StreamMeta,
    first_entry: Option<StreamId>,
    g: &DGroup,
    sg: &SrvGroup,
) -> Result<Option<String>, Error> {
    if sg.last_id != Some(g.last_id) {
        let got = sg.last_id.map_or("nothing".into(), |i| i.to_string());
        return Ok(Some(format!("last-delivered-id {got}, expected {}", g.last_id)));
    }
    if let Some(got) = sg.entries_read {
        let want = match g.entries_read {
            Some(-1) => None,
            Some(n) => Some(n),
            None => crate::convert::stream::estimate_entries_read(meta, first_entry, g.last_id),
        };
        if got != want {
            let show = |x: Option<i64>| x.map_or("nil".to_string(), |n| n.to_string());
            return Ok(Some(format!("entries-read {}, expected {}", show(got), show(want))));
        }
    }
    let mut want: Vec<&[u8]> = g.consumers.iter().map(|c| &c.name[..]).collect();
    let mut got: Vec<&[u8]> = sg.consumers.iter().map(|c| &c.0[..]).collect();
    want.sort_unstable();
    got.sort_unstable();
    if let Some(c) = want.iter().find(|c| got.binary_search(c).is_err()) {
        return Ok(Some(format!("consumer {} missing", quote(c))));
    }
    if let Some(c) = got.iter().find(|c| want.binary_search(c).is_err()) {
        return Ok(Some(format!("extra consumer {}", quote(c))));
    }
    if sg.pel_count != Some(g.pel.len() as i64) {
        let got = sg.pel_count.map_or("?".into(), |n| n.to_string());
        return Ok(Some(format!("{got} pending entries, expected {}", g.pel.len())));
    }
    let d = match &sg.pel {
        Some(list) => exact_pel(g, list),
        None => paged_pel(p, key, db, g)?,
    };
    if d.is_some() {
        return Ok(d);
    }
    for c in &g.consumers {
        let got = sg.consumers.iter().find(|s| s.0 == c.name).and_then(|s| s.1);
        if got != Some(c.pending_len as i64) {
            let got = got.map_or("?".into(), |n| n.to_string());
            return Ok(Some(format!(
                "consumer {} has {got} pending entries, expected {}",
                quote(&c.name),
                c.pending_len
            )));
        }
    }
    Ok(None)
}

/// The first difference between the dump's pending entry `d` and the target's (`id`, owner,
/// delivery count); the delivery time is judged by the caller's `time_ok`.
fn entry(
    g: &DGroup,
    d: &Pending,
    (id, owner, count): (StreamId, &[u8], i64),
    time_ok: bool,
    time_got: &dyn Fn() -> String,
) -> Option<String> {
    if id != d.id {
        return Some(if id < d.id {
            format!("extra pending entry {id}")
        } else {
            format!("pending entry {} missing", d.id)
        });
    }
    // a NACKed entry (type 27) has no owner to compare
    if let Some(c) = d.consumer {
        let want_owner = &g.consumers[c].name;
        if owner != &want_owner[..] {
            return Some(format!(
                "pending entry {id} owned by {}, expected {}",
                quote(owner),
                quote(want_owner)
            ));
        }
    }
    if count != d.delivery_count as i64 {
        return Some(format!(
            "pending entry {id} delivered {count} times, expected {}",
            d.delivery_count
        ));
    }
    if !time_ok {
        return Some(format!(
            "pending entry {id} delivery time {}, expected {}",
            time_got(),
            d.delivery_time_ms
        ));
    }
    None
}

/// The whole PEL from one `XINFO STREAM FULL` reply, in ID order as the dump's.
fn exact_pel(g: &DGroup, list: &[SrvPending]) -> Option<String> {
    for (d, (id, owner, time, count)) in g.pel.iter().zip(list) {
        let t = *time;
        if let Some(x) =
            entry(g, d, (*id, owner, *count), t == d.delivery_time_ms, &|| t.to_string())
        {
            return Some(x);
        }
    }
    match (g.pel.get(list.len()), list.get(g.pel.len())) {
        (Some(d), _) => Some(format!("pending entry {} missing", d.id)),
        (_, Some(e)) => Some(format!("extra pending entry {}", e.0)),
        _ => None,
    }
}

fn time_ms(r: &Reply) -> Option<i64> {
    let a = r.array();
    Some(a.first()?.int()? * 1000 + a.get(1)?.int()? / 1000)
}

/// The PEL page by page with `XPENDING`, each page between two `TIME`s.
fn paged_pel(p: &mut Peers, key: &[u8], db: u64, g: &DGroup) -> Result<Option<String>, Error> {
    let mut start = "-".to_string();
    let mut i = 0;
    let page = PAGE.to_string();
    loop {
        let mut c = Cmds::default();
        c.push(&[b"TIME"]);
        c.push(&[b"XPENDING", key, &g.name, start.as_bytes(), b"+", page.as_bytes()]);
        c.push(&[b"TIME"]);
        let r = p.run(key, db, &c)?;
        fail("XPENDING", &r[1])?;
        let (Some(t0), Some(t1)) = (time_ms(&r[0]), time_ms(&r[2])) else {
            return Err(Error::Other(format!("TIME gave {} and {}", r[0].text(), r[2].text())));
        };
        let entries = r[1].array();
        for e in entries {
            let e = e.array();
            let id = e.first().and_then(parse_id).unwrap_or_default();
            let Some(d) = g.pel.get(i) else {
                return Ok(Some(format!("extra pending entry {id}")));
            };
            let owner = bytes(e.get(1));
            let idle = e.get(2).and_then(Reply::int).unwrap_or(-1);
            let count = e.get(3).and_then(Reply::int).unwrap_or(-1);
            // idle = now - delivery time, at least 0, for a now between t0 and t1
            let (lo, hi) =
                ((t0 - d.delivery_time_ms).max(0) - 1, (t1 - d.delivery_time_ms).max(0) + 1);
            let time_ok = (lo..=hi).contains(&idle);
            let shown = || format!("about {} (idle {idle} ms)", t1 - idle);
            if let Some(x) = entry(g, d, (id, &owner, count), time_ok, &shown) {
                return Ok(Some(x));
            }
            i += 1;
        }
        if entries.len() < PAGE {
            break;
        }
        let last = g.pel[i - 1].id;
        let next = if last.seq == u64::MAX {
            StreamId { ms: last.ms + 1, seq: 0 }
        } else {
            StreamId { ms: last.ms, seq: last.seq + 1 }
        };
        start = next.to_string();
    }
    Ok(g.pel.get(i).map(|d| format!("pending entry {} missing", d.id)))
}
