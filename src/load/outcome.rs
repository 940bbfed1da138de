//! What the replies say: each key whose commands were all answered is loaded, retried
//! (a redirect, a busy or loading node, a lost connection) or failed with the server's
//! error; the ledger keeps each key in exactly one state and the report counts it once.

use super::sink::FileLoad;
use super::{Error, ledger};
use crate::net::Redirect;
use crate::net::node::{Done, Expect, Tag};

impl FileLoad<'_, '_> {
    /// Handles the keys whose replies have all arrived, and nodes that died.
    pub(super) fn collect(&mut self) -> Result<(), Error> {
        // what other loads found for this one
        for (i, d) in self.t.inbox.remove(&self.file).unwrap_or_default() {
            self.outcome(i, d);
        }
        for (e, why, addr) in self.t.lost.remove(&self.file).unwrap_or_default() {
            self.lose(e, &why, &addr);
        }
        for i in 0..self.t.nodes.len() {
            let done = self.t.nodes[i].take_done();
            if !done.is_empty() {
                self.t.answered(i);
            }
            self.sort_done(i, done);
            if let Some(death) = self.t.nodes[i].dead() {
                self.died(i, death)?;
            }
        }
        match self.fatal.take() {
            Some(f) => Err(Error::Fatal(f)),
            None => Ok(()),
        }
    }

    /// Connection `i` died: a strike against its node when it timed out (once per death:
    /// what it owed is taken here, and a given-up node's stays dead); what it did not
    /// acknowledge goes again from each key's first command, or fails when the node was
    /// given up; then it is reconnected.
    fn died(&mut self, i: usize, death: crate::net::node::Death) -> Result<(), Error> {
        let addr = self.t.nodes[i].addr.clone();
        if self.t.nodes[i].in_flight() == 0 && self.t.gave_up_on(i).is_some() {
            return Ok(());
        }
        self.t.strike(i, &death.why, death.timed_out);
        let lost = self.t.nodes[i].take_unacknowledged();
        let done = self.t.nodes[i].take_done();
        self.sort_done(i, done);
        for e in lost {
            match e.tag {
                Tag::Key { file, .. } if file != self.file => {
                    self.t.lost.entry(file).or_default().push((e, death.why.clone(), addr.clone()))
                }
                _ => self.lose(e, &death.why, &addr),
            }
        }
        if self.cur == Some(i) {
            self.cur = None;
        }
        let stop = self.stop.clone();
        self.t.reconnect(i, &stop)
    }

    /// This load's outcomes are handled; other loads' are left in their inbox.
    fn sort_done(&mut self, i: usize, done: Vec<Done>) {
        for d in done {
            match d.tag {
                Tag::Key { file, .. } if file != self.file => {
                    self.t.inbox.entry(file).or_default().push((i, d))
                }
                _ => self.outcome(i, d),
            }
        }
    }

    /// A key of this dump whose commands were not all acknowledged before its connection
    /// (to `addr`) died: it goes again, or fails if the node was given up.
    fn lose(&mut self, e: Expect, why: &str, addr: &str) {
        if let Tag::Key { record, db, .. } = e.tag {
            if !e.end && self.ledger.is_open(record) && !self.ledger.is_retrying(record) {
                self.dropped.insert(record);
            }
            if let Some(reason) = self.t.given_up.get(addr).cloned() {
                self.fail_key(addr, record, db, reason);
                return;
            }
            self.ledger.retry(record, None, format!("connection lost: {why}"));
        }
    }

    /// A key whose node was given up: it fails, counted but not listed (see
    /// [`ledger::Ledger::abandon`]), and its later pieces are dropped.
    pub(super) fn abandon(&mut self, addr: &str, record: usize, end: bool, reason: String) {
        if !self.ledger.is_open(record) {
            return;
        }
        if !end {
            self.dropped.insert(record);
        }
        let name = self.key_name(record, self.db);
        self.ledger.abandon(record);
        self.t.report.key_failed(self.file, addr, name, reason);
    }

    fn outcome(&mut self, node: usize, d: Done) {
        let addr = self.t.nodes[node].addr.clone();
        match (d.tag, d.err) {
            (Tag::Key { record, .. }, None) => {
                if self.ledger.acked(record) == ledger::Outcome::Finished {
                    self.t.report.key_loaded(self.file, &addr);
                }
            }
            (Tag::Key { record, db, .. }, Some(e)) => self.key_error(&addr, record, db, e),
            (Tag::Global, None) => self.t.report.functions += 1,
            (Tag::Global, Some(e)) => {
                self.t.report.failed_functions += 1;
                self.t.report.fail(&addr, "(function library)".into(), e)
            }
            // SELECT (and ASKING): nothing more may run on this connection
            (Tag::Internal, Some(e)) => {
                self.fatal.get_or_insert(format!("{addr}: {e}; nothing more was sent after it"));
            }
            (Tag::Internal, None) => {}
        }
    }

    /// A key's first error reply: a redirect or a passing state is retried, `BUSYKEY`
    /// (`RESTORE` without `REPLACE`) is a skip, anything else fails the key.
    fn key_error(&mut self, addr: &str, record: usize, db: u64, e: String) {
        match Redirect::parse_error(e.as_bytes()) {
            Some(r @ Redirect::Ask { .. }) => {
                self.t.report.redirects += 1;
                self.ledger.retry(record, Some(r.addr_from(addr)), e);
                return;
            }
            Some(Redirect::Moved { .. }) => {
                self.t.report.redirects += 1;
                let why = match self.t.refresh_slots() {
                    Ok(()) => e,
                    Err(x) => x.to_string(),
                };
                self.ledger.retry(record, None, why);
                return;
            }
            None => {}
        }
        let word = e.split_whitespace().next().unwrap_or("");
        match word {
            // not OOM: a full target does not free memory by being waited on, and keys held
            // open for retries would keep their failures out of the checkpoint meanwhile
            "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" | "BUSY" | "MASTERDOWN" | "READONLY" => {
                *self.t.report.backoffs.entry(word.to_string()).or_default() += 1;
                if word == "READONLY" || word == "CLUSTERDOWN" {
                    let _ = self.t.refresh_slots();
                }
                self.ledger.retry(record, None, e);
            }
            "BUSYKEY" => {
                if self.ledger.skipped(record) == ledger::Outcome::Finished {
                    self.t.report.key_skipped(self.file);
                }
            }
            _ => self.fail_key(addr, record, db, e),
        }
    }

    /// The key at `record` fails for good with `e` (counted once, whatever else reported it).
    pub(super) fn fail_key(&mut self, addr: &str, record: usize, db: u64, e: String) {
        // the name travels with the open key: take it before the ledger closes it
        let name = self.key_name(record, db);
        if self.ledger.failed(record, db) == ledger::Outcome::Finished {
            self.t.report.key_failed(self.file, addr, name, e);
        }
    }
}
