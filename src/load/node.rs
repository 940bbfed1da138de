//! One pipelined connection to a server: the loader writes commands, a reader thread matches
//! replies to what was sent, in order, and reports per key whether all its commands
//! succeeded (the first error reply otherwise).
//!
//! Invariant: every piece written is queued as an [`Expect`] before its bytes go out, so a
//! dropped connection leaves exactly the keys that were not fully acknowledged in the queue.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::url::Url;
use crate::resp::client::Conn;
use crate::resp::reply::{ParseError, Reply, skip};

/// Most unanswered commands per connection (small commands fill a byte window slowly; a
/// server holds a reply per command).
pub const MAX_CMDS: u64 = 100_000;

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
}

/// A key (or keyless command group) whose replies have all arrived.
#[derive(Debug)]
pub struct Done {
    pub tag: Tag,
    /// The first error reply among its commands.
    pub err: Option<String>,
}

#[derive(Default)]
struct State {
    q: VecDeque<Expect>,
    bytes: usize,
    /// Commands sent and not answered yet.
    cmds: u64,
    /// The first error of the key being acknowledged (its pieces may span several entries).
    cur_err: Option<String>,
    done: Vec<Done>,
    dead: Option<String>,
}

pub struct Node {
    pub addr: String,
    w: TcpStream,
    sh: Arc<(Mutex<State>, Condvar)>,
    reader: Option<JoinHandle<()>>,
    /// Bytes of pieces that completed no command, counted with the next queued entry.
    carry: usize,
}

/// Connects, authenticates, and checks the server answers.
pub fn handshake(url: &Url, addr: &str, timeout: Duration) -> Result<Conn, String> {
    let mut c = if url.tls {
        let host = addr.rsplit_once(':').map_or(addr, |x| x.0);
        Conn::from_stream(super::tls::connect(host, addr, &url.tls_opts, timeout)?, timeout)
    } else {
        Conn::connect(addr, timeout)
    }
    .map_err(|e| format!("{addr}: {e}"))?;
    if let Some(p) = &url.password {
        let r = match &url.user {
            Some(u) => c.cmd(&["AUTH", u, p]),
            None => c.cmd(&["AUTH", p]),
        }
        .map_err(|e| format!("{addr}: {e}"))?;
        if let Reply::Error(e) = r {
            return Err(format!("{addr}: authentication failed: {}", String::from_utf8_lossy(&e)));
        }
    }
    match c.cmd(&["PING"]).map_err(|e| format!("{addr}: {e}"))? {
        Reply::Error(e) => Err(format!("{addr}: {}", String::from_utf8_lossy(&e))),
        _ => Ok(c),
    }
}

impl Node {
    pub fn connect(url: &Url, addr: &str) -> Result<Node, String> {
        let c = handshake(url, addr, Duration::from_secs(10))?;
        let w = c.into_stream();
        w.set_read_timeout(None).ok();
        w.set_write_timeout(Some(Duration::from_secs(120))).ok();
        let r = w.try_clone().map_err(|e| format!("{addr}: {e}"))?;
        let sh: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let sh2 = sh.clone();
        let reader = std::thread::spawn(move || read_loop(r, &sh2));
        Ok(Node { addr: addr.to_string(), w, sh, reader: Some(reader), carry: 0 })
    }

