//! Loading into production and managed targets, against real servers: renames and db
//! mappings (a cluster slot computed on the new name, `verify` clean with the same
//! options), rate limits that lose nothing, ACL users without `RESTORE`, `CONFIG`, `DEBUG`
//! or `INFO`, pre-flight refusing an evicting target or unserved slots before anything is
//! sent, and `--dry-run`.

use crate::common;

use common::cluster::Cluster;
use common::datagen::scan;
use common::{Server, corpus, rdbshift, sample, scrape};
use serde_json::Value;

fn dump() -> String {
    corpus().join("servers/redis-7.0-compact-seed1.rdb").to_str().unwrap().to_string()
}

/// The dump's keys as inspect shows them (with the given options): (db, name).
fn inspected(extra: &[&str]) -> Vec<(u64, Vec<u8>)> {
    let f = dump();
    let mut args = vec!["inspect", f.as_str()];
    args.extend_from_slice(extra);
    let (code, out, err) = rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            // a name that is not UTF-8 comes exactly in key_base64
            let name = match v.get("key_base64").and_then(Value::as_str) {
                Some(b) => common::compare::b64decode(b),
                None => v["key"].as_str().unwrap().as_bytes().to_vec(),
            };
            (v["db"].as_u64().unwrap(), name)
        })
        .collect()
}

/// Keys in all of a server's dbs.
fn total_keys(s: &Server) -> u64 {
    let info = s.conn().cmd(&["INFO", "keyspace"]).unwrap().text();
    info.split("keys=").skip(1).map(|x| x.split(',').next().unwrap().parse::<u64>().unwrap()).sum()
}

#[test]
fn renames_move_every_key_into_a_cluster_and_verify_is_clean() {
    let Some(c) = Cluster::start("redis-7.0") else { return };
    let f = dump();
    let url = c.url();
    let opts = ["--db", "1", "--map-db", "1=0", "--rename-prefix", "k1:=moved:"];
    // what the dump holds in db 1, and what inspect says the keys go out as
    let before = inspected(&["--db", "1"]);
    let after = inspected(&opts);
    let renamed = before.iter().filter(|(_, n)| n.starts_with(b"k1:")).count();
    assert!(renamed >= 20, "the fixture has keys to rename: {renamed}");
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|(db, n)| *db == 0 && !n.starts_with(b"k1:")));
    assert_eq!(after.iter().filter(|(_, n)| n.starts_with(b"moved:")).count(), renamed);

    let mut args = vec!["load", f.as_str(), "--target", url.as_str()];
    args.extend_from_slice(&opts);
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    let counts = common::accounting(&err);
    assert_eq!(counts[1], before.len() as u64, "every selected key loaded: {err}");
    // every key is on the node that serves its new name's slot, none under its old name
    let mut on_target: Vec<Vec<u8>> = Vec::new();
    for n in &c.nodes {
        let mut conn = n.conn();
        assert!(scan(&mut conn, "k1:*").is_empty(), "no key keeps its old name");
        on_target.extend(scan(&mut conn, "*"));
    }
    let mut want: Vec<Vec<u8>> = after.iter().map(|(_, n)| n.clone()).collect();
    want.sort();
    on_target.sort();
    assert_eq!(on_target, want, "the cluster holds exactly the renamed keys");

    // verify with the same options is clean, --extra included; without them it is not
    let mut v = vec!["verify", f.as_str(), "--target", url.as_str(), "--extra"];
    v.extend_from_slice(&opts);
    let (code, out, err) = rdbshift(&v);
    assert_eq!(code, 0, "{err}{}", String::from_utf8_lossy(&out));
    assert!(err.contains(&format!("checked {} keys: 0 missing", before.len())), "{err}");
    let plain = ["verify", f.as_str(), "--target", url.as_str(), "--db", "1", "--to-db", "0"];
    let (code, _, err) = rdbshift(&plain);
    assert_ne!(code, 0, "the old names are missing: {err}");
    assert!(err.contains(&format!("{renamed} missing")), "{err}");
}

