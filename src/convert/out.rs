//! Where converted commands go: a buffer handed on in pieces ([`Seg`]) as it fills, so a key
//! of any size is written in bounded memory. Big strings that sit verbatim in the mapped
//! input are not copied: they travel as a range of the input ([`Seg::Mapped`]).

use std::ops::Range;
use std::sync::Mutex;

use super::Result;
use crate::format::Str;

/// A piece of output, in order.
#[derive(Debug)]
pub enum Seg {
    /// Bytes, and where each key's commands start in them (when marks were asked for).
    Bytes(Vec<u8>, Vec<Mark>),
    /// `input[range]`, written as is.
    Mapped(Range<usize>),
}

/// Where one key's commands sit in a [`Seg::Bytes`] (for a loader, which routes keys to
/// cluster nodes and retries a key from its first command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Offset in the piece where this key's commands (or their continuation) start; they
    /// run to the next mark or the end of the piece (mapped segments in between belong to
    /// the key being written).
    pub(crate) at: usize,
    /// The key's record offset in the dump (identifies it; a retry decodes it again from
    /// there). `usize::MAX` for commands that belong to no key (`FUNCTION LOAD`).
    pub(crate) record: usize,
    /// The key's hash slot; `None` for commands every node needs (`FUNCTION LOAD`).
    pub(crate) slot: Option<u16>,
    /// Commands that end in this piece.
    pub(crate) cmds: u32,
    /// The key's last command ends in this piece.
    pub(crate) end: bool,
    /// The mark is where the key's commands begin (not their continuation in a later
    /// piece).
    pub(crate) begun: bool,
    /// The key's name, on the mark where its commands begin, when the consumer asked for
    /// names ([`Out::with_names`]: a loader asking the target which keys exist). Not by
    /// default: an allocation per key, where a failed key's name can be read again from
    /// the dump.
    pub(crate) name: Option<Box<[u8]>>,
    /// The key's command is shared with the keys after it, up to the first mark that is not
    /// joined: an `MSET` of plain strings ([`Out::with_groups`]). It has no bytes and no
    /// command of its own; it is acknowledged by the reply to that mark's command.
    pub(crate) joined: bool,
}

const ASKING: &[u8] = b"*1\r\n$6\r\nASKING\r\n";

/// Strings at least this long that lie in the input are sent by reference.
pub const ZERO_COPY_MIN: usize = 64 << 10;

/// Most keys in one `MSET` ([`Out::with_groups`]).
pub const GROUP_KEYS: usize = 64;
/// An `MSET` is closed once its arguments reach this many bytes.
pub const GROUP_BYTES: usize = 32 << 10;

/// Output buffers handed back once written, so that pieces reuse memory that is already
/// mapped instead of faulting in fresh pages for every megabyte of output.
#[derive(Default)]
pub struct BufPool(Mutex<Vec<Vec<u8>>>);

impl BufPool {
    pub fn get(&self, cap: usize) -> Vec<u8> {
        self.0.lock().unwrap().pop().unwrap_or_else(|| Vec::with_capacity(cap))
    }
    pub fn put(&self, mut b: Vec<u8>) {
        b.clear();
        let mut v = self.0.lock().unwrap();
        if v.len() < 64 {
            v.push(b);
        }
    }
}

/// The sending end for one unit of work (a chunk of keys).
pub struct Out<'s> {
    pub(crate) buf: Vec<u8>,
    piece: usize,
    input: &'s [u8],
    pool: &'s BufPool,
    /// Key marks, when the consumer wants them.
    pub(crate) marks: Option<Vec<Mark>>,
    /// Marks carry their key's name ([`Out::with_names`]).
    names: bool,
    /// `ASKING` before every command (see [`Out::with_asking`]).
    asking: bool,
    /// Plain strings are gathered into `MSET`s (see [`Out::with_groups`]).
    groups: Option<Groups>,
    /// Where the key being written began in `buf` (0: in an earlier piece); `None`
    /// between keys. What [`Out::drop_unfinished`] drops.
    open: Option<usize>,
    send: &'s mut dyn FnMut(Seg) -> Result<()>,
}

