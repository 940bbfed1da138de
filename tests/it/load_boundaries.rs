//! Every key is counted wherever it falls: dumps whose keys straddle every chunk boundary
//! (values from 1 byte to 100 MB, one key bigger than a chunk, chunks of one key) load with
//! `N loaded, 0 not sent`, exit 0, and leave a checkpoint at the end of the file, in both
//! modes, with one decoding thread and several, into a standalone server and a cluster.

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::resp::Conn;
use crate::common::resp::Reply;
use common::cluster::Cluster;
use common::{Server, rdbshift};

/// Deterministic bytes: incompressible (`random`) or a repeated pattern LZF squeezes.
fn bytes(seed: u64, n: usize, random: bool) -> Vec<u8> {
    if !random {
        return (0..n).map(|i| b'a' + (i % 7) as u8).collect();
    }
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

fn ok(c: &mut Conn, args: &[&[u8]]) {
    let r = c.call(args).unwrap();
    assert!(!matches!(r, Reply::Error(_)), "{:?}: {r:?}", String::from_utf8_lossy(args[0]));
}

/// A Redis 7.0 dump with keys of every size band, written by the real server: returns
/// (path, number of keys).
/// `None` when redis-7.0 is missing (and that is allowed: the caller skips).
fn banded_dump(dir: &Path) -> Option<(PathBuf, u64)> {
    let s = Server::start_ok("redis-7.0", None, &[])?;
    let mut c = s.conn();
    let sizes =
        [1usize, 7, 100, 1000, 4000, 30_000, 65_535, 65_536, 100_000, 1 << 20, 3 << 20, 5 << 20];
    let mut n = 0u64;
    for round in 0..3u64 {
        for (i, &size) in sizes.iter().enumerate() {
            let name = format!("band:{round}:{i}:{size}");
            ok(
                &mut c,
                &[b"SET", name.as_bytes(), &bytes(n, size, (round + i as u64).is_multiple_of(2))],
            );
            if i.is_multiple_of(3) {
                ok(&mut c, &[b"PEXPIRE", name.as_bytes(), b"86400000"]);
            }
            n += 1;
        }
        // keys of many commands in commands mode: a big hash and a big list
        for chunk in 0..4u64 {
            let name = format!("hash:{round}");
            let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), name.into_bytes()];
            for f in 0..2500u64 {
                args.push(format!("f{}", chunk * 2500 + f).into_bytes());
                args.push(bytes(f, 200, f.is_multiple_of(2)));
            }
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            ok(&mut c, &refs);
            let name = format!("list:{round}");
            let mut args: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), name.into_bytes()];
            args.extend((0..3000u64).map(|e| bytes(e, 50, true)));
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            ok(&mut c, &refs);
        }
        n += 2;
    }
    // the reported case: 1000 strings of 30 KB random bytes
    for i in 0..1000u64 {
        ok(&mut c, &[b"SET", format!("r:{i:04}").as_bytes(), &bytes(i + 7, 30_000, true)]);
        n += 1;
    }
    // one key far bigger than a chunk
    ok(&mut c, &[b"SET", b"huge", &bytes(99, 100 << 20, true)]);
    n += 1;
    assert_eq!(c.cmd(&["DBSIZE"]).unwrap(), Reply::Int(n as i64));
    ok(&mut c, &[b"SAVE"]);
    let p = dir.join("banded.rdb");
    std::fs::copy(s.dir.path().join("dump.rdb"), &p).unwrap();
    Some((p, n))
}

/// The offset a checkpoint records for its (only) dump.
fn checkpoint_offset(ck: &Path) -> u64 {
    let text = std::fs::read_to_string(ck).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("dump\t"))
        .unwrap_or_else(|| panic!("no dump entry: {text}"));
    line.split('\t').nth(2).unwrap().parse().unwrap()
}

