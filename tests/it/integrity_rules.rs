//! One test per integrity rule, with a real Redis 8.6 as the judge.
//!
//! Values are made by the server itself (written with chosen encodings, then `DUMP`ed with
//! `rdbcompression no`), or by hand for encodings 8.6 no longer writes (ziplist, zipmap,
//! quicklist nodes). Each defect is one small change of those bytes. For each: the file
//! without the defect loads in Redis 8.6 and in rdbshift; with the defect, Redis 8.6
//! (`sanitize-dump-payload yes`) refuses to start with it, saying why in its log, and
//! `inspect`, `convert` and `convert --restore` each refuse it with an error that names a
//! byte offset and the rule.

use crate::common;

use std::time::Duration;

use crate::common::resp::Conn;
use crate::common::resp::Reply;
use common::rdbfile;
use common::{Server, tempdir};

const SANITIZE: [&str; 2] = ["--sanitize-dump-payload", "yes"];

/// Replaces the only occurrence of `from` in `b` (same length, so every length and count
/// in the value stays right).
fn mutate(b: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let hits: Vec<usize> =
        b.windows(from.len()).enumerate().filter(|(_, w)| *w == from).map(|(i, _)| i).collect();
    assert_eq!(
        hits.len(),
        1,
        "{:?} occurs {} times in {:?}",
        String::from_utf8_lossy(from),
        hits.len(),
        b
    );
    let mut v = b.to_vec();
    v[hits[0]..hits[0] + from.len()].copy_from_slice(to);
    v
}

fn ok(c: &mut Conn, args: &[&str]) {
    let r = c.cmd(args).unwrap();
    assert!(!r.is_error(), "{args:?}: {}", r.text());
}

/// `DUMP key` split into (type, body).
fn dump(c: &mut Conn, key: &str) -> (u8, Vec<u8>) {
    let Reply::Bulk(Some(p)) = c.cmd(&["DUMP", key]).unwrap() else { panic!("DUMP {key}") };
    let (ty, body, _) = rdbfile::split_payload(&p).unwrap();
    (ty, body.to_vec())
}

/// A ziplist of short strings; the tail offset can be given wrong.
fn ziplist(entries: &[&[u8]], tail_fix: Option<u32>) -> Vec<u8> {
    let mut body = Vec::new();
    let (mut prev, mut tail) = (0usize, 10usize);
    for e in entries {
        tail = 10 + body.len();
        let start = body.len();
        body.push(prev as u8);
        body.push(e.len() as u8);
        body.extend_from_slice(e);
        prev = body.len() - start;
    }
    let mut z = ((11 + body.len()) as u32).to_le_bytes().to_vec();
    z.extend_from_slice(&tail_fix.unwrap_or(tail as u32).to_le_bytes());
    z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    z.extend(body);
    z.push(0xff);
    z
}

/// A one-element listpack holding a short string.
fn listpack1(s: &[u8]) -> Vec<u8> {
    let mut lp = vec![0, 0, 0, 0, 1, 0, 0x80 | s.len() as u8];
    lp.extend_from_slice(s);
    lp.push(1 + s.len() as u8);
    lp.push(0xff);
    let n = lp.len() as u32;
    lp[..4].copy_from_slice(&n.to_le_bytes());
    lp
}

struct Case {
    rule: &'static str,
    ty: u8,
    good: Vec<u8>,
    bad: Vec<u8>,
    /// What the server's log says.
    server_says: &'static str,
    /// What rdbshift's error says.
    we_say: &'static str,
}