#[test]
fn renamed_keys_that_meet_are_reported() {
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let f = dump();
    let url = s.url();
    // db 1's k1:* and db 5's k5:* both become x:* in db 0: names that meet are reported
    let k1: Vec<Vec<u8>> = inspected(&["--db", "1", "--key", "k1:*"])
        .into_iter()
        .map(|(_, n)| n[3..].to_vec())
        .collect();
    let k5: Vec<Vec<u8>> = inspected(&["--db", "5", "--key", "k5:*"])
        .into_iter()
        .map(|(_, n)| n[3..].to_vec())
        .collect();
    let meet = k1.iter().filter(|n| k5.contains(n)).count();
    assert!(meet > 0, "the fixture has suffixes in both dbs");
    let args = [
        "load",
        &f,
        "--target",
        &url,
        "--db",
        "1",
        "--db",
        "5",
        "--map-db",
        "1=0",
        "--map-db",
        "5=0",
        "--rename-prefix",
        "k1:=x:",
        "--rename-prefix",
        "k5:=x:",
    ];
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("{meet} key(s) go out under a name another key")),
        "{meet} collisions expected: {err}"
    );
    assert_eq!(total_keys(&s), s.conn().cmd(&["DBSIZE"]).unwrap().int().unwrap() as u64);
    // --map-db and --to-db both say where keys go
    let (code, _, err) =
        rdbshift(&["load", &f, "--target", &url, "--map-db", "1=0", "--to-db", "0"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn max_ops_limits_the_rate_and_loses_nothing() {
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let f = dump();
    let url = s.url();
    let dir = common::tempdir::Dir::new("max-ops");
    let report = dir.path().join("r.json");
    let r = report.to_str().unwrap();
    let (code, _, err) =
        rdbshift(&["load", &f, "--target", &url, "--max-ops", "300", "--report", r]);
    assert_eq!(code, 0, "{err}");
    let keys = inspected(&[]).len() as u64;
    let rep: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(rep["loaded"].as_u64(), Some(keys), "{rep}");
    assert_eq!(total_keys(&s), keys);
    let rates = &rep["rates"];
    assert_eq!(rates["limits"]["max_ops"].as_f64(), Some(300.0));
    assert!(rates["ops"].as_u64().unwrap() >= keys, "{rates}");
    // a limit is never exceeded (a slow machine only makes the rate lower)
    assert!(rates["ops_per_second"].as_f64().unwrap() <= 330.0, "{rates}");
    assert!(rates["throttled_seconds"].as_f64().unwrap() > 0.0, "{rates}");
    assert!(err.contains("rates: "), "{err}");
}

/// Loads the mixed dump as an ACL user that lacks `denied`; returns the run's stderr.
fn load_as_restricted(denied: &[&str]) -> Option<String> {
    let s = Server::start_ok("redis-7.0", None, &[])?;
    let mut c = s.conn();
    let mut acl = vec!["ACL", "SETUSER", "lim", "on", ">Lim-Pw", "~*", "&*", "+@all"];
    acl.extend_from_slice(denied);
    assert_eq!(c.cmd(&acl).unwrap().text(), "OK");
    let f = dump();
    let url = s.url();
    let run = |args: &[&str]| {
        let mut cmd = common::proc::bin();
        cmd.args(args).env("REDISCLI_AUTH", "Lim-Pw");
        let out = common::proc::run_with(cmd, None, common::proc::DEFAULT_TIMEOUT);
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&["load", &f, "--target", &url, "--user", "lim"]);
    assert_eq!(code, 0, "{err}");
    let keys = inspected(&[]).len() as u64;
    assert_eq!(common::accounting(&err)[1], keys, "{err}");
    assert_eq!(total_keys(&s), keys);
    let (code, verr) = run(&["verify", &f, "--target", &url, "--user", "lim"]);
    assert_eq!(code, 0, "{verr}");
    assert!(verr.contains(&format!("checked {keys} keys: 0 missing, 0 different")), "{verr}");
    Some(err)
}

#[test]
fn a_user_without_restore_config_debug_or_info_loads_everything() {
    let Some(err) = load_as_restricted(&["-restore", "-config", "-debug", "-info"]) else {
        return;
    };
    assert!(err.contains("permissions: denied INFO, CONFIG, DEBUG, RESTORE"), "{err}");
    assert!(err.contains("taken from HELLO"), "{err}");
    assert!(err.contains("adapted: RESTORE is denied: every key goes as commands"), "{err}");
}

#[test]
fn a_user_without_function_load_gets_the_keys_and_a_count() {
    let Some(err) = load_as_restricted(&["-function|load"]) else { return };
    assert!(err.contains("adapted: FUNCTION LOAD is denied"), "{err}");
    assert!(err.contains("1 function librar(y/ies) not converted"), "{err}");
}

#[test]
fn an_evicting_target_is_refused_before_anything_is_sent_and_dry_run_sends_nothing() {
    let lru = ["--maxmemory", "200mb", "--maxmemory-policy", "allkeys-lru"];
    let Some(s) = Server::start_ok("redis-7.0", None, &lru) else { return };
    let f = dump();
    let url = s.url();
    let (code, _, err) = rdbshift(&["load", &f, "--target", &url]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("maxmemory-policy allkeys-lru: keys could be evicted silently"), "{err}");
    assert!(err.contains("nothing was loaded"), "{err}");
    assert_eq!(total_keys(&s), 0, "nothing was sent");
    // a dry run checks and shows everything, and sends nothing
    let (code, _, err) = rdbshift(&["load", &f, "--target", &url, "--allow-eviction", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    for want in
        ["pre-flight: target:", "pre-flight: to send: ", "policy allkeys-lru", "nothing was sent"]
    {
        assert!(err.contains(want), "{want}: {err}");
    }
    assert_eq!(total_keys(&s), 0, "a dry run sends nothing");
    let (code, _, err) = rdbshift(&["load", &f, "--target", &url, "--allow-eviction"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(total_keys(&s), inspected(&[]).len() as u64);
}

#[test]
fn a_cluster_with_slots_no_master_serves_is_refused() {
    let Some(c) = Cluster::start("redis-7.0") else { return };
    let mut seed = c.nodes[0].conn();
    let owned = seed.cmd(&["CLUSTER", "SLOTS"]).unwrap();
    // the seed's first range: a few of its slots are unassigned
    let first = owned
        .array()
        .iter()
        .find(|r| r.array()[2].array()[1].int() == Some(c.nodes[0].port as i64))
        .map(|r| r.array()[0].int().unwrap())
        .unwrap();
    let (a, b) = (first.to_string(), (first + 9).to_string());
    assert_eq!(seed.cmd(&["CLUSTER", "DELSLOTSRANGE", &a, &b]).unwrap().text(), "OK");
    let f = dump();
    let url = c.url();
    let (code, _, err) = rdbshift(&["load", &f, "--target", &url, "--db", "0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("10 of the cluster's 16384 slots are served by no master"), "{err}");
    for n in &c.nodes {
        assert_eq!(n.conn().cmd(&["DBSIZE"]).unwrap().int(), Some(0), "nothing was sent");
    }
}

#[test]
fn two_shards_loaded_by_two_processes_then_report_merge() {
    let Some(c) = Cluster::start("redis-7.0") else { return };
    use common::proc::Timed;
    use std::process::Stdio;
    let dir = common::tempdir::Dir::new("merge");
    let url = c.url();
    let shards = [
        ("a", corpus().join("servers/redis-7.0-compact-seed1.rdb")),
        ("b", corpus().join("servers/redis-7.0-expanded-seed1.rdb")),
    ];
    // one process per shard, at once; each shard's keys under their own prefix
    let running: Vec<_> = shards
        .iter()
        .map(|(tag, f)| {
            let rep = dir.path().join(format!("shard-{tag}.json"));
            let mut cmd = common::proc::bin();
            cmd.args(["load", f.to_str().unwrap(), "--target", &url, "--db", "0"])
                .args(["--rename-key", &format!("*={tag}:$1"), "--report"])
                .arg(&rep)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            (rep, cmd.spawn_timed())
        })
        .collect();
    let mut reports = Vec::new();
    let mut loaded = 0;
    for ((rep, child), (_, f)) in running.into_iter().zip(&shards) {
        let out = child.output();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let r: Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
        // the report names its dump: path, size and the CRC-64 its trailer stores
        let data = std::fs::read(f).unwrap();
        let stored = u64::from_le_bytes(data[data.len() - 8..].try_into().unwrap());
        let d = &r["dumps"][0];
        assert_eq!(d["path"].as_str(), Some(f.to_str().unwrap()));
        assert_eq!(d["size"].as_u64(), Some(data.len() as u64));
        assert_eq!(d["crc64"].as_str(), Some(format!("{stored:016x}").as_str()));
        assert_eq!(d["loaded"], r["loaded"]);
        assert!(r["tool"].as_str().unwrap().starts_with("rdbshift "));
        assert!(r["started"].as_str().unwrap() <= r["ended"].as_str().unwrap());
        loaded += r["loaded"].as_u64().unwrap();
        reports.push(rep.to_str().unwrap().to_string());
    }
    let on_cluster: u64 =
        c.nodes.iter().map(|n| n.conn().cmd(&["DBSIZE"]).unwrap().int().unwrap() as u64).sum();
    assert!(loaded > 40 && on_cluster == loaded, "{loaded} loaded, {on_cluster} on the cluster");
    let merged = dir.path().join("migration.json");
    let m = merged.to_str().unwrap();
    let args = ["report", "merge", &reports[0], &reports[1], "--expect", "2", "-o", m];
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    assert_eq!(j["loaded"].as_u64(), Some(loaded));
    assert_eq!(
        j["keys"].as_u64(),
        Some(
            inspected(&[]).len() as u64 + {
                let f = corpus().join("servers/redis-7.0-expanded-seed1.rdb");
                let (_, out, _) = rdbshift(&["inspect", f.to_str().unwrap()]);
                out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() as u64
            }
        )
    );
    assert_eq!(j["dumps"].as_array().unwrap().len(), 2);
    assert_eq!(j["complete"], true);
    let per_node: u64 =
        j["per_node"].as_object().unwrap().values().map(|n| n["loaded"].as_u64().unwrap()).sum();
    assert_eq!(per_node, loaded);
    // a shard missing fails the migration
    let (code, out, err) =
        rdbshift(&["report", "merge", &reports[0], &reports[1], "--expect", "3"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("1 missing") && err.contains("NOT complete"), "{err}");
    let j: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(j["complete"], false);
}

#[test]
fn load_and_verify_without_a_terminal_write_progress_lines() {
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let f = dump();
    let url = s.url();
    // about 3 s at 60 operations a second: lines every second
    let (code, _, err) =
        rdbshift(&["load", &f, "--target", &url, "--max-ops", "60", "--progress-interval", "1"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("rdbshift: progress: ")).collect();
    assert!(lines.len() >= 2, "{err}");
    assert!(lines.iter().all(|l| l.contains(" of ") && l.contains("%)")), "{lines:?}");
    let (code, _, err) = rdbshift(&["verify", &f, "--target", &url, "--progress-interval", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("progress:"), "0 turns the lines off: {err}");
}

#[test]
fn metrics_scraped_mid_load_show_rising_counters() {
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    use common::proc::Timed;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let f = dump();
    let url = s.url();
    let addr = format!("127.0.0.1:{}", common::free_port());
    // about 4 s at 50 operations a second
    let mut cmd = common::proc::bin();
    cmd.args(["load", &f, "--target", &url, "--max-ops", "50", "--metrics", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn_timed();
    let t = Instant::now();
    let mut pages = Vec::new();
    while pages.len() < 2 {
        assert!(t.elapsed() < Duration::from_secs(30), "no two pages in time: {pages:?}");
        if let Some(p) = scrape(&addr)
            && sample(&p, "rdbshift_keys_loaded_total").is_some_and(|n| n > 0.0)
            && pages.last().is_none_or(|l: &String| {
                sample(&p, "rdbshift_keys_loaded_total") > sample(l, "rdbshift_keys_loaded_total")
            })
        {
            pages.push(p);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = child.output();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (a, b) = (&pages[0], &pages[1]);
    let node = format!("{{node=\"{}\"}}", s.addr());
    for name in ["rdbshift_ops_sent_total", "rdbshift_bytes_sent_total"] {
        assert!(sample(b, name) > sample(a, name), "{name} rises:\n{a}\n{b}");
    }
    let loaded = format!("rdbshift_node_keys_loaded_total{node}");
    assert!(sample(b, &loaded) > sample(a, &loaded), "{b}");
    assert!(sample(b, "rdbshift_throttled_seconds_total").unwrap() > 0.0, "{b}");
    for family in [
        "# TYPE rdbshift_keys_failed_total counter",
        "# TYPE rdbshift_inflight_bytes gauge",
        "# TYPE rdbshift_window_bytes gauge",
        "# TYPE rdbshift_ack_latency_seconds histogram",
        "rdbshift_retries_total 0",
        "rdbshift_redirects_total 0",
        "rdbshift_reconnects_total 0",
    ] {
        assert!(b.contains(family), "{family}: {b}");
    }
    let count = format!("rdbshift_ack_latency_seconds_count{{node=\"{}\",db=\"0\"}}", s.addr());
    assert!(sample(b, &count).unwrap() > 0.0, "{b}");
    // a port that is taken is an error before anything is sent
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = l.local_addr().unwrap().to_string();
    s.conn().cmd(&["FLUSHALL"]).unwrap();
    let (code, _, err) = rdbshift(&["load", &f, "--target", &url, "--metrics", &taken]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot listen"), "{err}");
    assert_eq!(total_keys(&s), 0);
}

/// A real twemproxy (`nutcracker`) on loopback in front of `backends`, stopped on drop.
struct Nutcracker {
    child: std::process::Child,
    port: u16,
    _dir: common::tempdir::Dir,
}

impl Nutcracker {
    fn start(backends: &[&Server]) -> Option<Nutcracker> {
        let bin = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p).map(|d| d.join("nutcracker")).find(|b| b.is_file())
        });
        let Some(bin) = bin else {
            common::missing("nutcracker", "Debian's nutcracker package (twemproxy)");
            return None;
        };
        let dir = common::tempdir::Dir::new("nutcracker");
        let port = common::free_port();
        let servers: String =
            backends.iter().map(|s| format!("   - 127.0.0.1:{}:1\n", s.port)).collect();
        let conf = dir.path().join("nut.yml");
        std::fs::write(
            &conf,
            format!(
                "alpha:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  auto_eject_hosts: false\n  servers:\n{servers}"
            ),
        )
        .unwrap();
        // its stats port too is one of ours (22222 by default)
        let stats = common::free_port().to_string();
        let child = std::process::Command::new(bin)
            .args(["-a", "127.0.0.1", "-s", &stats, "-c"])
            .arg(&conf)
            .arg("-o")
            .arg(dir.path().join("log"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let n = Nutcracker { child, port, _dir: dir };
        let t = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t.elapsed() < std::time::Duration::from_secs(10), "nutcracker did not listen");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(n)
    }
}

impl Drop for Nutcracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn through_a_real_routing_proxy() {
    let Some(a) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let Some(b) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let Some(proxy) = Nutcracker::start(&[&a, &b]) else { return };
    let url = format!("redis://127.0.0.1:{}", proxy.port);
    let f = dump();
    // twemproxy has no streams and no functions: the rest of db 0
    let sel = ["--db", "0", "--exclude-type", "stream"];
    let want = inspected(&sel).len() as u64;
    assert!(want >= 20, "{want}");
    // it answers neither INFO nor HELLO (it closes the connection): the version is asked for
    let mut args = vec!["load", f.as_str(), "--target", url.as_str()];
    args.extend_from_slice(&sel);
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--target-version"), "{err}");
    args.extend_from_slice(&["--target-version", "7.0"]);
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("proxy (keys are routed by it)"), "{err}");
    assert!(err.contains("denied INFO, CONFIG, DEBUG, CLUSTER, FUNCTION LOAD, SELECT"), "{err}");
    assert_eq!(common::accounting(&err)[1], want, "{err}");
    // the proxy spread the keys over both servers, every one of them arrived
    let (na, nb) = (total_keys(&a), total_keys(&b));
    assert!(na > 0 && nb > 0 && na + nb == want, "{na} + {nb} != {want}");
}

#[test]
fn a_renamed_key_sent_again_keeps_its_new_name() {
    use common::resp::Reply;
    let Some(c) = Cluster::start("redis-7.0") else { return };
    let f = dump();
    let opts = ["--db", "0", "--rename-prefix", "k0:=renamed:"];
    let out = inspected(&opts);
    let first = out.iter().find(|(_, n)| n.starts_with(b"renamed:")).unwrap().1.clone();
    // the new name's slot is migrating for the whole load: its keys come back with ASK and
    // are sent again, which must be under the new name, to the importing node
    let slot = common::checksum::slot(&first);
    let in_slot = out.iter().filter(|(_, n)| common::checksum::slot(n) == slot).count() as i64;
    let owns = |n: &Server| {
        n.conn().cmd(&["CLUSTER", "SLOTS"]).unwrap().array().iter().any(|r| {
            let f = r.array();
            (f[0].int().unwrap()..=f[1].int().unwrap()).contains(&(slot as i64))
                && f[2].array()[1].int() == Some(n.port as i64)
        })
    };
    let owner = c.nodes.iter().position(owns).expect("an owner");
    let dest = (owner + 1) % 3;
    let id = |s: &Server| s.conn().cmd(&["CLUSTER", "MYID"]).unwrap().text();
    let (src_id, dest_id) = (id(&c.nodes[owner]), id(&c.nodes[dest]));
    let s = slot.to_string();
    let r = c.nodes[dest].conn().cmd(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &src_id]).unwrap();
    assert_eq!(r.text(), "OK");
    let r = c.nodes[owner].conn().cmd(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &dest_id]).unwrap();
    assert_eq!(r.text(), "OK");
    let url = c.url();
    let mut args = vec!["load", f.as_str(), "--target", url.as_str()];
    args.extend_from_slice(&opts);
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(common::accounting(&err)[1], out.len() as u64, "{err}");
    assert!(!err.contains(" 0 redirects"), "the slot's keys were redirected: {err}");
    let count = |n: &Server| match n.conn().cmd(&["CLUSTER", "COUNTKEYSINSLOT", &s]).unwrap() {
        Reply::Int(k) => k,
        r => panic!("{r:?}"),
    };
    assert_eq!((count(&c.nodes[owner]), count(&c.nodes[dest])), (0, in_slot));
    for n in &c.nodes {
        assert!(scan(&mut n.conn(), "k0:*").is_empty(), "a key went out under its old name");
    }
}
