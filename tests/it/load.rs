//! `rdbshift load` into real servers: a standalone server and a 3-master cluster of the
//! version that wrote each dump, compared key by key with a server that loaded the dump
//! itself.

use crate::common;
use crate::common::proc::Timed;

use common::cluster::Cluster;
use common::datagen::target_of;
use common::servercmp::{CmpOpts, compare_servers};
use common::{Server, corpus, rdbshift};

fn dumps(server: &str) -> Vec<std::path::PathBuf> {
    ["compact", "expanded"]
        .iter()
        .map(|p| corpus().join(format!("servers/{server}-{p}-seed1.rdb")))
        .collect()
}

fn standalone(server: &str, mode: &[&str]) {
    for f in dumps(server) {
        let Some(a) = Server::start_ok(server, Some(&f), &[]) else { return };
        let b = Server::start_ok(server, None, &[]).unwrap();
        let url = b.url();
        let mut args = vec!["load", f.to_str().unwrap(), "--target", &url];
        args.extend_from_slice(mode);
        let (code, _, err) = rdbshift(&args);
        assert_eq!(code, 0, "{server} {}: {err}", f.display());
        assert!(err.contains(" 0 failed"), "{err}");
        let restored = mode.is_empty();
        let (n, diffs) = compare_servers(
            &a,
            &b,
            &target_of(server),
            &CmpOpts { all_dbs: true, restored, streams: true },
        );
        assert!(
            diffs.is_empty(),
            "{server} {} {mode:?}: {} differences over {n} keys:\n{}",
            f.display(),
            diffs.len(),
            diffs.join("\n")
        );
        assert!(n > 50);
    }
}

fn cluster(server: &str) {
    for f in dumps(server) {
        let Some(a) = Server::start_ok(server, Some(&f), &[]) else { return };
        let Some(c) = Cluster::start(server) else { return };
        let report = c.nodes[0].dir.path().join("report.json");
        let url = c.url();
        let (code, _, err) = rdbshift(&[
            "load",
            f.to_str().unwrap(),
            "--target",
            &url,
            "--db",
            "0",
            "--report",
            report.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{server} cluster: {err}");
        let rep: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(rep["failed"], 0);
        assert_eq!(rep["per_node"].as_object().unwrap().len(), 3, "{rep}");
        let (n, diffs) = compare_servers(
            &a,
            &c,
            &target_of(server),
            &CmpOpts { all_dbs: false, restored: true, streams: true },
        );
        assert!(
            diffs.is_empty(),
            "{server} cluster {}: {} differences over {n} keys:\n{}",
            f.display(),
            diffs.len(),
            diffs.join("\n")
        );
        assert!(n > 10 && n as u64 == rep["loaded"].as_u64().unwrap(), "{n} keys vs {rep}");
        let (code, _, err) =
            rdbshift(&["verify", f.to_str().unwrap(), "--target", &url, "--db", "0"]);
        assert_eq!(code, 0, "verify on the cluster: {err}");
        // a cluster refuses other dbs unless one is picked
        let (code, _, err) = rdbshift(&["load", f.to_str().unwrap(), "--target", &url]);
        assert_ne!(code, 0);
        assert!(err.contains("a cluster has only db 0"), "{err}");
    }
}

macro_rules! loads {
    ($($name:ident: $server:expr;)*) => {$(
        mod $name {
            #[test]
            fn standalone_restore() {
                super::standalone($server, &[]);
            }
            #[test]
            fn standalone_commands() {
                super::standalone($server, &["--mode", "commands"]);
            }
            #[test]
            fn cluster() {
                super::cluster($server);
            }
        }
    )*};
}

loads! {
    redis_7_0: "redis-7.0";
    redis_8_0: "redis-8.0";
    redis_8_6: "redis-8.6";
    valkey_9_1: "valkey-9.1";
}

#[test]
fn redis_stack_7_4_standalone() {
    standalone("redis-stack-7.4", &[]);
    standalone("redis-stack-7.4", &["--mode", "commands"]);
}

#[test]
fn wrong_password_is_a_clear_error() {
    let Some(s) = Server::start_ok("redis-7.0", None, &["--requirepass", "right"]) else { return };
    let f = corpus().join("servers/redis-7.0-compact-seed1.rdb");
    let url = format!("redis://:wrong@127.0.0.1:{}", s.port);
    let (code, _, err) = rdbshift(&["load", f.to_str().unwrap(), "--target", &url]);
    assert_ne!(code, 0);
    assert!(err.contains("WRONGPASS") || err.contains("invalid password"), "{err}");
    assert!(!err.contains("wrong@"), "password printed: {err}");
    // from REDISCLI_AUTH, the right one works
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rdbshift"))
        .args(["load", f.to_str().unwrap(), "--target", &format!("redis://127.0.0.1:{}", s.port)])
        .env("REDISCLI_AUTH", "right")
        .output_timed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// An 8.6 dump loaded into Redis 8.0: no error, and the report counts the streams whose
/// IDMP state 8.0 cannot hold (asked from the server, no option needed).
#[test]
fn redis_8_6_dump_into_redis_8_0() {
    let f = corpus().join("servers/redis-8.6-compact-seed1.rdb");
    let Some(s) = Server::start_ok("redis-8.0", None, &[]) else { return };
    let report = s.dir.path().join("report.json");
    let url = s.url();
    let (code, _, err) = rdbshift(&[
        "load",
        f.to_str().unwrap(),
        "--target",
        &url,
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stream(s) lost their IDMP state"), "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let (_, info, _) = rdbshift(&["info", "--json", f.to_str().unwrap()]);
    let info: serde_json::Value = serde_json::from_slice(&info).unwrap();
    assert_eq!(rep["not_carried"]["streams_idmp"], info["streams_with_idmp"], "{rep}");
    assert_eq!(rep["failed"], 0);
    let (code, _, err) = rdbshift(&["verify", f.to_str().unwrap(), "--target", &url]);
    assert_eq!(code, 0, "{err}");
}
