//! Valkey 9.2's `VKCS` compression envelope around real dumps: dumps written by real Valkey
//! 9.1 and Redis servers, wrapped the way Valkey 9.2 wraps them (one LZ4 frame of 64 KiB
//! independent blocks, with and without block checksums; one zstd frame), by the Rust
//! encoders and by the reference `lz4` / `zstd` tools (the C libraries Valkey links).
//! Each enveloped file must give byte for byte the `inspect` and `convert` output of the
//! plain file; `info` names the envelope; a decompression bomb is refused quickly under a
//! 1 GiB address-space limit; a cut or damaged file is refused with the compressed offset;
//! nothing is left in `$TMPDIR`; an enveloped dump loads into a real Valkey 9.1 and
//! `verify` passes, and that server then holds what a server that loaded the plain file holds.

use crate::common;
use crate::common::proc::Timed;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::datagen::target_of;
use common::servercmp::{CmpOpts, compare_servers};
use common::{Server, corpus, tempdir::Dir};
use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};

/// The real dumps: every Valkey 9.1 data set, and Redis dumps of three generations.
fn dumps() -> Vec<PathBuf> {
    let dir = corpus().join("servers");
    let mut v: Vec<PathBuf> = ["valkey-9.1-compact-seed1", "valkey-9.1-expanded-seed1"]
        .iter()
        .map(|n| dir.join(format!("{n}.rdb")))
        .filter(|p| p.exists())
        .collect();
    if v.is_empty() {
        v.push(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/corpus/servers/valkey-9.1-compact-seed1.rdb"),
        );
    }
    for n in ["redis-8.6-compact-seed1", "redis-7.0-expanded-seed1", "redis-5.0-compact-seed1"] {
        v.push(dir.join(format!("{n}.rdb")));
    }
    for p in &v {
        assert!(p.exists(), "missing corpus dump {}", p.display());
    }
    v
}

fn header(codec: u8, checksums: bool) -> Vec<u8> {
    vec![b'V', b'K', b'C', b'S', 1, codec, checksums as u8, 0]
}

/// As Valkey 9.2 writes it with `rdbcompression lz4`: one LZ4 frame, 64 KiB independent
/// blocks, block checksums iff `checksums`, no content size or checksum.
fn lz4_envelope(rdb: &[u8], checksums: bool) -> Vec<u8> {
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent)
        .block_checksums(checksums)
        .content_checksum(false);
    let mut e = FrameEncoder::with_frame_info(info, header(1, checksums));
    e.write_all(rdb).unwrap();
    e.finish().unwrap()
}

/// With `rdbcompression zstd`: one zstd frame with its content checksum.
fn zstd_envelope(rdb: &[u8]) -> Vec<u8> {
    let mut v = header(2, true);
    ruzstd::encoding::compress(rdb, &mut v, ruzstd::encoding::CompressionLevel::Fastest);
    v
}

/// The same through a reference tool reading a pipe (so, as Valkey streams, no content size
/// in the frame): `lz4 -B4 -BX --no-frame-crc` or `zstd -3`. `None` only when the tool is
/// missing and `RDBSHIFT_ALLOW_MISSING_SERVERS=1` says that may be.
fn tool_envelope(rdb: &[u8], tool: &str) -> Option<Vec<u8>> {
    let (codec, args): (u8, &[&str]) = match tool {
        "lz4" => (1, &["-q", "-c", "-B4", "-BX", "--no-frame-crc"]),
        _ => (2, &["-q", "-c", "-3"]),
    };
    if !common::proc::installed(tool) {
        common::missing(tool, "run scripts/install-servers.sh");
        return None;
    }
    let mut child =
        Command::new(tool).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn_timed();
    let mut stdin = child.stdin.take().unwrap();
    let data = rdb.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let mut out = header(codec, true);
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    feeder.join().unwrap();
    assert!(child.wait().success());
    Some(out)
}

/// Every envelope of `rdb` this test makes, with a name for messages.
fn envelopes(rdb: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![
        ("lz4-checksums", lz4_envelope(rdb, true)),
        ("lz4-plain", lz4_envelope(rdb, false)),
        ("zstd", zstd_envelope(rdb)),
    ];
    v.extend(tool_envelope(rdb, "lz4").map(|e| ("lz4-tool", e)));
    v.extend(tool_envelope(rdb, "zstd").map(|e| ("zstd-tool", e)));
    v
}