fn cases() -> Option<Vec<Case>> {
    let s = Server::start_ok("redis-8.6", None, &["--rdbcompression", "no"])?;
    let mut c = s.conn();
    let mut cases = Vec::new();
    let mut add = |rule, (ty, good): (u8, Vec<u8>), from: &[u8], to: &[u8], server_says, we_say| {
        let bad = mutate(&good, from, to);
        cases.push(Case { rule, ty, good, bad, server_says, we_say });
    };
    // hashtable encodings first
    ok(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "0"]);
    ok(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "0"]);
    ok(&mut c, &["CONFIG", "SET", "set-max-listpack-entries", "0"]);
    ok(&mut c, &["CONFIG", "SET", "zset-max-listpack-entries", "0"]);
    ok(&mut c, &["HSET", "h_ht", "fieldA", "v1", "fieldB", "v2"]);
    ok(&mut c, &["SADD", "s_ht", "memberA", "memberB"]);
    ok(&mut c, &["ZADD", "z_sl", "1.5", "memberA", "2.5", "memberB"]);
    ok(&mut c, &["HSET", "hx_ht", "fieldA", "v1", "fieldB", "v2"]);
    ok(&mut c, &["HPEXPIREAT", "hx_ht", "4102444800000", "FIELDS", "1", "fieldA"]);
    for (k, v) in [("hash-max-listpack-entries", "128"), ("set-max-listpack-entries", "128")] {
        ok(&mut c, &["CONFIG", "SET", k, v]);
    }
    ok(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "512"]);
    ok(&mut c, &["CONFIG", "SET", "zset-max-listpack-entries", "128"]);
    ok(&mut c, &["HSET", "h_lp", "fieldA", "v1", "fieldB", "v2"]);
    ok(&mut c, &["SADD", "s_lp", "memberA", "memberB"]);
    ok(&mut c, &["SADD", "s_is", "1", "2"]);
    ok(&mut c, &["ZADD", "z_lp", "1", "memberA", "2", "memberB"]);
    ok(&mut c, &["HSET", "hx_lp", "fieldA", "v1", "fieldB", "v2"]);
    ok(&mut c, &["HPEXPIREAT", "hx_lp", "4102444800000", "FIELDS", "1", "fieldA"]);
    ok(&mut c, &["HPEXPIREAT", "hx_lp", "4102444900000", "FIELDS", "1", "fieldB"]);
    ok(&mut c, &["XADD", "st", "5-1", "f", "v"]);
    ok(&mut c, &["XGROUP", "CREATE", "st", "groupA", "0"]);
    ok(&mut c, &["XGROUP", "CREATE", "st", "groupB", "0"]);
    ok(&mut c, &["XGROUP", "CREATECONSUMER", "st", "groupA", "consA"]);
    ok(&mut c, &["XGROUP", "CREATECONSUMER", "st", "groupA", "consB"]);
    ok(&mut c, &["XADD", "stp", "IDMP", "prodA", "iid1", "*", "f", "v"]);
    ok(&mut c, &["XADD", "stp", "IDMP", "prodB", "iid2", "*", "f", "v"]);
    ok(&mut c, &["CONFIG", "SET", "stream-node-max-entries", "1"]);
    ok(&mut c, &["XADD", "st2", "5-1", "f", "v"]);
    ok(&mut c, &["XADD", "st2", "6-1", "f", "v"]);

    add(
        "duplicate hash field, hashtable",
        dump(&mut c, "h_ht"),
        b"fieldB",
        b"fieldA",
        "Hash with dup elements",
        "duplicate field",
    );
    add(
        "duplicate hash field, listpack",
        dump(&mut c, "h_lp"),
        b"fieldB",
        b"fieldA",
        "integrity check failed",
        "duplicate field",
    );
    add(
        "duplicate set member, hashtable",
        dump(&mut c, "s_ht"),
        b"memberB",
        b"memberA",
        "Duplicate set members",
        "duplicate member",
    );
    add(
        "duplicate set member, listpack",
        dump(&mut c, "s_lp"),
        b"memberB",
        b"memberA",
        "integrity check failed",
        "duplicate member",
    );
    add(
        "duplicate set member, intset",
        dump(&mut c, "s_is"),
        b"\x01\x00\x02\x00",
        b"\x01\x00\x01\x00",
        "Intset integrity check failed",
        "duplicate member 1",
    );
    add(
        "duplicate zset member, skiplist",
        dump(&mut c, "z_sl"),
        b"memberB",
        b"memberA",
        "Duplicate zset fields",
        "duplicate member",
    );
    add(
        "NaN score, skiplist",
        dump(&mut c, "z_sl"),
        &1.5f64.to_le_bytes(),
        &f64::NAN.to_le_bytes(),
        "NAN score",
        "NaN score",
    );
    add(
        "duplicate zset member, listpack",
        dump(&mut c, "z_lp"),
        b"memberB",
        b"memberA",
        "integrity check failed",
        "duplicate member",
    );
    add(
        "duplicate hash field, hashtable with field TTLs",
        dump(&mut c, "hx_ht"),
        b"fieldB",
        b"fieldA",
        "dup elements",
        "duplicate field",
    );
    add(
        "duplicate hash field, listpack_ex",
        dump(&mut c, "hx_lp"),
        b"fieldB",
        b"fieldA",
        "integrity check failed",
        "duplicate hash field",
    );
    // the second field's TTL below the first's
    let later = 4102444900000i64.to_le_bytes();
    let earlier = 4102444700000i64.to_le_bytes();
    add(
        "field TTLs out of order, listpack_ex",
        dump(&mut c, "hx_lp"),
        &later[..6],
        &earlier[..6],
        "integrity check failed",
        "ordered by expiry",
    );
    add(
        "duplicate consumer",
        dump(&mut c, "st"),
        b"consB",
        b"consA",
        "Duplicate stream consumer",
        "duplicate consumer",
    );
    add(
        "duplicate group",
        dump(&mut c, "st"),
        b"groupB",
        b"groupA",
        "Duplicated consumer group name",
        "two groups named",
    );
    add(
        "duplicate IDMP producer",
        dump(&mut c, "stp"),
        b"prodB",
        b"prodA",
        "IDMP entries loading failed",
        "producer \"prodA\" twice",
    );
    let six = [0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1];
    let five = [0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1];
    add(
        "duplicate stream ID (two nodes with one master ID)",
        dump(&mut c, "st2"),
        &six,
        &five,
        "re-added with existing key",
        "two listpack nodes with master ID 5-1",
    );

    // encodings 8.6 no longer writes, by hand
    let zl = |tail| rdbfile::string(&ziplist(&[b"aa", b"bb", b"cc"], tail));
    cases.push(Case {
        rule: "ziplist tail offset not at the last entry",
        ty: 10,
        good: zl(None),
        bad: zl(Some(14)),
        server_says: "ziplist integrity check failed",
        we_say: "tail offset 14 but the last entry is at 18",
    });
    let qnode = |node: &[u8]| {
        let mut b = vec![1, 2];
        b.extend(rdbfile::string(node));
        b
    };
    cases.push(Case {
        rule: "empty quicklist node",
        ty: 18,
        good: qnode(&listpack1(b"x")),
        bad: qnode(b""),
        server_says: "",
        we_say: "empty node",
    });
    let zm = |count: u8| rdbfile::string(&[count, 1, b'a', 1, 0, b'x', 255]);
    cases.push(Case {
        rule: "zipmap count byte not the entry count",
        ty: 9,
        good: zm(1),
        bad: zm(2),
        server_says: "Zipmap integrity check failed",
        we_say: "count byte 2 but 1 entries",
    });
    Some(cases)
}

