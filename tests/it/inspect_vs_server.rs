//! Every corpus file: `rdbshift inspect` lists exactly the keys a real server holds after
//! loading the same file, with the same types, values and expiries.

use crate::common;

use std::path::{Path, PathBuf};

use common::compare::{compare, parse_jsonl};
use common::{NEEDS_A_MODULE, Server, corpus, files, rdbshift, server_for};

/// Checks every file of `dir`; at least `floor` of them must be compared with a server.
fn check_dir(dir: &str, floor: usize) {
    let n = check_files(files(&corpus().join(dir)));
    assert!(n >= floor, "{dir}: only {n} files compared with a server (expected at least {floor})");
}

/// Returns how many files were compared with a real server.
fn check_files(list: Vec<PathBuf>) -> usize {
    let mut failures = Vec::new();
    let mut checked = 0;
    for f in list {
        let (code, out, err) = rdbshift(&["inspect", f.to_str().unwrap(), "--format", "jsonl"]);
        assert_eq!(code, 0, "{}: {err}", f.display());
        let ours = parse_jsonl(&out);
        if NEEDS_A_MODULE.iter().any(|n| f.ends_with(n)) {
            continue;
        }
        let Some(server) = Server::start(server_for(&f), Some(&f), &[]) else { continue };
        let server = match server {
            Ok(s) => s,
            // a file whose module aux data needs a module the server does not have
            Err(log) if log.contains("module data I can't load") => continue,
            Err(log) => panic!("{}: the server did not load it:\n{log}", f.display()),
        };
        let problems = compare(&server, &ours);
        checked += 1;
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({}):\n  {}",
                f.display(),
                server.name,
                problems.iter().take(8).cloned().collect::<Vec<_>>().join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} files differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[test]
fn corpus_servers_match_real_servers() {
    check_dir("servers", 20);
}

#[test]
fn corpus_librdb_matches_real_server() {
    check_dir("librdb", 30);
}

#[test]
fn corpus_rdb_tools_matches_real_server() {
    check_dir("redis-rdb-tools", 25);
}

#[test]
fn corpus_redisshake_matches_real_server() {
    check_dir("redisshake", 9);
}

#[test]
fn testdata_fixtures_match_real_servers() {
    // the fixtures themselves, not the vendored corpus below them
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let top: Vec<PathBuf> =
        files(&dir).into_iter().filter(|f| f.parent() == Some(dir.as_path())).collect();
    let n = check_files(top);
    assert!(n >= 3, "only {n} fixtures compared with a server");
}
