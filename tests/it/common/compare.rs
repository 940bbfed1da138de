//! Compares what `rdbshift inspect` lists with what a real server holds, key by key.
#![allow(dead_code)]

use std::collections::BTreeMap;

use crate::common::resp::Reply;
use crate::common::resp::Conn;
use serde_json::Value;

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

fn rscore(r: &Reply) -> f64 {
    let s = r.text();
    match s.as_str() {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap(),
    }
}

fn bulk(r: &Reply) -> Vec<u8> {
    r.bytes().map(|b| b.to_vec()).unwrap_or_default()
}

fn call(c: &mut Conn, args: &[&[u8]]) -> Reply {
    let r = c.call(args).expect("server connection");
    assert!(
        !r.is_error(),
        "{:?} failed: {}",
        args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>(),
        r.text()
    );
    r
}

/// Every key of every db on the server: db -> key -> type.
pub fn server_keys(c: &mut Conn) -> BTreeMap<u64, BTreeMap<Vec<u8>, String>> {
    let mut all = BTreeMap::new();
    let dbs = c.cmd(&["CONFIG", "GET", "databases"]).unwrap();
    let n: u64 = dbs.array().get(1).and_then(|r| r.int()).unwrap_or(16) as u64;
    for db in 0..n {
        call(c, &[b"SELECT", db.to_string().as_bytes()]);
        let mut cursor = b"0".to_vec();
        let mut keys = BTreeMap::new();
        loop {
            let r = call(c, &[b"SCAN", &cursor, b"COUNT", b"1000"]);
            let a = r.array();
            cursor = bulk(&a[0]);
            for k in a[1].array() {
                keys.insert(bulk(k), String::new());
            }
            if cursor == b"0" {
                break;
            }
        }
        for (k, t) in keys.iter_mut() {
            *t = call(c, &[b"TYPE", k]).text();
        }
        if !keys.is_empty() {
            all.insert(db, keys);
        }
    }
    all
}

pub struct Caps {
    pub pexpiretime: bool,
    pub hpexpiretime: bool,
}

pub fn caps(c: &mut Conn) -> Caps {
    let has = |c: &mut Conn, name: &str| {
        let r = c.cmd(&["COMMAND", "INFO", name]).unwrap();
        matches!(r.array().first(), Some(Reply::Array(Some(_))))
    };
    Caps { pexpiretime: has(c, "pexpiretime"), hpexpiretime: has(c, "hpexpiretime") }
}

