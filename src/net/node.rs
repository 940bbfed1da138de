//! One pipelined connection to a server: the loader writes commands, a reader thread matches
//! replies to what was sent, in order, and reports per key whether all its commands
//! succeeded (the first error reply otherwise).
//!
//! Invariant: every piece written is queued as an [`Expect`] before its bytes go out, so a
//! dropped connection leaves exactly the keys that were not fully acknowledged in the queue.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::{Error, secs};
use super::handshake::handshake_in_db;
use super::pacing::Path;
use super::transport::{ReadHalf, WriteHalf, is_timeout};
use super::url::Url;
use crate::resp::reply::{MAX_PENDING, ParseError, Skipper};

/// Most unanswered commands per connection (small commands fill a byte window slowly; a
/// server holds a reply per command).
pub const MAX_CMDS: u64 = 100_000;

/// How often a wait for acknowledgements looks whether a stop was asked for.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// What a queued piece is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// Commands of the key whose record starts at `record` in dump number `file` of the run.
    Key { file: u32, record: usize, db: u64 },
    /// `FUNCTION LOAD` and other keyless commands.
    Global,
    /// `SELECT`, `ASKING`: replies are checked, not reported per key.
    Internal,
}

#[derive(Debug)]
pub struct Expect {
    pub tag: Tag,
    pub cmds: u32,
    pub bytes: usize,
    /// The key's last piece.
    pub end: bool,
    /// The key's command is the next entries' (up to the first entry not joined): it has
    /// none of its own, and completes with that entry's command, with its error (an `MSET`
    /// of several keys).
    pub joined: bool,
}

/// A key (or keyless command group) whose replies have all arrived.
#[derive(Debug)]
pub struct Done {
    pub tag: Tag,
    /// The first error reply among its commands.
    pub err: Option<String>,
}

/// Why a connection died.
#[derive(Clone, Debug)]
pub struct Death {
    /// In words, naming the node: `timed out after 2 s waiting for 127.0.0.1:7000 (...)`.
    pub why: String,
    /// It waited the whole timeout (a node that does so again and again is given up).
    pub timed_out: bool,
}

#[derive(Default)]
struct State {
    q: VecDeque<Expect>,
    bytes: usize,
    /// Commands sent and not answered yet.
    cmds: u64,
    /// Since when the connection owes replies (set when `cmds` leaves 0, cleared when it
    /// comes back to 0): with the last bytes received, what the reply timeout counts from.
    owing_since: Option<Instant>,
    /// The first error of the key being acknowledged (its pieces may span several entries).
    cur_err: Option<String>,
    done: Vec<Done>,
    dead: Option<Death>,
    /// Commands ever sent and ever answered on this connection, and per write the count
    /// its last command brings `sent` to, with when it went out: what acknowledgement
    /// latency is measured from.
    sent: u64,
    answered: u64,
    writes: VecDeque<(u64, Instant)>,
    latency: Latency,
    /// Bytes ever acknowledged (entries completed) on this connection.
    acked: u64,
    /// What the acknowledgements tell of the path: what the window follows.
    path: Path,
}

/// How long writes took to be acknowledged in full (from the write to its last reply).
#[derive(Clone, Debug, Default)]
pub struct Latency {
    /// The latest write's.
    pub last: Duration,
    /// Writes acknowledged, per bucket of [`LATENCY_BUCKETS`] (the last: longer).
    pub buckets: [u64; LATENCY_BUCKETS.len() + 1],
    /// Their total, in seconds.
    pub sum: f64,
    pub count: u64,
}

/// Upper bounds of the latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

impl Latency {
    fn record(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        let b = LATENCY_BUCKETS.iter().position(|&le| s <= le).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[b] += 1;
        self.sum += s;
        self.count += 1;
        self.last = d;
    }
}

impl State {
    /// A write of `cmds` commands went out now.
    fn wrote(&mut self, cmds: u64) {
        if cmds > 0 {
            self.sent += cmds;
            self.writes.push_back((self.sent, Instant::now()));
        }
    }

    /// The writes whose last command was answered: their latency, and what they tell of
    /// the path.
    fn acknowledged(&mut self) {
        let now = Instant::now();
        while let Some(&(upto, at)) = self.writes.front() {
            if upto > self.answered {
                break;
            }
            self.writes.pop_front();
            let latency = now.saturating_duration_since(at);
            self.latency.record(latency);
            self.path.latency(latency);
        }
        self.path.acked(self.acked, now);
    }

