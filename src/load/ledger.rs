//! The per-key ledger of one dump's load: every key handed to a node is open until it is
//! acknowledged (loaded), failed for good with a reason, or skipped; a key whose commands
//! were not all acknowledged (a redirect, a retryable error, a lost connection) waits in
//! the retry list with its attempt count.
//!
//! Invariants:
//! - A key is in at most one state: open (sent or waiting for a retry), loaded, failed or
//!   skipped. Late outcomes of a key that is no longer open are ignored.
//! - A key is finished once: [`Outcome::Finished`] is returned for it once, and the load's
//!   report counts it then (the ledger keeps no counts of its own).
//! - [`Ledger::done_upto`]: every key whose record starts before it is finished; a
//!   checkpoint may record it, together with [`Ledger::failed_keys`] to retry later.

use std::collections::{BTreeMap, VecDeque};

/// Attempts per key for retryable errors (`TRYAGAIN`, `LOADING`, redirects, reconnects).
pub const MAX_ATTEMPTS: u32 = 12;

/// A key to send again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    pub(crate) record: usize,
    pub(crate) db: u64,
    /// `ASK` target: send there, each command after `ASKING`.
    pub(crate) ask: Option<String>,
    /// The attempt this retry will be (the first send was attempt 1).
    pub(crate) attempt: u32,
    pub(crate) last_err: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Open {
    db: u64,
    /// The key's name (it travels with the key's commands).
    name: Option<Box<[u8]>>,
    /// Attempts made so far.
    attempts: u32,
    /// Waiting in the retry list.
    retrying: bool,
}

/// What happened to the key an outcome was for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Counted (loaded, failed or skipped).
    Finished,
    /// Queued for another attempt.
    Retrying,
    /// The key was not open: a late or duplicate outcome, ignored.
    Stale,
}

/// The open keys by record offset. Keys are opened in file order (the engine hands them on
/// so), so this is a deque sorted by offset: opening one appends it, finishing one leaves
/// a hole that is dropped once it reaches the front, and the front is the lowest open key.
/// No allocation per key (measured: a map node per key was a twentieth of a load's CPU).
/// Holes behind a key that stays open (retrying) are compacted away once they outnumber
/// the open keys, so its size stays within twice the open keys plus [`SLACK`].
#[derive(Default, Debug)]
struct OpenKeys {
    q: VecDeque<(usize, Option<Open>)>,
    live: usize,
}

/// Holes kept before a compaction (see [`OpenKeys`]).
const SLACK: usize = 1024;

impl OpenKeys {
    fn at(&self, record: usize) -> Option<usize> {
        // replies come in order: the key asked about is most often the lowest open one
        match self.q.front() {
            Some(&(first, _)) if first == record => Some(0),
            _ => self.q.binary_search_by_key(&record, |e| e.0).ok(),
        }
    }
    fn get(&self, record: usize) -> Option<&Open> {
        self.at(record).and_then(|i| self.q[i].1.as_ref())
    }
    fn get_mut(&mut self, record: usize) -> Option<&mut Open> {
        self.at(record).and_then(|i| self.q[i].1.as_mut())
    }
    fn contains(&self, record: usize) -> bool {
        self.get(record).is_some()
    }
    /// Opens the key at `record` unless it is open already.
    fn open(&mut self, record: usize, o: Open) {
        match self.q.back() {
            Some(&(last, _)) if last >= record => {
                match self.q.binary_search_by_key(&record, |e| e.0) {
                    Ok(i) if self.q[i].1.is_some() => return,
                    Ok(i) => self.q[i].1 = Some(o),
                    Err(i) => self.q.insert(i, (record, Some(o))),
                }
            }
            _ => self.q.push_back((record, Some(o))),
        }
        self.live += 1;
    }
    fn remove(&mut self, record: usize) -> Option<Open> {
        let i = self.at(record)?;
        let o = self.q[i].1.take()?;
        self.live -= 1;
        while self.q.front().is_some_and(|e| e.1.is_none()) {
            self.q.pop_front();
        }
        if self.q.len() > 2 * self.live + SLACK {
            self.q.retain(|e| e.1.is_some());
        }
        Some(o)
    }
    /// The lowest open key.
    fn first(&self) -> Option<usize> {
        self.q.front().map(|e| e.0)
    }
    fn len(&self) -> usize {
        self.live
    }
}

