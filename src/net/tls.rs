//! `rediss://`: TLS with rustls, with redis-cli's options. This module builds the client
//! configuration and does the handshake; the session then lives in a
//! [`Stream`], the same transport as plain TCP.
//!
//! - The server's certificate is checked against `--cacert FILE` and the certificates in
//!   `--cacertdir DIR`, or without either, the public web roots; `--insecure` accepts any
//!   certificate (self-signed test setups).
//! - The name checked, and sent as SNI, is the URL's host or `--sni NAME`. (rustls sends no
//!   SNI for an IP address.)
//! - `--cert FILE` and `--key FILE` give a client certificate (a server with
//!   `tls-auth-clients yes`, the default, asks for one). The key may be PKCS#8, PKCS#1 (RSA)
//!   or SEC1 (EC), in PEM.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::error::Error;
use super::transport::{Stream, tls_io_error};

/// How to check the server and what to show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOpts {
    /// `--cacert`: CA certificates (PEM).
    pub ca: Option<PathBuf>,
    /// `--cacertdir`: a directory of CA certificates (PEM files; others are passed over).
    pub ca_dir: Option<PathBuf>,
    /// `--cert`, `--key`: the client certificate (chain) and its private key (PEM).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `--sni`: the server name to send and check, instead of the URL's host.
    pub sni: Option<String>,
    /// `--insecure`: accept any server certificate.
    pub insecure: bool,
}

impl TlsOpts {
    /// Whether any option beyond the defaults was given.
    pub fn any(&self) -> bool {
        *self != TlsOpts::default()
    }
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

fn pem_certs(p: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(p)
        .map_err(|e| format!("{}: {e}", p.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", p.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it (PEM expected)", p.display()));
    }
    Ok(certs)
}

fn roots(o: &TlsOpts) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if o.ca.is_none() && o.ca_dir.is_none() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    }
    let mut add = |p: &Path, c: CertificateDer<'static>| {
        roots.add(c).map_err(|e| format!("{}: {e}", p.display()))
    };
    if let Some(p) = &o.ca {
        for c in pem_certs(p)? {
            add(p, c)?;
        }
    }
    if let Some(d) = &o.ca_dir {
        let mut n = 0;
        let mut files: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| format!("{}: {e}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for p in files {
            // OpenSSL's hashed links and plain .pem/.crt files alike; others hold no PEM
            for c in pem_certs(&p).unwrap_or_default() {
                add(&p, c)?;
                n += 1;
            }
        }
        if n == 0 {
            return Err(format!("{}: no PEM certificate in this directory", d.display()));
        }
    }
    Ok(roots)
}

/// The client configuration for `o` (reads the files it names).
pub fn config(o: &TlsOpts) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if o.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
    } else {
        builder.with_root_certificates(roots(o)?)
    };
    let cfg = match (&o.cert, &o.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(c), Some(k)) => {
            let chain = pem_certs(c)?;
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| {
                format!(
                    "{}: no private key read (PKCS#8, RSA or EC in PEM expected): {e}",
                    k.display()
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("{} and {}: {e}", c.display(), k.display()))?
        }
        _ => return Err("a client certificate needs both --cert FILE and --key FILE".into()),
    };
    Ok(Arc::new(cfg))
}

/// The TLS handshake with `addr` over the connected `sock`, waiting at most `timeout` for
/// each read and write. The server is checked for `--sni` or else `host`.
pub fn handshake(
    mut sock: TcpStream,
    host: &str,
    addr: &str,
    o: &TlsOpts,
    timeout: Duration,
) -> Result<Stream, Error> {
    let what = "TLS handshake";
    let name = o.sni.as_deref().unwrap_or(host).trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(name.to_string())
        .map_err(|e| Error::Tls(format!("{addr}: server name {name:?}: {e}")))?;
    let mut conn = ClientConnection::new(config(o).map_err(Error::Tls)?, name)
        .map_err(|e| Error::Tls(format!("{addr}: {e}")))?;
    let io = |e| Error::io(addr, what, timeout, tls_io_error(e));
    sock.set_read_timeout(Some(timeout)).map_err(io)?;
    sock.set_write_timeout(Some(timeout)).map_err(io)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(io)?;
    }
    Stream::tls(sock, conn).map_err(io)
}
