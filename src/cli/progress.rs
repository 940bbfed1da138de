//! Progress for a person: a bar on stderr when it is a terminal; otherwise (nohup, CI, a
//! pod's log) a plain line every `--progress-interval` seconds. Notes go to stderr either
//! way.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdbshift::encode::text::size;
use rdbshift::job::Progress;

/// Progress on stderr: a bar, or plain lines.
pub struct Bar {
    bar: Option<indicatif::ProgressBar>,
    plain: Option<Plain>,
}

/// The plain lines' state.
struct Plain {
    every: Duration,
    started: Instant,
    total: AtomicU64,
    done: AtomicU64,
    keys: AtomicU64,
    /// When the next line is due.
    next: Mutex<Instant>,
}

impl Plain {
    /// The line for now: bytes, share, keys and their rate, ETA (`end`: the last line,
    /// everything done).
    fn line(&self, end: bool) -> String {
        let (total, done, keys) = (
            self.total.load(Ordering::Relaxed),
            self.done.load(Ordering::Relaxed),
            self.keys.load(Ordering::Relaxed),
        );
        let done = if end { total.max(done) } else { done };
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let pct = if total > 0 { done as f64 * 100.0 / total as f64 } else { 0.0 };
        let mut l = format!("progress: {} of {} ({pct:.0}%)", size(done), size(total));
        if keys > 0 {
            l += &format!(", {keys} keys, {:.0} keys/s", keys as f64 / secs);
        }
        l += &format!(", {}/s", size((done as f64 / secs) as u64));
        if done > 0 && total > done {
            let eta = (total - done) as f64 * secs / done as f64;
            l += &format!(", ETA {:.0} s", eta.ceil());
        }
        l
    }

    /// Prints a line if one is due.
    fn tick(&self) {
        let now = Instant::now();
        let Ok(mut next) = self.next.try_lock() else { return };
        if now >= *next {
            *next = now + self.every;
            eprintln!("rdbshift: {}", self.line(false));
        }
    }
}

impl Bar {
    /// No progress at all.
    pub fn none() -> Bar {
        Bar { bar: None, plain: None }
    }

    /// A bar when stderr is a terminal, else a plain line every `every` (none when zero).
    pub fn for_stderr(every: Duration) -> Bar {
        if std::io::stderr().is_terminal() {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            return Bar { bar: Some(b), plain: None };
        }
        let plain = (!every.is_zero()).then(|| Plain {
            every,
            started: Instant::now(),
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            next: Mutex::new(Instant::now() + every),
        });
        Bar { bar: None, plain }
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
        }
        if let Some(p) = &self.plain {
            // a first line at once: a log shows the run going even when it is short
            p.total.store(total, Ordering::Relaxed);
            if let Ok(mut next) = p.next.lock() {
                *next = Instant::now() + p.every;
            }
            eprintln!("rdbshift: {}", p.line(false));
        }
    }
    fn advance(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
        if let Some(p) = &self.plain {
            p.done.fetch_add(bytes, Ordering::Relaxed);
            p.tick();
        }
    }
    fn keys(&self, keys: u64) {
        if let Some(b) = &self.bar {
            b.set_message(format!(
                "{keys} keys, {:.0} keys/s",
                keys as f64 / b.elapsed().as_secs_f64().max(1e-3)
            ));
        }
        if let Some(p) = &self.plain {
            p.keys.store(keys, Ordering::Relaxed);
            p.tick();
        }
    }
    fn note(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("rdbshift: {line}")),
            None => eprintln!("rdbshift: {line}"),
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if let Some(p) = &self.plain {
            eprintln!("rdbshift: {} in {:.1} s", p.line(true), p.started.elapsed().as_secs_f64());
        }
    }
}
