//! What a server holds, read by the independent oracle `readback.py` (redis-py's parser,
//! never rdbshift's): every key with its type, TTL, digest and full contents, as JSON.
//! Byte strings there are one character per byte; [`b`] turns them back into bytes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use super::Server;
use super::cluster::Cluster;

/// Something to read back: one server, or the masters of a cluster.
pub trait Source {
    /// `host:port` of each node to read (a cluster's masters).
    fn addrs(&self) -> Vec<String>;
}

impl Source for Server {
    fn addrs(&self) -> Vec<String> {
        vec![self.addr()]
    }
}

impl Source for Cluster {
    fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr()).collect()
    }
}

/// The read-back of a server: `caps`, `dbs` (db -> key -> record), `functions`.
pub struct Keyspace {
    pub caps: Value,
    pub dbs: BTreeMap<u64, BTreeMap<Vec<u8>, Value>>,
    pub functions: Value,
}

impl Keyspace {
    pub fn cap(&self, name: &str) -> bool {
        self.caps[name].as_bool().unwrap_or_else(|| panic!("readback has no capability {name}"))
    }
    /// Keys over all dbs.
    pub fn len(&self) -> usize {
        self.dbs.values().map(|d| d.len()).sum()
    }
}

/// Reads everything `s` holds (every db of a standalone server; db 0 of a cluster).
pub fn read(s: &dyn Source) -> Keyspace {
    let py = super::servers_root().join("venv/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/common/readback.py");
    let mut c = Command::new(&py);
    c.arg(script).arg(s.addrs().join(","));
    let out = super::proc::run(c);
    assert!(
        out.status.success(),
        "readback.py {}: {}",
        s.addrs().join(","),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("readback.py prints JSON");
    let mut dbs = BTreeMap::new();
    for d in v["dbs"].as_array().unwrap() {
        let mut keys = BTreeMap::new();
        for k in d["keys"].as_array().unwrap() {
            assert!(
                keys.insert(b(&k["key"]), k.clone()).is_none(),
                "a key read twice: {}",
                k["key"]
            );
        }
        dbs.insert(d["db"].as_u64().unwrap(), keys);
    }
    Keyspace { caps: v["caps"].clone(), dbs, functions: v["functions"].clone() }
}

/// The bytes of a read-back byte string (one character per byte).
pub fn b(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a byte string: {v}"));
    s.chars()
        .map(|c| u8::try_from(c as u32).unwrap_or_else(|_| panic!("not a byte string: {v}")))
        .collect()
}

/// A read-back byte string as text (what the server said, lossy for non-UTF-8).
pub fn text(v: &Value) -> String {
    match v {
        Value::String(_) => String::from_utf8_lossy(&b(v)).into_owned(),
        other => other.to_string(),
    }
}

/// The elements of an array (empty for anything else).
pub fn arr(v: &Value) -> &[Value] {
    v.as_array().map(|a| &a[..]).unwrap_or(&[])
}

/// The value of `field` in a flat map reply (field, value, field, value ...).
pub fn field<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    let a = arr(v);
    (0..a.len().saturating_sub(1))
        .step_by(2)
        .find(|&i| a[i].as_str() == Some(name))
        .map(|i| &a[i + 1])
}

/// A flat map reply as a map (field name -> value).
pub fn map(v: &Value) -> BTreeMap<String, Value> {
    arr(v).chunks(2).filter(|p| p.len() == 2).map(|p| (text(&p[0]), p[1].clone())).collect()
}
