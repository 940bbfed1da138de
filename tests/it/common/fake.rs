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
/// `SELECT`, `INFO`, and what load's probe of permissions and pre-flight ask: `CONFIG GET`,
/// `DEBUG`, `CLUSTER`, `FUNCTION`, the `RESTORE` of its probe key); `None` for any other
/// command.
pub fn handshake_reply(args: &[String]) -> Option<Vec<u8>> {
    let bulk = |s: &str| format!("${}\r\n{s}\r\n", s.len());
    let name = args.first()?.to_ascii_uppercase();
    Some(match name.as_str() {
        "PING" => b"+PONG\r\n".to_vec(),
        "AUTH" | "SELECT" => b"+OK\r\n".to_vec(),
        "INFO" => {
            let body = "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n# Cluster\r\ncluster_enabled:0\r\n# Memory\r\nused_memory:1000000\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n";
            bulk(body).into_bytes()
        }
        "CONFIG" => {
            let key = args.get(2).map(String::as_str).unwrap_or("");
            let value = match key {
                "maxmemory-policy" => "noeviction",
                "databases" => "16",
                _ => "0",
            };
            format!("*2\r\n{}{}", bulk(key), bulk(value)).into_bytes()
        }
        "DEBUG" => b"-ERR DEBUG command not allowed.\r\n".to_vec(),
        "CLUSTER" => b"-ERR This instance has cluster support disabled\r\n".to_vec(),
        "FUNCTION" if args.get(2).is_some_and(|c| c == "#!rdbshift-access-probe") => {
            b"-ERR Missing library metadata\r\n".to_vec()
        }
        "RESTORE" if args.get(1).is_some_and(|k| k == "rdbshift:access-probe") => {
            b"-ERR DUMP payload version or checksum are wrong\r\n".to_vec()
        }
        _ => return None,
    })
}
