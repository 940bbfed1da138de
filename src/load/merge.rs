//! `report merge`: the per-shard load reports of one migration summed into one report.
//!
//! Invariants: every count is the sum of the shards' counts; a shard whose report cannot be
//! read, that failed or left keys unsent, that was stopped, or that is missing (fewer
//! reports than expected) makes the migration failed, and is named; the same dump (by size
//! and CRC-64) in two reports is named too.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

/// The counts summed across shards (the report's top-level numbers).
const SUMMED: [&str; 15] = [
    "keys",
    "loaded",
    "failed",
    "skipped",
    "not_sent",
    "resumed",
    "filtered",
    "expired",
    "functions",
    "retries",
    "redirects",
    "reconnects",
    "seconds_total",
    "ops",
    "bytes",
];

/// The migration's report, and whether every shard loaded completely.
pub struct Merged {
    /// One JSON object.
    pub json: String,
    /// For a person, a line each.
    pub lines: Vec<String>,
    pub ok: bool,
}

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// Adds the numbers of `from` into `into`, key by key (nested objects alike).
fn add_counts(into: &mut Map<String, Value>, from: &Value) {
    let Some(from) = from.as_object() else { return };
    for (k, v) in from {
        match v {
            Value::Number(n) => {
                let sum =
                    into.get(k).and_then(Value::as_f64).unwrap_or(0.0) + n.as_f64().unwrap_or(0.0);
                into.insert(
                    k.clone(),
                    if n.is_u64() && sum.fract() == 0.0 { json!(sum as u64) } else { json!(sum) },
                );
            }
            Value::Object(_) => {
                let e = into.entry(k.clone()).or_insert_with(|| json!({}));
                if let Some(m) = e.as_object_mut() {
                    add_counts(m, v);
                }
            }
            _ => {}
        }
    }
}

