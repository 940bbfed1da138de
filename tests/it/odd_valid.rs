//! Odd but valid dumps, made by real servers: every mode reads them, with no warning the
//! server would not give, and loads them back exactly (verify).
//!
//! - On every server of the matrix: streams after `XDEL`/`XTRIM`/`XADD MAXLEN` with consumer
//!   groups and pending entries, a stream deleted down to empty with its group kept, hashes,
//!   sets and sorted sets shrunk by deletions below and across their encoding thresholds, a
//!   list trimmed to one element, keys expiring at the edges (1 ms, the year 2262).
//! - A stream whose stored length is larger than its live entries, as old servers left them:
//!   every server loads it and `XLEN` says the stored length; so do `inspect`, a `RESTORE`
//!   load and verify. Commands cannot set it: that is said, counted, and `--strict` fails.

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::checksum::crc64;
use crate::common::resp::Conn;
use crate::common::resp::Reply;
use common::{SERVERS, Server, rdbshift};

fn call(c: &mut Conn, args: &[&str]) -> Reply {
    let r = c.cmd(args).unwrap();
    assert!(!matches!(r, Reply::Error(_)), "{args:?}: {r:?}");
    r
}

/// Fills `c` (a server `name`) with odd but valid data; returns the number of keys.
fn odd_data(c: &mut Conn, name: &str) -> u64 {
    let mut n = 0;
    // a stream capped, trimmed and with deletions, a group with pending entries
    for i in 0..100 {
        call(c, &["XADD", "s:trimmed", "MAXLEN", "60", "*", "f", &format!("v{i}")]);
    }
    call(c, &["XTRIM", "s:trimmed", "MAXLEN", "40"]);
    let Reply::Array(Some(ids)) = call(c, &["XRANGE", "s:trimmed", "-", "+", "COUNT", "5"]) else {
        panic!()
    };
    for e in ids.iter().take(3) {
        let Reply::Array(Some(f)) = e else { panic!() };
        let Reply::Bulk(Some(id)) = &f[0] else { panic!() };
        call(c, &["XDEL", "s:trimmed", std::str::from_utf8(id).unwrap()]);
    }
    call(c, &["XGROUP", "CREATE", "s:trimmed", "g", "0"]);
    call(c, &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "10", "STREAMS", "s:trimmed", ">"]);
    call(c, &["XREADGROUP", "GROUP", "g", "bob", "COUNT", "5", "STREAMS", "s:trimmed", ">"]);
    n += 1;
    // a stream deleted down to empty, its group kept
    let Reply::Bulk(Some(id)) = call(c, &["XADD", "s:empty", "*", "f", "v"]) else { panic!() };
    call(c, &["XGROUP", "CREATE", "s:empty", "g", "$"]);
    call(c, &["XDEL", "s:empty", std::str::from_utf8(&id).unwrap()]);
    n += 1;
    // collections grown past their compact encodings and shrunk below them again, and
    // small ones shrunk inside them
    let fields: Vec<String> = (0..600).map(|i| format!("f{i}")).collect();
    for (key, keep) in [("h:big-shrunk", 3), ("h:small-shrunk", 1)] {
        let many = if key == "h:big-shrunk" { 600 } else { 10 };
        let mut a = vec!["HSET", key];
        for f in &fields[..many] {
            a.extend([f.as_str(), "v"]);
        }
        call(c, &a);
        let mut d = vec!["HDEL", key];
        d.extend(fields[keep..many].iter().map(String::as_str));
        call(c, &d);
        n += 1;
    }
    let ints: Vec<String> = (0..600).map(|i| (i * 7).to_string()).collect();
    let mut a = vec!["SADD", "set:ints-shrunk"];
    a.extend(ints.iter().map(String::as_str));
    call(c, &a);
    let mut d = vec!["SREM", "set:ints-shrunk"];
    d.extend(ints[2..].iter().map(String::as_str));
    call(c, &d);
    let mut a = vec!["SADD", "set:strs-shrunk"];
    a.extend(fields[..200].iter().map(String::as_str));
    call(c, &a);
    let mut d = vec!["SREM", "set:strs-shrunk"];
    d.extend(fields[1..200].iter().map(String::as_str));
    call(c, &d);
    n += 2;
    let mut a = vec!["ZADD", "z:shrunk"];
    let scores: Vec<String> = (0..200).map(|i| format!("{}.5", i)).collect();
    for i in 0..200 {
        a.extend([scores[i].as_str(), fields[i].as_str()]);
    }
    call(c, &a);
    let mut d = vec!["ZREM", "z:shrunk"];
    d.extend(fields[2..200].iter().map(String::as_str));
    call(c, &d);
    n += 1;
    let mut a = vec!["RPUSH", "l:one"];
    a.extend(fields[..1000.min(fields.len())].iter().map(String::as_str));
    call(c, &a);
    call(c, &["LTRIM", "l:one", "0", "0"]);
    n += 1;
    // expiries at the edges: the year 2262, and 1 ms (set last; it may be gone by the save)
    call(c, &["SET", "ttl:2262", "v"]);
    call(c, &["PEXPIREAT", "ttl:2262", "9223372036854"]);
    call(c, &["SET", "ttl:plain", "v"]);
    n += 2;
    assert!(!name.is_empty());
    n
}

