//! A stop asked for by the user: SIGINT or SIGTERM.
//!
//! [`install`] makes the first signal set a flag instead of ending the process, so that the
//! work in progress ends cleanly: a conversion removes its unfinished output, a load stops
//! sending, waits a bounded time for acknowledgements, and writes its checkpoint and report.
//! A second signal ends the process at once (the default action), after unlinking the
//! temporary files registered with [`TempName`]: a half-written output never outlives it.
//!
//! A write blocked on a full pipe (`convert -o -` into a reader that went away) or on a
//! socket a server stopped reading would not notice the flag: the stop signals keep
//! `SA_RESTART` (another thread's `flock` or `read` must not fail for them), and the signal
//! may be delivered to any thread anyway. So a thread about to block in such a write holds a
//! [`Waking`] guard, and once a stop is asked for, a watcher thread sends each of these
//! threads `SIGURG` every [`WAKE_EVERY`]. Its handler does nothing and is installed without
//! `SA_RESTART`, so the blocked call returns `EINTR`; [`write_all`] and [`Interruptible`]
//! then give up once the grace after the stop ([`set_grace`]; none unless a command sets
//! one) is over, instead of retrying as `Write::write_all` does.

use std::ffi::CString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};
use std::time::Duration;

static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// `CLOCK_MONOTONIC` in ns when the stop was asked for (0: not yet).
static STOPPED_AT: AtomicU64 = AtomicU64::new(0);
/// How long a write blocked at the stop may still go on, in ms.
static GRACE_MS: AtomicU64 = AtomicU64::new(0);
/// The write end of the pipe that wakes the watcher (-1: not installed).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// How often the watcher interrupts the [`Waking`] threads after a stop.
pub const WAKE_EVERY: Duration = Duration::from_millis(50);

/// Slots of the two tables below; a guard that finds none free simply does not register.
const SLOTS: usize = 64;
/// Thread ids (`gettid`) of the threads holding a [`Waking`] guard (0: free).
static WAKING: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
/// Paths (NUL-terminated, never freed) of the temporary files a second signal unlinks.
static TEMPS: [AtomicPtr<libc::c_char>; SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

/// Handles SIGINT and SIGTERM from now on (see the module doc). A signal the process was
/// started with ignored (a background job of a script ignores SIGINT) stays ignored.
pub fn install() {
    let mut any = false;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: reads the current disposition, then installs a handler that only touches
        // atomics and calls async-signal-safe functions.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
            {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
        any = true;
    }
    if !any || WAKE_FD.load(Ordering::Acquire) >= 0 {
        return;
    }
    // SAFETY: a no-op handler, without SA_RESTART: a blocked call it interrupts returns EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_wake as *const () as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGURG, &sa, std::ptr::null_mut());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: a plain pipe2 into a local array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    let spawned =
        std::thread::Builder::new().name("stop watcher".into()).spawn(move || watch(fds[0]));
    if spawned.is_ok() {
        WAKE_FD.store(fds[1], Ordering::Release);
    }
}

/// The watcher: sleeps until a stop is asked for, then interrupts the [`Waking`] threads
/// every [`WAKE_EVERY`] until the process ends.
fn watch(fd: libc::c_int) {
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reads one byte into a local buffer.
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        if n == 1 || requested().is_some() {
            break;
        }
        if n == 0 {
            return;
        }
    }
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    loop {
        for w in &WAKING {
            let tid = w.load(Ordering::Acquire);
            if tid != 0 {
                // tgkill, not pthread_kill: a thread that has just ended is no undefined
                // behaviour, and a reused id is a thread of this process that ignores SIGURG
                // SAFETY: sends a signal whose handler does nothing.
                unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGURG) };
            }
        }
        std::thread::sleep(WAKE_EVERY);
    }
}

extern "C" fn on_wake(_sig: libc::c_int) {}

/// `CLOCK_MONOTONIC` in ns (async-signal-safe).
fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime into a local struct; async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64).max(1)
}

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: errno is thread-local; the handler keeps the interrupted code's value.
    let errno = unsafe { *libc::__errno_location() };
    if SIGNAL.compare_exchange(0, sig, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // the second one: the temporary files go, then the process, at once
        for t in &TEMPS {
            let p = t.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: `p` is a NUL-terminated path that is never freed; unlink is
                // async-signal-safe.
                unsafe { libc::unlink(p) };
            }
        }
        // SAFETY: signal() and raise() are async-signal-safe; the signal is blocked while
        // its handler runs, and is delivered with its default action when it returns.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return;
    }
    wake(now_ns());
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Records when the stop came and wakes the watcher (async-signal-safe).
fn wake(at: u64) {
    let _ = STOPPED_AT.compare_exchange(0, at, Ordering::AcqRel, Ordering::Acquire);
    let fd = WAKE_FD.load(Ordering::Acquire);
    if fd >= 0 {
        // SAFETY: writes one byte from a local to our own pipe; async-signal-safe.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// The signal that asked for a stop, if one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::Acquire) {
        0 => None,
        s => Some(s),
    }
}

