//! Texts that must not mislead: a file that is not an RDB file says so, `--salvage` is
//! offered only when there is something to salvage, `info` shows type counts with and
//! without the already expired keys, and a URL's lone name is a password (said when
//! REDISCLI_AUTH is set too).

use crate::common;
use crate::common::proc::Timed;

use std::process::Command;

use common::rdbfile;
use common::rdbshift;

#[test]
fn a_file_that_is_not_an_rdb_file_says_so() {
    let dir = common::tempdir::Dir::new("texts");
    for (name, bytes) in
        [("six.rdb", &b"\x89PNG\r\n"[..]), ("text.rdb", b"hello, world: not a dump")]
    {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let fs = f.to_str().unwrap();
        for cmd in [&["inspect", fs][..], &["info", fs], &["convert", fs, "-o", "-"]] {
            let (code, _, err) = rdbshift(cmd);
            assert_eq!(code, 1, "{cmd:?}: {err}");
            assert!(err.contains("not an RDB file"), "{cmd:?}: {err}");
            assert!(!err.contains("bytes needed"), "{cmd:?}: {err}");
        }
        // load refuses it before connecting, with no hint about --salvage (nothing to salvage)
        let (code, _, err) = rdbshift(&["load", fs, "--target", "redis://127.0.0.1:1"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("not an RDB file") && !err.contains("salvage"), "{err}");
    }
    // a cut RDB file is still a cut file
    let f = dir.path().join("cut.rdb");
    std::fs::write(&f, b"REDIS0").unwrap();
    let (code, _, err) = rdbshift(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("bytes needed"), "{err}");
}

#[test]
fn salvage_is_offered_when_complete_keys_come_before_the_damage() {
    let dir = common::tempdir::Dir::new("texts-salvage");
    let mut recs = vec![0xfe, 0];
    for i in 0..3 {
        recs.extend(rdbfile::key(0, format!("k{i}").as_bytes(), &rdbfile::string(b"v")));
    }
    let mut d = rdbfile::file(9, &recs);
    let n = d.len();
    d[n - 1] ^= 1; // the checksum is wrong
    let f = dir.path().join("bad-crc.rdb");
    std::fs::write(&f, d).unwrap();
    let (code, _, err) =
        rdbshift(&["load", f.to_str().unwrap(), "--target", "redis://127.0.0.1:1"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("checksum")
            && err.contains("3 complete key(s) come before the damage: --salvage"),
        "{err}"
    );
}

#[test]
fn info_counts_types_with_and_without_the_already_expired() {
    let dir = common::tempdir::Dir::new("texts-info");
    let mut recs = vec![0xfe, 0];
    for i in 0..5 {
        if i < 2 {
            // expired in 2001
            recs.push(0xfc);
            recs.extend_from_slice(&1_000_000_000_000u64.to_le_bytes());
        }
        recs.extend(rdbfile::key(0, format!("s{i}").as_bytes(), &rdbfile::string(b"v")));
    }
    let f = dir.path().join("expired.rdb");
    std::fs::write(&f, rdbfile::file(9, &recs)).unwrap();
    let fs = f.to_str().unwrap();
    let (code, out, err) = rdbshift(&["info", fs]);
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("(2 already expired)"), "{out}");
    assert!(out.contains("  types: string=5\n"), "{out}");
    assert!(
        out.contains("  types without the already expired (what a server loads): string=3\n"),
        "{out}"
    );
    let (_, listed, _) = rdbshift(&["inspect", fs]);
    assert_eq!(
        listed.iter().filter(|&&b| b == b'\n').count(),
        3,
        "inspect lists what a server loads"
    );
    let (code, json, err) = rdbshift(&["info", fs, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["dbs"]["0"]["types_live"]["string"], 3, "{v}");
    assert_eq!(v["dbs"]["0"]["types"]["string"], 5, "{v}");
}

#[test]
fn a_lone_name_in_the_url_is_a_password_and_said_so_with_rediscli_auth() {
    let run = |env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rdbshift"));
        c.args(["verify", concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/redis-7.0.rdb")]);
        c.args(["--target", "redis://alice@127.0.0.1:1", "--timeout", "1"]);
        match env {
            Some(p) => c.env("REDISCLI_AUTH", p),
            None => c.env_remove("REDISCLI_AUTH"),
        };
        String::from_utf8_lossy(&c.output_timed().stderr).into_owned()
    };
    let err = run(Some("secret"));
    assert!(err.contains("the name before @ in the URL is taken as a password"), "{err}");
    assert!(!err.contains("secret"), "{err}");
    let err = run(None);
    assert!(!err.contains("taken as a password"), "{err}");
    let (_, help, _) = rdbshift(&["load", "--help"]);
    let help = String::from_utf8_lossy(&help);
    assert!(help.contains("a lone name before @ is a password"), "{help}");
}
