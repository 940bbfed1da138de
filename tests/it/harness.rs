//! Checks of the harness itself: the oracle the comparisons rest on (`common/readback.py`,
//! redis-py) gives every byte back exactly, and a comparison finds each kind of difference
//! it is meant to find; a server start survives its port being taken before it binds.

use crate::common;

use common::readback::{self, b};
use common::servercmp::{CmpOpts, compare_servers};
use common::version::Target;
use common::{Server, datagen};

#[test]
fn readback_returns_every_byte() {
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let mut c = s.conn();
    let key: Vec<u8> = (0..=255u8).rev().collect();
    let val: Vec<u8> = (0..=255u8).chain(b"\r\n\x00".iter().copied()).collect();
    c.call(&[b"SET", &key, &val]).unwrap();
    c.call(&[b"HSET", b"h", &val, &key]).unwrap();
    c.call(&[b"ZADD", b"z", b"-0", b"m", b"1.5e300", &key]).unwrap();
    c.call(&[b"SELECT", b"5"]).unwrap();
    c.call(&[b"RPUSH", b"l", b"", &val]).unwrap();
    c.call(&[b"PEXPIRE", b"l", b"100000000"]).unwrap();
    let ks = readback::read(&s);
    assert_eq!(ks.len(), 4);
    let rec = &ks.dbs[&0][&key];
    assert_eq!(rec["type"], "string");
    assert_eq!(b(&rec["value"]), val);
    assert_eq!(rec["pttl"], -1);
    assert_eq!(rec["pexpiretime"], -1);
    let h = &ks.dbs[&0][&b"h".to_vec()]["value"];
    assert_eq!((b(&h[0][0]), b(&h[0][1])), (val.clone(), key.clone()));
    let z = &ks.dbs[&0][&b"z".to_vec()]["value"];
    assert_eq!(z.as_array().unwrap().len(), 2);
    assert_eq!(b(&z[1][0]), key);
    assert_eq!(z[1][1], "1.5000000000000001e+300");
    let l = &ks.dbs[&5][&b"l".to_vec()];
    assert_eq!(
        l["value"].as_array().unwrap().iter().map(b).collect::<Vec<_>>(),
        vec![Vec::new(), val]
    );
    assert!(l["pttl"].as_i64().unwrap() > 99_000_000);
}

#[test]
fn server_comparison_finds_each_kind_of_difference() {
    let server = "redis-7.0";
    let t = Target::parse(server);
    let opts = CmpOpts { all_dbs: true, restored: false, streams: true };
    let Some(a) = Server::start_ok(server, None, &[]) else { return };
    let o = datagen::Opts { seed: 7, keys: 4, dbs: true, functions: true };
    let mut c = a.conn();
    datagen::populate(&mut c, &t, &o);
    // keys of known names in db 0 for the changes below
    for cmd in [
        &["SET", "k:str", "value"][..],
        &["RPUSH", "k:list", "a", "b"],
        &["SADD", "k:set", "x", "y"],
        &["ZADD", "k:zset", "1", "m"],
        &["XADD", "k:stream", "1-1", "f", "v"],
        &["SAVE"],
    ] {
        assert!(!c.cmd(cmd).unwrap().is_error());
    }
    // b: the same data, loaded from a's dump
    let b = Server::start_ok(server, Some(&a.dir.path().join("dump.rdb")), &[]).unwrap();
    let (n, diffs) = compare_servers(&a, &b, &t, &opts);
    assert!(diffs.is_empty(), "the same data differs: {diffs:?}");
    assert!(n >= 20, "only {n} keys compared");
    // one change of each kind in b, each found and named
    let changes: [(&[&[u8]], &str); 7] = [
        (&[b"SETRANGE", b"k:str", b"0", b"\xff"], "\"k:str\": contents differs"),
        (&[b"PEXPIREAT", b"k:list", b"4102444800000"], "\"k:list\": expiry differs"),
        (&[b"DEL", b"k:set"], "missing [\"k:set\"]"),
        (&[b"ZADD", b"k:zset", b"2", b"m"], "\"k:zset\": digest differs"),
        (&[b"SET", b"extra", b"1"], "extra [\"extra\"]"),
        (
            &[b"XGROUP", b"CREATE", b"k:stream", b"late-group", b"$"],
            "\"k:stream\": XINFO FULL differs",
        ),
        (&[b"FUNCTION", b"DELETE", b"genlib"], "functions differ"),
    ];
    let mut c = b.conn();
    for (cmd, _) in &changes {
        let r = c.call(cmd).unwrap();
        assert!(!r.is_error(), "{r:?}");
    }
    let (_, diffs) = compare_servers(&a, &b, &t, &opts);
    let all = diffs.join("\n");
    for (cmd, want) in &changes {
        assert!(
            all.contains(want),
            "{:?} not found ({want}):\n{all}",
            String::from_utf8_lossy(cmd[0])
        );
    }
}

#[test]
fn listing_comparison_finds_a_changed_value_and_a_missing_key() {
    use common::compare::{compare, parse_jsonl};
    let f = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/redis-7.0.rdb");
    let Some(s) = Server::start_ok("redis-7.0", Some(&f), &[]) else { return };
    let (code, out, err) = common::rdbshift(&["inspect", f.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    let mut ours = parse_jsonl(&out);
    assert!(compare(&s, &ours).is_empty());
    let db0 = ours.get_mut(&0).unwrap();
    assert!(db0.len() > 5);
    let (k, rec) = db0.iter_mut().find(|(_, r)| r["type"] == "string").unwrap();
    let name = String::from_utf8_lossy(k).into_owned();
    rec["value"] = serde_json::Value::from("not what the server has");
    let gone = db0.keys().find(|x| String::from_utf8_lossy(x) != name).unwrap().clone();
    db0.remove(&gone);
    let problems = compare(&s, &ours).join("\n");
    assert!(problems.contains(&format!("key {name:?}: value differs")), "{problems}");
    assert!(
        problems.contains(&format!(
            "{:?} is on the server but not listed",
            String::from_utf8_lossy(&gone)
        )),
        "{problems}"
    );
}

/// The race `free_port` leaves open, made to happen: the port (or a cluster node's bus port)
/// is taken when the server binds, and the start goes on with other ports.
#[test]
fn a_port_taken_before_the_server_binds_it_is_replaced() {
    use std::net::TcpListener;
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().port();
    common::FORCED_PORTS.with(|f| f.borrow_mut().push(taken));
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    assert_ne!(s.port, taken);
    assert_eq!(s.conn().cmd(&["PING"]).unwrap().text(), "PONG");
    // a cluster node whose bus port (P + 100) is taken
    let p = loop {
        let p = common::free_port();
        if p < 60000 {
            break p;
        }
    };
    let bus = TcpListener::bind(("127.0.0.1", p + 100)).unwrap();
    common::FORCED_PORTS.with(|f| f.borrow_mut().push(p));
    let conf = format!("nodes-{}.conf", common::unique());
    let args = ["--cluster-enabled", "yes", "--cluster-config-file", &conf];
    let Some(n) = Server::start_ok("redis-7.0", None, &args) else { return };
    assert_ne!(n.port, p);
    assert_eq!(n.conn().cmd(&["PING"]).unwrap().text(), "PONG");
    drop((held, bus));
}