fn flush(urls: &[String]) {
    for u in urls {
        let addr = u.trim_start_matches("redis://");
        let mut c = Conn::connect(addr, std::time::Duration::from_secs(60)).unwrap();
        ok(&mut c, &[b"FLUSHALL"]);
    }
}

fn keys_on(urls: &[String]) -> i64 {
    urls.iter()
        .map(|u| {
            let mut c =
                Conn::connect(u.trim_start_matches("redis://"), std::time::Duration::from_secs(60))
                    .unwrap();
            match c.cmd(&["DBSIZE"]).unwrap() {
                Reply::Int(n) => n,
                r => panic!("{r:?}"),
            }
        })
        .sum()
}

/// Loads `dump` with `extra` and checks that the counts add up exactly.
fn load_counts_every_key(
    dump: &Path,
    n: u64,
    target: &str,
    nodes: &[String],
    extra: &[&str],
    tag: &str,
) {
    let dir = common::tempdir::Dir::new("bounds");
    flush(nodes);
    let ck = dir.path().join("ck");
    let rep = dir.path().join("report.json");
    let mut args =
        vec!["load", dump.to_str().unwrap(), "--target", target, "--report", rep.to_str().unwrap()];
    args.extend_from_slice(extra);
    let with_ck = tag.contains("checkpoint");
    if with_ck {
        args.extend_from_slice(&["--checkpoint", ck.to_str().unwrap()]);
    }
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{tag}: {err}");
    let a = common::accounting(&err);
    assert_eq!(a, vec![n, n, 0, 0, 0, 0, 0, 0], "{tag}: {err}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    assert_eq!(report["loaded"], n, "{tag}: {report}");
    assert_eq!(report["not_sent"], 0, "{tag}: {report}");
    assert_eq!(keys_on(nodes), n as i64, "{tag}: the target holds every key");
    if with_ck {
        let size = std::fs::metadata(dump).unwrap().len();
        assert_eq!(checkpoint_offset(&ck), size, "{tag}: the checkpoint ends at the file's size");
        // and a rerun has nothing left to do
        let (code, _, err) = rdbshift(&args);
        assert_eq!(code, 0, "{tag} rerun: {err}");
        assert!(err.contains("already loaded"), "{tag} rerun: {err}");
    }
}

#[test]
fn keys_at_chunk_boundaries_are_counted_in_every_mode() {
    let dir = common::tempdir::Dir::new("bounds-dump");
    let Some((dump, n)) = banded_dump(dir.path()) else { return };
    assert!(std::fs::metadata(&dump).unwrap().len() > 120 << 20, "the dump spans many chunks");
    let s = Server::start_ok("redis-7.0", None, &[]).unwrap();
    let urls = vec![s.url()];
    for mode in ["restore", "commands"] {
        let runs: [(&[&str], &str); 4] = [
            (&["--threads", "1"], "threads 1, checkpoint"),
            (&["--threads", "4", "--chunk-bytes", "1"], "chunks of one key"),
            (&["--threads", "2", "--chunk-bytes", "65536"], "64 KiB chunks, checkpoint"),
            (&[], "defaults"),
        ];
        for (extra, tag) in runs {
            let mut args = vec!["--mode", mode];
            args.extend_from_slice(extra);
            load_counts_every_key(
                &dump,
                n,
                &s.url(),
                &urls,
                &args,
                &format!("standalone {mode} {tag}"),
            );
        }
    }
    drop(s);
    let Some(cl) = Cluster::start("redis-7.0") else { return };
    let urls: Vec<String> = cl.nodes.iter().map(|n| n.url()).collect();
    for mode in ["restore", "commands"] {
        load_counts_every_key(
            &dump,
            n,
            &cl.url(),
            &urls,
            &["--mode", mode],
            &format!("cluster {mode} checkpoint"),
        );
        load_counts_every_key(
            &dump,
            n,
            &cl.url(),
            &urls,
            &["--mode", mode, "--chunk-bytes", "1", "--threads", "1"],
            &format!("cluster {mode} chunks of one key"),
        );
    }
}
