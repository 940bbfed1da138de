//! Trust under faults, against real servers: a damaged dump never reaches the target, keys
//! never land in the wrong db, an interrupted load with failures resumes exactly, a
//! checkpoint never mistakes one dump for another, and inputs are never destroyed.

use crate::common;
use crate::common::proc::Timed;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::checksum::crc64;
use crate::common::resp::Reply;
use common::workload::{dbsize, workload};
use common::{Server, rdbshift};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/redis-7.0.rdb");

/// `data` with `from` replaced by `to` (same length) at its first occurrence; the CRC-64
/// trailer recomputed when `fix_crc`.
fn patched(data: &[u8], from: &[u8], to: &[u8], fix_crc: bool) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = data.windows(from.len()).position(|w| w == from).expect("the bytes to patch");
    let mut d = data.to_vec();
    d[at..at + to.len()].copy_from_slice(to);
    if fix_crc {
        let n = d.len();
        let crc = crc64(&d[..n - 8]);
        d[n - 8..].copy_from_slice(&crc.to_le_bytes());
    }
    d
}

fn keys_in(s: &Server, db: u64) -> i64 {
    let mut c = s.conn();
    c.cmd(&["SELECT", &db.to_string()]).unwrap();
    match c.cmd(&["DBSIZE"]) {
        Ok(Reply::Int(n)) => n,
        _ => -1,
    }
}

fn total_keys(s: &Server) -> i64 {
    (0..16).map(|d| keys_in(s, d)).sum()
}

