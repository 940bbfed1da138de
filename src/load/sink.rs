//! The engine's [`Sink`] for a load: each piece of commands is split at key boundaries,
//! routed to the node that owns each key's slot, gathered per node and sent with one write
//! per node, within the node's window. The ledger learns which keys were sent.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::pool::{Locked, Pool};
use super::{Conflict, Error, checkpoint, ledger};
use crate::convert::Plan;
use crate::convert::engine::Sink;
use crate::convert::out::{BufPool, Mark};
use crate::job::Progress;
use crate::job::Stop;
use crate::net::node::{Expect, Tag};
use crate::resp::Reply;

/// Where a dump's progress is recorded (`--checkpoint`): the shared checkpoint, this dump's
/// fingerprint and its path as recorded.
pub struct CheckpointAt {
    pub(crate) file: Arc<Mutex<checkpoint::Checkpoint>>,
    pub(crate) fingerprint: String,
    pub(crate) path: String,
}

/// Loads one dump through the convert engine: the engine's [`Sink`].
pub struct FileLoad<'a, 't> {
    pub(super) t: Locked<'t>,
    /// This dump's number in the run (keys' outcomes are told apart by it).
    pub(super) file: u32,
    pub(super) data: &'a [u8],
    pub(super) plan: &'a Plan,
    pool: Arc<BufPool>,
    /// The db keys go to (`--to-db` or the URL's db), else the dump's.
    to_db: Option<u64>,
    pub(super) db: u64,
    /// Where the key being written goes (mapped pieces follow it).
    pub(super) cur: Option<usize>,
    /// Keys that will be sent again whole: their remaining pieces are dropped.
    pub(super) dropped: HashSet<usize>,
    /// Per node: bytes and entries gathered from the current piece, not yet sent.
    gathered: Vec<(Vec<u8>, Vec<Expect>)>,
    /// The current piece's keys as routed, before they are gathered: (node, bytes of the
    /// piece, entry).
    routed: Vec<(usize, std::ops::Range<usize>, Expect)>,
    pub(super) fatal: Option<String>,
    on_conflict: Conflict,
    /// The key whose commands continue in the next piece.
    unfinished: Option<usize>,
    /// Every key's state (see [`ledger`]).
    pub(super) ledger: ledger::Ledger,
    checkpoint: Option<CheckpointAt>,
    progress: &'a dyn Progress,
    /// Bytes of this dump already counted as progress.
    shown: u64,
    pub(super) stop: Stop,
    /// The dump's header (read again for a key decoded again; the pre-pass read it first).
    pub(super) header: Option<crate::format::Header>,
    /// The dump's hash templates (Redis 8.10), read the first time a key is decoded again.
    pub(super) templates: std::cell::OnceCell<crate::format::record::Registry<'a>>,
}

impl<'a, 't> FileLoad<'a, 't> {
    /// A load of dump number `file` (its bytes `data`) through the shared pool.
    pub fn new(
        t: &'t Mutex<Pool>,
        file: u32,
        data: &'a [u8],
        plan: &'a Plan,
        to_db: Option<u64>,
        progress: &'a dyn Progress,
        stop: Stop,
    ) -> Self {
        FileLoad {
            t: Locked::new(t),
            file,
            data,
            plan,
            pool: Default::default(),
            to_db,
            db: 0,
            cur: None,
            dropped: HashSet::new(),
            gathered: Vec::new(),
            routed: Vec::new(),
            fatal: None,
            on_conflict: Conflict::Replace,
            unfinished: None,
            ledger: Default::default(),
            checkpoint: None,
            progress,
            shown: 0,
            stop,
            header: crate::format::Header::parse(data, true).ok(),
            // read only when a key is decoded again (a retry, a failed key's name)
            templates: std::cell::OnceCell::new(),
        }
    }

    /// What to do with keys that exist on the target.
    pub fn on_conflict(mut self, c: Conflict) -> Self {
        self.on_conflict = c;
        self
    }

    /// Records progress in `c` as keys are acknowledged.
    pub fn checkpoint(mut self, c: Option<CheckpointAt>) -> Self {
        self.checkpoint = c;
        self
    }

    /// Everything before this offset of the file is done (for a checkpoint).
    pub fn done_upto(&self) -> usize {
        self.ledger.done_upto()
    }

