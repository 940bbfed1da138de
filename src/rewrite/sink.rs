//! Where rewritten records go: one RDB file, or one per cluster master ([`Split`]), each
//! with its own magic, aux fields, `SELECTDB`s, end and checksum.
//!
//! The engine hands records on in file order; with a split, each key's bytes carry a mark
//! with its slot ([`crate::convert::out::Mark`]) and go to the file of the master that
//! owns it, and records of no key (function libraries, module aux data) go to every file.
//! A file gets a `SELECTDB` before its first record of each database run, so a file that
//! receives no key of a database never names it.

use std::io::Write;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::convert::engine::Sink;
use crate::convert::out::{BufPool, Mark};
use crate::format::Crc64;
use crate::format::write;

/// Where each slot's keys go, for a split into one file per master.
#[derive(Clone, Debug)]
pub struct Split {
    /// Per slot, the index of the file its keys go to; `None`: no file owns it (such keys
    /// are left out before they reach the sink, see [`crate::filter::Filter::slots`]).
    pub owner: Vec<Option<u16>>,
}

/// One output file being written: the checksum and the writes happen on the writer
/// thread ([`Writer`]); this side keeps what routing needs.
struct File {
    /// Small parts gathered into a piece before they go to the writer.
    pending: Vec<u8>,
    /// The database of its last record (`None`: none yet).
    db: Option<u64>,
    bytes: u64,
    keys: u64,
}

/// A file as the writer thread hands it back: where it went, and its checksum so far.
type Written = (Box<dyn Write + Send>, Crc64);

/// The thread that computes each file's checksum and writes it, in order, so that the
/// copy into the page cache overlaps with the ordering of the next records (as a
/// conversion's writer does); buffers go back to the pool once written.
struct Writer {
    tx: Option<SyncSender<(usize, Vec<u8>)>>,
    thread: Option<JoinHandle<Vec<Written>>>,
    err: Arc<Mutex<Option<std::io::Error>>>,
}

impl Writer {
    fn start(outs: Vec<Box<dyn Write + Send>>, pool: Arc<BufPool>) -> Writer {
        let err: Arc<Mutex<Option<std::io::Error>>> = Arc::default();
        let (tx, rx) = sync_channel::<(usize, Vec<u8>)>(4);
        let e = err.clone();
        let thread = std::thread::spawn(move || {
            let mut files: Vec<Written> = outs.into_iter().map(|w| (w, Crc64::default())).collect();
            for (i, b) in rx {
                let (w, crc) = &mut files[i];
                crc.update(&b);
                if let Err(x) = w.write_all(&b) {
                    e.lock().unwrap().get_or_insert(x);
                }
                pool.put(b);
            }
            files
        });
        Writer { tx: Some(tx), thread: Some(thread), err }
    }

    fn send(&self, i: usize, b: Vec<u8>) -> std::io::Result<()> {
        if let Some(e) = self.err.lock().unwrap().take() {
            return Err(e);
        }
        self.tx
            .as_ref()
            .expect("not finished")
            .send((i, b))
            .map_err(|_| std::io::Error::other("the writer thread stopped"))
    }

    /// Waits for every write; the files and their checksums.
    fn finish(&mut self) -> std::io::Result<Vec<Written>> {
        self.tx.take();
        let files = self
            .thread
            .take()
            .expect("finished once")
            .join()
            .map_err(|_| std::io::Error::other("the writer thread panicked"))?;
        if let Some(e) = self.err.lock().unwrap().take() {
            return Err(e);
        }
        Ok(files)
    }
}

/// Gathered parts go to the writer in pieces of this size.
const PIECE: usize = 1 << 20;

/// Bytes for a file: a whole piece, or a part copied out of one.
enum Bytes<'b> {
    Owned(Vec<u8>),
    Borrowed(&'b [u8]),
}

/// Where bytes without a mark of their own go: to the file of the key being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dest {
    One(usize),
    All,
}

