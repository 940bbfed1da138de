//! `rdbshift memory`'s outputs: per-key or per-prefix rows (CSV, JSON lines), a terminal
//! summary, and the one-file HTML report.

use std::io::Write;

use serde_json::{Value, json};

use super::scan::Row;
use super::tally::{EXPIRY_BUCKETS, SIZE_BUCKETS, Sum, Tally};
use crate::encode::text::{json_bytes_field, json_str, size};

/// The per-key CSV columns (stable: outside tools read them by name).
pub const KEY_COLUMNS: &str =
    "db,key,type,encoding,elements,memory_usage,allocated,expires_at_ms,key_base64,file";
/// The per-prefix CSV columns.
pub const PREFIX_COLUMNS: &str = "prefix,depth,keys,elements,memory_usage,allocated";

/// One key as a JSON line.
pub fn key_jsonl(out: &mut Vec<u8>, r: &Row, file: &str) {
    out.extend_from_slice(format!("{{\"db\":{},", r.db).as_bytes());
    json_bytes_field(out, "key", r.key);
    out.extend_from_slice(b",\"type\":");
    json_str(out, r.cost.kind.name());
    out.extend_from_slice(b",\"encoding\":");
    json_str(out, r.cost.encoding.name());
    let exp = r.expire_ms.map_or("null".to_string(), |e| e.to_string());
    out.extend_from_slice(
        format!(
            ",\"elements\":{},\"memory_usage\":{},\"allocated\":{},\"expires_at_ms\":{exp},\"file\":",
            r.cost.elements, r.cost.reported, r.cost.allocated
        )
        .as_bytes(),
    );
    json_str(out, file);
    out.extend_from_slice(b"}\n");
}

/// One key as a CSV line ([`KEY_COLUMNS`]). A name that is not UTF-8 is shown lossily and
/// given exactly in `key_base64`.
pub fn key_csv(out: &mut Vec<u8>, r: &Row, file: &str) {
    out.extend_from_slice(format!("{},", r.db).as_bytes());
    let (text, b64) = match std::str::from_utf8(r.key) {
        Ok(s) => (s.to_string(), String::new()),
        Err(_) => {
            let mut b = Vec::new();
            crate::encode::text::base64(&mut b, r.key);
            (String::from_utf8_lossy(r.key).into_owned(), String::from_utf8(b).unwrap_or_default())
        }
    };
    csv_field(out, &text);
    let exp = r.expire_ms.map_or(String::new(), |e| e.to_string());
    out.extend_from_slice(
        format!(
            ",{},{},{},{},{},{exp},{b64},",
            r.cost.kind.name(),
            r.cost.encoding.name(),
            r.cost.elements,
            r.cost.reported,
            r.cost.allocated
        )
        .as_bytes(),
    );
    csv_field(out, file);
    out.push(b'\n');
}

fn csv_field(out: &mut Vec<u8>, s: &str) {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// The prefixes as CSV ([`PREFIX_COLUMNS`]) or JSON lines.
pub fn prefix_rows(out: &mut dyn Write, t: &Tally, csv: bool) -> std::io::Result<()> {
    if csv {
        writeln!(out, "{PREFIX_COLUMNS}")?;
    }
    for (p, s) in t.prefixes() {
        let name = String::from_utf8_lossy(p);
        let depth = t.depth_of(p);
        let mut line = Vec::new();
        if csv {
            csv_field(&mut line, &name);
            line.extend_from_slice(
                format!(",{depth},{},{},{},{}\n", s.keys, s.elements, s.reported, s.allocated)
                    .as_bytes(),
            );
        } else {
            line.extend_from_slice(b"{");
            json_bytes_field(&mut line, "prefix", p);
            line.extend_from_slice(
                format!(
                    ",\"depth\":{depth},\"keys\":{},\"elements\":{},\"memory_usage\":{},\"allocated\":{}}}\n",
                    s.keys, s.elements, s.reported, s.allocated
                )
                .as_bytes(),
            );
        }
        out.write_all(&line)?;
    }
    Ok(())
}

/// What the report says about the run as a whole.
pub struct Summary<'a> {
    pub files: &'a [String],
    /// One line per target (`Redis 7.0, jemalloc ...`).
    pub targets: &'a [String],
    /// What loading adds besides the keys (keyspace and expires tables).
    pub overhead: u64,
    /// Files that could not be read to their end (damage, a stop): the figures cover the
    /// keys before it.
    pub incomplete: &'a [String],
}