fn no_warning(what: &str, code: i32, err: &str) {
    assert_eq!(code, 0, "{what}: {err}");
    // Redis Stack writes module aux records, which no command carries: a real loss
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("warning") && !l.contains("module aux record(s) not converted"))
        .collect();
    assert!(said.is_empty(), "{what}: a warning the server would not give: {err}");
}

#[test]
fn odd_but_valid_dumps_of_every_server_are_read_in_every_mode() {
    let mut tried = 0;
    for name in SERVERS {
        let Some(s) = Server::start_ok(name, None, &[]) else { continue };
        let mut c = s.conn();
        let keys = odd_data(&mut c, name);
        call(&mut c, &["SET", "ttl:1ms", "v"]);
        call(&mut c, &["PEXPIRE", "ttl:1ms", "1"]);
        call(&mut c, &["SAVE"]);
        let dir = common::tempdir::Dir::new("odd");
        let f = dir.path().join(format!("{name}-odd.rdb"));
        std::fs::copy(s.dir.path().join("dump.rdb"), &f).unwrap();
        let fs = f.to_str().unwrap();
        let (code, out, err) = rdbshift(&["inspect", fs, "--include-expired"]);
        no_warning(&format!("{name} inspect"), code, &err);
        let listed = out.iter().filter(|&&b| b == b'\n').count() as u64;
        assert!(listed == keys || listed == keys + 1, "{name}: {listed} keys listed, {keys} made");
        let (code, _, err) = rdbshift(&["info", fs]);
        no_warning(&format!("{name} info"), code, &err);
        let resp = dir.path().join("out.resp");
        let (code, _, err) = rdbshift(&["convert", fs, "-o", resp.to_str().unwrap()]);
        no_warning(&format!("{name} convert"), code, &err);
        for mode in ["restore", "commands"] {
            let t = Server::start_ok(name, None, &[]).unwrap();
            // --strict: nothing may be lost (Redis Stack's module aux records excepted)
            let url = t.url();
            let mut args = vec!["load", fs, "--target", &url, "--mode", mode];
            if !name.starts_with("redis-stack") {
                args.push("--strict");
            }
            let (code, _, err) = rdbshift(&args);
            no_warning(&format!("{name} load {mode}"), code, &err);
            let a = common::accounting(&err);
            assert_eq!(a[0], listed, "{name} {mode}: {err}");
            assert_eq!(a[1] + a[5], a[0], "{name} {mode}: loaded + expired = keys: {err}");
            assert!(a[1] >= keys - 1, "{name} {mode}: {err}");
            let (code, _, err) = rdbshift(&["verify", fs, "--target", &t.url(), "--strict"]);
            assert_eq!(code, 0, "{name} {mode} verify: {err}");
            assert!(
                err.contains(" 0 different") && err.contains(" 0 not comparable"),
                "{name} {mode}: {err}"
            );
            // what the target holds is what the server that wrote the dump held
            let mut tc = t.conn();
            for (cmd, key) in [
                ("XLEN", "s:trimmed"),
                ("XLEN", "s:empty"),
                ("HLEN", "h:big-shrunk"),
                ("LLEN", "l:one"),
            ] {
                assert_eq!(
                    tc.cmd(&[cmd, key]).unwrap(),
                    c.cmd(&[cmd, key]).unwrap(),
                    "{name} {mode}: {cmd} {key}"
                );
            }
            let xinfo =
                |c: &mut Conn| format!("{:?}", c.cmd(&["XINFO", "GROUPS", "s:empty"]).unwrap());
            assert_eq!(xinfo(&mut tc), xinfo(&mut c), "{name} {mode}: the empty stream's group");
        }
        tried += 1;
    }
    assert!(tried >= 6, "only {tried} servers of the matrix are installed");
}

