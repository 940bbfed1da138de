//! Hostile input: mutated real dumps are refused with an error naming a byte offset, never
//! with a panic, a hang, or a large allocation (the binary runs under a 1 GiB address-space
//! limit, so an allocation driven by a bogus length would abort it).

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdbshift::format::record::Options;
use rdbshift::format::value::Scratch;
use rdbshift::format::{Reader, Record};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn server_dumps() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(common::corpus().join("servers")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// Runs the binary under `ulimit -v` (KiB) with a time limit; returns (status, stderr).
fn run_limited(args: &[&str], limit_kib: u64, timeout: Duration) -> (Option<i32>, String) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {limit_kib}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_rdbshift"))
        .args(args);
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (st.code(), err);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return (None, "timed out".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn mutated_dumps_are_refused_with_offsets() {
    let dumps = server_dumps();
    assert!(!dumps.is_empty());
    let dir = common::tempdir::Dir::new("hostile");
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut problems = Vec::new();
    for i in 0..150 {
        let src = &dumps[rng.below(dumps.len())];
        let mut data = std::fs::read(src).unwrap();
        let kind = i % 4;
        let what = match kind {
            0 => {
                let n = 9 + rng.below(data.len() - 10);
                data.truncate(n);
                format!("truncated to {n}")
            }
            1 => {
                let j = 9 + rng.below(data.len() - 18);
                data[j] ^= 1 << rng.below(8);
                format!("bit flipped at {j}")
            }
            2 => {
                let j = 9 + rng.below(data.len() - 18);
                data.splice(j..j + 1, [0x80, 0xff, 0xff, 0xff, 0xf0]);
                format!("length inflated at {j}")
            }
            _ => {
                let j = 9 + rng.below(data.len() - 18);
                let end = (j + 64).min(data.len());
                data[j..end].fill(0);
                format!("zeroed at {j}")
            }
        };
        let path = dir.path().join(format!("m{i}.rdb"));
        std::fs::write(&path, &data).unwrap();
        let p = path.to_str().unwrap();
        let inspect: &[&str] = &["inspect", p, "--format", "jsonl"];
        // convert runs the parallel engine (small chunks: many workers see the damage)
        let mut convert = vec!["convert", p, "-o", "/dev/null", "--threads", "2", "--chunk-bytes", "4096"];
        if i % 2 == 1 {
            convert.push("--restore");
        }
        for args in [inspect, &convert[..]] {
            let (code, err) = run_limited(args, 1 << 20, Duration::from_secs(20));
            let name = format!("{} {what} ({})", src.file_name().unwrap().to_string_lossy(), args[0]);
            match code {
                None => problems.push(format!("{name}: killed or timed out: {err}")),
                Some(0) => problems.push(format!("{name}: accepted")),
                Some(101) => problems.push(format!("{name}: panicked: {err}")),
                Some(_) if err.contains("panicked") || err.contains("memory allocation") => {
                    problems.push(format!("{name}: {err}"))
                }
                Some(_) if !err.contains("byte offset") => problems.push(format!("{name}: no offset in: {err}")),
                _ => {}
            }
        }
    }
    assert!(problems.is_empty(), "{} of 150 mutations mishandled:\n{}", problems.len(), problems.join("\n"));
}

/// Decodes every key of a prefix of `data`; must end in an error, never a panic.
fn read_all(data: &[u8]) -> Result<(), rdbshift::format::Error> {
    let mut r = Reader::new(data, Options::default())?;
    let h = r.header;
    let mut s = Scratch::default();
    while let Some(rec) = r.next_record()? {
        if let Record::Key(k) = rec {
            k.decode(data, &h, &mut rdbshift::format::visit::Ignore, &mut s)?;
        }
    }
    Ok(())
}

#[test]
fn every_truncation_of_small_dumps_is_an_error() {
    for name in [
        "librdb/stream_v11.rdb",
        "librdb/hash_lp_with_hexpire_v12.rdb",
        "librdb/quicklist2_v11.rdb",
        "redis-rdb-tools/zipmap_that_compresses_easily.rdb",
        "librdb/function2.rdb",
    ] {
        let data = std::fs::read(common::corpus().join(name)).unwrap();
        read_all(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        for n in 0..data.len() - 8 {
            let e = read_all(&data[..n]).expect_err(&format!("{name} cut at {n} was accepted"));
            assert!(e.offset <= n as u64, "{name} cut at {n}: error offset {} past the end", e.offset);
        }
    }
}

#[test]
fn wrong_checksum_is_refused() {
    let mut data = std::fs::read(common::corpus().join("librdb/stream_v11.rdb")).unwrap();
    let n = data.len();
    data[n - 1] ^= 0x40;
    let e = read_all(&data).unwrap_err();
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
    assert_eq!(e.offset, n as u64 - 8);
}

#[test]
fn newer_versions_are_refused_by_name() {
    let dir = common::tempdir::Dir::new("newer");
    for (magic, want) in [("REDIS0014", "version 14"), ("VALKEY081", "version 81"), ("REDIS0099", "version 99")] {
        let mut data = std::fs::read(common::corpus().join("librdb/empty.rdb")).unwrap();
        data[..9].copy_from_slice(magic.as_bytes());
        let p = dir.path().join("f.rdb");
        std::fs::write(&p, &data).unwrap();
        let (code, _, err) = common::rdbshift(&["inspect", p.to_str().unwrap()]);
        assert_ne!(code, 0);
        assert!(err.contains(want) && err.contains("newest supported"), "{magic}: {err}");
    }
}