/// The `MSET` being gathered: its keys' marks are the last `n` marks, all at the offset
/// where the command will be written (nothing else is written while a group is open).
#[derive(Default)]
struct Groups {
    /// Keys of one group share a hash slot (a cluster's `MSET` must).
    by_slot: bool,
    /// Name and value of each key, RESP-encoded.
    body: Vec<u8>,
    n: usize,
    slot: Option<u16>,
}

/// The buffer goes back to the pool: a chunk's last one, flushed empty, would otherwise be
/// freed and the next chunk's fault in fresh pages (measured: 40% of a convert's page
/// faults).
impl Drop for Out<'_> {
    fn drop(&mut self) {
        if self.buf.capacity() > 0 {
            self.pool.put(std::mem::take(&mut self.buf));
        }
    }
}

impl<'s> Out<'s> {
    /// `piece`: the buffer is sent on once it holds this many bytes (at a command boundary).
    pub fn new(
        input: &'s [u8],
        piece: usize,
        pool: &'s BufPool,
        send: &'s mut dyn FnMut(Seg) -> Result<()>,
    ) -> Self {
        Out {
            buf: pool.get(piece + (64 << 10)),
            piece,
            input,
            pool,
            marks: None,
            names: false,
            asking: false,
            groups: None,
            open: None,
            send,
        }
    }

    /// Gathers plain strings into `MSET`s of up to [`GROUP_KEYS`] keys (a server spends
    /// less per key on one `MSET` than on many `SET`s: measured, 0.77x the CPU on 1M
    /// 470-byte strings). Needs marks: each key keeps its own mark, acknowledged by the
    /// group's reply. `by_slot`: a group never mixes hash slots (a cluster target).
    pub fn with_groups(mut self, by_slot: bool) -> Self {
        self.groups = Some(Groups { by_slot, ..Groups::default() });
        self
    }

    /// Whether plain strings go into groups ([`Out::begin_grouped_key`]).
    pub fn grouping(&self) -> bool {
        self.groups.is_some() && self.marks.is_some()
    }

    /// Starts a key that goes into the `MSET` being gathered (with [`Out::group_string`]);
    /// a group of another slot is closed first, when groups keep to one slot.
    pub fn begin_grouped_key(&mut self, record: usize, slot: Option<u16>, name: &[u8]) {
        if let Some(g) = &self.groups
            && g.n > 0
            && g.by_slot
            && g.slot != slot
        {
            self.close_group();
        }
        if let Some(g) = &mut self.groups {
            g.slot = slot;
        }
        self.push_mark(record, slot, name);
    }

