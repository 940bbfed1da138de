//! A small RESP2 client of the tests' own, for setting servers up and asking them simple
//! things. It shares no code with rdbshift's client, so a bug in rdbshift's reply parser
//! cannot hide itself here. Whole-keyspace read-backs go through `readback.py` (redis-py).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// One RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
    /// The bytes of a status, error or bulk reply.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Status(b) | Reply::Error(b) | Reply::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }
    /// The reply as text: numbers in decimal, arrays as `[a, b]`, nil as `(nil)`.
    pub fn text(&self) -> String {
        match self {
            Reply::Int(n) => n.to_string(),
            Reply::Bulk(None) | Reply::Array(None) => "(nil)".to_string(),
            Reply::Array(Some(items)) => {
                let parts: Vec<String> = items.iter().map(Reply::text).collect();
                format!("[{}]", parts.join(", "))
            }
            other => String::from_utf8_lossy(other.bytes().unwrap_or_default()).into_owned(),
        }
    }
    /// The elements of an array reply (empty for anything else).
    pub fn array(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(items)) => items,
            _ => &[],
        }
    }
    /// An integer reply, or a bulk/status reply that holds a decimal integer.
    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Status(b) | Reply::Bulk(Some(b)) => {
                std::str::from_utf8(b).ok().and_then(|s| s.parse().ok())
            }
            _ => None,
        }
    }
}

/// A command in RESP2 (an array of bulk strings).
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// One connection; every read and write has a time limit.
pub struct Conn {
    addr: String,
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    pub fn connect(addr: &str, timeout: Duration) -> Result<Conn, String> {
        let sa = addr
            .to_socket_addrs()
            .map_err(|e| format!("{addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr}: no address"))?;
        let s =
            TcpStream::connect_timeout(&sa, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        let _ = s.set_nodelay(true);
        let w = s.try_clone().map_err(|e| e.to_string())?;
        Ok(Conn { addr: addr.to_string(), r: BufReader::new(s), w })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.w.write_all(bytes).map_err(|e| format!("write to {}: {e}", self.addr))
    }

    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, String> {
        let mut buf = Vec::new();
        encode(&mut buf, args);
        self.send_raw(&buf)?;
        self.read_reply()
    }

    pub fn cmd(&mut self, args: &[&str]) -> Result<Reply, String> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.call(&a)
    }

    fn line(&mut self) -> Result<Vec<u8>, String> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l).map_err(|e| format!("read from {}: {e}", self.addr))?;
        if !l.ends_with(b"\r\n") {
            return Err(format!(
                "{}: connection closed or a line without CRLF: {:?}",
                self.addr, l
            ));
        }
        l.truncate(l.len() - 2);
        Ok(l)
    }

    fn number(&self, b: &[u8]) -> Result<i64, String> {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{}: not a number: {:?}", self.addr, String::from_utf8_lossy(b)))
    }

    pub fn read_reply(&mut self) -> Result<Reply, String> {
        let l = self.line()?;
        let Some((&kind, rest)) = l.split_first() else {
            return Err(format!("{}: empty reply line", self.addr));
        };
        match kind {
            b'+' => Ok(Reply::Status(rest.to_vec())),
            b'-' => Ok(Reply::Error(rest.to_vec())),
            b':' => Ok(Reply::Int(self.number(rest)?)),
            b'$' => {
                let n = self.number(rest)?;
                if n < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let mut v = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut v).map_err(|e| format!("read from {}: {e}", self.addr))?;
                if !v.ends_with(b"\r\n") {
                    return Err(format!("{}: bulk string without CRLF", self.addr));
                }
                v.truncate(n as usize);
                Ok(Reply::Bulk(Some(v)))
            }
            b'*' => {
                let n = self.number(rest)?;
                if n < 0 {
                    return Ok(Reply::Array(None));
                }
                let mut items = Vec::with_capacity(n.min(1 << 16) as usize);
                for _ in 0..n {
                    items.push(self.read_reply()?);
                }
                Ok(Reply::Array(Some(items)))
            }
            other => Err(format!("{}: unexpected RESP2 type byte {:?}", self.addr, other as char)),
        }
    }
}
