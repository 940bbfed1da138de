//! The byte stream under a RESP connection: plain TCP or TLS behind one interface.
//!
//! A [`Stream`] is `Read + Write`, and splits into a [`ReadHalf`] (a pipelined connection's
//! reader thread) and a [`WriteHalf`] (the loader), which work at the same time. For TCP the
//! halves are two handles of one socket. For TLS they share the rustls session:
//!
//! - the session (`conn`) sits behind a mutex that is held only while bytes are decrypted or
//!   encrypted, never during socket I/O, so a reader blocked on the socket never blocks the
//!   writer, and a writer blocked on a full socket never keeps the reader from draining
//!   replies (which would deadlock against a server waiting for us to read);
//! - TLS records go to the socket under a second mutex (`out`), taken before the records are
//!   produced and held until they are written, so records leave in the order rustls made
//!   them. The reader only ever *tries* that lock (it must not wait behind a blocked
//!   writer); what it cannot send, the holder sends (`TlsShared::flush` says why none is left behind).
//!
//! No extra threads, sockets or copies through the loopback interface.
//!
//! Timeouts are the socket's (`SO_RCVTIMEO`, `SO_SNDTIMEO`): a read or write that waits
//! longer fails with `WouldBlock` or `TimedOut`, and a TLS read that times out loses no
//! bytes (what arrived is kept for the next call).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use rustls::ClientConnection;

/// Whether an I/O error is a socket timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO` give `WouldBlock`
/// on Unix, `TimedOut` elsewhere; `connect_timeout` gives `TimedOut`).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Opens a TCP connection to `addr` (host:port), trying each address it resolves to, each
/// for at most `timeout`.
pub fn connect_tcp(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address");
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A rustls error as an I/O error, with a hint where the usual cause is known.
pub fn tls_error(e: rustls::Error) -> io::Error {
    use rustls::AlertDescription as A;
    let msg = match &e {
        rustls::Error::AlertReceived(A::CertificateRequired) => {
            "TLS: the server requires a client certificate (give --cert FILE and --tls-key FILE)"
                .to_string()
        }
        rustls::Error::AlertReceived(
            a @ (A::BadCertificate | A::UnknownCA | A::CertificateUnknown),
        ) => {
            format!("TLS: the server refused our client certificate ({a:?})")
        }
        rustls::Error::InvalidCertificate(_) => format!(
            "TLS: the server's certificate is not accepted: {e} (--cacert FILE names the CA that signed it, \
             --sni NAME the name it is for, --insecure skips the check)"
        ),
        other => format!("TLS: {other}"),
    };
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// An I/O error from rustls' own calls (`complete_io` wraps a `rustls::Error`), with hints.
pub fn tls_io_error(e: io::Error) -> io::Error {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()).cloned();
    match inner {
        Some(t) => tls_error(t),
        None => e,
    }
}

/// A connection's byte stream. Reads go through the read half and writes through the write
/// half, so using it whole or split behaves the same.
pub struct Stream {
    r: ReadHalf,
    w: WriteHalf,
}

impl Stream {
    pub fn tcp(s: TcpStream) -> io::Result<Stream> {
        let r = s.try_clone()?;
        Ok(Stream { r: ReadHalf(Rd::Tcp(r)), w: WriteHalf(Wr::Tcp(s)) })
    }

    /// A TLS stream over `sock`, for a session whose handshake is done (or still to do: the
    /// first reads and writes carry it on).
    pub fn tls(sock: TcpStream, mut conn: ClientConnection) -> io::Result<Stream> {
        // fewer, larger socket writes than the 64 KiB default
        conn.set_buffer_limit(Some(256 << 10));
        let sh = Arc::new(TlsShared {
            conn: Mutex::new(conn),
            out: Mutex::new(Outbound { sock: sock.try_clone()?, buf: Vec::new() }),
            pending: AtomicBool::new(false),
            sock: sock.try_clone()?,
        });
        let r = TlsReader {
            sh: sh.clone(),
            sock,
            buf: vec![0; 1 << 17].into_boxed_slice(),
            start: 0,
            end: 0,
        };
        Ok(Stream { r: ReadHalf(Rd::Tls(r)), w: WriteHalf(Wr::Tls(sh)) })
    }

    pub fn split(self) -> (ReadHalf, WriteHalf) {
        (self.r, self.w)
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.r.set_timeout(t)
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.w.set_timeout(t)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.r.read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// The reading side of a [`Stream`].
pub struct ReadHalf(Rd);

enum Rd {
    Tcp(TcpStream),
    Tls(TlsReader),
}

impl ReadHalf {
    fn sock(&self) -> &TcpStream {
        match &self.0 {
            Rd::Tcp(s) => s,
            Rd::Tls(t) => &t.sock,
        }
    }

    /// How long a read may wait (`None`: forever).
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock().set_read_timeout(t)
    }

    /// Closes the connection both ways (the other half's calls fail from then on).
    pub fn shutdown(&self) {
        let _ = self.sock().shutdown(Shutdown::Both);
    }
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Rd::Tcp(s) => s.read(buf),
            Rd::Tls(t) => t.read(buf),
        }
    }
}

