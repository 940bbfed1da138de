//! Real servers for the tests: started on loopback ports the test picks, stopped on drop.
//!
//! Servers come from `$RDB_SERVERS/bin/NAME-server` (default `/opt/rdb-servers`), installed
//! by `scripts/install-servers.sh`. A missing server fails the test unless
//! `RDBSHIFT_ALLOW_MISSING_SERVERS=1` is set (then the test says so and skips that version).
#![allow(dead_code)]

pub mod cluster;
pub mod checksum;
pub mod compare;
pub mod datagen;
pub mod proc;
pub mod rdbfile;
pub mod resp;
pub mod servercmp;
pub mod version;
pub mod workload;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::resp::Reply;
use crate::common::resp::Conn;

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

/// A free loopback port (the listener is dropped right away; servers bind it next).
pub fn free_port() -> u16 {
    loop {
        let p = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // keep room for the cluster bus port (P + 100) below 65536
        if p < 60000 && TcpListener::bind(("127.0.0.1", p + 100)).is_ok() {
            return p;
        }
    }
}

pub struct Server {
    pub name: String,
    pub port: u16,
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
            let base =
                std::env::temp_dir().join(format!("rdbshift-test-{}-{}-{}", tag, std::process::id(), super::unique()));
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
        Self::start(name, rdb, extra).map(|r| r.unwrap_or_else(|log| panic!("{name} did not start; log:\n{log}")))
    }

    /// Starts `name`; `Err` carries the server log when it exits or does not answer.
    pub fn start(name: &str, rdb: Option<&Path>, extra: &[&str]) -> Option<Result<Server, String>> {
        let bin = server_bin(name)?;
        let dir = tempdir::Dir::new(name);
        if let Some(r) = rdb {
            std::fs::copy(r, dir.path().join("dump.rdb")).unwrap();
        }
        let port = free_port();
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
            dir.path().join("log").display().to_string(),
            "--daemonize".into(),
            "no".into(),
            "--protected-mode".into(),
            "no".into(),
        ];
        if has_debug_flag(name) {
            args.extend(["--enable-debug-command".into(), "yes".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        if extra.contains(&"--cluster-enabled") && has_debug_flag(name) {
            // the default bus port (P + 10000) may be taken; free_port kept P + 100 free
            args.extend(["--cluster-port".into(), (port + 100).to_string()]);
        }
        let child = Command::new(&bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut s = Server { name: name.into(), port, dir, child, bin, args };
        Some(s.wait_ready().map(|_| s))
    }

    /// Kills the server (SIGKILL, no shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again with the same configuration and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Command::new(&self.bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.wait_ready().unwrap_or_else(|log| panic!("{} did not restart:\n{log}", self.name));
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

    fn wait_ready(&mut self) -> Result<(), String> {
        let t = Instant::now();
        loop {
            if let Ok(mut c) = Conn::connect(&self.addr(), Duration::from_secs(5)) {
                match c.cmd(&["PING"]) {
                    Ok(Reply::Status(s)) if s == b"PONG" => return Ok(()),
                    // up, and wants a password
                    Ok(Reply::Error(e)) if e.starts_with(b"NOAUTH") => return Ok(()),
                    _ => {}
                }
            }
            let exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if exited || t.elapsed() > Duration::from_secs(60) {
                return Err(self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
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
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let num = |tag: &str| -> u64 {
        let i = text.find(tag).unwrap_or_else(|| panic!("redis-cli --pipe said: {text}"));
        text[i + tag.len()..].trim_start().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    (num("errors:"), num("replies:"), text)
}

/// The numbers of `load`'s accounting line: (keys, loaded, failed, skipped, filtered out,
/// expired, done by an earlier run, not sent).
#[allow(dead_code)]
pub fn accounting(err: &str) -> Vec<u64> {
    let line = err.lines().find(|l| l.contains("keys in the dumps:")).unwrap_or_else(|| panic!("no summary: {err}"));
    line.split(|c: char| !c.is_ascii_digit()).filter(|w| !w.is_empty()).map(|w| w.parse().unwrap()).collect()
}
