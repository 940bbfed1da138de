//! No file is ever destroyed: against the real binary.
//!
//! - An existing `-o` keeps its bytes when an input cannot be read (missing, garbage, a cut
//!   `VKCS` envelope): nothing is opened for writing before every input is open and its
//!   header read.
//! - `-o`, `--report` and `--checkpoint` naming an input or each other (the same path, a
//!   symlink, a hard link) are refused before anything starts: no connection is made, and
//!   every file keeps its bytes.
//! - A stop ends a write blocked on a pipe nobody reads, and a load whose target never
//!   answers, within `--stop-grace` and a few seconds; two quick SIGTERMs leave no temporary
//!   file, and a temporary file of a run killed outright is removed by the next run.
//!
//! Every wait has a time limit; the only timed assertions are generous bounds ("ends within
//! 10 s").

use crate::common;
use crate::common::proc::Timed;

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::fake::{Listener, command, handshake_reply};
use common::rdbfile;
use common::tempdir::Dir;
use common::{Server, rdbshift};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/redis-7.0.rdb");

/// A dump of `n` string keys `key:I` with 100-byte values (RDB 9, correct checksum).
fn synthetic(dir: &Dir, n: usize) -> PathBuf {
    let mut recs = vec![0xfe, 0x00];
    let value = rdbfile::string(&[b'v'; 100]);
    for i in 0..n {
        recs.push(0);
        recs.extend(rdbfile::string(format!("key:{i}").as_bytes()));
        recs.extend_from_slice(&value);
    }
    let p = dir.path().join(format!("synthetic-{n}.rdb"));
    std::fs::write(&p, rdbfile::file(9, &recs)).unwrap();
    p
}

/// `rdb` inside a Valkey 9.2 `VKCS` envelope (LZ4 frame).
fn envelope(rdb: &[u8]) -> Vec<u8> {
    let mut e = lz4_flex::frame::FrameEncoder::new(b"VKCS\x01\x01\x00\x00".to_vec());
    e.write_all(rdb).unwrap();
    e.finish().unwrap()
}

/// The names in `dir` (sorted).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The temporary files of rdbshift outputs in `dir`.
fn temps(dir: &Path) -> Vec<String> {
    names(dir).into_iter().filter(|n| n.contains(".rdbshift-") && n.ends_with(".tmp")).collect()
}

/// Waits for `child` at most `limit`; kills it and fails past that.
fn wait_for(child: &mut Child, limit: Duration, what: &str) -> (ExitStatus, Duration) {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st, start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads a child's stderr to the end on a thread (so it never blocks the child).
fn drain(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut e = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = e.read_to_string(&mut s);
        s
    })
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: signals a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn an_existing_output_keeps_its_bytes_when_an_input_cannot_be_read() {
    let dir = Dir::new("kept");
    let good = dir.path().join("good.rdb");
    std::fs::copy(FIXTURE, &good).unwrap();
    let garbage = dir.path().join("garbage.rdb");
    std::fs::write(&garbage, b"this is not an RDB file at all, just text\n").unwrap();
    let cut = dir.path().join("cut.rdb");
    let env = envelope(&std::fs::read(FIXTURE).unwrap());
    std::fs::write(&cut, &env[..env.len() - 7]).unwrap();
    let missing = dir.path().join("missing.rdb");
    let old = dir.path().join("OLD");
    let before = b"the bytes of an earlier run\n";
    let cases: [(&[&Path], &str); 5] = [
        (&[&missing], "No such file or directory"),
        (&[&garbage], "not an RDB file"),
        (&[&cut], "at compressed byte offset"),
        (&[&good, &missing], "No such file or directory"),
        (&[&good, &cut], "at compressed byte offset"),
    ];
    for cmd in ["convert", "inspect"] {
        for (inputs, why) in cases {
            std::fs::write(&old, before).unwrap();
            let mut args = vec![cmd];
            args.extend(inputs.iter().map(|p| s(p)));
            args.extend(["-o", s(&old)]);
            let (code, _, err) = rdbshift(&args);
            assert_eq!(code, 1, "{args:?}: {err}");
            assert!(err.contains(why), "{args:?}: wanted {why:?} in: {err}");
            assert!(
                err.contains("nothing was written; ") && err.contains("OLD is unchanged"),
                "{args:?}: {err}"
            );
            assert_eq!(
                std::fs::read(&old).unwrap(),
                before,
                "{args:?} changed the existing output"
            );
            assert!(temps(dir.path()).is_empty(), "{args:?} left {:?}", temps(dir.path()));
        }
        // the control: a readable input does replace it (what the cases above would have done)
        let (code, _, err) = rdbshift(&[cmd, s(&good), "-o", s(&old)]);
        assert_eq!(code, 0, "{cmd}: {err}");
        let now = std::fs::read(&old).unwrap();
        assert!(now != before && now.len() > 100, "{cmd} wrote its output");
    }
    // an enveloped input that is whole converts (the cut is what was refused)
    std::fs::write(&cut, &env).unwrap();
    let (code, _, err) = rdbshift(&["convert", s(&cut), "-o", s(&old)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(dir.path()), ["OLD", "cut.rdb", "garbage.rdb", "good.rdb"]);
}

/// A TCP listener that must never be connected to: a run refused "before anything starts"
/// does not even connect.
struct Untouched(TcpListener);

impl Untouched {
    fn new() -> Untouched {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Untouched(l)
    }
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.0.local_addr().unwrap().port())
    }
    fn connected(&self) -> bool {
        self.0.accept().is_ok()
    }
}

