//! Network faults: servers that stop answering, and replies no real server sends.
//!
//! A real server cannot produce most of these (never answering, a giant bulk length, deep
//! nesting, garbage), so a small scripted server on 127.0.0.1 stands in for them: it answers
//! the handshake and probe (`PING`, `AUTH`, `INFO`, `SELECT`) like Redis 7.0 and then does
//! what the test says. What a real server can do (pause its clients, stop) is tested on a
//! real server. Every run of the binary has a time limit, and every error must name the node.

use crate::common;
use crate::common::proc::Timed;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::fake::{Listener, command, handshake_reply};
use common::{Server, corpus};

/// What the scripted server does.
#[derive(Clone, Copy)]
enum Script {
    /// Accepts connections, reads, never answers anything.
    Silent,
    /// Answers the handshake; answers data commands (anything but the handshake's) while
    /// fewer than this many were answered in all; then that connection goes silent.
    Budget(usize),
    /// Answers the handshake; to the first data command of each connection it sends these
    /// bytes, then `tail` more bytes of `fill` (to tempt a reader into buffering them).
    Reply { head: fn() -> Vec<u8>, fill: u8, tail: usize },
}

struct Fake {
    l: Listener,
    /// Data commands answered so far.
    answered: Arc<AtomicUsize>,
}

impl Fake {
    fn start(script: Script) -> Fake {
        let answered = Arc::new(AtomicUsize::new(0));
        let a = Arc::clone(&answered);
        let l = Listener::start(move |c, stop| serve(c, script, &a, stop));
        Fake { l, answered }
    }

    fn url(&self) -> String {
        self.l.url()
    }

    fn addr(&self) -> String {
        self.l.addr()
    }
}

/// One connection, until the client closes it (blocking reads: the client's exit ends it).
fn serve(c: TcpStream, script: Script, answered: &AtomicUsize, stop: &AtomicBool) {
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    let mut silent = matches!(script, Script::Silent);
    let mut buf = [0u8; 1 << 16];
    while !stop.load(Ordering::SeqCst) {
        if silent {
            // keep reading (so that the client's writes never block), answer nothing
            match r.read(&mut buf) {
                Ok(n) if n > 0 => continue,
                _ => return,
            }
        }
        let Some((args, _)) = command(&mut r) else { return };
        let reply: Vec<u8> = match handshake_reply(&args) {
            Some(reply) => reply,
            None => match script {
                Script::Silent => unreachable!(),
                Script::Budget(n) => {
                    if answered.fetch_add(1, Ordering::SeqCst) >= n {
                        silent = true;
                        continue;
                    }
                    b"+OK\r\n".to_vec()
                }
                Script::Reply { head, fill, tail } => {
                    answered.fetch_add(1, Ordering::SeqCst);
                    if w.write_all(&head()).is_err() {
                        return;
                    }
                    let chunk = vec![fill; 1 << 20];
                    let mut sent = 0;
                    while sent < tail && !stop.load(Ordering::SeqCst) {
                        if w.write_all(&chunk).is_err() {
                            return;
                        }
                        sent += chunk.len();
                    }
                    silent = true;
                    continue;
                }
            },
        };
        if w.write_all(&reply).is_err() {
            return;
        }
    }
}

/// Runs the binary with a time limit (and an address-space limit in KiB, when given);
/// returns (exit code, stderr, seconds taken). A run past the limit is killed and fails.
fn run(args: &[&str], limit_kib: Option<u64>, timeout: Duration) -> (Option<i32>, String, f64) {
    let mut cmd = Command::new("sh");
    let ulimit = limit_kib.map(|k| format!("ulimit -v {k}; ")).unwrap_or_default();
    cmd.arg("-c")
        .arg(format!("{ulimit}exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_rdbshift"))
        .args(args);
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn_timed();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st.code(), reader.join().unwrap(), start.elapsed().as_secs_f64());
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rdbshift {args:?} still running after {timeout:?}: it hangs; stderr: {}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn dump() -> String {
    corpus().join("servers/redis-7.0-compact-seed1.rdb").to_str().unwrap().to_string()
}

