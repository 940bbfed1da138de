//! `rediss://`: TLS with rustls. The TLS session lives in a small pump (two threads) that
//! hands the loader a plain loopback socket carrying the decrypted stream, so the
//! pipelined connection code (a writer and a reader thread on one socket) is the same for
//! TLS and plain TCP.
//!
//! Server certificates are checked against `--tls-ca FILE` or, without it, the public web
//! roots; `--tls-insecure` accepts any certificate (for tests and self-signed setups).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOpts {
    pub ca: Option<PathBuf>,
    pub insecure: bool,
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer,
        _: &[CertificateDer],
        _: &ServerName,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn config(o: &TlsOpts) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let cfg = if o.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider))).with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        match &o.ca {
            Some(p) => {
                for c in CertificateDer::pem_file_iter(p).map_err(|e| format!("{}: {e}", p.display()))? {
                    roots
                        .add(c.map_err(|e| format!("{}: {e}", p.display()))?)
                        .map_err(|e| format!("{}: {e}", p.display()))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(cfg))
}

/// Connects to `addr` (host:port, the certificate is checked for `host`) with TLS and
/// returns a plain local socket that carries the decrypted stream.
pub fn connect(host: &str, addr: &str, o: &TlsOpts, timeout: Duration) -> Result<TcpStream, String> {
    let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())
        .map_err(|e| format!("{host}: {e}"))?;
    let mut conn = ClientConnection::new(config(o)?, name).map_err(|e| e.to_string())?;
    let sock = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut raw = TcpStream::connect_timeout(&sock, timeout).map_err(|e| format!("{addr}: {e}"))?;
    raw.set_nodelay(true).ok();
    raw.set_read_timeout(Some(timeout)).ok();
    while conn.is_handshaking() {
        conn.complete_io(&mut raw).map_err(|e| format!("{addr}: TLS handshake: {e}"))?;
    }
    raw.set_read_timeout(None).ok();
    // the loader's end and the pump's end of a loopback connection
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let ours = TcpStream::connect(l.local_addr().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let (pump, _) = l.accept().map_err(|e| e.to_string())?;
    ours.set_nodelay(true).ok();
    pump.set_nodelay(true).ok();
    let conn = Arc::new(Mutex::new(conn));
    let stop = |a: &TcpStream, b: &TcpStream| {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    };
    // network -> loader
    {
        let (conn, mut raw_r, mut raw_w, mut local) = (
            conn.clone(),
            raw.try_clone().map_err(|e| e.to_string())?,
            raw.try_clone().map_err(|e| e.to_string())?,
            pump.try_clone().map_err(|e| e.to_string())?,
        );
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut plain = Vec::with_capacity(1 << 16);
            loop {
                let n = match raw_r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                {
                    let mut c = conn.lock().unwrap();
                    let mut rd = &buf[..n];
                    let mut failed = false;
                    while !rd.is_empty() && !failed {
                        failed = c.read_tls(&mut rd).is_err() || c.process_new_packets().is_err();
                        loop {
                            let start = plain.len();
                            plain.resize(start + (1 << 16), 0);
                            match c.reader().read(&mut plain[start..]) {
                                Ok(k) if k > 0 => plain.truncate(start + k),
                                _ => {
                                    plain.truncate(start);
                                    break;
                                }
                            }
                        }
                    }
                    while c.wants_write() {
                        if c.write_tls(&mut raw_w).is_err() {
                            failed = true;
                            break;
                        }
                    }
                    if failed {
                        break;
                    }
                }
                if local.write_all(&plain).is_err() {
                    break;
                }
                plain.clear();
            }
            stop(&raw_r, &local);
        });
    }
    // loader -> network
    {
        let (mut raw_w, mut local) = (raw, pump);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = match local.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut c = conn.lock().unwrap();
                if c.writer().write_all(&buf[..n]).is_err() {
                    break;
                }
                let mut ok = true;
                while c.wants_write() {
                    if c.write_tls(&mut raw_w).is_err() {
                        ok = false;
                        break;
                    }
                }
                if !ok {
                    break;
                }
            }
            stop(&raw_w, &local);
        });
    }
    Ok(ours)
}
