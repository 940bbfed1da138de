//! Limits on the sender (`--max-ops`, `--max-bytes`, `--per-node`, `--max-latency`): the
//! same writes the window already paces, held back until the rates allow them. Nothing is
//! reordered or dropped: a write waits, whole, before it goes out, so the per-key accounting
//! is the sender's as without limits.
//!
//! Rates use virtual scheduling: each write of `n` operations is due at the later of now
//! and the previous write's due time plus its cost (`n / rate`); the sender sleeps until
//! then. A slow phase (acknowledgements, a retry) never earns a burst afterwards, so the
//! achieved rate stays at or under the limit over any stretch, and reaches it while the
//! sender keeps up.
//!
//! An operation is a command sent, with an `MSET` counted once per key it sets (so that
//! `--max-ops` means the same with or without grouping).

use std::time::{Duration, Instant};

/// The limits asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    /// Operations per second.
    pub ops: Option<f64>,
    /// Bytes per second.
    pub bytes: Option<f64>,
    /// The limits apply to each node, not to all of them together.
    pub per_node: bool,
    /// Acknowledgement latency above which a node's window shrinks (and grows back below
    /// half of it).
    pub max_latency: Option<Duration>,
}

impl Limits {
    /// Whether any rate is limited.
    pub fn rated(&self) -> bool {
        self.ops.is_some() || self.bytes.is_some()
    }

    /// The most operations and bytes one write may carry, so that a write is about 50 ms
    /// of the rate: with a low limit, writes get small instead of bursting.
    pub fn step(&self) -> (u64, usize) {
        let ops = self.ops.map_or(u64::MAX, |r| (r / 20.0).max(1.0) as u64);
        let bytes = self.bytes.map_or(usize::MAX, |r| (r / 20.0).max(1024.0) as usize);
        (ops, bytes)
    }

    /// Parses `--max-bytes`: a number of bytes per second with an optional unit (`50MB`,
    /// `512KiB`, `1G`; K/M/G are powers of 1000, KiB/MiB/GiB of 1024, `/s` is allowed).
    pub fn parse_rate(s: &str) -> Result<f64, String> {
        let t = s.trim().trim_end_matches("/s").trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num.parse().map_err(|_| format!("{s:?}: expected a rate such as 50MB"))?;
        let mult = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => 1e3,
            "m" | "mb" => 1e6,
            "g" | "gb" => 1e9,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            u => return Err(format!("{s:?}: unknown unit {u:?} (B, KB, MB, GB, KiB, MiB, GiB)")),
        };
        let r = n * mult;
        if !(r >= 1.0 && r.is_finite()) {
            return Err(format!("{s:?}: a rate is at least 1 byte per second"));
        }
        Ok(r)
    }
}

/// When the next write may go, per budget (all nodes, or one node).
#[derive(Clone, Copy, Debug, Default)]
struct Due {
    ops: Option<Instant>,
    bytes: Option<Instant>,
}

/// The sender's limits and what they cost: shared by every node of a load.
#[derive(Debug, Default)]
pub struct Throttle {
    limits: Limits,
    /// For all nodes together (`""`), else per node address (a standalone server's
    /// connections for several dbs share one).
    due: std::collections::HashMap<String, Due>,
    /// Operations and bytes booked (sent), and since when.
    pub ops: u64,
    pub bytes: u64,
    started: Option<Instant>,
    last: Option<Instant>,
    /// Time spent held back by the rates.
    pub throttled: Duration,
    /// Times a node's window was halved because acknowledgements came slower than
    /// `max_latency`.
    pub latency_backoffs: u64,
}

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle { limits, ..Default::default() }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Books a write of `ops` operations and `bytes` bytes to the node at `node` (its
    /// address): how long to wait before it goes out (zero without limits).
    pub fn book(&mut self, node: &str, ops: u64, bytes: usize) -> Duration {
        let now = Instant::now();
        self.started.get_or_insert(now);
        self.last = Some(now);
        self.ops += ops;
        self.bytes += bytes as u64;
        if !self.limits.rated() {
            return Duration::ZERO;
        }
        let key = if self.limits.per_node { node } else { "" };
        if !self.due.contains_key(key) {
            self.due.insert(key.to_string(), Due::default());
        }
        let d = self.due.get_mut(key).expect("inserted above");
        let mut at = now;
        let mut next = |due: &mut Option<Instant>, rate: Option<f64>, n: f64| {
            if let Some(r) = rate {
                let start = due.map_or(now, |t| t.max(now));
                at = at.max(start);
                *due = Some(start + Duration::from_secs_f64(n / r));
            }
        };
        next(&mut d.ops, self.limits.ops, ops as f64);
        next(&mut d.bytes, self.limits.bytes, bytes as f64);
        let wait = at - now;
        self.throttled += wait;
        wait
    }

    /// What the sender did, for the report: its limits, what it sent, the rates it achieved
    /// up to `end`, and what the limits held back.
    pub fn rates(&self, end: Instant) -> super::report::Rates {
        let (ops_per_second, bytes_per_second) = self.achieved(end);
        super::report::Rates {
            limits: self.limits,
            ops: self.ops,
            bytes: self.bytes,
            ops_per_second,
            bytes_per_second,
            throttled_seconds: self.throttled.as_secs_f64(),
            latency_backoffs: self.latency_backoffs,
        }
    }

    /// The rates achieved since the first write (operations and bytes per second), counted
    /// up to `end`.
    fn achieved(&self, end: Instant) -> (f64, f64) {
        let Some(start) = self.started else { return (0.0, 0.0) };
        let secs = end.max(self.last.unwrap_or(start)).duration_since(start).as_secs_f64();
        if secs <= 0.0 {
            return (0.0, 0.0);
        }
        (self.ops as f64 / secs, self.bytes as f64 / secs)
    }
}

