//! What a load did: the counts (every key of the dumps in exactly one state), per node,
//! the failures with their errors, and the report as text and as JSON.

use std::collections::BTreeMap;

use crate::convert::Counts;
use crate::encode::text::{json_list, json_object, json_str};
use crate::format::visit::Oddities;

/// Failed keys named in the report (all are counted).
pub const FAILURES_KEPT: usize = 20;

/// Keys loaded and failed on one node.
#[derive(Debug, Default, Clone)]
pub struct NodeReport {
    pub loaded: u64,
    pub failed: u64,
}

/// What a load did.
///
/// Invariant (once the load is over): `keys = loaded + failed_keys() + skipped +
/// counts.filtered + counts.expired + counts.resumed + not_sent`.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// The target, as shown (no password).
    pub target: String,
    /// Keys in the dumps.
    pub keys: u64,
    pub loaded: u64,
    pub failed: u64,
    /// Of `failed`, function libraries.
    pub failed_functions: u64,
    /// Keys that already existed (`--on-conflict skip`).
    pub skipped: u64,
    /// Keys neither loaded, failed, skipped, filtered, expired nor done by an earlier run:
    /// the load stopped before them (an error, damage, or a signal).
    pub not_sent: u64,
    pub retries: u64,
    pub redirects: u64,
    pub reconnects: u64,
    /// Up to [`FAILURES_KEPT`] failed keys with their errors.
    pub failures: Vec<(String, String)>,
    /// Failed keys per error kind (the first word of the error).
    pub errors: BTreeMap<String, u64>,
    pub per_node: BTreeMap<String, NodeReport>,
    pub functions: u64,
    pub counts: Counts,
    /// Nodes given up, with why their keys failed.
    pub given_up: BTreeMap<String, String>,
    /// What the dumps hold that is odd but every server loads.
    pub odd: Oddities,
    pub seconds: f64,
    /// The signal that stopped the load, if one did.
    pub stopped_by: Option<i32>,
    /// What was sent, how fast, and what the limits held back.
    pub rates: Rates,
    /// What pre-flight found, as a JSON object (empty: it did not run).
    pub preflight: String,
    /// The tool that made the report (`rdbshift 0.1.0`).
    pub tool: String,
    /// When the load started and ended (Unix ms).
    pub started_ms: i64,
    pub ended_ms: i64,
    /// The options the load ran with, as a JSON object.
    pub options: String,
    /// Each dump: what identifies it and what became of its keys.
    pub dumps: Vec<DumpReport>,
    /// Per dump number of the run: its keys' outcomes.
    pub(crate) by_file: BTreeMap<u32, FileCounts>,
    /// Errors that were waited out and retried, per kind (`OOM`, `BUSY`, `LOADING` ...).
    pub backoffs: BTreeMap<String, u64>,
}

/// One dump of a load.
#[derive(Debug, Default, Clone)]
pub struct DumpReport {
    pub path: String,
    pub size: u64,
    /// CRC-64 (Redis's) of its bytes before the 8-byte trailer: its stored checksum when
    /// it has one (the whole file for RDB versions before 5).
    pub crc64: u64,
    pub keys: u64,
    pub counts: FileCounts,
}

/// What became of one dump's keys.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileCounts {
    pub loaded: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// The sender's rates over the load, and the limits it ran under.
#[derive(Debug, Default, Clone)]
pub struct Rates {
    pub limits: crate::load::throttle::Limits,
    /// Operations (commands; an `MSET` counts once per key) and bytes sent, retries included.
    pub ops: u64,
    pub bytes: u64,
    pub ops_per_second: f64,
    pub bytes_per_second: f64,
    /// Time the rate limits held writes back.
    pub throttled_seconds: f64,
    /// Times a node's window was halved for `--max-latency`.
    pub latency_backoffs: u64,
}

impl Rates {
    /// Whether any limit was set.
    pub fn limited(&self) -> bool {
        self.limits.rated() || self.limits.max_latency.is_some()
    }

    /// The limits as the options that set them.
    pub fn describe_limits(&self) -> String {
        let l = &self.limits;
        let mut v = Vec::new();
        if let Some(o) = l.ops {
            v.push(format!("--max-ops {o}"));
        }
        if let Some(b) = l.bytes {
            v.push(format!("--max-bytes {b}"));
        }
        if l.per_node {
            v.push("--per-node".into());
        }
        if let Some(m) = l.max_latency {
            v.push(format!("--max-latency {}", m.as_millis()));
        }
        v.join(" ")
    }
}

