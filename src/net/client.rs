//! A small blocking RESP connection: send commands, read replies (pipelined or one by one).
//!
//! Every wait is bounded by the connection's timeout, and every error names the server and
//! what was being waited for (the command's name: never its arguments, which may hold a
//! password).

use std::io::Read;
use std::time::Duration;

use super::error::Error as ConnError;
use super::transport::{Stream, connect_tcp};
use crate::resp::reply::{Builder, MAX_PENDING, ParseError, Reply};

pub struct Conn {
    stream: Stream,
    addr: String,
    timeout: Duration,
    rbuf: Vec<u8>,
    rpos: usize,
    /// The reply being read, when it came in part.
    builder: Builder,
    /// The name of the last command sent, for messages.
    what: String,
}

/// The command's name (and a subcommand's, for the few commands that take one), read from
/// its RESP bytes; `?` when they are not a command.
fn command_name(b: &[u8]) -> String {
    let mut words = Vec::new();
    let take = |pos: &mut usize| -> Option<&[u8]> {
        let rest = b.get(*pos..)?;
        let nl = rest.iter().take(24).position(|&c| c == b'\n')?;
        let n: usize = std::str::from_utf8(rest.get(1..nl.checked_sub(1)?)?).ok()?.parse().ok()?;
        let start = *pos + nl + 1;
        *pos = start + n + 2;
        b.get(start..start + n)
    };
    if b.first() == Some(&b'*') {
        let nl = b.iter().take(24).position(|&c| c == b'\n').unwrap_or(0);
        let mut pos = nl + 1;
        while words.len() < 2 {
            match take(&mut pos) {
                Some(w) if w.len() <= 32 => {
                    words.push(String::from_utf8_lossy(w).to_ascii_uppercase())
                }
                _ => break,
            }
        }
    }
    match words.as_slice() {
        [] => "?".into(),
        [c, sub, ..]
            if ["INFO", "CLUSTER", "CONFIG", "CLIENT", "FUNCTION", "ACL"].contains(&c.as_str()) =>
        {
            format!("{c} {}", sub.to_ascii_lowercase())
        }
        [c, ..] => c.clone(),
    }
}

impl Conn {
    /// A plain TCP connection; `timeout` bounds connecting and every later wait.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Conn, ConnError> {
        let s =
            connect_tcp(addr, timeout).map_err(|e| ConnError::io(addr, "connect", timeout, e))?;
        let s = Stream::tcp(s).map_err(|e| ConnError::io(addr, "connect", timeout, e))?;
        Self::new(s, addr, timeout)
    }

    /// A connection over an established stream to `addr`; reads and writes wait at most
    /// `timeout`.
    pub fn new(stream: Stream, addr: &str, timeout: Duration) -> Result<Conn, ConnError> {
        let set = stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)));
        set.map_err(|e| ConnError::io(addr, "connect", timeout, e))?;
        Ok(Conn {
            stream,
            addr: addr.into(),
            timeout,
            rbuf: Vec::with_capacity(1 << 16),
            rpos: 0,
            builder: Builder::default(),
            what: "?".into(),
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Reads and writes wait at most `d` from now on.
    pub fn set_timeout(&mut self, d: Duration) -> Result<(), ConnError> {
        let set = self
            .stream
            .set_read_timeout(Some(d))
            .and_then(|_| self.stream.set_write_timeout(Some(d)));
        set.map_err(|e| ConnError::io(&self.addr, "setting a timeout", d, e))?;
        self.timeout = d;
        Ok(())
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.what = command_name(bytes);
        // a stop ends a write blocked on a server that does not read
        let r = crate::stop::write_all(&mut self.stream, bytes, Some(self.timeout));
        r.map_err(|e| ConnError::io(&self.addr, &self.what, self.timeout, e))
    }

    /// Reads the next reply.
    pub fn read_reply(&mut self) -> Result<Reply, ConnError> {
        loop {
            match self.builder.parse(&self.rbuf, self.rpos) {
                Ok((r, next)) => {
                    self.rpos = next;
                    if self.rpos == self.rbuf.len() {
                        self.rbuf.clear();
                        self.rpos = 0;
                    }
                    return Ok(r);
                }
                Err(ParseError::Invalid(msg)) => {
                    return Err(ConnError::Protocol { addr: self.addr.clone(), msg });
                }
                Err(ParseError::Incomplete) => {
                    if self.rpos > 0 {
                        self.rbuf.drain(..self.rpos);
                        self.rpos = 0;
                    }
                    if self.rbuf.len() > MAX_PENDING {
                        let msg = format!("a reply longer than {MAX_PENDING} bytes");
                        return Err(ConnError::Protocol { addr: self.addr.clone(), msg });
                    }
                    let start = self.rbuf.len();
                    self.rbuf.resize(start + (1 << 16), 0);
                    // a stop ends the wait for a server that does not answer (the read is
                    // interrupted, and not retried)
                    let wake = crate::stop::waking();
                    let r = self.stream.read(&mut self.rbuf[start..]);
                    drop(wake);
                    let n = *r.as_ref().unwrap_or(&0);
                    self.rbuf.truncate(start + n);
                    match r {
                        Ok(0) => {
                            return Err(ConnError::Closed {
                                addr: self.addr.clone(),
                                what: self.what.clone(),
                            });
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                            if let Some(sig) = crate::stop::requested() {
                                let source =
                                    std::io::Error::other(crate::stop::error(sig).to_string());
                                return Err(ConnError::Io {
                                    addr: self.addr.clone(),
                                    what: self.what.clone(),
                                    source,
                                });
                            }
                        }
                        Err(e) => {
                            return Err(ConnError::io(&self.addr, &self.what, self.timeout, e));
                        }
                    }
                }
            }
        }
    }

    /// The stream, for pipelining by hand; call only when no reply is pending.
    pub fn into_stream(self) -> Stream {
        self.stream
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, ConnError> {
        let mut b = Vec::new();
        crate::resp::command::write(&mut b, args);
        self.send_raw(&b)?;
        self.read_reply()
    }

    /// `call` with string arguments.
    pub fn cmd(&mut self, args: &[&str]) -> Result<Reply, ConnError> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.call(&a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::secs;

    #[test]
    fn names_commands_not_arguments() {
        let mut b = Vec::new();
        crate::resp::command::write(&mut b, &[b"AUTH", b"alice", b"secret"]);
        assert_eq!(command_name(&b), "AUTH");
        b.clear();
        crate::resp::command::write(&mut b, &[b"info", b"Server"]);
        assert_eq!(command_name(&b), "INFO server");
        b.clear();
        crate::resp::command::write(&mut b, &[b"PING"]);
        crate::resp::command::write(&mut b, &[b"SET", b"k", b"v"]);
        assert_eq!(command_name(&b), "PING");
        assert_eq!(command_name(b"garbage"), "?");
        assert_eq!(command_name(b"*2\r\n$99999999999999999999\r\n"), "?");
        assert_eq!(secs(Duration::from_secs(2)), "2 s");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5 s");
    }
}
