//! The fixtures in testdata/ (written by real servers, see scripts/gen-fixtures.sh) give
//! exactly their checked-in expected `inspect` output.

use crate::common;

use std::path::Path;

#[test]
fn inspect_output_matches_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "rdb") {
            continue;
        }
        let want = std::fs::read(p.with_extension("jsonl")).unwrap();
        let (code, out, err) = common::rdbshift(&["inspect", p.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out == want,
            "{}: output differs from {}",
            p.display(),
            p.with_extension("jsonl").display()
        );
        n += 1;
    }
    assert!(n >= 3, "expected the fixtures of at least three servers, found {n}");
}

#[test]
fn json_format_is_one_document_with_the_same_keys() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/redis-8.6.rdb");
    let (code, out, _) = common::rdbshift(&["inspect", p.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let (_, lines, _) = common::rdbshift(&["inspect", p.to_str().unwrap()]);
    let from_lines: Vec<serde_json::Value> = lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(doc.as_array().unwrap(), &from_lines);
}

#[test]
fn filters_select_keys() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/redis-7.0.rdb");
    let f = p.to_str().unwrap();
    let keys = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["inspect", f];
        a.extend_from_slice(args);
        let (code, out, err) = common::rdbshift(&a);
        assert_eq!(code, 0, "{err}");
        let mut v: Vec<String> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice::<serde_json::Value>(l).unwrap()["key"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(keys(&["--db", "3"]), vec!["db3:key"]);
    assert_eq!(keys(&["--key", "str:[pi]*"]), vec!["str:int", "str:plain"]);
    assert_eq!(keys(&["--type", "zset"]), vec!["zset:scores"]);
    assert_eq!(keys(&["--type", "stream", "--key", "*empty"]), vec!["stream:empty"]);
    assert_eq!(keys(&["--type", "hash", "--db", "0"]), vec!["hash:small"]);
}

/// On every corpus file that reads cleanly, `inspect`, `info` and `convert` select the same
/// keys under db, name, type, slot, rename and db-map rules (lines listed, keys counted, keys
/// converted).
#[test]
fn every_command_selects_the_same_keys() {
    let rules: [&[&str]; 6] = [
        &[],
        &["--slots", "0-8191"],
        &["--key", "*a*", "--slots", "100-9000"],
        &["--rename-prefix", "a=zz:", "--slots", "8192-16383"],
        &["--type", "hash", "--type", "string", "--exclude-key", "*1*"],
        &["--map-db", "0=5", "--db", "0"],
    ];
    let (mut cases, mut keys) = (0, 0);
    for f in common::files(&common::corpus()) {
        let f = f.to_str().unwrap();
        for rule in rules {
            let run = |cmd: &[&str]| {
                let mut a = cmd.to_vec();
                a.push("--include-expired");
                a.extend_from_slice(rule);
                common::rdbshift(&a)
            };
            let (code, out, _) = run(&["inspect", f]);
            if code != 0 {
                // a file the reader refuses (their tests say why), or one with a module
                continue;
            }
            let listed = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() as u64;
            let (code, out, err) = run(&["info", f, "--json"]);
            assert_eq!(code, 0, "{f} {rule:?}: {err}");
            let info: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let counted: u64 = info["dbs"]
                .as_object()
                .unwrap()
                .values()
                .map(|d| d["keys"].as_u64().unwrap())
                .sum();
            let (code, _, err) = run(&["convert", f, "-o", "/dev/null"]);
            assert_eq!(code, 0, "{f} {rule:?}: {err}");
            let converted: u64 = err
                .split(" keys for ")
                .next()
                .and_then(|h| h.rsplit(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{f} {rule:?}: no count in {err}"));
            assert_eq!((counted, converted), (listed, listed), "{f} {rule:?}: info, convert");
            cases += 1;
            keys += listed;
        }
    }
    assert!(cases >= 500 && keys >= 30_000, "{cases} cases, {keys} keys");
}

/// `info` counts exactly the keys `inspect` lists, under every kind of rule: a slot rule
/// judges the name a key goes out under (renamed or not), so `info` reads names for it too.
#[test]
fn info_counts_what_inspect_lists() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/redis-7.0.rdb");
    let f = p.to_str().unwrap();
    let rules: [&[&str]; 8] = [
        &[],
        &["--db", "3"],
        &["--key", "str:*"],
        &["--exclude-key", "str:*", "--type", "list", "--type", "string"],
        &["--slots", "0-8191"],
        &["--slots", "8192-16383"],
        &["--slots", "0-4000", "--slots", "12000-16383", "--db", "0"],
        &["--rename-prefix", "str:=other:", "--slots", "0-8191"],
    ];
    let mut total = 0;
    for rule in rules {
        let run = |cmd: &str| {
            let mut a = vec![cmd, f, "--include-expired"];
            a.extend_from_slice(rule);
            if cmd == "info" {
                a.push("--json");
            }
            let (code, out, err) = common::rdbshift(&a);
            assert_eq!(code, 0, "{a:?}: {err}");
            out
        };
        let listed = run("inspect").split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
        let info: serde_json::Value = serde_json::from_slice(&run("info")).unwrap();
        let counted: u64 =
            info["dbs"].as_object().unwrap().values().map(|d| d["keys"].as_u64().unwrap()).sum();
        assert_eq!(counted, listed as u64, "{rule:?}");
        total += listed;
    }
    // the rules select some keys and leave out others
    assert!(total >= 30, "{total}");
}

#[test]
fn info_reports_counts_functions_and_checksum() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/redis-8.6.rdb");
    let (code, out, err) = common::rdbshift(&["info", p.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["version"], 13);
    assert_eq!(v["checksum"], "ok");
    assert_eq!(v["functions"][0], "fixturelib");
    assert_eq!(v["dbs"]["0"]["keys"], 16);
    assert_eq!(v["dbs"]["3"]["keys"], 1);
    assert_eq!(v["dbs"]["0"]["types"]["stream"], 3);
    assert_eq!(v["streams_with_idmp"], 1);
    assert_eq!(v["biggest"].as_array().unwrap().len(), 10);
}