/// RDB files being written; see the module doc.
pub struct RdbSink {
    /// The dumps' size hints per database (`RESIZEDB`), for each file's `SELECTDB`.
    hints: std::collections::HashMap<u64, (u64, u64)>,
    /// Each file's share of the slots (1 without a split): its part of a hint.
    shares: Vec<f64>,
    files: Vec<File>,
    writer: Writer,
    split: Option<Split>,
    cur: Dest,
    db: u64,
    /// Only database 0 may be written (a cluster node loads no other).
    db0_only: bool,
    pool: Arc<BufPool>,
}

/// Why a record cannot be written.
fn refuse(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

impl RdbSink {
    /// Files `outs`, each started with `head` (the magic and aux fields, see
    /// [`super::head`]) and its own aux fields from `extra_aux`. With `split`, keys go to
    /// the file of their slot's owner and only database 0 may be written.
    pub fn new(
        outs: Vec<Box<dyn Write + Send>>,
        head: &[u8],
        extra_aux: &[Vec<(Vec<u8>, Vec<u8>)>],
        split: Option<Split>,
        db0_only: bool,
    ) -> std::io::Result<RdbSink> {
        let pool: Arc<BufPool> = Arc::default();
        let n = outs.len();
        let writer = Writer::start(outs, pool.clone());
        let mut files = Vec::new();
        for i in 0..n {
            let mut b = head.to_vec();
            for (k, v) in extra_aux.get(i).into_iter().flatten() {
                write::aux(&mut b, k, v);
            }
            files.push(File { pending: Vec::new(), db: None, bytes: b.len() as u64, keys: 0 });
            writer.send(i, b)?;
        }
        let shares = match &split {
            None => vec![1.0; files.len()],
            Some(sp) => (0..files.len())
                .map(|i| {
                    let n = sp.owner.iter().filter(|o| **o == Some(i as u16)).count();
                    n as f64 / 16384.0
                })
                .collect(),
        };
        let hints = Default::default();
        Ok(RdbSink {
            hints,
            shares,
            files,
            writer,
            split,
            cur: Dest::One(0),
            db: 0,
            db0_only,
            pool,
        })
    }

    /// Bytes written into each file so far.
    pub fn bytes(&self) -> Vec<u64> {
        self.files.iter().map(|f| f.bytes).collect()
    }

    /// Keys written into each file (counted by their marks; with one file, 0: the
    /// engine's counts say it).
    pub fn keys(&self) -> Vec<u64> {
        self.files.iter().map(|f| f.keys).collect()
    }

    /// Ends every file: `EOF`, the checksum, a flush.
    pub fn finish(&mut self) -> std::io::Result<()> {
        for i in 0..self.files.len() {
            let p = std::mem::take(&mut self.files[i].pending);
            if !p.is_empty() {
                self.writer.send(i, p)?;
            }
        }
        for (f, (w, crc)) in self.files.iter_mut().zip(self.writer.finish()?) {
            let (mut w, mut crc) = (w, crc);
            let mut b = Vec::new();
            write::eof(&mut b, &mut crc);
            f.bytes += b.len() as u64;
            w.write_all(&b)?;
            w.flush()?;
        }
        Ok(())
    }

    /// Hands `b` to file `i`, after a `SELECTDB` when the file's last record was in
    /// another database. A whole piece goes as it is; small parts are gathered first.
    fn put(&mut self, i: usize, b: Bytes, keyless: bool) -> std::io::Result<()> {
        let db = self.db;
        let f = &mut self.files[i];
        // a record of no key (a function library, module aux data) belongs to no database
        if f.db != Some(db) && !keyless {
            if self.db0_only && db != 0 {
                return Err(refuse(format!(
                    "a key of database {db} goes to a cluster node, which loads database 0 only (select it with --db 0, or move it with --map-db {db}=0)"
                )));
            }
            let at = f.pending.len();
            write::select_db(&mut f.pending, db);
            if let Some(&(keys, expires)) = self.hints.get(&db) {
                // the dump's hint, this file's share of it: the server sizes its tables
                // once instead of growing them key by key
                let share = |n: u64| (n as f64 * self.shares[i]).ceil() as u64;
                write::resize_db(&mut f.pending, share(keys), share(expires));
            }
            f.bytes += (f.pending.len() - at) as u64;
            f.db = Some(db);
        }
        match b {
            Bytes::Owned(v) if f.pending.is_empty() => {
                f.bytes += v.len() as u64;
                self.writer.send(i, v)
            }
            Bytes::Owned(v) => {
                f.pending.extend_from_slice(&v);
                f.bytes += v.len() as u64;
                self.pool.put(v);
                self.gathered(i)
            }
            Bytes::Borrowed(x) => {
                f.pending.extend_from_slice(x);
                f.bytes += x.len() as u64;
                self.gathered(i)
            }
        }
    }

    /// Sends file `i`'s gathered parts once they make a piece.
    fn gathered(&mut self, i: usize) -> std::io::Result<()> {
        if self.files[i].pending.len() >= PIECE {
            let next = self.pool.get(PIECE + (64 << 10));
            let full = std::mem::replace(&mut self.files[i].pending, next);
            self.writer.send(i, full)?;
        }
        Ok(())
    }

    fn to(&mut self, d: Dest, b: &[u8]) -> std::io::Result<()> {
        if b.is_empty() {
            return Ok(());
        }
        match d {
            Dest::One(i) => self.put(i, Bytes::Borrowed(b), false),
            Dest::All => {
                (0..self.files.len()).try_for_each(|i| self.put(i, Bytes::Borrowed(b), true))
            }
        }
    }

    /// Where the bytes of the key (or keyless record) of mark `m` go; `None`: a key of a
    /// slot no file serves (the selection leaves such keys out before they get here).
    fn dest(&self, m: &Mark) -> Option<Dest> {
        match (&self.split, m.slot) {
            (Some(s), Some(slot)) => {
                s.owner.get(slot as usize).copied().flatten().map(|i| Dest::One(i as usize))
            }
            (Some(_), None) => Some(Dest::All),
            (None, _) => Some(Dest::One(0)),
        }
    }
}

impl Sink for RdbSink {
    type Error = std::io::Error;
    fn select(&mut self, db: u64) -> std::io::Result<()> {
        self.db = db;
        Ok(())
    }
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.to(self.cur, bytes)
    }
    fn write_owned(&mut self, b: Vec<u8>, marks: Vec<Mark>) -> std::io::Result<()> {
        if self.split.is_none() {
            // one file: the piece goes as it is, no copy
            return if b.is_empty() { Ok(()) } else { self.put(0, Bytes::Owned(b), false) };
        }
        let mut r = Ok(());
        let first = marks.first().map_or(b.len(), |m| m.at);
        r = r.and_then(|_| self.to(self.cur, &b[..first]));
        for (i, m) in marks.iter().enumerate() {
            let end = marks.get(i + 1).map_or(b.len(), |n| n.at);
            let Some(d) = self.dest(m) else {
                self.pool.put(b);
                return Err(refuse(format!(
                    "a key of slot {} has no file to go to (no master serves it)",
                    m.slot.unwrap_or(0)
                )));
            };
            self.cur = d;
            if m.begun
                && let Dest::One(f) = self.cur
            {
                self.files[f].keys += 1;
            }
            r = r.and_then(|_| self.to(self.cur, &b[m.at..end]));
        }
        self.pool.put(b);
        r
    }
    fn pool(&self) -> &Arc<BufPool> {
        &self.pool
    }
    fn wants_marks(&self) -> bool {
        self.split.is_some()
    }
    fn size_hint(&mut self, db: u64, keys: u64, expires: u64) {
        self.hints.entry(db).or_insert((keys, expires));
    }
}
