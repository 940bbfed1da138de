//! `rdbshift memory` against real servers: seeded data of every type and encoding in several
//! size bands is written by a server, the dump is loaded into a server (the same version,
//! or another with `--as`), and our per-key estimate is compared with that server's
//! `MEMORY USAGE key SAMPLES 0` and our dataset total with its `used_memory` growth.
//! Bounds (issue 19): each (type, encoding, band) group's mean within 10%, the per-file
//! total within 5%, the dataset total within 5%. Also: our encoding is the server's
//! `OBJECT ENCODING`; the prefix aggregation and a 5M-field hash stay within the memory
//! budget; the HTML report is one self-contained file that a real browser draws.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::common::datagen::{Batch, Rng};
use crate::common::resp::Conn;
use crate::common::{self, SERVERS, Server};

/// Fills a server with keys of every type, encoding and size band (names say the group:
/// `s:emb:3` is string band "emb").
fn fill(c: &mut Conn, seed: u64, field_ttls: bool) {
    let mut r = Rng::new(seed);
    let mut s = |r: &mut Rng, lo: u64, hi: u64| -> String {
        let n = lo + r.below(hi - lo + 1);
        (0..n)
            .map(|_| b"abcdefghijklmnopqrstuvwxyz0123456789"[r.below(36) as usize] as char)
            .collect()
    };
    let mut b = Batch::new();
    for i in 0..25 {
        b.s(&["SET", &format!("s:int:{i}"), &r.below(10_000).to_string()]);
        b.s(&[
            "SET",
            &format!("s:bigint:{i}"),
            &(1_000_000_000_000 + r.below(1 << 40)).to_string(),
        ]);
        b.s(&["SET", &format!("s:tiny:{i}"), &s(&mut r, 1, 10)]);
        b.s(&["SET", &format!("s:emb:{i}"), &s(&mut r, 11, 44)]);
        b.s(&["SET", &format!("s:mid:{i}"), &s(&mut r, 45, 200)]);
        b.s(&["SET", &format!("s:1k:{i}"), &s(&mut r, 500, 2000)]);
        b.s(&["SET", &format!("s:ttl:{i}"), &s(&mut r, 5, 60), "EX", "100000"]);
        let long = "k".repeat(30 + r.below(120) as usize);
        b.s(&["SET", &format!("long:{long}:{i}"), &s(&mut r, 1, 100)]);
    }
    for i in 0..4 {
        b.s(&["SET", &format!("s:20k:{i}"), &s(&mut r, 15_000, 30_000)]);
    }
    for i in 0..2 {
        b.s(&["SET", &format!("s:300k:{i}"), &s(&mut r, 250_000, 350_000)]);
    }
    // the edges of embedding, sds header types and the expire slot
    for len in [0, 1, 20, 31, 32, 40, 44, 45, 60, 100, 116, 117, 128, 200, 252, 253, 256, 300] {
        b.s(&["SET", &format!("b:{len}"), &"y".repeat(len)]);
    }
    for kl in (1..140).step_by(6) {
        b.s(&["SET", &format!("kl:{}", "n".repeat(kl)), &s(&mut r, 1, 20)]);
    }
    for i in 0..12 {
        let items =
            |r: &mut Rng, n: u64, lo, hi, s: &mut dyn FnMut(&mut Rng, u64, u64) -> String| {
                (0..n).map(|_| s(r, lo, hi)).collect::<Vec<String>>()
            };
        let cmd = |b: &mut Batch, head: &[&str], rest: Vec<String>| {
            let mut a: Vec<&str> = head.to_vec();
            a.extend(rest.iter().map(|x| x.as_str()));
            b.s(&a);
        };
        let n = 1 + r.below(10);
        cmd(&mut b, &["RPUSH", &format!("l:small:{i}")], items(&mut r, n, 1, 10, &mut s));
        let n = 50 + r.below(250);
        cmd(&mut b, &["RPUSH", &format!("l:mid:{i}")], items(&mut r, n, 5, 20, &mut s));
        let n = 50 + r.below(250);
        let ints = (0..n).map(|_| r.below(100_000).to_string()).collect();
        cmd(&mut b, &["RPUSH", &format!("l:ints:{i}")], ints);
        let n = 1000 + r.below(2000);
        cmd(&mut b, &["RPUSH", &format!("l:big:{i}")], items(&mut r, n, 10, 100, &mut s));
        let n = 5 + r.below(195);
        let ints = (0..n).map(|k| (k * 97 + r.below(50)).to_string()).collect();
        cmd(&mut b, &["SADD", &format!("set:int:{i}")], ints);
        let n = 600 + r.below(900);
        let ints = (0..n).map(|k| (k * 1013 + r.below(1000)).to_string()).collect();
        cmd(&mut b, &["SADD", &format!("set:inthuge:{i}")], ints);
        let n = 5 + r.below(95);
        cmd(&mut b, &["SADD", &format!("set:str:{i}")], items(&mut r, n, 3, 20, &mut s));
        let n = 200 + r.below(1800);
        cmd(&mut b, &["SADD", &format!("set:ht:{i}")], items(&mut r, n, 3, 20, &mut s));
        let n = 3 + r.below(17);
        cmd(&mut b, &["SADD", &format!("set:long:{i}")], items(&mut r, n, 70, 100, &mut s));
        let zadd =
            |r: &mut Rng, n: u64, lo, hi, s: &mut dyn FnMut(&mut Rng, u64, u64) -> String| {
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(if r.chance(50) {
                        r.below(1000).to_string()
                    } else {
                        format!("{}.{}", r.below(100), r.below(1000))
                    });
                    v.push(s(r, lo, hi));
                }
                v
            };
        let n = 3 + r.below(97);
        cmd(&mut b, &["ZADD", &format!("z:lp:{i}")], zadd(&mut r, n, 3, 20, &mut s));
        let n = 200 + r.below(2800);
        cmd(&mut b, &["ZADD", &format!("z:sl:{i}")], zadd(&mut r, n, 3, 30, &mut s));
        let pairs = |r: &mut Rng,
                     n: u64,
                     fl,
                     fh,
                     vl,
                     vh,
                     s: &mut dyn FnMut(&mut Rng, u64, u64) -> String| {
            let mut v = Vec::new();
            for k in 0..n {
                v.push(format!("f{k}{}", s(r, fl, fh)));
                v.push(s(r, vl, vh));
            }
            v
        };
        let n = 3 + r.below(47);
        cmd(&mut b, &["HSET", &format!("h:lp:{i}")], pairs(&mut r, n, 1, 10, 1, 30, &mut s));
        let n = 600 + r.below(2400);
        cmd(&mut b, &["HSET", &format!("h:ht:{i}")], pairs(&mut r, n, 1, 15, 1, 40, &mut s));
        let n = 3 + r.below(47);
        cmd(&mut b, &["HSET", &format!("h:longv:{i}")], pairs(&mut r, n, 1, 10, 65, 300, &mut s));
        let n = 3 + r.below(17);
        cmd(&mut b, &["ZADD", &format!("z:long:{i}")], zadd(&mut r, n, 70, 100, &mut s));
        let n = 3 + r.below(20);
        cmd(&mut b, &["HSET", &format!("h:longf:{i}")], pairs(&mut r, n, 70, 90, 1, 10, &mut s));
        let n = 2 + r.below(4);
        cmd(&mut b, &["RPUSH", &format!("l:huge:{i}")], items(&mut r, n, 9000, 12000, &mut s));
        let n = 20 + r.below(200);
        let ints = (0..n).map(|_| r.below(1 << 40).to_string()).collect();
        cmd(&mut b, &["LPUSH", &format!("l:lpush:{i}")], ints);
        if i % 2 == 0 {
            for k in [
                format!("h:lp:{i}"),
                format!("l:mid:{i}"),
                format!("z:sl:{i}"),
                format!("set:ht:{i}"),
            ] {
                b.s(&["EXPIRE", &k, "100000"]);
            }
        }
        let key = format!("x:{i}");
        for _ in 0..1 + r.below(1500) {
            let v = s(&mut r, 1, 20);
            b.s(&["XADD", &key, "*", "f", &v, "g", &r.below(1000).to_string()]);
        }
        if i % 4 == 1 {
            b.s(&["XTRIM", &key, "MAXLEN", &r.below(200).to_string()]);
        }
        if i % 3 == 0 {
            b.s(&["XGROUP", "CREATE", &key, "g1", "0"]);
            for who in ["alice", "bob"] {
                let n = (1 + r.below(50)).to_string();
                b.s(&["XREADGROUP", "GROUP", "g1", who, "COUNT", &n, "STREAMS", &key, ">"]);
            }
            b.s(&["XGROUP", "CREATE", &key, "g2", "$"]);
        }
        if field_ttls && i % 2 == 0 {
            let n = 3 + r.below(20);
            cmd(&mut b, &["HSET", &format!("h:ttl:{i}")], pairs(&mut r, n, 1, 10, 1, 30, &mut s));
            b.s(&["HEXPIRE", &format!("h:ttl:{i}"), "100000", "FIELDS", "1", "f0"]);
        }
    }
    b.send(c);
}

