//! Every process the tests start (the rdbshift binary, redis-cli, openssl, python ...) runs
//! under a time limit: it gets a process group of its own and a watchdog thread that kills
//! the whole group when the limit passes. A run that was killed so fails its test with the
//! full command line and the time it took, so a hang never hangs the suite.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The time limit of a run unless the caller gives one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The rdbshift binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rdbshift"))
}

/// The command line as a shell would take it (environment overrides first).
pub fn command_line(cmd: &Command) -> String {
    let q = |s: &std::ffi::OsStr| {
        let s = s.to_string_lossy();
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
        {
            s.into_owned()
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => parts.push(format!("{}={}", k.to_string_lossy(), q(v))),
            None => parts.push(format!("-u {}", k.to_string_lossy())),
        }
    }
    parts.push(q(cmd.get_program()));
    parts.extend(cmd.get_args().map(q));
    parts.join(" ")
}

/// The shared state of a child and its watchdog: (reaped, killed by the watchdog).
type Flags = Arc<(Mutex<(bool, bool)>, Condvar)>;

/// A started process with a deadline. Derefs to the [`Child`] (pipes, `id()`); waiting
/// goes through [`Running::wait`] / [`Running::output`], which fail on a timeout. Dropped
/// unfinished, it kills its process group.
pub struct Running {
    pub child: Child,
    pub line: String,
    start: Instant,
    timeout: Duration,
    flags: Flags,
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}
impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

fn kill_group(pid: u32) {
    // the child leads its own group: -pid names the group
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Starts `cmd` in a process group of its own with a watchdog that kills the group after
/// `timeout`. The caller sets up stdio beforehand.
pub fn spawn(cmd: &mut Command, timeout: Duration) -> Running {
    let line = command_line(cmd);
    cmd.process_group(0);
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {line}: {e}"));
    let flags: Flags = Arc::new((Mutex::new((false, false)), Condvar::new()));
    let (pid, f, start) = (child.id(), flags.clone(), Instant::now());
    std::thread::spawn(move || {
        let (lock, cv) = &*f;
        let mut st = lock.lock().unwrap();
        while !st.0 {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                st.1 = true;
                kill_group(pid);
                return;
            }
            st = cv.wait_timeout(st, left).unwrap().0;
        }
    });
    Running { child, line, start, timeout, flags }
}

impl Running {
    fn reaped(&self) -> bool {
        let (lock, cv) = &*self.flags;
        let mut st = lock.lock().unwrap();
        st.0 = true;
        cv.notify_all();
        st.1
    }

    fn timed_out(&self) -> String {
        format!(
            "TIMEOUT: killed after {:.1?} (limit {:?}): {}",
            self.start.elapsed(),
            self.timeout,
            self.line
        )
    }

    /// Waits for the exit; `Err` (with the command line) when the watchdog killed it.
    pub fn try_finish(&mut self) -> Result<ExitStatus, String> {
        let st = self.child.wait().unwrap_or_else(|e| panic!("wait for {}: {e}", self.line));
        if self.reaped() { Err(self.timed_out()) } else { Ok(st) }
    }

    /// Waits for the exit; panics when the watchdog killed it.
    pub fn wait(&mut self) -> ExitStatus {
        self.try_finish().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads the piped stdout and stderr to their ends and waits; `Err` on a timeout.
    pub fn try_output(mut self) -> Result<Output, String> {
        let out = self.child.stdout.take().map(drain);
        let err = self.child.stderr.take().map(drain);
        let status = self.try_finish();
        let stdout = out.map(|t| t.join().unwrap()).unwrap_or_default();
        let stderr = err.map(|t| t.join().unwrap()).unwrap_or_default();
        status.map(|status| Output { status, stdout, stderr })
    }

    /// Reads the piped stdout and stderr to their ends and waits; panics on a timeout.
    pub fn output(self) -> Output {
        self.try_output().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

fn drain<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill_group(self.child.id());
            let _ = self.child.wait();
        }
        if self.reaped() && !std::thread::panicking() {
            eprintln!("{}", self.timed_out());
        }
    }
}

