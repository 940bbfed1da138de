//! `redis://[[user]:password@]host[:port][/db]` (a lone `password@` too, as redis-cli reads
//! it) and `rediss://` (TLS), and how to reach the
//! server: credentials, TLS options, timeouts.
//!
//! Secrets: a password lives in a [`Secret`], whose `Debug` and `Display` print `***`;
//! [`Url`]'s `Display` and `Debug` never show it. Text that may hold a URL typed by a person
//! (well-formed or not) goes through [`redact`] before it is printed.

use std::fmt;
use std::time::Duration;

/// A password. It is shown nowhere: `Debug` and `Display` print `***`; only
/// [`Secret::expose`] gives it, for `AUTH`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("***")
    }
}

/// How long to wait for a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection (TCP, then the TLS handshake).
    pub connect: Duration,
    /// A reply owed (a connection owing nothing waits as long as it likes), or room to
    /// write. A single big `RESTORE` may legitimately take seconds.
    pub io: Duration,
}

impl Timeouts {
    /// The default wait for connecting.
    pub const CONNECT: Duration = Duration::from_secs(10);
    /// The default wait for replies and writes.
    pub const IO: Duration = Duration::from_secs(60);

    /// `--timeout SECS`: replies and writes wait `io`; connecting waits the smaller of it
    /// and [`Timeouts::CONNECT`].
    pub fn new(io: Duration) -> Timeouts {
        Timeouts { connect: io.min(Self::CONNECT), io }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Self::CONNECT, io: Self::IO }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub db: Option<u64>,
    /// `rediss://`: how to check the server, and the client certificate.
    pub tls_opts: super::tls::TlsOpts,
    pub timeouts: Timeouts,
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}://", if self.tls { "rediss" } else { "redis" })?;
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        write!(f, "{}", self.addr())?;
        if let Some(d) = self.db {
            write!(f, "/{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("bad %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 after %-decoding".to_string())
}

impl Url {
    /// Parses a URL (with the default TLS options and timeouts). An error shows the URL only
    /// through [`redact`].
    pub fn parse(s: &str) -> Result<Url, String> {
        let bad = |why: &str| {
            format!(
                "bad target {:?}: {why} (expected redis://[[user]:password@]host:port[/db])",
                redact(s)
            )
        };
        let (tls, rest) = if let Some(r) = s.strip_prefix("redis://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("rediss://") {
            (true, r)
        } else {
            return Err(bad("the scheme must be redis:// or rediss://"));
        };
        let (auth, hostpart) = match rest.rfind('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (mut user, mut password) = (None, None);
        if let Some(a) = auth {
            match a.split_once(':') {
                Some((u, p)) => {
                    if !u.is_empty() {
                        user = Some(percent_decode(u).map_err(|e| bad(&e))?);
                    }
                    password = Some(Secret(
                        percent_decode(p).map_err(|_| bad("bad %-escape in the password"))?,
                    ));
                }
                // a lone word is a password (as redis-cli -u reads `redis://pass@host`)
                None => {
                    password = Some(Secret(
                        percent_decode(a).map_err(|_| bad("bad %-escape in the password"))?,
                    ))
                }
            }
        }
        let (hostport, db) = match hostpart.split_once('/') {
            Some((h, "")) => (h, None),
            Some((h, d)) => {
                (h, Some(d.parse::<u64>().map_err(|_| bad("the db must be a number"))?))
            }
            None => (hostpart, None),
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, p) = h.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("the port must be a number"))?,
            None => 6379,
        };
        Ok(Url {
            tls,
            host,
            port,
            user,
            password,
            db,
            tls_opts: Default::default(),
            timeouts: Timeouts::default(),
        })
    }

    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The same credentials at another node (cluster redirects give host:port).
    pub fn at(&self, addr: &str) -> Url {
        let (h, p) = addr.rsplit_once(':').unwrap_or((addr, "6379"));
        Url {
            host: h.trim_start_matches('[').trim_end_matches(']').to_string(),
            port: p.parse().unwrap_or(6379),
            ..self.clone()
        }
    }
}

/// Whether the URL's credentials are a lone name (`redis://NAME@host`), which is read as a
/// password, as redis-cli reads it, and not as a user.
pub fn lone_password(s: &str) -> bool {
    let rest = s.split_once("://").map_or(s, |x| x.1);
    match rest.rfind('@') {
        Some(i) => !rest[..i].contains(':'),
        None => false,
    }
}

