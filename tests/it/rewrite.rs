//! `rdbshift rewrite` against real servers: a dump loaded by the server that wrote it (A),
//! the same dump rewritten for another version and loaded at start by a server of that
//! version (B), both read back by the independent oracle and compared key by key on
//! everything B can hold. What the rewrite reports as lost must be what differs.

use crate::common;

use std::path::Path;

use serde_json::Value;

use common::datagen::{self, Opts};
use common::readback::{self, Keyspace, arr};
use common::servercmp::{CmpOpts, compare_keyspaces, first_difference};
use common::version::{Dialect, Target};
use common::{Server, rdbshift};

/// `--target-version` for a server of the matrix.
fn version_arg(server: &str) -> String {
    let t = Target::parse(server);
    match t.dialect {
        Dialect::Valkey => format!("valkey-{}.{}", t.major, t.minor),
        Dialect::Redis => format!("{}.{}", t.major, t.minor),
    }
}

fn caps(t: &Target) -> [bool; 5] {
    [t.create_consumer(), t.stream_counters(), t.functions(), t.field_ttl(), t.idmp()]
}

/// The server whose capabilities both have (the weaker of the two where they compare).
fn common_caps(a: &str, b: &str) -> Target {
    let (ta, tb) = (Target::parse(a), Target::parse(b));
    if caps(&ta).iter().zip(caps(&tb)).all(|(x, y)| !*x || y) { ta } else { tb }
}

/// The number after `rdbshift: warning: FILE: ` for a warning containing `what` (0: none).
fn reported(err: &str, what: &str) -> u64 {
    err.lines()
        .filter(|l| l.contains("warning") && l.contains(what))
        .map(|l| {
            let rest = l.rsplit(": ").find(|p| p.contains(what)).unwrap_or("");
            rest.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0)
        })
        .sum()
}

/// A flat map reply (`[k, v, k, v ...]`) as pairs.
fn map(v: &Value) -> Vec<(String, Value)> {
    arr(v).chunks(2).map(|p| (p[0].as_str().unwrap_or("").to_string(), p[1].clone())).collect()
}

fn pick(v: &Value, keep: &[&str]) -> Value {
    Value::Array(
        map(v)
            .into_iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .flat_map(|(k, v)| [Value::from(k), v])
            .collect(),
    )
}

/// What of `XINFO STREAM key FULL` both servers hold: length, last ID, groups (last
/// delivered ID, PEL with owners, times and counts; consumers with their seen time and
/// PEL), and from 7.0 on the counters, from 7.2 on consumers' active time.
fn stream_common(v: &Value, ts: &Target, td: &Target) -> Value {
    let full = &v["xinfo_full"];
    let mut top = vec!["length", "last-generated-id", "groups"];
    let mut group = vec!["name", "last-delivered-id", "pel-count", "pending", "consumers"];
    let mut consumer = vec!["name", "seen-time", "pel-count", "pending"];
    let active = |t: &Target| t.dialect == Dialect::Valkey || (t.major, t.minor) >= (7, 2);
    if ts.stream_counters() && td.stream_counters() {
        top.extend(["max-deleted-entry-id", "entries-added", "recorded-first-entry-id"]);
        // (not "lag": each version derives it in its own way from these)
        group.push("entries-read");
    }
    if active(ts) && active(td) {
        consumer.push("active-time");
    }
    let mut out = map(&pick(full, &top));
    for (k, g) in out.iter_mut() {
        if k == "groups" {
            let gs: Vec<Value> = arr(g)
                .iter()
                .map(|g| {
                    let mut gm = map(&pick(g, &group));
                    for (k, c) in gm.iter_mut() {
                        if k == "consumers" {
                            *c = Value::Array(arr(c).iter().map(|c| pick(c, &consumer)).collect());
                        }
                    }
                    Value::Array(gm.into_iter().flat_map(|(k, v)| [Value::from(k), v]).collect())
                })
                .collect();
            *g = Value::Array(gs);
        }
    }
    Value::Array(out.into_iter().flat_map(|(k, v)| [Value::from(k), v]).collect())
}

/// Hash fields of `ks` with a TTL (HPEXPIRETIME >= 0).
fn fields_with_ttl(ks: &Keyspace) -> u64 {
    ks.dbs
        .values()
        .flat_map(|d| d.values())
        .filter(|r| r["type"] == "hash")
        .map(|r| {
            arr(&r["field_ttls"]).iter().filter(|t| t.as_i64().is_some_and(|t| t >= 0)).count()
        })
        .sum::<usize>() as u64
}

