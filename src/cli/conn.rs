//! How `load` and `verify` reach the target: credentials, TLS, timeouts (redis-cli's option
//! names where they do not clash with ours).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rdbshift::net::tls::TlsOpts;
use rdbshift::net::url::{Secret, Timeouts, Url};

/// The help section of these options.
const H: &str = "Connection";

/// Connection options shared by load and verify.
///
/// The password is the first of: `--askpass`, the URL's, `REDISCLI_AUTH`. The user is
/// `--user`, else the URL's, else none (the default user).
#[derive(Args, Clone, Debug)]
pub struct ConnArgs {
    /// Authenticate as this ACL user (instead of the URL's user). Its password is the first
    /// of: --askpass, the URL's, the REDISCLI_AUTH environment variable.
    #[arg(long, help_heading = H, value_name = "NAME")]
    pub user: Option<String>,
    /// Ask for the password (on the terminal, echo off; else one line of stdin). Comes before
    /// the URL's password and REDISCLI_AUTH.
    #[arg(long, help_heading = H)]
    pub askpass: bool,
    /// Seconds to wait for a server that owes replies, or for room to write to it; then the
    /// connection counts as dead (reconnected, its keys retried). Connecting waits at most
    /// 10 s (or SECS if less). An idle connection never times out.
    #[arg(long, help_heading = H, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Use TLS (as a rediss:// URL does).
    #[arg(long, help_heading = H)]
    pub tls: bool,
    /// TLS: CA certificates (PEM) to check the server's certificate with (default: the
    /// public web roots).
    #[arg(long, help_heading = H, value_name = "FILE", alias = "tls-ca")]
    pub cacert: Option<PathBuf>,
    /// TLS: a directory of CA certificates (PEM), with or besides --cacert.
    #[arg(long, help_heading = H, value_name = "DIR")]
    pub cacertdir: Option<PathBuf>,
    /// TLS: client certificate (PEM) for servers that check clients (tls-auth-clients); the
    /// file may hold its private key too.
    #[arg(long, help_heading = H, value_name = "FILE", alias = "tls-cert")]
    pub cert: Option<PathBuf>,
    /// TLS: the client certificate's private key (PEM: PKCS#8, RSA or EC). (redis-cli calls
    /// it --key, which here selects keys.)
    #[arg(long, help_heading = H, value_name = "FILE", requires = "cert")]
    pub tls_key: Option<PathBuf>,
    /// TLS: the server name to send (SNI) and to check the certificate for, instead of the
    /// URL's host.
    #[arg(long, help_heading = H, value_name = "NAME")]
    pub sni: Option<String>,
    /// TLS: accept any server certificate (self-signed test setups; not for production).
    #[arg(long, help_heading = H, alias = "tls-insecure")]
    pub insecure: bool,
}

/// Printed when a password was given in the command line.
pub const ARGV_PASSWORD_WARNING: &str = "rdbshift: warning: a password in the command line may be visible to other \
     users (use REDISCLI_AUTH or --askpass)";

impl ConnArgs {
    /// The target: its URL with the credentials, TLS options and timeouts these options
    /// give. Warns on stderr about a password in the command line and about `--insecure`;
    /// checks the TLS files now rather than at the first connection.
    pub fn url(&self, target: &str) -> Result<Url, String> {
        let mut u = Url::parse(target)?;
        if u.password.is_some() {
            eprintln!("{ARGV_PASSWORD_WARNING}");
        }
        if rdbshift::net::url::lone_password(target)
            && std::env::var("REDISCLI_AUTH").is_ok_and(|p| !p.is_empty())
            && !self.askpass
        {
            eprintln!(
                "rdbshift: warning: the name before @ in the URL is taken as a password (as redis-cli reads it), so REDISCLI_AUTH is not used; for a user, give --user NAME"
            );
        }
        if let Some(user) = &self.user {
            u.user = Some(user.clone());
        }
        if self.askpass {
            u.password = Some(ask_password()?);
        } else if u.password.is_none() {
            u.password =
                std::env::var("REDISCLI_AUTH").ok().filter(|p| !p.is_empty()).map(Secret::new);
        }
        if u.password.is_none() && u.user.is_some() {
            return Err("--user needs a password: from --askpass, the URL, or REDISCLI_AUTH".into());
        }
        u.timeouts = Timeouts::new(Duration::from_secs(self.timeout));
        u.tls |= self.tls;
        u.tls_opts = TlsOpts {
            ca: self.cacert.clone(),
            ca_dir: self.cacertdir.clone(),
            key: self.tls_key.clone().or_else(|| self.cert.clone()),
            cert: self.cert.clone(),
            sni: self.sni.clone(),
            insecure: self.insecure,
        };
        if u.tls_opts.any() && !u.tls {
            return Err(
                "TLS options were given for a redis:// target: use rediss:// (or --tls)".into()
            );
        }
        if u.tls {
            rdbshift::net::tls::config(&u.tls_opts)?;
            if self.insecure {
                eprintln!(
                    "rdbshift: warning: --insecure: the server's certificate is not checked, so anyone on the \
                     network path can read and change the data"
                );
            }
        }
        Ok(u)
    }
}

/// Reads a password: on a terminal, after a prompt, with echo off (as redis-cli --askpass);
/// otherwise one line of stdin.
fn ask_password() -> Result<Secret, String> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    let r = if stdin.is_terminal() {
        eprint!("Please input password: ");
        let r = {
            let _quiet = EchoOff::new();
            stdin.lock().read_line(&mut line)
        };
        eprintln!();
        r
    } else {
        stdin.lock().read_line(&mut line)
    };
    r.map_err(|e| format!("--askpass: {e}"))?;
    let p = line.strip_suffix('\n').unwrap_or(&line);
    let p = p.strip_suffix('\r').unwrap_or(p);
    if p.is_empty() {
        return Err("--askpass: no password given".into());
    }
    Ok(Secret::new(p))
}

/// The terminal on stdin with echo off, until dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: tcgetattr fills the termios it is given (zeroed is a valid value of this
        // plain C struct); tcsetattr only reads it. Both act on fd 0, which stays open.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return EchoOff(None);
            }
            let old = t;
            t.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(0, libc::TCSAFLUSH, &t) != 0 {
                return EchoOff(None);
            }
            EchoOff(Some(old))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            // SAFETY: as in `new`: restores the settings read there.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, old);
            }
        }
    }
}