/// Keys the dump holds (what `load` would count), from `inspect`.
fn keys_in(f: &str) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_rdbshift")).args(["inspect", f]).output_timed();
    assert!(out.status.success());
    out.stdout.iter().filter(|&&b| b == b'\n').count() as u64
}

#[test]
fn a_server_that_never_answers_times_out_in_the_handshake() {
    let fake = Fake::start(Script::Silent);
    let f = dump();
    for cmd in ["load", "verify"] {
        let (code, err, secs) = run(
            &[cmd, &f, "--target", &fake.url(), "--timeout", "2"],
            None,
            Duration::from_secs(30),
        );
        assert_ne!(code, Some(0), "{cmd}: {err}");
        let want = format!("timed out after 2 s waiting for {} (PING)", fake.addr());
        assert!(err.contains(&want), "{cmd}: wanted {want:?} in: {err}");
        assert!(!err.contains("os error 11"), "{err}");
        assert!((2.0..7.0).contains(&secs), "{cmd} took {secs:.1} s with --timeout 2");
    }
}

#[test]
fn a_server_that_stops_answering_mid_load_is_a_failure_not_a_hang() {
    let fake = Fake::start(Script::Budget(40));
    let f = dump();
    let total = keys_in(&f);
    let dir = common::tempdir::Dir::new("stop");
    let report = dir.path().join("report.json");
    let (code, err, secs) = run(
        &[
            "load",
            &f,
            "--target",
            &fake.url(),
            "--timeout",
            "1",
            "--report",
            report.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(1), "{err}");
    let want = format!("timed out after 1 s waiting for {} (", fake.addr());
    assert!(err.contains(&want), "wanted {want:?} in: {err}");
    assert!(err.contains("replies outstanding"), "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let (loaded, failed) = (rep["loaded"].as_u64().unwrap(), rep["failed"].as_u64().unwrap());
    // at most what the server acknowledged counts as loaded; every other key failed
    assert!(loaded <= 40, "{rep}");
    assert!(
        failed > 0 && loaded + failed == total,
        "loaded {loaded} + failed {failed} != {total} keys: {rep}"
    );
    assert!(rep["reconnects"].as_u64().unwrap() >= 1, "{rep}");
    assert!(fake.answered.load(Ordering::SeqCst) >= 40);
    eprintln!(
        "stopped server: {loaded} loaded, {failed} failed, in {secs:.1} s: {}",
        err.lines().last().unwrap_or("")
    );
}

fn huge_bulk() -> Vec<u8> {
    b"$999999999999\r\n".to_vec()
}

fn deep() -> Vec<u8> {
    let mut b = b"*1\r\n".repeat(2_000_000);
    b.extend_from_slice(b":1\r\n");
    b
}

fn garbage() -> Vec<u8> {
    let mut x = 0x9e3779b97f4a7c15u64;
    let mut b = vec![0u8];
    b.extend((0..100_000).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    b
}

fn endless_line() -> Vec<u8> {
    b"+".to_vec()
}

/// Replies no server sends end the connection with a protocol error naming the node: no
/// allocation in proportion to a declared length (1 GiB address-space limit), no stack
/// overflow, no unbounded buffering, no hang. The load reconnects and retries, then gives up.
#[test]
fn replies_no_server_sends_are_protocol_errors() {
    let f = dump();
    let cases: [(&str, Script, &str); 4] = [
        (
            "giant bulk",
            Script::Reply { head: huge_bulk, fill: b'x', tail: 2 << 30 },
            "bulk length 999999999999",
        ),
        (
            "2M nested arrays",
            Script::Reply { head: deep, fill: b'*', tail: 0 },
            "nested more than 128 deep",
        ),
        (
            "garbage",
            Script::Reply { head: garbage, fill: 0, tail: 0 },
            "unknown reply type byte 0x00",
        ),
        (
            "endless line",
            Script::Reply { head: endless_line, fill: b'a', tail: 2 << 30 },
            "a line longer than",
        ),
    ];
    for (name, script, why) in cases {
        let fake = Fake::start(script);
        for cmd in ["load", "verify"] {
            let url = fake.url();
            let mut args = vec![cmd, &f, "--target", &url, "--timeout", "5"];
            if cmd == "load" {
                args.extend(["--threads", "1"]);
            }
            let (code, err, secs) = run(&args, Some(1 << 20), Duration::from_secs(120));
            let want = format!("protocol error from {}: ", fake.addr());
            assert!(
                err.contains(&want) && err.contains(why),
                "{name}, {cmd}: wanted {want:?}, {why:?} in: {err}"
            );
            assert_eq!(code, Some(1), "{name}, {cmd} (a crash has no exit code): {err}");
            assert!(!err.contains("memory allocation") && !err.contains("overflow"), "{err}");
            eprintln!(
                "{name}, {cmd}: failed cleanly in {secs:.1} s: {}",
                err.lines().last().unwrap_or("")
            );
        }
        assert!(fake.answered.load(Ordering::SeqCst) >= 2, "{name}: the bad reply was sent");
    }
}

/// A Redis 7.0 holding `keys` strings of `size` bytes (`DEBUG POPULATE`), saved: the server
/// (it owns the dump's directory) and its dump.
fn populated(keys: u64, size: u64) -> Option<(Server, std::path::PathBuf)> {
    let src = Server::start_ok("redis-7.0", None, &[])?;
    let mut c = src.conn();
    c.cmd(&["DEBUG", "POPULATE", &keys.to_string(), "key", &size.to_string()]).unwrap();
    c.cmd(&["SAVE"]).unwrap();
    let f = src.dir.path().join("dump.rdb");
    Some((src, f))
}

/// `CLIENT PAUSE ... WRITE` on a real server mid-load: `RESTORE` is a write, so its reply
/// waits for the pause to end. With `--timeout 2` the connection counts as dead after 2 s,
/// is reopened (the handshake's `PING` is not paused), and the keys are sent again; the
/// pause (5 s) ends before the third timeout in a row, and everything arrives.
#[test]
fn a_paused_server_mid_load_times_out_and_the_load_recovers() {
    let Some((_src, f)) = populated(300_000, 200) else { return };
    let Some(dst) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let report = dst.dir.path().join("report.json");
    let (url, rep_path) = (dst.url(), report.to_str().unwrap().to_string());
    let file = f.to_str().unwrap().to_string();
    let load = std::thread::spawn(move || {
        run(
            &["load", &file, "--target", &url, "--timeout", "2", "--report", &rep_path],
            None,
            Duration::from_secs(180),
        )
    });
    // pause once the load is under way
    let mut d = dst.conn();
    let t = Instant::now();
    loop {
        let n = d.cmd(&["DBSIZE"]).unwrap().int().unwrap();
        if n >= 20_000 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "the load did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let paused_at = Instant::now();
    assert!(d.cmd(&["CLIENT", "PAUSE", "5000", "WRITE"]).unwrap().text() == "OK");
    let (code, err, _) = load.join().unwrap();
    let waited = paused_at.elapsed();
    assert_eq!(code, Some(0), "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(rep["loaded"], 300_000, "{rep}");
    assert!(rep["reconnects"].as_u64().unwrap() >= 1, "the pause was not noticed: {rep}");
    assert!(
        waited >= Duration::from_millis(4500),
        "finished {waited:?} after the pause began, before it ended"
    );
    assert_eq!(d.cmd(&["DBSIZE"]).unwrap().int(), Some(300_000));
    let (code, _, err) = common::rdbshift(&[
        "verify",
        f.to_str().unwrap(),
        "--target",
        &dst.url(),
        "--sample",
        "2000",
    ]);
    assert_eq!(code, 0, "{err}");
}

/// Bytes queued on loopback TCP connections to or from `port` (`/proc/net/tcp`): sent and
/// not yet acknowledged by the peer's kernel, plus received and not yet read.
fn queued_bytes(port: u16) -> u64 {
    let t = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let hex_port = |a: &str| u16::from_str_radix(a.rsplit(':').next().unwrap(), 16).unwrap();
    t.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (local, remote) = (hex_port(f[1]), hex_port(f[2]));
            // established connections of the server, either end
            if f[3] != "01" || (local != port && remote != port) {
                return None;
            }
            let (tx, rx) = f[4].split_once(':').unwrap();
            Some(u64::from_str_radix(tx, 16).unwrap() + u64::from_str_radix(rx, 16).unwrap())
        })
        .sum()
}

/// The window bounds what is in flight, on a real server that stops reading: `DEBUG SLEEP`
/// mid-load holds the whole server, so what the loader sent and the server has not read
/// stays in the kernel's queues of the two ends while the loader waits for room. Its
/// `--metrics` show the window in force and the unacknowledged bytes: those stay within the
/// window, the queues hold no more than them, and the paced window of a loopback path stays
/// near `QUEUE`. `--window 512KiB` holds exactly that.
/// When the server wakes, every key arrives.
#[test]
fn what_a_sleeping_server_is_sent_stays_within_the_window() {
    // about 60 MB of commands: the load runs long enough to sleep in the middle of it
    let Some((_src, f)) = populated(300_000, 180) else { return };
    let Some(dst) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let port: u16 = dst.addr().rsplit(':').next().unwrap().parse().unwrap();
    let queue = rdbshift::net::pacing::QUEUE as f64;
    for window in [None, Some("512KiB")] {
        let mut d = dst.conn();
        d.cmd(&["FLUSHALL"]).unwrap();
        let addr = format!("127.0.0.1:{}", common::free_port());
        let (url, file, a) = (dst.url(), f.to_str().unwrap().to_string(), addr.clone());
        let load = std::thread::spawn(move || {
            let mut args =
                vec!["load", &file, "--target", &url, "--timeout", "60", "--metrics", &a];
            args.extend(window.iter().flat_map(|w| ["--window", w]));
            run(&args, None, Duration::from_secs(180))
        });
        let t = Instant::now();
        while d.cmd(&["DBSIZE"]).unwrap().int().unwrap() < 10_000 {
            assert!(t.elapsed() < Duration::from_secs(60), "{window:?}: the load did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut z = dst.conn();
        let sleep = std::thread::spawn(move || z.cmd(&["DEBUG", "SLEEP", "4"]).unwrap().text());
        // the queues fill up to the window, then stay
        let (mut last, mut since) = (0, Instant::now());
        let held = loop {
            let q = queued_bytes(port);
            if q != last {
                (last, since) = (q, Instant::now());
            } else if q > 0 && since.elapsed() > Duration::from_millis(500) {
                break q as f64;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "{window:?}: queues at {q}");
            std::thread::sleep(Duration::from_millis(10));
        };
        let page = common::scrape(&addr).expect("the metrics answer while the server sleeps");
        let labels = format!("{{node=\"{}\",db=\"0\"}}", dst.addr());
        let w = common::sample(&page, &format!("rdbshift_window_bytes{labels}")).unwrap();
        let inflight = common::sample(&page, &format!("rdbshift_inflight_bytes{labels}")).unwrap();
        eprintln!(
            "{window:?}: window {w}, unacknowledged {inflight}, in the kernel's queues {held}"
        );
        match window {
            None => assert!(w >= queue && w < 4.0 * queue, "a paced window on loopback: {w}"),
            Some(_) => assert_eq!(w, 524288.0),
        }
        assert!(inflight <= w && inflight >= w / 2.0 - 64e3, "{window:?}: {inflight} of {w}");
        // the queues hold what was sent and not read: at most what is unacknowledged, less
        // what the server read before it slept and what of the last write the sending
        // socket had no room for yet (at most half the window)
        assert!(held <= inflight, "{window:?}: {held} queued, {inflight} unacknowledged");
        assert!(held >= inflight - w / 2.0 - 64e3, "{window:?}: {held} of {inflight}");
        assert_eq!(sleep.join().unwrap(), "OK");
        let (code, err, _) = load.join().unwrap();
        assert_eq!(code, Some(0), "{window:?}: {err}");
        assert_eq!(d.cmd(&["DBSIZE"]).unwrap().int(), Some(300_000), "{window:?}");
    }
}

/// A real server that is stopped (SIGSTOP) accepts connections (the kernel does) and answers
/// nothing: the handshake times out, named.
#[test]
fn a_stopped_server_times_out_in_the_handshake() {
    let Some(s) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let pid = s.conn().cmd(&["INFO", "server"]).unwrap().text();
    let pid = pid.lines().find_map(|l| l.strip_prefix("process_id:")).unwrap().trim().to_string();
    struct Resume(String);
    impl Drop for Resume {
        fn drop(&mut self) {
            let _ = Command::new("kill").args(["-CONT", &self.0]).status_timed();
        }
    }
    assert!(Command::new("kill").args(["-STOP", &pid]).status_timed().success());
    let resume = Resume(pid);
    let (code, err, secs) = run(
        &["load", &dump(), "--target", &s.url(), "--timeout", "2"],
        None,
        Duration::from_secs(30),
    );
    drop(resume);
    assert_ne!(code, Some(0));
    let want = format!("timed out after 2 s waiting for {} (PING)", s.addr());
    assert!(err.contains(&want), "wanted {want:?} in: {err}");
    assert!(secs < 7.0, "{secs:.1} s");
    // and once it runs again, the same load works
    let (code, err, _) = run(
        &["load", &dump(), "--target", &s.url(), "--timeout", "2"],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{err}");
}

/// Every key of a load that gave up on its target: loaded, failed (with the reason) or
/// not sent, adding up to the dump's keys.
fn accounted(rep: &serde_json::Value, total: u64) -> (u64, u64) {
    let n = |k: &str| rep[k].as_u64().unwrap_or_else(|| panic!("{k} in {rep}"));
    assert_eq!(n("keys"), total, "{rep}");
    assert_eq!(
        n("loaded") + n("failed") + n("not_sent") + n("filtered") + n("expired"),
        total,
        "{rep}"
    );
    (n("loaded"), n("failed"))
}

/// A server that answers the handshake and then nothing: each connection times out, is
/// reopened at most twice in a row, and then the node is given up: its keys fail with
/// `timed out after N s waiting for HOST:PORT`, the report is written, and the run ends
/// non-zero within 3 x --timeout and a little. While it waits, a line every 10 s says so.
#[test]
fn a_node_that_never_answers_is_given_up_in_bounded_time() {
    let fake = Fake::start(Script::Budget(0));
    let f = dump();
    let total = keys_in(&f);
    let dir = common::tempdir::Dir::new("giveup");
    let report = dir.path().join("report.json");
    let ck = dir.path().join("ck");
    let (code, err, secs) = run(
        &[
            "load",
            &f,
            "--target",
            &fake.url(),
            "--timeout",
            "11",
            "--report",
            report.to_str().unwrap(),
            "--checkpoint",
            ck.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(secs < 3.0 * 11.0 + 10.0, "took {secs:.1} s with --timeout 11: {err}");
    let want = format!("timed out after 11 s waiting for {}", fake.addr());
    let note = format!("{} has not answered for 10 s (", fake.addr());
    assert!(
        err.contains(&note) && err.contains("replies outstanding)"),
        "wanted {note:?} in: {err}"
    );
    assert!(err.contains(&want), "wanted {want:?} in: {err}");
    assert!(err.contains(&format!("gave up on {}", fake.addr())), "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let (loaded, failed) = accounted(&rep, total);
    assert_eq!((loaded, failed), (0, total), "every key failed, named: {rep}");
    assert!(rep["failures"][0]["error"].as_str().unwrap().contains(&want), "{rep}");
    assert!(rep["given_up"][fake.addr()].is_string(), "{rep}");
    assert_eq!(rep["errors"]["timed out"], total, "{rep}");
    // the checkpoint does not pretend anything was done: every key is before its offset and
    // listed as failed (a rerun sends it again), or after the offset
    let text = std::fs::read_to_string(&ck).unwrap();
    let offset: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("dump\t"))
        .unwrap()
        .split('\t')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let listed = text.lines().filter(|l| l.starts_with("failed\t")).count() as u64;
    assert!(offset == 0 || listed == total, "offset {offset}, {listed} of {total} listed: {text}");
    // verify against the same silent node ends in bounded time too, saying so
    let (code, err, secs) = run(
        &["verify", &f, "--target", &fake.url(), "--timeout", "3"],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(secs < 3.0 * 3.0 + 10.0, "verify took {secs:.1} s with --timeout 3: {err}");
    assert!(err.contains(&format!("timed out after 3 s waiting for {}", fake.addr())), "{err}");
}

/// A real server paused for longer than three timeouts (`CLIENT PAUSE ... ALL` for verify,
/// which only reads; `WRITE` for load): both end within 3 x --timeout and a little, say
/// `timed out`, and load accounts for every key in its report.
#[test]
fn a_paused_target_ends_load_and_verify_in_bounded_time() {
    let Some(src) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let mut c = src.conn();
    c.cmd(&["DEBUG", "POPULATE", "200000", "key", "100"]).unwrap();
    c.cmd(&["SAVE"]).unwrap();
    let f = src.dir.path().join("dump.rdb");
    let file = f.to_str().unwrap().to_string();
    let dst = Server::start_ok("redis-7.0", None, &[]).unwrap();
    let mut d = dst.conn();
    assert_eq!(d.cmd(&["CLIENT", "PAUSE", "120000", "WRITE"]).unwrap().text(), "OK");
    let report = dst.dir.path().join("report.json");
    let (code, err, secs) = run(
        &[
            "load",
            &file,
            "--target",
            &dst.url(),
            "--timeout",
            "2",
            "--report",
            report.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(secs < 3.0 * 2.0 + 10.0, "load took {secs:.1} s with --timeout 2: {err}");
    assert!(err.contains(&format!("timed out after 2 s waiting for {}", dst.addr())), "{err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let (_, failed) = accounted(&rep, 200_000);
    assert!(rep["given_up"][dst.addr()].is_string(), "{rep}");
    assert!(failed > 0, "{rep}");
    assert_eq!(d.cmd(&["CLIENT", "UNPAUSE"]).unwrap().text(), "OK");
    // load it for real, then pause everything while verify runs
    let (code, _, err) = common::rdbshift(&["load", &file, "--target", &dst.url()]);
    assert_eq!(code, 0, "{err}");
    let (url, file2) = (dst.url(), file.clone());
    let verify = std::thread::spawn(move || {
        run(&["verify", &file2, "--target", &url, "--timeout", "2"], None, Duration::from_secs(60))
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.cmd(&["CLIENT", "PAUSE", "60000", "ALL"]).unwrap().text(), "OK");
    let (code, err, secs) = verify.join().unwrap();
    let _ = d.cmd(&["CLIENT", "UNPAUSE"]);
    assert_ne!(code, Some(0), "{err}");
    assert!(secs < 3.0 * 2.0 + 10.0, "verify took {secs:.1} s with --timeout 2: {err}");
    assert!(err.contains("timed out"), "{err}");
}

/// One master of a cluster paused for good: that node is given up after three timeouts in a
/// row and only its keys fail; the other masters' keys load. The counts add up.
#[test]
fn one_dead_master_fails_only_its_keys() {
    let Some(src) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let mut c = src.conn();
    c.cmd(&["DEBUG", "POPULATE", "30000", "key", "50"]).unwrap();
    c.cmd(&["SAVE"]).unwrap();
    let f = src.dir.path().join("dump.rdb");
    let Some(cl) = common::cluster::Cluster::start("redis-7.0") else { return };
    let dead = &cl.nodes[1];
    assert_eq!(dead.conn().cmd(&["CLIENT", "PAUSE", "120000", "WRITE"]).unwrap().text(), "OK");
    let report = cl.nodes[0].dir.path().join("report.json");
    let (code, err, secs) = run(
        &[
            "load",
            f.to_str().unwrap(),
            "--target",
            &cl.url(),
            "--timeout",
            "2",
            "--report",
            report.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(90),
    );
    let _ = dead.conn().cmd(&["CLIENT", "UNPAUSE"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(secs < 3.0 * 2.0 + 10.0, "took {secs:.1} s with --timeout 2: {err}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let (loaded, failed) = accounted(&rep, 30_000);
    let on_dead = rep["per_node"][dead.addr()]["failed"].as_u64().unwrap();
    assert_eq!(failed, on_dead, "only the dead master's keys failed: {rep}");
    assert_eq!(rep["not_sent"], 0, "{rep}");
    // about a third each: the live masters took theirs
    assert!(loaded > 15_000 && failed > 5_000, "{rep}");
    let live: i64 =
        [0, 2].iter().map(|&i| cl.nodes[i].conn().cmd(&["DBSIZE"]).unwrap().int().unwrap()).sum();
    assert_eq!(live as u64, loaded, "{rep}");
}
