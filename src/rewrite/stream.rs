//! A stream in an older stream type than the one it is stored in, or with its length made
//! its live entries (Valkey 9 refuses any other).
//!
//! The listpack nodes are the same in every stream type (Redis 5.0 to 8.8), so the node
//! section is copied as stored; what follows it is written again for the type:
//! - v1 (15): length, last ID; groups with their last ID, PEL and consumers.
//! - v2 (19): adds first ID, max deleted ID, entries added, and each group's entries read.
//! - v3 (21): adds each consumer's active time.
//! - v4 (26): adds the IDMP section after the groups.
//!
//! What the written type cannot hold is counted: IDMP state, NACKed PEL entries (type 27;
//! no consumer owns them, and a server before 8.8 would keep them as orphans, so they are
//! left out of the group PEL), and the counters a v1 stream has not.

use crate::convert::{KeyWriter, Result};
use crate::format::record::Key;
use crate::format::stream::StreamId;
use crate::format::types::*;
use crate::format::write;
use crate::server::Server;

/// The newest stream type `t` loads.
pub fn newest_type(t: &Server) -> u8 {
    match t.dump_version() {
        ..=9 => STREAM_LISTPACKS,
        10 => STREAM_LISTPACKS_2,
        13 => STREAM_LISTPACKS_4,
        _ => STREAM_LISTPACKS_3,
    }
}

/// Writes the type byte, `name` (none in a payload) and the stream for `t` (the prefix is
/// written).
pub fn write(w: &mut KeyWriter, k: &Key, name: Option<(&[u8], bool)>) -> Result<()> {
    let t = &w.plan.target;
    let (out, b, n) = (&mut *w.out, &mut *w.bufs, &mut *w.counts);
    let src = k.ty();
    let ty = src.min(newest_type(t));
    let tail = k.stream_tail()?;
    let meta = &tail.meta;
    // the entries a server counts: Valkey 9 refuses a length that is not them
    let length = if t.exact_stream_length() {
        let mut live = Live(0);
        k.decode(&mut live, &mut b.scratch)?;
        if live.0 != meta.length {
            n.stream_lengths_dropped += 1;
        }
        live.0
    } else {
        meta.length
    };
    if tail.idmp.as_ref().is_some_and(|i| !i.is_default()) && ty < STREAM_LISTPACKS_4 {
        n.idmp_dropped += 1;
    }
    let mut entries_read_known = false;
    let mut nacked = 0u64;
    for g in tail.groups.iter() {
        let g = g?;
        entries_read_known |= g.entries_read.is_some_and(|r| r >= 0);
        nacked += g.nacked_len() as u64;
    }
    if ty < STREAM_LISTPACKS_2
        && src >= STREAM_LISTPACKS_2
        && (meta.entries_added != Some(meta.length)
            || meta.max_deleted_id.is_some_and(|m| m != StreamId::default())
            || entries_read_known)
    {
        n.stream_counters_dropped += 1;
    }
    if nacked > 0 {
        n.streams_nack += 1;
        n.nacked_dropped += nacked;
    }

    out.buf().push(ty);
    if let Some((name, renamed)) = name {
        super::key::name_of(out.buf(), k, name, renamed);
    }
    // the node section, as stored
    let (_, body) = k.raw_value();
    out.raw(&body[..tail.nodes_end() - k.value_at()])?;
    let buf = out.buf();
    write::len(buf, length);
    write::stream_id(buf, meta.last_id);
    if ty >= STREAM_LISTPACKS_2 {
        write::stream_id(buf, meta.first_id.unwrap_or_default());
        write::stream_id(buf, meta.max_deleted_id.unwrap_or_default());
        write::len(buf, meta.entries_added.unwrap_or(meta.length));
    }
    write::len(buf, tail.groups.len());
    for g in tail.groups.iter() {
        let g = g?;
        let buf = out.buf();
        write::bytes(buf, &g.name);
        write::stream_id(buf, g.last_id);
        if ty >= STREAM_LISTPACKS_2 {
            // -1 (unknown) is stored as the 64-bit length it is in two's complement
            write::len(buf, g.entries_read.unwrap_or(-1) as u64);
        }
        write::len(buf, g.pel_len() - g.nacked_len() as u64);
        for p in g.pel() {
            let p = p?;
            if p.consumer.is_none() {
                continue;
            }
            let buf = out.buf();
            buf.extend_from_slice(&p.id.to_be());
            write::ms(buf, p.delivery_time_ms);
            write::len(buf, p.delivery_count);
            out.filled()?;
        }
        write::len(out.buf(), g.consumers_len() as u64);
        for c in g.consumers() {
            let c = c?;
            let buf = out.buf();
            write::bytes(buf, &c.name);
            write::ms(buf, c.seen_time_ms);
            if ty >= STREAM_LISTPACKS_3 {
                write::ms(buf, c.active_time_ms.unwrap_or(c.seen_time_ms));
            }
            write::len(buf, c.pending_len() as u64);
            for id in c.pending() {
                out.buf().extend_from_slice(&id.to_be());
            }
            out.filled()?;
        }
    }
    if ty >= STREAM_LISTPACKS_4 {
        // the type is the older of the two, so the stream has IDMP state; a server's
        // defaults stand for it otherwise
        let Some(i) = &tail.idmp else {
            let buf = out.buf();
            [100, 100, 0, 0, 0].into_iter().for_each(|x| write::len(buf, x));
            return Ok(());
        };
        let buf = out.buf();
        write::len(buf, i.duration_s);
        write::len(buf, i.max_size);
        write::len(buf, i.producers_len());
        for p in i.producers() {
            let p = p?;
            write::bytes(out.buf(), &p.name);
            write::len(out.buf(), p.iids_len());
            for x in p.iids() {
                let (iid, id) = x?;
                write::bytes(out.buf(), &iid);
                write::stream_id(out.buf(), id);
            }
            out.filled()?;
        }
        write::len(out.buf(), i.iids_added);
        write::len(out.buf(), i.iids_duplicates);
    }
    Ok(())
}

/// Counts a stream's live entries.
struct Live(u64);

impl crate::format::visit::Visitor for Live {
    type Error = crate::convert::Error;
    fn stream_entry(&mut self, _e: &crate::format::stream::StreamEntry<'_>) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
}