/// Checks one key of our JSON against the server (the db is already selected).
pub fn check_key(c: &mut Conn, caps: &Caps, j: &Value) -> Result<(), String> {
    let key = jbytes(&j["key"]);
    let k: &[u8] = &key;
    let ty = j["type"].as_str().unwrap();
    let v = &j["value"];
    let stype = call(c, &[b"TYPE", k]).text();
    if stype != ty {
        return Err(format!("type {ty} but the server says {stype}"));
    }
    // expiry
    if caps.pexpiretime {
        let e = call(c, &[b"PEXPIRETIME", k]).int().unwrap();
        let ours = j["expire_ms"].as_i64().unwrap_or(-1);
        if e != ours {
            return Err(format!("expire {ours} but the server has {e}"));
        }
    } else {
        let t = call(c, &[b"PTTL", k]).int().unwrap();
        if (t >= 0) == j["expire_ms"].is_null() {
            return Err(format!("expiry presence differs: PTTL {t}, ours {}", j["expire_ms"]));
        }
    }
    let same = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| -> Result<(), String> {
        let (x, y) = (format!("{a:?}"), format!("{b:?}"));
        if x == y {
            Ok(())
        } else {
            Err(format!("{what} differs:\n ours   {}\n server {}", &x[..x.len().min(400)], &y[..y.len().min(400)]))
        }
    };
    match ty {
        "string" => same("value", &jbytes(v), &bulk(&call(c, &[b"GET", k]))),
        "list" => {
            let ours: Vec<Vec<u8>> = v.as_array().unwrap().iter().map(jbytes).collect();
            let theirs: Vec<Vec<u8>> = call(c, &[b"LRANGE", k, b"0", b"-1"]).array().iter().map(bulk).collect();
            same("list", &ours, &theirs)
        }
        "set" => {
            let mut ours: Vec<Vec<u8>> = v.as_array().unwrap().iter().map(jbytes).collect();
            let mut theirs: Vec<Vec<u8>> = call(c, &[b"SMEMBERS", k]).array().iter().map(bulk).collect();
            ours.sort();
            theirs.sort();
            same("set", &ours, &theirs)
        }
        "zset" => {
            // ours is in file order (a skiplist is saved from its tail), so compare sorted
            let mut ours: Vec<(Vec<u8>, u64)> =
                v.as_array().unwrap().iter().map(|p| (jbytes(&p[0]), score_bits(jscore(&p[1])))).collect();
            let r = call(c, &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]);
            let a = r.array();
            let mut theirs: Vec<(Vec<u8>, u64)> =
                a.chunks(2).map(|p| (bulk(&p[0]), score_bits(rscore(&p[1])))).collect();
            ours.sort();
            theirs.sort();
            same("zset", &ours, &theirs)
        }
        "hash" => {
            let mut ours: Vec<(Vec<u8>, Vec<u8>)> =
                v.as_array().unwrap().iter().map(|p| (jbytes(&p[0]), jbytes(&p[1]))).collect();
            let r = call(c, &[b"HGETALL", k]);
            let mut theirs: Vec<(Vec<u8>, Vec<u8>)> = r.array().chunks(2).map(|p| (bulk(&p[0]), bulk(&p[1]))).collect();
            ours.sort();
            theirs.sort();
            same("hash", &ours, &theirs)?;
            if caps.hpexpiretime {
                for p in v.as_array().unwrap() {
                    let f = jbytes(&p[0]);
                    let ours = p.get(2).and_then(|x| x.as_i64()).unwrap_or(-1);
                    let r = call(c, &[b"HPEXPIRETIME", k, b"FIELDS", b"1", &f]);
                    let t = r.array()[0].int().unwrap();
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
        "stream" => check_stream(c, k, v),
        _ => {
            // a module value: the DUMP payload's body is the module id and our raw bytes
            let raw = b64decode(v["raw_base64"].as_str().unwrap());
            let d = bulk(&call(c, &[b"DUMP", k]));
            let body = &d[..d.len() - 10];
            if body.ends_with(&raw) { Ok(()) } else { Err("module value differs from DUMP".into()) }
        }
    }
}

/// Stream entries: (ID, field-value pairs).
type Entries = Vec<(String, Vec<(Vec<u8>, Vec<u8>)>)>;

fn check_stream(c: &mut Conn, k: &[u8], v: &Value) -> Result<(), String> {
    let ours: Entries = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["fields"].as_array().unwrap().iter().map(|p| (jbytes(&p[0]), jbytes(&p[1]))).collect(),
            )
        })
        .collect();
    let r = call(c, &[b"XRANGE", k, b"-", b"+"]);
    let theirs: Entries = r
        .array()
        .iter()
        .map(|e| {
            let a = e.array();
            (a[0].text(), a[1].array().chunks(2).map(|p| (bulk(&p[0]), bulk(&p[1]))).collect())
        })
        .collect();
    if ours != theirs {
        return Err(format!("stream entries differ: {} ours, {} on the server", ours.len(), theirs.len()));
    }
    let info = call(c, &[b"XINFO", b"STREAM", k]);
    let map: BTreeMap<String, Reply> = info.array().chunks(2).map(|p| (p[0].text(), p[1].clone())).collect();
    let field = |m: &BTreeMap<String, Reply>, f: &str| m.get(f).map(|r| r.text());
    if field(&map, "length") != Some(v["length"].to_string()) {
        return Err(format!("stream length {} vs {:?}", v["length"], field(&map, "length")));
    }
    if field(&map, "last-generated-id").as_deref() != v["last_id"].as_str() {
        return Err(format!("last id {} vs {:?}", v["last_id"], field(&map, "last-generated-id")));
    }
    if let Some(m) = field(&map, "max-deleted-entry-id")
        && v["max_deleted_id"].as_str() != Some(m.as_str())
    {
        return Err(format!("max deleted id {} vs {m}", v["max_deleted_id"]));
    }
    if let Some(m) = field(&map, "entries-added")
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
        let cutoff = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
            - idmp["duration_s"].as_u64().unwrap() * 1000;
        let left: Vec<usize> = producers
            .iter()
            .map(|p| {
                let l = p["iids"].as_array().unwrap();
                let ms = |x: &Value| x[1].as_str().unwrap().split('-').next().unwrap().parse::<u64>().unwrap();
                l.len() - l.iter().take_while(|x| ms(x) <= cutoff).count()
            })
            .collect();
        let (pids_after, iids_after) = (left.iter().filter(|&&n| n > 0).count(), left.iter().sum::<usize>());
        for (f, want) in [
            ("idmp-duration", vec![idmp["duration_s"].to_string()]),
            ("idmp-maxsize", vec![idmp["max_size"].to_string()]),
            ("pids-tracked", vec![pids.to_string(), pids_after.to_string()]),
            ("iids-tracked", vec![iids.to_string(), iids_after.to_string()]),
            ("iids-added", vec![idmp["iids_added"].to_string()]),
            ("iids-duplicates", vec![idmp["iids_duplicates"].to_string()]),
        ] {
            if !field(&map, f).is_some_and(|got| want.contains(&got)) {
                return Err(format!("{f}: ours {want:?}, server {:?}", field(&map, f)));
            }
        }
    }
    let groups = call(c, &[b"XINFO", b"GROUPS", k]);
    let ours_g = v["groups"].as_array().unwrap();
    if groups.array().len() != ours_g.len() {
        return Err(format!("{} groups vs {} on the server", ours_g.len(), groups.array().len()));
    }
    for (g, sg) in ours_g.iter().zip(groups.array()) {
        let m: BTreeMap<String, Reply> = sg.array().chunks(2).map(|p| (p[0].text(), p[1].clone())).collect();
        let name = jbytes(&g["name"]);
        if m.get("name").map(bulk) != Some(name.clone()) {
            return Err("group name differs (order or name)".into());
        }
        if field(&m, "pending") != Some(g["pel"].as_array().unwrap().len().to_string()) {
            return Err(format!("group pending {} vs {:?}", g["pel"].as_array().unwrap().len(), field(&m, "pending")));
        }
        if field(&m, "last-delivered-id").as_deref() != g["last_delivered_id"].as_str() {
            return Err("group last-delivered-id differs".into());
        }
        let cons = call(c, &[b"XINFO", b"CONSUMERS", k, &name]);
        let mut theirs: Vec<(Vec<u8>, i64)> = cons
            .array()
            .iter()
            .map(|x| {
                let m: BTreeMap<String, Reply> = x.array().chunks(2).map(|p| (p[0].text(), p[1].clone())).collect();
                (bulk(&m["name"]), m["pending"].int().unwrap())
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

/// Full comparison of our listing with the server's data set. Returns the problems found.
pub fn compare(c: &mut Conn, ours: &BTreeMap<u64, BTreeMap<Vec<u8>, Value>>) -> Vec<String> {
    let caps = caps(c);
    let theirs = server_keys(c);
    let mut problems = Vec::new();
    let dbs: std::collections::BTreeSet<u64> = ours.keys().chain(theirs.keys()).copied().collect();
    let empty_o = BTreeMap::new();
    let empty_t = BTreeMap::new();
    for db in dbs {
        let o = ours.get(&db).unwrap_or(&empty_o);
        let t = theirs.get(&db).unwrap_or(&empty_t);
        for k in t.keys().filter(|k| !o.contains_key(*k)) {
            problems.push(format!("db {db}: key {:?} is on the server but not listed", String::from_utf8_lossy(k)));
        }
        for k in o.keys().filter(|k| !t.contains_key(*k)) {
            problems.push(format!("db {db}: key {:?} listed but not on the server", String::from_utf8_lossy(k)));
        }
        call(c, &[b"SELECT", db.to_string().as_bytes()]);
        for (k, j) in o.iter().filter(|(k, _)| t.contains_key(*k)) {
            if let Err(e) = check_key(c, &caps, j) {
                problems.push(format!("db {db}: key {:?}: {e}", String::from_utf8_lossy(k)));
            }
        }
    }
    problems
}
