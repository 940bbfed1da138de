//! A stream as commands, rebuilt so that `XINFO STREAM key FULL` matches the original
//! (except consumers' seen/active times, which no command sets, and the IDMP all-time
//! counters, which only `RESTORE` carries).
//!
//! Order, and why:
//! 1. `DEL`, then `XADD` per entry with its ID. Pending entries and IDMP records may point
//!    at entries that were deleted or trimmed; `XCLAIM` and `XIDMPRECORD` refuse IDs that
//!    do not exist, so such IDs are added as placeholder entries ("ghosts") in ID order and
//!    removed at the end. An empty stream is made with `XADD key MAXLEN 0 0-1 x y`.
//! 2. `XCFGSET` and `XIDMPRECORD` (Redis 8.6+), while every recorded entry exists.
//! 3. `XSETID` with entries-added (7.0+) before the groups: 8.6 clamps a group's
//!    entries-read to the stream's entries-added.
//! 4. `XGROUP CREATE ... ENTRIESREAD`, the PEL with `XCLAIM ... TIME RETRYCOUNT FORCE
//!    JUSTID` (runs of the same consumer, time and count share a command), and consumers
//!    without pending entries (`XGROUP CREATECONSUMER`, or before 6.2 an `XREADGROUP` of
//!    the consumer's empty history, which creates it and changes nothing else). NACKed
//!    entries (type 27, Redis 8.8) are not claimed: `XNACK key group FAIL IDS n id...
//!    RETRYCOUNT c FORCE` after the claims, in runs of equal delivery count (at most 64).
//! 5. Ghosts removed: `XTRIM MINID`/`MAXLEN 0` for those before the first real entry (a
//!    trim leaves max-deleted-id alone), `XDEL` for the rest; then `XSETID` again with the
//!    final max-deleted-id, and `PEXPIREAT`.

use super::Result;
use super::bufs::Bufs;
use super::out::{Out, array_header, bulk};
use super::{Counts, KeyWriter, Server};
use crate::format::record::Key;
use crate::format::stream::{Group, Idmp, Pending, StreamEntry, StreamId, StreamMeta, Tail};
use crate::format::visit::Visitor;

/// Most IDs per `XCLAIM` or `XDEL`.
const IDS_PER_CMD: usize = 512;
/// Most IDs per `XNACK` (as librdb sends them).
const XNACK_IDS: usize = 64;

/// `ms-seq`, as commands take a stream ID.
fn id_text(id: StreamId) -> String {
    let mut s = String::with_capacity(41);
    s.push_str(itoa::Buffer::new().format(id.ms));
    s.push('-');
    s.push_str(itoa::Buffer::new().format(id.seq));
    s
}

/// Writes stream `k` (named `name`): entries, IDMP state, groups with their PELs and
/// consumers, the deleted entries still needed, the counters and the expiry (see the
/// module doc). Errors carry the key.
pub fn key(w: &mut KeyWriter, k: &Key, name: &[u8]) -> Result<()> {
    write(&w.plan.target, k, name, w.out, w.bufs, w.counts).map_err(|e| e.context(k))
}

