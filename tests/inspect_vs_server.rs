//! Every corpus file: `rdbshift inspect` lists exactly the keys a real server holds after
//! loading the same file, with the same types, values and expiries.

mod common;

use std::path::{Path, PathBuf};

use common::compare::{compare, parse_jsonl};
use common::{NEEDS_A_MODULE, Server, corpus, files, rdbshift, server_for};

fn check_dir(dir: &str) {
    check_files(files(&corpus().join(dir)))
}

fn check_files(list: Vec<PathBuf>) {
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
        let mut c = server.conn();
        let problems = compare(&mut c, &ours);
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
    assert!(failures.is_empty(), "{} of {checked} files differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn corpus_servers_match_real_servers() {
    check_dir("servers");
}

#[test]
fn corpus_librdb_matches_real_server() {
    check_dir("librdb");
}

#[test]
fn corpus_rdb_tools_matches_real_server() {
    check_dir("redis-rdb-tools");
}

#[test]
fn corpus_redisshake_matches_real_server() {
    check_dir("redisshake");
}

#[test]
fn testdata_fixtures_match_real_servers() {
    check_files(files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")));
}
