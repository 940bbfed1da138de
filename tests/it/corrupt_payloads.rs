//! The corrupt DUMP payloads of Redis 8.6's own test suite
//! (`tests/integration/corrupt-dump.tcl`, read at test time from the installed source),
//! judged by a real Redis 8.6 with `sanitize-dump-payload yes`:
//!
//! - each `restore <key> 0 "..."` payload is extracted (Tcl string escapes decoded) and sent
//!   as `RESTORE` (its CRC recomputed, so the server judges the content, not the checksum);
//! - each is also wrapped into a one-key RDB file (the payload's RDB version, a correct
//!   CRC-64) that the server is started with.
//!
//! Every case whose file the server refuses to load must be refused by `inspect`, `convert`
//! and `convert --restore`, each with an error naming a byte offset (no panic, no hang, no
//! large allocation). A case the server refuses only as a `RESTORE` but loads as a file (an
//! empty collection, which a server skips when loading a file) must never go out as a
//! `RESTORE`. Module values (type 6/7) are left out: they cannot be judged without the
//! module (reported, not asserted).

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use crate::common::resp::Conn;
use crate::common::resp::Reply;
use common::rdbfile;
use common::{Server, tempdir};

const TCL: &str = "src/redis-8.6.3/tests/integration/corrupt-dump.tcl";

/// Decodes a Tcl double-quoted string whose body starts at `s[i]`; returns the bytes and
/// the index after the closing quote. Backslash escapes: `\xHH` (up to two hex digits),
/// `\a \b \f \n \r \t \v`, octal `\ooo`, anything else stands for itself.
fn tcl_string(s: &[u8], mut i: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    loop {
        let ch = *s.get(i)?;
        match ch {
            b'"' => return Some((out, i + 1)),
            b'\\' => {
                let n = *s.get(i + 1)?;
                i += 2;
                match n {
                    b'x' => {
                        let mut v = 0u32;
                        let mut digits = 0;
                        while digits < 2 && s.get(i).is_some_and(|c| c.is_ascii_hexdigit()) {
                            v = v * 16 + (s[i] as char).to_digit(16).unwrap();
                            i += 1;
                            digits += 1;
                        }
                        out.push(v as u8);
                    }
                    b'0'..=b'7' => {
                        let mut v = (n - b'0') as u32;
                        let mut digits = 1;
                        while digits < 3 && s.get(i).is_some_and(|c| (b'0'..=b'7').contains(c)) {
                            v = v * 8 + (s[i] - b'0') as u32;
                            i += 1;
                            digits += 1;
                        }
                        out.push(v as u8);
                    }
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'v' => out.push(11),
                    other => out.push(other),
                }
            }
            _ => {
                out.push(ch);
                i += 1;
            }
        }
    }
}