impl Report {
    /// Keys that failed (the function libraries that failed are not keys).
    pub fn failed_keys(&self) -> u64 {
        self.failed - self.failed_functions
    }

    /// One key (or function library) failed on `addr` with `e`.
    pub(super) fn fail(&mut self, addr: &str, name: String, e: String) {
        self.failed += 1;
        self.per_node.entry(addr.to_string()).or_default().failed += 1;
        let kind = if e.starts_with("timed out") {
            "timed out"
        } else {
            e.split_whitespace().next().unwrap_or("?")
        };
        *self.errors.entry(kind.to_string()).or_default() += 1;
        if self.failures.len() < FAILURES_KEPT {
            self.failures.push((name, e));
        }
    }

    /// A key of dump number `file` was acknowledged by `addr`.
    pub(super) fn key_loaded(&mut self, file: u32, addr: &str) {
        self.loaded += 1;
        self.per_node.entry(addr.to_string()).or_default().loaded += 1;
        self.by_file.entry(file).or_default().loaded += 1;
    }

    /// A key of dump number `file` was left alone: it existed on the target.
    pub(super) fn key_skipped(&mut self, file: u32) {
        self.skipped += 1;
        self.by_file.entry(file).or_default().skipped += 1;
    }

    /// A key of dump number `file`, named `name`, failed on `addr` with `e`.
    pub(super) fn key_failed(&mut self, file: u32, addr: &str, name: String, e: String) {
        self.by_file.entry(file).or_default().failed += 1;
        self.fail(addr, name, e);
    }

    /// Closes the books: `keys` keys were in the dumps; what is not accounted for was not
    /// sent.
    pub(super) fn close(&mut self, keys: u64) {
        let c = &self.counts;
        let accounted =
            self.loaded + self.failed_keys() + self.skipped + c.filtered + c.expired + c.resumed;
        self.keys = keys;
        self.not_sent = keys.saturating_sub(accounted);
    }

    /// Whether keys failed or were not sent.
    pub fn lost_keys(&self) -> bool {
        self.failed > 0 || self.not_sent > 0
    }

    /// The report as lines for a person (without the `rdbshift: ` prefix).
    pub fn lines(&self) -> Vec<String> {
        let (r, c) = (self, &self.counts);
        let mut v = vec![
            format!(
                "{} keys in the dumps: {} loaded, {} failed, {} skipped, {} filtered out, {} expired, {} done by an earlier run, {} not sent",
                r.keys,
                r.loaded,
                r.failed_keys(),
                r.skipped,
                c.filtered,
                c.expired,
                c.resumed,
                r.not_sent
            ),
            format!(
                "loaded {} keys, {} failed, {} skipped (existing), {} functions in {:.2}s ({:.0} keys/s); {} retries, {} redirects, {} reconnects",
                r.loaded,
                r.failed,
                r.skipped,
                r.functions,
                r.seconds,
                r.loaded as f64 / r.seconds.max(1e-9),
                r.retries,
                r.redirects,
                r.reconnects
            ),
        ];
        if r.rates.limited() {
            let x = &r.rates;
            v.push(format!(
                "rates: {:.0} ops/s, {:.1} MB/s; held back {:.1}s by the limits ({}), {} latency backoffs",
                x.ops_per_second,
                x.bytes_per_second / 1e6,
                x.throttled_seconds,
                x.describe_limits(),
                x.latency_backoffs
            ));
        }
        v.extend(
            self.per_node
                .iter()
                .map(|(addr, n)| format!("  {addr}: {} loaded, {} failed", n.loaded, n.failed)),
        );
        v.extend(self.errors.iter().map(|(kind, n)| format!("  {n} failed with {kind}")));
        v.extend(self.failures.iter().map(|(k, e)| format!("  failed: {k:?}: {e}")));
        v
    }