/// A node's window under `--max-latency`: halved when acknowledgements take longer than the
/// limit, grown by an eighth of the full window when they take less than half of it, never
/// below [`MIN_WINDOW`] nor above the window asked for.
pub fn adapt_window(current: usize, full: usize, latency: Duration, max: Duration) -> usize {
    if latency > max {
        (current / 2).max(MIN_WINDOW.min(full))
    } else if latency < max / 2 {
        current.saturating_add(full / 8).min(full)
    } else {
        current
    }
}

/// The smallest window `--max-latency` shrinks a node's to.
pub const MIN_WINDOW: usize = 16 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_spaced_by_their_cost() {
        let mut t = Throttle::new(Limits { ops: Some(1000.0), ..Default::default() });
        assert_eq!(t.book("n0", 100, 10), Duration::ZERO, "the first write goes at once");
        // the second is due 100 ms after the first, whatever node it goes to
        let w = t.book("n1", 50, 10);
        assert!(w > Duration::from_millis(90) && w <= Duration::from_millis(100), "{w:?}");
        let w = t.book("n0", 1, 10);
        assert!(w > Duration::from_millis(140) && w <= Duration::from_millis(150), "{w:?}");
        assert_eq!((t.ops, t.bytes), (151, 30));
        assert!(t.throttled >= Duration::from_millis(230));
    }

    #[test]
    fn per_node_budgets_are_apart_and_bytes_count_too() {
        let l =
            Limits { ops: Some(10.0), bytes: Some(1000.0), per_node: true, ..Default::default() };
        let mut t = Throttle::new(l);
        assert_eq!(t.book("n0", 1, 500), Duration::ZERO);
        assert_eq!(t.book("n1", 1, 500), Duration::ZERO, "another node has its own budget");
        // node 0: ops due in 100 ms, bytes in 500 ms: the later wins
        let w = t.book("n0", 1, 10);
        assert!(w > Duration::from_millis(450) && w <= Duration::from_millis(500), "{w:?}");
    }

    #[test]
    fn without_limits_nothing_waits_but_rates_are_counted() {
        let mut t = Throttle::new(Limits::default());
        for _ in 0..1000 {
            assert_eq!(t.book("n0", 64, 1 << 20), Duration::ZERO);
        }
        assert_eq!((t.ops, t.throttled), (64_000, Duration::ZERO));
        let (ops, bytes) = t.achieved(Instant::now() + Duration::from_secs(1));
        assert!(ops > 0.0 && bytes > ops);
    }

    #[test]
    fn rates_parse_with_units() {
        let p = Limits::parse_rate;
        assert_eq!(p("50MB"), Ok(50e6));
        assert_eq!(p("50 MB/s"), Ok(50e6));
        assert_eq!(p("512KiB"), Ok(512.0 * 1024.0));
        assert_eq!(p("1g"), Ok(1e9));
        assert_eq!(p("1000"), Ok(1000.0));
        assert!(p("fast").is_err() && p("10XB").is_err() && p("0").is_err() && p("").is_err());
    }

    #[test]
    fn steps_are_about_50_ms_of_the_rate() {
        let l = Limits { ops: Some(100_000.0), bytes: Some(50e6), ..Default::default() };
        assert_eq!(l.step(), (5000, 2_500_000));
        let low = Limits { ops: Some(5.0), bytes: Some(100.0), ..Default::default() };
        assert_eq!(low.step(), (1, 1024), "one operation at least, 1 KiB at least");
        assert_eq!(Limits::default().step(), (u64::MAX, usize::MAX));
    }

    #[test]
    fn the_window_halves_on_slow_acknowledgements_and_grows_back() {
        let (full, max) = (384 << 10, Duration::from_millis(10));
        let slow = Duration::from_millis(30);
        let mut w = full;
        for _ in 0..20 {
            w = adapt_window(w, full, slow, max);
        }
        assert_eq!(w, MIN_WINDOW);
        assert_eq!(adapt_window(w, full, Duration::from_millis(7), max), w, "between: kept");
        for _ in 0..20 {
            w = adapt_window(w, full, Duration::from_millis(1), max);
        }
        assert_eq!(w, full);
    }
}