#[test]
fn a_damaged_dump_is_refused_before_anything_is_sent() {
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let dir = common::tempdir::Dir::new("trust");
    let bad = dir.path().join("bad.rdb");
    std::fs::write(&bad, patched(&std::fs::read(FIXTURE).unwrap(), b"hello", b"hellp", false))
        .unwrap();
    for mode in ["restore", "commands"] {
        let (code, _, err) =
            rdbshift(&["load", bad.to_str().unwrap(), "--target", &s.url(), "--mode", mode]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("checksum mismatch") && err.contains("byte offset"), "{err}");
        assert!(err.contains("nothing was loaded"), "{err}");
        assert_eq!(total_keys(&s), 0, "not one key reached the target");
    }
    // --salvage: the user takes the risk; every complete key goes, the run still fails
    let (code, _, err) =
        rdbshift(&["load", bad.to_str().unwrap(), "--target", &s.url(), "--salvage"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--salvage"), "{err}");
    assert_eq!(total_keys(&s), 15, "{err}");
}

#[test]
fn databases_are_exact() {
    // a dump with the same name in two dbs, written by a real server
    let Some(src) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let mut c = src.conn();
    for (db, v) in [("0", "zero"), ("1", "one")] {
        c.cmd(&["SELECT", db]).unwrap();
        c.cmd(&["SET", "same", v]).unwrap();
        c.cmd(&["SET", &format!("only-{db}"), v]).unwrap();
    }
    c.cmd(&["SAVE"]).unwrap();
    let dir = common::tempdir::Dir::new("trust");
    let dump = dir.path().join("two-dbs.rdb");
    std::fs::copy(src.dir.path().join("dump.rdb"), &dump).unwrap();
    let f = dump.to_str().unwrap();
    let Some(t) = Server::start_ok("redis-7.0", None, &["--databases", "4"]) else { return };

    // a db the target does not have: refused before anything is sent
    let (code, _, err) =
        rdbshift(&["load", f, "--target", &t.url(), "--to-db", "9", "--merge-dbs"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("db 9 cannot be selected") && err.contains("4 databases"), "{err}");
    let Some(t2) = Server::start_ok("redis-7.0", None, &["--databases", "2"]) else { return };
    let (code, _, err) = rdbshift(&["load", FIXTURE, "--target", &t2.url()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("db 3 cannot be selected"), "{err}");
    assert_eq!(keys_in(&t2, 0) + keys_in(&t2, 1), 0, "nothing landed anywhere");
    assert_eq!(total_keys(&t), 0);

    // several dbs into one: only when asked, and collisions are named
    let (code, _, err) = rdbshift(&["load", f, "--target", &format!("{}/2", t.url())]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--merge-dbs"), "{err}");
    assert_eq!(total_keys(&t), 0);
    let (code, _, err) =
        rdbshift(&["load", f, "--target", &format!("{}/2", t.url()), "--merge-dbs"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 key name(s) occur in more than one") && err.contains("\"same\""),
        "{err}"
    );
    assert_eq!((keys_in(&t, 0), keys_in(&t, 2)), (0, 3));
    assert_eq!(t.conn().cmd(&["SELECT", "2"]).ok(), Some(Reply::Status(b"OK".to_vec())));

    // each db to its own: exact
    let (code, _, err) = rdbshift(&["load", f, "--target", &t.url()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!((keys_in(&t, 0), keys_in(&t, 1)), (2, 2));
    let (code, _, err) = rdbshift(&["verify", f, "--target", &t.url()]);
    assert_eq!(code, 0, "{err}");
}

/// The offset the checkpoint records for its (first) dump, and how many failed keys it lists.
fn checkpoint_state(p: &Path) -> (u64, usize) {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let off = text
        .lines()
        .find_map(|l| l.strip_prefix("dump\t"))
        .and_then(|l| l.split('\t').nth(1))
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    (off, text.lines().filter(|l| l.starts_with("failed\t")).count())
}

#[test]
fn interrupted_with_failures_then_a_rerun_sends_them_again() {
    let dir = common::tempdir::Dir::new("trust");
    let f = workload(&dir, 200_000, 200);
    let file = f.to_str().unwrap();
    let Some(s) = Server::start_ok(
        "redis-7.0",
        None,
        &["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"],
    ) else {
        return;
    };
    let ck = dir.path().join("ck");
    let report = dir.path().join("report.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbshift"))
        .args(["load", file, "--target", &s.url(), "--checkpoint", ck.to_str().unwrap()])
        // a write blocked on the stopped server ends within --timeout
        .args(["--checkpoint-interval-ms", "0", "--stop-grace", "2", "--timeout", "3"])
        .args(["--report", report.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn_timed();
    let t = Instant::now();
    while checkpoint_state(&ck).1 == 0 {
        assert!(t.elapsed() < Duration::from_secs(60), "no failure recorded in time");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the load ended before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // the server stalls (acknowledgements stop), and the user presses Ctrl-C
    // SAFETY: signals to our own children.
    unsafe { libc::kill(s.pid(), libc::SIGSTOP) };
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.output();
    unsafe { libc::kill(s.pid(), libc::SIGCONT) };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped by SIGINT"), "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(rep["stopped_by_signal"], true);
    let n = |k: &str| rep[k].as_u64().unwrap();
    assert_eq!(n("keys"), 200_000);
    assert!(n("failed") > 0 && n("loaded") > 0 && n("not_sent") > 0, "{rep}");
    assert_eq!(
        n("loaded") + n("failed") + n("not_sent"),
        200_000,
        "every key accounted for: {rep}"
    );
    assert!(dbsize(&s) as u64 >= n("loaded"), "keys acknowledged after the grace period may exist");
    let (offset, failed) = checkpoint_state(&ck);
    assert!(offset > 0 && failed as u64 == n("failed"), "{offset} {failed} {rep}");

    // the cause fixed, a rerun sends the failures again and the rest
    s.conn().cmd(&["CONFIG", "SET", "maxmemory", "0"]).unwrap();
    let (code, _, err) =
        rdbshift(&["load", file, "--target", &s.url(), "--checkpoint", ck.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("sending again {failed} key(s) that failed")), "{err}");
    assert!(err.contains(" 0 failed"), "{err}");
    assert_eq!(dbsize(&s), 200_000);
    let (code, _, err) = rdbshift(&["verify", file, "--target", &s.url()]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_checkpoint_is_for_one_dump_only() {
    let Some(s) = Server::start_ok("redis-7.0", None, &["--databases", "16"]) else { return };
    let dir = common::tempdir::Dir::new("trust");
    let dump = dir.path().join("d.rdb");
    let orig = std::fs::read(FIXTURE).unwrap();
    std::fs::write(&dump, &orig).unwrap();
    let f = dump.to_str().unwrap();
    let ck = dir.path().join("ck");
    let c = ck.to_str().unwrap();
    let (code, _, err) = rdbshift(&["load", f, "--target", &s.url(), "--checkpoint", c]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = rdbshift(&["load", f, "--target", &s.url(), "--checkpoint", c]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already loaded"), "{err}");
    // another dump of the same size at the same path: loaded afresh
    std::fs::write(&dump, patched(&orig, b"hello", b"jello", true)).unwrap();
    assert_eq!(std::fs::metadata(&dump).unwrap().len(), orig.len() as u64);
    let (code, _, err) = rdbshift(&["load", f, "--target", &s.url(), "--checkpoint", c]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("already loaded") && !err.contains("resuming"), "{err}");
    let (code, _, err) = rdbshift(&["verify", f, "--target", &s.url()]);
    assert_eq!(code, 0, "the new dump's content was loaded: {err}");
    // offsets that are not key boundaries of the dump are refused
    let data = std::fs::read(&dump).unwrap();
    let fp = crate::common::checksum::fingerprint(&data);
    std::fs::write(&ck, format!("rdbshift-checkpoint\t2\ndump\t{fp}\t300\t{f}\n")).unwrap();
    s.conn().cmd(&["FLUSHALL"]).unwrap();
    let (code, _, err) = rdbshift(&["load", f, "--target", &s.url(), "--checkpoint", c]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not key boundaries"), "{err}");
    assert_eq!(total_keys(&s), 0);
    // a checkpoint that cannot be written is found before anything is sent
    let missing = dir.path().join("no/such/dir/ck");
    let (code, _, err) =
        rdbshift(&["load", f, "--target", &s.url(), "--checkpoint", missing.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no/such/dir/ck"), "{err}");
    assert_eq!(total_keys(&s), 0);
}

#[test]
fn outputs_never_destroy_inputs() {
    let dir = common::tempdir::Dir::new("trust");
    let dump = dir.path().join("d.rdb");
    std::fs::copy(FIXTURE, &dump).unwrap();
    std::os::unix::fs::symlink(&dump, dir.path().join("link")).unwrap();
    std::fs::hard_link(&dump, dir.path().join("hard")).unwrap();
    let orig = std::fs::read(&dump).unwrap();
    for out in ["d.rdb", "link", "hard"] {
        let o = dir.path().join(out);
        for cmd in ["convert", "inspect"] {
            let (code, _, err) =
                rdbshift(&[cmd, dump.to_str().unwrap(), "-o", o.to_str().unwrap()]);
            assert_eq!(code, 1, "{cmd} -o {out}: {err}");
            assert!(err.contains("refusing to overwrite"), "{err}");
            assert_eq!(std::fs::read(&dump).unwrap(), orig, "{cmd} -o {out} left the input intact");
        }
    }
    // inputs that are not files say what they are
    let (code, _, err) = rdbshift(&["inspect", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("is a directory"), "{err}");
    let empty = dir.path().join("empty.rdb");
    std::fs::write(&empty, b"").unwrap();
    let (_, _, err) = rdbshift(&["info", empty.to_str().unwrap()]);
    assert!(err.contains("is empty"), "{err}");
    // a failed output leaves nothing behind, and names its path
    let (code, _, err) = rdbshift(&["convert", dump.to_str().unwrap(), "-o", "/proc/version/x"]);
    assert_eq!(code, 1);
    assert!(err.contains("/proc/version/x"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4, "no temporary file left");
}

/// A dump truncated while it is read: a clear error naming the file, never a bus error.
#[test]
fn a_dump_truncated_under_the_reader_is_a_clear_error() {
    let dir = common::tempdir::Dir::new("trust");
    let big = workload(&dir, 150_000, 300);
    for cmd in [&["inspect"][..], &["convert", "-o", "-"][..]] {
        let f: PathBuf = dir.path().join("victim.rdb");
        std::fs::copy(&big, &f).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rdbshift"))
            .args(cmd)
            .arg(&f)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_timed();
        // once output flows (the reader is blocked on the full pipe), cut the file short
        let mut out = child.stdout.take().unwrap();
        let mut first = vec![0u8; 1 << 16];
        out.read_exact(&mut first).unwrap();
        std::fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(1 << 20).unwrap();
        let mut rest = Vec::new();
        out.read_to_end(&mut rest).unwrap();
        let st = child.output();
        let err = String::from_utf8_lossy(&st.stderr);
        assert_eq!(st.status.code(), Some(1), "{cmd:?}: {err}");
        assert!(
            err.contains("victim.rdb") && err.contains("changed while it was being read"),
            "{cmd:?}: {err}"
        );
        assert!(
            rest.len() + first.len() > 1 << 16,
            "{cmd:?}: output before the change was written"
        );
    }
}
