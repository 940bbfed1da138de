//! A small blocking RESP connection: send commands, read replies (pipelined or one by one).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::reply::{ParseError, Reply, parse};

pub struct Conn {
    stream: TcpStream,
    rbuf: Vec<u8>,
    rpos: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("connection closed by the server")]
    Closed,
}

impl Conn {
    pub fn connect(addr: &str, timeout: Duration) -> Result<Conn, ConnError> {
        Self::from_stream(TcpStream::connect(addr)?, timeout)
    }

    /// A connection over an established stream (a TLS pump's local end, for one).
    pub fn from_stream(stream: TcpStream, timeout: Duration) -> Result<Conn, ConnError> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Conn { stream, rbuf: Vec::with_capacity(1 << 16), rpos: 0 })
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Reads the next reply.
    pub fn read_reply(&mut self) -> Result<Reply, ConnError> {
        loop {
            match parse(&self.rbuf, self.rpos) {
                Ok((r, next)) => {
                    self.rpos = next;
                    if self.rpos == self.rbuf.len() {
                        self.rbuf.clear();
                        self.rpos = 0;
                    }
                    return Ok(r);
                }
                Err(ParseError::Invalid(m)) => return Err(ConnError::Protocol(m)),
                Err(ParseError::Incomplete) => {
                    if self.rpos > 0 {
                        self.rbuf.drain(..self.rpos);
                        self.rpos = 0;
                    }
                    let mut tmp = [0u8; 1 << 16];
                    let n = self.stream.read(&mut tmp)?;
                    if n == 0 {
                        return Err(ConnError::Closed);
                    }
                    self.rbuf.extend_from_slice(&tmp[..n]);
                }
            }
        }
    }

    /// The socket, for pipelining by hand; call only when no reply is pending.
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, ConnError> {
        let mut b = Vec::new();
        super::command::write(&mut b, args);
        self.send_raw(&b)?;
        self.read_reply()
    }

    /// `call` with string arguments.
    pub fn cmd(&mut self, args: &[&str]) -> Result<Reply, ConnError> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.call(&a)
    }
}
