//! `rdbshift convert` round trips through real servers: random data written by a server,
//! saved, converted, piped into a fresh server of the same version with `redis-cli --pipe`,
//! then both servers compared key by key. Commands mode and RESTORE mode, every version.

use crate::common;

use std::path::Path;

use common::datagen::{self, Opts};
use common::servercmp::{CmpOpts, compare_servers};
use common::{Server, pipe, rdbshift};

/// Writes a data set into a fresh `server`, converts its dump with `extra` options, pipes
/// the result into another fresh server of the same version, and compares them.
fn roundtrip(server: &str, seed: u64, extra: &[&str]) {
    let Some(a) = Server::start_ok(server, None, &[]) else { return };
    let t = datagen::target_of(server);
    let mut ca = a.conn();
    datagen::populate(&mut ca, &t, &Opts { seed, keys: 30, dbs: true, functions: true });
    datagen::delete_some_entries(&mut ca, seed);
    assert!(matches!(ca.cmd(&["SAVE"]).unwrap(), crate::common::resp::Reply::Status(_)));
    let rdb = a.dir.path().join("dump.rdb");
    let out = a.dir.path().join("out.resp");
    let mut args = vec!["convert", rdb.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{server}: convert failed: {err}");
    if let Ok(keep) = std::env::var("RDBSHIFT_KEEP") {
        // for a look at what was produced
        let tag = format!("{server}{}", extra.join(""));
        std::fs::copy(&rdb, Path::new(&keep).join(format!("{tag}.rdb"))).unwrap();
        std::fs::copy(&out, Path::new(&keep).join(format!("{tag}.resp"))).unwrap();
    }
    let b = Server::start_ok(server, None, &[]).unwrap();
    let (errors, replies, text) = pipe(&b, &out);
    assert_eq!(errors, 0, "{server}: redis-cli --pipe: {text}\nserver log:\n{}", b.log());
    assert!(replies > 100);
    let restored = extra.contains(&"--restore");
    let (n, diffs) =
        compare_servers(&a, &b, &t, &CmpOpts { all_dbs: true, restored, streams: true });
    assert!(
        diffs.is_empty(),
        "{server} {extra:?}: {} differences over {n} keys:\n{}",
        diffs.len(),
        diffs.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(n >= 150, "{server}: only {n} keys compared");
    eprintln!("{server} {extra:?}: {n} keys identical ({replies} commands)");
}

macro_rules! roundtrips {
    ($($name:ident: $server:expr, $seed:expr;)*) => {$(
        mod $name {
            #[test]
            fn commands() {
                super::roundtrip($server, $seed, &[]);
            }
            #[test]
            fn restore() {
                super::roundtrip($server, $seed + 1000, &["--restore"]);
            }
        }
    )*};
}

roundtrips! {
    redis_5_0: "redis-5.0", 50;
    redis_6_0: "redis-6.0", 60;
    redis_6_2: "redis-6.2", 62;
    redis_7_0: "redis-7.0", 70;
    redis_8_0: "redis-8.0", 80;
    redis_8_6: "redis-8.6", 86;
    redis_stack_7_4: "redis-stack-7.4", 74;
    valkey_8_0: "valkey-8.0", 180;
    valkey_8_1: "valkey-8.1", 181;
    valkey_9_1: "valkey-9.1", 191;
}

/// An 8.6 dump (IDMP producers on its streams) converted for Redis 8.0 loads there with no
/// error, and the run says how many streams lost their IDMP state.
#[test]
fn redis_8_6_dump_for_redis_8_0() {
    let f = common::corpus().join("servers/redis-8.6-compact-seed1.rdb");
    let Some(a) = Server::start_ok("redis-8.6", Some(&f), &[]) else { return };
    let (_, info, _) = rdbshift(&["info", "--json", f.to_str().unwrap()]);
    let info: serde_json::Value = serde_json::from_slice(&info).unwrap();
    let idmp = info["streams_with_idmp"].as_u64().unwrap();
    assert!(idmp > 0);
    let out = a.dir.path().join("out.resp");
    let (code, _, err) = rdbshift(&[
        "convert",
        f.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--target-version",
        "8.0",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("{idmp} stream(s) lost their IDMP state")), "{err}");
    let Some(b) = Server::start_ok("redis-8.0", None, &[]) else { return };
    let (errors, _, text) = pipe(&b, &out);
    assert_eq!(errors, 0, "{text}");
    let t = datagen::target_of("redis-8.0");
    let (n, diffs) =
        compare_servers(&a, &b, &t, &CmpOpts { all_dbs: true, restored: false, streams: false });
    assert!(diffs.is_empty() && n > 50, "{n} keys: {diffs:?}");
    // --strict makes the loss an error
    let (code, _, _) = rdbshift(&[
        "convert",
        f.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--target-version",
        "8.0",
        "--strict",
    ]);
    assert_eq!(code, 2);
}