#[test]
fn roles_naming_one_file_are_refused_before_anything_starts() {
    let dir = Dir::new("roles");
    let p = |n: &str| dir.path().join(n);
    let ps = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::copy(FIXTURE, p("d.rdb")).unwrap();
    std::os::unix::fs::symlink(p("d.rdb"), p("d-link")).unwrap();
    std::fs::hard_link(p("d.rdb"), p("d-hard")).unwrap();
    let dump = std::fs::read(p("d.rdb")).unwrap();
    // a checkpoint of an earlier run, with its own links
    let ck_text = "rdbshift-checkpoint\t2\n";
    std::fs::write(p("ck"), ck_text).unwrap();
    std::os::unix::fs::symlink(p("ck"), p("ck-link")).unwrap();
    std::fs::hard_link(p("ck"), p("ck-hard")).unwrap();
    let target = Untouched::new();
    let url = target.url();
    let d = ps("d.rdb");
    let kept = |what: &str| {
        assert_eq!(std::fs::read(p("d.rdb")).unwrap(), dump, "{what}: the dump changed");
        assert_eq!(
            std::fs::read_to_string(p("ck")).unwrap(),
            ck_text,
            "{what}: the checkpoint changed"
        );
        assert!(!p("r.json").exists() && !p("ck.lock").exists(), "{what}: something was created");
        assert!(temps(dir.path()).is_empty(), "{what}: left {:?}", temps(dir.path()));
    };
    // (arguments, the role named first, the role named second, how)
    let mut cases: Vec<(Vec<String>, &str, &str)> = Vec::new();
    for (name, how) in
        [("d.rdb", ""), ("d-link", "(through a symbolic link)"), ("d-hard", "(a hard link to it)")]
    {
        let o = ps(name);
        for cmd in ["convert", "inspect"] {
            cases.push((vec![cmd.into(), d.clone(), "-o".into(), o.clone()], "-o", how));
        }
        cases.push((vec!["load".into(), d.clone(), "--report".into(), o.clone()], "--report", how));
        cases.push((
            vec!["load".into(), d.clone(), "--checkpoint".into(), o.clone()],
            "--checkpoint",
            how,
        ));
    }
    for (args, first, how) in &cases {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        if args[0] == "load" {
            args.extend(["--target", &url]);
        }
        let (code, _, err) = rdbshift(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        let want = format!("names the same file as the input {d}");
        assert!(
            err.contains(&format!("rdbshift: {first} ")) && err.contains(&want),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(how) && err.contains("refusing to overwrite it"),
            "{args:?}: wanted {how:?}: {err}"
        );
        kept(&format!("{args:?}"));
    }
    // --report naming the checkpoint, its symlink, a hard link to it, or its lock file
    for (name, how) in [
        ("ck", ""),
        ("ck-link", "(through a symbolic link)"),
        ("ck-hard", "(a hard link to it)"),
        ("ck.lock", ""),
    ] {
        let r = ps(name);
        let ck = ps("ck");
        let args = ["load", &d, "--target", &url, "--checkpoint", &ck, "--report", &r];
        let (code, _, err) = rdbshift(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        let other =
            if name == "ck.lock" { "the lock file of --checkpoint" } else { "--checkpoint" };
        assert!(
            err.contains(&format!("--report {r} names the same file as {other} ")),
            "{args:?}: {err}"
        );
        assert!(err.contains(how), "{args:?}: wanted {how:?}: {err}");
        kept(&format!("{args:?}"));
    }
    // two names for a file that does not exist yet
    let (ck, r) = (ps("r.json"), ps("sub/../r.json"));
    let args = ["load", &d, "--target", &url, "--checkpoint", &ck, "--report", &r];
    std::fs::create_dir(p("sub")).unwrap();
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--report") && err.contains("names the same file as --checkpoint"),
        "{err}"
    );
    kept("a new file under two names");
    assert!(!target.connected(), "a refused load connected to the target");

    // the control: distinct files, the same commands run (against a real server)
    let Some(srv) = Server::start_ok("redis-7.0", None, &[]) else { return };
    let (ck, r, url) = (ps("ck"), ps("r.json"), srv.url());
    let args = ["load", &d, "--target", &url, "--checkpoint", &ck, "--report", &r];
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    let rep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("r.json")).unwrap()).unwrap();
    assert!(rep["loaded"].as_u64().unwrap() > 0, "{rep}");
    assert_eq!(std::fs::read(p("d.rdb")).unwrap(), dump);
    assert!(
        std::fs::read_to_string(p("ck")).unwrap().lines().count() > 1,
        "the checkpoint was written"
    );
    assert!(temps(dir.path()).is_empty(), "left {:?}", temps(dir.path()));
}