fn write(
    t: &Server,
    k: &Key,
    name: &[u8],
    out: &mut Out,
    b: &mut Bufs,
    n: &mut Counts,
) -> Result<()> {
    let tail = k.stream_tail()?;
    let idmp = tail.idmp.as_ref().filter(|_| t.idmp());
    if tail.idmp.as_ref().is_some_and(|i| !i.is_default()) && idmp.is_none() {
        n.idmp_dropped += 1;
    }
    let needed = needed_ids(t, &tail, idmp, n)?;
    out.command(&[b"DEL", name])?;
    let mut w = Entries {
        key: name,
        out,
        needed: &needed,
        next: 0,
        ghosts: Vec::new(),
        first_real: None,
        count: 0,
    };
    k.decode(&mut w, &mut b.scratch)?;
    w.ghosts_up_to(None)?;
    let Entries { ghosts, first_real, count, .. } = w;
    if count == 0 && ghosts.is_empty() {
        out.command(&[b"XADD", name, b"MAXLEN", b"0", b"0-1", b"x", b"y"])?;
    }
    let meta = &tail.meta;
    if count != meta.length {
        n.stream_lengths_dropped += 1;
    }
    if let Some(i) = idmp {
        idmp_records(name, i, meta, out, n)?;
    }
    let last = id_text(meta.last_id);
    let entries_added = meta.entries_added.unwrap_or(meta.length);
    let setid = |out: &mut Out, max_deleted: bool| -> Result<()> {
        if t.stream_counters() {
            // while ghosts exist the stream holds more entries than entries-added may say (v1 files)
            let added = if max_deleted {
                entries_added
            } else {
                entries_added.max(count + ghosts.len() as u64)
            };
            let md = id_text(meta.max_deleted_id.unwrap_or_default());
            let added = added.to_string();
            let mut args: Vec<&[u8]> =
                vec![b"XSETID", name, last.as_bytes(), b"ENTRIESADDED", added.as_bytes()];
            if max_deleted {
                args.extend([&b"MAXDELETEDID"[..], md.as_bytes()]);
            }
            out.command(&args)
        } else {
            out.command(&[b"XSETID", name, last.as_bytes()])
        }
    };
    setid(out, false)?;
    let mut nack_streams = false;
    for g in tail.groups.iter() {
        nack_streams |= group(t, k, name, &g?, meta, first_real, out, n)?;
    }
    if !ghosts.is_empty() {
        drop_ghosts(t, name, &ghosts, first_real, out)?;
    }
    if t.stream_counters() {
        setid(out, true)?;
    }
    if let Some(ms) = k.expire_ms() {
        out.pexpireat(name, ms)?;
    }
    if nack_streams {
        n.streams_nack += 1;
    }
    Ok(())
}

/// The IDs that must exist while the groups and IDMP records are rebuilt (deleted entries
/// among them come back as ghosts, deleted again at the end); counts the stream counters
/// the target cannot hold.
fn needed_ids(
    t: &Server,
    tail: &Tail,
    idmp: Option<&Idmp>,
    n: &mut Counts,
) -> Result<Vec<StreamId>> {
    let mut entries_read_known = false;
    let mut needed: Vec<StreamId> = Vec::new();
    for g in tail.groups.iter() {
        let g = g?;
        entries_read_known |= g.entries_read.is_some_and(|r| r >= 0);
        for p in g.pel() {
            needed.push(p?.id);
        }
    }
    if !t.stream_counters()
        && (tail.meta.entries_added != Some(tail.meta.length) || entries_read_known)
    {
        n.stream_counters_dropped += 1;
    }
    if let Some(i) = idmp {
        for p in i.producers() {
            for x in p?.iids() {
                needed.push(x?.1);
            }
        }
    }
    needed.retain(|id| *id != StreamId::default() && *id <= tail.meta.last_id);
    needed.sort_unstable();
    needed.dedup();
    Ok(needed)
}

/// The stream's IDMP configuration and records (Redis 8.6+ targets).
fn idmp_records(
    name: &[u8],
    i: &Idmp,
    meta: &StreamMeta,
    out: &mut Out,
    n: &mut Counts,
) -> Result<()> {
    let (d, m) = (i.duration_s.to_string(), i.max_size.to_string());
    out.command(&[
        b"XCFGSET",
        name,
        b"IDMP-DURATION",
        d.as_bytes(),
        b"IDMP-MAXSIZE",
        m.as_bytes(),
    ])?;
    for p in i.producers() {
        let p = p?;
        for x in p.iids() {
            let (iid, id) = x?;
            if id == StreamId::default() || id > meta.last_id {
                n.idmp_records_dropped += 1;
                continue;
            }
            out.command(&[b"XIDMPRECORD", name, &p.name, &iid, id_text(id).as_bytes()])?;
        }
    }
    Ok(())
}

