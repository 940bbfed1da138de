//! The duplicate-key check on a thread of its own, beside a walk over the dump: the walk
//! hands it every key's name in batches, so that the pass costs about what the walk costs.
//! `load`'s survey and `info` run it.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::format::record::KeyNameCheck;
use crate::format::{Error, RStr, Result};

/// Keys per batch handed to the check.
const BATCH: usize = 4096;

/// Runs `walk` over `data` with a second thread checking that no key is there twice in
/// one database, as the reader's own check does (the walk reads with that check off).
///
/// - `walk` is given `send`, to call with every key in file order (false: the check has
///   stopped, and the walk should stop too), and an `AtomicUsize` in which it publishes how
///   far its checksum has read.
/// - `name(item)` is the key's database, its name as stored, and where that name starts.
/// - `also(item)` runs on the check's thread for each key whose name it has checked.
/// - The check's thread reads the names behind the walk, so it releases the pages behind
///   both threads (measured in the survey: when the walk released them, the check faulted
///   them in again, a tenth of its time), never beyond what the checksum has read.
///
/// Returns the walk's result, or the earlier of the walk's error and the check's (as a
/// server reports the first thing it refuses).
pub(crate) fn check_names_beside<'a, T: Send, R>(
    data: &'a [u8],
    release: &(dyn Fn(usize, usize) + Sync),
    name: fn(&T) -> &(u64, RStr<'a>, usize),
    also: &mut (dyn FnMut(&T) + Send),
    walk: impl FnOnce(&mut dyn FnMut(T) -> bool, &AtomicUsize) -> Result<R>,
) -> Result<R> {
    let crc_at = &AtomicUsize::new(0);
    let (walked, checked) = std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<T>>(8);
        let checker = sc.spawn(move || -> Result<()> {
            let mut names = KeyNameCheck::default();
            let mut behind = super::Behind::new(release);
            for batch in rx {
                for item in &batch {
                    let (db, key, _) = name(item);
                    names.check(*db, key)?;
                    also(item);
                }
                if let Some(&(_, _, at)) = batch.last().map(name) {
                    behind.passed(at.min(crc_at.load(Ordering::Acquire)));
                }
            }
            behind.passed(crc_at.load(Ordering::Acquire));
            names.finish(data)
        });
        let mut batch = Vec::with_capacity(BATCH);
        let mut send = |item: T| {
            batch.push(item);
            if batch.len() < BATCH {
                return true;
            }
            tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).is_ok()
        };
        let walked = walk(&mut send, crc_at);
        let _ = tx.send(batch);
        drop(tx);
        let checked = checker
            .join()
            .unwrap_or_else(|_| Err(Error::corrupt(0, "file", "the duplicate-key check stopped")));
        (walked, checked)
    });
    match (walked, checked) {
        (Err(a), Err(b)) => Err(if b.offset < a.offset { b } else { a }),
        (Err(a), Ok(())) => Err(a),
        (Ok(_), Err(b)) => Err(b),
        (Ok(r), Ok(())) => Ok(r),
    }
}