fn used_memory(c: &mut Conn) -> i64 {
    let info = c.cmd(&["INFO", "memory"]).unwrap().text();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO memory has used_memory")
}

/// Writes a dump with `writer`, loads it into `into`, and checks `rdbshift memory` (with
/// `--as` when given) against what `into` reports.
fn accuracy(writer: &str, as_version: Option<&str>, into: &str, seed: u64) {
    let Some(w) = Server::start_ok(writer, None, &[]) else { return };
    let mut c = w.conn();
    let ttls = matches!(writer, "redis-8.0" | "redis-8.6" | "redis-stack-7.4" | "valkey-9.1");
    fill(&mut c, seed, ttls);
    assert!(c.cmd(&["SAVE"]).unwrap().text().contains("OK"));
    let dir = common::tempdir::Dir::new("memory-acc");
    let dump = dir.path().join("dump.rdb");
    std::fs::copy(w.dir.path().join("dump.rdb"), &dump).unwrap();
    drop(c);
    drop(w);
    // used_memory of the same server empty, then with the dump loaded
    let Some(empty) = Server::start_ok(into, None, &[]) else { return };
    let u0 = used_memory(&mut empty.conn());
    drop(empty);
    let Some(s) = Server::start_ok(into, Some(&dump), &[]) else { return };
    let mut c = s.conn();
    let u1 = used_memory(&mut c);
    let keys = common::datagen::scan(&mut c, "*");
    assert!(keys.len() > 300, "{into}: {} keys loaded", keys.len());
    let mut real: BTreeMap<Vec<u8>, (i64, String)> = BTreeMap::new();
    for k in &keys {
        let m = c.call(&[b"MEMORY", b"USAGE", k, b"SAMPLES", b"0"]).unwrap().int().unwrap();
        let mut e = c.call(&[b"OBJECT", b"ENCODING", k]).unwrap().text();
        if e == "unknown" {
            // Redis 5.0 names no stream encoding
            e = "stream".into();
        }
        real.insert(k.clone(), (m, e));
    }
    drop(c);
    drop(s);

    let d = dump.to_str().unwrap();
    let mut args = vec!["memory", d, "--format", "jsonl"];
    if let Some(v) = as_version {
        args.extend(["--as", v]);
    }
    let (code, out, err) = common::rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    let mut groups: BTreeMap<(String, String), (u64, i64, i64)> = BTreeMap::new();
    let (mut total_real, mut total_ours, mut same_encoding, mut n) = (0i64, 0i64, 0, 0);
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let j: serde_json::Value = serde_json::from_slice(line).unwrap();
        let key = j["key"].as_str().unwrap().as_bytes().to_vec();
        let Some((m, enc)) = real.get(&key) else { panic!("{key:?}: not on the server") };
        let ours = j["memory_usage"].as_i64().unwrap();
        n += 1;
        if j["encoding"].as_str() == Some(enc.as_str()) {
            same_encoding += 1;
        } else {
            eprintln!("{}: server {enc}, ours {}", String::from_utf8_lossy(&key), j["encoding"]);
        }
        let name = String::from_utf8_lossy(&key).into_owned();
        let parts: Vec<&str> = name.split(':').collect();
        let band = match parts[0] {
            "s" | "l" | "set" | "z" | "h" => format!("{}:{}", parts[0], parts[1]),
            // one key per length: together, so that glibc's occasional 16 spare bytes on
            // one allocation (notes, section 2) do not decide a group
            "b" | "kl" => "edges".to_string(),
            p => p.to_string(),
        };
        let g = groups.entry((band, enc.clone())).or_default();
        g.0 += 1;
        g.1 += m;
        g.2 += ours;
        total_real += m;
        total_ours += ours;
    }
    assert_eq!(n, real.len(), "{into}: every key has a row");
    let label = format!(
        "{writer} -> {into}{}",
        as_version.map(|v| format!(" (--as {v})")).unwrap_or_default()
    );
    let mut bad = Vec::new();
    for ((band, enc), (k, r, o)) in &groups {
        let e = (o - r) as f64 / *r as f64;
        eprintln!(
            "{label}: {band:10} {enc:10} {k:3} keys: server {r}, ours {o} ({:+.1}%)",
            e * 100.0
        );
        // glibc now and then gives an allocation 16 spare bytes (notes, section 2): the
        // server's own figure for one key moves by that from run to run (a group of one
        // int-encoded tiny string: 40 bytes in most runs, 56 in one), so a group is off
        // only past both 10% and 16 bytes a key
        if e.abs() > 0.10 && (o - r).unsigned_abs() > 16 * k {
            bad.push(format!("{band} {enc}: server {r}, ours {o} ({:+.1}%)", e * 100.0));
        }
    }
    assert!(groups.len() >= 15, "{label}: {} groups", groups.len());
    assert!(bad.is_empty(), "{label}: groups off by more than 10%:\n{}", bad.join("\n"));
    let e = (total_ours - total_real) as f64 / total_real as f64;
    assert!(e.abs() <= 0.05, "{label}: total server {total_real}, ours {total_ours}");
    // our encodings are the server's (the estimate prices the right layout)
    assert!(same_encoding * 100 >= n * 98, "{label}: {same_encoding} of {n} encodings agree");

    let mut args = vec!["memory", d, "--format", "json"];
    if let Some(v) = as_version {
        args.extend(["--as", v]);
    }
    let (code, out, err) = common::rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["totals"]["memory_usage"].as_i64(), Some(total_ours));
    let dataset = doc["totals"]["dataset"].as_i64().unwrap();
    let grown = u1 - u0;
    let e = (dataset - grown) as f64 / grown as f64;
    eprintln!(
        "{label}: MEMORY USAGE {total_real} vs {total_ours}; used_memory grew {grown}, ours {dataset} ({:+.2}%)",
        e * 100.0
    );
    assert!(e.abs() <= 0.05, "{label}: used_memory grew {grown}, our dataset total {dataset}");
}

