//! A checkpoint belongs to one load: its target, db mapping and selection. A rerun that
//! differs in any of them is refused and told what differs; `--checkpoint-reset` starts
//! over; keys the selection left out are never "done by an earlier run".

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::resp::Reply;
use common::cluster::Cluster;
use common::workload::dbsize;
use common::{Server, rdbshift};

/// A Redis 7.0 dump of `n` keys `a:*` and `n` keys `b:*`.
/// `None` when redis-7.0 is missing (and that is allowed: the caller skips).
fn two_prefixes(dir: &Path, n: usize) -> Option<PathBuf> {
    let s = Server::start_ok("redis-7.0", None, &[])?;
    let mut c = s.conn();
    for i in 0..n {
        for p in ["a", "b"] {
            let k = format!("{p}:{i}");
            assert_eq!(
                c.cmd(&["SET", &k, &format!("value of {k}")]).unwrap(),
                Reply::Status(b"OK".to_vec())
            );
        }
    }
    c.cmd(&["SAVE"]).unwrap();
    let p = dir.join("two.rdb");
    std::fs::copy(s.dir.path().join("dump.rdb"), &p).unwrap();
    Some(p)
}

#[test]
fn a_checkpoint_of_another_load_is_never_taken_as_done() {
    let dir = common::tempdir::Dir::new("ckbound");
    let n = 300;
    let Some(dump) = two_prefixes(dir.path(), n) else { return };
    let d = dump.to_str().unwrap();
    let ck = dir.path().join("ck");
    let ck = ck.to_str().unwrap();
    let s = Server::start_ok("redis-7.0", None, &[]).unwrap();
    let url = s.url();

    // a load of half the keys
    let (code, _, err) =
        rdbshift(&["load", d, "--target", &url, "--key", "a:*", "--checkpoint", ck]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        common::accounting(&err),
        vec![2 * n as u64, n as u64, 0, 0, n as u64, 0, 0, 0],
        "{err}"
    );
    assert_eq!(dbsize(&s), n as i64);
    let recorded = std::fs::read(ck).unwrap();

    // the same load again: done, and the keys it left out are filtered, not "earlier"
    let (code, _, err) =
        rdbshift(&["load", d, "--target", &url, "--key", "a:*", "--checkpoint", ck]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already loaded"), "{err}");
    assert_eq!(
        common::accounting(&err),
        vec![2 * n as u64, 0, 0, 0, n as u64, 0, n as u64, 0],
        "{err}"
    );

    // another selection: refused, naming it, and nothing is sent
    let (code, _, err) = rdbshift(&["load", d, "--target", &url, "--checkpoint", ck]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the selection was --key 'a:*' (now all keys)"), "{err}");
    assert!(err.contains("--checkpoint-reset") && err.contains("nothing was loaded"), "{err}");
    assert_eq!(dbsize(&s), n as i64, "nothing more was sent");

    // another db mapping
    let (code, _, err) = rdbshift(&[
        "load",
        d,
        "--target",
        &url,
        "--key",
        "a:*",
        "--to-db",
        "3",
        "--checkpoint",
        ck,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the keys went as in the dump (now all into db 3)"), "{err}");

    // another target
    let other = Server::start_ok("redis-7.0", None, &[]).unwrap();
    let (code, _, err) =
        rdbshift(&["load", d, "--target", &other.url(), "--key", "a:*", "--checkpoint", ck]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "the target was the server at {} (now the server at {})",
            s.addr(),
            other.addr()
        )),
        "{err}"
    );
    assert_eq!(dbsize(&other), 0, "nothing reached the other target");
    assert_eq!(
        std::fs::read(ck).unwrap(),
        recorded,
        "a refused run leaves the checkpoint as it was"
    );

    // --checkpoint-reset: the whole dump, from the start
    let (code, _, err) =
        rdbshift(&["load", d, "--target", &url, "--checkpoint", ck, "--checkpoint-reset"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        common::accounting(&err),
        vec![2 * n as u64, 2 * n as u64, 0, 0, 0, 0, 0, 0],
        "{err}"
    );
    assert_eq!(dbsize(&s), 2 * n as i64);
    let (code, _, err) = rdbshift(&["load", d, "--target", &url, "--checkpoint", ck]);
    assert_eq!(
        (code, common::accounting(&err)),
        (0, vec![2 * n as u64, 0, 0, 0, 0, 0, 2 * n as u64, 0]),
        "{err}"
    );
}

#[test]
fn a_cluster_is_the_same_target_through_any_of_its_nodes() {
    let dir = common::tempdir::Dir::new("ckcluster");
    let n = 200;
    let Some(dump) = two_prefixes(dir.path(), n) else { return };
    let d = dump.to_str().unwrap();
    let ck = dir.path().join("ck");
    let ck = ck.to_str().unwrap();
    let Some(cl) = Cluster::start("redis-7.0") else { return };
    let (code, _, err) = rdbshift(&["load", d, "--target", &cl.nodes[0].url(), "--checkpoint", ck]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(common::accounting(&err)[1], 2 * n as u64, "{err}");
    let (code, _, err) = rdbshift(&["load", d, "--target", &cl.nodes[2].url(), "--checkpoint", ck]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already loaded"), "{err}");
    assert_eq!(
        common::accounting(&err),
        vec![2 * n as u64, 0, 0, 0, 0, 0, 2 * n as u64, 0],
        "{err}"
    );
    // a standalone server is another target
    let s = Server::start_ok("redis-7.0", None, &[]).unwrap();
    let (code, _, err) = rdbshift(&["load", d, "--target", &s.url(), "--checkpoint", ck]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the target was the cluster of masters"), "{err}");
}