/// A dump of `server` with a stream whose stored length is 120 while it holds 118 entries
/// (made by a real server, the length patched as old servers left it, the CRC fixed).
fn long_stream(server: &str, dir: &Path) -> PathBuf {
    let s = Server::start_ok(server, None, &[]).expect("installed");
    let mut c = s.conn();
    for i in 1..=120 {
        call(&mut c, &["XADD", "trim", &format!("{i}-1"), "f", &format!("v{i}")]);
    }
    call(&mut c, &["XDEL", "trim", "5-1", "6-1"]);
    call(&mut c, &["XGROUP", "CREATE", "trim", "g", "0"]);
    call(&mut c, &["XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "trim", ">"]);
    call(&mut c, &["SAVE"]);
    let mut d = std::fs::read(s.dir.path().join("dump.rdb")).unwrap();
    // after the nodes: length 118 (0x40 0x76), last ID 120-1 (0x40 0x78, 0x01)
    let at = d
        .windows(5)
        .position(|w| w == [0x40, 0x76, 0x40, 0x78, 0x01])
        .expect("the stream's length");
    assert_eq!(d.windows(5).filter(|w| *w == [0x40, 0x76, 0x40, 0x78, 0x01]).count(), 1);
    d[at + 1] = 120;
    let n = d.len();
    let crc = crc64(&d[..n - 8]);
    d[n - 8..].copy_from_slice(&crc.to_le_bytes());
    let p = dir.join(format!("{server}-long-stream.rdb"));
    std::fs::write(&p, d).unwrap();
    p
}

fn xlen(s: &Server) -> Reply {
    s.conn().cmd(&["XLEN", "trim"]).unwrap()
}

#[test]
fn a_stream_longer_than_its_entries_is_carried_as_stored() {
    let dir = common::tempdir::Dir::new("longstream");
    for server in ["redis-5.0", "redis-7.0", "redis-8.6", "valkey-8.0"] {
        if common::server_bin(server).is_none() {
            continue;
        }
        let f = long_stream(server, dir.path());
        let fs = f.to_str().unwrap();
        // the server itself loads it, and says 120
        let orig = Server::start_ok(server, Some(&f), &[]).unwrap();
        assert_eq!(xlen(&orig), Reply::Int(120), "{server} loads it as stored");
        let (code, out, err) = rdbshift(&["inspect", fs]);
        no_warning(&format!("{server} inspect"), code, &err);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["value"]["length"], 120, "{server}: {v}");
        assert_eq!(v["value"]["entries"].as_array().unwrap().len(), 118, "{server}");
        // info says it, as an oddity, not a warning
        let (code, out, err) = rdbshift(&["info", fs]);
        no_warning(&format!("{server} info"), code, &err);
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("odd but loadable (every server loads them as stored): 1 streams whose stored length is not their live entries"), "{server}: {out}");
        // RESTORE carries the stored length, and verify agrees
        let t = Server::start_ok(server, None, &[]).unwrap();
        let (code, _, err) =
            rdbshift(&["load", fs, "--target", &t.url(), "--mode", "restore", "--strict"]);
        no_warning(&format!("{server} load restore"), code, &err);
        assert_eq!(xlen(&t), Reply::Int(120), "{server}");
        let (code, _, err) = rdbshift(&["verify", fs, "--target", &t.url(), "--strict"]);
        assert_eq!(code, 0, "{server} verify: {err}");
        // commands cannot set it: said, counted, and --strict fails; verify says it could
        // not compare the length (and compared everything else)
        let t = Server::start_ok(server, None, &[]).unwrap();
        let (code, _, err) = rdbshift(&["load", fs, "--target", &t.url(), "--mode", "commands"]);
        assert_eq!(code, 0, "{server}: {err}");
        assert!(
            err.contains("1 stream(s) whose stored length is not their live entries"),
            "{server}: {err}"
        );
        assert_eq!(xlen(&t), Reply::Int(118), "{server}");
        let (code, _, err) = rdbshift(&["verify", fs, "--target", &t.url()]);
        assert_eq!(code, 0, "{server} verify: {err}");
        assert!(
            err.contains("not comparable: 1 stream lengths: the stored length (120)"),
            "{server}: {err}"
        );
        let (code, _, _) = rdbshift(&["verify", fs, "--target", &t.url(), "--strict"]);
        assert_eq!(code, 2, "{server}");
        let (code, _, err) =
            rdbshift(&["load", fs, "--target", &t.url(), "--mode", "commands", "--strict"]);
        assert_eq!(code, 2, "{server}: {err}");
    }
    // Valkey 9 refuses such a stream, in a file and in a RESTORE: it goes there as commands,
    // with the loss said
    let f = long_stream("redis-7.0", dir.path());
    let Some(v9) = Server::start("valkey-9.1", Some(&f), &[]) else { return };
    assert!(v9.is_err(), "Valkey 9.1 refuses the file itself");
    let t = Server::start_ok("valkey-9.1", None, &[]).unwrap();
    let (code, _, err) =
        rdbshift(&["load", f.to_str().unwrap(), "--target", &t.url(), "--mode", "restore"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 stream(s) whose stored length is not their live entries"), "{err}");
    assert_eq!(xlen(&t), Reply::Int(118));
    let (code, _, err) = rdbshift(&["verify", f.to_str().unwrap(), "--target", &t.url()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not comparable: 1 stream lengths"), "{err}");
}