    /// Queues `e` and writes `bytes` (the connection may turn out dead: see [`Node::dead`]).
    pub fn send(&mut self, bytes: &[u8], mut e: Option<Expect>) {
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
                st.cmds += e.cmds as u64;
                st.q.push_back(e);
            }
        }
        if let Err(err) = self.w.write_all(bytes) {
            let mut st = self.sh.0.lock().unwrap();
            st.dead.get_or_insert(format!("write: {err}"));
            self.sh.1.notify_all();
        }
    }

    /// Queues several entries and writes their bytes in one go.
    pub fn send_many(&mut self, bytes: &[u8], es: impl IntoIterator<Item = Expect>) {
        {
            let mut st = self.sh.0.lock().unwrap();
            for mut e in es {
                if e.cmds == 0 && !e.end {
                    self.carry += e.bytes;
                    continue;
                }
                e.bytes += std::mem::take(&mut self.carry);
                st.bytes += e.bytes;
                st.cmds += e.cmds as u64;
                st.q.push_back(e);
            }
            if st.dead.is_some() {
                return;
            }
        }
        if let Err(err) = self.w.write_all(bytes) {
            let mut st = self.sh.0.lock().unwrap();
            st.dead.get_or_insert(format!("write: {err}"));
            self.sh.1.notify_all();
        }
    }

    /// Waits until at most `limit` bytes and [`MAX_CMDS`] commands are unacknowledged (or
    /// the connection died).
    pub fn wait_below(&self, limit: usize) {
        let mut st = self.sh.0.lock().unwrap();
        while (st.bytes > limit || st.cmds > MAX_CMDS.min(limit as u64)) && st.dead.is_none() {
            st = self.sh.1.wait(st).unwrap();
        }
    }

    pub fn take_done(&self) -> Vec<Done> {
        std::mem::take(&mut self.sh.0.lock().unwrap().done)
    }

    pub fn dead(&self) -> Option<String> {
        self.sh.0.lock().unwrap().dead.clone()
    }

    /// After the connection died: what was not acknowledged.
    pub fn take_unacknowledged(&self) -> Vec<Expect> {
        let mut st = self.sh.0.lock().unwrap();
        st.bytes = 0;
        st.cmds = 0;
        st.q.drain(..).collect()
    }

    pub fn in_flight(&self) -> usize {
        self.sh.0.lock().unwrap().q.len()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.w.shutdown(std::net::Shutdown::Both);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Pops the entries at the front whose replies have all arrived.
fn pop_complete(st: &mut State) {
    while st.q.front().is_some_and(|f| f.cmds == 0) {
        let f = st.q.pop_front().unwrap();
        st.bytes -= f.bytes.min(st.bytes);
        if f.end {
            let err = st.cur_err.take();
            st.done.push(Done { tag: f.tag, err });
        }
    }
}

fn read_loop(mut r: TcpStream, sh: &(Mutex<State>, Condvar)) {
    let mut buf = Vec::with_capacity(1 << 17);
    let mut tmp = vec![0u8; 1 << 17];
    // replies parsed since the last update: None for success, Some(error)
    let mut got: Vec<Option<String>> = Vec::new();
    loop {
        let mut pos = 0;
        let bad = loop {
            match skip(&buf, pos) {
                Ok((err, next)) => {
                    got.push(err.map(|e| String::from_utf8_lossy(e).into_owned()));
                    pos = next;
                }
                Err(ParseError::Incomplete) => break None,
                Err(ParseError::Invalid(m)) => break Some(format!("protocol error: {m}")),
            }
        };
        buf.drain(..pos);
        if !got.is_empty() {
            let mut st = sh.0.lock().unwrap();
            let st = &mut *st;
            for err in got.drain(..) {
                pop_complete(st);
                let Some(front) = st.q.front_mut() else {
                    st.dead = Some("a reply nobody asked for".into());
                    sh.1.notify_all();
                    return;
                };
                if let Some(e) = err {
                    st.cur_err.get_or_insert(e);
                }
                front.cmds -= 1;
                st.cmds = st.cmds.saturating_sub(1);
            }
            pop_complete(st);
            sh.1.notify_all();
        }
        if let Some(b) = bad {
            let mut st = sh.0.lock().unwrap();
            st.dead.get_or_insert(b);
            sh.1.notify_all();
            return;
        }
        match r.read(&mut tmp) {
            Ok(0) | Err(_) => {
                let mut st = sh.0.lock().unwrap();
                st.dead.get_or_insert("connection closed".into());
                sh.1.notify_all();
                return;
            }
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}
