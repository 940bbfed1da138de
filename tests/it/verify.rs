//! `rdbshift verify` against real servers: it passes after a clean load (every server, both
//! load modes, PELs compared whole and in pages) with the number of keys the dump selects,
//! and it fails, naming the key and what differs, after each kind of tampering: deleted,
//! renamed, re-expired keys and changed elements; stream groups, last-delivered-ids,
//! entries-read, pending entries (acked, claimed by another consumer, delivery time) and
//! consumers; RedisJSON values changed or replaced; keys in the wrong db; keys added
//! (`--extra`, standalone and cluster). Filters select exactly what `inspect` lists, and
//! binary key names are printed as redis-cli quotes them.

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::checksum::quote;
use crate::common::resp::Conn;
use crate::common::resp::Reply;
use common::cluster::Cluster;
use common::datagen::scan;
use common::{Server, corpus, rdbshift};
use serde_json::Value;

/// What one `verify` run said.
#[derive(Debug)]
struct Outcome {
    code: i32,
    err: String,
    checked: u64,
    missing: u64,
    different: u64,
    expired: u64,
    /// `--extra` only.
    extra: Option<u64>,
    scanned: Option<u64>,
}

/// The number right before `tag` in `s` (`"12 missing"`), or after it (`"checked 12"`).
fn num_before(s: &str, tag: &str) -> Option<u64> {
    let i = s.find(tag)?;
    s[..i].trim_end().rsplit([' ', '(']).next()?.parse().ok()
}

