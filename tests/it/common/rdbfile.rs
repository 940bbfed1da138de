//! Hand-made RDB files and DUMP payloads for the integrity tests, and running the binary
//! with a time limit.

use std::process::Command;
use std::time::Duration;

use crate::common::checksum::crc64;

/// An RDB string with a plain length prefix (6-, 14- or 32-bit).
pub fn string(b: &[u8]) -> Vec<u8> {
    let mut v = len(b.len() as u64);
    v.extend_from_slice(b);
    v
}

/// An RDB length prefix.
pub fn len(n: u64) -> Vec<u8> {
    match n {
        0..=63 => vec![n as u8],
        64..=16383 => vec![0x40 | (n >> 8) as u8, n as u8],
        _ if n <= u32::MAX as u64 => {
            let mut v = vec![0x80];
            v.extend_from_slice(&(n as u32).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![0x81];
            v.extend_from_slice(&n.to_be_bytes());
            v
        }
    }
}

/// A key record: the type byte, the key name, the value body.
pub fn key(ty: u8, name: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = vec![ty];
    v.extend(string(name));
    v.extend_from_slice(body);
    v
}

/// A whole file: `REDIS` + the version, the records, EOF and a correct CRC-64.
pub fn file(version: u32, records: &[u8]) -> Vec<u8> {
    let mut f = format!("REDIS{version:04}").into_bytes();
    f.extend_from_slice(records);
    f.push(0xff);
    let crc = crc64(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

/// Splits a DUMP payload into (type byte, value body, RDB version); the footer's CRC is
/// not checked.
pub fn split_payload(p: &[u8]) -> Option<(u8, &[u8], u16)> {
    if p.len() < 11 {
        return None;
    }
    let (value, footer) = p.split_at(p.len() - 10);
    Some((value[0], &value[1..], u16::from_le_bytes([footer[0], footer[1]])))
}

/// A DUMP payload of `ty` + `body` for RDB `version`, with a correct CRC.
pub fn payload(ty: u8, body: &[u8], version: u16) -> Vec<u8> {
    let mut p = vec![ty];
    p.extend_from_slice(body);
    p.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// Runs the rdbshift binary (with `ulimit -v` in KiB when given), killing it (its process
/// group) after `timeout`; returns (exit code, None when killed by a signal or timed out;
/// stdout; stderr, which names the command line and the time when it timed out).
pub fn run_timed(
    args: &[&str],
    limit_kib: Option<u64>,
    timeout: Duration,
) -> (Option<i32>, Vec<u8>, String) {
    let mut cmd = match limit_kib {
        Some(l) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -v {l}; exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_rdbshift"));
            c
        }
        None => super::proc::bin(),
    };
    cmd.args(args);
    match super::proc::try_run_with(&mut cmd, None, timeout) {
        Ok(o) => (o.status.code(), o.stdout, String::from_utf8_lossy(&o.stderr).into_owned()),
        Err(e) => (None, Vec::new(), e),
    }
}

/// Runs `inspect`, `convert` and `convert --restore` on `path`; returns the problems: a
/// mode that accepted the file, panicked, timed out, or failed without naming an offset.
pub fn refused_everywhere(path: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let modes: [&[&str]; 4] = [
        &["inspect", path],
        &["convert", path, "-o", "/dev/null"],
        &["convert", path, "-o", "/dev/null", "--restore"],
        &["rewrite", path, "-o", "/dev/null", "--target-version", "6.2"],
    ];
    for args in modes {
        let name =
            args.iter().filter(|a| !a.starts_with('/')).cloned().collect::<Vec<_>>().join(" ");
        let (code, _, err) = run_timed(args, Some(1 << 20), Duration::from_secs(30));
        match code {
            None => problems.push(format!("{name}: {err}")),
            Some(0) => problems.push(format!("{name}: accepted")),
            Some(_) if err.contains("panicked") || err.contains("memory allocation") => {
                problems.push(format!("{name}: {err}"))
            }
            Some(_) if !err.contains("byte offset") => {
                problems.push(format!("{name}: no offset in: {err}"))
            }
            _ => {}
        }
    }
    problems
}
