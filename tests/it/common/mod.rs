//! Real servers for the tests: started on loopback ports the test picks, stopped on drop.
//!
//! Servers come from `$RDB_SERVERS/bin/NAME-server` (default `/opt/rdb-servers`), installed
//! by `scripts/install-servers.sh`. A missing server fails the test unless
//! `RDBSHIFT_ALLOW_MISSING_SERVERS=1` is set; then the test skips that version, and the skip
//! is printed and recorded in `$RDBSHIFT_SKIP_LOG` ([`skip`]). Every process runs under a
//! time limit ([`proc`]); a server start survives its port being taken first. See TESTING.md.
#![allow(dead_code)]

pub mod checksum;
pub mod cluster;
pub mod compare;
pub mod datagen;
pub mod fake;
pub mod proc;
pub mod rdbfile;
pub mod readback;
pub mod resp;
pub mod servercmp;
pub mod version;
pub mod workload;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use resp::Conn;

/// Every server of the matrix `scripts/install-servers.sh` installs.
pub const SERVERS: [&str; 10] = [
    "redis-5.0",
    "redis-6.0",
    "redis-6.2",
    "redis-7.0",
    "redis-8.0",
    "redis-8.6",
    "redis-stack-7.4",
    "valkey-8.0",
    "valkey-8.1",
    "valkey-9.1",
];

pub fn servers_root() -> PathBuf {
    PathBuf::from(std::env::var("RDB_SERVERS").unwrap_or_else(|_| "/opt/rdb-servers".into()))
}

pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/corpus")
}

/// The binary of server `name`; `None` (recorded by [`missing`]) only when it is missing and
/// `RDBSHIFT_ALLOW_MISSING_SERVERS=1`; a missing server fails the test otherwise.
pub fn server_bin(name: &str) -> Option<PathBuf> {
    let p = servers_root().join("bin").join(format!("{name}-server"));
    if p.exists() {
        return Some(p);
    }
    missing(name, &format!("not installed at {}; run scripts/install-servers.sh", p.display()));
    None
}

/// Whether missing servers and tools may skip what needs them (`RDBSHIFT_ALLOW_MISSING_SERVERS=1`).
pub fn allow_missing() -> bool {
    std::env::var("RDBSHIFT_ALLOW_MISSING_SERVERS").as_deref() == Ok("1")
}