/// Starts Redis 8.6 with `file`; `Ok` when it came up, `Err(log)` when it refused.
fn server_loads(file: &std::path::Path) -> Result<Server, String> {
    Server::start("redis-8.6", Some(file), &SANITIZE).unwrap()
}

#[test]
fn each_rule_is_the_servers() {
    let Some(cases) = cases() else { return };
    assert!(cases.len() >= 18, "{} cases", cases.len());
    let dir = tempdir::Dir::new("rules");
    let mut problems = Vec::new();
    // a load target that does not check payloads itself (the default, sanitize-dump-payload
    // no): what reaches it is what rdbshift let through
    let target = Server::start_ok("redis-8.6", None, &[]).unwrap();
    let mut tc = target.conn();
    let exists = |c: &mut Conn| c.cmd(&["EXISTS", "k"]).unwrap().int();
    for (i, case) in cases.iter().enumerate() {
        let good = dir.path().join(format!("good{i}.rdb"));
        let bad = dir.path().join(format!("bad{i}.rdb"));
        std::fs::write(&good, rdbfile::file(13, &rdbfile::key(case.ty, b"k", &case.good))).unwrap();
        std::fs::write(&bad, rdbfile::file(13, &rdbfile::key(case.ty, b"k", &case.bad))).unwrap();
        // without the defect: both load it
        match server_loads(&good) {
            Ok(s) => {
                let n = s.conn().cmd(&["DBSIZE"]).unwrap().int();
                if n != Some(1) {
                    problems.push(format!(
                        "{}: the server holds {n:?} keys from the good file",
                        case.rule
                    ));
                }
            }
            Err(log) => {
                problems.push(format!("{}: the server refuses the good file: {log}", case.rule))
            }
        }
        for args in [
            &["inspect", good.to_str().unwrap()][..],
            &["convert", good.to_str().unwrap(), "-o", "/dev/null", "--restore"],
        ] {
            let (code, out, err) = rdbfile::run_timed(args, None, Duration::from_secs(30));
            if code != Some(0) || (args[0] == "inspect" && out.is_empty()) {
                problems.push(format!(
                    "{}: rdbshift {} refuses the good file: {err}",
                    case.rule, args[0]
                ));
            }
        }
        // with it: both refuse it
        match server_loads(&bad) {
            Ok(_) => problems.push(format!("{}: the server loads the bad file", case.rule)),
            Err(log) if !log.to_lowercase().contains(&case.server_says.to_lowercase()) => problems
                .push(format!(
                    "{}: the server log does not say {:?}:\n{log}",
                    case.rule, case.server_says
                )),
            Err(log) => {
                let why = log.lines().find(|l| {
                    l.contains("Internal error") || l.contains("Guru") || l.contains("Short read")
                });
                eprintln!(
                    "{}: Redis 8.6 refuses: {}",
                    case.rule,
                    why.unwrap_or("(see log)").trim()
                );
            }
        }
        let p = rdbfile::refused_everywhere(bad.to_str().unwrap());
        if !p.is_empty() {
            problems.push(format!("{}: {}", case.rule, p.join("; ")));
        }
        // the checksum plays no part: a file without one (CRC 0), or --no-checksum
        let mut no_crc = rdbfile::file(13, &rdbfile::key(case.ty, b"k", &case.bad));
        let n = no_crc.len();
        no_crc[n - 8..].fill(0);
        let nc = dir.path().join(format!("nocrc{i}.rdb"));
        std::fs::write(&nc, &no_crc).unwrap();
        for args in [
            &["convert", nc.to_str().unwrap(), "-o", "-", "--restore"][..],
            &["convert", bad.to_str().unwrap(), "-o", "-", "--restore", "--no-checksum"],
        ] {
            let (code, out, err) = rdbfile::run_timed(args, None, Duration::from_secs(30));
            if code == Some(0)
                || out.windows(7).any(|w| w == b"RESTORE")
                || !err.contains("byte offset")
            {
                problems.push(format!(
                    "{}: {args:?} exit {code:?}, {} bytes out: {err}",
                    case.rule,
                    out.len()
                ));
            }
        }
        // load (RESTORE mode): the good value arrives, the bad one never does
        for (file, want) in [(&good, 1), (&bad, 0)] {
            let (code, _, err) = rdbfile::run_timed(
                &["load", file.to_str().unwrap(), "--target", &target.url()],
                None,
                Duration::from_secs(60),
            );
            let got = exists(&mut tc);
            if (code == Some(0)) != (want == 1)
                || got != Some(want)
                || (want == 0 && !err.contains("byte offset"))
            {
                problems.push(format!(
                    "{}: load of the {} file: exit {code:?}, key there: {got:?}: {err}",
                    case.rule,
                    if want == 1 { "good" } else { "bad" }
                ));
            }
            tc.cmd(&["FLUSHALL"]).unwrap();
        }
        let (_, _, err) =
            rdbfile::run_timed(&["inspect", bad.to_str().unwrap()], None, Duration::from_secs(30));
        if !err.contains(case.we_say) || !err.contains("in key \"k\"") {
            problems.push(format!(
                "{}: rdbshift says {err:?}, not {:?} in key \"k\"",
                case.rule, case.we_say
            ));
        }
        eprintln!("{}: rdbshift refuses: {}", case.rule, err.trim());
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn duplicate_keys_are_refused_by_name_unless_allowed() {
    let dir = tempdir::Dir::new("dupkeys");
    let string = |k: &[u8], v: &[u8]| rdbfile::key(0, k, &rdbfile::string(v));
    // db 0: a, dup, b, dup again; db 1: dup (another database: no clash)
    let mut recs = Vec::new();
    recs.extend(string(b"a", b"1"));
    let first = 9 + recs.len() + 1; // the key name's offset (after the type byte)
    recs.extend(string(b"dup", b"first"));
    recs.extend(string(b"b", b"2"));
    let second = 9 + recs.len() + 1;
    recs.extend(string(b"dup", b"second"));
    recs.extend([0xfe, 1]);
    recs.extend(string(b"dup", b"db1"));
    let f = dir.path().join("dup.rdb");
    std::fs::write(&f, rdbfile::file(13, &recs)).unwrap();
    let fp = f.to_str().unwrap();

    if common::server_bin("redis-8.6").is_some() {
        let log =
            server_loads(&f).err().expect("the server loads a file with a key twice in one db");
        assert!(log.contains("Duplicated key found in RDB file"), "{log}");
    }
    let p = rdbfile::refused_everywhere(fp);
    assert!(p.is_empty(), "{p:?}");
    let (_, _, err) = rdbfile::run_timed(&["inspect", fp], None, Duration::from_secs(30));
    assert!(err.contains("in key \"dup\""), "{err}");
    assert!(err.contains(&format!("first at byte offset {first}")), "{err}");
    assert!(err.contains(&format!("at byte offset {second}")), "{err}");
    assert!(err.contains("database 0"), "{err}");

    // accepted with the option: every record shows, the last one of db 0 last
    let (code, out, err) = rdbfile::run_timed(
        &["inspect", fp, "--allow-duplicate-keys"],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(0), "{err}");
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.lines().count(), 5, "{out}");
    assert!(out.lines().nth(3).unwrap().contains("\"second\""), "{out}");
    for extra in
        [&["convert", fp, "-o", "/dev/null"][..], &["convert", fp, "-o", "/dev/null", "--restore"]]
    {
        let mut args = extra.to_vec();
        args.push("--allow-duplicate-keys");
        let (code, _, err) = rdbfile::run_timed(&args, None, Duration::from_secs(30));
        assert_eq!(code, Some(0), "{args:?}: {err}");
    }
    // info runs the check on a thread beside its walk: the same report, both offsets
    let (code, _, err) = rdbfile::run_timed(&["info", fp], None, Duration::from_secs(30));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("first at byte offset {first}")), "{err}");
    assert!(err.contains(&format!("at byte offset {second}")), "{err}");
    let (code, out, err) =
        rdbfile::run_timed(&["info", fp, "--allow-duplicate-keys"], None, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert!(String::from_utf8(out).unwrap().contains("db 0: 4 keys"), "{err}");
    // the same name in two databases is no duplicate
    let mut recs = string(b"dup", b"db0");
    recs.extend([0xfe, 1]);
    recs.extend(string(b"dup", b"db1"));
    std::fs::write(&f, rdbfile::file(13, &recs)).unwrap();
    let (code, _, err) = rdbfile::run_timed(&["inspect", fp], None, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
}

/// A key twice and damage in one file: the first in file order is what every command
/// reports, as a server reports the first thing it refuses; `info` and `inspect` alike, over
/// more keys than the check takes in one batch.
#[test]
fn a_duplicate_and_damage_the_earlier_is_reported() {
    let dir = tempdir::Dir::new("dupdamage");
    let string = |k: &[u8], v: &[u8]| rdbfile::key(0, k, &rdbfile::string(v));
    let f = dir.path().join("d.rdb");
    let fp = f.to_str().unwrap();
    let n = 10_000;
    for dup_first in [true, false] {
        let mut recs = Vec::new();
        let (mut dup_at, mut bad_at) = (0, 0);
        for i in 0..n {
            if i == 7_000 {
                // the damage: a type byte no server knows
                if !dup_first {
                    bad_at = 9 + recs.len();
                    recs.extend([0x63, 3, b'z', b'z', b'z']);
                }
            }
            if i == 6_000 && dup_first || i == 8_000 && !dup_first {
                dup_at = 9 + recs.len() + 1;
                recs.extend(string(b"key:17", b"again"));
            }
            recs.extend(string(format!("key:{i}").as_bytes(), b"v"));
        }
        if dup_first {
            bad_at = 9 + recs.len();
            recs.extend([0x63, 3, b'z', b'z', b'z']);
        }
        std::fs::write(&f, rdbfile::file(13, &recs)).unwrap();
        for cmd in ["info", "inspect"] {
            let (code, _, err) = rdbfile::run_timed(&[cmd, fp], None, Duration::from_secs(30));
            assert_eq!(code, Some(1), "{cmd}: {err}");
            if dup_first {
                assert!(err.contains("appears twice"), "{cmd}: {err}");
                assert!(err.contains(&format!("at byte offset {dup_at}")), "{cmd}: {err}");
            } else {
                assert!(!err.contains("appears twice"), "{cmd}: {err}");
                assert!(err.contains(&format!("byte offset {bad_at}")), "{cmd}: {err}");
            }
        }
    }
}