/// Streams of `ks` whose IDMP state is not a server's defaults.
fn streams_with_idmp(ks: &Keyspace) -> u64 {
    ks.dbs
        .values()
        .flat_map(|d| d.values())
        .filter(|r| r["type"] == "stream")
        .filter(|r| {
            let m = map(&r["value"]["xinfo_full"]);
            let get = |k: &str| m.iter().find(|(n, _)| n == k).and_then(|(_, v)| v.as_i64());
            get("pids-tracked").unwrap_or(0) > 0
                || get("iids-added").unwrap_or(0) > 0
                || get("iids-duplicates").unwrap_or(0) > 0
                || get("idmp-duration").is_some_and(|d| d != 100)
                || get("idmp-maxsize").is_some_and(|d| d != 100)
        })
        .count() as u64
}

/// Rewrites `rdb` (read back from a `src` server as `ka`) for `dst`, starts a `dst` server on the
/// file, and compares. Returns the keys compared.
fn check_pair(ka: &Keyspace, src: &str, rdb: &Path, dst: &str, dir: &Path) -> usize {
    check_via(ka, src, rdb, dst, dir, false)
}

/// [`check_pair`], or with `restore` the dump converted with `--restore` for `dst` and
/// piped into an empty `dst` server (re-encoded payloads where the target cannot load a
/// value as stored).
fn check_via(ka: &Keyspace, src: &str, rdb: &Path, dst: &str, dir: &Path, restore: bool) -> usize {
    let out = dir.join(format!("for-{dst}.{}", if restore { "resp" } else { "rdb" }));
    let ver = version_arg(dst);
    let cmd = if restore { "convert" } else { "rewrite" };
    let mut args = vec![cmd, rdb.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend(["--target-version", &ver]);
    let modules = src.contains("stack") && !dst.contains("stack");
    if modules {
        args.push(if restore { "--exclude-type=module" } else { "--drop-modules" });
    }
    if restore {
        args.push("--restore");
    }
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{src} -> {dst}: {cmd} failed: {err}");
    let b = if restore {
        let Some(b) = Server::start_ok(dst, None, &[]) else { return 0 };
        let (errors, _, text) = common::pipe(&b, &out);
        assert_eq!(errors, 0, "{src} -> {dst}: redis-cli --pipe: {text}\n{}", b.log());
        assert!(err.contains(" as RESTORE"), "{err}");
        b
    } else {
        match Server::start(dst, Some(&out), &[]) {
            None => return 0,
            Some(Ok(b)) => b,
            Some(Err(log)) => {
                panic!("{src} -> {dst}: the target refused the rewritten file:\n{log}")
            }
        }
    };
    if !restore
        && Target::parse(dst).dialect == Dialect::Redis
        && !Target::parse(dst).stream_counters()
    {
        // for RDB 9 the compact values are ziplists and intsets, as such a server saves
        // them (it loads them at native speed), never listpacks
        let (_, info, _) = rdbshift(&["info", "--json", out.to_str().unwrap()]);
        let info: Value = serde_json::from_slice(&info).unwrap();
        for (db, d) in info["dbs"].as_object().unwrap() {
            let enc = d["encodings"].as_object().unwrap();
            assert!(
                !enc.contains_key("listpack") && !enc.contains_key("quicklist2"),
                "{src} -> {dst}: db {db}: {enc:?}"
            );
        }
        let has = |info: &Value, e: &str| {
            info["dbs"].as_object().unwrap().values().any(|d| d["encodings"].get(e).is_some())
        };
        let (_, src_info, _) = rdbshift(&["info", "--json", rdb.to_str().unwrap()]);
        let src_info: Value = serde_json::from_slice(&src_info).unwrap();
        if has(&src_info, "listpack") {
            assert!(has(&info, "ziplist"), "{src} -> {dst}: no ziplist");
        }
    }
    let mut kb = readback::read(&b);
    let mut ka =
        Keyspace { caps: ka.caps.clone(), dbs: ka.dbs.clone(), functions: ka.functions.clone() };
    let (ts, td) = (Target::parse(src), Target::parse(dst));
    // module values left out: exactly the ones reported
    let before = ka.len();
    for d in ka.dbs.values_mut() {
        d.retain(|_, r| {
            !modules
                || ["string", "list", "set", "zset", "hash", "stream"]
                    .contains(&r["type"].as_str().unwrap_or(""))
        });
    }
    if !restore {
        assert_eq!(reported(&err, "module value(s) left out"), (before - ka.len()) as u64, "{err}");
    }
    // field TTLs the target cannot hold: exactly the ones reported
    let lost_ttls = if ts.field_ttl() && !td.field_ttl() { fields_with_ttl(&ka) } else { 0 };
    assert_eq!(reported(&err, "kept without their TTL"), lost_ttls, "{src} -> {dst}: {err}");
    let lost_idmp = if ts.idmp() && !td.idmp() { streams_with_idmp(&ka) } else { 0 };
    assert_eq!(reported(&err, "lost their IDMP state"), lost_idmp, "{src} -> {dst}: {err}");
    let lost_functions =
        if ts.functions() && !td.functions() { arr(&ka.functions).len() as u64 } else { 0 };
    assert_eq!(reported(&err, "function librar"), lost_functions, "{src} -> {dst}: {err}");
    if ts.functions() != td.functions() {
        // what one side cannot hold is not compared (counted above)
        ka.functions = Value::Null;
        kb.functions = Value::Null;
    }
    let t = common_caps(src, dst);
    let o = CmpOpts { all_dbs: true, restored: true, streams: false };
    let (n, mut diffs) = compare_keyspaces(&ka, &kb, &t, &o);
    // across families, or when the target cannot hold them (counted above), the digest
    // of a hash with field TTLs is not comparable: Redis and Valkey digest the TTLs in
    // their own ways; the fields, values and (where both hold them) TTLs are compared
    if lost_ttls > 0 || (ts.dialect != td.dialect && td.field_ttl()) {
        // a server's DEBUG DIGEST-VALUE of a hash covers its field TTLs, which the target
        // cannot hold (counted above); the fields and values are compared in full
        let ttl_hashes: Vec<String> = ka
            .dbs
            .iter()
            .flat_map(|(db, d)| d.iter().map(move |(k, r)| (db, k, r)))
            .filter(|(_, _, r)| {
                r["type"] == "hash"
                    && arr(&r["field_ttls"]).iter().any(|t| t.as_i64().is_some_and(|t| t >= 0))
            })
            .map(|(db, k, _)| {
                format!("db {db} key {:?}: digest differs", String::from_utf8_lossy(k))
            })
            .collect();
        diffs.retain(|d| !ttl_hashes.iter().any(|h| d.starts_with(h)));
    }
    // servers print scores in their own way (5.0 with 17 digits, later ones the shortest
    // text): a zset whose members and scores are equal as doubles is the same zset, and
    // its digest (over the printed scores) is not compared
    for (db, keys) in &ka.dbs {
        for (k, x) in keys.iter().filter(|(_, r)| r["type"] == "zset") {
            let Some(y) = kb.dbs.get(db).and_then(|d| d.get(k)) else { continue };
            let scores = |r: &Value| -> Vec<(Value, f64)> {
                arr(&r["value"])
                    .iter()
                    .map(|p| (p[0].clone(), p[1].as_str().unwrap().parse::<f64>().unwrap()))
                    .collect()
            };
            if x["value"] != y["value"] && scores(x) == scores(y) {
                let at = format!("db {db} key {:?}: ", String::from_utf8_lossy(k));
                diffs.retain(|d| {
                    !(d.starts_with(&format!("{at}digest differs"))
                        || d.starts_with(&format!("{at}contents differs")))
                });
            }
        }
    }
    // streams on what both hold
    if ka.cap("xinfo_full") && kb.cap("xinfo_full") {
        for (db, keys) in &ka.dbs {
            for (k, x) in keys.iter().filter(|(_, r)| r["type"] == "stream") {
                let Some(y) = kb.dbs.get(db).and_then(|d| d.get(k)) else { continue };
                let (p, q) =
                    (stream_common(&x["value"], &ts, &td), stream_common(&y["value"], &ts, &td));
                if p != q {
                    diffs.push(format!(
                        "db {db} stream {:?}: XINFO FULL differs:\n  {}",
                        String::from_utf8_lossy(k),
                        first_difference(&p, &q)
                    ));
                }
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{src} -> {dst}: {} differences over {n} keys:\n{}\n{err}",
        diffs.len(),
        diffs.iter().take(15).cloned().collect::<Vec<_>>().join("\n")
    );
    eprintln!("{src} -> {dst}: {n} keys identical");
    n
}

/// Every server of the matrix as a source of fresh random data, rewritten for the targets
/// that load its keys natively only after a rewrite (older versions, the other family).
/// A server `src` holding fresh random data (`seed`), saved: the server (it owns the
/// dump's directory), its dump and its keys as read back.
fn seeded(src: &str, seed: u64) -> Option<(Server, std::path::PathBuf, readback::Keyspace)> {
    let a = Server::start_ok(src, None, &[])?;
    let t = datagen::target_of(src);
    let mut c = a.conn();
    datagen::populate(&mut c, &t, &Opts { seed, keys: 25, dbs: true, functions: true });
    datagen::delete_some_entries(&mut c, seed);
    assert!(matches!(c.cmd(&["SAVE"]).unwrap(), common::resp::Reply::Status(_)));
    let rdb = a.dir.path().join("dump.rdb");
    let ka = readback::read(&a);
    Some((a, rdb, ka))
}

fn from_server(src: &str, seed: u64, targets: &[&str]) {
    let Some((_a, rdb, ka)) = seeded(src, seed) else { return };
    assert!(ka.len() >= 150, "{src}: only {} keys", ka.len());
    let dir = common::tempdir::Dir::new("rewrite");
    let mut total = 0;
    for dst in targets.iter().filter(|d| **d != src) {
        total += check_pair(&ka, src, &rdb, dst, dir.path());
    }
    assert!(total >= 150 * targets.iter().filter(|d| **d != src).count().min(1), "{total}");
}

macro_rules! matrix {
    ($($name:ident: $server:expr, $seed:expr, [$($t:expr),*];)*) => {$(
        #[test]
        fn $name() {
            from_server($server, $seed, &[$($t),*]);
        }
    )*};
}

matrix! {
    from_redis_8_6: "redis-8.6", 8601, ["redis-5.0", "redis-6.0", "redis-6.2", "redis-7.0", "redis-stack-7.4", "redis-8.0", "valkey-8.0", "valkey-8.1", "valkey-9.1"];
    from_redis_8_0: "redis-8.0", 8001, ["redis-5.0", "redis-6.0", "redis-6.2", "redis-7.0", "redis-stack-7.4", "valkey-8.0", "valkey-8.1", "valkey-9.1"];
    from_redis_stack_7_4: "redis-stack-7.4", 7401, ["redis-5.0", "redis-6.0", "redis-6.2", "redis-7.0", "valkey-8.0", "valkey-8.1", "valkey-9.1"];
    from_redis_7_0: "redis-7.0", 7001, ["redis-5.0", "redis-6.0", "redis-6.2", "valkey-8.0", "valkey-8.1", "valkey-9.1"];
    from_redis_6_2: "redis-6.2", 6201, ["redis-5.0", "redis-6.0", "valkey-8.0", "valkey-8.1", "valkey-9.1"];
    from_redis_6_0: "redis-6.0", 6001, ["redis-5.0", "valkey-8.0", "valkey-8.1", "valkey-9.1"];
    from_redis_5_0: "redis-5.0", 5001, ["valkey-8.0", "valkey-8.1", "valkey-9.1"];
    from_valkey_9_1: "valkey-9.1", 9101, ["redis-5.0", "redis-6.0", "redis-6.2", "redis-7.0", "redis-stack-7.4", "redis-8.0", "redis-8.6", "valkey-8.0", "valkey-8.1"];
    from_valkey_8_1: "valkey-8.1", 8101, ["redis-5.0", "redis-6.0", "redis-6.2", "redis-7.0", "redis-stack-7.4", "redis-8.0", "redis-8.6", "valkey-8.0"];
    from_valkey_8_0: "valkey-8.0", 8002, ["redis-5.0", "redis-6.0", "redis-6.2", "redis-7.0", "redis-stack-7.4", "redis-8.0", "redis-8.6"];
}

/// The corpus's dumps of the three newest writers, rewritten for the four targets the
/// issue names.
#[test]
fn corpus_dumps_for_older_and_other_servers() {
    let mut total = 0;
    for src in ["redis-8.6", "redis-8.0", "valkey-9.1"] {
        for kind in ["compact", "expanded"] {
            let f = common::corpus().join(format!("servers/{src}-{kind}-seed1.rdb"));
            let Some(a) = Server::start_ok(src, Some(&f), &[]) else { return };
            let ka = readback::read(&a);
            let dir = common::tempdir::Dir::new("rewrite-corpus");
            for dst in ["valkey-8.1", "valkey-9.1", "redis-6.2", "redis-7.0"] {
                if dst != src {
                    total += check_pair(&ka, src, &f, dst, dir.path());
                }
            }
        }
    }
    assert!(total > 1000, "{total} keys compared");
}

/// `rdbshift rewrite INPUTS... -o OUT EXTRA...`: its exit code and stderr.
fn rewrite(inputs: &[&Path], out: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["rewrite"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend(["-o", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let (code, _, err) = rdbshift(&args);
    (code, err)
}

/// Fills a fresh `server` with random data in db 0 (a cluster's only db) and saves it.
fn saved(server: &str, seed: u64, keys: u64) -> Option<(Server, std::path::PathBuf)> {
    let a = Server::start_ok(server, None, &[])?;
    let t = datagen::target_of(server);
    let mut c = a.conn();
    datagen::populate(&mut c, &t, &Opts { seed, keys, dbs: false, functions: false });
    assert!(matches!(c.cmd(&["SAVE"]).unwrap(), common::resp::Reply::Status(_)));
    let rdb = a.dir.path().join("dump.rdb");
    Some((a, rdb))
}

/// A real 3-master cluster seeded by file: the nodes' CLUSTER NODES saved, the dump split
/// with --nodes, each node restarted on its own file. Every key is on the node that owns
/// its slot, nothing else is anywhere, and `rdbshift verify` finds the cluster complete.
#[test]
fn a_cluster_seeded_from_nodes_files() {
    let Some((a, rdb)) = saved("redis-7.0", 7070, 40) else { return };
    let Some(mut cl) = common::cluster::Cluster::start("redis-7.0") else { return };
    let dir = common::tempdir::Dir::new("rewrite-nodes");
    let nodes = dir.path().join("nodes.txt");
    let common::resp::Reply::Bulk(Some(text)) =
        cl.nodes[0].conn().cmd(&["CLUSTER", "NODES"]).unwrap()
    else {
        panic!("CLUSTER NODES")
    };
    std::fs::write(&nodes, &text).unwrap();
    let out = dir.path().join("files");
    let (code, err) =
        rewrite(&[&rdb], &out, &["--nodes", nodes.to_str().unwrap(), "--target-version", "7.0"]);
    assert_eq!(code, 0, "{err}");
    let ka = readback::read(&a);
    // each node on its own file, found by its id
    for n in &mut cl.nodes {
        let common::resp::Reply::Bulk(Some(id)) = n.conn().cmd(&["CLUSTER", "MYID"]).unwrap()
        else {
            panic!("CLUSTER MYID")
        };
        let f = out.join(format!("{}.rdb", String::from_utf8_lossy(&id)));
        assert!(err.contains(&f.display().to_string()), "{err}");
        std::fs::copy(&f, n.dir.path().join("dump.rdb")).unwrap();
        n.restart();
    }
    let t = std::time::Instant::now();
    'ok: loop {
        assert!(t.elapsed() < std::time::Duration::from_secs(30), "cluster not ok after restarts");
        for n in &cl.nodes {
            let r = n.conn().cmd(&["CLUSTER", "INFO"]).unwrap();
            let common::resp::Reply::Bulk(Some(b)) = r else { panic!("CLUSTER INFO") };
            if !String::from_utf8_lossy(&b).contains("cluster_state:ok") {
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue 'ok;
            }
        }
        break;
    }
    // every key on the node that owns its slot, and no other key anywhere
    let masters = rdbshift::rewrite::nodes::parse(&String::from_utf8_lossy(&text)).unwrap();
    let mut total = 0;
    for n in &cl.nodes {
        let mut c = n.conn();
        let common::resp::Reply::Bulk(Some(id)) = c.cmd(&["CLUSTER", "MYID"]).unwrap() else {
            panic!("CLUSTER MYID")
        };
        let me = masters.iter().find(|m| m.id.as_bytes() == id).unwrap();
        let keys = datagen::scan(&mut c, "*");
        for k in &keys {
            let s = common::checksum::slot(k);
            assert!(me.ranges.iter().any(|&(x, y)| (x..=y).contains(&s)), "slot {s} on {}", me.id);
        }
        total += keys.len();
    }
    assert_eq!(total, ka.len());
    assert!(total >= 200, "{total}");
    // what each file was said to hold ("slots ...: N keys, ... -> file") adds up to it
    let said: Vec<usize> = err
        .lines()
        .filter(|l| l.contains(" keys, ") && l.contains(" -> "))
        .filter_map(|l| l.split(" keys, ").next()?.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(said.len(), 3, "{err}");
    assert!(said.iter().all(|&n| n > 0) && said.iter().sum::<usize>() == total, "{said:?}: {err}");
    let kc = readback::read(&cl);
    let t = Target::parse("redis-7.0");
    let (n, diffs) =
        compare_keyspaces(&ka, &kc, &t, &CmpOpts { all_dbs: false, restored: true, streams: true });
    assert!(diffs.is_empty() && n == total, "{n}: {diffs:?}");
    let (code, _, verr) = rdbshift(&["verify", rdb.to_str().unwrap(), "--target", &cl.url()]);
    assert_eq!(code, 0, "{verr}");
}

/// `--slots` halves of a dump together hold exactly its keys, each in the right half, and
/// each half loads.
#[test]
fn slot_halves_partition_the_keys() {
    let Some((a, rdb)) = saved("redis-8.0", 8080, 30) else { return };
    let ka = readback::read(&a);
    let dir = common::tempdir::Dir::new("rewrite-slots");
    let mut seen = 0;
    for (i, range) in ["0-8191", "8192-16383"].into_iter().enumerate() {
        let out = dir.path().join(format!("half{i}.rdb"));
        let (code, err) = rewrite(&[&rdb], &out, &["--slots", range]);
        assert_eq!(code, 0, "{err}");
        let b = Server::start_ok("redis-8.0", Some(&out), &[]).unwrap();
        let kb = readback::read(&b);
        let (lo, hi) = range
            .split_once('-')
            .map(|(a, b)| (a.parse::<u16>().unwrap(), b.parse::<u16>().unwrap()))
            .unwrap();
        for k in kb.dbs.get(&0).into_iter().flat_map(|d| d.keys()) {
            let s = common::checksum::slot(k);
            assert!((lo..=hi).contains(&s), "key in slot {s} in half {range}");
        }
        // the keys of this half the source holds are all here, and equal
        let mut half = Keyspace {
            caps: ka.caps.clone(),
            dbs: ka.dbs.clone(),
            functions: ka.functions.clone(),
        };
        for d in half.dbs.values_mut() {
            d.retain(|k, _| (lo..=hi).contains(&common::checksum::slot(k)));
        }
        let t = Target::parse("redis-8.0");
        let (n, diffs) = compare_keyspaces(
            &half,
            &kb,
            &t,
            &CmpOpts { all_dbs: true, restored: true, streams: true },
        );
        assert!(diffs.is_empty(), "{range}: {diffs:?}");
        assert_eq!(n, kb.len());
        assert!(err.contains(&format!("{} keys for Redis 8.0", kb.len())), "{err}");
        seen += kb.len();
    }
    assert_eq!(seen, ka.len());
    assert!(seen >= 150);
}

/// The output is byte-identical for any thread count and chunk size, and the file's
/// checksum is right (a server checks it when it loads the file).
#[test]
fn output_does_not_depend_on_threads() {
    let f = common::corpus().join("servers/redis-8.6-expanded-seed1.rdb");
    let dir = common::tempdir::Dir::new("rewrite-threads");
    let mut outs = Vec::new();
    for (i, (threads, chunk)) in
        [("1", "1000000000"), ("4", "4096"), ("2", "300")].iter().enumerate()
    {
        let out = dir.path().join(format!("{i}.rdb"));
        let (code, err) = rewrite(
            &[&f],
            &out,
            &["--target-version", "7.0", "--threads", threads, "--chunk-bytes", chunk],
        );
        assert_eq!(code, 0, "{err}");
        outs.push(std::fs::read(&out).unwrap());
    }
    assert!(outs[0].len() > 100_000);
    assert!(outs.iter().all(|o| *o == outs[0]));
    let o = &outs[0];
    let crc = common::checksum::crc64(&o[..o.len() - 8]);
    assert_eq!(crc.to_le_bytes(), o[o.len() - 8..]);
    assert_eq!(&o[..9], b"REDIS0010");
}

/// Two dumps merged into one file: a key in both is written once (the last input's, as a
/// replay leaves it) and named with both offsets; the merged file loads and holds every
/// other key of both.
#[test]
fn merged_dumps_keep_the_last_of_a_duplicate() {
    let Some(x) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let Some(y) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let (mut cx, mut cy) = (x.conn(), y.conn());
    for i in 0..300 {
        cx.cmd(&["SET", &format!("x:{i}"), "from-x"]).unwrap();
        cy.cmd(&["RPUSH", &format!("y:{i}"), "a", "b"]).unwrap();
    }
    cx.cmd(&["SET", "both", "x-loses"]).unwrap();
    cy.cmd(&["SADD", "both", "y-wins"]).unwrap();
    // the same library on both shards, as a cluster's masters hold it: once in the file
    for (c, v) in [(&mut cx, "1"), (&mut cy, "2")] {
        let code =
            format!("#!lua name=shared\nredis.register_function('f', function() return {v} end)");
        assert!(matches!(
            c.cmd(&["FUNCTION", "LOAD", &code]).unwrap(),
            common::resp::Reply::Bulk(_)
        ));
    }
    for c in [&mut cx, &mut cy] {
        assert!(matches!(c.cmd(&["SAVE"]).unwrap(), common::resp::Reply::Status(_)));
    }
    let (fx, fy) = (x.dir.path().join("dump.rdb"), y.dir.path().join("dump.rdb"));
    let dir = common::tempdir::Dir::new("rewrite-merge");
    let out = dir.path().join("merged.rdb");
    let args = ["rewrite", fx.to_str().unwrap(), fy.to_str().unwrap(), "-o", out.to_str().unwrap()];
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 key(s) left out: a later key of the same name and db is written"),
        "{err}"
    );
    assert!(err.contains("key \"both\" (db 0) of") || err.contains("key both (db 0) of"), "{err}");
    let b = Server::start_ok("redis-7.0", Some(&out), &[]).unwrap();
    let mut c = b.conn();
    assert_eq!(c.cmd(&["DBSIZE"]).unwrap(), common::resp::Reply::Int(601));
    assert_eq!(c.cmd(&["TYPE", "both"]).unwrap(), common::resp::Reply::Status(b"set".to_vec()));
    assert!(err.contains("1 function librar(y/ies) left out: a later dump has one"), "{err}");
    assert_eq!(c.cmd(&["FCALL", "f", "0"]).unwrap(), common::resp::Reply::Int(2));
    // --strict makes the loss an error
    let mut strict = args.to_vec();
    strict.push("--strict");
    assert_eq!(rdbshift(&strict).0, 2);
}

/// A damaged dump leaves no output (a file written in part would load as if whole), names
/// the offset, and never panics; a target past what rewrite writes is refused by name.
#[test]
fn damage_and_bad_targets_leave_nothing() {
    let f = common::corpus().join("servers/redis-7.0-expanded-seed1.rdb");
    let mut data = std::fs::read(&f).unwrap();
    let dir = common::tempdir::Dir::new("rewrite-hostile");
    let cut = dir.path().join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() * 2 / 3]).unwrap();
    let flip = dir.path().join("flip.rdb");
    let at = data.len() / 2;
    data[at] ^= 0xff;
    std::fs::write(&flip, &data).unwrap();
    for bad in [&cut, &flip] {
        let out = dir.path().join("out.rdb");
        let (code, err) = rewrite(&[bad], &out, &["--target-version", "6.2"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("offset"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "a partial output was left: {err}");
    }
    let out = dir.path().join("out.rdb");
    for t in ["4.0", "8.8", "valkey-7.0"] {
        let (code, err) = rewrite(&[&f], &out, &["--target-version", t]);
        assert_eq!(code, 1, "{t}: {err}");
        assert!(err.contains("rewrite writes files for Redis 5.0 to 8.6"), "{err}");
        assert!(!out.exists());
    }
    // a nodes file that is not one names its line
    let nodes = dir.path().join("nodes.conf");
    std::fs::write(&nodes, "not a nodes file\n").unwrap();
    let (code, err) = rewrite(&[&f], dir.path(), &["--nodes", nodes.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("line 1"), "{err}");
}

/// `convert --restore` for older servers and the other family: values the target cannot
/// load as stored go as RESTORE of re-encoded payloads (not commands), and the target
/// holds what the source holds, streams' consumer times and counters included.
#[test]
fn restore_payloads_reencoded_for_older_targets() {
    for (src, seed, targets) in [
        ("redis-8.6", 8611u64, &["redis-6.2", "redis-7.0", "valkey-8.1", "valkey-9.1"][..]),
        ("valkey-9.1", 9111, &["redis-6.0", "redis-8.0"][..]),
    ] {
        let Some((_a, rdb, ka)) = seeded(src, seed) else { return };
        let dir = common::tempdir::Dir::new("rewrite-restore");
        for dst in targets {
            assert!(check_via(&ka, src, &rdb, dst, dir.path(), true) >= 150);
        }
    }
}

/// A dump holding a key twice is refused as the server refuses it; read with
/// `--allow-duplicate-keys`, the file written holds the key once (the last, as a replay
/// leaves it) and a server loads it.
#[test]
fn a_key_twice_in_one_dump() {
    let mut f = b"REDIS0009".to_vec();
    f.extend_from_slice(b"\xfe\x00");
    for (k, v) in [("k", "first"), ("other", "x"), ("k", "last")] {
        f.push(0);
        f.push(k.len() as u8);
        f.extend_from_slice(k.as_bytes());
        f.push(v.len() as u8);
        f.extend_from_slice(v.as_bytes());
    }
    f.push(0xff);
    f.extend_from_slice(&[0; 8]);
    let dir = common::tempdir::Dir::new("rewrite-dup");
    let (inp, out) = (dir.path().join("dup.rdb"), dir.path().join("out.rdb"));
    std::fs::write(&inp, &f).unwrap();
    let args =
        ["rewrite", inp.to_str().unwrap(), "-o", out.to_str().unwrap(), "--target-version", "7.0"];
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("\"k\"") && !out.exists(), "{err}");
    let mut allow = args.to_vec();
    allow.push("--allow-duplicate-keys");
    let (code, _, err) = rdbshift(&allow);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 key(s) left out"), "{err}");
    let Some(b) = Server::start_ok("redis-7.0", Some(&out), &[]) else { return };
    let mut c = b.conn();
    assert_eq!(c.cmd(&["DBSIZE"]).unwrap(), common::resp::Reply::Int(2));
    assert_eq!(c.cmd(&["GET", "k"]).unwrap(), common::resp::Reply::Bulk(Some(b"last".to_vec())));
}

/// Module values are kept as stored for a target with the modules: a Redis Stack dump
/// rewritten for Redis Stack, and every key (module values by `DUMP`) is the same.
#[test]
fn module_values_kept_for_a_target_with_the_modules() {
    let src = "redis-stack-7.4";
    let f = common::corpus().join(format!("servers/{src}-compact-seed1.rdb"));
    let Some(a) = Server::start_ok(src, Some(&f), &[]) else { return };
    let ka = readback::read(&a);
    let modules = ka.dbs.values().flat_map(|d| d.values()).filter(|r| {
        !["string", "list", "set", "zset", "hash", "stream"]
            .contains(&r["type"].as_str().unwrap_or(""))
    });
    assert!(modules.count() >= 10);
    let dir = common::tempdir::Dir::new("rewrite-modules");
    assert!(check_pair(&ka, src, &f, src, dir.path()) >= 150);
}

/// A Valkey 9 hash whose field expiry Redis cannot hold (past 2^48 - 1 ms) goes to Redis
/// with that field kept without its TTL (counted), the other field's TTL kept: a real 8.6
/// loads the file.
#[test]
fn valkey_field_ttls_redis_cannot_hold() {
    let later = datagen::now_ms() + 86_400_000;
    let mut f = b"VALKEY080\xfe\x00\x16\x01h\x02".to_vec();
    for (k, v, ttl) in [(b"a", b"1", 1i64 << 50), (b"b", b"2", later)] {
        f.extend_from_slice(&[1, k[0], 1, v[0]]);
        f.extend_from_slice(&ttl.to_le_bytes());
    }
    f.push(0xff);
    f.extend_from_slice(&[0; 8]);
    let dir = common::tempdir::Dir::new("rewrite-vttl");
    let (inp, out) = (dir.path().join("v.rdb"), dir.path().join("out.rdb"));
    std::fs::write(&inp, &f).unwrap();
    let (code, err) = rewrite(&[&inp], &out, &["--target-version", "8.6"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 hash field(s) kept without their TTL"), "{err}");
    let Some(s) = Server::start_ok("redis-8.6", Some(&out), &[]) else { return };
    let mut c = s.conn();
    use common::resp::Reply;
    let r = c.cmd(&["HPEXPIRETIME", "h", "FIELDS", "2", "a", "b"]).unwrap();
    assert_eq!(r, Reply::Array(Some(vec![Reply::Int(-1), Reply::Int(later)])));
    assert_eq!(c.cmd(&["HGET", "h", "a"]).unwrap(), Reply::Bulk(Some(b"1".to_vec())));
}

/// A name met again is kept from a key that is written: when the later key leaves nothing
/// (a hash whose every field has expired), the earlier one is written, not neither.
#[test]
fn a_duplicate_that_writes_nothing_does_not_hide_the_other() {
    let Some(x) = Server::start_ok("redis-8.0", None, &[]) else { return };
    let Some(y) = Server::start_ok("redis-8.0", None, &[]) else { return };
    let (mut cx, mut cy) = (x.conn(), y.conn());
    cx.cmd(&["HSET", "k", "f", "from-x"]).unwrap();
    cy.cmd(&["HSET", "k", "f", "from-y", "g", "2"]).unwrap();
    cy.cmd(&["HPEXPIRE", "k", "300", "FIELDS", "2", "f", "g"]).unwrap();
    for c in [&mut cx, &mut cy] {
        assert!(matches!(c.cmd(&["SAVE"]).unwrap(), common::resp::Reply::Status(_)));
    }
    std::thread::sleep(std::time::Duration::from_millis(400));
    let (fx, fy) = (x.dir.path().join("dump.rdb"), y.dir.path().join("dump.rdb"));
    let dir = common::tempdir::Dir::new("rewrite-dup-expired");
    let out = dir.path().join("merged.rdb");
    let (code, err) = rewrite(&[&fx, &fy], &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("key(s) left out"), "{err}");
    assert!(err.contains("1 expired"), "{err}");
    let b = Server::start_ok("redis-8.0", Some(&out), &[]).unwrap();
    let mut c = b.conn();
    assert_eq!(
        c.cmd(&["HGET", "k", "f"]).unwrap(),
        common::resp::Reply::Bulk(Some(b"from-x".to_vec()))
    );
}