/// The file every skip is recorded in: `$RDBSHIFT_SKIP_LOG`, else one under the target dir.
pub fn skip_log() -> PathBuf {
    std::env::var_os("RDBSHIFT_SKIP_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("rdbshift-skips.log"))
}

/// A server or tool `what` is missing: fails the test unless missing ones are allowed, and
/// then records the skip (see [`skip`]). The caller skips what needs it.
pub fn missing(what: &str, why: &str) {
    if !allow_missing() {
        panic!("{what} is missing ({why}); set RDBSHIFT_ALLOW_MISSING_SERVERS=1 to skip instead");
    }
    skip(what, why);
}

/// Records that the running test skipped what needs `what`: a `SKIP:` line on stderr and a
/// line `test<TAB>what<TAB>why` appended to [`skip_log`] (which `scripts/test.sh` counts).
/// The test is named by its thread (libtest names each test's thread after it).
pub fn skip(what: &str, why: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("?").to_string();
    eprintln!("SKIP: {test}: {what} ({why})");
    let line = format!("{test}\t{what}\t{why}\n");
    let log = skip_log();
    if let Some(d) = log.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    // one write of one short line with O_APPEND: lines of parallel tests do not mix
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap_or_else(|e| panic!("skip log {}: {e}", log.display()));
    f.write_all(line.as_bytes()).unwrap();
}

/// A loopback port free right now (the listener is dropped at once, so another process may
/// take it before the server binds it: [`Server::start`] retries on that race).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port for a server: free, and when `bus` is given, `port + bus` free too (a cluster
/// node's bus port) and below 65536.
pub fn free_port_with_bus(bus: Option<u16>) -> u16 {
    if let Some(p) = FORCED_PORTS.with(|f| f.borrow_mut().pop()) {
        return p;
    }
    let t = Instant::now();
    loop {
        assert!(t.elapsed() < Duration::from_secs(30), "no free loopback port pair in 30 s");
        let p = free_port();
        match bus {
            None => return p,
            Some(off) if p < 65535 - off && TcpListener::bind(("127.0.0.1", p + off)).is_ok() => {
                return p;
            }
            Some(_) => {}
        }
    }
}

thread_local! {
    /// Ports the next server starts of this thread take first, unchecked (last first): for
    /// the test of the retry on a port taken before the server binds it.
    pub static FORCED_PORTS: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// In a server's extra arguments, stands for one more free port, picked per start attempt
/// (see [`Server::extra_port`]).
pub const FREE_PORT: &str = "{free-port}";

/// How many times a server start is tried when its port was taken before it bound it.
const START_TRIES: usize = 6;

pub struct Server {
    pub name: String,
    pub port: u16,
    /// The port that stood for [`FREE_PORT`] in the extra arguments, if one did.
    pub extra_port: Option<u16>,
    pub dir: tempdir::Dir,
    child: Child,
    bin: PathBuf,
    args: Vec<String>,
}

pub mod tempdir {
    use std::path::{Path, PathBuf};
    /// A temporary directory removed on drop.
    pub struct Dir(PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let base = std::env::temp_dir().join(format!(
                "rdbshift-test-{}-{}-{}",
                tag,
                std::process::id(),
                super::unique()
            ));
            std::fs::create_dir_all(&base).unwrap();
            Dir(base)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Whether a server version takes `--enable-debug-command` (7.0 and later).
fn has_debug_flag(name: &str) -> bool {
    !(name.starts_with("redis-5") || name.starts_with("redis-6"))
}

impl Server {
    /// Starts `name` with an empty data set, or loading `rdb` when given.
    /// Starts `name` (panics if it does not come up).
    pub fn start_ok(name: &str, rdb: Option<&Path>, extra: &[&str]) -> Option<Server> {
        Self::start(name, rdb, extra)
            .map(|r| r.unwrap_or_else(|log| panic!("{name} did not start; log:\n{log}")))
    }

    /// Starts `name`; `Err` carries the server log when it exits or does not answer. A
    /// start whose port (or cluster bus port, or [`FREE_PORT`]) was taken by someone else
    /// first is tried again on new ports.
    pub fn start(name: &str, rdb: Option<&Path>, extra: &[&str]) -> Option<Result<Server, String>> {
        let bin = server_bin(name)?;
        let dir = tempdir::Dir::new(name);
        if let Some(r) = rdb {
            std::fs::copy(r, dir.path().join("dump.rdb")).unwrap();
        }
        let cluster = extra.contains(&"--cluster-enabled");
        // 7.0+ take the bus port (P + 100 here); older ones use P + 10000
        let bus = cluster.then_some(if has_debug_flag(name) { 100 } else { 10000 });
        let log = dir.path().join("log");
        let mut last = String::new();
        for attempt in 1..=START_TRIES {
            let port = free_port_with_bus(bus);
            let extra_port = extra.contains(&FREE_PORT).then(|| free_port_with_bus(None));
            let mut args: Vec<String> = vec![
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--save".into(),
                "".into(),
                "--appendonly".into(),
                "no".into(),
                "--dir".into(),
                dir.path().display().to_string(),
                "--dbfilename".into(),
                "dump.rdb".into(),
                "--logfile".into(),
                log.display().to_string(),
                "--daemonize".into(),
                "no".into(),
                "--protected-mode".into(),
                "no".into(),
            ];
            if has_debug_flag(name) {
                args.extend(["--enable-debug-command".into(), "yes".into()]);
            }
            for a in extra {
                args.push(if *a == FREE_PORT {
                    extra_port.unwrap().to_string()
                } else {
                    a.to_string()
                });
            }
            if let Some(off) = bus.filter(|_| has_debug_flag(name)) {
                args.extend(["--cluster-port".into(), (port + off).to_string()]);
            }
            let _ = std::fs::remove_file(&log);
            let mut child = spawn_server(&bin, &args);
            match wait_ready(&mut child, port, &log) {
                Ok(()) => {
                    return Some(Ok(Server {
                        name: name.into(),
                        port,
                        extra_port,
                        dir,
                        child,
                        bin,
                        args,
                    }));
                }
                Err(text) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    if !bind_race(&text) {
                        return Some(Err(text));
                    }
                    eprintln!(
                        "{name}: a port was taken before the server bound it (try {attempt}); again"
                    );
                    // a cluster node may have written its config with the old port
                    if let Some(i) = args.iter().position(|a| a == "--cluster-config-file") {
                        let _ = std::fs::remove_file(dir.path().join(&args[i + 1]));
                    }
                    last = text;
                }
            }
        }
        Some(Err(format!("{name}: no start in {START_TRIES} tries; last log:\n{last}")))
    }

    /// Kills the server (SIGKILL, no shutdown).
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill_group(self.child.id());
        }
        let _ = self.child.wait();
    }

    /// Starts it again with the same configuration, directory and port.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn_server(&self.bin, &self.args);
        let log = self.dir.path().join("log");
        wait_ready(&mut self.child, self.port, &log).unwrap_or_else(|log| {
            panic!("{} did not restart on port {}:\n{log}", self.name, self.port)
        });
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    /// The server's process id (for signals).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn conn(&self) -> Conn {
        Conn::connect(&self.addr(), Duration::from_secs(60)).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

/// Starts a server binary in a process group of its own (so a kill reaches all of it).
fn spawn_server(bin: &Path, args: &[String]) -> Child {
    use std::os::unix::process::CommandExt;
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

/// Whether a server's log says a port it wanted was taken.
fn bind_race(log: &str) -> bool {
    log.contains("Address already in use")
}

/// Waits (at most 60 s) until the server in `child` says in its own log that it accepts
/// connections and answers PING on `port` (PONG, or NOAUTH when it wants a password);
/// `Err` with the log when it exits or does not get there. The log is the server's own, so
/// a server of another test that took the port cannot pass for this one.
fn wait_ready(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let t = Instant::now();
    let read_log = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return Err(read_log());
        }
        if t.elapsed() > Duration::from_secs(60) {
            return Err(format!("{}\n(not ready after 60 s)", read_log()));
        }
        if read_log().to_ascii_lowercase().contains("ready to accept connections")
            && let Ok(mut c) =
                resp::Conn::connect(&format!("127.0.0.1:{port}"), Duration::from_secs(5))
        {
            match c.cmd(&["PING"]) {
                Ok(resp::Reply::Status(s)) if s == b"PONG" => return Ok(()),
                Ok(resp::Reply::Error(e)) if e.starts_with(b"NOAUTH") => return Ok(()),
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill_group(self.child.id());
        }
        let _ = self.child.wait();
    }
}

/// Runs the rdbshift binary (stdin empty) under the default time limit; returns (exit
/// code, stdout, stderr). A run past the limit is killed and fails the test.
pub fn rdbshift(args: &[&str]) -> (i32, Vec<u8>, String) {
    rdbshift_timeout(args, proc::DEFAULT_TIMEOUT)
}

/// [`rdbshift`] with a time limit of the caller's.
pub fn rdbshift_timeout(args: &[&str], timeout: Duration) -> (i32, Vec<u8>, String) {
    let mut c = proc::bin();
    c.args(args);
    let out = proc::run_with(c, None, timeout);
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The server that loads `f`: the one that wrote it, else the newest Redis.
pub fn server_for(f: &Path) -> &'static str {
    let name = f.file_name().unwrap().to_str().unwrap();
    let name = name.strip_suffix(".rdb").unwrap_or(name);
    for s in SERVERS {
        if name == s || name.starts_with(&format!("{s}-")) {
            return s;
        }
    }
    "redis-8.6"
}

/// Files a server cannot load for reasons outside the file: a module the server does not have.
pub const NEEDS_A_MODULE: &[&str] = &["redis_40_with_module.rdb", "redis_60_with_module_aux.rdb"];

pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(dir);
    v.sort();
    v
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rdb") {
            out.push(p);
        }
    }
    out
}