    /// A completed entry's `bytes` leave the unacknowledged count for the acknowledged.
    fn settled(&mut self, bytes: usize) {
        self.bytes -= bytes.min(self.bytes);
        self.acked += bytes as u64;
    }

    fn owe(&mut self, cmds: u32) {
        if self.cmds == 0 && cmds > 0 {
            self.owing_since = Some(Instant::now());
        }
        self.cmds += cmds as u64;
    }
}

/// The connection's state, shared by the loader and the reader thread.
type Shared = Arc<(Mutex<State>, Condvar)>;

/// Rung by the reader threads of a load's connections whenever replies arrive: a sender
/// holding bytes for several connections waits on it for room on any of them, instead of
/// on one while the others' servers run dry.
#[derive(Debug, Default)]
pub struct Bell {
    rings: Mutex<u64>,
    cv: Condvar,
}

impl Bell {
    /// How many times it rang so far.
    pub fn rings(&self) -> u64 {
        *self.rings.lock().unwrap()
    }

    fn ring(&self) {
        *self.rings.lock().unwrap() += 1;
        self.cv.notify_all();
    }

    /// Waits until it rings after `seen` rings, for at most `within`.
    pub fn wait(&self, seen: u64, within: Duration) {
        let until = Instant::now() + within;
        let mut n = self.rings.lock().unwrap();
        while *n == seen {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            n = self.cv.wait_timeout(n, left).unwrap().0;
        }
    }
}

pub struct Node {
    pub addr: String,
    /// The db every command on this connection runs in (see [`Node::connect`]).
    pub db: u64,
    w: WriteHalf,
    sh: Shared,
    reader: Option<JoinHandle<()>>,
    /// Bytes of pieces that completed no command, counted with the next queued entry.
    carry: usize,
    timeout: Duration,
}

impl Node {
    /// A pipelined connection to `addr`: [`handshake_in_db`], then a reader thread matching
    /// replies. A server that owes replies and sends nothing for the URL's I/O timeout, or a
    /// write that waits that long, makes the connection dead (see [`Node::dead`]).
    ///
    /// `db`: the database this connection works in, selected in the handshake (and its
    /// answer checked) before anything else is sent, so no command on it ever runs in
    /// another db. A standalone load opens one connection per target db; a cluster's is 0.
    ///
    /// `bell`: rung whenever replies arrive (see [`Bell`]).
    pub fn connect(url: &Url, addr: &str, db: u64, bell: Arc<Bell>) -> Result<Node, Error> {
        let c = handshake_in_db(url, addr, db, url.timeouts.connect)?;
        let timeout = c.timeout();
        let (r, w) = c.into_stream().split();
        let sh: Shared = Arc::default();
        let sh2 = sh.clone();
        let a = addr.to_string();
        let reader = std::thread::Builder::new()
            .name(format!("reader {addr}"))
            .spawn(move || read_loop(r, &sh2, &a, timeout, &bell))
            .map_err(|e| Error::Io {
                addr: addr.to_string(),
                what: "a reader thread".into(),
                source: e,
            })?;
        Ok(Node { addr: addr.to_string(), db, w, sh, reader: Some(reader), carry: 0, timeout })
    }

    /// Queues `e` and writes `bytes` (the connection may turn out dead: see [`Node::dead`]).
    pub fn send(&mut self, bytes: &[u8], mut e: Option<Expect>) {
        if crate::stop::requested().is_some() {
            // after a stop nothing more is sent (what is not queued is not awaited)
            return;
        }
        if let Some(x) = e.take_if(|x| x.cmds == 0 && !x.end) {
            // part of a command that ends in a later piece: nothing to wait for yet
            self.carry += x.bytes;
        }
        if let Some(x) = &mut e {
            x.bytes += std::mem::take(&mut self.carry);
        }
        {
            let mut st = self.sh.0.lock().unwrap();
            if st.dead.is_some() {
                if let Some(e) = e {
                    st.q.push_back(e);
                }
                return;
            }
            if let Some(e) = e {
                st.bytes += e.bytes;
                st.owe(e.cmds);
                st.wrote(e.cmds as u64);
                st.q.push_back(e);
            }
            // a key's end that needs no reply (its last command went in an earlier piece)
            // completes now if everything before it is answered: the reader thread may
            // not wake for a while
            pop_complete(&mut st);
        }
        self.write(bytes);
    }

