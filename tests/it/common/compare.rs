//! Compares what `rdbshift inspect` lists with what a real server holds, key by key; the
//! server is read back by the independent oracle (`readback.py`, redis-py).
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;

use super::readback::{self, Source, arr, map, text};

/// A read-back byte string's bytes.
fn rb(v: &Value) -> Vec<u8> {
    readback::b(v)
}

/// Bytes from our JSON encoding: a string, or {"base64": ...}.
pub fn jbytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) => b64decode(o["base64"].as_str().expect("base64")),
        other => panic!("not a byte string: {other}"),
    }
}

pub fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64"),
        }
    };
    let mut out = Vec::new();
    for ch in s.as_bytes().chunks(4) {
        let pad = ch.iter().filter(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in ch {
            n = n << 6 | if c == b'=' { 0 } else { val(c) };
        }
        let b = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&b[..3 - pad]);
    }
    out
}

/// Score bits for comparison; -0 counts as 0 (a server that moves a small zset into a
/// listpack on load writes -0 as "0", so what it shows depends on the encoding it picks).
fn score_bits(x: f64) -> u64 {
    if x == 0.0 { 0 } else { x.to_bits() }
}

fn jscore(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => match s.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            _ => f64::NAN,
        },
        _ => panic!("bad score {v}"),
    }
}

fn rscore(s: &str) -> f64 {
    match s {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or_else(|_| panic!("bad score from the server: {s:?}")),
    }
}

/// What the server has for TTLs: `PEXPIRETIME` (7.0+), `HPEXPIRETIME` (7.4+, Valkey 9).
pub struct Caps {
    pub pexpiretime: bool,
    pub hpexpiretime: bool,
}

/// Checks one key of our JSON against the server's read-back record of it.
pub fn check_key(rec: &Value, caps: &Caps, j: &Value) -> Result<(), String> {
    let ty = j["type"].as_str().unwrap();
    let v = &j["value"];
    let stype = rec["type"].as_str().unwrap();
    if stype != ty {
        return Err(format!("type {ty} but the server says {stype}"));
    }
    // expiry
    if caps.pexpiretime {
        let e = rec["pexpiretime"].as_i64().expect("PEXPIRETIME read back");
        let ours = j["expire_ms"].as_i64().unwrap_or(-1);
        if e != ours {
            return Err(format!("expire {ours} but the server has {e}"));
        }
    } else {
        let t = rec["pttl"].as_i64().expect("PTTL read back");
        if (t >= 0) == j["expire_ms"].is_null() {
            return Err(format!("expiry presence differs: PTTL {t}, ours {}", j["expire_ms"]));
        }
    }
    let same =
        |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| -> Result<(), String> {
            let (x, y) = (format!("{a:?}"), format!("{b:?}"));
            if x == y {
                Ok(())
            } else {
                Err(format!(
                    "{what} differs:\n ours   {}\n server {}",
                    &x[..x.len().min(400)],
                    &y[..y.len().min(400)]
                ))
            }
        };
    let sv = &rec["value"];
    match ty {
        "string" => same("value", &jbytes(v), &rb(sv)),
        "list" => {
            let ours: Vec<Vec<u8>> = v.as_array().unwrap().iter().map(jbytes).collect();
            let theirs: Vec<Vec<u8>> = arr(sv).iter().map(rb).collect();
            same("list", &ours, &theirs)
        }
        "set" => {
            let mut ours: Vec<Vec<u8>> = v.as_array().unwrap().iter().map(jbytes).collect();
            let mut theirs: Vec<Vec<u8>> = arr(sv).iter().map(rb).collect();
            ours.sort();
            theirs.sort();
            same("set", &ours, &theirs)
        }
        "zset" => {
            // ours is in file order (a skiplist is saved from its tail), so compare sorted
            let mut ours: Vec<(Vec<u8>, u64)> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (jbytes(&p[0]), score_bits(jscore(&p[1]))))
                .collect();
            let mut theirs: Vec<(Vec<u8>, u64)> =
                arr(sv).iter().map(|p| (rb(&p[0]), score_bits(rscore(&text(&p[1]))))).collect();
            ours.sort();
            theirs.sort();
            same("zset", &ours, &theirs)
        }
        "hash" => {
            let mut ours: Vec<(Vec<u8>, Vec<u8>)> =
                v.as_array().unwrap().iter().map(|p| (jbytes(&p[0]), jbytes(&p[1]))).collect();
            let mut theirs: Vec<(Vec<u8>, Vec<u8>)> =
                arr(sv).iter().map(|p| (rb(&p[0]), rb(&p[1]))).collect();
            ours.sort();
            theirs.sort();
            same("hash", &ours, &theirs)?;
            if caps.hpexpiretime {
                // the read-back's field TTLs are in the order of its (sorted) fields
                let ttls: BTreeMap<Vec<u8>, i64> = arr(sv)
                    .iter()
                    .zip(arr(&rec["field_ttls"]))
                    .map(|(p, t)| (rb(&p[0]), t.as_i64().expect("HPEXPIRETIME read back")))
                    .collect();
                if ttls.len() != theirs.len() {
                    return Err(format!(
                        "{} field TTLs read back for {} fields",
                        ttls.len(),
                        theirs.len()
                    ));
                }
                for p in v.as_array().unwrap() {
                    let f = jbytes(&p[0]);
                    let ours = p.get(2).and_then(|x| x.as_i64()).unwrap_or(-1);
                    let t = ttls[&f];
                    if t != ours {
                        return Err(format!(
                            "field {:?} expire {ours} but the server has {t}",
                            String::from_utf8_lossy(&f)
                        ));
                    }
                }
            }
            Ok(())
        }
        "stream" => check_stream(sv, v),
        _ => {
            // a module value: the DUMP payload's body is the module id and our raw bytes
            let raw = b64decode(v["raw_base64"].as_str().unwrap());
            let d = rb(&sv["dump"]);
            let body = &d[..d.len() - 10];
            if body.ends_with(&raw) { Ok(()) } else { Err("module value differs from DUMP".into()) }
        }
    }
}

