//! A scripted misbehaving server on 127.0.0.1, for the network faults a real server cannot
//! produce (never answering, replies no server sends): the listener, a RESP command reader,
//! and the replies a Redis 7.0 gives to the handshake and probe. What each server does
//! after that is its test's.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Accepts connections on a loopback port until dropped; each is served on its own thread.
pub struct Listener {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Listener {
    /// Serves each connection with `serve(connection, stop)`: `stop` is set once the
    /// listener is dropped.
    pub fn start(serve: impl Fn(TcpStream, &AtomicBool) + Send + Sync + 'static) -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let serve = Arc::new(serve);
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let (st, serve) = (Arc::clone(&st), Arc::clone(&serve));
                        std::thread::spawn(move || serve(c, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Listener { port, stop }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One command (a RESP array of bulks) and its size in bytes; `None` at the end of the
/// stream (or on anything that is not a command).
pub fn command(r: &mut BufReader<TcpStream>) -> Option<(Vec<String>, usize)> {
    let mut line = String::new();
    let mut size = r.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let n: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        size += r.read_line(&mut line).ok()?;
        let len: usize = line.trim().strip_prefix('$')?.parse().ok()?;
        let mut b = vec![0; len + 2];
        r.read_exact(&mut b).ok()?;
        size += len + 2;
        b.truncate(len);
        args.push(String::from_utf8_lossy(&b).into_owned());
    }
    Some((args, size))
}

/// What a standalone Redis 7.0 answers to a handshake or probe command (`PING`, `AUTH`,
/// `SELECT`, `INFO`); `None` for any other command.
pub fn handshake_reply(name: &str) -> Option<Vec<u8>> {
    Some(match name.to_ascii_uppercase().as_str() {
        "PING" => b"+PONG\r\n".to_vec(),
        "AUTH" | "SELECT" => b"+OK\r\n".to_vec(),
        "INFO" => {
            let body = "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n# Cluster\r\ncluster_enabled:0\r\n";
            format!("${}\r\n{body}\r\n", body.len()).into_bytes()
        }
        _ => return None,
    })
}
