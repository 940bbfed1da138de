//! Dumps made by a real server for load tests.

use crate::common::proc::Timed;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::Server;
use crate::common::resp::Reply;

/// A dump of `n` string keys of about `size` bytes, written by Redis 7.0.
pub fn workload(dir: &super::tempdir::Dir, n: u64, size: u64) -> PathBuf {
    workload_named(dir, n, size, "key:")
}

pub fn workload_named(dir: &super::tempdir::Dir, n: u64, size: u64, prefix: &str) -> PathBuf {
    let s = Server::start_ok("redis-7.0", None, &[]).unwrap();
    let mut generator = Command::new("python3")
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gen-workload.py"),
            "strings",
            &n.to_string(),
            &size.to_string(),
            prefix,
        ])
        .stdout(Stdio::piped())
        .spawn_timed();
    let st = Command::new("redis-cli")
        .args(["-p", &s.port.to_string(), "--pipe"])
        .stdin(generator.stdout.take().unwrap())
        .output_timed();
    assert!(st.status.success());
    assert!(generator.wait().success());
    s.conn().cmd(&["SAVE"]).unwrap();
    let p = dir.path().join(format!("workload-{}.rdb", prefix.trim_end_matches(':')));
    std::fs::copy(s.dir.path().join("dump.rdb"), &p).unwrap();
    p
}

/// DBSIZE of the selected db of a fresh connection (db 0), -1 on error.
pub fn dbsize(s: &Server) -> i64 {
    match s.conn().cmd(&["DBSIZE"]) {
        Ok(Reply::Int(n)) => n,
        _ => -1,
    }
}