/// Stream entries: (ID, field-value pairs).
type Entries = Vec<(String, Vec<(Vec<u8>, Vec<u8>)>)>;

/// Our stream `v` against the read-back `sv` (entries, XINFO STREAM, GROUPS, CONSUMERS).
fn check_stream(sv: &Value, v: &Value) -> Result<(), String> {
    let ours: Entries = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (jbytes(&p[0]), jbytes(&p[1])))
                    .collect(),
            )
        })
        .collect();
    let theirs: Entries = arr(&sv["entries"])
        .iter()
        .map(|e| (text(&e[0]), arr(&e[1]).chunks(2).map(|p| (rb(&p[0]), rb(&p[1]))).collect()))
        .collect();
    if ours != theirs {
        return Err(format!(
            "stream entries differ: {} ours, {} on the server",
            ours.len(),
            theirs.len()
        ));
    }
    let info = map(&sv["xinfo"]);
    let field = |m: &BTreeMap<String, Value>, f: &str| m.get(f).map(text);
    if field(&info, "length") != Some(v["length"].to_string()) {
        return Err(format!("stream length {} vs {:?}", v["length"], field(&info, "length")));
    }
    if field(&info, "last-generated-id").as_deref() != v["last_id"].as_str() {
        return Err(format!("last id {} vs {:?}", v["last_id"], field(&info, "last-generated-id")));
    }
    if let Some(m) = field(&info, "max-deleted-entry-id")
        && v["max_deleted_id"].as_str() != Some(m.as_str())
    {
        return Err(format!("max deleted id {} vs {m}", v["max_deleted_id"]));
    }
    if let Some(m) = field(&info, "entries-added")
        && v["entries_added"] != m.parse::<u64>().map(Value::from).unwrap_or(Value::Null)
    {
        return Err(format!("entries added {} vs {m}", v["entries_added"]));
    }
    if let Some(idmp) = v.get("idmp") {
        let producers = idmp["producers"].as_array().unwrap();
        let pids = producers.len();
        let iids: usize = producers.iter().map(|p| p["iids"].as_array().unwrap().len()).sum();
        // The server expires IIDs whose stream ID is older than the duration, once a
        // second, from the head of each producer's list, and drops emptied producers; it
        // may have done so by now or not yet: either count is right.
        let cutoff =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
                as u64
                - idmp["duration_s"].as_u64().unwrap() * 1000;
        let left: Vec<usize> = producers
            .iter()
            .map(|p| {
                let l = p["iids"].as_array().unwrap();
                let ms = |x: &Value| {
                    x[1].as_str().unwrap().split('-').next().unwrap().parse::<u64>().unwrap()
                };
                l.len() - l.iter().take_while(|x| ms(x) <= cutoff).count()
            })
            .collect();
        let (pids_after, iids_after) =
            (left.iter().filter(|&&n| n > 0).count(), left.iter().sum::<usize>());
        for (f, want) in [
            ("idmp-duration", vec![idmp["duration_s"].to_string()]),
            ("idmp-maxsize", vec![idmp["max_size"].to_string()]),
            ("pids-tracked", vec![pids.to_string(), pids_after.to_string()]),
            ("iids-tracked", vec![iids.to_string(), iids_after.to_string()]),
            ("iids-added", vec![idmp["iids_added"].to_string()]),
            ("iids-duplicates", vec![idmp["iids_duplicates"].to_string()]),
        ] {
            if !field(&info, f).is_some_and(|got| want.contains(&got)) {
                return Err(format!("{f}: ours {want:?}, server {:?}", field(&info, f)));
            }
        }
    }
    let groups = arr(&sv["groups"]);
    let ours_g = v["groups"].as_array().unwrap();
    if groups.len() != ours_g.len() {
        return Err(format!("{} groups vs {} on the server", ours_g.len(), groups.len()));
    }
    for ((g, sg), per) in ours_g.iter().zip(groups).zip(arr(&sv["per_group"])) {
        let m = map(sg);
        let name = jbytes(&g["name"]);
        if m.get("name").map(rb) != Some(name.clone()) || rb(&per["name"]) != name {
            return Err("group name differs (order or name)".into());
        }
        if field(&m, "pending") != Some(g["pel"].as_array().unwrap().len().to_string()) {
            return Err(format!(
                "group pending {} vs {:?}",
                g["pel"].as_array().unwrap().len(),
                field(&m, "pending")
            ));
        }
        if field(&m, "last-delivered-id").as_deref() != g["last_delivered_id"].as_str() {
            return Err("group last-delivered-id differs".into());
        }
        let mut theirs: Vec<(Vec<u8>, i64)> = arr(&per["consumers"])
            .iter()
            .map(|x| {
                let m = map(x);
                (rb(&m["name"]), m["pending"].as_i64().expect("a consumer's pending count"))
            })
            .collect();
        let mut ours: Vec<(Vec<u8>, i64)> = g["consumers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (jbytes(&x["name"]), x["pending"].as_i64().unwrap()))
            .collect();
        theirs.sort();
        ours.sort();
        if ours != theirs {
            return Err(format!("consumers differ: ours {ours:?}, server {theirs:?}"));
        }
    }
    Ok(())
}

