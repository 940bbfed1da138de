//! What a load shows on `--metrics`: its counts, rates, windows and acknowledgement
//! latency, rendered from the pool as Prometheus text and published at most every
//! [`EVERY`] (see [`crate::metrics`]).

use std::time::{Duration, Instant};

use super::pool::Pool;
use crate::metrics::{Page, Text};
use crate::net::node::{LATENCY_BUCKETS, Latency};

/// Least time between two renderings while the load runs.
pub const EVERY: Duration = Duration::from_millis(250);

/// Where a load publishes its metrics, and when it last did.
pub struct Published {
    pub page: Page,
    pub at: Option<Instant>,
}

impl Pool {
    /// Publishes the metrics if a page is set and the last rendering is older than
    /// [`EVERY`] (or `force`).
    pub(super) fn publish_metrics(&mut self, force: bool) {
        let Some(p) = &self.metrics else { return };
        if !force && p.at.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        let text = self.render_metrics();
        if let Some(p) = &mut self.metrics {
            p.page.publish(text);
            p.at = Some(Instant::now());
        }
    }

    fn render_metrics(&self) -> String {
        let (r, t) = (&self.report, &self.throttle);
        let mut m = Text::default();
        let counters: [(&str, &str, f64); 9] = [
            ("rdbshift_keys_loaded_total", "Keys acknowledged by the target.", r.loaded as f64),
            ("rdbshift_keys_skipped_total", "Keys left alone (they existed).", r.skipped as f64),
            ("rdbshift_ops_sent_total", "Operations sent (an MSET counts per key).", t.ops as f64),
            ("rdbshift_bytes_sent_total", "Bytes of commands sent.", t.bytes as f64),
            ("rdbshift_retries_total", "Keys sent again.", r.retries as f64),
            ("rdbshift_redirects_total", "MOVED and ASK replies followed.", r.redirects as f64),
            ("rdbshift_reconnects_total", "Connections opened again.", r.reconnects as f64),
            (
                "rdbshift_throttled_seconds_total",
                "Time the rate limits held writes back.",
                t.throttled.as_secs_f64(),
            ),
            (
                "rdbshift_latency_backoffs_total",
                "Times a node's window was halved for --max-latency.",
                t.latency_backoffs as f64,
            ),
        ];
        for (name, help, v) in counters {
            m.family(name, "counter", help);
            m.sample(name, &[], v);
        }
        m.family("rdbshift_keys_failed_total", "counter", "Keys that failed.");
        m.sample("rdbshift_keys_failed_total", &[], r.failed_keys() as f64);
        let f = "rdbshift_failures_total";
        m.family(f, "counter", "Keys and function libraries that failed, by reason.");
        for (reason, n) in &r.errors {
            m.sample(f, &[("reason", reason)], *n as f64);
        }
        m.family("rdbshift_backoffs_total", "counter", "Errors waited out and retried, by kind.");
        for (kind, n) in &r.backoffs {
            m.sample("rdbshift_backoffs_total", &[("kind", kind)], *n as f64);
        }
        m.family("rdbshift_node_keys_loaded_total", "counter", "Keys acknowledged, per node.");
        for (addr, n) in &r.per_node {
            m.sample("rdbshift_node_keys_loaded_total", &[("node", addr)], n.loaded as f64);
        }
        m.family("rdbshift_node_keys_failed_total", "counter", "Keys failed, per node.");
        for (addr, n) in &r.per_node {
            m.sample("rdbshift_node_keys_failed_total", &[("node", addr)], n.failed as f64);
        }
        // per connection: bytes in flight, its window, its latency
        let conns: Vec<(String, String, usize, usize, Latency)> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (inflight, lat) = n.load();
                (n.addr.clone(), n.db.to_string(), inflight, self.window_now(i), lat)
            })
            .collect();
        m.family("rdbshift_inflight_bytes", "gauge", "Bytes sent and not yet acknowledged.");
        for (addr, db, inflight, ..) in &conns {
            m.sample("rdbshift_inflight_bytes", &[("node", addr), ("db", db)], *inflight as f64);
        }
        m.family("rdbshift_window_bytes", "gauge", "Unacknowledged bytes allowed.");
        for (addr, db, _, w, _) in &conns {
            m.sample("rdbshift_window_bytes", &[("node", addr), ("db", db)], *w as f64);
        }
        let h = "rdbshift_ack_latency_seconds";
        m.family(h, "histogram", "Time from a write to the reply of its last command.");
        for (addr, db, .., lat) in &conns {
            let mut cum = 0;
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                cum += lat.buckets[i];
                let le = le.to_string();
                m.sample(
                    &format!("{h}_bucket"),
                    &[("node", addr), ("db", db), ("le", &le)],
                    cum as f64,
                );
            }
            cum += lat.buckets[LATENCY_BUCKETS.len()];
            m.sample(
                &format!("{h}_bucket"),
                &[("node", addr), ("db", db), ("le", "+Inf")],
                cum as f64,
            );
            m.sample(&format!("{h}_sum"), &[("node", addr), ("db", db)], lat.sum);
            m.sample(&format!("{h}_count"), &[("node", addr), ("db", db)], lat.count as f64);
        }
        m.finish()
    }
}