/// Runs the binary with `$TMPDIR` set; returns (exit code, stdout, stderr).
fn run(args: &[&str], tmp: &Path) -> (i32, Vec<u8>, String) {
    let out = common::proc::bin().args(args).env("TMPDIR", tmp).stdin(Stdio::null()).output_timed();
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Asserts that `dir` is empty: the decompressed copies had no name, and left nothing.
fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

/// `inspect` (with expired keys) and `convert` output of `f`.
fn outputs(f: &Path, work: &Dir, tmp: &Path) -> (Vec<u8>, Vec<u8>) {
    let (code, json, err) = run(&["inspect", f.to_str().unwrap(), "--include-expired"], tmp);
    assert_eq!(code, 0, "inspect {}: {err}", f.display());
    let out = work.path().join("out.resp");
    let (code, _, err) = run(&["convert", f.to_str().unwrap(), "-o", out.to_str().unwrap()], tmp);
    assert_eq!(code, 0, "convert {}: {err}", f.display());
    (json, std::fs::read(&out).unwrap())
}

#[test]
fn enveloped_dumps_inspect_and_convert_like_the_plain_file() {
    let work = Dir::new("envelope");
    let tmp = Dir::new("envelope-tmp");
    let mut compared = 0;
    for plain in dumps() {
        let rdb = std::fs::read(&plain).unwrap();
        let (json, resp) = outputs(&plain, &work, tmp.path());
        assert!(
            json.iter().filter(|&&b| b == b'\n').count() > 100,
            "{}: few keys",
            plain.display()
        );
        assert!(resp.len() > 10_000);
        for (kind, env) in envelopes(&rdb) {
            let f = work.path().join(format!("{kind}.rdb"));
            std::fs::write(&f, &env).unwrap();
            let (j, r) = outputs(&f, &work, tmp.path());
            assert!(j == json, "{} {kind}: inspect output differs", plain.display());
            assert!(r == resp, "{} {kind}: convert output differs", plain.display());
            compared += 1;
        }
        assert_empty(tmp.path());
    }
    assert!(compared >= 15, "only {compared} envelopes compared");
    eprintln!("{compared} enveloped dumps gave the plain files' inspect and convert output");
}

#[test]
fn info_shows_the_envelope() {
    let work = Dir::new("envelope-info");
    let plain = &dumps()[0];
    let rdb = std::fs::read(plain).unwrap();
    let p = plain.to_str().unwrap();
    let (_, plain_json, _) = run(&["info", "--json", p], work.path());
    let plain_json: serde_json::Value = serde_json::from_slice(&plain_json).unwrap();
    assert!(plain_json["envelope"].is_null());
    let (_, plain_text, _) = run(&["info", p], work.path());
    assert!(!String::from_utf8_lossy(&plain_text).contains("envelope"));
    for (kind, env, line) in [
        ("lz4-checksums", lz4_envelope(&rdb, true), "LZ4 (block checksums)"),
        ("lz4-plain", lz4_envelope(&rdb, false), "LZ4 (no checksums)"),
        ("zstd", zstd_envelope(&rdb), "zstd (content checksum)"),
    ] {
        let f = work.path().join(format!("{kind}.rdb"));
        std::fs::write(&f, &env).unwrap();
        let (code, text, err) = run(&["info", f.to_str().unwrap()], work.path());
        assert_eq!(code, 0, "{err}");
        let text = String::from_utf8(text).unwrap();
        let want = format!("envelope: VKCS v1 {line}, {} -> {} bytes\n", env.len(), rdb.len());
        assert!(text.contains(&want), "{kind}: no {want:?} in:\n{text}");
        assert!(text.contains(&format!("bytes: {}\n", rdb.len())), "{text}");
        let (code, json, err) = run(&["info", "--json", f.to_str().unwrap()], work.path());
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let e = &v["envelope"];
        assert_eq!(e["codec"], if kind == "zstd" { "zstd" } else { "LZ4" });
        assert_eq!(e["version"], 1);
        assert_eq!(e["block_checksums"], kind == "lz4-checksums");
        assert_eq!(e["content_checksum"], kind == "zstd");
        assert_eq!(e["compressed_bytes"], env.len() as u64);
        assert_eq!(e["decompressed_bytes"], rdb.len() as u64);
        // everything else is the plain file's summary
        let mut v = v.clone();
        v["file"] = plain_json["file"].clone();
        v["envelope"] = serde_json::Value::Null;
        assert_eq!(v, plain_json, "{kind}");
    }
}

/// Runs the binary under `ulimit -v` (KiB) with `$TMPDIR` set and a time limit; returns
/// (exit code, stderr, how long it took).
fn run_limited(
    args: &[&str],
    tmp: &Path,
    limit_kib: u64,
    timeout: Duration,
) -> (Option<i32>, String, Duration) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {limit_kib}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_rdbshift"))
        .args(args)
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn_timed();
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (st.code(), err, start.elapsed());
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return (None, "timed out".into(), start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A zstd envelope by hand that expands to `blocks` x 128 KiB of one byte (RLE blocks, four
/// bytes each), with a window of 2^`window_log`.
fn zstd_bomb(blocks: usize, window_log: u8) -> Vec<u8> {
    let mut f = header(2, false);
    f.extend_from_slice(&[0x28, 0xB5, 0x2F, 0xFD, 0x00, (window_log - 10) << 3]);
    for i in 0..blocks {
        let h = (128u32 << 10) << 3 | 1 << 1 | (i + 1 == blocks) as u32;
        f.extend_from_slice(&h.to_le_bytes()[..3]);
        f.push(0);
    }
    f
}

#[test]
fn a_decompression_bomb_is_refused_quickly_in_bounded_memory() {
    let work = Dir::new("envelope-bomb");
    let tmp = Dir::new("envelope-bomb-tmp");
    // 32 KiB that would expand to 1 GiB: refused once 64 MiB (the floor of the limit) are out
    let bomb = work.path().join("bomb.rdb");
    std::fs::write(&bomb, zstd_bomb(8192, 17)).unwrap();
    for cmd in ["inspect", "info", "convert"] {
        let mut args = vec![cmd, bomb.to_str().unwrap()];
        if cmd == "convert" {
            args.extend(["-o", "-"]);
        }
        let (code, err, took) = run_limited(&args, tmp.path(), 1 << 20, Duration::from_secs(30));
        assert_eq!(code, Some(1), "{cmd}: {err}");
        assert!(
            err.contains(
                "bomb.rdb: compressed (VKCS zstd) stream: decompresses to more than 67108864 bytes"
            ),
            "{cmd}: {err}"
        );
        assert!(err.contains("refused as a decompression bomb at compressed byte offset"), "{err}");
        assert!(took < Duration::from_secs(10), "{cmd}: took {took:?}");
        eprintln!("{cmd}: bomb refused in {took:?}");
        assert_empty(tmp.path());
    }
    // a frame that asks for a 2 GiB window is refused before anything is allocated
    let wide = work.path().join("wide.rdb");
    std::fs::write(&wide, zstd_bomb(1, 31)).unwrap();
    let (code, err, _) = run_limited(
        &["inspect", wide.to_str().unwrap()],
        tmp.path(),
        1 << 20,
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("2147483648-byte window") && err.ends_with("at compressed byte offset 13\n"),
        "{err}"
    );
    // the largest frame under the limit still decodes in that address space (to a dump that is
    // all zeros, which the RDB reader then refuses by its magic)
    let big = work.path().join("big.rdb");
    std::fs::write(&big, zstd_bomb(511, 17)).unwrap();
    let (code, err, _) =
        run_limited(&["info", big.to_str().unwrap()], tmp.path(), 1 << 20, Duration::from_secs(30));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("big.rdb: not an RDB file: bad magic"), "{err}");
    assert_empty(tmp.path());
}

#[test]
fn a_damaged_enveloped_file_is_refused_with_the_compressed_offset() {
    let work = Dir::new("envelope-cut");
    let tmp = Dir::new("envelope-cut-tmp");
    let rdb = std::fs::read(&dumps()[0]).unwrap();
    for (kind, env) in [("lz4", lz4_envelope(&rdb, true)), ("zstd", zstd_envelope(&rdb))] {
        let name = if kind == "lz4" { "LZ4" } else { "zstd" };
        for cut in [9, 100, env.len() / 2, env.len() - 1] {
            let f = work.path().join(format!("{kind}-cut.rdb"));
            std::fs::write(&f, &env[..cut]).unwrap();
            for cmd in ["inspect", "info", "convert"] {
                let mut args = vec![cmd, f.to_str().unwrap()];
                if cmd == "convert" {
                    args.extend(["-o", "-"]);
                }
                let (code, out, err) = run(&args, tmp.path());
                assert_eq!(code, 1, "{kind} cut at {cut}, {cmd}: {err}");
                assert!(out.is_empty(), "{cmd} wrote output for a cut file");
                let want =
                    format!("{}: compressed (VKCS {name}) stream: truncated frame", f.display());
                assert!(err.contains(&want), "{cmd}: {err}");
                assert!(
                    err.contains(&format!("at compressed byte offset {cut}\n")),
                    "{cmd}: {err}"
                );
            }
        }
        assert_empty(tmp.path());
    }
    // a flipped bit inside the third block, block checksums on: named at that block
    let env = lz4_envelope(&rdb, true);
    let mut at = 8 + 7;
    for _ in 0..2 {
        at += 4
            + (u32::from_le_bytes(env[at..at + 4].try_into().unwrap()) & 0x7FFF_FFFF) as usize
            + 4;
    }
    let mut bad = env.clone();
    bad[at + 4 + 1000] ^= 0x04;
    let f = work.path().join("flipped.rdb");
    std::fs::write(&f, &bad).unwrap();
    let (code, _, err) = run(&["inspect", f.to_str().unwrap()], tmp.path());
    assert_eq!(code, 1);
    assert!(err.contains("compressed (VKCS LZ4) stream: block checksum mismatch"), "{err}");
    assert!(err.contains(&format!("at compressed byte offset {at}\n")), "{err}");
    // without block checksums the same flip decodes to other bytes, which the RDB's own
    // CRC-64 (or its structure) refuses
    let mut bad = lz4_envelope(&rdb, false);
    let mut at = 8 + 7;
    for _ in 0..2 {
        at += 4 + (u32::from_le_bytes(bad[at..at + 4].try_into().unwrap()) & 0x7FFF_FFFF) as usize;
    }
    bad[at + 4 + 1000] ^= 0x04;
    std::fs::write(&f, &bad).unwrap();
    let (code, _, err) = run(&["info", f.to_str().unwrap()], tmp.path());
    assert_eq!(code, 1, "{err}");
    assert_empty(tmp.path());
}

#[test]
fn an_enveloped_dump_loads_into_valkey_and_verifies() {
    let plain = &dumps()[0];
    let Some(original) = Server::start_ok("valkey-9.1", Some(plain), &[]) else { return };
    let target = Server::start_ok("valkey-9.1", None, &[]).unwrap();
    let work = Dir::new("envelope-load");
    let tmp = Dir::new("envelope-load-tmp");
    let f = work.path().join("dump-lz4.rdb");
    std::fs::write(&f, lz4_envelope(&std::fs::read(plain).unwrap(), true)).unwrap();
    let (code, json, err) = run(&["inspect", f.to_str().unwrap()], tmp.path());
    assert_eq!(code, 0, "{err}");
    let keys = json.iter().filter(|&&b| b == b'\n').count();
    assert!(keys > 100);

    let url = target.url();
    let (code, _, err) = run(&["load", f.to_str().unwrap(), "--target", &url], tmp.path());
    assert_eq!(code, 0, "load: {err}");
    assert!(err.contains(&format!(" keys in the dumps: {keys} loaded, 0 failed")), "load: {err}");
    let (code, _, err) = run(&["verify", f.to_str().unwrap(), "--target", &url], tmp.path());
    assert_eq!(code, 0, "verify: {err}");
    assert!(err.contains(&format!("checked {keys} keys: 0 missing, 0 different")), "verify: {err}");
    assert_empty(tmp.path());

    // and the server holds what the server that loaded the plain file itself holds
    let (n, diffs) = compare_servers(
        &original,
        &target,
        &target_of("valkey-9.1"),
        &CmpOpts { all_dbs: true, restored: true, streams: true },
    );
    assert!(
        diffs.is_empty(),
        "{} differences over {n} keys:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(20)].join("\n")
    );
    assert_eq!(n, keys);
    eprintln!(
        "{keys} keys loaded from an LZ4 envelope, verified, and equal to the plain file's server"
    );
}

#[test]
fn a_stop_ends_decompression_and_a_missing_tmpdir_is_named() {
    let work = Dir::new("envelope-stop");
    let tmp = Dir::new("envelope-stop-tmp");
    // 4 MiB of RLE blocks: 128 GiB of zeros, and a limit of 4 GiB: seconds of work
    let f = work.path().join("long.rdb");
    std::fs::write(&f, zstd_bomb(1 << 20, 17)).unwrap();
    let out = work.path().join("out.resp");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbshift"))
        .args(["convert", f.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn_timed();
    // wait until the decompressed copy is growing, then ask for a stop
    let start = Instant::now();
    let pid = child.id() as i32;
    let fd_dir = format!("/proc/{pid}/fd");
    while !std::fs::read_dir(&fd_dir).is_ok_and(|d| {
        d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()).any(|l| l.starts_with(tmp.path()))
    }) {
        assert!(start.elapsed() < Duration::from_secs(10), "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signals the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let signalled = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(signalled.elapsed() < Duration::from_secs(10), "still running after SIGINT");
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("long.rdb: decompression stopped by SIGINT"), "{err}");
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "took {:?} after SIGINT",
        signalled.elapsed()
    );
    assert!(!out.exists());
    assert_empty(tmp.path());

    // a temporary directory that does not exist: named, nothing read
    let plain = &dumps()[0];
    std::fs::write(&f, lz4_envelope(&std::fs::read(plain).unwrap(), true)).unwrap();
    let nowhere = work.path().join("no-such-dir");
    let (code, _, err) = run(&["info", f.to_str().unwrap()], &nowhere);
    assert_eq!(code, 1);
    let want = format!(
        "cannot create the decompressed copy: No such file or directory (os error 2) (in {}, the temporary directory",
        nowhere.display()
    );
    assert!(err.contains(&want), "{err}");
}