/// A record with its exact bytes where `key` or `value` were written lossily: `key_base64`
/// and `value_base64` (same shape, byte strings in base64) put in as `{"base64": ...}`
/// objects at the byte-string places, which [`jbytes`] reads.
pub fn exact(mut r: Value) -> Value {
    let b = |s: &Value| serde_json::json!({ "base64": s.as_str().expect("a base64 string") });
    if let Some(k) = r.get("key_base64").cloned() {
        r["key"] = b(&k);
    }
    let Some(mut v) = r.get("value_base64").cloned() else { return r };
    let pairs = |v: &mut Value, n: usize| {
        for p in v.as_array_mut().unwrap() {
            for i in 0..n {
                p[i] = b(&p[i]);
            }
        }
    };
    match r["type"].as_str().unwrap() {
        "string" => v = b(&v),
        "list" | "set" => {
            for x in v.as_array_mut().unwrap() {
                *x = b(x);
            }
        }
        "zset" => pairs(&mut v, 1),
        "hash" => pairs(&mut v, 2),
        "stream" => {
            for e in v["entries"].as_array_mut().unwrap() {
                pairs(&mut e["fields"], 2);
            }
            for g in v["groups"].as_array_mut().unwrap() {
                g["name"] = b(&g["name"]);
                for p in g["pel"].as_array_mut().unwrap() {
                    p["consumer"] = b(&p["consumer"]);
                }
                for c in g["consumers"].as_array_mut().unwrap() {
                    c["name"] = b(&c["name"]);
                }
            }
            if let Some(producers) = v.get_mut("idmp").and_then(|i| i.get_mut("producers")) {
                for p in producers.as_array_mut().unwrap() {
                    p["pid"] = b(&p["pid"]);
                    pairs(&mut p["iids"], 1);
                }
            }
        }
        _ => {}
    }
    r["value"] = v;
    r
}

/// Parses `inspect --format jsonl` output into db -> key -> object.
pub fn parse_jsonl(out: &[u8]) -> BTreeMap<u64, BTreeMap<Vec<u8>, Value>> {
    let mut m: BTreeMap<u64, BTreeMap<Vec<u8>, Value>> = BTreeMap::new();
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v = exact(serde_json::from_slice(line).expect("a JSON line"));
        let db = v["db"].as_u64().unwrap();
        let k = jbytes(&v["key"]);
        assert!(m.entry(db).or_default().insert(k, v).is_none(), "duplicate key in output");
    }
    m
}

/// Full comparison of our listing with what `server` holds (read back by the oracle).
/// Returns the problems found.
pub fn compare(server: &dyn Source, ours: &BTreeMap<u64, BTreeMap<Vec<u8>, Value>>) -> Vec<String> {
    let ks = readback::read(server);
    let caps = Caps { pexpiretime: ks.cap("pexpiretime"), hpexpiretime: ks.cap("hpexpiretime") };
    let theirs = &ks.dbs;
    let mut problems = Vec::new();
    let dbs: std::collections::BTreeSet<u64> = ours.keys().chain(theirs.keys()).copied().collect();
    let empty_o = BTreeMap::new();
    let empty_t = BTreeMap::new();
    for db in dbs {
        let o = ours.get(&db).unwrap_or(&empty_o);
        let t = theirs.get(&db).unwrap_or(&empty_t);
        for k in t.keys().filter(|k| !o.contains_key(*k)) {
            problems.push(format!(
                "db {db}: key {:?} is on the server but not listed",
                String::from_utf8_lossy(k)
            ));
        }
        for k in o.keys().filter(|k| !t.contains_key(*k)) {
            problems.push(format!(
                "db {db}: key {:?} listed but not on the server",
                String::from_utf8_lossy(k)
            ));
        }
        for (k, j) in o.iter() {
            let Some(rec) = t.get(k) else { continue };
            if let Err(e) = check_key(rec, &caps, j) {
                problems.push(format!("db {db}: key {:?}: {e}", String::from_utf8_lossy(k)));
            }
        }
    }
    problems
}
