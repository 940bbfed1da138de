//! Streams (`src/t_stream.c`, `rdbLoadObject` in `src/rdb.c`), types 15, 19, 21, 26 and 27.
//!
//! Layout: a count of listpack nodes, each a 16-byte big-endian master ID (as a string) and
//! a listpack; the stream length and last ID; from v2 (19) the first ID, the max deleted ID
//! and entries-added; the consumer groups: name, last delivered ID, from v2 entries-read,
//! the group PEL (raw 16-byte big-endian IDs, delivery time as 8-byte LE ms, delivery
//! count), the consumers (name, seen time, from v3 (21) active time, their PEL IDs, each of
//! which must be in the group PEL). Type 26 (Redis 8.6) then adds the IDMP section; type 27
//! (Redis 8.8) also adds, in every group after its consumers, the NACKed IDs (`len n`, n raw
//! IDs; docs/rdb-newest-formats.md section 2): each in the group PEL and owned by no consumer.
//!
//! Inside a node's listpack: the master entry (valid count, deleted count, master field
//! count, the field names, a 0), then per entry: flags, ms delta, seq delta, the values
//! (flag SAMEFIELDS) or a field count and field/value pairs, and the entry's element count.
//!
//! Integrity, as the server checks it on loading (`streamValidateListpackIntegrity` in
//! `t_stream.c` with deep validation, and the stream part of `rdbLoadObject`): every node
//! key is a 16-byte ID, node master IDs are strictly increasing (no node twice), every node
//! holds a well-formed master entry and entries whose element counts match; groups have
//! unique names, their PEL unique IDs, their consumers unique names, every consumer PEL
//! entry is in the group PEL (once), and every group PEL entry has a consumer; IDMP
//! producers are unique and its settings in range. Beyond what the server checks, but
//! true of every stream a server writes: entry IDs are strictly increasing across the
//! whole stream and not after the last ID, and the master entry's counts match the
//! entries. The stored length is taken as stored, like the server does (it refuses a length
//! only when there are no nodes): old servers left lengths above the live entries.
//!
//! Memory: nothing is reserved from a count read from the file. Entries are handed on as
//! views over the node's listpack ([`StreamEntry::fields`]); groups, their PEL and
//! consumers, and the IDMP producers are views over the value's bytes, read again on
//! demand ([`Groups`], [`Group`], [`Idmp`]). A group in use holds 24 bytes per PEL entry
//! and 8 per consumer (each at least 25 and 10 bytes in the file).

use super::cursor::{Cursor, Str};
use super::dupset::Seen;
use super::error::{Error, Result};
use super::listpack::{self, Listpack};
pub use super::stream_view::{
    Consumer, EntryFields, Group, Groups, Idmp, Pending, Producer, StreamEntry, StreamId,
    StreamMeta,
};
use super::stream_view::{corrupt, read_group, read_idmp};
use super::types;
use super::visit::Visitor;
use super::visit::{Container, Oddity};

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// What the walk over the nodes found.
#[derive(Default)]
struct Walk {
    /// The last entry ID seen (deleted entries included).
    last: Option<StreamId>,
    /// The largest entry ID seen (deleted entries included).
    max: Option<StreamId>,
    /// The smallest live entry ID (what the server derives as the first ID).
    first: Option<StreamId>,
    live: u64,
    /// Entry IDs seen out of order (an [`Oddity`]).
    unordered: bool,
    /// Nodes that hold no entry (an [`Oddity`]).
    empty_nodes: bool,
}

