//! The JSON schema is pleasant to query: every byte-string field has one JSON type whatever
//! the data, so DuckDB types `key` as VARCHAR and `LIKE` finds binary keys too; the exact
//! bytes come back from `key_base64`/`value_base64`. The README's jq and DuckDB examples are
//! taken from the README itself and run here, on a dump a real server wrote.

use crate::common;

use std::path::Path;
use std::process::Command;

use crate::common::proc::Timed;

use common::compare::b64decode;
use common::{Server, rdbshift, servers_root};

/// The code block that follows `<!-- test:NAME -->` in the README.
fn readme_block(name: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let at = readme
        .find(&format!("<!-- test:{name} -->"))
        .unwrap_or_else(|| panic!("README has no {name} example"));
    let rest = &readme[at..];
    let start = rest.find("```").unwrap();
    let body = &rest[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

/// A dump with text and binary key names, written by a real Redis 7.0.
fn binary_dump(dir: &Path) -> std::path::PathBuf {
    let s = Server::start_ok("redis-7.0", None, &[]).unwrap();
    let mut c = s.conn();
    let cmds: Vec<Vec<&[u8]>> = vec![
        vec![b"HSET", b"user:1", b"name", b"ann"],
        vec![b"HSET", b"user:\xff\x00two", b"name", b"bob\xfe"],
        vec![b"SET", b"user:3", b"plain"],
        vec![b"SET", b"\xc3\x28", b"v"],
        vec![b"RPUSH", b"other", b"a", b"\x80b"],
    ];
    for cmd in cmds {
        c.call(&cmd).unwrap();
    }
    c.cmd(&["SAVE"]).unwrap();
    let p = dir.join("dump.rdb");
    std::fs::copy(s.dir.path().join("dump.rdb"), &p).unwrap();
    p
}

#[test]
fn one_type_per_field_and_the_readme_queries_work() {
    let dir = common::tempdir::Dir::new("schema");
    let dump = binary_dump(dir.path());
    let (code, out, err) = rdbshift(&["inspect", dump.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let jsonl = dir.path().join("keys.jsonl");
    std::fs::write(&jsonl, &out).unwrap();
    let records: Vec<serde_json::Value> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(records.len(), 5);
    let mut names = Vec::new();
    for r in &records {
        assert!(r["key"].is_string(), "key is always a string: {r}");
        let exact = match r.get("key_base64") {
            Some(b) => b64decode(b.as_str().unwrap()),
            None => r["key"].as_str().unwrap().as_bytes().to_vec(),
        };
        names.push(exact);
        if r["type"] == "list" {
            // the value's exact bytes, same shape
            let v = r["value_base64"].as_array().expect("value_base64 for a binary element");
            assert_eq!(b64decode(v[1].as_str().unwrap()), b"\x80b");
            assert!(r["value"][1].is_string());
        }
    }
    names.sort();
    let mut want: Vec<Vec<u8>> = vec![
        b"user:1".to_vec(),
        b"user:\xff\x00two".to_vec(),
        b"user:3".to_vec(),
        b"\xc3\x28".to_vec(),
        b"other".to_vec(),
    ];
    want.sort();
    assert_eq!(names, want, "every name comes back exactly");

    // the README's jq example
    let jq = readme_block("jq");
    let filter = jq.lines().find(|l| l.starts_with("jq ")).unwrap();
    let filter = filter.split('\'').nth(1).unwrap();
    let o = Command::new("jq")
        .args(["-r", filter])
        .arg(&jsonl)
        .stdin(std::process::Stdio::null())
        .output_timed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<String> =
        String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "two hashes named user:*: {lines:?}");
    assert!(
        lines.contains(&"user:1".to_string())
            && lines.iter().any(|l| l.starts_with("user:\u{fffd}"))
    );

    // the README's DuckDB example, in a real DuckDB
    let sql = readme_block("duckdb").replace("keys.jsonl", jsonl.to_str().unwrap());
    let py = servers_root().join("venv/bin/python");
    let script = format!(
        "import duckdb, json, sys\n\
         con = duckdb.connect()\n\
         t = dict(con.sql(\"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_ndjson('{f}'))\").fetchall())\n\
         rows = con.sql(sys.stdin.read()).fetchall()\n\
         print(json.dumps({{'types': t, 'rows': rows}}))\n",
        f = jsonl.display()
    );
    let mut child = Command::new(&py)
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn_timed();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    let o = child.output();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let res: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(res["types"]["key"], "VARCHAR", "{res}");
    assert_eq!(res["types"]["key_base64"], "VARCHAR", "{res}");
    let rows = res["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "LIKE finds the binary key too: {res}");
    assert_eq!(rows.iter().filter(|r| r[2] == true).count(), 1, "{res}");
}

#[test]
fn several_files_say_which_one() {
    let a = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/redis-7.0.rdb");
    let b = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/valkey-9.1.rdb");
    let (code, out, err) = rdbshift(&["inspect", a, b]);
    assert_eq!(code, 0, "{err}");
    let mut per = std::collections::BTreeMap::new();
    for l in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let r: serde_json::Value = serde_json::from_slice(l).unwrap();
        *per.entry(r["file"].as_str().expect("file in every record").to_string()).or_insert(0) += 1;
    }
    assert_eq!(per.len(), 2, "{per:?}");
    assert!(per.values().all(|&n| n >= 10), "{per:?}");
    // one file: no `file` field (the path would only repeat the argument)
    let (_, out, _) = rdbshift(&["inspect", a]);
    assert!(!String::from_utf8_lossy(&out).contains("\"file\""));
}