    /// The report as one JSON object (the `--report` file).
    pub fn to_json(&self) -> String {
        let (r, c) = (self, &self.counts);
        let mut o = Vec::new();
        o.extend_from_slice(b"{\"target\":");
        json_str(&mut o, &r.target);
        o.extend_from_slice(
            format!(
                ",\"keys\":{},\"not_sent\":{},\"resumed\":{},\"stopped_by_signal\":{},\"loaded\":{},\"failed\":{},\"skipped\":{},\"functions\":{},\"retries\":{},\"redirects\":{},\"reconnects\":{},\"seconds\":{:.3},\"filtered\":{},\"expired\":{}",
                r.keys,
                r.not_sent,
                c.resumed,
                r.stopped_by.is_some(),
                r.loaded, r.failed, r.skipped, r.functions, r.retries, r.redirects, r.reconnects, r.seconds, c.filtered, c.expired
            )
            .as_bytes(),
        );
        o.extend_from_slice(
            format!(
                ",\"not_carried\":{{\"streams_idmp\":{},\"field_ttls\":{},\"key_metadata\":{},\"functions\":{},\"module_aux\":{},\"stream_counters\":{},\"idmp_records\":{},\"arrays\":{},\"streams_nack\":{},\"stream_lengths\":{}}}",
                c.idmp_dropped, c.field_ttls_dropped, c.meta_dropped, c.functions_skipped, c.module_aux_skipped, c.stream_counters_dropped, c.idmp_records_dropped, c.arrays_dropped, c.streams_nack, c.stream_lengths_dropped
            )
            .as_bytes(),
        );
        let int =
            |o: &mut Vec<u8>, n: u64| o.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        let x = &r.rates;
        let opt = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v}"));
        o.extend_from_slice(
            format!(
                ",\"rates\":{{\"ops\":{},\"bytes\":{},\"ops_per_second\":{:.1},\"bytes_per_second\":{:.1},\"throttled_seconds\":{:.3},\"latency_backoffs\":{},\"limits\":{{\"max_ops\":{},\"max_bytes\":{},\"per_node\":{},\"max_latency_ms\":{}}}}}",
                x.ops,
                x.bytes,
                x.ops_per_second,
                x.bytes_per_second,
                x.throttled_seconds,
                x.latency_backoffs,
                opt(x.limits.ops),
                opt(x.limits.bytes),
                x.limits.per_node,
                x.limits.max_latency.map_or("null".to_string(), |d| d.as_millis().to_string())
            )
            .as_bytes(),
        );
        o.extend_from_slice(b",\"tool\":");
        json_str(&mut o, &r.tool);
        o.extend_from_slice(b",\"started\":");
        json_str(&mut o, &crate::encode::text::date(r.started_ms));
        o.extend_from_slice(b",\"ended\":");
        json_str(&mut o, &crate::encode::text::date(r.ended_ms));
        o.extend_from_slice(b",\"options\":");
        o.extend_from_slice(if r.options.is_empty() { b"{}" } else { r.options.as_bytes() });
        o.extend_from_slice(b",\"dumps\":");
        json_list(&mut o, &r.dumps, |o, d| {
            o.extend_from_slice(b"{\"path\":");
            json_str(o, &d.path);
            o.extend_from_slice(
                format!(
                    ",\"size\":{},\"crc64\":\"{:016x}\",\"keys\":{},\"loaded\":{},\"failed\":{},\"skipped\":{}}}",
                    d.size, d.crc64, d.keys, d.counts.loaded, d.counts.failed, d.counts.skipped
                )
                .as_bytes(),
            );
        });
        o.extend_from_slice(b",\"backoffs\":");
        json_object(&mut o, &r.backoffs, |o, n| int(o, *n));
        o.extend_from_slice(b",\"preflight\":");
        o.extend_from_slice(if r.preflight.is_empty() { b"null" } else { r.preflight.as_bytes() });
        o.extend_from_slice(b",\"per_node\":");
        json_object(&mut o, &r.per_node, |o, n| {
            o.extend_from_slice(
                format!("{{\"loaded\":{},\"failed\":{}}}", n.loaded, n.failed).as_bytes(),
            )
        });
        o.extend_from_slice(b",\"odd_but_loadable\":");
        json_object(&mut o, r.odd.iter().map(|(k, n)| (k.name(), n)), int);
        o.extend_from_slice(b",\"given_up\":");
        json_object(&mut o, &r.given_up, |o, why| json_str(o, why));
        o.extend_from_slice(b",\"errors\":");
        json_object(&mut o, &r.errors, |o, n| int(o, *n));
        o.extend_from_slice(b",\"failures\":");
        json_list(&mut o, &r.failures, |o, (k, e)| {
            o.extend_from_slice(b"{\"key\":");
            json_str(o, k);
            o.extend_from_slice(b",\"error\":");
            json_str(o, e);
            o.push(b'}');
        });
        o.extend_from_slice(b"}\n");
        String::from_utf8(o).expect("JSON text is UTF-8")
    }
}