/// Decodes a stream value of type `t` (15, 19, 21, 26 or 27) into `v`: the live entries,
/// then the metadata, the groups and the IDMP state, in that order. `exact_length`: the
/// stored length must be the live entries, as Valkey 9 checks for the files it writes
/// (`VALKEY080`; Redis and Valkey 8 load any length, see [`StreamMeta::length`]).
pub(crate) fn decode<V: Visitor<Error = Error>>(
    c: &mut Cursor,
    t: u8,
    v: &mut V,
    scratch: &mut Vec<u8>,
    exact_length: bool,
) -> Result<()> {
    let nodes = c.count("stream listpack nodes", 2)?;
    let mut buf = Vec::new();
    let mut walk = Walk::default();
    let mut prev_master: Option<StreamId> = None;
    // every master ID, to find one that occurs twice once the nodes are out of order
    let mut masters: Vec<StreamId> = Vec::new();
    let mut nodes_unordered = false;
    for _ in 0..nodes {
        let key_at = c.pos();
        let nodekey = c.string()?;
        let master = match nodekey.get(scratch)? {
            Str::Bytes(b) if b.len() == 16 => StreamId::from_be(b.try_into().unwrap()),
            _ => {
                return Err(
                    c.err_at(key_at, corrupt("stream", "node key is not a 16-byte ID".into()))
                );
            }
        };
        // rdb.c, "Listpack re-added with existing key": a master ID twice is refused; nodes
        // out of order are not (the server's rax sorts them): an oddity
        let twice = if nodes_unordered || prev_master.is_some_and(|p| master < p) {
            nodes_unordered = true;
            masters.contains(&master)
        } else {
            prev_master == Some(master)
        };
        if twice {
            return Err(c.err_at(
                key_at,
                corrupt("stream", format!("two listpack nodes with master ID {master}")),
            ));
        }
        prev_master = Some(master);
        masters.push(master);
        let lp_at = c.offset();
        let blob = c.string()?;
        let data_at = match blob {
            super::cursor::RStr::Raw(b) => c.offset() - b.len() as u64,
            _ => lp_at,
        };
        let lc = blob.open(&mut buf, "stream listpack", data_at)?;
        v.container(Container::StreamNode(master.to_be()), lc.remaining())?;
        decode_node(lc, master, &mut walk, v)?;
    }
    let mut tail = read_after_nodes(c, t, walk.first, nodes)?;
    // a stored length that is not the live entries is loaded as stored by every server
    // (old servers left such streams after trims and deletions): it is carried, not refused
    tail.meta.live = Some(walk.live);
    if exact_length && tail.meta.length != walk.live {
        // Valkey 9's rdbLoadObject: "Stream length inconsistent with the number of valid
        // entries" (seen refusing on 9.1; Valkey 8 and every Redis load it)
        return Err(c.err_at(
            tail.length_at,
            corrupt(
                "stream",
                format!(
                    "length {} but the nodes hold {} live entries (Valkey 9 refuses this; Redis and Valkey 8 load it)",
                    tail.meta.length, walk.live
                ),
            ),
        ));
    }
    // what the server loads as stored although no server writes it
    if tail.meta.length != walk.live {
        v.oddity(Oddity::StreamLengthNotLive)?;
    }
    if nodes_unordered {
        v.oddity(Oddity::StreamNodesOutOfOrder)?;
    }
    if walk.unordered {
        v.oddity(Oddity::StreamEntryIdsUnordered)?;
    }
    if walk.max.is_some_and(|m| m > tail.meta.last_id) {
        v.oddity(Oddity::StreamEntriesAfterLastId)?;
    }
    if walk.empty_nodes {
        v.oddity(Oddity::StreamNodeWithoutEntries)?;
    }
    v.stream_meta(&tail.meta)?;
    for g in tail.groups.iter() {
        v.stream_group(&g?)?;
    }
    if let Some(i) = &tail.idmp {
        v.stream_idmp(i)?;
    }
    Ok(())
}

/// What a stream value holds after its entries (checked).
#[derive(Debug, Clone)]
pub struct Tail<'a> {
    /// The stream's length and IDs.
    pub meta: StreamMeta,
    /// The consumer groups, as views.
    pub groups: Groups<'a>,
    /// Types 26 and 27 only.
    pub idmp: Option<Idmp<'a>>,
    /// Where the stream length is stored.
    length_at: usize,
}

impl Tail<'_> {
    /// The offset in the file where the node section (the node count and each node's
    /// master ID and listpack) ends and the stream length begins: the node section is
    /// `value_at..nodes_end()` of its key, and reads the same in every stream type.
    pub fn nodes_end(&self) -> usize {
        self.length_at
    }
}