#[derive(Default, Debug)]
pub struct Ledger {
    open: OpenKeys,
    retries: Vec<Retry>,
    /// Keys failed for good: record offset -> db.
    failed: BTreeMap<usize, u64>,
    /// Offset just past the record start of the last key handed on.
    sent_upto: usize,
    /// The first key given up without being recorded one by one (its node was given up):
    /// a checkpoint must not pass it.
    abandoned_from: Option<usize>,
}

impl Ledger {
    /// A key's commands were handed to a node (first attempt).
    pub fn sent(&mut self, record: usize, db: u64, name: Option<Box<[u8]>>) {
        self.open.open(record, Open { db, name, attempts: 1, retrying: false });
        self.sent_upto = self.sent_upto.max(record + 1);
    }

    /// A key passed over without sending (filtered, resumed): only moves the low-water mark.
    pub fn passed(&mut self, record: usize) {
        self.sent_upto = self.sent_upto.max(record + 1);
    }

    /// The name of an open key.
    pub fn name(&self, record: usize) -> Option<&[u8]> {
        self.open.get(record).and_then(|o| o.name.as_deref())
    }

    pub fn is_open(&self, record: usize) -> bool {
        self.open.contains(record)
    }

    pub fn is_retrying(&self, record: usize) -> bool {
        self.open.get(record).is_some_and(|o| o.retrying)
    }

    /// Every command of the key was acknowledged without error.
    pub fn acked(&mut self, record: usize) -> Outcome {
        match self.open.get(record) {
            Some(o) if !o.retrying => {
                self.open.remove(record);
                Outcome::Finished
            }
            _ => Outcome::Stale,
        }
    }

    /// The key failed for good (it is recorded for a later run to retry).
    pub fn failed(&mut self, record: usize, db: u64) -> Outcome {
        match self.open.remove(record) {
            Some(_) => {
                self.retries.retain(|r| r.record != record);
                self.failed.insert(record, db);
                Outcome::Finished
            }
            None => Outcome::Stale,
        }
    }

    /// The key exists on the target and is left alone (`--on-conflict skip`).
    pub fn skipped(&mut self, record: usize) -> Outcome {
        match self.open.remove(record) {
            Some(_) => Outcome::Finished,
            None => Outcome::Stale,
        }
    }

    /// The key must go again from its first command (`ask`: to that node, after `ASKING`).
    /// After [`MAX_ATTEMPTS`] it is not queued: the caller fails it with
    /// [`gave_up`]'s message.
    pub fn retry(&mut self, record: usize, ask: Option<String>, why: String) -> Outcome {
        let Some(o) = self.open.get_mut(record) else { return Outcome::Stale };
        if o.retrying {
            return Outcome::Retrying;
        }
        o.retrying = true;
        self.retries.push(Retry { record, db: o.db, ask, attempt: o.attempts + 1, last_err: why });
        Outcome::Retrying
    }

    /// The retries due now. Those past [`MAX_ATTEMPTS`] come back in the second list, to be
    /// failed with their last error.
    pub fn take_retries(&mut self) -> (Vec<Retry>, Vec<Retry>) {
        let mut go = Vec::new();
        let mut gave_up = Vec::new();
        for r in std::mem::take(&mut self.retries) {
            if r.attempt > MAX_ATTEMPTS {
                gave_up.push(r);
                continue;
            }
            if let Some(o) = self.open.get_mut(r.record) {
                o.retrying = false;
                o.attempts = r.attempt;
                go.push(r);
            }
        }
        (go, gave_up)
    }

    pub fn has_retries(&self) -> bool {
        !self.retries.is_empty()
    }

    /// Keys still open (sent and not finished, or waiting for a retry).
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    #[cfg(test)]
    fn failed_count(&self) -> u64 {
        self.failed.len() as u64
    }

