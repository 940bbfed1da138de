//! Credentials: an ACL user (`--user`) with its password from `REDISCLI_AUTH` or `--askpass`,
//! the warning for a password in the command line, and no password ever printed, whatever
//! the URL looks like (against a real Redis 7.0 that wants a password).

use crate::common;
use crate::common::proc::Timed;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Server, corpus};

/// Runs the binary with only the given `REDISCLI_AUTH` and stdin; returns (code, stdout +
/// stderr).
fn run(args: &[&str], auth: Option<&str>, stdin: Option<&str>) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rdbshift"));
    c.args(args).env_remove("REDISCLI_AUTH").stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(a) = auth {
        c.env("REDISCLI_AUTH", a);
    }
    c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = c.spawn_timed();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    let out = child.output();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

const ARGV_WARNING: &str = "rdbshift: warning: a password in the command line may be visible to other users (use REDISCLI_AUTH or --askpass)";

/// Keys in all the server's dbs.
fn total_keys(c: &mut crate::common::resp::Conn) -> u64 {
    let info = c.cmd(&["INFO", "keyspace"]).unwrap().text();
    info.split("keys=").skip(1).map(|x| x.split(',').next().unwrap().parse::<u64>().unwrap()).sum()
}

fn dump() -> String {
    corpus().join("servers/redis-7.0-compact-seed1.rdb").to_str().unwrap().to_string()
}

#[test]
fn acl_user_with_password_from_rediscli_auth_or_askpass() {
    let Some(s) = Server::start_ok("redis-7.0", None, &["--requirepass", "Default-Pw"]) else {
        return;
    };
    let mut c = s.conn();
    c.cmd(&["AUTH", "Default-Pw"]).unwrap();
    let r = c.cmd(&["ACL", "SETUSER", "loader", "on", ">Loader-Pw", "~*", "&*", "+@all"]).unwrap();
    assert_eq!(r.text(), "OK");
    let f = dump();
    let url = s.url();
    let load = ["load", &f, "--target", &url];
    // the loader's password is not the default user's
    let (code, out) = run(&load, Some("Loader-Pw"), None);
    assert_ne!(code, 0);
    assert!(out.contains("WRONGPASS") || out.contains("invalid username-password"), "{out}");
    // as the ACL user
    let mut as_loader = load.to_vec();
    as_loader.extend(["--user", "loader"]);
    let (code, out) = run(&as_loader, Some("Loader-Pw"), None);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning: a password"), "no password was in the command line: {out}");
    let n = total_keys(&mut c);
    assert!(n >= 100, "{n} keys");
    let (code, out) =
        run(&["verify", &f, "--target", &url, "--user", "loader"], Some("Loader-Pw"), None);
    assert_eq!(code, 0, "{out}");
    // --askpass (stdin is no terminal: one line of it) comes before REDISCLI_AUTH
    c.cmd(&["FLUSHALL"]).unwrap();
    let mut ask = as_loader.clone();
    ask.push("--askpass");
    let (code, out) = run(&ask, Some("wrong"), Some("Loader-Pw\n"));
    assert_eq!(code, 0, "{out}");
    assert_eq!(total_keys(&mut c), n);
    let (code, out) = run(&ask, None, Some("wrong\n"));
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("wrong\n") && out.contains("WRONGPASS"), "{out}");
    // --user without a password anywhere
    let (code, out) = run(&as_loader, None, None);
    assert_ne!(code, 0);
    assert!(out.contains("--user needs a password"), "{out}");
    // --user overrides the URL's user; the URL's password warns
    let with_pw = format!("redis://someone:Loader-Pw@127.0.0.1:{}", s.port);
    let (code, out) = run(&["verify", &f, "--target", &with_pw, "--user", "loader"], None, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(ARGV_WARNING), "{out}");
    assert!(!out.contains("Loader-Pw"), "{out}");
}

/// Well-formed or not, reachable or not, right or wrong: a URL's password is never printed,
/// by `load` (stdout, stderr, `--report`) or `verify`.
#[test]
fn a_password_is_never_printed() {
    let Some(s) = Server::start_ok("redis-7.0", None, &["--requirepass", "Right-Pw-123"]) else {
        return;
    };
    let p = s.port;
    let secret = "Sekr3t-pw";
    let targets = [
        format!("redis:/u:{secret}@127.0.0.1:{p}"),
        format!("redis//:{secret}@127.0.0.1:{p}"),
        format!("redis:{secret}@127.0.0.1:{p}"),
        format!("redis://u:{secret}@127.0.0.1:notaport"),
        format!("redis://u:{secret}@127.0.0.1:{p}/x"),
        format!("redi://u:{secret}@127.0.0.1:{p}"),
        format!("u:{secret}@127.0.0.1:{p}"),
        format!("redis://:{secret}@[::1"),
        format!("redis://:{secret}%zz@127.0.0.1:{p}"),
        format!("redis://u:{secret}@:{p}"),
        format!("redis://:{secret}@127.0.0.1:{p}"),
        format!("redis://default:{secret}@127.0.0.1:{p}"),
        format!("redis://{secret}@127.0.0.1:{p}"),
        format!("rediss://:{secret}@127.0.0.1:{p}"),
        format!("redis://:{secret}@127.0.0.1:1"),
    ];
    let f = dump();
    let dir = common::tempdir::Dir::new("secret");
    let report = dir.path().join("report.json");
    let rep = report.to_str().unwrap();
    let mut checked = 0;
    for t in &targets {
        let _ = std::fs::remove_file(&report);
        // (a TLS client hello to a plain server is answered by nothing: the timeout ends it)
        let load = vec!["load", &f, "--target", t, "--report", rep, "--timeout", "3"];
        for args in [load, vec!["verify", &f, "--target", t, "--timeout", "3"]] {
            let (code, out) = run(&args, None, None);
            assert_ne!(code, 0, "{t}: {out}");
            assert!(
                !out.contains(secret) && !out.contains("Sekr3t"),
                "{t}: password printed: {out}"
            );
            assert!(out.contains("rdbshift: "), "{t}: no error shown: {out}");
            checked += 1;
        }
        if let Ok(r) = std::fs::read_to_string(&report) {
            assert!(!r.contains(secret), "{t}: in the report: {r}");
        }
    }
    // a URL where a dump was expected is not printed whole either
    let (code, out) = run(
        &["load", &format!("redis://:{secret}@h"), "--target", &s.url()],
        Some("Right-Pw-123"),
        None,
    );
    assert_ne!(code, 0);
    assert!(!out.contains(secret) && out.contains("redis://***@h"), "{out}");
    // the right one: loads, warns that it was in the command line, prints it nowhere
    let right = format!("redis://:Right-Pw-123@127.0.0.1:{p}");
    let (code, out) = run(&["load", &f, "--target", &right, "--report", rep], None, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(ARGV_WARNING), "{out}");
    let r = std::fs::read_to_string(&report).unwrap();
    assert!(r.contains("127.0.0.1") && !r.contains("Right-Pw"), "{r}");
    assert!(!out.contains("Right-Pw"), "{out}");
    assert!(checked >= 30);
}