/// One consumer group: created at its last ID (with entries-read), its PEL claimed in runs
/// that share consumer, delivery time and count, its NACKed entries, and its consumers
/// without pending entries. Returns whether NACKed entries could not be carried.
#[allow(clippy::too_many_arguments, reason = "the stream's parts a group is rebuilt from")]
fn group(
    t: &Server,
    k: &Key,
    name: &[u8],
    g: &Group,
    meta: &StreamMeta,
    first_real: Option<StreamId>,
    out: &mut Out,
    n: &mut Counts,
) -> Result<bool> {
    let gid = id_text(g.last_id);
    let mut args: Vec<&[u8]> = vec![b"XGROUP", b"CREATE", name, &g.name, gid.as_bytes()];
    let er;
    if t.stream_counters() {
        // a v1 stream stores no entries-read: a 7.0+ server estimates it on loading
        if let Some(r) =
            g.entries_read.or_else(|| estimate_entries_read(meta, first_real, g.last_id))
        {
            er = r.to_string();
            args.extend([&b"ENTRIESREAD"[..], er.as_bytes()]);
        }
    }
    out.command(&args)?;
    let nacked = claim_pel(name, g, out)?;
    let mut dropped = false;
    if g.nacked_len() > 0 {
        if t.xnack() {
            nack(k, name, g, nacked, out)?;
        } else {
            n.nacked_dropped += g.nacked_len() as u64;
            dropped = true;
        }
    }
    for cons in g.consumers() {
        let cons = cons?;
        if cons.pending_len() != 0 {
            continue;
        }
        if t.create_consumer() {
            out.command(&[b"XGROUP", b"CREATECONSUMER", name, &g.name, &cons.name])?;
        } else {
            out.command(&[
                b"XREADGROUP",
                b"GROUP",
                &g.name,
                &cons.name,
                b"COUNT",
                b"1",
                b"STREAMS",
                name,
                b"0",
            ])?;
        }
    }
    Ok(dropped)
}

/// The group's PEL as `XCLAIM ... FORCE JUSTID`, in runs that share consumer, delivery
/// time and count; returns the NACKed entries (type 27: no consumer to claim them).
fn claim_pel(name: &[u8], g: &Group, out: &mut Out) -> Result<Vec<(StreamId, u64)>> {
    let mut nacked: Vec<(StreamId, u64)> = Vec::new();
    let mut run: Vec<Pending> = Vec::new();
    let mut pel = g
        .pel()
        .filter(|p| match p {
            Ok(q) if q.consumer.is_none() => {
                nacked.push((q.id, q.delivery_count));
                false
            }
            _ => true,
        })
        .peekable();
    while let Some(p) = pel.next() {
        run.push(p?);
        let same = |q: &Pending| {
            (q.consumer, q.delivery_time_ms, q.delivery_count)
                == (run[0].consumer, run[0].delivery_time_ms, run[0].delivery_count)
        };
        if run.len() < IDS_PER_CMD && matches!(pel.peek(), Some(Ok(q)) if same(q)) {
            continue;
        }
        let p = &run[0];
        let ids: Vec<String> = run.iter().map(|q| id_text(q.id)).collect();
        let (time, count) = (p.delivery_time_ms.to_string(), p.delivery_count.to_string());
        let cons = g.consumer(p.consumer.expect("NACKed entries are filtered out"))?;
        let mut args: Vec<&[u8]> = vec![b"XCLAIM", name, &g.name, &cons.name, b"0"];
        args.extend(ids.iter().map(|s| s.as_bytes()));
        args.extend([
            &b"TIME"[..],
            time.as_bytes(),
            b"RETRYCOUNT",
            count.as_bytes(),
            b"FORCE",
            b"JUSTID",
        ]);
        out.command(&args)?;
        run.clear();
    }
    drop(pel);
    Ok(nacked)
}

/// The NACKed entries as `XNACK ... FAIL`, in NACK-zone order, in runs of equal delivery
/// count (librdb does the same).
fn nack(
    k: &Key,
    name: &[u8],
    g: &Group,
    mut nacked: Vec<(StreamId, u64)>,
    out: &mut Out,
) -> Result<()> {
    nacked.sort_unstable();
    let mut zone: Vec<(StreamId, u64)> = Vec::with_capacity(nacked.len());
    for id in g.nacked() {
        let i = nacked.binary_search_by_key(&id, |x| x.0).map_err(|_| {
            crate::format::Error::corrupt(k.value_at() as u64, "stream group", "NACKed ID lost")
        })?;
        zone.push(nacked[i]);
    }
    let mut i = 0;
    while i < zone.len() {
        let count = zone[i].1;
        let j = i + zone[i..].iter().take(XNACK_IDS).take_while(|x| x.1 == count).count();
        let ids: Vec<String> = zone[i..j].iter().map(|x| id_text(x.0)).collect();
        let (nids, c) = ((j - i).to_string(), count.to_string());
        let mut args: Vec<&[u8]> = vec![b"XNACK", name, &g.name, b"FAIL", b"IDS", nids.as_bytes()];
        args.extend(ids.iter().map(|s| s.as_bytes()));
        args.extend([&b"RETRYCOUNT"[..], c.as_bytes(), b"FORCE"]);
        out.command(&args)?;
        i = j;
    }
    Ok(())
}