/// `redis-cli --pipe < file` into `s`; returns (errors, replies) as redis-cli counts them.
pub fn pipe(s: &Server, file: &Path) -> (u64, u64, String) {
    let mut c = Command::new("redis-cli");
    c.args(["-h", "127.0.0.1", "-p", &s.port.to_string(), "--pipe"])
        .stdin(Stdio::from(std::fs::File::open(file).unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = proc::spawn(&mut c, proc::DEFAULT_TIMEOUT).output();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let num = |tag: &str| -> u64 {
        let i = text.find(tag).unwrap_or_else(|| panic!("redis-cli --pipe said: {text}"));
        text[i + tag.len()..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (num("errors:"), num("replies:"), text)
}

/// The numbers of `load`'s accounting line: (keys, loaded, failed, skipped, filtered out,
/// expired, done by an earlier run, not sent).
#[allow(dead_code)]
pub fn accounting(err: &str) -> Vec<u64> {
    let line = err
        .lines()
        .find(|l| l.contains("keys in the dumps:"))
        .unwrap_or_else(|| panic!("no summary: {err}"));
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect()
}

/// `GET /metrics` from `addr`: the body, or `None` while nothing listens.
pub fn scrape(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out.split_once("\r\n\r\n")?.1.to_string())
}

/// A sample's value in a page (`name` with its labels, as printed).
pub fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}