/// The writing side of a [`Stream`].
pub struct WriteHalf(Wr);

enum Wr {
    Tcp(TcpStream),
    Tls(Arc<TlsShared>),
}

impl WriteHalf {
    /// How long a write may wait for room in the socket (`None`: forever).
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match &self.0 {
            Wr::Tcp(s) => s.set_write_timeout(t),
            Wr::Tls(sh) => sh.sock.set_write_timeout(t),
        }
    }

    /// Closes the connection both ways, so that a reader blocked on it wakes up.
    pub fn shutdown(&self) {
        match &self.0 {
            Wr::Tcp(s) => {
                let _ = s.shutdown(Shutdown::Both);
            }
            // not through `out`: a writer blocked in the socket holds it
            Wr::Tls(sh) => {
                let _ = sh.sock.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Write for WriteHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Wr::Tcp(s) => s.write(buf),
            Wr::Tls(sh) => loop {
                let n = lock(&sh.conn).writer().write(buf)?;
                sh.flush(true)?;
                // 0 only when rustls' send buffer was full; the flush emptied it
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
            },
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Wr::Tcp(s) => s.flush(),
            Wr::Tls(sh) => sh.flush(true),
        }
    }
}

/// What both halves of a TLS stream share.
struct TlsShared {
    /// The session: held only to decrypt or encrypt, never across socket I/O.
    conn: Mutex<ClientConnection>,
    /// The socket's sending side, and a buffer for records on their way: held from taking
    /// records out of `conn` until they are written, so they leave in order.
    out: Mutex<Outbound>,
    /// Records may be waiting in `conn` that nobody has taken to send yet.
    pending: AtomicBool,
    /// A handle of the socket for its options and shutdown, which need no lock.
    sock: TcpStream,
}

struct Outbound {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl TlsShared {
    /// Sends the records waiting in the session. With `wait`, waits for the sending side;
    /// without (the reader), leaves them to whoever holds it.
    ///
    /// Why none are left behind: a caller queues its records in `conn`, then sets `pending`,
    /// then takes `out` (or tries to). The holder of `out` clears `pending` before it drains
    /// `conn`, and looks at `pending` again after releasing `out`. So a caller whose try
    /// failed set `pending` while the holder still held `out`, and the holder, seeing it
    /// set, drains again.
    fn flush(&self, wait: bool) -> io::Result<()> {
        self.pending.store(true, Ordering::SeqCst);
        let mut wait = wait;
        loop {
            let mut o = if wait {
                lock(&self.out)
            } else {
                match self.out.try_lock() {
                    Ok(g) => g,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(TryLockError::WouldBlock) => return Ok(()),
                }
            };
            self.pending.store(false, Ordering::SeqCst);
            loop {
                let Outbound { sock, buf } = &mut *o;
                buf.clear();
                {
                    let mut c = lock(&self.conn);
                    while c.wants_write() {
                        c.write_tls(buf)?;
                    }
                }
                if buf.is_empty() {
                    break;
                }
                // a stop ends a write blocked on a server that does not read
                let timeout = sock.write_timeout().ok().flatten();
                crate::stop::write_all(sock, buf, timeout)?;
            }
            drop(o);
            if !self.pending.load(Ordering::SeqCst) {
                return Ok(());
            }
            wait = false;
        }
    }
}

/// The reading side of a TLS stream: reads the socket without holding the session, then
/// decrypts under it.
struct TlsReader {
    sh: Arc<TlsShared>,
    sock: TcpStream,
    /// Records read from the socket; `start..end` not yet given to the session.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Read for TlsReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let mut c = lock(&self.sh.conn);
            match c.reader().read(out) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // the peer closed the TCP connection without a TLS close_notify: an end all
                // the same (servers do that)
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.start < self.end {
                // no plaintext is waiting (it was all read above), so the session takes
                // records until its buffer of plaintext is full again
                let mut rd = &self.buf[self.start..self.end];
                let n = c.read_tls(&mut rd)?;
                self.start = if n == 0 { self.end } else { self.start + n };
                let st = c.process_new_packets();
                let reply = c.wants_write();
                drop(c);
                if let Err(e) = st {
                    // rustls queued an alert for the peer; send it if we can
                    let _ = self.sh.flush(false);
                    return Err(tls_error(e));
                }
                if reply {
                    self.sh.flush(false)?;
                }
                continue;
            }
            drop(c);
            // the socket, without the session: a writer goes on meanwhile
            let n = self.sock.read(&mut self.buf)?;
            if n == 0 {
                let mut c = lock(&self.sh.conn);
                c.read_tls(&mut &[][..])?;
                return match c.reader().read(out) {
                    Ok(n) => Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                    Err(e) => Err(e),
                };
            }
            (self.start, self.end) = (0, n);
        }
    }
}
