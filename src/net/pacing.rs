//! How many bytes a connection may leave unacknowledged: what the path between us and the
//! server holds at the rate the server achieves, plus a small queue at the server, and no
//! more.
//!
//! A server reads its socket a little at a time (16 KiB per read for Redis) between the
//! commands it runs. Whatever the sender has out beyond the path's own bytes sits in the
//! server's receive buffer; when that buffer fills, its kernel advertises a zero window and
//! spends time managing the full queue (measured: issue 17). A receive buffer starts at
//! 128 KiB (`tcp_rmem`) and grows with what the server reads per round trip, so the queue
//! the sender keeps there must stay small whatever the path.
//!
//! The window follows the path from acknowledgements alone (the ideas of BBR and Vegas,
//! applied to whole writes):
//! - `base`: the lowest acknowledgement latency (from a write to its last reply) ever seen on
//!   the connection: the round trip plus a write's own service time, measured whenever the
//!   server has nothing queued, as at the start;
//! - `rate`: the highest delivery rate (bytes acknowledged per second) of the last few
//!   intervals, each at least [`MIN_INTERVAL`] and two `base` long, so that replies read
//!   in a burst after a pause of the reader do not look like a fast server.
//!
//! `window = clamp(rate × base + QUEUE, QUEUE, cap)`
//!
//! - On loopback or a LAN, `rate × base` is about one write, and the window stays near
//!   `QUEUE`: the server's buffer never fills.
//! - Over a long round trip, a window-limited connection delivers a window per round trip,
//!   so `rate × base` is the window itself and each interval lets it grow by `QUEUE`, until
//!   the server (not the window) sets the rate: then the path holds `rate × base` and the
//!   server's queue stays about `QUEUE`.
//! - Scheduling noise only lengthens latencies and spreads deliveries, and the base is a
//!   minimum: noise cannot grow the window beyond what one interval's max allows.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The bytes the window keeps queued at the server beyond what the path holds. Chosen by
/// measurement (BENCHMARKS.md, pacing).
pub const QUEUE: usize = 128 << 10;

/// The shortest interval a delivery rate is measured over.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The rate is the highest of this many intervals: enough to span a slow moment of the
/// server, few enough to follow it when it slows for good.
const INTERVALS: usize = 8;

/// What the acknowledgements tell of the path to one server.
#[derive(Clone, Debug, Default)]
pub struct Path {
    /// The lowest acknowledgement latency seen.
    base: Option<Duration>,
    /// Where the interval being measured began: bytes acknowledged then, and when.
    mark: Option<(u64, Instant)>,
    /// The rates of the last intervals, in bytes per second, oldest first.
    rates: VecDeque<f64>,
}

impl Path {
    /// A write was acknowledged `latency` after it went out.
    pub fn latency(&mut self, latency: Duration) {
        self.base = Some(self.base.map_or(latency, |b| b.min(latency)));
    }

    /// `acked` bytes were acknowledged on the connection in all, as of `now`.
    pub fn acked(&mut self, acked: u64, now: Instant) {
        let Some((from, at)) = self.mark else {
            self.mark = Some((acked, now));
            return;
        };
        let span = now.saturating_duration_since(at);
        if span < MIN_INTERVAL.max(self.base.unwrap_or_default() * 2) {
            return;
        }
        if self.rates.len() == INTERVALS {
            self.rates.pop_front();
        }
        self.rates.push_back(acked.saturating_sub(from) as f64 / span.as_secs_f64());
        self.mark = Some((acked, now));
    }

    /// The highest delivery rate of the last intervals, in bytes per second.
    pub fn rate(&self) -> f64 {
        self.rates.iter().copied().fold(0.0, f64::max)
    }

    /// The window: what the path holds at the recent rate, plus [`QUEUE`], within
    /// `QUEUE..=cap` (a `cap` under `QUEUE` wins).
    pub fn window(&self, cap: usize) -> usize {
        let held = self.base.map_or(0.0, |b| self.rate() * b.as_secs_f64());
        let w = (held.min(usize::MAX as f64 / 2.0) as usize).saturating_add(QUEUE);
        w.min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 64 << 20;

    #[test]
    fn on_a_short_path_the_window_stays_near_the_queue() {
        // 200 MB/s; writes acknowledged after 0.3 ms when nothing is queued, and replies
        // read by a reader that pauses up to 3 ms at a time
        let t0 = Instant::now();
        let mut p = Path::default();
        assert_eq!(p.window(CAP), QUEUE, "before any acknowledgement");
        p.latency(Duration::from_micros(300));
        let mut t = Duration::ZERO;
        for i in 0..2000u64 {
            t += Duration::from_micros(50 + (i * 7919) % 3000);
            p.latency(Duration::from_micros(300) + Duration::from_micros((i * 31) % 5000));
            p.acked((200e6 * t.as_secs_f64()) as u64, t0 + t);
        }
        assert!(p.rate() > 150e6 && p.rate() < 300e6, "{}", p.rate());
        let w = p.window(CAP);
        assert!(w > QUEUE && w < QUEUE + (96 << 10), "{w}");
    }

    #[test]
    fn a_long_path_grows_the_window_until_the_server_sets_the_rate() {
        // a 10 ms round trip and a server that takes 100 MB/s: the path holds 1 MB
        let (rtt, server) = (10.0e-3f64, 100e6);
        let t0 = Instant::now();
        let mut p = Path::default();
        let (mut now, mut acked) = (Duration::ZERO, 0u64);
        let mut w = p.window(CAP);
        let mut grew = 0;
        for _ in 0..400 {
            // a round trip: the window goes out, and comes back acknowledged
            let latency = rtt.max(w as f64 / server);
            now += Duration::from_secs_f64(latency);
            acked += w as u64;
            p.latency(Duration::from_secs_f64(latency));
            p.acked(acked, t0 + now);
            let next = p.window(CAP);
            grew += (next > w) as u32;
            w = next;
        }
        let held = (server * rtt) as usize;
        assert!(grew >= 5, "the window grew step by step ({grew})");
        assert!(w >= held + QUEUE / 2 && w <= held + 2 * QUEUE, "{w} for a path of {held}");
        assert_eq!(p.window(512 << 10), 512 << 10, "the cap wins");
    }

    #[test]
    fn the_rate_forgets_old_intervals() {
        let t0 = Instant::now();
        let mut p = Path::default();
        p.acked(0, t0);
        p.acked(10_000_000, t0 + MIN_INTERVAL);
        assert!((p.rate() - 1e9).abs() < 1e3, "{}", p.rate());
        p.acked(10_000_001, t0 + MIN_INTERVAL * 2 / 3 * 2);
        assert!((p.rate() - 1e9).abs() < 1e3, "an interval ends only after MIN_INTERVAL");
        let mut at = MIN_INTERVAL;
        for i in 1..=INTERVALS as u64 {
            at += MIN_INTERVAL;
            p.acked(10_000_000 + i * 10_000, t0 + at);
        }
        assert!((p.rate() - 1e6).abs() < 1e3, "{}", p.rate());
    }
}