/// Runs `cmd` to its end with stdout and stderr captured (and `input` on stdin, else
/// stdin empty); panics with the command line on a timeout.
pub fn run_with(mut cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Output {
    try_run_with(&mut cmd, input, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// As [`run_with`] with `Err` on a timeout.
pub fn try_run_with(
    c: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output, String> {
    c.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut r = spawn(c, timeout);
    if let Some(data) = input {
        let mut w = r.child.stdin.take().unwrap();
        let data = data.to_vec();
        // feed from a thread: a child that does not read must not block the test
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    r.try_output()
}

/// Runs `cmd` with the default time limit (stdout and stderr captured, stdin empty).
pub fn run(cmd: Command) -> Output {
    run_with(cmd, None, DEFAULT_TIMEOUT)
}

/// `Command` methods that run under a time limit, in place of `spawn`, `output`, `status`.
pub trait Timed {
    /// `spawn` with the default time limit.
    fn spawn_timed(&mut self) -> Running;
    /// `spawn` with a limit of the caller's.
    fn spawn_within(&mut self, timeout: Duration) -> Running;
    /// `output` (stdout and stderr captured; stdin as set, else inherited) with the default limit.
    fn output_timed(&mut self) -> Output;
    /// `status` with the default time limit.
    fn status_timed(&mut self) -> ExitStatus;
}

impl Timed for Command {
    fn spawn_timed(&mut self) -> Running {
        spawn(self, DEFAULT_TIMEOUT)
    }
    fn spawn_within(&mut self, timeout: Duration) -> Running {
        spawn(self, timeout)
    }
    fn output_timed(&mut self) -> Output {
        self.stdout(Stdio::piped()).stderr(Stdio::piped());
        spawn(self, DEFAULT_TIMEOUT).output()
    }
    fn status_timed(&mut self) -> ExitStatus {
        spawn(self, DEFAULT_TIMEOUT).wait()
    }
}

/// Whether `tool` is an executable file in one of `$PATH`'s directories.
pub fn installed(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| {
        std::fs::metadata(d.join(tool))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Runs the binary to its end (killed after `timeout`); returns its exit code, its stderr
/// and the largest value of `field` in its `/proc/PID/status` (in KiB), read every 10 ms
/// while it runs: `VmHWM` (the resident high-water mark, file pages counted; it only grows,
/// so the last read misses at most the last 10 ms) or `RssAnon` (anonymous memory now:
/// the largest reading is a floor of the peak).
pub fn peak(args: &[&str], timeout: Duration, field: &str) -> (Option<i32>, String, i64) {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let mut peak = 0i64;
    let key = format!("{field}:");
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("TIMEOUT after {timeout:?}: rdbshift {}", args.join(" "));
        }
        let kib = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            let l = s.lines().find(|l| l.starts_with(&key))?.to_string();
            l.split_whitespace().nth(1)?.parse::<i64>().ok()
        });
        peak = peak.max(kib.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(10));
    };
    (status.code(), reader.join().unwrap(), peak)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_past_its_limit_is_killed_with_its_group_and_named() {
        let dir = crate::common::tempdir::Dir::new("proc");
        let pidfile = dir.path().join("pid");
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!("sleep 300 & echo $! > {}; wait", pidfile.display()));
        let err = try_run_with(&mut c, None, Duration::from_secs(1)).unwrap_err();
        assert!(err.starts_with("TIMEOUT: killed after"), "{err}");
        assert!(err.contains("sh -c 'sleep 300 &"), "the command line is named: {err}");
        // the background sleep was in the group: gone, or a zombie about to be reaped
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_string();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "the group's sleep {pid} lives on: {stat}"
        );
        // and run_with panics with the same message
        let mut c = Command::new("sleep");
        c.arg("300");
        let c = std::panic::AssertUnwindSafe(c);
        let p =
            std::panic::catch_unwind(move || run_with({ c }.0, None, Duration::from_millis(300)))
                .unwrap_err();
        let msg = p.downcast_ref::<String>().unwrap();
        assert!(msg.contains("TIMEOUT") && msg.contains("sleep 300"), "{msg}");
    }

    #[test]
    fn a_run_in_time_gives_its_output() {
        let mut c = Command::new("sh");
        c.arg("-c").arg("cat; echo err >&2; exit 3");
        let o = try_run_with(&mut c, Some(b"input"), DEFAULT_TIMEOUT).unwrap();
        assert_eq!(
            (o.status.code(), &o.stdout[..], &o.stderr[..]),
            (Some(3), &b"input"[..], &b"err\n"[..])
        );
    }
}