    /// Records progress in the checkpoint (at most once a second unless `force`).
    pub(super) fn record_progress(&mut self, offset: usize, force: bool) -> Result<(), Error> {
        if let Some(c) = &self.checkpoint {
            // the failed keys are gathered only for a write that happens (this runs per piece)
            if !force && !c.file.lock().unwrap_or_else(|p| p.into_inner()).due() {
                return Ok(());
            }
            let failed = self.ledger.failed_keys().map(|(r, d)| (r as u64, d)).collect();
            let p = checkpoint::Progress {
                path: c.path.clone(),
                offset: offset as u64,
                failed,
                load: None,
            };
            c.file.lock().unwrap_or_else(|p| p.into_inner()).record(&c.fingerprint, p, force)?;
        }
        Ok(())
    }

    /// `--on-conflict skip|fail`: asks the nodes which of the keys starting in this piece
    /// exist already (one pipelined `EXISTS` round trip per node) and leaves those out.
    fn leave_existing(&mut self, marks: &[Mark]) -> Result<(), Error> {
        let mut by_node: BTreeMap<usize, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
        for m in marks {
            if m.record == usize::MAX
                || Some(m.record) == self.unfinished
                || self.dropped.contains(&m.record)
            {
                continue;
            }
            let Some(name) = &m.name else { continue };
            let i = self.t.route(m.slot.unwrap_or(0), self.db)?;
            by_node.entry(i).or_default().push((m.record, name.to_vec()));
        }
        for (i, keys) in by_node {
            let addr = self.t.nodes[i].addr.clone();
            let cluster = self.t.cluster;
            let c = self.t.checker(i)?;
            let mut buf = Vec::new();
            let db = self.db.to_string();
            if !cluster {
                crate::resp::command::write(&mut buf, &[b"SELECT", db.as_bytes()]);
            }
            for (_, name) in &keys {
                crate::resp::command::write(&mut buf, &[b"EXISTS", name]);
            }
            c.send_raw(&buf)?;
            if !cluster {
                c.read_reply()?;
            }
            let mut found = Vec::new();
            for (rec, name) in keys {
                if c.read_reply()? == Reply::Int(1) {
                    found.push((rec, name));
                }
            }
            for (rec, name) in found {
                self.dropped.insert(rec);
                self.ledger.passed(rec);
                if self.on_conflict == Conflict::Skip {
                    self.t.report.key_skipped(self.file);
                } else {
                    self.t.report.key_failed(
                        self.file,
                        &addr,
                        String::from_utf8_lossy(&name).into_owned(),
                        "the key exists (--on-conflict fail)".into(),
                    );
                }
            }
        }
        Ok(())
    }

    fn gather(&mut self, i: usize, piece: &[u8], e: Expect) {
        if self.gathered.len() <= i {
            self.gathered.resize_with(i + 1, Default::default);
        }
        self.gathered[i].0.extend_from_slice(piece);
        self.gathered[i].1.push(e);
    }

    /// Sends what was gathered for the nodes `which`, each within its window and the rate
    /// limits, in writes of at most half its window (and about 50 ms of a rate limit): the
    /// window bounds what is in flight, not just when a write starts (a joined key goes
    /// with the key whose command it shares).
    ///
    /// The nodes are served side by side: a write goes to whichever node has room for its
    /// next one, and the sender waits only when none has. Waiting on one node while the
    /// others hold gathered bytes would leave those servers idle (a cluster on shared
    /// cores loaded at half speed that way).
    fn flush_nodes(&mut self, which: impl IntoIterator<Item = usize>) {
        let mut all: Vec<Writes> = which.into_iter().filter_map(|i| self.cut(i)).collect();
        while !all.is_empty() {
            let pool = &mut *self.t;
            // replies that arrive after this are rung after it: the wait below sees them
            let rung = pool.bell.rings();
            let mut sent = false;
            for w in &mut all {
                while let Some((from, to, run, ops)) = w.parts.pop_front() {
                    if !pool.has_room(w.node, to - from, Duration::ZERO) {
                        w.parts.push_front((from, to, run, ops));
                        break;
                    }
                    pool.pace(w.node, ops, to - from);
                    pool.nodes[w.node].send_many(&w.bytes[from..to], run);
                    sent = true;
                }
            }
            for w in all.extract_if(.., |w| w.parts.is_empty()) {
                // the buffer is kept for the node's next gathering
                let slot = &mut self.gathered[w.node].0;
                if slot.capacity() == 0 {
                    *slot = w.bytes;
                    slot.clear();
                }
            }
            if !sent {
                // until a node's replies arrive (a death or a stop shows within ROOM_POLL)
                let pool = &mut *self.t;
                pool.bell.wait(rung, ROOM_POLL);
                // a server that stalls shows on the metrics page while the writes wait
                pool.publish_metrics(false);
            }
        }
    }

