//! Compares two real servers key by key: the one that loaded the original dump and the one
//! that loaded our output. Values by `DEBUG DIGEST-VALUE`, expiry by `PEXPIRETIME` (`PTTL`
//! within a margin before 7.0), field TTLs by `HPEXPIRETIME`, streams by `XINFO STREAM
//! FULL` (groups, PEL, consumers, counters, IDMP), functions by `FUNCTION LIST WITHCODE`,
//! module values by `DUMP`.
#![allow(dead_code)]

use super::version::Target;
use super::version::Dialect;
use crate::common::resp::Reply;
use crate::common::resp::Conn;

use super::datagen::scan;

pub struct CmpOpts {
    /// Compare dbs 0..16 (standalone) or only db 0 (cluster).
    pub all_dbs: bool,
    /// The copy came through RESTORE: IDMP counters and consumer times must match too.
    pub restored: bool,
    /// Compare streams' groups and counters (`false` when the two servers' versions differ).
    pub streams: bool,
}

/// A reply as readable text (bulk strings shown lossily).
pub fn show(r: &Reply) -> String {
    match r {
        Reply::Status(b) => format!("+{}", String::from_utf8_lossy(b)),
        Reply::Error(b) => format!("-{}", String::from_utf8_lossy(b)),
        Reply::Int(i) => i.to_string(),
        Reply::Bulk(None) | Reply::Array(None) => "nil".into(),
        Reply::Bulk(Some(b)) => format!("{:?}", String::from_utf8_lossy(b)),
        Reply::Array(Some(v)) => format!("[{}]", v.iter().map(show).collect::<Vec<_>>().join(" ")),
    }
}

/// The first place two replies differ, with a little context.
pub fn first_difference(x: &Reply, y: &Reply) -> String {
    let (a, b) = (show(x), show(y));
    let i = a.bytes().zip(b.bytes()).take_while(|(p, q)| p == q).count();
    let from = a[..i].char_indices().rev().nth(120).map_or(0, |(j, _)| j);
    let cut = |s: &str| s.get(from..).unwrap_or("").chars().take(300).collect::<String>();
    format!(
        "...{}
  vs
  ...{}",
        cut(&a),
        cut(&b)
    )
}

/// A server to compare: one connection, or a cluster routed by key.
pub trait Peer {
    fn call(&mut self, args: &[&[u8]]) -> Reply;
    /// Every key of the selected db.
    fn keys(&mut self) -> Vec<Vec<u8>>;
}

impl Peer for Conn {
    fn call(&mut self, args: &[&[u8]]) -> Reply {
        Conn::call(self, args).unwrap()
    }
    fn keys(&mut self) -> Vec<Vec<u8>> {
        scan(self, "*")
    }
}

fn call(c: &mut dyn Peer, args: &[&[u8]]) -> Reply {
    c.call(args)
}