/// Merges the reports read from `inputs` (a path and its bytes, or why they could not be
/// read). `expect`: how many shards the migration has.
pub fn merge(inputs: Vec<(PathBuf, std::io::Result<Vec<u8>>)>, expect: Option<usize>) -> Merged {
    let mut total = Map::new();
    for k in SUMMED {
        total.insert(k.into(), json!(0));
    }
    let (mut per_node, mut errors, mut backoffs, mut not_carried) =
        (Map::new(), Map::new(), Map::new(), Map::new());
    let (mut shards, mut dumps, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    let (mut problems, mut lines) = (Vec::new(), Vec::new());
    let mut seen: BTreeMap<(u64, String), String> = BTreeMap::new();
    let (mut first, mut last): (Option<String>, Option<String>) = (None, None);
    let given = inputs.len();
    for (path, bytes) in inputs {
        let name = path.display().to_string();
        let r: Value = match bytes.map_err(|e| e.to_string()).and_then(|b| {
            serde_json::from_slice::<Value>(&b).map_err(|e| format!("not a load report: {e}"))
        }) {
            Ok(v) if v.get("merged_reports").is_some() => {
                problems.push(format!(
                    "{name}: a merged report, not a shard's: merge the shards' reports themselves"
                ));
                continue;
            }
            Ok(v) if v.get("loaded").is_some() && v.get("keys").is_some() => v,
            Ok(_) => {
                problems.push(format!("{name}: not a load report (no keys/loaded counts)"));
                continue;
            }
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        for k in SUMMED {
            let v = match k {
                "seconds_total" => r.get("seconds").cloned().unwrap_or(json!(0)),
                "ops" | "bytes" => {
                    r.get("rates").and_then(|x| x.get(k)).cloned().unwrap_or(json!(0))
                }
                _ => r.get(k).cloned().unwrap_or(json!(0)),
            };
            add_counts(&mut total, &json!({ k: v }));
        }
        add_counts(&mut per_node, r.get("per_node").unwrap_or(&Value::Null));
        add_counts(&mut errors, r.get("errors").unwrap_or(&Value::Null));
        add_counts(&mut backoffs, r.get("backoffs").unwrap_or(&Value::Null));
        add_counts(&mut not_carried, r.get("not_carried").unwrap_or(&Value::Null));
        let stopped = r.get("stopped_by_signal").and_then(Value::as_bool).unwrap_or(false);
        let (failed, not_sent) = (num(&r, "failed"), num(&r, "not_sent"));
        let ok = failed == 0 && not_sent == 0 && !stopped;
        if !ok {
            problems.push(format!(
                "{name}: {failed} failed, {not_sent} not sent{}",
                if stopped { ", stopped by a signal" } else { "" }
            ));
        }
        // the earliest start and the latest end (UTC dates sort as text)
        let when = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        first = first.into_iter().chain(when("started")).min();
        last = last.into_iter().chain(when("ended")).max();
        for d in r.get("dumps").and_then(Value::as_array).into_iter().flatten() {
            let id =
                (num(d, "size"), d.get("crc64").and_then(Value::as_str).unwrap_or("").to_string());
            if let Some(other) = seen.insert(id.clone(), name.clone()) {
                problems.push(format!(
                    "the same dump ({} bytes, CRC-64 {}) is in {other} and {name}: loaded twice",
                    id.0, id.1
                ));
            }
            let mut d = d.clone();
            if let Some(m) = d.as_object_mut() {
                m.insert("report".into(), json!(name));
            }
            dumps.push(d);
        }
        for f in r.get("failures").and_then(Value::as_array).into_iter().flatten() {
            if failures.len() < super::report::FAILURES_KEPT {
                failures.push(f.clone());
            }
        }
        shards.push(json!({
            "report": name,
            "target": r.get("target").cloned().unwrap_or(Value::Null),
            "keys": num(&r, "keys"),
            "loaded": num(&r, "loaded"),
            "failed": failed,
            "not_sent": not_sent,
            "stopped_by_signal": stopped,
            "ok": ok,
        }));
    }
    if let Some(n) = expect {
        if given < n {
            problems.push(format!("{given} report(s) for {n} shards: {} missing", n - given));
        } else if given > n {
            problems.push(format!("{given} report(s) for {n} shards: {} too many", given - n));
        }
    }
    let ok = problems.is_empty() && !shards.is_empty();
    if shards.is_empty() && problems.is_empty() {
        problems.push("no reports".into());
    }
    let t = |k: &str| total.get(k).and_then(Value::as_u64).unwrap_or(0);
    lines.push(format!(
        "{} shard report(s), {} dump(s): {} keys: {} loaded, {} failed, {} skipped, {} filtered out, {} expired, {} done by an earlier run, {} not sent",
        shards.len(),
        dumps.len(),
        t("keys"),
        t("loaded"),
        t("failed"),
        t("skipped"),
        t("filtered"),
        t("expired"),
        t("resumed"),
        t("not_sent")
    ));
    for p in &problems {
        lines.push(format!("failed: {p}"));
    }
    lines.push(if ok {
        "the migration is complete".into()
    } else {
        "the migration is NOT complete".into()
    });
    let mut out = Map::new();
    out.insert("merged_reports".into(), json!(shards.len()));
    out.insert("complete".into(), json!(ok));
    out.insert("started".into(), json!(first));
    out.insert("ended".into(), json!(last));
    for (k, v) in total {
        out.insert(k, v);
    }
    out.insert("per_node".into(), Value::Object(per_node));
    out.insert("errors".into(), Value::Object(errors));
    out.insert("backoffs".into(), Value::Object(backoffs));
    out.insert("not_carried".into(), Value::Object(not_carried));
    out.insert("shards".into(), Value::Array(shards));
    out.insert("dumps".into(), Value::Array(dumps));
    out.insert("failures".into(), Value::Array(failures));
    out.insert("problems".into(), json!(problems));
    let json = serde_json::to_string_pretty(&Value::Object(out)).expect("JSON") + "\n";
    Merged { json, lines, ok }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(keys: u64, loaded: u64, failed: u64, crc: &str, node: &str) -> Vec<u8> {
        json!({
            "target": "redis://h:1", "keys": keys, "loaded": loaded, "failed": failed,
            "skipped": 0, "not_sent": keys - loaded - failed, "resumed": 0, "filtered": 0,
            "expired": 0, "functions": 1, "retries": 2, "redirects": 0, "reconnects": 0,
            "seconds": 1.5, "stopped_by_signal": false,
            "started": "2026-12-05T10:00:00.000Z", "ended": "2026-12-05T10:01:00.000Z",
            "per_node": { node: { "loaded": loaded, "failed": failed } },
            "errors": {}, "backoffs": { "OOM": 1 },
            "not_carried": { "field_ttls": 2 },
            "rates": { "ops": loaded, "bytes": 10 },
            "dumps": [ { "path": "x.rdb", "size": 100, "crc64": crc, "keys": keys } ],
            "failures": []
        })
        .to_string()
        .into_bytes()
    }

    fn v(m: &Merged) -> Value {
        serde_json::from_str(&m.json).unwrap()
    }

    #[test]
    fn shards_sum_up() {
        let m = merge(
            vec![
                ("a.json".into(), Ok(rep(10, 10, 0, "01", "n1"))),
                ("b.json".into(), Ok(rep(5, 5, 0, "02", "n2"))),
                ("c.json".into(), Ok(rep(7, 7, 0, "03", "n1"))),
            ],
            Some(3),
        );
        assert!(m.ok, "{:?}", m.lines);
        let j = v(&m);
        assert_eq!((j["keys"].as_u64(), j["loaded"].as_u64()), (Some(22), Some(22)));
        assert_eq!(j["per_node"]["n1"]["loaded"].as_u64(), Some(17));
        assert_eq!(j["backoffs"]["OOM"].as_u64(), Some(3));
        assert_eq!(j["not_carried"]["field_ttls"].as_u64(), Some(6));
        assert_eq!(j["functions"].as_u64(), Some(3));
        assert_eq!(j["seconds_total"].as_f64(), Some(4.5));
        assert_eq!(j["dumps"].as_array().unwrap().len(), 3);
        assert_eq!(j["dumps"][1]["report"], "b.json");
        assert_eq!(
            (j["started"].as_str(), j["ended"].as_str()),
            (Some("2026-12-05T10:00:00.000Z"), Some("2026-12-05T10:01:00.000Z"))
        );
    }

    #[test]
    fn a_failed_missing_unreadable_or_repeated_shard_fails_the_migration() {
        let failed = merge(
            vec![
                ("a.json".into(), Ok(rep(10, 10, 0, "01", "n1"))),
                ("b.json".into(), Ok(rep(5, 3, 2, "02", "n2"))),
            ],
            None,
        );
        assert!(!failed.ok && failed.lines.iter().any(|l| l.contains("b.json: 2 failed")));
        let missing = merge(vec![("a.json".into(), Ok(rep(10, 10, 0, "01", "n1")))], Some(2));
        assert!(
            !missing.ok && missing.lines.iter().any(|l| l.contains("1 missing")),
            "{:?}",
            missing.lines
        );
        let bad = merge(
            vec![
                ("a.json".into(), Ok(rep(10, 10, 0, "01", "n1"))),
                ("b.json".into(), Ok(b"{\"nope\":1}".to_vec())),
                ("c.json".into(), Err(std::io::Error::other("No such file"))),
            ],
            None,
        );
        assert!(!bad.ok);
        assert!(bad.lines.iter().any(|l| l.contains("b.json: not a load report")));
        assert!(bad.lines.iter().any(|l| l.contains("c.json: No such file")));
        let twice = merge(
            vec![
                ("a.json".into(), Ok(rep(10, 10, 0, "01", "n1"))),
                ("b.json".into(), Ok(rep(10, 10, 0, "01", "n1"))),
            ],
            None,
        );
        assert!(!twice.ok && twice.lines.iter().any(|l| l.contains("loaded twice")));
        assert!(!merge(vec![], None).ok, "no reports prove nothing");
        let merged = merge(vec![("a.json".into(), Ok(rep(10, 10, 0, "01", "n1")))], None);
        let again = merge(vec![("m.json".into(), Ok(merged.json.into_bytes()))], None);
        assert!(!again.ok && again.lines.iter().any(|l| l.contains("a merged report")));
        let extra = merge(
            vec![
                ("a.json".into(), Ok(rep(10, 10, 0, "01", "n1"))),
                ("b.json".into(), Ok(rep(5, 5, 0, "02", "n2"))),
            ],
            Some(1),
        );
        assert!(!extra.ok && extra.lines.iter().any(|l| l.contains("1 too many")));
    }
}