/// Reads a stream value's metadata, groups and IDMP state without decoding its entries
/// (the node listpacks are skipped by their length prefixes). For type 15, whose first ID
/// the server derives from the entries, `meta.first_id` is `None`.
pub(crate) fn read_tail<'a>(c: &mut Cursor<'a>, t: u8) -> Result<Tail<'a>> {
    let nodes = c.count("stream listpack nodes", 2)?;
    for _ in 0..nodes {
        c.skip_string()?;
        c.skip_string()?;
    }
    let mut tail = read_after_nodes(c, t, None, nodes)?;
    if t < types::STREAM_LISTPACKS_2 {
        tail.meta.first_id = None;
    }
    Ok(tail)
}

/// Reads and checks everything after the nodes; groups and IDMP producers are walked once
/// here to check them, and handed on as views.
fn read_after_nodes<'a>(
    c: &mut Cursor<'a>,
    t: u8,
    first: Option<StreamId>,
    nodes: u64,
) -> Result<Tail<'a>> {
    let length_at = c.pos();
    let mut meta =
        StreamMeta { length: c.plain_len()?, last_id: StreamId::read(c)?, ..Default::default() };
    if t >= types::STREAM_LISTPACKS_2 {
        meta.first_id = Some(StreamId::read(c)?);
        meta.max_deleted_id = Some(StreamId::read(c)?);
        meta.entries_added = Some(c.plain_len()?);
    } else {
        // v1 has none of these; the server derives them as follows when it loads the stream.
        meta.first_id = Some(first.unwrap_or_default());
        meta.max_deleted_id = Some(StreamId::default());
        meta.entries_added = Some(meta.length);
    }
    // `rdbLoadObject` (rdb.c, "Stream length inconsistent with rax entries"): a length
    // with no node at all is refused; any other length is taken as stored
    if meta.length > 0 && nodes == 0 {
        return Err(c.err_at(
            length_at,
            corrupt("stream", format!("length {} but no listpack nodes", meta.length)),
        ));
    }
    let ngroups =
        c.count("stream consumer groups", if t >= types::STREAM_LISTPACKS_2 { 6 } else { 5 })?;
    let groups = Groups { c: *c, len: ngroups, t };
    let mut names = Seen::eager();
    for _ in 0..ngroups {
        read_group(c, t, &mut names)?;
    }
    let idmp = if t >= types::STREAM_LISTPACKS_4 { Some(read_idmp(c)?) } else { None };
    Ok(Tail { meta, groups, idmp, length_at })
}