    /// What was gathered for node `i`, cut into writes (none when nothing was).
    fn cut(&mut self, i: usize) -> Option<Writes> {
        let (bytes, es) = self.gathered.get_mut(i)?;
        if es.is_empty() && bytes.is_empty() {
            return None;
        }
        let (bytes, es) = (std::mem::take(bytes), std::mem::take(es));
        let pool = &mut *self.t;
        let (step_ops, step_bytes) = pool.throttle.limits().step();
        let step = (pool.window_of(i) / 2).max(8 << 10).min(step_bytes);
        let mut parts = VecDeque::new();
        let (mut from, mut len, mut ops, mut run) = (0, 0, 0u64, Vec::new());
        for e in es {
            len += e.bytes;
            ops += e.cmds as u64 + e.joined as u64;
            let boundary = !e.joined;
            run.push(e);
            if (len >= step || ops >= step_ops) && boundary {
                parts.push_back((from, from + len, std::mem::take(&mut run), ops));
                (from, len, ops) = (from + len, 0, 0);
            }
        }
        if !run.is_empty() || from < bytes.len() {
            parts.push_back((from, bytes.len(), run, ops));
        }
        Some(Writes { node: i, bytes, parts })
    }
}

/// One node's gathered bytes, cut into writes: (from, to, entries, operations) each.
struct Writes {
    node: usize,
    bytes: Vec<u8>,
    parts: VecDeque<(usize, usize, Vec<Expect>, u64)>,
}

/// The longest the sender waits for replies before it looks at its nodes again (a node
/// that died, a stop asked for).
const ROOM_POLL: Duration = Duration::from_millis(100);

impl Sink for FileLoad<'_, '_> {
    type Error = Error;

    fn select(&mut self, db: u64) -> Result<(), Error> {
        self.t.acquire();
        let r = self.select_locked(db);
        self.t.release();
        r
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.t.acquire();
        let r = self.write_locked(bytes);
        self.t.release();
        r
    }

    fn write_owned(&mut self, b: Vec<u8>, marks: Vec<Mark>) -> Result<(), Error> {
        self.t.acquire();
        let r = self.write_owned_locked(b, marks);
        self.t.release();
        r
    }

    fn pool(&self) -> &Arc<BufPool> {
        &self.pool
    }

    fn wants_marks(&self) -> bool {
        true
    }

    fn wants_names(&self) -> bool {
        // `--on-conflict skip|fail` asks the target about each key by name
        self.on_conflict != Conflict::Replace
    }

    fn groups(&mut self) -> Option<bool> {
        // a key left out because it exists cannot be cut out of an MSET
        self.t.acquire();
        let cluster = self.t.cluster;
        self.t.release();
        (self.on_conflict == Conflict::Replace).then_some(cluster)
    }
}

/// The engine's calls, with the pool's lock held.
impl FileLoad<'_, '_> {
    fn select_locked(&mut self, db: u64) -> Result<(), Error> {
        let db = self.to_db.unwrap_or(db);
        if self.t.cluster && db != 0 {
            return Err(Error::Refused(format!(
                "the dump has keys in db {db}, and a cluster has only db 0: choose one with --db N (and --to-db 0)"
            )));
        }
        self.db = db;
        Ok(())
    }

    fn write_locked(&mut self, bytes: &[u8]) -> Result<(), Error> {
        // a mapped piece of the key being written: after what was gathered for its node
        if let Some(i) = self.cur {
            self.flush_nodes([i]);
            self.t.pace(i, 0, bytes.len());
            self.t.nodes[i].send(bytes, None);
        }
        Ok(())
    }