impl Summary<'_> {
    fn dataset(&self, t: &Tally) -> u64 {
        t.total.allocated + self.overhead
    }
}

/// The terminal summary.
pub fn text(out: &mut dyn Write, t: &Tally, s: &Summary) -> std::io::Result<()> {
    writeln!(out, "Memory estimate for {}", s.targets.join("; "))?;
    writeln!(out, "  files: {}", s.files.join(", "))?;
    if !s.incomplete.is_empty() {
        writeln!(
            out,
            "  INCOMPLETE: {} could not be read to the end; the figures cover the keys before the damage",
            s.incomplete.join(", ")
        )?;
    }
    writeln!(out)?;
    writeln!(out, "  keys                               {:>14}", t.total.keys)?;
    writeln!(
        out,
        "  sum of MEMORY USAGE                {:>14}  ({})",
        t.total.reported,
        size(t.total.reported)
    )?;
    writeln!(
        out,
        "  used_memory growth on load         {:>14}  ({}; keys {} + keyspace tables {})",
        s.dataset(t),
        size(s.dataset(t)),
        size(t.total.allocated),
        size(s.overhead)
    )?;
    if t.expired.keys > 0 {
        writeln!(
            out,
            "  already expired (dropped on load)  {:>14}  keys, {} not counted",
            t.expired.keys,
            size(t.expired.reported)
        )?;
    }
    if t.floors > 0 {
        writeln!(
            out,
            "  module values and unknown types    {:>14}  keys, counted at their serialized size (a floor)",
            t.floors
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "  {:<10} {:<11} {:>12} {:>14} {:>10} {:>7}",
        "type", "encoding", "keys", "bytes", "", "share"
    )?;
    for ((k, e), sum) in &t.by_encoding {
        writeln!(
            out,
            "  {:<10} {:<11} {:>12} {:>14} {:>10} {:>6.1}%",
            k.name(),
            e.name(),
            sum.keys,
            sum.reported,
            size(sum.reported),
            pct(sum.reported, t.total.reported)
        )?;
    }
    if t.by_db.len() > 1 {
        writeln!(out)?;
        for (db, sum) in &t.by_db {
            writeln!(out, "  db {db:<6} {:>12} keys {:>10}", sum.keys, size(sum.reported))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "  expiry")?;
    for (i, name) in EXPIRY_BUCKETS.iter().enumerate() {
        let b = &t.expiry[i];
        if b.keys > 0 {
            writeln!(out, "    {name:<10} {:>12} keys {:>10}", b.keys, size(b.reported))?;
        }
    }
    let mut pre: Vec<(&[u8], Sum)> = t.prefixes();
    if !pre.is_empty() {
        pre.sort_by(|a, b| b.1.reported.cmp(&a.1.reported).then(a.0.cmp(b.0)));
        writeln!(out)?;
        writeln!(out, "  biggest prefixes")?;
        for (p, sum) in pre.iter().take(15) {
            writeln!(
                out,
                "    {:<40} {:>12} keys {:>10} {:>6.1}%",
                crate::encode::text::quote(p),
                sum.keys,
                size(sum.reported),
                pct(sum.reported, t.total.reported)
            )?;
        }
        if t.prefixes_dropped > 0 {
            writeln!(
                out,
                "    ({} small prefixes dropped to stay within the budget; figures may be short by up to {})",
                t.prefixes_dropped,
                size(t.prefix_error)
            )?;
        }
    }
    let top = t.top();
    if !top.is_empty() {
        writeln!(out)?;
        writeln!(out, "  biggest keys")?;
        for b in top.iter().take(15) {
            writeln!(
                out,
                "    {:<40} {:<6} {:<10} {:>10} elements {:>10}",
                crate::encode::text::quote(&b.key),
                b.kind.name(),
                b.encoding.name(),
                b.elements,
                size(b.reported)
            )?;
        }
    }
    Ok(())
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 }
}

fn sum_json(s: &Sum) -> Value {
    json!({"keys": s.keys, "elements": s.elements, "memory_usage": s.reported, "allocated": s.allocated})
}

/// The whole report as one JSON document (what the HTML page shows).
pub fn document(t: &Tally, s: &Summary, tool: &str, generated: &str) -> Value {
    let by_type: Vec<Value> = t
        .by_encoding
        .iter()
        .map(|((k, e), sum)| {
            json!({"type": k.name(), "encoding": e.name(), "keys": sum.keys,
                   "elements": sum.elements, "memory_usage": sum.reported, "allocated": sum.allocated})
        })
        .collect();
    let by_db: Vec<Value> = t
        .by_db
        .iter()
        .map(|(db, sum)| json!({"db": db, "keys": sum.keys, "memory_usage": sum.reported}))
        .collect();
    let mut histograms = serde_json::Map::new();
    for (k, buckets) in &t.sizes {
        let v: Vec<Value> = buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| b.keys > 0)
            .map(|(i, b)| {
                json!({"upto": SIZE_BUCKETS.get(i), "keys": b.keys, "memory_usage": b.reported})
            })
            .collect();
        histograms.insert(k.name().to_string(), Value::Array(v));
    }
    let expiry: Vec<Value> = EXPIRY_BUCKETS
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"bucket": n, "keys": t.expiry[i].keys, "memory_usage": t.expiry[i].reported}))
        .collect();
    let top: Vec<Value> = t
        .top()
        .iter()
        .map(|b| {
            json!({"db": b.db, "key": String::from_utf8_lossy(&b.key), "type": b.kind.name(),
                   "encoding": b.encoding.name(), "elements": b.elements, "memory_usage": b.reported})
        })
        .collect();
    json!({
        "tool": tool,
        "files": s.files,
        "target": {"server": s.targets.join("; "),
                   "note": "MEMORY USAGE key SAMPLES 0 as the server reports it right after loading the dump"},
        "generated": generated,
        "incomplete": s.incomplete,
        "totals": {"keys": t.total.keys, "memory_usage": t.total.reported,
                   "dataset": s.dataset(t), "overhead": s.overhead,
                   "allocated": t.total.allocated,
                   "expired_skipped": t.expired.keys, "floors": t.floors,
                   "prefixes_dropped": t.prefixes_dropped, "prefix_error": t.prefix_error},
        "by_type": by_type,
        "by_db": by_db,
        "histograms": histograms,
        "expiry": expiry,
        "top": top,
        "prefixes": tree(t),
        "unprefixed": sum_json(&t.unprefixed),
    })
}

/// The prefix tree, nested by depth; each level's remainder is its parent's keys that no
/// kept child holds.
fn tree(t: &Tally) -> Value {
    let all = t.prefixes();
    // children of a prefix: the kept prefixes one level deeper that start with it
    fn build(all: &[(&[u8], Sum)], t: &Tally, parent: &[u8], depth: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let start = all.partition_point(|(p, _)| *p < parent);
        for (p, s) in &all[start..] {
            if !p.starts_with(parent) {
                break;
            }
            if t.depth_of(p) != depth + 1 {
                continue;
            }
            let children = build(all, t, p, depth + 1);
            out.push(json!({"name": String::from_utf8_lossy(p), "keys": s.keys,
                            "memory_usage": s.reported, "children": children}));
        }
        out
    }
    let children = build(&all, t, b"", 0);
    json!({"name": "", "keys": t.total.keys, "memory_usage": t.total.reported, "children": children})
}

/// The HTML page: the template with the document inside it.
pub fn html(doc: &Value) -> String {
    let data = doc.to_string().replace('<', "\\u003c");
    include_str!("report.html").replacen("__RDBSHIFT_DATA__", &data, 1)
}
