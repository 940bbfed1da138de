//! A crafted RDB 15 file with 5M hash-template records that no key uses (45 MB) stays
//! within the memory budget in every command: each runs under a 600 MiB address-space limit
//! (the mapped file, the threads' stacks and 16 bytes per template; the registry took 25x
//! the file before), and finds the one key.

use crate::common;

use std::time::Duration;

use common::Server;
use common::rdbfile::{self, run_timed};

const RECORDS: u64 = 5_000_000;
const LIMIT_KIB: u64 = 600 << 10;

fn crafted(dir: &std::path::Path) -> std::path::PathBuf {
    let mut b = Vec::with_capacity(50 << 20);
    for id in 0..RECORDS {
        b.push(242);
        b.extend(rdbfile::len(id));
        b.extend([1, 1, b'f']);
    }
    b.extend([0xfe, 0]);
    b.extend(rdbfile::key(0, b"k", &rdbfile::string(b"v")));
    let mut f = b"REDIS0015".to_vec();
    f.extend(b);
    f.push(0xff);
    let crc = crate::common::checksum::crc64(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    let p = dir.join("templates.rdb");
    std::fs::write(&p, f).unwrap();
    p
}

#[test]
fn millions_of_template_records_stay_within_the_budget() {
    let dir = common::tempdir::Dir::new("tmpl-mem");
    let f = crafted(dir.path());
    let fs = f.to_str().unwrap();
    assert!(std::fs::metadata(&f).unwrap().len() > 40 << 20);
    let limit = Some(LIMIT_KIB);
    let t = Duration::from_secs(120);
    let (code, out, err) = run_timed(&["info", fs], limit, t);
    assert_eq!(code, Some(0), "info: {err}");
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains(&format!("hash templates: {RECORDS}")) && out.contains("db 0: 1 keys"),
        "{out}"
    );
    let (code, out, err) = run_timed(&["inspect", fs], limit, t);
    assert_eq!(code, Some(0), "inspect: {err}");
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "inspect: one key");
    let (code, out, err) =
        run_timed(&["convert", fs, "-o", "-", "--target-version", "8.6"], limit, t);
    assert_eq!(code, Some(0), "convert: {err}");
    assert!(out.windows(3).any(|w| w == b"SET"), "convert wrote the key");
    let Some(s) = Server::start_ok("redis-8.6", None, &[]) else { return };
    let url = s.url();
    let (code, _, err) = run_timed(&["load", fs, "--target", &url], limit, t);
    assert_eq!(code, Some(0), "load: {err}");
    assert!(err.contains("1 keys in the dumps: 1 loaded"), "{err}");
    let (code, _, err) = run_timed(&["verify", fs, "--target", &url], limit, t);
    assert_eq!(code, Some(0), "verify: {err}");
}
