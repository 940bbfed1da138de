//! A quick estimate of what a whole dump will take in memory, from a sample of its keys:
//! what `load`'s pre-flight compares with each node's free memory.

use crate::filter::{Filter, Verdict};
use crate::format::record::Record;
use crate::format::{Header, Reader, Scratch};

use super::model::estimate_by_header;
use super::target::Target;

/// Sampled keys: how many, their records' bytes in the dump, and what they take on the
/// target (allocated, as `used_memory` counts it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub keys: u64,
    pub record_bytes: u64,
    pub allocated: u64,
}

impl Sample {
    pub fn add(&mut self, o: &Sample) {
        self.keys += o.keys;
        self.record_bytes += o.record_bytes;
        self.allocated += o.allocated;
    }

    /// What `record_bytes` bytes of records like the sampled ones take, keys and values
    /// (`None` before anything was sampled).
    pub fn scale(&self, record_bytes: u64) -> Option<u64> {
        (self.record_bytes > 0).then(|| {
            (record_bytes as f64 * self.allocated as f64 / self.record_bytes as f64).round() as u64
        })
    }
}

/// Spans sampled per dump, and keys read from each when all are picked: the budget,
/// `SPANS * KEYS_PER_SPAN` keys, is shared by the spans picked, so that a dump of a few
/// spans is read whole up to it (a small dump's first keys are no sample of it: their
/// order is the server's hash order, random from one run of it to the next).
pub const SPANS: usize = 64;
pub const KEYS_PER_SPAN: usize = 128;

/// Samples the keys `filter` keeps from up to [`SPANS`] of `spans` (start, end, db of a run
/// of records, as a load's survey cuts the dump), the ones at evenly spaced offsets of the
/// file, keys from the start of each (their share of the budget, see [`SPANS`]), and
/// estimates them for `t`. A key that cannot be read here
/// (the load itself will say why) is left out of the sample. `release(from, to)` is told
/// the pages each span read (whole pages), so that the sample leaves no file pages behind.
pub fn sample(
    data: &[u8],
    header: Header,
    spans: &[(usize, usize, Option<u64>)],
    filter: &Filter,
    t: &Target,
    release: &dyn Fn(usize, usize),
) -> Sample {
    let mut s = Sample::default();
    if spans.is_empty() {
        return s;
    }
    let templates = crate::format::record::templates(data).unwrap_or_default();
    // spans at evenly spaced offsets of the file, not every n-th span: a load's cuts hold
    // equal work, not equal bytes (a region of big compressed values is cut finer), and
    // the sample is scaled by file bytes
    let (lo, hi) = (spans[0].0, spans[spans.len() - 1].1);
    let mut picked: Vec<usize> = Vec::with_capacity(SPANS);
    for i in 0..SPANS {
        let at = lo + ((hi.saturating_sub(lo)) as u128 * i as u128 / SPANS as u128) as usize;
        let span = spans.partition_point(|s| s.1 <= at).min(spans.len() - 1);
        if picked.last() != Some(&span) {
            picked.push(span);
        }
    }
    let per_span = SPANS * KEYS_PER_SPAN / picked.len();
    let mut scratch = Scratch::default();
    for &(start, end, db) in picked.iter().map(|&i| &spans[i]) {
        let mut r =
            Reader::resume(data, header, start, db.unwrap_or(0)).with_templates(templates.clone());
        let mut n = 0;
        while n < per_span && r.pos() < end {
            let Ok(Some(rec)) = r.next_record() else { break };
            let Record::Key(k) = rec else { continue };
            n += 1;
            let Ok(name) = k.name() else { continue };
            if !filter.db(k.db()) || filter.expired(k.expire_ms()) {
                continue;
            }
            let Verdict::Keep(name) = filter.judge(&k, &name) else { continue };
            if let Ok(c) = estimate_by_header(t, &k, name.len(), &mut scratch) {
                s.keys += 1;
                s.record_bytes += (k.end() - k.start()) as u64;
                s.allocated += c.allocated;
            }
        }
        const PAGE: usize = 4096;
        release(start / PAGE * PAGE, r.pos().div_ceil(PAGE).saturating_mul(PAGE).min(data.len()));
    }
    s
}
