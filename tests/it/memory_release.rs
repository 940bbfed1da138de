//! Resident memory stays bounded by the work in flight, not by the dump: `load` and
//! `verify` release the mapping's pages behind them (and behind the duplicate-key check,
//! which reads names after the walk has released their pages), as `convert` does. A crafted
//! dump of about 200 MB (400k small keys, then 100 values of 1 MiB) is loaded into a real
//! server and verified; each run's peak RSS (the kernel's high-water mark, file pages counted)
//! stay well under the file (verify under half of it; before, both held the whole file).

use crate::common;

use std::time::Duration;

use common::Server;
use common::rdbfile;

const SMALL: u64 = 400_000;
const BIG: u64 = 100;

fn crafted(dir: &std::path::Path) -> std::path::PathBuf {
    let mut b = Vec::with_capacity(200 << 20);
    b.extend([0xfe, 0]);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = |n: usize| {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>()
    };
    for i in 0..SMALL {
        b.extend(rdbfile::key(0, format!("small:{i}").as_bytes(), &rdbfile::string(&noise(200))));
    }
    for i in 0..BIG {
        b.extend(rdbfile::key(0, format!("big:{i}").as_bytes(), &rdbfile::string(&noise(1 << 20))));
    }
    let mut f = b"REDIS0009".to_vec();
    f.extend(b);
    f.push(0xff);
    let crc = common::checksum::crc64(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    let p = dir.join("mixed.rdb");
    std::fs::write(&p, f).unwrap();
    p
}

#[test]
fn load_and_verify_release_the_dump_behind_them() {
    let Some(target) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let dir = common::tempdir::Dir::new("rss");
    let f = crafted(dir.path());
    let size_kib = (std::fs::metadata(&f).unwrap().len() / 1024) as i64;
    assert!(size_kib > 180 << 10, "a dump of about 200 MB ({size_kib} KiB)");
    let (fs, url) = (f.to_str().unwrap(), target.url());
    let limit = Duration::from_secs(300);
    let (code, err, load_kib) = common::proc::peak(&["load", fs, "--target", &url], limit, "VmHWM");
    assert_eq!(code, Some(0), "{err}");
    let n = common::accounting(&err);
    assert_eq!(n[0], SMALL + BIG, "every key of the dump counted: {err}");
    assert_eq!(n[1], SMALL + BIG, "every key loaded: {err}");
    let (code, err, verify_kib) =
        common::proc::peak(&["verify", fs, "--target", &url], limit, "VmHWM");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!("checked {} keys: 0 missing, 0 different", SMALL + BIG)),
        "{err}"
    );
    // verify holds a window of keys; load also holds its buffers and pieces in flight
    // (about 65 MiB of anonymous memory here): before, they held the whole file (211 MiB
    // and 225 MiB for this dump)
    for (what, kib, most) in
        [("load", load_kib, size_kib * 9 / 10), ("verify", verify_kib, size_kib / 2)]
    {
        assert!(kib > 4 << 10, "{what}: a peak was read ({kib} KiB)");
        assert!(
            kib < most,
            "{what} peaked at {} MiB resident for a {} MiB dump (at most {} MiB)",
            kib >> 10,
            size_kib >> 10,
            most >> 10
        );
    }
}