/// Deletes the ghosts again: those before the first real entry by trimming (which leaves
/// max-deleted-id alone), the rest with `XDEL`.
fn drop_ghosts(
    t: &Server,
    name: &[u8],
    ghosts: &[StreamId],
    first_real: Option<StreamId>,
    out: &mut Out,
) -> Result<()> {
    let split = match first_real {
        _ if !t.stream_counters() => 0,
        None => {
            out.command(&[b"XTRIM", name, b"MAXLEN", b"0"])?;
            ghosts.len()
        }
        Some(f) => {
            let before = ghosts.iter().take_while(|g| **g < f).count();
            if before > 0 {
                out.command(&[b"XTRIM", name, b"MINID", b"=", id_text(f).as_bytes()])?;
            }
            before
        }
    };
    for run in ghosts[split..].chunks(IDS_PER_CMD) {
        let ids: Vec<String> = run.iter().map(|g| id_text(*g)).collect();
        let mut args: Vec<&[u8]> = vec![b"XDEL", name];
        args.extend(ids.iter().map(|s| s.as_bytes()));
        out.command(&args)?;
    }
    Ok(())
}

/// What a 7.0+ server sets a group's entries-read to when it loads a v1 stream
/// (`streamEstimateDistanceFromFirstEverEntry`, with entries-added = length and no
/// deletions, as it derives them for v1); `None` for "unknown".
pub(crate) fn estimate_entries_read(
    meta: &StreamMeta,
    first: Option<StreamId>,
    id: StreamId,
) -> Option<i64> {
    let (added, len) = (meta.length as i64, meta.length as i64);
    if added == 0 {
        return Some(0);
    }
    match id.cmp(&meta.last_id) {
        std::cmp::Ordering::Equal => return Some(added),
        std::cmp::Ordering::Greater => return None,
        _ => {}
    }
    match first.map(|f| id.cmp(&f)) {
        Some(std::cmp::Ordering::Less) => Some(added - len),
        Some(std::cmp::Ordering::Equal) => Some(added - len + 1),
        _ => None,
    }
}

/// Writes `XADD` per entry, with ghosts for needed IDs that have no entry.
struct Entries<'k, 'o, 's> {
    key: &'k [u8],
    out: &'o mut Out<'s>,
    needed: &'k [StreamId],
    next: usize,
    ghosts: Vec<StreamId>,
    first_real: Option<StreamId>,
    count: u64,
}

impl Entries<'_, '_, '_> {
    /// Adds ghosts for the needed IDs below `id` (all of them for `None`); skips `id` itself.
    fn ghosts_up_to(&mut self, id: Option<StreamId>) -> Result<()> {
        while let Some(&g) = self.needed.get(self.next) {
            if id.is_some_and(|id| g >= id) {
                if Some(g) == id {
                    self.next += 1;
                }
                break;
            }
            self.next += 1;
            self.out.command(&[
                b"XADD",
                self.key,
                id_text(g).as_bytes(),
                b"rdbshift-placeholder",
                b"",
            ])?;
            self.ghosts.push(g);
        }
        Ok(())
    }
}

impl Visitor for Entries<'_, '_, '_> {
    type Error = super::Error;
    fn stream_entry(&mut self, e: &StreamEntry<'_>) -> Result<()> {
        self.ghosts_up_to(Some(e.id))?;
        self.first_real.get_or_insert(e.id);
        self.count += 1;
        let out = &mut *self.out;
        array_header(&mut out.buf, 3 + 2 * e.len());
        bulk(&mut out.buf, b"XADD");
        bulk(&mut out.buf, self.key);
        bulk(&mut out.buf, id_text(e.id).as_bytes());
        for fv in e.fields() {
            let (f, v) = fv?;
            out.bulk_str(f)?;
            out.bulk_str(v)?;
        }
        out.end_cmd()
    }
}