fn num_after(s: &str, tag: &str) -> Option<u64> {
    let i = s.find(tag)? + tag.len();
    s[i..].trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

fn verify(file: &Path, url: &str, args: &[&str]) -> Outcome {
    let mut all = vec!["verify", file.to_str().unwrap(), "--target", url];
    all.extend_from_slice(args);
    let (code, _, err) = rdbshift(&all);
    let line = err.lines().find(|l| l.contains("rdbshift: checked ")).unwrap_or("").to_string();
    let extra_line =
        err.lines().find(|l| l.starts_with("rdbshift: extra: ")).unwrap_or("").to_string();
    Outcome {
        code,
        checked: num_after(&line, "checked").unwrap_or(u64::MAX),
        missing: num_before(&line, " missing").unwrap_or(u64::MAX),
        different: num_before(&line, " different").unwrap_or(u64::MAX),
        expired: num_before(&line, " expired").unwrap_or(u64::MAX),
        extra: num_after(&extra_line, "rdbshift: extra:"),
        scanned: num_before(&extra_line, " scanned)"),
        err,
    }
}

/// Asserts a clean pass over exactly `n` keys.
fn passes(o: &Outcome, n: usize) {
    assert_eq!((o.code, o.checked, o.missing, o.different), (0, n as u64, 0, 0), "{}", o.err);
}

/// Asserts exactly one different key, named with `what` in its line.
fn one_different(o: &Outcome, n: usize, key: &[u8], what: &str) {
    assert_eq!((o.code, o.checked, o.missing, o.different), (1, n as u64, 0, 1), "{}", o.err);
    let line = format!("different: {}: {what}", quote(key));
    assert!(o.err.contains(&line), "expected {line:?} in:\n{}", o.err);
}

fn load(file: &Path, url: &str, args: &[&str]) {
    let mut all = vec!["load", file.to_str().unwrap(), "--target", url];
    all.extend_from_slice(args);
    let (code, _, err) = rdbshift(&all);
    assert_eq!(code, 0, "load: {err}");
}

/// The keys `inspect` lists with these filter arguments (what verify must check).
fn listed(file: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["inspect", file.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = rdbshift(&all);
    assert_eq!(code, 0, "{err}");
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

fn bytes(v: &Value) -> Vec<u8> {
    common::compare::jbytes(v)
}

fn call(c: &mut Conn, args: &[&[u8]]) -> Reply {
    let r = c.call(args).unwrap();
    assert!(
        !r.is_error(),
        "{:?}: {}",
        args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>(),
        r.text()
    );
    r
}

fn select(c: &mut Conn, db: u64) {
    call(c, &[b"SELECT", db.to_string().as_bytes()]);
}

fn compact(server: &str) -> PathBuf {
    corpus().join(format!("servers/{server}-compact-seed1.rdb"))
}

/// A dump written by `server` (started fresh) after `fill` ran on it.
fn dump_of(
    server: &str,
    dir: &common::tempdir::Dir,
    name: &str,
    fill: impl FnOnce(&mut Conn),
) -> Option<PathBuf> {
    let s = Server::start_ok(server, None, &[])?;
    let mut c = s.conn();
    fill(&mut c);
    call(&mut c, &[b"SAVE"]);
    let p = dir.path().join(name);
    std::fs::copy(s.dir.path().join("dump.rdb"), &p).unwrap();
    Some(p)
}

/// Loaded with `RESTORE` and with commands, compared whole (6.0+) and with every PEL in
/// `XPENDING` pages, sampled: every run passes with exactly the keys `inspect` lists.
#[test]
fn clean_load_passes_on_every_server() {
    for server in common::SERVERS {
        let f = compact(server);
        let n = listed(&f, &[]).len();
        assert_eq!(
            n,
            listed(&f, &["--include-expired"]).len(),
            "{server}: the corpus has expired keys"
        );
        assert!(n >= 100, "{server}: {n} keys");
        let Some(s) = Server::start_ok(server, None, &[]) else { continue };
        let url = s.url();
        for mode in ["restore", "commands"] {
            call(&mut s.conn(), &[b"FLUSHALL"]);
            load(&f, &url, &["--mode", mode]);
            let o = verify(&f, &url, &[]);
            passes(&o, n);
            eprintln!("{server} {mode}: {}", o.err.lines().next().unwrap_or(""));
            passes(&verify(&f, &url, &["--pel-exact", "0"]), n);
        }
        // a sample: every (n / 10)-th key
        let every = n / 10;
        passes(&verify(&f, &url, &["--sample", "10"]), n.div_ceil(every));
    }
}

/// A deleted, a renamed, a re-expired key and a changed field deep in a hash.
fn keys_and_elements(server: &str) {
    let f = compact(server);
    let n = listed(&f, &[]).len();
    let Some(s) = Server::start_ok(server, None, &[]) else { return };
    let url = s.url();
    load(&f, &url, &[]);
    passes(&verify(&f, &url, &[]), n);

    let mut c = s.conn();
    let mut keys = scan(&mut c, "*");
    keys.sort();
    let (del, ren, ttl) = (&keys[0], &keys[1], &keys[2]);
    assert!(matches!(call(&mut c, &[b"DEL", del]), Reply::Int(1)));
    let mut renamed = ren.clone();
    renamed.extend_from_slice(b"-renamed");
    call(&mut c, &[b"RENAME", ren, &renamed]);
    call(&mut c, &[b"PEXPIREAT", ttl, b"99999999999999"]);
    let hash = keys
        .iter()
        .find(|k| call(&mut c, &[b"TYPE", k]) == Reply::Status(b"hash".to_vec()))
        .unwrap()
        .clone();
    let Reply::Array(Some(fields)) = call(&mut c, &[b"HKEYS", &hash]) else { panic!() };
    let Reply::Bulk(Some(f0)) = &fields[fields.len() - 1] else { panic!() };
    call(&mut c, &[b"HSET", &hash, f0, b"changed!"]);

    let o = verify(&f, &url, &[]);
    assert_eq!((o.code, o.checked, o.missing, o.different), (1, n as u64, 2, 2), "{}", o.err);
    for k in [del, ren] {
        assert!(o.err.contains(&format!("missing: {}\n", quote(k))), "{k:?} not named: {}", o.err);
    }
    let what = if server == "redis-6.0" {
        "TTL"
    } else {
        "expiry 99999999999999 (5138-11-16T09:46:39.999Z), expected"
    };
    assert!(o.err.contains(&format!("different: {}: {what}", quote(ttl))), "{}", o.err);
    assert!(
        o.err.contains(&format!("different: {}: field {} differs", quote(&hash), quote(f0))),
        "{}",
        o.err
    );
}

#[test]
fn keys_and_elements_redis_6_0() {
    keys_and_elements("redis-6.0");
}

#[test]
fn keys_and_elements_redis_7_0() {
    keys_and_elements("redis-7.0");
}

#[test]
fn keys_and_elements_redis_8_6() {
    keys_and_elements("redis-8.6");
}

/// Each tampering of a stream's groups, on a fresh load of the dump: the key and the kind
/// of difference are named, and nothing else differs.
fn stream_groups(server: &str) {
    let f = compact(server);
    let all = listed(&f, &[]);
    let n = all.len();
    // a stream with a group that has pending entries and two consumers or more
    let (db, key, g) = all
        .iter()
        .filter(|j| j["type"] == "stream")
        .find_map(|j| {
            let g = j["value"]["groups"].as_array().unwrap().iter().find(|g| {
                !g["pel"].as_array().unwrap().is_empty()
                    && g["consumers"].as_array().unwrap().len() >= 2
            })?;
            Some((j["db"].as_u64().unwrap(), bytes(&j["key"]), g.clone()))
        })
        .expect("a stream with a PEL and two consumers");
    let group = bytes(&g["name"]);
    let pel0 = &g["pel"][0];
    let id = pel0["id"].as_str().unwrap().as_bytes().to_vec();
    let owner = bytes(&pel0["consumer"]);
    let other = g["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| bytes(&c["name"]))
        .find(|c| *c != owner)
        .unwrap();
    let pending = g["pel"].as_array().unwrap().len();
    let last = g["last_delivered_id"].as_str().unwrap().to_string();

    let Some(s) = Server::start_ok(server, None, &[]) else { return };
    let url = s.url();
    let full = server != "redis-5.0";
    let counters = !server.starts_with("redis-5") && !server.starts_with("redis-6");
    let mut c = s.conn();
    // (command, what verify must say, also through XPENDING pages)
    let mut cases: Vec<(Vec<Vec<u8>>, String, bool)> = vec![
        (
            vec![b"XGROUP".to_vec(), b"DESTROY".to_vec(), key.clone(), group.clone()],
            format!("consumer group {} missing", quote(&group)),
            false,
        ),
        (
            vec![
                b"XGROUP".to_vec(),
                b"CREATE".to_vec(),
                key.clone(),
                b"newgroup".to_vec(),
                b"0".to_vec(),
            ],
            "extra consumer group newgroup".into(),
            false,
        ),
        (
            vec![
                b"XGROUP".to_vec(),
                b"SETID".to_vec(),
                key.clone(),
                group.clone(),
                b"1-1".to_vec(),
            ],
            format!("group {}: last-delivered-id 1-1, expected {last}", quote(&group)),
            false,
        ),
        (
            vec![b"XACK".to_vec(), key.clone(), group.clone(), id.clone()],
            format!("group {}: {} pending entries, expected {pending}", quote(&group), pending - 1),
            false,
        ),
        (
            vec![
                b"XCLAIM".to_vec(),
                key.clone(),
                group.clone(),
                other.clone(),
                b"0".to_vec(),
                id.clone(),
                b"JUSTID".to_vec(),
            ],
            format!(
                "group {}: pending entry {} owned by {}, expected {}",
                quote(&group),
                String::from_utf8_lossy(&id),
                quote(&other),
                quote(&owner)
            ),
            true,
        ),
        (
            vec![
                b"XCLAIM".to_vec(),
                key.clone(),
                group.clone(),
                owner.clone(),
                b"0".to_vec(),
                id.clone(),
                b"JUSTID".to_vec(),
                b"TIME".to_vec(),
                b"1000".to_vec(),
            ],
            format!(
                "group {}: pending entry {} delivery time ",
                quote(&group),
                String::from_utf8_lossy(&id)
            ),
            true,
        ),
        (
            vec![
                b"XGROUP".to_vec(),
                b"DELCONSUMER".to_vec(),
                key.clone(),
                group.clone(),
                other.clone(),
            ],
            format!("group {}: consumer {} missing", quote(&group), quote(&other)),
            false,
        ),
    ];
    if counters {
        let er = if g["entries_read"] == 0 { "1" } else { "0" };
        cases.push((
            vec![
                b"XGROUP".to_vec(),
                b"SETID".to_vec(),
                key.clone(),
                group.clone(),
                last.as_bytes().to_vec(),
                b"ENTRIESREAD".to_vec(),
                er.as_bytes().to_vec(),
            ],
            format!("group {}: entries-read {er}, expected ", quote(&group)),
            false,
        ));
    }
    for (cmd, what, paged) in &cases {
        call(&mut c, &[b"FLUSHALL"]);
        load(&f, &url, &[]);
        passes(&verify(&f, &url, &[]), n);
        select(&mut c, db);
        let args: Vec<&[u8]> = cmd.iter().map(|a| &a[..]).collect();
        call(&mut c, &args);
        one_different(&verify(&f, &url, &[]), n, &key, what);
        if full && *paged {
            // the same through XPENDING pages
            one_different(&verify(&f, &url, &["--pel-exact", "0"]), n, &key, what);
        }
    }
}

#[test]
fn stream_groups_redis_5_0() {
    stream_groups("redis-5.0");
}

#[test]
fn stream_groups_redis_7_0() {
    stream_groups("redis-7.0");
}

#[test]
fn stream_groups_redis_8_6() {
    stream_groups("redis-8.6");
}

#[test]
fn stream_groups_valkey_9_1() {
    stream_groups("valkey-9.1");
}

/// A PEL of 2500 entries (two consumers) is read in `XPENDING` pages; a claimed entry deep
/// in it, a changed delivery time and an acknowledged entry are each found.
#[test]
fn long_pel_in_pages() {
    let dir = common::tempdir::Dir::new("verify");
    let Some(f) = dump_of("redis-8.6", &dir, "pel.rdb", |c| {
        for i in 1..=2500 {
            call(c, &[b"XADD", b"s", format!("{i}-1").as_bytes(), b"f", b"v"]);
        }
        call(c, &[b"XGROUP", b"CREATE", b"s", b"g", b"0"]);
        call(
            c,
            &[b"XREADGROUP", b"GROUP", b"g", b"alice", b"COUNT", b"1500", b"STREAMS", b"s", b">"],
        );
        call(
            c,
            &[b"XREADGROUP", b"GROUP", b"g", b"bob", b"COUNT", b"1000", b"STREAMS", b"s", b">"],
        );
    }) else {
        return;
    };
    let s = Server::start_ok("redis-8.6", None, &[]).unwrap();
    let url = s.url();
    let mut c = s.conn();
    let cases: [(&[&[u8]], &str); 3] = [
        (
            &[b"XCLAIM", b"s", b"g", b"bob", b"0", b"1200-1", b"JUSTID"],
            "group g: pending entry 1200-1 owned by bob, expected alice",
        ),
        (
            &[b"XCLAIM", b"s", b"g", b"bob", b"0", b"2300-1", b"JUSTID", b"TIME", b"1000"],
            "group g: pending entry 2300-1 delivery time about ",
        ),
        (&[b"XACK", b"s", b"g", b"2400-1"], "group g: 2499 pending entries, expected 2500"),
    ];
    for (cmd, what) in cases {
        call(&mut c, &[b"FLUSHALL"]);
        load(&f, &url, &[]);
        passes(&verify(&f, &url, &[]), 1);
        passes(&verify(&f, &url, &["--pel-exact", "5000"]), 1);
        call(&mut c, cmd);
        one_different(&verify(&f, &url, &[]), 1, b"s", what);
    }
}

/// RedisJSON values (and the other Stack modules' values) compared by their `DUMP` bytes:
/// a value changed with `JSON.SET`, and a module key replaced by a plain string.
#[test]
fn module_values_redis_stack() {
    let f = compact("redis-stack-7.4");
    let n = listed(&f, &[]).len();
    let json = listed(&f, &["--type", "ReJSON-RL"]);
    let modules = listed(&f, &["--type", "module"]).len();
    assert!(
        json.len() >= 10 && modules > json.len(),
        "{} JSON of {modules} module values",
        json.len()
    );
    let Some(s) = Server::start_ok("redis-stack-7.4", None, &[]) else { return };
    let url = s.url();
    load(&f, &url, &[]);
    passes(&verify(&f, &url, &[]), n);
    passes(&verify(&f, &url, &["--type", "ReJSON-RL"]), json.len());
    passes(&verify(&f, &url, &["--type", "module"]), modules);

    let mut c = s.conn();
    let (db0, k0) = (json[0]["db"].as_u64().unwrap(), bytes(&json[0]["key"]));
    let (db1, k1) = (json[1]["db"].as_u64().unwrap(), bytes(&json[1]["key"]));
    select(&mut c, db0);
    call(&mut c, &[b"JSON.SET", &k0, b"$", br#"{"changed":true}"#]);
    one_different(&verify(&f, &url, &[]), n, &k0, "module value differs");
    one_different(
        &verify(&f, &url, &["--type", "ReJSON-RL"]),
        json.len(),
        &k0,
        "module value differs",
    );

    load(&f, &url, &[]);
    select(&mut c, db1);
    call(&mut c, &[b"DEL", &k1]);
    call(&mut c, &[b"SET", &k1, br#"{"a":1}"#]);
    one_different(&verify(&f, &url, &[]), n, &k1, "type string, expected ReJSON-RL");
}

/// `--to-db` and a URL's `/db` map every dump key to that db, as `load` does; a key moved
/// out of it is missing there.
#[test]
fn db_mapping() {
    let f = compact("redis-7.0");
    let db5 = listed(&f, &["--db", "5"]);
    let n = db5.len();
    assert!(n >= 20, "{n} keys in db 5");
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let url = s.url();
    load(&f, &url, &["--db", "5", "--to-db", "3"]);
    passes(&verify(&f, &url, &["--db", "5", "--to-db", "3"]), n);
    passes(&verify(&f, &format!("{url}/3"), &["--db", "5"]), n);
    // in their own db, and in another one, nothing is there
    for (u, args) in [(url.clone(), vec!["--db", "5"]), (format!("{url}/4"), vec!["--db", "5"])] {
        let o = verify(&f, &u, &args);
        assert_eq!(
            (o.code, o.checked, o.missing, o.different),
            (1, n as u64, n as u64, 0),
            "{}",
            o.err
        );
    }
    // one key in the wrong db
    let moved = bytes(&db5[0]["key"]);
    let mut c = s.conn();
    select(&mut c, 3);
    assert_eq!(call(&mut c, &[b"MOVE", &moved, b"4"]), Reply::Int(1));
    let o = verify(&f, &url, &["--db", "5", "--to-db", "3"]);
    assert_eq!((o.code, o.checked, o.missing, o.different), (1, n as u64, 1, 0), "{}", o.err);
    assert!(o.err.contains(&format!("missing: {}\n", quote(&moved))), "{}", o.err);
    let o = verify(&f, &format!("{url}/4"), &["--db", "5"]);
    assert_eq!((o.missing, o.different), (n as u64 - 1, 0), "{}", o.err);
}

/// `--type`, `--db` and `--key` check exactly the keys `inspect` selects; a changed string
/// is found only when strings are selected.
#[test]
fn filters_select_what_inspect_lists() {
    let f = compact("redis-8.6");
    let Some(s) = Server::start_ok("redis-8.6", None, &[]) else { return };
    let url = s.url();
    load(&f, &url, &[]);
    let hashes = listed(&f, &["--type", "hash"]).len();
    assert!(hashes >= 20, "{hashes} hashes");
    passes(&verify(&f, &url, &["--type", "hash"]), hashes);
    let several =
        listed(&f, &["--db", "1", "--db", "15", "--key", "k*", "--type", "set", "--type", "zset"])
            .len();
    assert!(several >= 5, "{several}");
    passes(
        &verify(
            &f,
            &url,
            &["--db", "1", "--db", "15", "--key", "k*", "--type", "set", "--type", "zset"],
        ),
        several,
    );

    let strings = listed(&f, &["--type", "string", "--db", "0"]);
    let k = bytes(&strings[0]["key"]);
    let mut c = s.conn();
    call(&mut c, &[b"SET", &k, b"tampered"]);
    passes(&verify(&f, &url, &["--type", "hash"]), hashes);
    one_different(
        &verify(&f, &url, &["--type", "string", "--db", "0"]),
        strings.len(),
        &k,
        "value differs",
    );
}

/// Keys whose expiry passed, and a hash whose every field's TTL passed, are not expected:
/// counted as expired, with or without `--include-expired`.
#[test]
fn expired_keys_and_fields() {
    let dir = common::tempdir::Dir::new("verify");
    let Some(f) = dump_of("redis-8.6", &dir, "expiring.rdb", |c| {
        call(c, &[b"SET", b"live", b"1"]);
        call(c, &[b"SET", b"soon", b"2", b"PX", b"300"]);
        call(c, &[b"HSET", b"h-gone", b"f", b"v"]);
        call(c, &[b"HPEXPIRE", b"h-gone", b"300", b"FIELDS", b"1", b"f"]);
        call(c, &[b"HSET", b"h-half", b"f", b"v", b"g", b"w"]);
        call(c, &[b"HPEXPIRE", b"h-half", b"300", b"FIELDS", b"1", b"f"]);
    }) else {
        return;
    };
    std::thread::sleep(std::time::Duration::from_millis(600));
    let s = Server::start_ok("redis-8.6", None, &[]).unwrap();
    let url = s.url();
    let mut c = s.conn();
    // first with active expiry off: expired fields stay in the hashes (HLEN counts them)
    call(&mut c, &[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]);
    load(&f, &url, &[]);
    let held = call(&mut c, &[b"EXISTS", b"h-gone"]) == Reply::Int(1);
    eprintln!("h-gone held after the load: {held}");
    let o = verify(&f, &url, &[]);
    let (checked, expired) = if held { (3, 1) } else { (2, 2) };
    assert_eq!(
        (o.code, o.checked, o.missing, o.different, o.expired),
        (0, checked, 0, 0, expired),
        "{}",
        o.err
    );
    // a live field more: HLEN within what expired fields explain, HKEYS tells
    call(&mut c, &[b"HDEL", b"h-half", b"f"]);
    call(&mut c, &[b"HSET", b"h-half", b"x", b"y"]);
    let o = verify(&f, &url, &[]);
    assert_eq!((o.code, o.missing, o.different), (1, 0, 1), "{}", o.err);
    assert!(o.err.contains("different: h-half: 2 fields, expected 1"), "{}", o.err);
    call(&mut c, &[b"HSET", b"h-half", b"z", b"y"]);
    let o = verify(&f, &url, &[]);
    assert!(o.err.contains("different: h-half: 3 elements, expected 1"), "{}", o.err);

    // then as usual: the server reclaims expired fields soon after the load, and h-gone
    // goes with them
    call(&mut c, &[b"FLUSHALL"]);
    call(&mut c, &[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"1"]);
    load(&f, &url, &[]);
    let t = std::time::Instant::now();
    while call(&mut c, &[b"EXISTS", b"h-gone"]) != Reply::Int(0) {
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "h-gone was not reclaimed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for args in [&[][..], &["--include-expired"][..]] {
        let o = verify(&f, &url, args);
        assert_eq!(
            (o.code, o.checked, o.missing, o.different, o.expired),
            (0, 2, 0, 0, 2),
            "{}",
            o.err
        );
    }
    assert_eq!(listed(&f, &[]).len(), 2);
}

/// `--extra` finds keys the dump does not hold, in the dbs verified, and only those the
/// filters select; it scans every key there.
#[test]
fn extra_keys_standalone() {
    let f = compact("redis-8.6");
    let all = listed(&f, &[]);
    let n = all.len();
    let hashes = listed(&f, &["--type", "hash"]).len();
    let Some(s) = Server::start_ok("redis-8.6", None, &[]) else { return };
    let url = s.url();
    load(&f, &url, &[]);
    let o = verify(&f, &url, &["--extra"]);
    passes(&o, n);
    assert_eq!((o.extra, o.scanned), (Some(0), Some(n as u64)), "{}", o.err);

    let mut c = s.conn();
    call(&mut c, &[b"SET", b"stray", b"x"]);
    select(&mut c, 1);
    call(&mut c, &[b"HSET", b"stray-hash", b"f", b"v"]);
    select(&mut c, 7); // no dump key goes to db 7: not verified
    call(&mut c, &[b"SET", b"elsewhere", b"x"]);
    let o = verify(&f, &url, &["--extra"]);
    assert_eq!(
        (o.code, o.checked, o.missing, o.different, o.extra),
        (1, n as u64, 0, 0, Some(2)),
        "{}",
        o.err
    );
    assert_eq!(o.scanned, Some(n as u64 + 2));
    assert!(o.err.contains("extra: stray\n") && o.err.contains("extra: stray-hash\n"), "{}", o.err);
    let o = verify(&f, &url, &["--extra", "--type", "hash"]);
    assert_eq!((o.code, o.checked, o.extra), (1, hashes as u64, Some(1)), "{}", o.err);
    let o = verify(&f, &url, &["--extra", "--db", "0"]);
    assert_eq!((o.code, o.extra), (1, Some(1)), "{}", o.err);
    let o = verify(&f, &url, &["--extra", "--key", "k*"]);
    assert_eq!((o.code, o.extra), (0, Some(0)), "{}", o.err);
}

/// On a cluster: only db 0; `--extra` scans every master.
#[test]
fn cluster_db0_and_extra() {
    let f = compact("redis-7.0");
    let n = listed(&f, &["--db", "0"]).len();
    let Some(c) = Cluster::start("redis-7.0") else { return };
    let url = c.nodes[0].url();
    load(&f, &url, &["--db", "0"]);
    let o = verify(&f, &url, &["--db", "0", "--extra"]);
    passes(&o, n);
    assert_eq!((o.extra, o.scanned), (Some(0), Some(n as u64)), "{}", o.err);
    let o = verify(&f, &url, &[]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("a cluster has only db 0"), "{}", o.err);
    let (code, _, err) =
        rdbshift(&["verify", f.to_str().unwrap(), "--target", &url, "--db", "0", "--to-db", "3"]);
    assert!(code == 1 && err.contains("a cluster has only db 0"), "{err}");
    // a stray key in a slot the dump's keys hold, and one in a slot they do not (another
    // shard's, as far as this dump can tell): only the first is extra
    let slots: std::collections::BTreeSet<u16> = listed(&f, &["--db", "0"])
        .iter()
        .map(|k| crate::common::checksum::slot(&bytes(&k["key"])))
        .collect();
    let name = |inside: bool| {
        (0..)
            .map(|i| format!("stray-{i}"))
            .find(|k| slots.contains(&crate::common::checksum::slot(k.as_bytes())) == inside)
            .unwrap()
    };
    let (inside, outside) = (name(true), name(false));
    for k in [&inside, &outside] {
        let mut added = 0;
        for node in &c.nodes {
            if !node.conn().call(&[b"SET", k.as_bytes(), b"1"]).unwrap().is_error() {
                added += 1;
            }
        }
        assert_eq!(added, 1);
    }
    let o = verify(&f, &url, &["--db", "0", "--extra"]);
    assert_eq!(
        (o.code, o.checked, o.extra, o.scanned),
        (1, n as u64, Some(1), Some(n as u64 + 2)),
        "{}",
        o.err
    );
    assert!(o.err.contains(&format!("extra: {inside}\n")), "{}", o.err);
    assert!(
        o.err.contains(&format!("in the {} slots the dumps' keys hold", slots.len())),
        "{}",
        o.err
    );
}

/// Binary key names are printed quoted as redis-cli does (`\n`, `\xff`, spaces).
#[test]
fn binary_key_names_quoted() {
    let dir = common::tempdir::Dir::new("verify");
    let Some(f) = dump_of("redis-7.0", &dir, "binary.rdb", |c| {
        call(c, &[b"SET", b"bin\n\xffkey", b"v"]);
        call(c, &[b"HSET", b"sp ace", b"f\t1", b"v"]);
        call(c, &[b"SET", b"plain", b"v"]);
    }) else {
        return;
    };
    let s = Server::start_ok("redis-7.0", None, &[]).unwrap();
    let url = s.url();
    load(&f, &url, &[]);
    passes(&verify(&f, &url, &[]), 3);
    let mut c = s.conn();
    call(&mut c, &[b"DEL", b"bin\n\xffkey"]);
    call(&mut c, &[b"HSET", b"sp ace", b"f\t1", b"changed"]);
    let o = verify(&f, &url, &[]);
    assert_eq!((o.code, o.checked, o.missing, o.different), (1, 3, 1, 1), "{}", o.err);
    assert!(o.err.contains("rdbshift:   missing: \"bin\\n\\xffkey\"\n"), "{}", o.err);
    assert!(
        o.err.contains("rdbshift:   different: \"sp ace\": field \"f\\t1\" differs\n"),
        "{}",
        o.err
    );
}

/// Redis 8.6 streams' IDMP settings (the dump's `XCFGSET`) are compared too.
#[test]
fn idmp_settings_redis_8_6() {
    let f = compact("redis-8.6");
    let all = listed(&f, &[]);
    let n = all.len();
    let j = all
        .iter()
        .find(|j| {
            j["type"] == "stream" && !j["value"]["idmp"]["producers"].as_array().unwrap().is_empty()
        })
        .expect("a stream with IDMP producers");
    let (db, key) = (j["db"].as_u64().unwrap(), bytes(&j["key"]));
    let d = j["value"]["idmp"]["duration_s"].as_u64().unwrap();
    let m = j["value"]["idmp"]["max_size"].as_u64().unwrap();
    let Some(s) = Server::start_ok("redis-8.6", None, &[]) else { return };
    let url = s.url();
    load(&f, &url, &[]);
    passes(&verify(&f, &url, &[]), n);
    let mut c = s.conn();
    select(&mut c, db);
    let (d2, m2) = ((d % 1000 + 1).to_string(), m.to_string());
    call(
        &mut c,
        &[b"XCFGSET", &key, b"IDMP-DURATION", d2.as_bytes(), b"IDMP-MAXSIZE", m2.as_bytes()],
    );
    one_different(
        &verify(&f, &url, &[]),
        n,
        &key,
        &format!("stream idmp-duration {d2}, expected {d}"),
    );
}

/// Older dumps in newer servers (both modes): a type-15 stream's group gets the
/// entries-read a 7.0+ server derives, and verify expects exactly that.
#[test]
fn older_dumps_into_newer_servers() {
    for (src, dst) in
        [("redis-5.0", "redis-8.6"), ("redis-5.0", "valkey-9.1"), ("redis-6.2", "redis-7.0")]
    {
        let f = compact(src);
        let all = listed(&f, &[]);
        let n = all.len();
        let Some(s) = Server::start_ok(dst, None, &[]) else { continue };
        let url = s.url();
        let mut c = s.conn();
        for mode in ["restore", "commands"] {
            call(&mut c, &[b"FLUSHALL"]);
            load(&f, &url, &["--mode", mode]);
            passes(&verify(&f, &url, &[]), n);
        }
        // a group whose derived entries-read is known: moved, it is found
        // (the longest stream: a server clamps entries-read to entries-added)
        let (db, key, group, last) = all
            .iter()
            .filter(|j| j["type"] == "stream")
            .max_by_key(|j| j["value"]["length"].as_u64())
            .and_then(|j| {
                let g = j["value"]["groups"].as_array().unwrap().first()?;
                let last = g["last_delivered_id"].as_str().unwrap().to_string();
                Some((j["db"].as_u64().unwrap(), bytes(&j["key"]), bytes(&g["name"]), last))
            })
            .expect("a stream with a group");
        select(&mut c, db);
        let Reply::Array(Some(groups)) = call(&mut c, &[b"XINFO", b"GROUPS", &key]) else {
            panic!()
        };
        let derived =
            groups[0].array().chunks(2).find(|p| p[0].bytes() == Some(b"entries-read")).unwrap()[1]
                .clone();
        let moved = if derived == Reply::Int(0) { "1" } else { "0" };
        call(
            &mut c,
            &[b"XGROUP", b"SETID", &key, &group, last.as_bytes(), b"ENTRIESREAD", moved.as_bytes()],
        );
        one_different(
            &verify(&f, &url, &[]),
            n,
            &key,
            &format!("group {}: entries-read {moved}, expected ", quote(&group)),
        );
    }
}

/// A key whose type changed on the target is a difference, named with both types, and the
/// value commands' `WRONGTYPE` is not an error of the run.
#[test]
fn a_type_change_is_a_named_difference() {
    let dir = common::tempdir::Dir::new("verify-type");
    let f = dump_of("redis-7.0", &dir, "types.rdb", |c| {
        call(c, &[b"SET", b"str:plain", b"v"]);
        call(c, &[b"RPUSH", b"list", b"a", b"b"]);
        call(c, &[b"HSET", b"hash", b"f", b"v"]);
    })
    .expect("redis-7.0 is installed");
    let s = Server::start_ok("redis-7.0", None, &[]).unwrap();
    let url = s.url();
    load(&f, &url, &[]);
    passes(&verify(&f, &url, &[]), 3);
    let mut c = s.conn();
    call(&mut c, &[b"DEL", b"str:plain", b"hash"]);
    call(&mut c, &[b"RPUSH", b"str:plain", b"x"]);
    call(&mut c, &[b"SET", b"hash", b"x"]);
    let o = verify(&f, &url, &[]);
    assert_eq!((o.code, o.checked, o.missing, o.different), (1, 3, 0, 2), "{}", o.err);
    assert!(o.err.contains("different: str:plain: type list, expected string\n"), "{}", o.err);
    assert!(o.err.contains("different: hash: type string, expected hash\n"), "{}", o.err);
    assert!(o.err.contains(" 0 with server errors"), "{}", o.err);
    assert!(!o.err.contains("WRONGTYPE"), "{}", o.err);
}

/// A Redis 8.6 dump with hash field TTLs loaded into Redis 7.0: load warns that the TTLs
/// were dropped (`--strict`: exit 2); verify compares the fields, says which TTLs it could
/// not compare and in which keys, and exits 2 with `--strict`. Into 8.6 everything compares.
#[test]
fn field_ttls_the_target_cannot_hold_are_not_comparable() {
    let dir = common::tempdir::Dir::new("verify-fttl");
    let f = dump_of("redis-8.6", &dir, "fttl.rdb", |c| {
        let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"h:ttl".to_vec()];
        for i in 0..500 {
            args.push(format!("f{i}").into_bytes());
            args.push(format!("v{i}").into_bytes());
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        call(c, &refs);
        let mut args: Vec<Vec<u8>> = vec![
            b"HPEXPIRE".to_vec(),
            b"h:ttl".to_vec(),
            b"86400000".to_vec(),
            b"FIELDS".to_vec(),
            b"500".to_vec(),
        ];
        args.extend((0..500).map(|i| format!("f{i}").into_bytes()));
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        call(c, &refs);
        call(c, &[b"HSET", b"h:plain", b"f", b"v"]);
        call(c, &[b"SET", b"s", b"v"]);
    })
    .expect("redis-8.6 is installed");
    let s = Server::start_ok("redis-7.0", None, &[]).unwrap();
    let url = s.url();
    let (code, _, err) = rdbshift(&["load", f.to_str().unwrap(), "--target", &url, "--strict"]);
    assert_eq!(code, 2, "--strict: the field TTLs could not be carried: {err}");
    assert!(err.contains("warning") && err.contains("TTL"), "{err}");
    let o = verify(&f, &url, &[]);
    passes(&o, 3);
    assert!(o.err.contains(" 1 not comparable"), "{}", o.err);
    assert!(
        o.err.contains("not comparable: 500 hash field TTLs in 1 keys: Redis 7.0"),
        "{}",
        o.err
    );
    assert!(o.err.contains("rdbshift:   not comparable: h:ttl\n"), "{}", o.err);
    let o = verify(&f, &url, &["--strict"]);
    assert_eq!(o.code, 2, "{}", o.err);
    // a target that holds them: nothing is left out
    let s86 = Server::start_ok("redis-8.6", None, &[]).unwrap();
    let (code, _, err) =
        rdbshift(&["load", f.to_str().unwrap(), "--target", &s86.url(), "--strict"]);
    assert_eq!(code, 0, "{err}");
    let o = verify(&f, &s86.url(), &["--strict"]);
    passes(&o, 3);
    assert!(o.err.contains(" 0 not comparable"), "{}", o.err);
}
