//! Hostile input: mutated real dumps are refused with an error naming a byte offset, never
//! with a panic, a hang, or a large allocation (the binary runs under a 1 GiB address-space
//! limit, so an allocation driven by a bogus length would abort it).

use crate::common;
use crate::common::proc::Timed;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// the reader crate's documented API (as in its crate docs), for sweeps too big to run
// through the binary one process per case
use rdbshift_format::record::Options;
use rdbshift_format::{Reader, Record, Scratch};

/// A visitor that wants no events (every method keeps its default).
struct Ignore;
impl rdbshift_format::visit::Visitor for Ignore {
    type Error = rdbshift_format::Error;
}

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
    let mut v: Vec<PathBuf> = std::fs::read_dir(common::corpus().join("servers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
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
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn_timed();
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
        let mut convert =
            vec!["convert", p, "-o", "/dev/null", "--threads", "2", "--chunk-bytes", "4096"];
        if i % 2 == 1 {
            convert.push("--restore");
        }
        // rewrite for an older server: values checked, then kept or re-encoded
        let rewrite: &[&str] = &["rewrite", p, "-o", "/dev/null", "--target-version", "6.2"];
        let runs: Vec<&[&str]> = if i % 3 == 0 {
            vec![inspect, &convert[..], rewrite]
        } else {
            vec![inspect, &convert[..]]
        };
        for args in runs {
            let (code, err) = run_limited(args, 1 << 20, Duration::from_secs(20));
            let name =
                format!("{} {what} ({})", src.file_name().unwrap().to_string_lossy(), args[0]);
            match code {
                None => problems.push(format!("{name}: killed or timed out: {err}")),
                Some(0) => problems.push(format!("{name}: accepted")),
                Some(101) => problems.push(format!("{name}: panicked: {err}")),
                Some(_) if err.contains("panicked") || err.contains("memory allocation") => {
                    problems.push(format!("{name}: {err}"))
                }
                Some(_) if !err.contains("byte offset") => {
                    problems.push(format!("{name}: no offset in: {err}"))
                }
                _ => {}
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of 150 mutations mishandled:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Decodes every key of a prefix of `data`; must end in an error, never a panic.
fn read_all(data: &[u8]) -> Result<(), rdbshift_format::Error> {
    let mut r = Reader::new(data, Options::default())?;
    let mut s = Scratch::default();
    while let Some(rec) = r.next_record()? {
        if let Record::Key(k) = rec {
            k.decode(&mut Ignore, &mut s)?;
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
            assert!(
                e.offset <= n as u64,
                "{name} cut at {n}: error offset {} past the end",
                e.offset
            );
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
    for (magic, want) in
        [("REDIS0016", "version 16"), ("VALKEY082", "version 82"), ("REDIS0099", "version 99")]
    {
        let mut data = std::fs::read(common::corpus().join("librdb/empty.rdb")).unwrap();
        data[..9].copy_from_slice(magic.as_bytes());
        let p = dir.path().join("f.rdb");
        std::fs::write(&p, &data).unwrap();
        let (code, _, err) = common::rdbshift(&["inspect", p.to_str().unwrap()]);
        assert_ne!(code, 0);
        assert!(err.contains(want) && err.contains("newest supported"), "{magic}: {err}");
    }
}

/// A type 26 (Redis 8.6) stream value with no entries: `groups` is the group section
/// (count first), `idmp` the producer section (count first) after the IDMP settings.
fn stream26(groups: &[u8], idmp: &[u8]) -> Vec<u8> {
    let mut b = vec![0]; // listpack nodes
    b.extend([0, 0, 0]); // length 0, last ID 0-0
    b.extend([0, 0, 0, 0, 0]); // first ID, max deleted ID, entries added
    b.extend_from_slice(groups);
    b.extend([0x40, 100, 0x40, 100]); // IDMP duration and max size (100, 14-bit lengths)
    b.extend_from_slice(idmp);
    b.extend([0, 0]); // IIDs added, duplicates
    b
}

/// Runs inspect, convert, convert --restore and rewrite on `f` under a 1 GiB address-space limit:
/// each must fail within `secs` seconds with an offset, and without a panic or abort.
fn fails_fast(f: &std::path::Path, what: &str, says: &str, secs: u64) -> Vec<String> {
    let p = f.to_str().unwrap();
    let mut problems = Vec::new();
    for args in [
        &["inspect", p, "-o", "/dev/null"][..],
        &["convert", p, "-o", "/dev/null"],
        &["convert", p, "-o", "/dev/null", "--restore"],
        &["rewrite", p, "-o", "/dev/null", "--target-version", "6.2"],
    ] {
        let t = Instant::now();
        let (code, err) = run_limited(args, 1 << 20, Duration::from_secs(60));
        let name = format!("{what} ({})", args[..args.len().min(5)].join(" "));
        match code {
            None => problems.push(format!("{name}: killed or timed out: {err}")),
            Some(0) => problems.push(format!("{name}: accepted")),
            Some(_)
                if err.contains("panicked")
                    || err.contains("memory allocation")
                    || !err.contains("byte offset")
                    || !err.contains(says) =>
            {
                problems.push(format!("{name}: {err} (expected {says:?})"))
            }
            _ if t.elapsed() > Duration::from_secs(secs) => {
                problems.push(format!("{name}: took {:?}", t.elapsed()))
            }
            _ => {}
        }
    }
    problems
}

fn len(n: u64) -> Vec<u8> {
    common::rdbfile::len(n)
}

#[test]
fn declared_counts_never_drive_allocation() {
    let dir = common::tempdir::Dir::new("counts");
    let n = 50_000_000;
    // a group: name "g", last ID 0-0, entries read 0, then the PEL and the consumers
    let group = |pel: &[u8], consumers: &[u8]| {
        let mut g = vec![1, 1, b'g', 0, 0, 0];
        g.extend_from_slice(pel);
        g.extend_from_slice(consumers);
        g
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("50M listpack nodes", [len(n), stream26(&[0], &[0])[1..].to_vec()].concat()),
        ("50M groups", stream26(&len(n), &[0])),
        ("50M group PEL entries", stream26(&[&[1u8][..], &group(&len(n), &[0])].concat(), &[0])),
        ("50M consumers", stream26(&[&[1u8][..], &group(&[0], &len(n))].concat(), &[0])),
        ("50M consumer PEL entries", {
            let cons = [&[1u8, 1, b'c'][..], &[0; 16], &len(n)].concat();
            stream26(&[&[1u8][..], &group(&[0], &cons)].concat(), &[0])
        }),
        ("50M IDMP producers", stream26(&[0], &len(n))),
        ("50M IIDs of one producer", stream26(&[0], &[&[1u8, 1, b'p'][..], &len(n)].concat())),
    ];
    let mut problems = Vec::new();
    for (what, body) in &cases {
        let f = dir.path().join("s.rdb");
        let rec = common::rdbfile::key(26, b"s", body);
        std::fs::write(&f, common::rdbfile::file(13, &rec)).unwrap();
        problems.extend(fails_fast(&f, what, "exceeds the", 5));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn millions_of_tiny_stream_records_in_a_big_file() {
    // ~100 MB of real records, each a few bytes: what drives memory is what the file holds
    let dir = common::tempdir::Dir::new("tiny");
    let f = dir.path().join("s.rdb");
    let mut problems = Vec::new();
    // 50M producers of 2 bytes (empty name, no IIDs): the server refuses the second (a
    // producer ID twice), and so must we, at once
    let n = 50_000_000u64;
    let mut idmp = len(n);
    idmp.resize(idmp.len() + 2 * n as usize, 0);
    std::fs::write(
        &f,
        common::rdbfile::file(13, &common::rdbfile::key(26, b"s", &stream26(&[0], &idmp))),
    )
    .unwrap();
    problems.extend(fails_fast(&f, "50M empty producers", "producer \"\" twice", 10));
    // 5M consumers of 18 bytes with one name: refused at the second
    let n = 5_000_000u64;
    let mut cons = len(n);
    for _ in 0..n {
        cons.extend([0u8; 18]);
    }
    let groups = [&[1u8, 1, b'g', 0, 0, 0, 0][..], &cons].concat();
    std::fs::write(
        &f,
        common::rdbfile::file(13, &common::rdbfile::key(26, b"s", &stream26(&groups, &[0]))),
    )
    .unwrap();
    problems.extend(fails_fast(&f, "5M consumers named alike", "duplicate consumer", 10));
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // 2M distinct producers with an IID each (~26 MB): read to the end under the same
    // limit, output flushed as it goes
    let n = 2_000_000u32;
    let mut idmp = len(n as u64);
    for i in 0..n {
        idmp.push(4);
        idmp.extend_from_slice(&i.to_be_bytes());
        idmp.extend([1, 4]);
        idmp.extend_from_slice(&i.to_le_bytes());
        idmp.extend([0, 0]);
    }
    std::fs::write(
        &f,
        common::rdbfile::file(13, &common::rdbfile::key(26, b"s", &stream26(&[0], &idmp))),
    )
    .unwrap();
    let out = dir.path().join("out");
    let p = f.to_str().unwrap();
    for args in [
        &["inspect", p, "-o", out.to_str().unwrap()][..],
        &["convert", p, "-o", out.to_str().unwrap(), "--restore"],
    ] {
        let (code, err) = run_limited(args, 1 << 20, Duration::from_secs(120));
        assert_eq!(code, Some(0), "{args:?}: {err}");
        let size = std::fs::metadata(&out).unwrap().len();
        assert!(size > n as u64 * 4, "{args:?}: {size} bytes of output");
    }
}