/// (line, payload) of every distinct `restore <key> 0 "..."` (or `$var` set to a quoted
/// string) in the file.
fn payloads(tcl: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let text = String::from_utf8_lossy(tcl).to_lowercase();
    let lower = text.as_bytes();
    // `set name "..."` variables
    let mut vars = std::collections::HashMap::new();
    let mut at = 0;
    while let Some(p) = text[at..].find("set ") {
        let start = at + p + 4;
        at = start;
        let name: String =
            text[start..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let rest = start + name.len();
        if !name.is_empty()
            && tcl.get(rest..rest + 2) == Some(b" \"")
            && let Some((b, _)) = tcl_string(tcl, rest + 2)
        {
            vars.insert(name, b);
        }
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut at = 0;
    while let Some(p) = text[at..].find("restore ") {
        let mut i = at + p + 8;
        at = i;
        // the key, then the ttl 0
        let key_end = i + lower[i..].iter().take_while(|c| !c.is_ascii_whitespace()).count();
        i = key_end;
        i += lower[i..].iter().take_while(|c| c.is_ascii_whitespace()).count();
        if lower.get(i) != Some(&b'0') || !lower.get(i + 1).is_some_and(|c| c.is_ascii_whitespace())
        {
            continue;
        }
        i += 1;
        i += lower[i..].iter().take_while(|c| c.is_ascii_whitespace()).count();
        let payload = match tcl.get(i) {
            Some(b'"') => tcl_string(tcl, i + 1).map(|(b, _)| b),
            Some(b'$') => {
                let name: String = text[i + 1..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                vars.get(&name).cloned()
            }
            _ => None,
        };
        let Some(payload) = payload else { continue };
        let line = 1 + tcl[..i].iter().filter(|&&c| c == b'\n').count();
        if seen.insert(payload.clone()) {
            out.push((line, payload));
        }
    }
    out
}

/// Whether the server accepts `RESTORE k 0 payload REPLACE` (None: it went away).
fn restore(conn: &mut Conn, payload: &[u8]) -> Option<bool> {
    match conn.call(&[b"RESTORE", b"k", b"0", payload, b"REPLACE"]) {
        Ok(Reply::Error(_)) => Some(false),
        Ok(_) => {
            let _ = conn.call(&[b"DEL", b"k"]);
            Some(true)
        }
        Err(_) => None,
    }
}

#[test]
fn redis_corrupt_dump_payloads_are_refused() {
    let path = common::servers_root().join(TCL);
    let tcl = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/install-servers.sh)", path.display()));
    let cases = payloads(&tcl);
    eprintln!("{} distinct payloads in {}", cases.len(), path.display());
    assert!(cases.len() >= 80, "only {} payloads extracted", cases.len());

    let sanitize = ["--sanitize-dump-payload", "yes"];
    let Some(mut server) = Server::start_ok("redis-8.6", None, &sanitize) else { return };
    let mut conn = Conn::connect(&server.addr(), Duration::from_secs(10)).unwrap();
    let dir = tempdir::Dir::new("corrupt");
    let (mut server_refused, mut we_refuse, mut restore_only, mut modules) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    for (line, raw) in &cases {
        let Some((ty, body, version)) = rdbfile::split_payload(raw) else { continue };
        let payload = rdbfile::payload(ty, body, version);
        let restore_ok = match restore(&mut conn, &payload) {
            Some(ok) => ok,
            None => {
                // the server went away: a refusal of sorts; start a fresh one
                server = Server::start_ok("redis-8.6", None, &sanitize).unwrap();
                conn = Conn::connect(&server.addr(), Duration::from_secs(10)).unwrap();
                false
            }
        };
        let file = rdbfile::file(version.max(5) as u32, &rdbfile::key(ty, b"k", body));
        let f = dir.path().join(format!("line{line}.rdb"));
        std::fs::write(&f, &file).unwrap();
        let file_ok = Server::start("redis-8.6", Some(&f), &sanitize).unwrap().is_ok();
        if restore_ok && file_ok {
            continue;
        }
        server_refused += 1;
        let fp = f.to_str().unwrap();
        if ty == 6 || ty == 7 {
            modules += 1;
            eprintln!(
                "line {line}: module value (type {ty}) refused by the server: not judged without its module"
            );
            continue;
        }
        if file_ok {
            // refused only as a RESTORE (an empty collection): it must not go out as one
            restore_only += 1;
            let (code, out, err) = rdbfile::run_timed(
                &["convert", fp, "-o", "-", "--restore"],
                Some(1 << 20),
                Duration::from_secs(30),
            );
            if code.is_none() || out.windows(7).any(|w| w == b"RESTORE") {
                problems.push(format!(
                    "line {line} (type {ty}): a RESTORE went out (exit {code:?}): {err}"
                ));
            }
            continue;
        }
        let p = rdbfile::refused_everywhere(fp);
        if p.is_empty() {
            we_refuse += 1;
        } else {
            problems.push(format!("line {line} (type {ty}): {}", p.join("; ")));
        }
    }
    let files_refused = server_refused - restore_only - modules;
    eprintln!(
        "{} payloads; {server_refused} refused by Redis 8.6 (sanitize-dump-payload yes): {files_refused} as a file \
         (rdbshift refuses {we_refuse} of them in all four modes: inspect, convert, convert --restore, rewrite), {restore_only} only as RESTORE (empty \
         collections, never sent as one), {modules} module values (not judged)",
        cases.len(),
    );
    assert!(problems.is_empty(), "{} cases mishandled:\n{}", problems.len(), problems.join("\n"));
    assert!(server_refused >= 80, "the server refused only {server_refused}");
    assert!(we_refuse >= 78, "rdbshift refused only {we_refuse}");
}

#[test]
fn tcl_strings_decode() {
    let s = br#""\x0E\x01a\"b\\c\r\t\x5\101" rest"#;
    let (b, end) = tcl_string(s, 1).unwrap();
    assert_eq!(b, b"\x0e\x01a\"b\\c\r\t\x05A");
    assert_eq!(&s[end..], b" rest");
    let text = br#"r restore key 0 "\x01\x02"
        catch {r RESTORE _hash 0 "\x03" replace}
        set p "\x04"
        r restore key 0 $p
        r restore key 0 "\x01\x02"
        r restore key 5 "\x09""#;
    let p: Vec<Vec<u8>> = payloads(text).into_iter().map(|x| x.1).collect();
    assert_eq!(p, vec![vec![1, 2], vec![3], vec![4]]);
}