macro_rules! same_version {
    ($($f:ident => $name:expr),* $(,)?) => {$(
        #[test]
        fn $f() {
            assert!(SERVERS.contains(&$name));
            accuracy($name, None, $name, 19);
        }
    )*};
}

same_version! {
    estimate_matches_redis_5_0 => "redis-5.0",
    estimate_matches_redis_6_0 => "redis-6.0",
    estimate_matches_redis_6_2 => "redis-6.2",
    estimate_matches_redis_7_0 => "redis-7.0",
    estimate_matches_redis_stack_7_4 => "redis-stack-7.4",
    estimate_matches_redis_8_0 => "redis-8.0",
    estimate_matches_redis_8_6 => "redis-8.6",
    estimate_matches_valkey_8_0 => "valkey-8.0",
    estimate_matches_valkey_8_1 => "valkey-8.1",
    estimate_matches_valkey_9_1 => "valkey-9.1",
}

#[test]
fn estimate_for_another_version_matches_that_server() {
    for (writer, version, into) in [
        ("redis-5.0", "8.6", "redis-8.6"),
        ("redis-6.2", "valkey-8.1", "valkey-8.1"),
        ("redis-7.0", "valkey-9.1", "valkey-9.1"),
        ("redis-6.0", "7.4", "redis-stack-7.4"),
    ] {
        accuracy(writer, Some(version), into, 23);
    }
}