/// The exit code for a stop by `sig` (128 + the signal number: 130 for SIGINT, 143 for
/// SIGTERM), as shells report it.
pub fn exit_code(sig: i32) -> i32 {
    128 + sig
}

/// The error a reader or writer stops with when a stop was asked for.
pub fn error(sig: i32) -> std::io::Error {
    let name = match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    };
    std::io::Error::new(std::io::ErrorKind::Interrupted, format!("stopped by {name}"))
}

/// The error a blocked write gives up with after a stop: not of kind `Interrupted`, which
/// `Write::write_all` and readers retry.
fn abandoned(sig: i32) -> io::Error {
    io::Error::other(error(sig).to_string())
}

/// Asks for a stop as if `sig` had arrived (tests, and a caller that must stop).
pub fn request(sig: i32) {
    if SIGNAL.compare_exchange(0, sig, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        wake(now_ns());
    }
}

/// How long a write already blocked when the stop comes may still go on (`load
/// --stop-grace`). Without it, a stop ends such a write at once.
pub fn set_grace(d: Duration) {
    GRACE_MS.store(d.as_millis().min(u64::MAX as u128) as u64, Ordering::Release);
}

/// What is left of `grace` since the stop was asked for (all of it when none was).
pub fn grace_left(grace: Duration) -> Duration {
    match STOPPED_AT.load(Ordering::Acquire) {
        0 if requested().is_none() => grace,
        0 => Duration::ZERO,
        at => grace.saturating_sub(Duration::from_nanos(now_ns().saturating_sub(at))),
    }
}

/// The signal of a stop whose grace ([`set_grace`]) is over: a blocked write gives up.
pub fn grace_over() -> Option<i32> {
    let sig = requested()?;
    grace_left(Duration::from_millis(GRACE_MS.load(Ordering::Acquire))).is_zero().then_some(sig)
}

fn gettid() -> i32 {
    thread_local! {
        // SAFETY: gettid cannot fail.
        static TID: i32 = unsafe { libc::gettid() };
    }
    TID.with(|t| *t)
}

/// While it lives, the watcher interrupts this thread after a stop (see the module doc).
pub struct Waking(Option<usize>);

/// Registers the calling thread to be interrupted after a stop, until the guard drops.
pub fn waking() -> Waking {
    let tid = gettid();
    Waking(
        WAKING
            .iter()
            .position(|w| w.compare_exchange(0, tid, Ordering::AcqRel, Ordering::Acquire).is_ok()),
    )
}

impl Drop for Waking {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            WAKING[i].store(0, Ordering::Release);
        }
    }
}

/// `Write::write_all`, except that once a stop's grace is over ([`grace_over`]) it gives up
/// instead of retrying an interrupted write, and the calling thread is [`Waking`] meanwhile.
///
/// `timeout`: the descriptor's own write timeout (`SO_SNDTIMEO`), if it has one. Each
/// interrupted call starts that timer afresh, so it is kept here too: a write that made no
/// progress for that long fails with `TimedOut`, as the descriptor would have.
pub fn write_all<W: Write + ?Sized>(
    w: &mut W,
    mut buf: &[u8],
    timeout: Option<Duration>,
) -> io::Result<()> {
    let _wake = waking();
    let mut progress = std::time::Instant::now();
    while !buf.is_empty() {
        if let Some(sig) = grace_over() {
            return Err(abandoned(sig));
        }
        match w.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                progress = std::time::Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if timeout.is_some_and(|t| progress.elapsed() >= t) {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A writer whose writes end once a stop's grace is over (see [`write_all`]), even when
/// blocked: for outputs that may block for good (a pipe, a FIFO, a terminal).
pub struct Interruptible<W: Write>(pub W);

impl<W: Write> Write for Interruptible<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _wake = waking();
        loop {
            if let Some(sig) = grace_over() {
                return Err(abandoned(sig));
            }
            match self.0.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Standard output as a plain descriptor: no line buffer of its own (outputs are buffered
/// by the caller), and every write goes through one `write(2)` that [`Interruptible`] can
/// interrupt.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len().min(isize::MAX as usize);
        // SAFETY: writes from a valid slice to descriptor 1.
        let n = unsafe { libc::write(1, buf.as_ptr().cast(), len) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A temporary file that a second signal unlinks before the process ends, while this lives.
/// Register it right after creating the file, and drop this after renaming or removing it.
pub struct TempName(Option<usize>);

impl TempName {
    pub fn register(path: &Path) -> TempName {
        let Ok(c) = CString::new(path.as_os_str().as_bytes()) else { return TempName(None) };
        // never freed: a handler on another thread may still hold the pointer
        let p = c.into_raw();
        let null = std::ptr::null_mut();
        let slot = TEMPS
            .iter()
            .position(|t| t.compare_exchange(null, p, Ordering::AcqRel, Ordering::Acquire).is_ok());
        if slot.is_none() {
            // SAFETY: `p` came from `into_raw` above and was published nowhere.
            drop(unsafe { CString::from_raw(p) });
        }
        TempName(slot)
    }
}

impl Drop for TempName {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            TEMPS[i].store(std::ptr::null_mut(), Ordering::Release);
        }
    }
}
