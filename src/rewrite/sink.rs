//! Where rewritten records go: one RDB file, or one per cluster master ([`Split`]), each
//! with its own magic, aux fields, `SELECTDB`s, end and checksum.
//!
//! The engine hands records on in file order; with a split, each key's bytes carry a mark
//! with its slot ([`crate::convert::out::Mark`]) and go to the file of the master that
//! owns it, and records of no key (function libraries, module aux data) go to every file.
//! A file gets a `SELECTDB` before its first record of each database run, so a file that
//! receives no key of a database never names it.

use std::io::Write;
use std::sync::Arc;

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

/// One output file being written.
struct File {
    w: Box<dyn Write + Send>,
    crc: Crc64,
    /// The database of its last record (`None`: none yet).
    db: Option<u64>,
    bytes: u64,
    keys: u64,
}

impl File {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.crc.update(b);
        self.bytes += b.len() as u64;
        self.w.write_all(b)
    }
}

/// Where bytes without a mark of their own go: to the file of the key being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dest {
    One(usize),
    All,
}

/// RDB files being written; see the module doc.
pub struct RdbSink {
    files: Vec<File>,
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
        let mut files = Vec::new();
        for (i, w) in outs.into_iter().enumerate() {
            let mut f = File { w, crc: Crc64::default(), db: None, bytes: 0, keys: 0 };
            let mut b = head.to_vec();
            for (k, v) in extra_aux.get(i).into_iter().flatten() {
                write::aux(&mut b, k, v);
            }
            f.put(&b)?;
            files.push(f);
        }
        Ok(RdbSink { files, split, cur: Dest::One(0), db: 0, db0_only, pool: Arc::default() })
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
        for f in &mut self.files {
            let mut b = Vec::new();
            write::eof(&mut b, &mut f.crc);
            f.bytes += b.len() as u64;
            f.w.write_all(&b)?;
            f.w.flush()?;
        }
        Ok(())
    }

    fn to(&mut self, d: Dest, b: &[u8]) -> std::io::Result<()> {
        if b.is_empty() {
            return Ok(());
        }
        let (db, db0_only) = (self.db, self.db0_only);
        let put = |f: &mut File| -> std::io::Result<()> {
            if f.db != Some(db) {
                if db0_only && db != 0 {
                    return Err(refuse(format!(
                        "a key of database {db} goes to a cluster node, which loads database 0 only (select it with --db 0, or move it with --map-db {db}=0)"
                    )));
                }
                let mut s = Vec::new();
                write::select_db(&mut s, db);
                f.put(&s)?;
                f.db = Some(db);
            }
            f.put(b)
        };
        match d {
            Dest::One(i) => put(&mut self.files[i]),
            Dest::All => self.files.iter_mut().try_for_each(put),
        }
    }

    fn dest(&self, m: &Mark) -> Dest {
        match (&self.split, m.slot) {
            (Some(s), Some(slot)) => match s.owner.get(slot as usize).copied().flatten() {
                Some(i) => Dest::One(i as usize),
                None => Dest::All,
            },
            (Some(_), None) => Dest::All,
            (None, _) => Dest::One(0),
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
        let mut r = Ok(());
        let first = marks.first().map_or(b.len(), |m| m.at);
        r = r.and_then(|_| self.to(self.cur, &b[..first]));
        for (i, m) in marks.iter().enumerate() {
            let end = marks.get(i + 1).map_or(b.len(), |n| n.at);
            self.cur = self.dest(m);
            if m.name.is_some()
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
}