fn decode_node<'a, V: Visitor<Error = Error>>(
    lc: Cursor<'a>,
    master: StreamId,
    walk: &mut Walk,
    v: &mut V,
) -> Result<()> {
    let mut lp = Listpack::open(lc)?;
    let bad = |lp: &Listpack, at: usize, why: String| {
        lp.cursor().err_at(at, corrupt("stream listpack", why))
    };
    if lp.cursor().peek() == Some(0xff) {
        return Err(bad(&lp, lp.pos(), "empty listpack node".into()));
    }
    let valid = lp.expect_int("the valid entry count")?;
    let deleted = lp.expect_int("the deleted entry count")?;
    let nfields_at = lp.pos();
    let nfields = lp.expect_int("the master field count")?;
    if nfields < 0 || nfields as u64 > lp.cursor().remaining() as u64 {
        return Err(bad(&lp, nfields_at, format!("master field count {nfields}")));
    }
    let mut names = *lp.cursor();
    names.set_pos(lp.pos());
    for _ in 0..nfields {
        lp.expect("a master field")?;
    }
    let zero_at = lp.pos();
    if lp.expect_int("the master entry terminator")? != 0 {
        return Err(bad(&lp, zero_at, "master entry not terminated by 0".into()));
    }
    let (mut seen_valid, mut seen_deleted) = (0i64, 0i64);
    loop {
        let entry_at = lp.pos();
        let Some(flags) = lp.next_elem()? else { break };
        let flags = match flags {
            Str::Int(f) => f,
            Str::Bytes(b) => match listpack::parse_i64_strict(b) {
                Some(f) => f,
                None => return Err(bad(&lp, entry_at, "entry flags are not an integer".into())),
            },
        };
        let ms = lp.expect_int("an ID delta")?;
        let seq = lp.expect_int("an ID delta")?;
        let id = StreamId {
            ms: master.ms.wrapping_add(ms as u64),
            seq: master.seq.wrapping_add(seq as u64),
        };
        // no server check orders entry IDs (streamValidateListpackIntegrity reads them as
        // integers only): an oddity, not an error
        walk.unordered |= walk.last.is_some_and(|p| id <= p);
        walk.last = Some(id);
        walk.max = walk.max.max(Some(id));
        let same = flags & FLAG_SAMEFIELDS != 0;
        let (n, values_at) = if same {
            let at = lp.pos();
            for _ in 0..nfields {
                lp.expect("a value")?;
            }
            (nfields, at)
        } else {
            let n_at = lp.pos();
            let n = lp.expect_int("a field count")?;
            if n < 0 || n as u64 > lp.cursor().remaining() as u64 {
                return Err(bad(&lp, n_at, format!("field count {n}")));
            }
            let at = lp.pos();
            for _ in 0..n {
                lp.expect("a field")?;
                lp.expect("a value")?;
            }
            (n, at)
        };
        let count_at = lp.pos();
        let lp_count = lp.expect_int("the entry's element count")?;
        let expect = if same { n + 3 } else { 2 * n + 4 };
        if lp_count != expect {
            return Err(bad(
                &lp,
                count_at,
                format!("entry element count {lp_count}, expected {expect}"),
            ));
        }
        if flags & FLAG_DELETED != 0 {
            seen_deleted += 1;
        } else {
            seen_valid += 1;
            walk.live += 1;
            walk.first = Some(walk.first.map_or(id, |f| f.min(id)));
            let mut values = *lp.cursor();
            values.set_pos(values_at);
            v.stream_entry(&StreamEntry {
                id,
                n: n as usize,
                names: same.then_some(names),
                values,
            })?;
        }
    }
    if seen_valid != valid || seen_deleted != deleted {
        return Err(bad(
            &lp,
            lp.pos(),
            format!(
                "master entry counts {valid} valid and {deleted} deleted entries, found {seen_valid} and {seen_deleted}"
            ),
        ));
    }
    // a master entry with no entry after it passes the server's deep check: an oddity
    walk.empty_nodes |= seen_valid + seen_deleted == 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Hand-made type 21 streams (layout from `rdbSaveObject`/`rdbLoadObject` in 8.6).
    use super::*;
    use crate::listpack::tests::build as lp;
    use crate::visit::Oddities;

    fn s(b: &[u8]) -> Vec<u8> {
        let mut v = if b.len() < 64 {
            vec![b.len() as u8]
        } else {
            vec![0x40 | (b.len() >> 8) as u8, b.len() as u8]
        };
        v.extend_from_slice(b);
        v
    }

    /// A node: master fields ["f"], entries (flags, ms delta, seq delta, value of "f").
    fn node(master: StreamId, entries: &[(i64, i64, i64)]) -> Vec<u8> {
        let valid = entries.iter().filter(|e| e.0 & FLAG_DELETED == 0).count() as i64;
        let mut items = vec![
            Str::Int(valid),
            Str::Int(entries.len() as i64 - valid),
            Str::Int(1),
            Str::Bytes(b"f"),
            Str::Int(0),
        ];
        for &(flags, ms, seq) in entries {
            items.extend([
                Str::Int(flags | FLAG_SAMEFIELDS),
                Str::Int(ms),
                Str::Int(seq),
                Str::Bytes(b"v"),
                Str::Int(4),
            ]);
        }
        [s(&master.to_be()), s(&lp(&items))].concat()
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// A type 21 stream: nodes, then length, last ID, first ID, max deleted, entries added,
    /// then the groups (count first).
    fn stream(nodes: &[Vec<u8>], length: u8, last: (u8, u8), groups: &[u8]) -> Vec<u8> {
        let mut b = vec![nodes.len() as u8];
        for n in nodes {
            b.extend_from_slice(n);
        }
        b.extend([length, last.0, last.1, 0, 0, 0, 0, length]);
        b.extend_from_slice(groups);
        b
    }

    /// A group "g" with PEL entries (ID, count) and consumers (name, owned IDs).
    fn group(name: &[u8], pel: &[StreamId], consumers: &[(&[u8], &[StreamId])]) -> Vec<u8> {
        let mut g = s(name);
        g.extend([0, 0, 0, pel.len() as u8]);
        for p in pel {
            g.extend(p.to_be());
            g.extend(7i64.to_le_bytes());
            g.push(1);
        }
        g.push(consumers.len() as u8);
        for (c, owned) in consumers {
            g.extend(s(c));
            g.extend(1i64.to_le_bytes());
            g.extend(2i64.to_le_bytes());
            g.push(owned.len() as u8);
            for o in *owned {
                g.extend(o.to_be());
            }
        }
        g
    }

    type Fields = Vec<(Vec<u8>, Vec<u8>)>;
    /// (name, PEL as (ID, owner), consumers as (name, pending count))
    type GroupSeen = (Vec<u8>, Vec<(StreamId, Vec<u8>)>, Vec<(Vec<u8>, usize)>);
    #[derive(Default)]
    struct Got {
        entries: Vec<(StreamId, Fields)>,
        groups: Vec<GroupSeen>,
        meta: StreamMeta,
        odd: Oddities,
    }
    impl Visitor for Got {
        type Error = crate::Error;
        fn oddity(&mut self, o: Oddity) -> Result<()> {
            self.odd.add(o);
            Ok(())
        }
        fn stream_meta(&mut self, m: &StreamMeta) -> Result<()> {
            self.meta = m.clone();
            Ok(())
        }
        fn stream_entry(&mut self, e: &StreamEntry<'_>) -> Result<()> {
            let f = e
                .fields()
                .map(|r| r.map(|(f, v)| (f.to_vec(), v.to_vec())))
                .collect::<Result<_>>()?;
            self.entries.push((e.id, f));
            Ok(())
        }
        fn stream_group(&mut self, g: &Group<'_>) -> Result<()> {
            let mut pel = Vec::new();
            for p in g.pel() {
                let p = p?;
                let owner = match p.consumer {
                    Some(c) => g.consumer(c)?.name,
                    None => b"(nacked)".to_vec(),
                };
                pel.push((p.id, owner));
            }
            let cons = g
                .consumers()
                .map(|c| c.map(|c| (c.name.clone(), c.pending_len())))
                .collect::<Result<_>>()?;
            self.groups.push((g.name.clone(), pel, cons));
            Ok(())
        }
    }

    fn read(b: &[u8]) -> Result<Got> {
        let mut got = Got::default();
        let mut c = Cursor::file(b);
        decode(&mut c, types::STREAM_LISTPACKS_3, &mut got, &mut Vec::new(), false)?;
        assert_eq!(c.remaining(), 0);
        Ok(got)
    }

    fn refused(b: &[u8], says: &str) {
        let e = read(b).err().unwrap_or_else(|| panic!("accepted; expected {says:?}"));
        assert!(e.to_string().contains(says), "{e} (expected {says:?})");
    }

    #[test]
    fn views_read_what_the_file_holds() {
        let nodes = [
            node(id(5, 0), &[(0, 0, 0), (FLAG_DELETED, 0, 1), (0, 1, 0)]),
            node(id(9, 0), &[(0, 0, 0)]),
        ];
        let groups = [
            vec![2],
            group(
                b"g1",
                &[id(9, 0), id(5, 0)],
                &[(b"alice", &[id(5, 0)]), (b"bob", &[]), (b"carol", &[id(9, 0)])],
            ),
            group(b"g2", &[], &[]),
        ]
        .concat();
        let got = read(&stream(&nodes, 3, (9, 0), &groups)).unwrap();
        let ids: Vec<StreamId> = got.entries.iter().map(|e| e.0).collect();
        assert_eq!(ids, vec![id(5, 0), id(6, 0), id(9, 0)]);
        assert_eq!(got.entries[0].1, vec![(b"f".to_vec(), b"v".to_vec())]);
        assert_eq!(got.groups.len(), 2);
        let (name, pel, cons) = &got.groups[0];
        assert_eq!(name, b"g1");
        assert_eq!(
            pel,
            &vec![(id(9, 0), b"carol".to_vec()), (id(5, 0), b"alice".to_vec())],
            "file order, owners"
        );
        assert_eq!(
            cons,
            &vec![(b"alice".to_vec(), 1), (b"bob".to_vec(), 0), (b"carol".to_vec(), 1)]
        );
        assert_eq!(got.groups[1].0, b"g2");
    }

    #[test]
    fn odd_but_loadable_streams_are_read_and_said() {
        // what no server writes but every server loads: read, and each said once
        let odd = |b: &[u8]| -> (Got, Oddities) {
            let got = read(b).unwrap();
            let o = got.odd;
            (got, o)
        };
        let only = |o: Oddities, which: Oddity| {
            assert_eq!(o.iter().collect::<Vec<_>>(), vec![(which, 1)], "{o:?}");
        };
        // entry IDs within a node, backwards and twice
        let (g, o) = odd(&stream(&[node(id(5, 0), &[(0, 0, 1), (0, 0, 0)])], 2, (9, 0), &[0]));
        only(o, Oddity::StreamEntryIdsUnordered);
        assert_eq!(
            g.entries.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![id(5, 1), id(5, 0)],
            "in file order"
        );
        only(
            odd(&stream(&[node(id(5, 0), &[(0, 0, 1), (0, 0, 1)])], 2, (9, 0), &[0])).1,
            Oddity::StreamEntryIdsUnordered,
        );
        // the nodes' own order (the server's rax sorts them)
        let two = |a, b| [node(a, &[(0, 0, 0)]), node(b, &[(0, 0, 0)])];
        let (g, o) = odd(&stream(&two(id(6, 0), id(5, 0)), 2, (9, 0), &[0]));
        assert!(
            o.get(Oddity::StreamNodesOutOfOrder) == 1
                && o.get(Oddity::StreamEntryIdsUnordered) == 1,
            "{o:?}"
        );
        assert_eq!(g.entries.len(), 2);
        // a stored length other than the live entries is carried as stored
        let (g, o) = odd(&stream(&two(id(5, 0), id(6, 0)), 3, (9, 0), &[0]));
        assert_eq!((g.meta.length, g.meta.live), (3, Some(2)));
        only(o, Oddity::StreamLengthNotLive);
        // entries after the last ID
        only(
            odd(&stream(&two(id(5, 0), id(6, 0)), 2, (5, 9), &[0])).1,
            Oddity::StreamEntriesAfterLastId,
        );
        // and nothing odd about a plain stream
        assert!(odd(&stream(&two(id(5, 0), id(6, 0)), 2, (6, 0), &[0])).1.is_empty());
    }

    #[test]
    fn what_the_server_refuses_is_refused() {
        let two = |a, b| [node(a, &[(0, 0, 0)]), node(b, &[(0, 0, 0)])];
        // rdb.c "Listpack re-added with existing key", also when the nodes are unordered
        refused(
            &stream(&two(id(5, 0), id(5, 0)), 2, (9, 0), &[0]),
            "two listpack nodes with master ID 5-0",
        );
        let three = [
            node(id(6, 0), &[(0, 0, 0)]),
            node(id(5, 0), &[(0, 0, 0)]),
            node(id(6, 0), &[(0, 0, 1)]),
        ];
        refused(&stream(&three, 3, (9, 0), &[0]), "two listpack nodes with master ID 6-0");
        // rdb.c "Stream length inconsistent with rax entries"
        refused(&stream(&[], 3, (9, 0), &[0]), "length 3 but no listpack nodes");
        assert!(
            read(&stream(&[], 0, (9, 0), &[0])).is_ok(),
            "an empty stream (all deleted, groups kept)"
        );
        // Valkey 9: the length must be the live entries in the files it writes
        let odd = stream(&two(id(5, 0), id(6, 0)), 3, (9, 0), &[0]);
        let mut c = Cursor::file(&odd);
        let e =
            decode(&mut c, types::STREAM_LISTPACKS_3, &mut Got::default(), &mut Vec::new(), true)
                .unwrap_err();
        assert!(
            e.to_string().contains("length 3 but the nodes hold 2 live entries (Valkey 9 refuses"),
            "{e}"
        );
    }

    #[test]
    fn groups_consumers_and_pel() {
        let one = [node(id(5, 0), &[(0, 0, 0)])];
        let st = |groups: Vec<u8>| stream(&one, 1, (5, 0), &groups);
        let p = id(5, 0);
        refused(
            &st([vec![2], group(b"g", &[], &[]), group(b"g", &[], &[])].concat()),
            "two groups named \"g\"",
        );
        refused(
            &st([vec![1], group(b"g", &[p, p], &[(b"c", &[p])])].concat()),
            "duplicate PEL entry 5-0",
        );
        refused(
            &st([vec![1], group(b"g", &[p], &[(b"c", &[p]), (b"c", &[])])].concat()),
            "duplicate consumer \"c\"",
        );
        refused(
            &st([vec![1], group(b"g", &[p], &[(b"c", &[p, p])])].concat()),
            "PEL entry 5-0 twice in one consumer",
        );
        refused(
            &st([vec![1], group(b"g", &[p], &[(b"c", &[p]), (b"d", &[p])])].concat()),
            "owned by two consumers",
        );
        refused(
            &st([vec![1], group(b"g", &[p], &[(b"c", &[])])].concat()),
            "PEL entry 5-0 has no consumer",
        );
        refused(
            &st([vec![1], group(b"g", &[], &[(b"c", &[p])])].concat()),
            "is not in the group PEL",
        );
        // the same consumer name in two groups is fine
        assert!(
            read(&st([
                vec![2],
                group(b"g", &[], &[(b"c", &[])]),
                group(b"h", &[], &[(b"c", &[])])
            ]
            .concat()))
            .is_ok()
        );
    }

    /// Type 27 (docs/rdb-newest-formats.md section 2.1): each group ends with its NACK zone
    /// (`len n`, n raw IDs); then the IDMP section of type 26.
    fn read27(groups: &[u8]) -> Result<Got> {
        let one = [node(id(5, 0), &[(0, 0, 0), (0, 1, 0)])];
        let mut b = stream(&one, 2, (6, 0), groups);
        b.extend([60, 10, 0, 0, 0]); // IDMP: duration, max size, no producers, counters
        let mut got = Got::default();
        let mut c = Cursor::file(&b);
        decode(&mut c, types::STREAM_LISTPACKS_5, &mut got, &mut Vec::new(), false)?;
        assert_eq!(c.remaining(), 0);
        Ok(got)
    }

    fn nack(ids: &[StreamId]) -> Vec<u8> {
        let mut v = vec![ids.len() as u8];
        for i in ids {
            v.extend(i.to_be());
        }
        v
    }

    #[test]
    fn type_27_nack_zone() {
        let (a, b) = (id(5, 0), id(6, 0));
        // 6-0 is NACKed: in the PEL, no owner
        let g = [vec![1], group(b"g", &[a, b], &[(b"c", &[a])]), nack(&[b])].concat();
        let got = read27(&g).unwrap();
        assert_eq!(got.groups[0].1, vec![(a, b"c".to_vec()), (b, b"(nacked)".to_vec())]);
        // an empty zone is fine; without it the unowned entry is refused as before
        assert!(read27(&[vec![1], group(b"g", &[a], &[(b"c", &[a])]), nack(&[])].concat()).is_ok());
        let e = read27(&[vec![1], group(b"g", &[a, b], &[(b"c", &[a])]), nack(&[])].concat())
            .err()
            .unwrap();
        assert!(e.to_string().contains("PEL entry 6-0 has no consumer"), "{e}");
        let says = |g: Vec<u8>, what: &str| {
            let e = read27(&g).err().unwrap_or_else(|| panic!("accepted; expected {what}"));
            assert!(e.to_string().contains(what), "{e} (expected {what:?})");
        };
        says(
            [vec![1], group(b"g", &[a], &[(b"c", &[a])]), nack(&[b])].concat(),
            "NACKed ID 6-0 is not in the group PEL",
        );
        says(
            [vec![1], group(b"g", &[a], &[(b"c", &[a])]), nack(&[a])].concat(),
            "NACKed ID 5-0 is owned by a consumer",
        );
        says(
            [vec![1], group(b"g", &[a, b], &[(b"c", &[a])]), nack(&[b, b])].concat(),
            "NACKed ID 6-0 twice",
        );
        // a count the bytes cannot hold fails before anything is read
        says(
            [vec![1], group(b"g", &[], &[]), vec![0x80, 0x10, 0, 0, 0]].concat(),
            "NACKed IDs length",
        );
    }
}
