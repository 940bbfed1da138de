//! Compares two real servers key by key: the one that loaded the original dump and the one
//! that loaded our output, both read back by the independent oracle (`readback.py`). Per
//! key: type, `DEBUG DIGEST-VALUE`, the full contents, expiry by `PEXPIRETIME` (`PTTL`
//! within a margin before 7.0), field TTLs by `HPEXPIRETIME`, streams by `XINFO STREAM
//! FULL` (groups, PEL, consumers, counters, IDMP; on 5.0 `XINFO STREAM/GROUPS/CONSUMERS`
//! and `XPENDING`), module values by `DUMP`; functions by `FUNCTION LIST WITHCODE`.
#![allow(dead_code)]

use serde_json::Value;

use super::readback::{self, Keyspace, Source, arr};
use super::version::{Dialect, Target};

pub struct CmpOpts {
    /// Compare every db (standalone) or only db 0 (cluster).
    pub all_dbs: bool,
    /// The copy came through RESTORE: IDMP counters and consumer times must match too.
    pub restored: bool,
    /// Compare streams' groups and counters (`false` when the two servers' versions differ).
    pub streams: bool,
}

/// A read-back value as short readable text.
pub fn show(v: &Value) -> String {
    v.to_string()
}

/// The first place two values differ, with a little context.
pub fn first_difference(x: &Value, y: &Value) -> String {
    let (a, b) = (show(x), show(y));
    let i = a.bytes().zip(b.bytes()).take_while(|(p, q)| p == q).count();
    let from = a[..i].char_indices().rev().nth(120).map_or(0, |(j, _)| j);
    let cut = |s: &str| s.get(from..).unwrap_or("").chars().take(300).collect::<String>();
    format!("...{}\n  vs\n  ...{}", cut(&a), cut(&b))
}

/// Drops the map entries named in `drop` from a flat map reply (key, value, key, value...).
fn drop_fields(r: &mut Value, drop: &[&str]) {
    if let Value::Array(v) = r {
        let mut i = 0;
        while i + 1 < v.len() {
            if v[i].as_str().is_some_and(|k| drop.contains(&k)) {
                v.drain(i..i + 2);
            } else {
                i += 2;
            }
        }
    }
}

fn map_get<'r>(r: &'r mut Value, key: &str) -> Option<&'r mut Value> {
    let v = r.as_array_mut()?;
    let i = (0..v.len().saturating_sub(1)).step_by(2).find(|&i| v[i].as_str() == Some(key))?;
    v.get_mut(i + 1)
}

/// `XINFO STREAM key FULL COUNT 0` without what no command can set.
fn stream_info(v: &Value, restored: bool) -> Value {
    let mut r = v["xinfo_full"].clone();
    assert!(!r.is_null(), "no XINFO FULL read back");
    let mut top = vec!["radix-tree-keys", "radix-tree-nodes"];
    if !restored {
        top.extend(["iids-added", "iids-duplicates"]);
    }
    drop_fields(&mut r, &top);
    if let Some(Value::Array(groups)) = map_get(&mut r, "groups") {
        for g in groups {
            if let Some(Value::Array(cons)) = map_get(g, "consumers") {
                for c in cons {
                    if !restored {
                        drop_fields(c, &["seen-time", "active-time"]);
                    }
                }
            }
        }
    }
    r
}

/// Streams on 5.0 (no `XINFO ... FULL`): groups, pending entries and consumers.
fn stream_info_5(v: &Value) -> Value {
    let mut out = Vec::new();
    let mut s = v["xinfo"].clone();
    drop_fields(&mut s, &["radix-tree-keys", "radix-tree-nodes"]);
    out.push(s);
    for (g, per) in arr(&v["groups"]).iter().zip(arr(&v["per_group"])) {
        let mut pend = per["pending"].clone();
        if let Value::Array(ps) = &mut pend {
            for p in ps {
                if let Value::Array(f) = p {
                    f.remove(2); // idle time: depends on when it is asked
                }
            }
        }
        let mut cons = per["consumers"].clone();
        if let Value::Array(cs) = &mut cons {
            for c in cs {
                drop_fields(c, &["idle", "inactive"]);
            }
        }
        out.extend([g.clone(), pend, cons]);
    }
    Value::Array(out)
}

/// A zset's contents with `-0` scores as `0` (a server that moves a small zset into a
/// listpack on load prints -0 as 0, so what it shows depends on the encoding it picks).
fn contents(rec: &Value) -> Value {
    let mut v = rec["value"].clone();
    if rec["type"] == "zset"
        && let Value::Array(pairs) = &mut v
    {
        for p in pairs {
            if p[1] == "-0" {
                p[1] = Value::from("0");
            }
        }
    }
    if rec["type"] == "stream" {
        return v["entries"].clone();
    }
    v
}