    /// Keys failed for good: (record offset, db).
    pub fn failed_keys(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.failed.iter().map(|(&r, &d)| (r, d))
    }

    /// The key failed for good because its node was given up. It is counted, not listed
    /// (a dead node may own millions of keys): a checkpoint stops before the first such
    /// key, so a rerun sends it and everything after it again.
    pub fn abandon(&mut self, record: usize) {
        self.open.remove(record);
        self.retries.retain(|r| r.record != record);
        self.abandoned_from = Some(self.abandoned_from.map_or(record, |a| a.min(record)));
        self.sent_upto = self.sent_upto.max(record + 1);
    }

    /// Whether a key was given up without being listed (see [`Ledger::abandon`]).
    pub fn has_abandoned(&self) -> bool {
        self.abandoned_from.is_some()
    }

    /// Everything whose record starts before this offset is finished (and listed, if it
    /// failed).
    pub fn done_upto(&self) -> usize {
        let d = self.open.first().unwrap_or(self.sent_upto);
        self.abandoned_from.map_or(d, |a| a.min(d))
    }
}

/// The message for a key that ran out of attempts.
pub fn gave_up(r: &Retry) -> String {
    // the error's own kind first, so that the report counts it under it
    format!("{} (gave up after {} attempts)", r.last_err, r.attempt - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The open keys against a map, over random opens (mostly in file order, some behind)
    /// and finishes: the same keys, the same lowest one, and a bounded deque.
    #[test]
    fn open_keys_are_a_sorted_map() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let o = |db| Open { db, name: None, attempts: 1, retrying: false };
        let (mut keys, mut model) = (OpenKeys::default(), BTreeMap::new());
        let mut next = 0usize;
        let mut most = 0;
        for step in 0..200_000u64 {
            match rnd(10) {
                0..=4 => {
                    next += 1 + rnd(50) as usize;
                    keys.open(next, o(step));
                    model.entry(next).or_insert(step);
                }
                5 => {
                    // again, or behind the last (a key not yet seen there)
                    let r = next.saturating_sub(rnd(2000) as usize);
                    keys.open(r, o(step));
                    model.entry(r).or_insert(step);
                }
                _ => {
                    // finish a key, keeping the oldest open now and then (a retry)
                    let first = model.keys().next().copied();
                    let r = match (rnd(1000), first) {
                        (0, _) | (_, None) => next.saturating_sub(rnd(500) as usize),
                        _ => *model.range(first.unwrap() + 1..).next().map(|x| x.0).unwrap_or(&0),
                    };
                    assert_eq!(keys.remove(r).map(|x| x.db), model.remove(&r));
                }
            }
            assert_eq!(keys.len(), model.len());
            assert_eq!(keys.first(), model.keys().next().copied());
            most = most.max(keys.q.len());
            assert!(
                keys.q.len() <= 2 * keys.len() + SLACK + 1,
                "{} for {}",
                keys.q.len(),
                keys.len()
            );
            if step % 997 == 0 {
                for (&r, &db) in &model {
                    assert_eq!(keys.get(r).map(|x| x.db), Some(db));
                }
            }
        }
        assert!(
            model.len() > 100 && most > SLACK,
            "a floor of work: {} open, {most} at most",
            model.len()
        );
    }

    #[test]
    fn sent_then_acked_is_loaded_once() {
        let mut l = Ledger::default();
        l.sent(10, 0, Some(b"k10"[..].into()));
        assert_eq!(l.name(10), Some(&b"k10"[..]), "the name travels with the key");
        l.sent(20, 0, None);
        assert_eq!(l.done_upto(), 10);
        assert_eq!(l.acked(10), Outcome::Finished);
        assert_eq!(l.acked(10), Outcome::Stale, "a second ack counts nothing");
        assert_eq!(l.done_upto(), 20);
        assert_eq!(l.acked(20), Outcome::Finished);
        assert_eq!((l.open_count(), l.done_upto()), (0, 21));
    }

    #[test]
    fn an_abandoned_key_is_counted_and_holds_the_checkpoint_back() {
        let mut l = Ledger::default();
        l.sent(10, 0, None);
        l.sent(20, 0, None);
        l.sent(30, 0, None);
        assert_eq!(l.acked(10), Outcome::Finished);
        l.abandon(20);
        assert_eq!(l.acked(20), Outcome::Stale, "an abandoned key is closed");
        assert_eq!(l.acked(30), Outcome::Finished);
        l.passed(40);
        assert_eq!(
            (l.open_count(), l.failed_count()),
            (0, 0),
            "an abandoned key is neither open nor recorded"
        );
        assert_eq!(l.done_upto(), 20, "a rerun starts at the first abandoned key");
        assert!(l.has_abandoned());
    }

    #[test]
    fn retry_then_ack() {
        let mut l = Ledger::default();
        l.sent(5, 3, None);
        assert_eq!(l.retry(5, Some("h:1".into()), "ASK 1 h:1".into()), Outcome::Retrying);
        assert_eq!(l.retry(5, None, "again".into()), Outcome::Retrying, "queued once");
        assert_eq!(
            l.acked(5),
            Outcome::Stale,
            "an ack of the old attempt does not finish a queued retry"
        );
        assert_eq!(l.done_upto(), 5, "a retrying key holds the checkpoint back");
        let (go, gave_up) = l.take_retries();
        assert!(gave_up.is_empty());
        assert_eq!(
            go,
            vec![Retry {
                record: 5,
                db: 3,
                ask: Some("h:1".into()),
                attempt: 2,
                last_err: "ASK 1 h:1".into()
            }]
        );
        assert_eq!(l.acked(5), Outcome::Finished);
        assert_eq!(l.acked(5), Outcome::Stale, "finished once");
    }

    #[test]
    fn attempts_run_out() {
        let mut l = Ledger::default();
        l.sent(1, 0, None);
        for n in 2..=MAX_ATTEMPTS {
            l.retry(1, None, "TRYAGAIN".into());
            let (go, _) = l.take_retries();
            assert_eq!(go[0].attempt, n);
        }
        l.retry(1, None, "TRYAGAIN".into());
        let (go, gave_up) = l.take_retries();
        assert!(go.is_empty());
        assert_eq!(gave_up.len(), 1);
        assert!(
            super::gave_up(&gave_up[0])
                .contains(&format!("(gave up after {MAX_ATTEMPTS} attempts)"))
        );
        assert_eq!(l.failed(1, 0), Outcome::Finished);
        assert_eq!(l.failed_keys().collect::<Vec<_>>(), vec![(1, 0)]);
    }

    #[test]
    fn failed_and_skipped_are_final_and_recorded() {
        let mut l = Ledger::default();
        l.sent(1, 0, None);
        l.sent(2, 4, None);
        l.sent(3, 0, None);
        assert_eq!(l.failed(2, 4), Outcome::Finished);
        assert_eq!(l.acked(2), Outcome::Stale, "a failed key is not loaded later");
        assert_eq!(l.skipped(3), Outcome::Finished);
        assert_eq!(l.retry(3, None, "x".into()), Outcome::Stale);
        assert_eq!((l.open_count(), l.failed_count()), (1, 1), "key 1 is still open");
        assert_eq!(l.failed_keys().collect::<Vec<_>>(), vec![(2, 4)]);
        assert_eq!(l.done_upto(), 1);
    }

    #[test]
    fn a_failure_while_retrying_drops_the_retry() {
        let mut l = Ledger::default();
        l.sent(7, 0, None);
        l.retry(7, None, "connection lost".into());
        assert_eq!(l.failed(7, 0), Outcome::Finished);
        let (go, gave_up) = l.take_retries();
        assert!(go.is_empty() && gave_up.is_empty(), "nothing is resent for a failed key");
    }

    #[test]
    fn passed_keys_move_the_mark() {
        let mut l = Ledger::default();
        l.passed(100);
        assert_eq!(l.done_upto(), 101);
        l.sent(200, 0, None);
        assert_eq!(l.done_upto(), 200);
    }
}
