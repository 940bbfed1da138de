//! Opening a connection to one node: TCP or TLS, `AUTH`, `PING`, and the db it works in.

use std::time::Duration;

use super::client::Conn;
use super::error::Error;
use super::transport::{Stream, connect_tcp};
use super::url::Url;
use crate::resp::Reply;

/// Connects to `addr`, authenticates, and checks that the server answers: TCP (waiting at
/// most the smaller of `connect` and the URL's connect timeout), TLS for `rediss://`, `AUTH`
/// with the URL's credentials, `PING` (each waiting at most the URL's I/O timeout). Every
/// error names `addr` and the step: `timed out after 2 s waiting for 127.0.0.1:7000 (PING)`.
pub fn handshake(url: &Url, addr: &str, connect: Duration) -> Result<Conn, Error> {
    let t = url.timeouts;
    let connect = connect.min(t.connect);
    let sock = connect_tcp(addr, connect).map_err(|e| Error::io(addr, "connect", connect, e))?;
    let stream = if url.tls {
        let host = addr.rsplit_once(':').map_or(addr, |x| x.0);
        super::tls::handshake(sock, host, addr, &url.tls_opts, connect)?
    } else {
        Stream::tcp(sock).map_err(|e| Error::io(addr, "connect", connect, e))?
    };
    let mut c = Conn::new(stream, addr, t.io)?;
    if let Some(p) = &url.password {
        let r = match &url.user {
            Some(u) => c.cmd(&["AUTH", u, p.expose()]),
            None => c.cmd(&["AUTH", p.expose()]),
        }?;
        if let Reply::Error(e) = r {
            return Err(Error::refused(addr, "authentication", &e));
        }
    }
    match c.cmd(&["PING"])? {
        Reply::Error(e) => Err(Error::refused(addr, "", &e)),
        _ => Ok(c),
    }
}

/// [`handshake`], then `SELECT db` (unless 0) with its answer checked: nothing sent on the
/// connection afterwards can run in another db.
pub fn handshake_in_db(url: &Url, addr: &str, db: u64, connect: Duration) -> Result<Conn, Error> {
    let mut c = handshake(url, addr, connect)?;
    if db != 0
        && let Reply::Error(e) = c.cmd(&["SELECT", &db.to_string()])?
    {
        return Err(Error::refused(addr, &format!("SELECT {db}"), &e));
    }
    Ok(c)
}