/// Differences between `a` (the original) and `b` (our copy), described, and how many keys
/// were compared. Both are read back by the oracle after `IDMP` records had their chance to
/// expire.
pub fn compare_servers(
    a: &dyn Source,
    b: &dyn Source,
    t: &Target,
    o: &CmpOpts,
) -> (usize, Vec<String>) {
    if t.idmp() {
        // each server expires old IDMP records once a second: let both have done so
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let (ka, kb) = (readback::read(a), readback::read(b));
    compare_keyspaces(&ka, &kb, t, o)
}

/// [`compare_servers`] on two read-backs.
pub fn compare_keyspaces(
    ka: &Keyspace,
    kb: &Keyspace,
    t: &Target,
    o: &CmpOpts,
) -> (usize, Vec<String>) {
    let mut diffs = Vec::new();
    let mut compared = 0;
    let valkey = t.dialect == Dialect::Valkey;
    let pexpiretime = valkey || t.stream_counters();
    let full_xinfo = valkey || (t.major, t.minor) >= (6, 0);
    let empty = std::collections::BTreeMap::new();
    let dbs: std::collections::BTreeSet<u64> =
        ka.dbs.keys().chain(kb.dbs.keys()).copied().collect();
    for db in dbs {
        if !o.all_dbs && db != 0 {
            continue;
        }
        let (da, dbb) = (ka.dbs.get(&db).unwrap_or(&empty), kb.dbs.get(&db).unwrap_or(&empty));
        if da.keys().ne(dbb.keys()) {
            // up to 10 names one side has and the other lacks
            let only = |x: &std::collections::BTreeMap<Vec<u8>, _>,
                        y: &std::collections::BTreeMap<Vec<u8>, _>|
             -> Vec<String> {
                x.keys()
                    .filter(|k| !y.contains_key(*k))
                    .take(10)
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect()
            };
            let (missing, extra) = (only(da, dbb), only(dbb, da));
            diffs.push(format!(
                "db {db}: {} keys vs {}; missing {missing:?}, extra {extra:?}",
                da.len(),
                dbb.len()
            ));
        }
        for (k, x) in da {
            let Some(y) = dbb.get(k) else { continue };
            compared += 1;
            let name = String::from_utf8_lossy(k).into_owned();
            let check = |diffs: &mut Vec<String>, what: &str, p: &Value, q: &Value| {
                if p != q {
                    diffs.push(format!(
                        "db {db} key {name:?}: {what} differs: {}",
                        first_difference(p, q)
                    ));
                }
            };
            check(&mut diffs, "type", &x["type"], &y["type"]);
            assert!(
                !x["digest"].is_null() && !y["digest"].is_null(),
                "no DEBUG DIGEST-VALUE read back"
            );
            check(&mut diffs, "digest", &x["digest"], &y["digest"]);
            check(&mut diffs, "contents", &contents(x), &contents(y));
            if pexpiretime {
                assert!(!x["pexpiretime"].is_null(), "no PEXPIRETIME read back");
                check(&mut diffs, "expiry", &x["pexpiretime"], &y["pexpiretime"]);
            } else {
                let close = match (x["pttl"].as_i64(), y["pttl"].as_i64()) {
                    (Some(p), Some(q)) => {
                        (p < 0 && p == q) || (p >= 0 && q >= 0 && (p - q).abs() < 30_000)
                    }
                    _ => false,
                };
                if !close {
                    diffs
                        .push(format!("db {db} key {name:?}: PTTL {} vs {}", x["pttl"], y["pttl"]));
                }
            }
            match x["type"].as_str().unwrap() {
                "hash" if t.field_ttl() => {
                    if !arr(&x["value"]).is_empty() {
                        assert!(!x["field_ttls"].is_null(), "no HPEXPIRETIME read back");
                    }
                    check(&mut diffs, "field TTLs", &x["field_ttls"], &y["field_ttls"]);
                }
                "stream" if !o.streams => {}
                "stream" if full_xinfo => {
                    let (p, q) = (
                        stream_info(&x["value"], o.restored),
                        stream_info(&y["value"], o.restored),
                    );
                    if p != q {
                        diffs.push(format!(
                            "db {db} stream {name:?}: XINFO FULL differs:\n  {}",
                            first_difference(&p, &q)
                        ));
                    }
                }
                "stream" => {
                    let (p, q) = (stream_info_5(&x["value"]), stream_info_5(&y["value"]));
                    if p != q {
                        diffs.push(format!(
                            "db {db} stream {name:?}: groups differ:\n  {}",
                            first_difference(&p, &q)
                        ));
                    }
                }
                "string" | "list" | "set" | "zset" | "hash" | "none" => {}
                _ => check(
                    &mut diffs,
                    "module value (DUMP)",
                    &x["value"]["dump"],
                    &y["value"]["dump"],
                ),
            }
        }
    }
    if t.functions() && ka.functions != kb.functions {
        diffs.push(format!("functions differ: {}", first_difference(&ka.functions, &kb.functions)));
    }
    (compared, diffs)
}