    /// Queues several entries and writes their bytes in one go.
    pub fn send_many(&mut self, bytes: &[u8], es: impl IntoIterator<Item = Expect>) {
        if crate::stop::requested().is_some() {
            return;
        }
        {
            let mut st = self.sh.0.lock().unwrap();
            let mut cmds = 0;
            for mut e in es {
                if e.cmds == 0 && !e.end {
                    self.carry += e.bytes;
                    continue;
                }
                e.bytes += std::mem::take(&mut self.carry);
                st.bytes += e.bytes;
                st.owe(e.cmds);
                cmds += e.cmds as u64;
                st.q.push_back(e);
            }
            if st.dead.is_none() {
                st.wrote(cmds);
            }
            pop_complete(&mut st);
            if st.dead.is_some() {
                return;
            }
        }
        self.write(bytes);
    }

    /// Writes to the server; a failure (or a write that waited the whole timeout for room,
    /// or that was still waiting when a stop's grace ran out) makes the connection dead, and
    /// closes it so that the reader stops too.
    fn write(&mut self, bytes: &[u8]) {
        if let Err(err) = crate::stop::write_all(&mut self.w, bytes, Some(self.timeout)) {
            let mut st = self.sh.0.lock().unwrap();
            let why = if is_timeout(&err) {
                format!(
                    "timed out after {} writing to {} ({} replies outstanding)",
                    secs(self.timeout),
                    self.addr,
                    st.cmds
                )
            } else {
                format!("writing to {}: {err}", self.addr)
            };
            st.dead.get_or_insert(Death { why, timed_out: is_timeout(&err) });
            self.sh.1.notify_all();
            drop(st);
            self.w.shutdown();
        }
    }

    /// Waits until at most `limit` bytes and [`MAX_CMDS`] commands are unacknowledged (or
    /// the connection died: the reader thread declares it dead after the timeout at the
    /// latest, so this never waits forever), or a stop was asked for (nothing more is sent
    /// then: see [`Node::send`]).
    pub fn wait_below(&self, limit: usize) {
        while !self.wait_below_for(limit, Duration::from_secs(1)) {}
    }

    /// [`Node::wait_below`] for at most `within`: whether the wait ended (false: it is
    /// still waiting for room).
    pub fn wait_below_for(&self, limit: usize, within: Duration) -> bool {
        let until = Instant::now() + within;
        let mut st = self.sh.0.lock().unwrap();
        while (st.bytes > limit || st.cmds > MAX_CMDS.min(limit as u64)) && st.dead.is_none() {
            if crate::stop::requested().is_some() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self.sh.1.wait_timeout(st, left.min(STOP_CHECK)).unwrap().0;
        }
        true
    }

    pub fn take_done(&self) -> Vec<Done> {
        std::mem::take(&mut self.sh.0.lock().unwrap().done)
    }

    /// Why the connection died, if it did.
    pub fn dead(&self) -> Option<Death> {
        self.sh.0.lock().unwrap().dead.clone()
    }

    /// After the connection died: what was not acknowledged.
    pub fn take_unacknowledged(&self) -> Vec<Expect> {
        let mut st = self.sh.0.lock().unwrap();
        st.bytes = 0;
        st.cmds = 0;
        st.owing_since = None;
        st.writes.clear();
        st.answered = st.sent;
        st.q.drain(..).collect()
    }

    /// Unacknowledged bytes, and the acknowledgement latency so far.
    pub fn load(&self) -> (usize, Latency) {
        let st = self.sh.0.lock().unwrap();
        (st.bytes, st.latency.clone())
    }

    /// The latest write's acknowledgement latency: how long it has waited when it is still
    /// waiting and that is longer (a server slowing down shows before it answers).
    pub fn latency(&self) -> Duration {
        let st = self.sh.0.lock().unwrap();
        let waiting = st.writes.front().map_or(Duration::ZERO, |w| w.1.elapsed());
        st.latency.last.max(waiting)
    }

    /// The window the path allows, at most `cap` (see [`super::pacing`]).
    pub fn paced_window(&self, cap: usize) -> usize {
        self.sh.0.lock().unwrap().path.window(cap)
    }