/// `REDIS0009` with the given records (each: type, name, value bytes), EOF and a zero
/// (unchecked) checksum.
fn dump_of(path: &Path, body: &[u8]) {
    let mut f = b"REDIS0009".to_vec();
    f.extend_from_slice(body);
    f.push(0xff);
    f.extend_from_slice(&[0; 8]);
    std::fs::write(path, f).unwrap();
}

/// An RDB string of up to 16383 bytes.
fn rdb_str(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() < 64 {
        out.push(s.len() as u8);
    } else {
        out.push(0x40 | (s.len() >> 8) as u8);
        out.push(s.len() as u8);
    }
    out.extend_from_slice(s);
}

#[test]
fn prefixes_past_the_budget_are_dropped_not_kept() {
    // 400k keys, each its own namespace (`n000001q:x`): about 40 MiB of prefixes
    const KEYS: usize = 400_000;
    let dir = common::tempdir::Dir::new("memory-budget");
    let p = dir.path().join("prefixes.rdb");
    let mut body = Vec::with_capacity(KEYS * 16);
    for i in 0..KEYS {
        body.push(0);
        rdb_str(&mut body, format!("n{i:07}q:x").as_bytes());
        // values of many sizes, so that pruning drops by size, not by ties
        rdb_str(&mut body, &vec![b'v'; 20 + i % 200]);
    }
    dump_of(&p, &body);
    let f = p.to_str().unwrap();
    let (code, out, err) = common::rdbshift(&["memory", f, "--format", "json", "--budget", "4"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let t = &doc["totals"];
    assert_eq!(t["keys"].as_u64(), Some(KEYS as u64), "every key counted");
    let dropped = t["prefixes_dropped"].as_u64().unwrap();
    assert!(dropped > (KEYS / 2) as u64, "{dropped} prefixes dropped");
    let kept = doc["prefixes"]["children"].as_array().unwrap();
    assert!(kept.len() < KEYS / 4 && !kept.is_empty(), "{} prefixes kept", kept.len());
    // the biggest survive: every kept prefix is at least the size of most dropped ones
    let smallest = kept.iter().map(|p| p["memory_usage"].as_u64().unwrap()).min().unwrap();
    let biggest = kept.iter().map(|p| p["memory_usage"].as_u64().unwrap()).max().unwrap();
    assert!(biggest > smallest || kept.len() < 10, "kept {smallest}..{biggest}");
    assert!(t["prefix_error"].as_u64().unwrap() > 0, "the possible shortfall is said");
    // the tree's root still holds every key: the dropped ones show as the remainder
    assert_eq!(doc["prefixes"]["keys"].as_u64(), Some(KEYS as u64));
    // without a budget to speak of the table would be about 40 MiB: the peak stays near
    // the 4 MiB asked for (the rest is the program and the duplicate-key check)
    let (code, err, anon_kib) = common::proc::peak(
        &["memory", f, "--format", "text", "--budget", "4"],
        Duration::from_secs(120),
        "RssAnon",
    );
    assert_eq!(code, Some(0), "{err}");
    eprintln!("peak anonymous memory with a 4 MiB budget: {} KiB", anon_kib);
    // 400k prefixes unpruned take about 64 MiB (name and entry, ~160 bytes each)
    assert!(anon_kib > 1024 && anon_kib < 32 << 10, "peak {anon_kib} KiB");
}

#[test]
fn a_five_million_field_hash_streams_through() {
    const FIELDS: usize = 5_000_000;
    let dir = common::tempdir::Dir::new("memory-bighash");
    let p = dir.path().join("bighash.rdb");
    let mut body = Vec::with_capacity(FIELDS * 14 + 64);
    body.push(4); // a plain hash
    rdb_str(&mut body, b"big");
    body.extend_from_slice(&[0x80]);
    body.extend_from_slice(&(FIELDS as u32).to_be_bytes());
    for i in 0..FIELDS {
        rdb_str(&mut body, format!("f{i:08}").as_bytes());
        body.extend_from_slice(&[0xc0, (i % 100) as u8]);
    }
    dump_of(&p, &body);
    let f = p.to_str().unwrap();
    let (code, err, anon_kib) = common::proc::peak(
        &["memory", f, "--format", "csv", "-o", dir.path().join("k.csv").to_str().unwrap()],
        Duration::from_secs(300),
        "RssAnon",
    );
    assert_eq!(code, Some(0), "{err}");
    eprintln!("5M-field hash: peak anonymous memory {} MiB", anon_kib >> 10);
    assert!(anon_kib < 256 << 10, "peak {anon_kib} KiB over the 256 MiB budget");
    let csv = std::fs::read_to_string(dir.path().join("k.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(rdbshift::memory::render::KEY_COLUMNS));
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&row[..5], &["0", "big", "hash", "hashtable", &FIELDS.to_string()]);
    // at least each field's dict entry and two sds: 5M × (24 + 16 + 8)
    let bytes: u64 = row[5].parse().unwrap();
    assert!(bytes >= FIELDS as u64 * 48, "{bytes}");
}

#[test]
fn the_html_report_is_one_file_a_browser_draws() {
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let mut c = s.conn();
    fill(&mut c, 5, false);
    assert!(c.cmd(&["SAVE"]).unwrap().text().contains("OK"));
    let dir = common::tempdir::Dir::new("memory-html");
    let html = dir.path().join("report.html");
    let dump = s.dir.path().join("dump.rdb");
    let (code, _, err) =
        common::rdbshift(&["memory", dump.to_str().unwrap(), "-o", html.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("__RDBSHIFT_DATA__"), "the data went in");
    for net in ["http://", "https://", "src=\"//", "@import", "fetch("] {
        assert!(!page.contains(net), "the page would load {net}");
    }
    assert!(page.contains("\"set:\""), "the prefix tree is in the page");
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|b| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(b).is_file()))
    });
    let Some(chromium) = chromium else {
        common::missing("chromium", "scripts/install-servers.sh installs it");
        return;
    };
    let shot = dir.path().join("shot.png");
    let mut cmd = std::process::Command::new(chromium);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--window-size=1400,1600",
        &format!("--screenshot={}", shot.display()),
        &format!("file://{}", html.display()),
    ]);
    let out = common::proc::run_with(cmd, None, Duration::from_secs(120));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.len() > 20_000, "a screenshot of a drawn page ({} bytes)", png.len());
    // the DOM after the scripts ran: the flame graph's canvas and the tables are filled
    let mut cmd = std::process::Command::new(chromium);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--dump-dom",
        &format!("file://{}", html.display()),
    ]);
    let out = common::proc::run_with(cmd, None, Duration::from_secs(120));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    let blocks = dom
        .split("data-blocks=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse::<u32>().ok());
    assert!(blocks.is_some_and(|n| n >= 5), "the flame graph drew {blocks:?} blocks");
    assert!(dom.contains("z:lp:") || dom.contains("h:ht:"), "top keys listed");
}

