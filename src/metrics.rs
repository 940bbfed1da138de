//! `--metrics ADDR`: Prometheus text on `http://ADDR/metrics` while a job runs.
//!
//! The job publishes a rendered page now and then ([`Page::publish`]); the server thread
//! only hands out the latest one, so a scrape never waits for the job (nor blocks it), even
//! when the job waits on a silent node.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The latest page, shared by the job and the server.
#[derive(Clone, Default)]
pub struct Page(Arc<Mutex<String>>);

impl Page {
    /// Replaces the page.
    pub fn publish(&self, text: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = text;
    }

    fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The HTTP server of `--metrics`; it stops when dropped.
pub struct Exporter {
    pub page: Page,
    /// The address it listens on (the port chosen when ADDR asked for port 0).
    pub addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Listens on `addr` (`HOST:PORT`) and serves the page on `/metrics`.
    pub fn start(addr: &str) -> Result<Exporter, String> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| format!("--metrics {addr}: cannot listen: {e}"))?;
        let bound = match server.server_addr() {
            tiny_http::ListenAddr::IP(a) => a.to_string(),
            #[allow(unreachable_patterns)]
            _ => addr.to_string(),
        };
        let page = Page::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (page.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(server, &p, &s))
            .map_err(|e| format!("--metrics: {e}"))?;
        Ok(Exporter { page, addr: bound, stop, thread: Some(thread) })
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // the thread ends at its next wake-up (100 ms); it is not joined: a client that
        // stopped reading a page could hold it in a write, and the job must not wait for it
        self.stop.store(true, Ordering::Relaxed);
        drop(self.thread.take());
    }
}

fn serve(server: tiny_http::Server, page: &Page, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let req = match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(_) => return,
        };
        let path = req.url().split('?').next().unwrap_or("");
        let resp = if path == "/metrics" {
            let header = tiny_http::Header::from_bytes(
                &b"Content-Type"[..],
                &b"text/plain; version=0.0.4; charset=utf-8"[..],
            )
            .expect("a valid header");
            tiny_http::Response::from_string(page.get()).with_header(header)
        } else {
            tiny_http::Response::from_string("rdbshift serves /metrics\n").with_status_code(404)
        };
        let _ = req.respond(resp);
    }
}

/// Prometheus text, one family at a time.
#[derive(Default)]
pub struct Text(String);

impl Text {
    /// `# HELP` and `# TYPE` of a family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.0.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    }

    /// One sample: `labels` as (name, value) pairs, values escaped.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                self.0.push_str(&format!("{k}=\"{v}\""));
            }
            self.0.push('}');
        }
        self.0.push_str(&format!(" {value}\n"));
    }

    pub fn finish(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_their_labels() {
        let mut t = Text::default();
        t.family("x_total", "counter", "Things.");
        t.sample("x_total", &[("node", "a\"b\\c"), ("k", "v")], 3.0);
        t.sample("x_total", &[], 0.5);
        assert_eq!(
            t.finish(),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{node=\"a\\\"b\\\\c\",k=\"v\"} 3\nx_total 0.5\n"
        );
    }

    #[test]
    fn the_latest_page_is_served_and_others_are_not_found() {
        use std::io::{Read, Write};
        let e = Exporter::start("127.0.0.1:0").unwrap();
        e.page.publish("a_metric 1\n".into());
        let get = |path: &str| {
            let mut s = std::net::TcpStream::connect(&e.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let r = get("/metrics");
        assert!(r.starts_with("HTTP/1.0 200") && r.ends_with("a_metric 1\n"), "{r}");
        assert!(r.contains("text/plain; version=0.0.4"), "{r}");
        e.page.publish("a_metric 2\n".into());
        assert!(get("/metrics").ends_with("a_metric 2\n"));
        assert!(get("/other").contains(" 404 "));
    }
}