    fn write_owned_locked(&mut self, b: Vec<u8>, mut marks: Vec<Mark>) -> Result<(), Error> {
        if let Some(sig) = self.stop.requested() {
            return Err(Error::Stopped(sig));
        }
        if self.stop.input_changed() {
            return Err(Error::Changed);
        }
        if self.on_conflict != Conflict::Replace {
            self.leave_existing(&marks)?;
        }
        for m in &mut marks {
            if m.record == usize::MAX {
                continue;
            }
            if Some(m.record) != self.unfinished && !self.dropped.contains(&m.record) {
                self.ledger.sent(m.record, self.db, m.name.take());
            } else {
                self.ledger.passed(m.record);
            }
        }
        self.unfinished = marks.last().filter(|m| !m.end).map(|m| m.record);
        // each node's keys gathered into one write per piece
        self.routed.clear();
        for (j, m) in marks.iter().enumerate() {
            let piece = m.at..marks.get(j + 1).map_or(b.len(), |n| n.at);
            self.route_piece(&b, piece, m)?;
        }
        self.gather_piece(b);
        self.flush_nodes(0..self.gathered.len());
        self.collect()?;
        let done = self.done_upto();
        self.record_progress(done, false)?;
        let upto = marks
            .iter()
            .filter(|m| m.record != usize::MAX)
            .map(|m| m.record as u64)
            .max()
            .unwrap_or(0);
        self.progress.advance(upto.saturating_sub(self.shown));
        self.shown = self.shown.max(upto);
        self.progress.keys(self.t.report.loaded);
        self.t.publish_metrics(false);
        Ok(())
    }

    /// Routes one key's bytes `piece` of the piece `b` (or a keyless one's) to the node it
    /// goes to ([`FileLoad::gather_piece`] gathers them).
    fn route_piece(
        &mut self,
        b: &[u8],
        piece: std::ops::Range<usize>,
        m: &Mark,
    ) -> Result<(), Error> {
        if m.record == usize::MAX {
            // keyless (FUNCTION LOAD): every master
            self.t.globals.push(b[piece.clone()].to_vec());
            for i in self.t.masters() {
                self.routed.push((
                    i,
                    piece.clone(),
                    Expect {
                        tag: Tag::Global,
                        cmds: m.cmds,
                        bytes: piece.len(),
                        end: m.end,
                        joined: false,
                    },
                ));
            }
            self.cur = None;
            return Ok(());
        }
        if self.dropped.contains(&m.record) {
            if m.end && !self.ledger.is_retrying(m.record) {
                self.dropped.remove(&m.record);
            }
            self.cur = None;
            return Ok(());
        }
        let i = self.t.route(m.slot.unwrap_or(0), self.db)?;
        if let Some(reason) = self.t.gave_up_on(i).cloned() {
            let addr = self.t.nodes[i].addr.clone();
            self.abandon(&addr, m.record, m.end, reason);
            if m.end {
                self.dropped.remove(&m.record);
            }
            self.cur = None;
            return Ok(());
        }
        let tag = Tag::Key { file: self.file, record: m.record, db: self.db };
        let e = Expect { tag, cmds: m.cmds, bytes: piece.len(), end: m.end, joined: m.joined };
        self.routed.push((i, piece, e));
        self.cur = Some(i);
        Ok(())
    }

    /// Gathers the piece `b`'s routed keys per node. When all of it goes, in order, to one
    /// node with nothing gathered yet (a standalone target, always), the piece becomes that
    /// node's gathered bytes as it is, uncopied (measured: the copy was a twentieth of a
    /// load's own CPU).
    fn gather_piece(&mut self, b: Vec<u8>) {
        let routed = std::mem::take(&mut self.routed);
        let whole = routed.first().map(|r| r.0).filter(|&i| {
            let mut at = 0;
            routed.iter().all(|(j, r, _)| *j == i && std::mem::replace(&mut at, r.end) == r.start)
                && at == b.len()
                && self.gathered.get(i).is_none_or(|g| g.0.is_empty() && g.1.is_empty())
        });
        match whole {
            Some(i) => {
                if self.gathered.len() <= i {
                    self.gathered.resize_with(i + 1, Default::default);
                }
                let kept = std::mem::replace(&mut self.gathered[i].0, b);
                if kept.capacity() > 0 {
                    self.pool.put(kept);
                }
                self.gathered[i].1.extend(routed.into_iter().map(|r| r.2));
            }
            None => {
                for (i, r, e) in routed {
                    self.gather(i, &b[r], e);
                }
                self.pool.put(b);
            }
        }
    }
}