fn bulk_str(r: &Reply) -> String {
    match r {
        Reply::Bulk(Some(b)) | Reply::Status(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

/// Drops the map entries named in `drop` from a flat RESP2 map (key, value, key, value...).
fn drop_fields(r: &mut Reply, drop: &[&str]) {
    if let Reply::Array(Some(v)) = r {
        let mut i = 0;
        while i + 1 < v.len() {
            if matches!(&v[i], Reply::Bulk(Some(k)) if drop.iter().any(|d| d.as_bytes() == &k[..])) {
                v.drain(i..i + 2);
            } else {
                i += 2;
            }
        }
    }
}

fn map_get<'r>(r: &'r mut Reply, key: &str) -> Option<&'r mut Reply> {
    let Reply::Array(Some(v)) = r else { return None };
    let i = (0..v.len()).step_by(2).find(|&i| matches!(&v[i], Reply::Bulk(Some(k)) if k == key.as_bytes()))?;
    v.get_mut(i + 1)
}

/// `XINFO STREAM key FULL COUNT 0` without what no command can set.
fn stream_info(c: &mut dyn Peer, key: &[u8], restored: bool) -> Reply {
    let mut r = call(c, &[b"XINFO", b"STREAM", key, b"FULL", b"COUNT", b"0"]);
    let mut top = vec!["radix-tree-keys", "radix-tree-nodes"];
    if !restored {
        top.extend(["iids-added", "iids-duplicates"]);
    }
    drop_fields(&mut r, &top);
    if let Some(Reply::Array(Some(groups))) = map_get(&mut r, "groups") {
        for g in groups {
            if let Some(Reply::Array(Some(cons))) = map_get(g, "consumers") {
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
fn stream_info_5(c: &mut dyn Peer, key: &[u8]) -> Vec<Reply> {
    let mut out = Vec::new();
    let mut s = call(c, &[b"XINFO", b"STREAM", key]);
    drop_fields(&mut s, &["radix-tree-keys", "radix-tree-nodes"]);
    out.push(s);
    let groups = call(c, &[b"XINFO", b"GROUPS", key]);
    if let Reply::Array(Some(gs)) = &groups {
        for g in gs {
            let mut g = g.clone();
            let name = map_get(&mut g, "name").map(|n| bulk_str(n)).unwrap();
            let mut pend = call(c, &[b"XPENDING", key, name.as_bytes(), b"-", b"+", b"1000000"]);
            if let Reply::Array(Some(ps)) = &mut pend {
                for p in ps {
                    if let Reply::Array(Some(f)) = p {
                        f.remove(2); // idle time: depends on when it is asked
                    }
                }
            }
            let mut cons = call(c, &[b"XINFO", b"CONSUMERS", key, name.as_bytes()]);
            if let Reply::Array(Some(cs)) = &mut cons {
                for c in cs {
                    drop_fields(c, &["idle", "inactive"]);
                }
            }
            out.extend([g, pend, cons]);
        }
    }
    out
}

/// Differences between `a` (the original) and `b` (our copy), described; empty if none.
pub fn compare_servers(a: &mut dyn Peer, b: &mut dyn Peer, t: &Target, o: &CmpOpts) -> (usize, Vec<String>) {
    let mut diffs = Vec::new();
    let mut compared = 0;
    let valkey = t.dialect == Dialect::Valkey;
    let pexpiretime = valkey || t.stream_counters();
    let full_xinfo = valkey || (t.major, t.minor) >= (6, 0);
    if t.idmp() {
        // each server expires old IDMP records once a second: let both have done so
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    for db in 0..if o.all_dbs { 16 } else { 1 } {
        if o.all_dbs {
            let d = db.to_string();
            call(a, &[b"SELECT", d.as_bytes()]);
            call(b, &[b"SELECT", d.as_bytes()]);
        }
        let mut ka = a.keys();
        let mut kb = b.keys();
        ka.sort();
        kb.sort();
        if ka != kb {
            let missing: Vec<_> = ka
                .iter()
                .filter(|k| kb.binary_search(k).is_err())
                .take(10)
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            let extra: Vec<_> = kb
                .iter()
                .filter(|k| ka.binary_search(k).is_err())
                .take(10)
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            diffs.push(format!("db {db}: {} keys vs {}; missing {missing:?}, extra {extra:?}", ka.len(), kb.len()));
        }
        for k in &ka {
            if kb.binary_search(k).is_err() {
                continue;
            }
            compared += 1;
            let name = String::from_utf8_lossy(k).into_owned();
            let check = |a: &mut dyn Peer, b: &mut dyn Peer, what: &str, args: &[&[u8]], diffs: &mut Vec<String>| {
                let (x, y) = (call(a, args), call(b, args));
                if x != y {
                    diffs.push(format!("db {db} key {name:?}: {what} differs: {}", first_difference(&x, &y)));
                }
                x
            };
            let ty = bulk_str(&check(a, b, "type", &[b"TYPE", k], &mut diffs));
            check(a, b, "digest", &[b"DEBUG", b"DIGEST-VALUE", k], &mut diffs);
            if pexpiretime {
                check(a, b, "expiry", &[b"PEXPIRETIME", k], &mut diffs);
            } else {
                let (x, y) = (call(a, &[b"PTTL", k]), call(b, &[b"PTTL", k]));
                let close = match (&x, &y) {
                    (Reply::Int(x), Reply::Int(y)) => {
                        (*x < 0 && x == y) || (*x >= 0 && *y >= 0 && (x - y).abs() < 30_000)
                    }
                    _ => false,
                };
                if !close {
                    diffs.push(format!("db {db} key {name:?}: PTTL {x:?} vs {y:?}"));
                }
            }
            match ty.as_str() {
                "hash" if t.field_ttl() => {
                    if let Reply::Array(Some(fields)) = call(a, &[b"HKEYS", k]) {
                        let n = fields.len().to_string();
                        let mut args: Vec<&[u8]> = vec![b"HPEXPIRETIME", k, b"FIELDS", n.as_bytes()];
                        args.extend(fields.iter().map(|f| if let Reply::Bulk(Some(f)) = f { &f[..] } else { b"" }));
                        if !fields.is_empty() {
                            check(a, b, "field TTLs", &args, &mut diffs);
                        }
                    }
                }
                "stream" if !o.streams => {}
                "stream" if full_xinfo => {
                    let (x, y) = (stream_info(a, k, o.restored), stream_info(b, k, o.restored));
                    if x != y {
                        diffs.push(format!(
                            "db {db} stream {name:?}: XINFO FULL differs:\n  {}",
                            first_difference(&x, &y)
                        ));
                    }
                }
                "stream" => {
                    let (x, y) = (stream_info_5(a, k), stream_info_5(b, k));
                    if x != y {
                        diffs.push(format!(
                            "db {db} stream {name:?}: groups differ:\n  {}",
                            first_difference(&Reply::Array(Some(x)), &Reply::Array(Some(y)))
                        ));
                    }
                }
                "string" | "list" | "set" | "zset" | "hash" | "none" => {}
                _ => {
                    check(a, b, "module value (DUMP)", &[b"DUMP", k], &mut diffs);
                }
            }
        }
    }
    if o.all_dbs {
        call(a, &[b"SELECT", b"0"]);
        call(b, &[b"SELECT", b"0"]);
    }
    if t.functions() {
        let (x, y) = (call(a, &[b"FUNCTION", b"LIST", b"WITHCODE"]), call(b, &[b"FUNCTION", b"LIST", b"WITHCODE"]));
        if x != y {
            diffs.push(format!("functions differ: {}", first_difference(&x, &y)));
        }
    }
    (compared, diffs)
}
