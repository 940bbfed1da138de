//! One dump's walk: every key the selection keeps is estimated and handed on.

use super::model::Cost;
use crate::filter::{Filter, Verdict};
use crate::format::record::{Options, Record};
use crate::format::{Reader, Result, Scratch};
use crate::server::Server;

use super::Allocator;
use super::model::estimate;
use super::target::{Limits, Target};

/// One key's estimate, as the walk hands it on.
pub struct Row<'k> {
    pub db: u64,
    /// The name the key will have (after `--rename-*`).
    pub key: &'k [u8],
    pub expire_ms: Option<i64>,
    pub cost: Cost,
    /// The server drops it on load (its TTL has passed): not part of the totals.
    pub expired: bool,
}

/// What a walk saw besides the keys.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen {
    pub filtered: u64,
    pub keys: u64,
}

/// The target for a dump: `as_server` if given, else the server that wrote it.
pub fn target_for(
    data: &[u8],
    opts: Options,
    as_server: Option<Server>,
    alloc: Option<Allocator>,
    limits: Limits,
) -> Result<Target> {
    let server = match as_server {
        Some(s) => s,
        None => crate::convert::source_server(data, opts)?,
    };
    Ok(Target::new(server, alloc, limits))
}

/// Keys estimated together on the thread pool (their records are read in order on the
/// calling thread; the batch is what one round holds in memory).
const BATCH_KEYS: usize = 4096;
/// Bytes of records one batch holds at most.
const BATCH_BYTES: usize = 8 << 20;

/// Walks `data`, estimating every key `filter` keeps for `t` (in batches, on rayon's
/// pool), and calls `each` per key in file order (expired ones too, marked).
/// `release(from, to)` is told what the walk has finished with.
pub fn walk(
    data: &[u8],
    opts: Options,
    filter: &Filter,
    t: &Target,
    release: &dyn Fn(usize, usize),
    each: &mut dyn FnMut(Row) -> std::io::Result<()>,
) -> std::result::Result<Seen, Error> {
    use rayon::prelude::*;
    let filter = Filter { include_expired: true, ..filter.clone() };
    let mut r = Reader::new(data, opts)?;
    let mut seen = Seen::default();
    let mut behind = crate::input::Behind::new(release);
    let mut batch: Vec<(crate::format::Key, Vec<u8>)> = Vec::with_capacity(BATCH_KEYS);
    let mut batch_bytes = 0;
    let flush = |batch: &mut Vec<(crate::format::Key, Vec<u8>)>,
                 each: &mut dyn FnMut(Row) -> std::io::Result<()>|
     -> std::result::Result<(), Error> {
        let costs: Vec<crate::format::Result<Cost>> = batch
            .par_iter()
            .map_init(Scratch::default, |s, (k, name)| estimate(t, k, name.len(), s))
            .collect();
        for ((k, name), cost) in batch.iter().zip(costs) {
            let cost = cost?;
            let expired = k.expire_ms().is_some_and(|e| e < filter.now_ms);
            let db = filter.dest_db(k.db());
            each(Row { db, key: name, expire_ms: k.expire_ms(), cost, expired })
                .map_err(Error::Output)?;
        }
        batch.clear();
        Ok(())
    };
    loop {
        let rec = match r.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(e) => {
                // the keys before the damage are still estimated
                flush(&mut batch, each)?;
                return Err(e.into());
            }
        };
        let Record::Key(k) = rec else { continue };
        if let Some(sig) = crate::stop::requested() {
            return Err(Error::Stopped(sig));
        }
        if !filter.db(k.db()) {
            seen.filtered += 1;
            continue;
        }
        let name = match k.name() {
            Ok(n) => n,
            Err(e) => {
                flush(&mut batch, each)?;
                return Err(e.into());
            }
        };
        let Verdict::Keep(name) = filter.judge(&k, &name) else {
            seen.filtered += 1;
            continue;
        };
        seen.keys += 1;
        let name = name.to_vec();
        batch_bytes += k.end() - k.start();
        batch.push((k, name));
        if batch.len() >= BATCH_KEYS || batch_bytes >= BATCH_BYTES {
            flush(&mut batch, each)?;
            batch_bytes = 0;
            behind.passed(r.checked_upto());
        }
    }
    flush(&mut batch, each)?;
    behind.passed(r.checked_upto());
    Ok(seen)
}

/// Why a walk stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Format(#[from] crate::format::Error),
    #[error("writing the output: {0}")]
    Output(std::io::Error),
    #[error("{}", crate::stop::error(*.0))]
    Stopped(i32),
}