#[test]
fn load_pre_flight_weighs_the_keys_with_the_model() {
    let Some(w) = Server::start_ok("redis-7.0", None, &[]) else { return };
    fill(&mut w.conn(), 29, false);
    assert!(w.conn().cmd(&["SAVE"]).unwrap().text().contains("OK"));
    let dump = w.dir.path().join("dump.rdb");
    let f = dump.to_str().unwrap();
    let (code, out, err) = common::rdbshift(&["memory", f, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let dataset = doc["totals"]["dataset"].as_f64().unwrap();
    let small = ["--maxmemory", "3mb"];
    let Some(t) = Server::start_ok("redis-7.0", None, &small) else { return };
    let url = t.url();
    let report = w.dir.path().join("pre.json");
    let (code, _, err) = common::rdbshift(&[
        "load",
        f,
        "--target",
        &url,
        "--dry-run",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("needs about"), "{err}");
    assert!(
        err.contains("the load may run out of memory") && err.contains("sampled keys"),
        "{err}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let nodes = r["preflight"]["nodes"].as_object().expect("pre-flight nodes in the report");
    let needs = nodes.values().next().unwrap()["needs"].as_f64().expect("needs");
    // a dump this small fits the sample's budget: read whole, its estimate is the whole
    // file's (its first keys alone were 3% under to 41% over, as the server's hash order
    // put them)
    assert!((needs / dataset - 1.0).abs() < 0.02, "sampled {needs}, whole file {dataset}");
    // room enough: no warning
    let Some(t) = Server::start_ok("redis-7.0", None, &["--maxmemory", "200mb"]) else { return };
    let (code, _, err) = common::rdbshift(&["load", f, "--target", &t.url(), "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("needs about") && !err.contains("run out of memory"), "{err}");
}

#[test]
fn a_damaged_dump_is_named_and_the_report_says_incomplete() {
    let dir = common::tempdir::Dir::new("memory-damaged");
    let p = dir.path().join("cut.rdb");
    let mut body = Vec::new();
    for i in 0..50 {
        body.push(0);
        rdb_str(&mut body, format!("k:{i}").as_bytes());
        rdb_str(&mut body, &[b'v'; 100]);
    }
    dump_of(&p, &body);
    let whole = std::fs::read(&p).unwrap();
    // cut inside the 31st key's value
    let cut = 9 + 30 * (1 + 1 + 4 + 2 + 100) + 20;
    std::fs::write(&p, &whole[..cut]).unwrap();
    let f = p.to_str().unwrap();
    let (code, out, err) = common::rdbshift(&["memory", f]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("byte offset") && err.contains("k:30"), "{err}");
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("INCOMPLETE"), "{text}");
    let (code, out, err) = common::rdbshift(&["memory", f, "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["totals"]["keys"].as_u64(), Some(30), "the keys before the damage");
    assert_eq!(doc["incomplete"].as_array().map(|a| a.len()), Some(1));
    // what cannot be estimated is said before anything is read
    for bad in [
        &["--as", "seven"][..],
        &["--allocator", "tcmalloc"],
        &["--config", "hash-max-listpack-entries=lots"],
        &["--config", "maxmemory=1"],
    ] {
        let mut args = vec!["memory", f];
        args.extend_from_slice(bad);
        let (code, _, err) = common::rdbshift(&args);
        assert_ne!(code, 0, "{bad:?}: {err}");
        assert!(!err.is_empty(), "{bad:?}");
    }
}
