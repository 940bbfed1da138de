//! Faults a real cluster throws at a load: a master killed and restarted mid-load, slots
//! migrated mid-load, memory full, and what `verify` says afterwards.

use crate::common;
use crate::common::proc::Timed;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::resp::Reply;
use common::cluster::Cluster;
use common::{Server, rdbshift};

use common::workload::{dbsize, workload, workload_named};

fn spawn_load(file: &str, url: &str, report: &str) -> common::proc::Running {
    Command::new(env!("CARGO_BIN_EXE_rdbshift"))
        .args(["load", file, "--target", url, "--report", report])
        .stderr(Stdio::piped())
        .spawn_timed()
}

fn finish(child: common::proc::Running) -> (i32, String) {
    let out = child.output();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn master_killed_and_restarted_mid_load() {
    let dir = common::tempdir::Dir::new("faults");
    let f = workload(&dir, 300_000, 200);
    let Some(mut c) =
        Cluster::start_with("redis-7.0", &["--appendonly", "yes", "--appendfsync", "always"])
    else {
        return;
    };
    let report = dir.path().join("report.json");
    let child = spawn_load(f.to_str().unwrap(), &c.url(), report.to_str().unwrap());
    // once the victim holds some keys, kill it and bring it back
    let t = Instant::now();
    while dbsize(&c.nodes[1]) < 5000 {
        assert!(t.elapsed() < Duration::from_secs(60), "the load does not progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    c.nodes[1].kill();
    std::thread::sleep(Duration::from_millis(500));
    c.nodes[1].restart();
    let (code, err) = finish(child);
    assert_eq!(code, 0, "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(rep["failed"], 0, "{rep}");
    assert!(rep["reconnects"].as_u64().unwrap() >= 1, "{rep}");
    let (code, _, err) = rdbshift(&["verify", f.to_str().unwrap(), "--target", &c.url()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("checked 300000 keys: 0 missing, 0 different"), "{err}");
}

#[test]
fn slots_migrated_mid_load() {
    let dir = common::tempdir::Dir::new("faults");
    let f = workload(&dir, 300_000, 100);
    let Some(c) = Cluster::start("redis-7.0") else { return };
    let report = dir.path().join("report.json");
    let child = spawn_load(f.to_str().unwrap(), &c.url(), report.to_str().unwrap());
    let t = Instant::now();
    while dbsize(&c.nodes[0]) < 2000 {
        assert!(t.elapsed() < Duration::from_secs(60), "the load did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let id = |s: &Server| match s.conn().cmd(&["CLUSTER", "MYID"]).unwrap() {
        Reply::Bulk(Some(b)) => String::from_utf8(b).unwrap(),
        r => panic!("{r:?}"),
    };
    let (from, to) = (id(&c.nodes[0]), id(&c.nodes[1]));
    let rs = Command::new("redis-cli")
        .args([
            "--cluster",
            "reshard",
            &c.nodes[0].addr(),
            "--cluster-from",
            &from,
            "--cluster-to",
            &to,
            "--cluster-slots",
            "300",
            "--cluster-yes",
            "--cluster-pipeline",
            "100",
        ])
        .output_timed();
    assert!(rs.status.success(), "reshard: {}", String::from_utf8_lossy(&rs.stdout));
    let (code, err) = finish(child);
    assert_eq!(code, 0, "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(rep["failed"], 0, "{rep}");
    assert!(rep["redirects"].as_u64().unwrap() > 0, "the migration overlapped the load: {rep}");
    let (code, _, err) = rdbshift(&["verify", f.to_str().unwrap(), "--target", &c.url()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("checked 300000 keys: 0 missing, 0 different"), "{err}");
    eprintln!("slot migration: {rep}");
}

/// A slot in the middle of a migration for the whole load: every one of its keys is answered
/// with ASK by its owner and must land on the importing node, after ASKING.
#[test]
fn a_slot_migrating_during_the_whole_load_follows_ask() {
    let dir = common::tempdir::Dir::new("faults");
    let f = workload(&dir, 50_000, 50);
    let Some(c) = Cluster::start("redis-7.0") else { return };
    let id = |s: &Server| match s.conn().cmd(&["CLUSTER", "MYID"]).unwrap() {
        Reply::Bulk(Some(b)) => String::from_utf8(b).unwrap(),
        r => panic!("{r:?}"),
    };
    // the slot of key:0000001, wherever it lives, starts moving to another master
    let slot = crate::common::checksum::slot(b"key:0000001");
    let owner = c.nodes.iter().position(|n| owns(n, slot)).expect("an owner");
    let dest = (owner + 1) % 3;
    let (src_id, dest_id) = (id(&c.nodes[owner]), id(&c.nodes[dest]));
    let ok = |r: Reply| assert_eq!(r, Reply::Status(b"OK".to_vec()));
    ok(c.nodes[dest]
        .conn()
        .cmd(&["CLUSTER", "SETSLOT", &slot.to_string(), "IMPORTING", &src_id])
        .unwrap());
    ok(c.nodes[owner]
        .conn()
        .cmd(&["CLUSTER", "SETSLOT", &slot.to_string(), "MIGRATING", &dest_id])
        .unwrap());
    let in_slot = (0..50_000)
        .filter(|i| crate::common::checksum::slot(format!("key:{i:07}").as_bytes()) == slot)
        .count() as u64;
    assert!(in_slot > 0);
    let report = dir.path().join("report.json");
    let (code, err) = finish(spawn_load(f.to_str().unwrap(), &c.url(), report.to_str().unwrap()));
    assert_eq!(code, 0, "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!((rep["loaded"].as_u64(), rep["failed"].as_u64()), (Some(50_000), Some(0)), "{rep}");
    assert!(
        rep["redirects"].as_u64().unwrap() >= in_slot,
        "every key of slot {slot} was redirected: {rep}"
    );
    let keys = |n: &Server| match n
        .conn()
        .cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
        .unwrap()
    {
        Reply::Int(k) => k as u64,
        r => panic!("{r:?}"),
    };
    assert_eq!(
        (keys(&c.nodes[owner]), keys(&c.nodes[dest])),
        (0, in_slot),
        "the keys are on the importing node"
    );
}

/// Whether `n` serves `slot` according to its own view.
fn owns(n: &Server, slot: u16) -> bool {
    let Reply::Array(Some(ranges)) = n.conn().cmd(&["CLUSTER", "SLOTS"]).unwrap() else {
        return false;
    };
    ranges.iter().any(|r| match r {
        Reply::Array(Some(f)) => match (&f[0], &f[1], &f[2]) {
            (Reply::Int(a), Reply::Int(b), Reply::Array(Some(m))) => {
                (*a as u16..=*b as u16).contains(&slot)
                    && m.get(1) == Some(&Reply::Int(n.port as i64))
            }
            _ => false,
        },
        _ => false,
    })
}

#[test]
fn memory_full_is_counted_and_fails() {
    let dir = common::tempdir::Dir::new("faults");
    let f = workload(&dir, 20_000, 500);
    let Some(s) = Server::start_ok(
        "redis-7.0",
        None,
        &["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"],
    ) else {
        return;
    };
    let report = dir.path().join("report.json");
    let (code, err) = finish(spawn_load(f.to_str().unwrap(), &s.url(), report.to_str().unwrap()));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("failed with OOM"), "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let (loaded, failed) = (rep["loaded"].as_u64().unwrap(), rep["failed"].as_u64().unwrap());
    assert!(failed > 0 && loaded + failed == 20_000, "{rep}");
    assert_eq!(dbsize(&s), loaded as i64);
    let (code, _, err) = rdbshift(&["verify", f.to_str().unwrap(), "--target", &s.url()]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{failed} missing")), "{err}");
}

#[test]
fn rerun_after_a_crash_resumes_from_the_checkpoint() {
    let dir = common::tempdir::Dir::new("faults");
    let f = workload(&dir, 300_000, 200);
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let ck = dir.path().join("checkpoint");
    let file = f.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbshift"))
        .args(["load", file, "--target", &s.url(), "--checkpoint", ck.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn_timed();
    // crash once the checkpoint says some progress was made
    let t = Instant::now();
    loop {
        let off: u64 =
            std::fs::read_to_string(&ck).ok().and_then(|t| checkpoint_offset(&t)).unwrap_or(0);
        if off > 0 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait();
    let before = dbsize(&s);
    assert!(before > 0 && before < 300_000, "{before} keys at the crash");
    let (code, _, err) =
        rdbshift(&["load", file, "--target", &s.url(), "--checkpoint", ck.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resuming at byte offset"), "{err}");
    let (code, _, err) = rdbshift(&["verify", file, "--target", &s.url()]);
    assert_eq!(code, 0, "{err}");
    // a third run has nothing left to do
    let (code, _, err) =
        rdbshift(&["load", file, "--target", &s.url(), "--checkpoint", ck.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already loaded"), "{err}");
}

#[test]
fn existing_keys_on_conflict() {
    let f = common::corpus().join("servers/redis-7.0-compact-seed1.rdb");
    let file = f.to_str().unwrap();
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let (code, _, err) = rdbshift(&["load", file, "--target", &s.url()]);
    assert_eq!(code, 0, "{err}");
    let mut c = s.conn();
    let k = common::datagen::scan(&mut c, "*")
        .into_iter()
        .find(|k| c.call(&[b"TYPE", k]).unwrap() == Reply::Status(b"string".to_vec()))
        .unwrap();
    c.call(&[b"SET", &k, b"changed"]).unwrap();
    let (code, _, err) = rdbshift(&["load", file, "--target", &s.url(), "--on-conflict", "skip"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("loaded 0 keys, 0 failed, 145 skipped"), "{err}");
    assert_eq!(c.call(&[b"GET", &k]).unwrap(), Reply::Bulk(Some(b"changed".to_vec())));
    let (code, _, err) = rdbshift(&["load", file, "--target", &s.url(), "--on-conflict", "fail"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("loaded 0 keys, 145 failed") && err.contains("the key exists"), "{err}");
    let (code, _, err) = rdbshift(&["load", file, "--target", &s.url()]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(c.call(&[b"GET", &k]).unwrap(), Reply::Bulk(Some(b"changed".to_vec())));
}

/// Two source shards loaded in one run, at the same time, into one cluster.
#[test]
fn shards_load_together() {
    let dir = common::tempdir::Dir::new("faults");
    let (a, b) =
        (workload_named(&dir, 100_000, 100, "a:"), workload_named(&dir, 100_000, 100, "b:"));
    let Some(c) = Cluster::start("redis-7.0") else { return };
    let report = dir.path().join("report.json");
    let (code, _, err) = rdbshift(&[
        "load",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--target",
        &c.url(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!((rep["loaded"].as_u64(), rep["failed"].as_u64()), (Some(200_000), Some(0)), "{rep}");
    let (code, _, err) =
        rdbshift(&["verify", a.to_str().unwrap(), b.to_str().unwrap(), "--target", &c.url()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("checked 200000 keys: 0 missing, 0 different"), "{err}");
}

/// The offset the checkpoint records for its (first) dump.
fn checkpoint_offset(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("dump\t"))
        .and_then(|l| l.split('\t').nth(1))
        .and_then(|o| o.parse().ok())
}