    /// The value of the key begun with [`Out::begin_grouped_key`].
    pub fn group_string(&mut self, name: &[u8], v: Str) -> Result<()> {
        let Some(g) = &mut self.groups else { unreachable!("group_string without groups") };
        bulk(&mut g.body, name);
        bulk_str(&mut g.body, v);
        g.n += 1;
        if g.n >= GROUP_KEYS || g.body.len() >= GROUP_BYTES {
            self.close_group();
            if self.buf.len() >= self.piece {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Writes the `MSET` gathered so far (none: nothing), its last key's mark owning the
    /// command, the others joined to it.
    pub fn close_group(&mut self) {
        let Some(g) = &mut self.groups else { return };
        if g.n == 0 {
            return;
        }
        array_header(&mut self.buf, 1 + 2 * g.n);
        bulk(&mut self.buf, b"MSET");
        self.buf.extend_from_slice(&g.body);
        g.body.clear();
        let n = std::mem::take(&mut g.n);
        let marks = self.marks.as_mut().expect("groups need marks");
        let last = marks.len() - 1;
        for m in &mut marks[last + 1 - n..last] {
            m.joined = true;
        }
        marks[last].cmds += 1;
    }

    /// Drops what the key being written wrote, if it began (an error in it): its bytes
    /// and its mark. The keys before it stay whole, in an `MSET` still being gathered too.
    pub fn drop_unfinished(&mut self) {
        let Some(at) = self.open.take() else { return };
        self.buf.truncate(at);
        if let Some(m) = &mut self.marks {
            m.pop_if(|m| !m.end);
        }
    }

    /// Records key marks from now on.
    pub fn with_marks(mut self) -> Self {
        self.marks = Some(Vec::new());
        self
    }

    /// Marks carry their key's name (see `Mark::name`).
    pub fn with_names(mut self) -> Self {
        self.names = true;
        self
    }

    /// Writes `ASKING` before every command from now on (a key resent to the node that
    /// answered `ASK`: each of its commands must follow an `ASKING`).
    pub fn with_asking(mut self) -> Self {
        self.asking = true;
        self
    }

    /// Whether pieces carry key marks (then a key's slot is wanted: [`Out::begin_key`]).
    pub fn marked(&self) -> bool {
        self.marks.is_some()
    }

    /// The commands that follow belong to the key at `record`, named `name` (see [`Mark`]).
    pub fn begin_key(&mut self, record: usize, slot: Option<u16>, name: &[u8]) {
        self.close_group();
        self.push_mark(record, slot, name);
        if self.asking {
            self.asking_before_next();
        }
    }

    fn push_mark(&mut self, record: usize, slot: Option<u16>, name: &[u8]) {
        self.open = Some(self.buf.len());
        if let Some(m) = &mut self.marks {
            let begun = record != usize::MAX;
            let name = (begun && self.names).then(|| name.into());
            let at = self.buf.len();
            m.push(Mark { at, record, slot, cmds: 0, end: false, begun, name, joined: false });
        }
    }

    fn asking_before_next(&mut self) {
        self.buf.extend_from_slice(ASKING);
        if let Some(m) = self.marks.as_mut().and_then(|m| m.last_mut()) {
            m.cmds += 1;
        }
    }

    /// The key's commands are complete.
    pub fn end_key(&mut self) {
        if self.asking && self.buf.ends_with(ASKING) {
            // the ASKING written for a command that does not come
            self.buf.truncate(self.buf.len() - ASKING.len());
            if let Some(m) = self.marks.as_mut().and_then(|m| m.last_mut()) {
                m.cmds -= 1;
            }
        }
        if let Some(m) = self.marks.as_mut().and_then(|m| m.last_mut()) {
            m.end = true;
        }
        self.open = None;
    }

    /// `PEXPIREAT key ms`: an absolute expiry, so a replay later than the dump keeps it.
    pub fn pexpireat(&mut self, key: &[u8], ms: i64) -> Result<()> {
        self.command(&[b"PEXPIREAT", key, itoa::Buffer::new().format(ms).as_bytes()])
    }

    /// A whole command of small arguments (written by [`crate::resp::command::write`]).
    pub fn command(&mut self, args: &[&[u8]]) -> Result<()> {
        crate::resp::command::write(&mut self.buf, args);
        self.end_cmd()
    }

    /// Call after each complete command.
    pub fn end_cmd(&mut self) -> Result<()> {
        if let Some(m) = self.marks.as_mut().and_then(|m| m.last_mut()) {
            m.cmds += 1;
        }
        if self.asking {
            self.asking_before_next();
        }
        if self.buf.len() >= self.piece {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands on what is buffered. A piece goes out when it holds bytes, or when it holds no
    /// bytes but carries news of a key: the end of a key whose last command already went
    /// out in the previous piece (the flush after a key's last command comes before the key
    /// is closed), or a key begun with no command yet. Without it, a key whose last command
    /// filled the piece at the end of a chunk would stay open forever for the consumer.
    pub fn flush(&mut self) -> Result<()> {
        self.close_group();
        let news = || {
            self.marks.as_ref().is_some_and(|m| m.iter().any(|m| m.end || m.cmds > 0 || m.begun))
        };
        if !self.buf.is_empty() || news() {
            let full = std::mem::replace(&mut self.buf, self.pool.get(self.piece + (64 << 10)));
            let marks = match &mut self.marks {
                None => Vec::new(),
                Some(m) => {
                    // a key still being written continues at the start of the next piece
                    let cont = m.last().filter(|l| !l.end).map(|l| Mark {
                        at: 0,
                        cmds: 0,
                        begun: false,
                        name: None,
                        joined: false,
                        ..*l
                    });
                    let done = std::mem::take(m);
                    m.extend(cont);
                    done
                }
            };
            if let Some(o) = &mut self.open {
                // the key being written continues in the next piece
                *o = 0;
            }
            (self.send)(Seg::Bytes(full, marks))?;
        }
        Ok(())
    }

    /// Appends bytes as they are (an RDB writer's output); bytes that lie in the input and
    /// are at least [`ZERO_COPY_MIN`] long go by reference. Hands the piece on once full.
    pub fn raw(&mut self, b: &[u8]) -> Result<()> {
        if b.len() >= ZERO_COPY_MIN
            && let Some(r) = self.input_range(b)
        {
            return self.mapped(r);
        }
        self.buf.extend_from_slice(b);
        self.filled()
    }

    /// The buffer, for a writer that appends small pieces itself (then [`Out::filled`]).
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Hands the piece on if it is full (a writer's [`Out::end_cmd`] without commands).
    pub fn filled(&mut self) -> Result<()> {
        if self.buf.len() >= self.piece { self.flush() } else { Ok(()) }
    }

    /// Sends `input[r]` by reference, after what is buffered.
    pub fn mapped(&mut self, r: Range<usize>) -> Result<()> {
        self.flush()?;
        (self.send)(Seg::Mapped(r))
    }

    /// Where `b` lies in the input, if it does.
    pub fn input_range(&self, b: &[u8]) -> Option<Range<usize>> {
        let base = self.input.as_ptr() as usize;
        let p = b.as_ptr() as usize;
        (p >= base && p + b.len() <= base + self.input.len()).then(|| p - base..p - base + b.len())
    }

    /// Appends a bulk string argument.
    pub fn bulk(&mut self, b: &[u8]) -> Result<()> {
        if b.len() < ZERO_COPY_MIN {
            bulk(&mut self.buf, b);
            return Ok(());
        }
        bulk_header(&mut self.buf, b.len());
        match self.input_range(b) {
            Some(r) if b.len() >= ZERO_COPY_MIN => self.mapped(r)?,
            _ => self.buf.extend_from_slice(b),
        }
        self.buf.extend_from_slice(b"\r\n");
        Ok(())
    }

    pub fn bulk_str(&mut self, s: Str) -> Result<()> {
        match s {
            Str::Bytes(b) => self.bulk(b),
            Str::Int(i) => {
                bulk(&mut self.buf, itoa::Buffer::new().format(i).as_bytes());
                Ok(())
            }
        }
    }
}

pub fn bulk_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Copies `n` bytes from `src` to `dst` inline, for the short arguments most keys have:
/// two overlapping moves of one width for up to 32 bytes, a call to `memcpy` beyond
/// (measured: the calls were a tenth of a tiny key's conversion).
///
/// # Safety
/// `src` is readable and `dst` writable for `n` bytes, and they do not overlap.
#[inline(always)]
unsafe fn copy_short(src: *const u8, dst: *mut u8, n: usize) {
    use std::ptr::{read_unaligned as get, write_unaligned as put};
    // SAFETY: every move below stays within the first `n` bytes of both (the caller's
    // promise): the second move of a pair ends at byte `n`, and overlaps the first.
    unsafe {
        match n {
            16..=32 => {
                let (a, b) = (get(src.cast::<u128>()), get(src.add(n - 16).cast::<u128>()));
                put(dst.cast::<u128>(), a);
                put(dst.add(n - 16).cast::<u128>(), b);
            }
            8..=15 => {
                let (a, b) = (get(src.cast::<u64>()), get(src.add(n - 8).cast::<u64>()));
                put(dst.cast::<u64>(), a);
                put(dst.add(n - 8).cast::<u64>(), b);
            }
            4..=7 => {
                let (a, b) = (get(src.cast::<u32>()), get(src.add(n - 4).cast::<u32>()));
                put(dst.cast::<u32>(), a);
                put(dst.add(n - 4).cast::<u32>(), b);
            }
            1..=3 => {
                *dst = *src;
                *dst.add(n / 2) = *src.add(n / 2);
                *dst.add(n - 1) = *src.add(n - 1);
            }
            0 => {}
            _ => std::ptr::copy_nonoverlapping(src, dst, n),
        }
    }
}

pub fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len();
    if n < 100 {
        // a short argument in one reserved write (measured: appends were a sixth of the
        // instructions of a tiny key's conversion)
        let head = [b'$', b'0' + (n / 10) as u8, b'0' + (n % 10) as u8, b'\r', b'\n'];
        let head = if n < 10 { [b'$', head[2], b'\r', b'\n', 0] } else { head };
        let hl = if n < 10 { 4 } else { 5 };
        out.reserve(hl + n + 2);
        let at = out.len();
        // SAFETY: `hl + n + 2` bytes are reserved past `at`; the three copies fill exactly
        // those bytes, from sources that do not overlap the vector's spare capacity.
        unsafe {
            let p = out.as_mut_ptr().add(at);
            std::ptr::copy_nonoverlapping(head.as_ptr(), p, hl);
            copy_short(b.as_ptr(), p.add(hl), n);
            std::ptr::copy_nonoverlapping(b"\r\n".as_ptr(), p.add(hl + n), 2);
            out.set_len(at + hl + n + 2);
        }
        return;
    }
    bulk_header(out, n);
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

pub fn bulk_str(out: &mut Vec<u8>, s: Str) {
    match s {
        Str::Bytes(b) => bulk(out, b),
        Str::Int(i) => bulk(out, itoa::Buffer::new().format(i).as_bytes()),
    }
}

pub fn bulk_int(out: &mut Vec<u8>, i: impl itoa::Integer) {
    bulk(out, itoa::Buffer::new().format(i).as_bytes());
}

pub fn array_header(out: &mut Vec<u8>, argc: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(argc).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces an `Out` of `piece` bytes hands on, set up by `with`, written by `fill`,
    /// and flushed.
    fn pieces(piece: usize, with: fn(Out<'_>) -> Out<'_>, fill: impl FnOnce(&mut Out)) -> Vec<Seg> {
        let pool = BufPool::default();
        let mut segs = Vec::new();
        let mut send = |s: Seg| {
            segs.push(s);
            Ok(())
        };
        let mut out = with(Out::new(b"", piece, &pool, &mut send));
        fill(&mut out);
        out.flush().unwrap();
        drop(out);
        segs
    }

    /// The marks of `segs`, in order.
    fn marks_of(segs: Vec<Seg>) -> Vec<Mark> {
        segs.into_iter().flat_map(|s| if let Seg::Bytes(_, m) = s { m } else { vec![] }).collect()
    }

    #[test]
    fn grouped_strings_share_one_mset_and_keep_their_marks() {
        let mut segs = pieces(
            1 << 20,
            |o| o.with_marks().with_groups(true),
            |out| {
                assert!(out.grouping());
                // a, b in slot 1; c in slot 2 (a group of its own); then a key of commands
                for (rec, slot, name) in [(10, 1, "a"), (20, 1, "b"), (30, 2, "c")] {
                    out.begin_grouped_key(rec, Some(slot), name.as_bytes());
                    out.group_string(name.as_bytes(), Str::Int(rec as i64)).unwrap();
                    out.end_key();
                }
                // a key that fails half-way: dropped, the open group stays whole
                out.begin_grouped_key(35, Some(2), b"x");
                out.drop_unfinished();
                out.begin_key(40, Some(3), b"d");
                out.command(&[b"DEL", b"d"]).unwrap();
                out.end_key();
            },
        );
        let Some(Seg::Bytes(b, m)) = segs.pop() else { panic!("one piece") };
        let want = "*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$2\r\n10\r\n$1\r\nb\r\n$2\r\n20\r\n\
                    *3\r\n$4\r\nMSET\r\n$1\r\nc\r\n$2\r\n30\r\n\
                    *2\r\n$3\r\nDEL\r\n$1\r\nd\r\n";
        assert_eq!(String::from_utf8_lossy(&b), want);
        let got: Vec<_> = m.iter().map(|m| (m.record, m.at, m.cmds, m.joined, m.end)).collect();
        let c_at = want.find("*3").unwrap();
        let d_at = want.find("*2").unwrap();
        assert_eq!(
            got,
            vec![
                (10, 0, 0, true, true),
                (20, 0, 1, false, true),
                (30, c_at, 1, false, true),
                (40, d_at, 1, false, true)
            ]
        );
    }

    fn one_key(asking: bool) -> (Vec<u8>, Vec<Mark>) {
        let with: fn(Out<'_>) -> Out<'_> = match asking {
            true => |o| o.with_marks().with_names().with_asking(),
            false => |o| o.with_marks().with_names(),
        };
        let mut segs = pieces(1 << 20, with, |out| {
            out.begin_key(7, Some(1), b"k");
            out.command(&[b"DEL", b"k"]).unwrap();
            out.command(&[b"SET", b"k", b"v"]).unwrap();
            out.end_key();
        });
        match segs.pop() {
            Some(Seg::Bytes(b, m)) => (b, m),
            other => panic!("{other:?}"),
        }
    }

    /// Every key begun is ended in the marks handed on, wherever the pieces were cut: also
    /// when a key's last command fills a piece and nothing follows it (the end of a chunk).
    #[test]
    fn every_key_ends_in_the_marks_whatever_the_piece_size() {
        for piece in [1, 16, 30, 31, 32, 60, 64, 100, 1 << 20] {
            for keys in 1..5usize {
                let segs = pieces(
                    piece,
                    |o| o.with_marks(),
                    |out| {
                        for k in 0..keys {
                            out.begin_key(k * 10, Some(0), b"k");
                            out.command(&[b"SET", b"k", b"0123456789"]).unwrap();
                            out.end_key();
                        }
                    },
                );
                let marks = marks_of(segs);
                let ended: Vec<usize> = marks.iter().filter(|m| m.end).map(|m| m.record).collect();
                assert_eq!(
                    ended,
                    (0..keys).map(|k| k * 10).collect::<Vec<_>>(),
                    "piece {piece}, {keys} keys"
                );
                assert_eq!(marks.iter().map(|m| m.cmds).sum::<u32>(), keys as u32, "piece {piece}");
            }
        }
    }

    #[test]
    fn marks_carry_the_name_and_count_commands() {
        let (b, m) = one_key(false);
        assert_eq!(b, b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].record, m[0].cmds, m[0].end, m[0].name.as_deref()),
            (7, 2, true, Some(&b"k"[..]))
        );
    }

    #[test]
    fn marks_carry_names_only_when_asked() {
        let segs = pieces(
            1 << 20,
            |o| o.with_marks(),
            |out| {
                out.begin_key(7, Some(1), b"k");
                // a key begun with no command yet is news for the consumer all the same
                out.flush().unwrap();
                out.command(&[b"SET", b"k", b"v"]).unwrap();
                out.end_key();
            },
        );
        let marks = marks_of(segs);
        assert_eq!(marks.len(), 2, "{marks:?}");
        assert!(marks[0].begun && !marks[0].end && marks[0].cmds == 0);
        assert!(!marks[1].begun && marks[1].end && marks[1].cmds == 1);
        assert!(marks.iter().all(|m| m.name.is_none() && m.record == 7));
    }

    #[test]
    fn asking_precedes_every_command_and_none_dangles() {
        let (b, m) = one_key(true);
        let want = [
            ASKING,
            b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n",
            ASKING,
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
        ]
        .concat();
        assert_eq!(b, want);
        assert_eq!(m[0].cmds, 4, "two commands, each after an ASKING");
    }
}
