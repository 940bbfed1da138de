//! The duplicate-key check keeps 8 bytes per key (README, memory budget): a crafted dump of
//! 20M tiny keys is read by `info` and `convert` within 64 MiB + 8 bytes per key of
//! anonymous memory (the check took 21 to 43 bytes per key before: about 400 MiB on 10M
//! keys), every key counted; then one name is made equal to the first, and the same
//! commands refuse the file, naming the key and both offsets.

use crate::common;

use std::time::Duration;

const KEYS: u64 = 20_000_000;

/// `REDIS0009`, 20M string keys named `000000000`, `000000001` ... with 1-byte integer
/// values, EOF and a zero (unchecked) checksum.
fn crafted(dir: &std::path::Path) -> std::path::PathBuf {
    let mut f = Vec::with_capacity(9 + KEYS as usize * 13 + 9);
    f.extend_from_slice(b"REDIS0009");
    let mut name = *b"000000000";
    for i in 0..KEYS {
        // the name counts up in decimal, digit by digit (no formatting per key)
        f.extend_from_slice(&[0, 9]);
        f.extend_from_slice(&name);
        f.extend_from_slice(&[0xc0, i as u8]);
        for d in name.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                break;
            }
        }
    }
    f.push(0xff);
    f.extend_from_slice(&[0; 8]);
    let p = dir.join("names.rdb");
    std::fs::write(&p, f).unwrap();
    p
}

#[test]
fn twenty_million_key_names_fit_in_eight_bytes_each() {
    let dir = common::tempdir::Dir::new("names-mem");
    let f = crafted(dir.path());
    let fs = f.to_str().unwrap();
    let budget_kib = (64 << 10) + (KEYS * 8 / 1024) as i64;
    let t = Duration::from_secs(600);
    for args in [&["info", fs][..], &["convert", fs, "-o", "/dev/null"]] {
        let (code, err, anon_kib) = common::proc::peak(args, t, "RssAnon");
        assert_eq!(code, Some(0), "{args:?}: {err}");
        if args[0] == "convert" {
            assert!(err.contains(&format!("{KEYS} keys for Redis")), "every key written: {err}");
        }
        // the table alone is 152 MiB: a peak under it would mean it was not built
        assert!(anon_kib > (KEYS * 8 / 1024) as i64, "{args:?}: a peak was read ({anon_kib} KiB)");
        assert!(
            anon_kib <= budget_kib,
            "{args:?}: {} MiB of anonymous memory, over 64 MiB + 8 bytes x {KEYS} keys ({} MiB)",
            anon_kib >> 10,
            budget_kib >> 10
        );
        eprintln!("{args:?}: peak anonymous memory {} MiB of {}", anon_kib >> 10, budget_kib >> 10);
    }
    let (_, out, _) = common::rdbfile::run_timed(&["info", fs], None, t);
    assert!(String::from_utf8_lossy(&out).contains(&format!("db 0: {KEYS} keys")));

    // the last key's name made the first's: refused, at the last name, naming the first
    // (offsets are of the name's length prefix, right after the type byte)
    let mut data = std::fs::read(&f).unwrap();
    let last = data.len() - 9 - 13 + 2;
    data[last..last + 9].copy_from_slice(b"000000000");
    std::fs::write(&f, &data).unwrap();
    drop(data);
    for args in [&["info", fs][..], &["convert", fs, "-o", "/dev/null"]] {
        let (code, _, err) = common::rdbfile::run_timed(args, None, t);
        assert_ne!(code, Some(0), "{args:?}: a key twice is refused");
        assert!(
            err.contains("in key \"000000000\"")
                && err.contains("first at byte offset 10")
                && err.contains(&format!("at byte offset {}", last - 1)),
            "{args:?}: {err}"
        );
    }
}
