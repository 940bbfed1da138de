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
