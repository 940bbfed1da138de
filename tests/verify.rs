//! `rdbshift verify` passes after a clean load and catches a deleted key, a renamed key, a
//! changed expiry and a changed value.

mod common;

use common::datagen::scan;
use common::{Server, corpus, rdbshift};
use rdbshift::resp::Reply;

fn check(server: &str) {
    let f = corpus().join(format!("servers/{server}-compact-seed1.rdb"));
    let Some(s) = Server::start_ok(server, None, &[]) else { return };
    let url = s.url();
    let file = f.to_str().unwrap();
    let (code, _, err) = rdbshift(&["load", file, "--target", &url]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = rdbshift(&["verify", file, "--target", &url]);
    assert_eq!(code, 0, "clean load: {err}");
    assert!(err.contains(" 0 missing, 0 different"), "{err}");
    let (code, _, err) = rdbshift(&["verify", file, "--target", &url, "--sample", "10"]);
    assert_eq!(code, 0, "{err}");

    let mut c = s.conn();
    let mut keys = scan(&mut c, "*");
    keys.sort();
    let (del, ren, ttl) = (&keys[0], &keys[1], &keys[2]);
    assert!(matches!(c.call(&[b"DEL", del]).unwrap(), Reply::Int(1)));
    let mut renamed = ren.clone();
    renamed.extend_from_slice(b"-renamed");
    c.call(&[b"RENAME", ren, &renamed]).unwrap();
    c.call(&[b"PEXPIREAT", ttl, b"99999999999999"]).unwrap();
    // a changed element deep in a collection
    let hash = keys.iter().find(|k| c.call(&[b"TYPE", k]).unwrap() == Reply::Status(b"hash".to_vec())).unwrap().clone();
    let Reply::Array(Some(fields)) = c.call(&[b"HKEYS", &hash]).unwrap() else { panic!() };
    let Reply::Bulk(Some(f0)) = &fields[fields.len() - 1] else { panic!() };
    c.call(&[b"HSET", &hash, f0, b"changed!"]).unwrap();

    let (code, _, err) = rdbshift(&["verify", file, "--target", &url]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(" 2 missing, 2 different"), "{err}");
    for k in [del, ren, ttl, &hash] {
        assert!(err.contains(&format!("{:?}", String::from_utf8_lossy(k))), "{k:?} not named: {err}");
    }
}

#[test]
fn verify_redis_7_0() {
    check("redis-7.0");
}

#[test]
fn verify_redis_8_6() {
    check("redis-8.6");
}

#[test]
fn verify_redis_6_0() {
    check("redis-6.0");
}