/// `s` safe to print: if it has an `@`, everything between its scheme (leading letters, then
/// `:` and one or two `/`, however mistyped; else the start) and its last `@` becomes `***`. Made for
/// URLs typed by a person, well-formed or not: `redis:/u:pw@h`, `redis//:pw@h:1` and
/// `u:pw@h` all lose their password. Text without `@` holds no credentials (a URL's
/// password always ends at an `@`) and is returned as it is.
pub fn redact(s: &str) -> String {
    let Some(at) = s.rfind('@') else { return s.to_string() };
    let b = s.as_bytes();
    // a scheme: letters, perhaps a `:`, and one or two `/`; anything else counts as none
    let letters = b.iter().take_while(|c| c.is_ascii_alphanumeric() || b"+.-".contains(c)).count();
    let colon = (b.get(letters) == Some(&b':')) as usize;
    let slashes = b[letters + colon..].iter().take(2).take_while(|&&c| c == b'/').count();
    let p = if letters > 0 && slashes > 0 && letters + colon + slashes <= at {
        letters + colon + slashes
    } else {
        0
    };
    format!("{}***{}", &s[..p], &s[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let u = Url::parse("redis://127.0.0.1:7000").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.tls, u.db), ("127.0.0.1", 7000, false, None));
        let u = Url::parse("rediss://alice:s%40cret@db.example:6380/3").unwrap();
        assert_eq!(
            (u.user.as_deref(), u.password.as_ref().map(Secret::expose), u.db, u.tls),
            (Some("alice"), Some("s@cret"), Some(3), true)
        );
        assert_eq!(u.to_string(), "rediss://alice@db.example:6380/3");
        assert!(
            !format!("{u:?} {:?} {}", u.password, u.password.clone().unwrap()).contains("cret")
        );
        let u = Url::parse("redis://:pw@h").unwrap();
        assert_eq!(
            (u.user, u.password.as_ref().map(Secret::expose), u.port),
            (None, Some("pw"), 6379)
        );
        let u = Url::parse("redis://p@ss@h:1").unwrap();
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("p@ss"));
        assert!(Url::parse("http://h:1").is_err());
        assert!(Url::parse("redis://h:x").is_err());
        assert_eq!(Url::parse("redis://[::1]:7000").unwrap().addr(), "[::1]:7000");
        assert_eq!(Url::parse("redis://[::1]:7000").unwrap().to_string(), "redis://[::1]:7000");
    }

    #[test]
    fn a_lone_name_is_a_password() {
        assert!(lone_password("redis://alice@h:1"));
        assert!(lone_password("rediss://alice@h"));
        assert!(!lone_password("redis://alice:pw@h"));
        assert!(!lone_password("redis://:pw@h"));
        assert!(!lone_password("redis://h:6379/2"));
        let u = Url::parse("redis://alice@h:1").unwrap();
        assert_eq!(
            (u.user.as_deref(), u.password.as_ref().map(Secret::expose)),
            (None, Some("alice"))
        );
    }

    #[test]
    fn no_password_is_ever_shown() {
        let cases = [
            "redis://u:topsecret@h:1",
            "redis://u:topsecret@h:notaport",
            "redis://:topsecret@h:1/x",
            "redis://topsecret@h",
            "redis:/u:topsecret@h",
            "redis//:topsecret@h:1",
            "redis:u:topsecret@h",
            "redi://u:topsecret@h",
            "REDIS://U:topsecret@h",
            "u:topsecret@h",
            ":topsecret@h",
            "topsecret@h",
            "redis://u:top@secret@h",
            "redis://:/topsecret@h",
            "redis:///topsecret@h",
            "redis://:topsecret@[::1",
            "rediss://u:to%zzpsecret@h",
            " redis://u:topsecret@h",
            "x redis://u:topsecret@h",
        ];
        for c in cases {
            let r = redact(c);
            for part in ["topsecret", "secret", "top"] {
                assert!(!r.contains(part), "{c:?} -> {r:?}");
            }
            assert!(r.contains("***@"), "{c:?} -> {r:?}");
            if let Err(e) = Url::parse(c) {
                assert!(!e.contains("secret") && !e.contains("top"), "{c:?}: {e}");
            }
        }
        assert_eq!(redact("redis:/u:pw@h"), "redis:/***@h");
        assert_eq!(redact("redis//:pw@h:1"), "redis//***@h:1");
        assert_eq!(redact("redis://u:pw@h:x"), "redis://***@h:x");
        assert_eq!(redact("u:pw@h"), "***@h");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        assert_eq!(redact("dump.rdb"), "dump.rdb");
    }
}
