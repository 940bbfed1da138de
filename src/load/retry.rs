//! Retries: a key that is to go again is decoded again from the dump and all its commands
//! are sent (they start with `DEL` or `RESTORE ... REPLACE`, so a key half-written before
//! converges), in rounds with a growing backoff, until every key is loaded or failed.

use std::time::Duration;

use super::sink::FileLoad;
use super::{Error, ledger};
use crate::convert::bufs::Bufs;
use crate::convert::commands;
use crate::convert::out::{BufPool, Out, Seg};
use crate::convert::{Counts, KeyWriter};
use crate::format::Reader;
use crate::format::record::Record;
use crate::net::node::{Expect, Tag};

/// How a load's engine run ended, which decides how its end goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The whole dump went through the engine: retries go out until none is left, and the
    /// checkpoint records the dump as done once every key is.
    Complete,
    /// The engine stopped at an error: retries still go out; the checkpoint records what
    /// was acknowledged.
    Incomplete,
    /// A stop was asked for: nothing more is sent; the acknowledgements still due are
    /// awaited for at most the grace, and the checkpoint records what they say.
    Stop(Duration),
}

impl FileLoad<'_, '_> {
    /// The key whose record starts at `record` (read again from the dump).
    fn key_at(&self, record: usize, db: u64) -> Option<crate::format::Key<'_>> {
        let h = self.header?;
        match Reader::resume(self.data, h, record, db)
            // a damaged registry is found and reported by the pre-pass
            .with_templates(
                self.templates
                    .get_or_init(|| crate::format::record::templates(self.data).unwrap_or_default())
                    .clone(),
            )
            .next_record()
        {
            Ok(Some(Record::Key(k))) => Some(k),
            _ => None,
        }
    }

    /// The name of the key at `record`: from the ledger while the key is open (its name
    /// travelled with its commands), else read again from the dump.
    pub(super) fn key_name(&self, record: usize, db: u64) -> String {
        if let Some(n) = self.ledger.name(record) {
            return String::from_utf8_lossy(n).into_owned();
        }
        match self.key_at(record, db) {
            // the name it goes out under (`--rename-*`)
            Some(k) => {
                let name = k.name().unwrap_or_default();
                String::from_utf8_lossy(&self.plan.filter.rename.name(&name)).into_owned()
            }
            None => format!("(key at byte offset {record})"),
        }
    }

    /// The key's commands, decoded again from the dump (each after an `ASKING` when `ask`):
    /// (bytes, commands, slot).
    fn regenerate(&self, record: usize, db: u64, ask: bool) -> Result<(Vec<u8>, u32, u16), Error> {
        let Some(k) = self.key_at(record, db) else {
            return Err(Error::Fatal(format!("no key at byte offset {record}")));
        };
        // sent again under the name it goes out under (`--rename-*`), to its slot's node
        let name = k.name()?;
        let name = self.plan.filter.rename.name(&name).into_owned();
        let slot = crate::slot::of(&name);
        let mut segs = Vec::new();
        let mut send = |s: Seg| {
            segs.push(s);
            Ok(())
        };
        let pool = BufPool::default();
        let mut out = Out::new(self.data, 1 << 20, &pool, &mut send).with_marks();
        if ask {
            out = out.with_asking();
        }
        let mut bufs = Bufs::default();
        out.begin_key(record, Some(slot), &name);
        let counts = &mut Counts::default();
        commands::key(
            &mut KeyWriter { plan: self.plan, out: &mut out, bufs: &mut bufs, counts },
            &k,
            &name,
        )?;
        out.end_key();
        out.flush()?;
        drop(out);
        let (mut bytes, mut cmds) = (Vec::new(), 0);
        for s in segs {
            match s {
                Seg::Bytes(b, marks) => {
                    bytes.extend_from_slice(&b);
                    cmds += marks.iter().map(|m| m.cmds).sum::<u32>();
                }
                Seg::Mapped(r) => bytes.extend_from_slice(&self.data[r]),
            }
        }
        Ok((bytes, cmds, slot))
    }

    /// Sends the pending retries, in rounds, until none is left, and records progress in
    /// the checkpoint; see [`Finish`]. The shared pool is not held while a round waits.
    pub fn finish(&mut self, how: Finish) -> Result<(), Error> {
        self.t.acquire();
        let r = match how {
            Finish::Stop(grace) => self.finish_stopped(grace),
            _ => self.finish_retrying(how == Finish::Complete),
        };
        self.t.release();
        r
    }

    fn finish_stopped(&mut self, grace: Duration) -> Result<(), Error> {
        self.t.drain_within(grace);
        let r = self.collect();
        let done = self.done_upto();
        self.record_progress(done, true)?;
        r
    }

    fn finish_retrying(&mut self, complete: bool) -> Result<(), Error> {
        loop {
            self.t.drain();
            self.collect()?;
            if !self.ledger.has_retries() {
                let done =
                    if complete && self.ledger.open_count() == 0 && !self.ledger.has_abandoned() {
                        self.data.len()
                    } else {
                        self.done_upto()
                    };
                return self.record_progress(done, true);
            }
            let (round, gave_up) = self.ledger.take_retries();
            for r in gave_up {
                self.fail_key("-", r.record, r.db, ledger::gave_up(&r));
            }
            // the other dumps' loads go on while this one waits
            let backoff = round.iter().map(|r| r.attempt).max().unwrap_or(1);
            self.t.release();
            std::thread::sleep(Duration::from_millis((25u64 << backoff.min(6)).min(1000)));
            self.t.acquire();
            for r in round {
                self.resend(r)?;
            }
        }
    }

    /// Sends one key again, whole, to the node it belongs to now (or the one an `ASK`
    /// named); it fails at once when that node was given up.
    fn resend(&mut self, r: ledger::Retry) -> Result<(), Error> {
        self.dropped.remove(&r.record);
        self.t.report.retries += 1;
        let (bytes, cmds, slot) = self.regenerate(r.record, r.db, r.ask.is_some())?;
        let node = match &r.ask {
            Some(addr) => self.t.node(addr, 0)?,
            None => self.t.route(slot, r.db)?,
        };
        if let Some(reason) = self.t.gave_up_on(node).cloned() {
            let addr = self.t.nodes[node].addr.clone();
            self.fail_key(&addr, r.record, r.db, reason);
            return Ok(());
        }
        let tag = Tag::Key { file: self.file, record: r.record, db: r.db };
        self.t.pace(node, cmds as u64, bytes.len());
        self.t.nodes[node]
            .send(&bytes, Some(Expect { tag, cmds, bytes: bytes.len(), end: true, joined: false }));
        Ok(())
    }
}