    pub fn in_flight(&self) -> usize {
        self.sh.0.lock().unwrap().q.len()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.w.shutdown();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// The reader's buffer: what one read may bring at most while replies are short.
const READ_BUF: usize = 1 << 17;

/// How often a silent server that owes replies is reported.
const NOTE_EVERY: Duration = Duration::from_secs(10);

/// `1204` as `1,204`.
pub fn thousands(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::with_capacity(d.len() + d.len() / 3);
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Pops the entries at the front whose replies have all arrived. Joined entries wait for
/// the entry whose command they share, and take its error.
fn pop_complete(st: &mut State) {
    while let Some(f) = st.q.front() {
        if f.joined {
            let Some(owner) = st.q.iter().position(|e| !e.joined) else { return };
            if st.q[owner].cmds != 0 {
                return;
            }
            let err = st.cur_err.clone();
            let mut freed = 0;
            for f in st.q.drain(..owner) {
                freed += f.bytes;
                st.done.push(Done { tag: f.tag, err: err.clone() });
            }
            st.settled(freed);
            continue;
        }
        if f.cmds != 0 {
            return;
        }
        let f = st.q.pop_front().unwrap();
        st.settled(f.bytes);
        if f.end {
            let err = st.cur_err.take();
            st.done.push(Done { tag: f.tag, err });
        }
    }
}

/// One reply (`err`: its error) for the first entry that waits for one (joined entries
/// have none of their own); false if none does.
fn answer(st: &mut State, err: Option<String>) -> bool {
    pop_complete(st);
    let Some(front) = st.q.iter_mut().find(|e| e.cmds > 0) else { return false };
    if let Some(e) = err {
        st.cur_err.get_or_insert(e);
    }
    front.cmds -= 1;
    st.cmds = st.cmds.saturating_sub(1);
    st.answered += 1;
    true
}

/// Marks the connection dead (the first reason stays) and wakes the loader.
fn die(sh: &(Mutex<State>, Condvar), why: String) {
    let mut st = sh.0.lock().unwrap();
    st.dead.get_or_insert(Death { why, timed_out: false });
    sh.1.notify_all();
}

/// The reader thread: matches replies to the queue, in order.
///
/// Timing: while the connection owes replies, the socket's read timeout is set to what is
/// left of `timeout`, counted from the later of the last bytes received and the moment it
/// began to owe; when that runs out, the connection is dead. A connection owing nothing
/// waits in `timeout`-long reads and is never declared dead for it (no busy wake-ups).
fn read_loop(
    mut r: ReadHalf,
    sh: &(Mutex<State>, Condvar),
    addr: &str,
    timeout: Duration,
    bell: &Bell,
) {
    // however this thread ends (the connection dead, its state set), a sender waiting for
    // room anywhere looks again
    struct RingOnExit<'b>(&'b Bell);
    impl Drop for RingOnExit<'_> {
        fn drop(&mut self) {
            self.0.ring();
        }
    }
    let _ring = RingOnExit(bell);
    // replies land in `buf[..end]`; the buffer is zeroed once, not per read (a read
    // brings a few bytes of `+OK` at a time)
    let mut buf: Vec<u8> = vec![0; READ_BUF];
    let mut end = 0;
    let mut skipper = Skipper::default();
    // replies parsed since the last update: None for success, Some(error)
    let mut got: Vec<Option<String>> = Vec::new();
    let mut last_rx = Instant::now();
    let mut read_timeout = None;
    // a line for a person every NOTE_EVERY while the server owes replies and is silent
    let mut next_note = NOTE_EVERY;
    loop {
        let mut pos = 0;
        let bad = loop {
            match skipper.skip(&buf[..end], pos) {
                Ok((err, next)) => {
                    got.push(err.map(|e| String::from_utf8_lossy(e).into_owned()));
                    pos = next;
                }
                Err(ParseError::Incomplete) if end - pos > MAX_PENDING => {
                    break Some(format!("a reply longer than {MAX_PENDING} bytes"));
                }
                Err(ParseError::Incomplete) => break None,
                Err(ParseError::Invalid(m)) => break Some(m),
            }
        };
        if pos > 0 {
            buf.copy_within(pos..end, 0);
            end -= pos;
        }
        let wait = {
            let mut g = sh.0.lock().unwrap();
            let st = &mut *g;
            for err in got.drain(..) {
                if !answer(st, err) {
                    let why = format!("protocol error from {addr}: a reply nobody asked for");
                    st.dead.get_or_insert(Death { why, timed_out: false });
                    sh.1.notify_all();
                    return;
                }
            }
            pop_complete(st);
            st.acknowledged();
            if st.cmds == 0 {
                st.owing_since = None;
            }
            sh.1.notify_all();
            match st.owing_since {
                Some(since) => {
                    let waited = since.max(last_rx).elapsed();
                    if waited < NOTE_EVERY {
                        next_note = NOTE_EVERY;
                    } else if waited >= next_note && waited < timeout {
                        eprintln!(
                            "rdbshift: {addr} has not answered for {} s ({} replies outstanding)",
                            waited.as_secs(),
                            thousands(st.cmds)
                        );
                        next_note = waited + NOTE_EVERY;
                    }
                    if waited >= timeout && bad.is_none() {
                        let why = format!(
                            "timed out after {} waiting for {addr} ({} replies outstanding)",
                            secs(timeout),
                            st.cmds
                        );
                        st.dead.get_or_insert(Death { why, timed_out: true });
                        sh.1.notify_all();
                        drop(g);
                        // a writer blocked on this socket stops too
                        r.shutdown();
                        return;
                    }
                    timeout
                        .saturating_sub(waited)
                        .min(next_note.saturating_sub(waited))
                        .max(Duration::from_millis(1))
                }
                None => {
                    next_note = NOTE_EVERY;
                    timeout
                }
            }
        };
        bell.ring();
        if let Some(b) = bad {
            die(sh, format!("protocol error from {addr}: {b}"));
            r.shutdown();
            return;
        }
        // a setsockopt only when the wait changes noticeably
        if read_timeout.is_none_or(|t: Duration| t.abs_diff(wait) > Duration::from_millis(20)) {
            let _ = r.set_timeout(Some(wait));
            read_timeout = Some(wait);
        }
        if buf.len() - end < READ_BUF / 2 {
            // a reply longer than what is free: room for it (bounded by MAX_PENDING above)
            buf.resize((buf.len() * 2).min(MAX_PENDING + READ_BUF), 0);
        }
        let res = r.read(&mut buf[end..]);
        end += *res.as_ref().unwrap_or(&0);
        match res {
            Ok(0) => return die(sh, format!("connection closed by {addr}")),
            Ok(_) => last_rx = Instant::now(),
            Err(e) if is_timeout(&e) || e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return die(sh, format!("reading from {addr}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(record: usize, cmds: u32, joined: bool) -> Expect {
        let tag = Tag::Key { file: 0, record, db: 0 };
        Expect { tag, cmds, bytes: if joined { 0 } else { 10 }, end: true, joined }
    }

    fn done(st: &mut State) -> Vec<(usize, Option<String>)> {
        let rec = |t: Tag| match t {
            Tag::Key { record, .. } => record,
            _ => usize::MAX,
        };
        st.done.drain(..).map(|d| (rec(d.tag), d.err)).collect()
    }

    #[test]
    fn joined_keys_complete_with_their_group_and_share_its_error() {
        let mut st = State::default();
        // key 1: a SET; keys 2-4: one MSET (4 owns it); key 5: a SET
        st.q.extend([key(1, 1, false), key(2, 0, true), key(3, 0, true), key(4, 1, false)]);
        st.q.push_back(key(5, 1, false));
        st.cmds = 3;
        assert!(answer(&mut st, None));
        pop_complete(&mut st);
        assert_eq!(done(&mut st), vec![(1, None)], "the joined keys wait for their MSET");
        assert_eq!(st.q.len(), 4);
        let oom = Some("OOM command not allowed".to_string());
        assert!(answer(&mut st, oom.clone()));
        pop_complete(&mut st);
        assert_eq!(done(&mut st), vec![(2, oom.clone()), (3, oom.clone()), (4, oom)]);
        assert!(answer(&mut st, None));
        pop_complete(&mut st);
        assert_eq!(done(&mut st), vec![(5, None)], "the next key's error is its own");
        assert!(st.q.is_empty() && st.bytes == 0 && st.cmds == 0);
        assert!(!answer(&mut st, None), "a reply nobody asked for");
    }

    #[test]
    fn thousands_are_grouped() {
        let t = super::thousands;
        assert_eq!(
            (t(0), t(999), t(1000), t(1204), t(1234567)),
            ("0".into(), "999".into(), "1,000".into(), "1,204".into(), "1,234,567".into())
        );
    }
}