/// Bytes waiting in the pipe `fd` (FIONREAD).
fn queued(fd: i32) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD into a local int, on a pipe this test owns.
    assert_eq!(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) }, 0);
    n as usize
}

#[test]
fn sigterm_ends_a_write_blocked_on_a_pipe_nobody_reads() {
    let dir = Dir::new("pipe");
    // about 13 MB of output: far more than the pipe and the 1 MiB output buffer hold
    let f = synthetic(&dir, 100_000);
    for args in [&["convert", s(&f), "-o", "-"][..], &["inspect", s(&f)][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rdbshift"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_timed();
        let err = drain(&mut child);
        // held, never read: the pipe fills and the writer blocks
        let out = child.stdout.take().unwrap();
        // SAFETY: F_GETPIPE_SZ on our end of the pipe.
        let size = unsafe { libc::fcntl(out.as_raw_fd(), libc::F_GETPIPE_SZ) } as usize;
        let start = Instant::now();
        while queued(out.as_raw_fd()) < size {
            assert!(start.elapsed() < Duration::from_secs(30), "{args:?}: the pipe did not fill");
            assert!(child.try_wait().unwrap().is_none(), "{args:?} ended with its output unread");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(child.try_wait().unwrap().is_none(), "{args:?} ended with its output unread");
        signal(&child, libc::SIGTERM);
        let (st, took) =
            wait_for(&mut child, Duration::from_secs(10), &format!("{args:?} after SIGTERM"));
        let err = err.join().unwrap();
        assert_eq!(st.code(), Some(143), "{args:?}: {err}");
        assert!(err.contains("stopped by SIGTERM"), "{args:?}: {err}");
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?} after SIGTERM");
        assert_eq!(
            queued(out.as_raw_fd()),
            size,
            "{args:?}: the pipe was full when it was stopped"
        );
    }
    // `-o` a FIFO that no reader ever opens: the open itself waits, and a stop ends it
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: mkfifo on a path in our temporary directory.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbshift"))
        .args(["convert", s(&f), "-o", s(&fifo)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn_timed();
    let err = drain(&mut child);
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "convert -o FIFO ended with no reader");
    signal(&child, libc::SIGTERM);
    let (st, took) = wait_for(&mut child, Duration::from_secs(10), "convert -o FIFO after SIGTERM");
    let err = err.join().unwrap();
    assert_eq!(st.code(), Some(143), "{err}");
    assert!(took < Duration::from_secs(5), "convert -o FIFO took {took:?} after SIGTERM");
    assert_eq!(names(dir.path()), ["fifo", "synthetic-100000.rdb"]);
}

#[test]
fn two_quick_sigterms_leave_no_temporary_file() {
    let dir = Dir::new("twice");
    // about 115 MB, converted by one thread: a second or so of work
    let f = synthetic(&dir, 1_000_000);
    let work = Dir::new("twice-out");
    let out = work.path().join("out.resp");
    let old = b"an earlier conversion\n";
    let mut by_signal = 0;
    for delay_ms in [0u64, 10, 30, 60, 100, 150] {
        std::fs::write(&out, old).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rdbshift"))
            .args(["convert", s(&f), "-o", s(&out), "--threads", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn_timed();
        let err = drain(&mut child);
        let start = Instant::now();
        while temps(work.path()).is_empty() {
            assert!(start.elapsed() < Duration::from_secs(30), "no temporary file appeared");
            assert!(child.try_wait().unwrap().is_none(), "the conversion ended before it was seen");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            // finished first: nothing to test at this delay
            let _ = err.join();
            continue;
        }
        signal(&child, libc::SIGTERM);
        std::thread::sleep(Duration::from_millis(5));
        // (it may have ended after the first one already)
        // SAFETY: the child is not reaped yet, so its pid is still ours.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let (st, _) = wait_for(&mut child, Duration::from_secs(10), "convert after two SIGTERMs");
        let err = err.join().unwrap();
        assert_eq!(temps(work.path()), Vec::<String>::new(), "delay {delay_ms} ms: {st:?}");
        if st.success() {
            // it finished just before the signals: the new output is in place
            assert!(std::fs::read(&out).unwrap().starts_with(b"*"), "delay {delay_ms} ms: {err}");
            continue;
        }
        use std::os::unix::process::ExitStatusExt;
        assert!(
            st.code() == Some(143) || st.signal() == Some(libc::SIGTERM),
            "delay {delay_ms} ms: {st:?}: {err}"
        );
        by_signal += 1;
        assert_eq!(temps(work.path()), Vec::<String>::new(), "delay {delay_ms} ms: {st:?}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            old,
            "delay {delay_ms} ms: the old output was replaced"
        );
    }
    assert!(by_signal >= 3, "only {by_signal} runs were still converting when signalled");

    // a temporary file of a run killed outright (SIGKILL) goes with the next run; one of a
    // live process stays
    let mut gone = Command::new("true").spawn_timed();
    let dead = gone.id();
    gone.wait();
    let stale = work.path().join(format!(".out.resp.rdbshift-{dead}.tmp"));
    let live = work.path().join(format!(".out.resp.rdbshift-{}.tmp", std::process::id()));
    std::fs::write(&stale, b"half a command").unwrap();
    std::fs::write(&live, b"another run's output").unwrap();
    let (code, _, err) = rdbshift(&["convert", FIXTURE, "-o", s(&out)]);
    assert_eq!(code, 0, "{err}");
    assert!(!stale.exists(), "the stale temporary file is still there");
    assert!(live.exists(), "a live process's temporary file was removed");
    assert!(std::fs::read(&out).unwrap().starts_with(b"*"), "the conversion was written");
}

/// What the scripted target does after accepting a connection.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    /// Reads everything, answers nothing (not even PING).
    Silent,
    /// Answers the handshake (PING, AUTH, SELECT, INFO); then reads everything and answers
    /// nothing.
    Mute,
    /// Answers the handshake; then stops reading (the client's writes block).
    Deaf,
}

struct Fake {
    l: Listener,
    /// Bytes of data commands received (after the handshake).
    received: Arc<AtomicUsize>,
    /// Handshake commands received.
    handshakes: Arc<AtomicUsize>,
}

impl Fake {
    fn start(how: Target) -> Fake {
        let (received, handshakes): (Arc<AtomicUsize>, Arc<AtomicUsize>) = Default::default();
        let (r, h) = (Arc::clone(&received), Arc::clone(&handshakes));
        let l = Listener::start(move |c, stop| serve(c, how, &r, &h, stop));
        Fake { l, received, handshakes }
    }
    fn url(&self) -> String {
        self.l.url()
    }
}

fn serve(
    c: TcpStream,
    how: Target,
    received: &AtomicUsize,
    handshakes: &AtomicUsize,
    stop: &AtomicBool,
) {
    c.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::with_capacity(1 << 16, c);
    let mut buf = vec![0u8; 1 << 16];
    let mut data = how == Target::Silent;
    while !stop.load(Ordering::SeqCst) {
        if data {
            if how == Target::Deaf {
                // holds the connection open and reads nothing more
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            match r.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    received.fetch_add(n, Ordering::SeqCst);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
            continue;
        }
        let Some((args, size)) = command(&mut r) else { return };
        let Some(reply) = handshake_reply(&args) else {
            // the first data command: from now on, no answers
            received.fetch_add(size, Ordering::SeqCst);
            data = true;
            continue;
        };
        handshakes.fetch_add(1, Ordering::SeqCst);
        if w.write_all(&reply).is_err() {
            return;
        }
    }
}

#[test]
fn sigint_ends_a_load_whose_target_never_answers_within_the_grace() {
    let dir = Dir::new("grace");
    // about 23 MB of commands: more than the window and the socket buffers hold
    let f = synthetic(&dir, 200_000);
    for how in [Target::Silent, Target::Mute, Target::Deaf] {
        let fake = Fake::start(how);
        let report = dir.path().join(format!("report-{how:?}.json"));
        let ck = dir.path().join(format!("ck-{how:?}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_rdbshift"))
            .args(["load", s(&f), "--target", &fake.url(), "--stop-grace", "1", "--timeout", "60"])
            .args(["--report", s(&report), "--checkpoint", s(&ck)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn_timed();
        let err = drain(&mut child);
        // wait until it is stuck where a target that never answers leaves it
        let start = Instant::now();
        let stuck = || match how {
            Target::Silent => fake.received.load(Ordering::SeqCst) > 0,
            // into the window: a paced window starts at QUEUE unacknowledged bytes, sent in
            // writes of half of it
            Target::Mute => fake.received.load(Ordering::SeqCst) > rdbshift::net::pacing::QUEUE / 4,
            Target::Deaf => fake.received.load(Ordering::SeqCst) > 0,
        };
        while !stuck() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{how:?}: the load did not get going"
            );
            assert!(child.try_wait().unwrap().is_none(), "{how:?}: the load ended early");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(500));
        assert!(child.try_wait().unwrap().is_none(), "{how:?}: the load ended before the stop");
        signal(&child, libc::SIGINT);
        let (st, took) =
            wait_for(&mut child, Duration::from_secs(30), &format!("{how:?}: load after SIGINT"));
        let err = err.join().unwrap();
        assert_eq!(st.code(), Some(130), "{how:?}: {err}");
        assert!(err.contains("stopped by SIGINT"), "{how:?}: {err}");
        // --stop-grace 1, and the timeout 60 s: a few seconds at most
        assert!(
            took < Duration::from_secs(10),
            "{how:?}: took {took:?} after SIGINT with --stop-grace 1"
        );
        assert!(temps(dir.path()).is_empty(), "{how:?}: left {:?}", temps(dir.path()));
        if how == Target::Silent {
            // stopped in the handshake: nothing was sent, and no report
            assert_eq!(fake.handshakes.load(Ordering::SeqCst), 0);
            continue;
        }
        let rep: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let n = |k: &str| rep[k].as_u64().unwrap();
        assert_eq!(rep["stopped_by_signal"], true, "{how:?}: {rep}");
        assert_eq!((n("keys"), n("loaded"), n("failed")), (200_000, 0, 0), "{how:?}: {rep}");
        assert_eq!(n("not_sent"), 200_000, "{how:?}: nothing was acknowledged: {rep}");
        let ck_text = std::fs::read_to_string(&ck).unwrap();
        assert!(ck_text.starts_with("rdbshift-checkpoint\t3\n"), "{how:?}: {ck_text}");
    }
}
