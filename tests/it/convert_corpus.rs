//! `rdbshift convert` on the corpus: each file loaded into a real server, converted, piped
//! into a fresh server of the same version, and the two compared key by key.
//! - `servers/`: every server version's seeded data sets (compact and expanded encodings),
//!   each with the server that wrote it, in commands and RESTORE mode.
//! - every corpus file that Redis 7.0 loads, converted for Redis 7.0 (`--target-version`:
//!   the default, the version that wrote the file, cannot say everything a 7.0 server
//!   derives when it loads an older file, such as a v1 stream group's entries-read).

use crate::common;

use std::path::Path;

use common::datagen::target_of;
use common::servercmp::{CmpOpts, compare_servers};
use common::{NEEDS_A_MODULE, Server, corpus, files, pipe, rdbshift, server_for};

/// Converts `f` and compares; `Ok(false)` when `server` does not load the file.
fn check(f: &Path, server: &str, extra: &[&str]) -> Result<bool, String> {
    let a = match Server::start(server, Some(f), &[]) {
        None => return Ok(false),
        Some(Ok(s)) => s,
        Some(Err(_)) => return Ok(false),
    };
    let out = a.dir.path().join("out.resp");
    let mut args = vec!["convert", f.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, _, err) = rdbshift(&args);
    if code != 0 {
        return Err(format!("convert exited {code}: {err}"));
    }
    let b = Server::start_ok(server, None, &[]).unwrap();
    let (errors, _, text) = pipe(&b, &out);
    if errors != 0 {
        return Err(format!("redis-cli --pipe: {text}"));
    }
    let t = target_of(server);
    let (_, diffs) = compare_servers(
        &a,
        &b,
        &t,
        &CmpOpts { all_dbs: true, restored: extra.contains(&"--restore"), streams: true },
    );
    if diffs.is_empty() {
        Ok(true)
    } else {
        Err(diffs.into_iter().take(8).collect::<Vec<_>>().join("\n  "))
    }
}

fn run(list: Vec<(std::path::PathBuf, &str)>, extra: &[&str], min_checked: usize) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (f, server) in list {
        if NEEDS_A_MODULE.iter().any(|n| f.ends_with(n)) {
            continue;
        }
        match check(&f, server, extra) {
            Ok(true) => checked += 1,
            Ok(false) => {}
            Err(e) => failures.push(format!("{} ({server} {extra:?}):\n  {e}", f.display())),
        }
    }
    assert!(failures.is_empty(), "{} files differ:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= min_checked, "only {checked} files checked");
    eprintln!("{checked} files identical after convert {extra:?}");
}

fn server_files() -> Vec<(std::path::PathBuf, &'static str)> {
    files(&corpus().join("servers"))
        .into_iter()
        .map(|f| {
            let s = server_for(&f);
            (f, s)
        })
        .collect()
}

#[test]
fn server_datasets_commands() {
    run(server_files(), &[], 20);
}

#[test]
fn server_datasets_restore() {
    run(server_files(), &["--restore"], 20);
}

#[test]
fn every_file_redis_7_0_loads() {
    let all = files(&corpus()).into_iter().map(|f| (f, "redis-7.0")).collect();
    run(all, &["--target-version", "7.0"], 40);
}
