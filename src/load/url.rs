//! `redis://[user[:password]@]host[:port][/db]` and `rediss://` (TLS). The password may also
//! come from `REDISCLI_AUTH`, as with redis-cli. [`Url`]'s `Display` never shows it.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: Option<u64>,
    /// `rediss://`: how to check the server (`--tls-ca`, `--tls-insecure`).
    pub tls_opts: super::tls::TlsOpts,
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}://", if self.tls { "rediss" } else { "redis" })?;
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        write!(f, "{}:{}", self.host, self.port)?;
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
    /// Parses a URL; `env_password` is used when the URL has none (`REDISCLI_AUTH`).
    pub fn parse(s: &str, env_password: Option<String>) -> Result<Url, String> {
        let bad =
            |why: &str| format!("bad target {:?}: {why} (expected redis://[user:password@]host:port[/db])", redact(s));
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
                    password = Some(percent_decode(p).map_err(|e| bad(&e))?);
                }
                // a lone word is a password (as redis-cli -u reads `redis://pass@host`)
                None => password = Some(percent_decode(a).map_err(|e| bad(&e))?),
            }
        }
        let (hostport, db) = match hostpart.split_once('/') {
            Some((h, "")) => (h, None),
            Some((h, d)) => (h, Some(d.parse::<u64>().map_err(|_| bad("the db must be a number"))?)),
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
        Ok(Url { tls, host, port, user, password: password.or(env_password), db, tls_opts: Default::default() })
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

/// `s` with any password replaced by `***`, for messages.
pub fn redact(s: &str) -> String {
    match (s.find("://"), s.rfind('@')) {
        (Some(a), Some(b)) if b > a => {
            let auth = &s[a + 3..b];
            let shown = match auth.split_once(':') {
                Some((u, _)) => format!("{u}:***"),
                None => "***".into(),
            };
            format!("{}{}{}", &s[..a + 3], shown, &s[b..])
        }
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let u = Url::parse("redis://127.0.0.1:7000", None).unwrap();
        assert_eq!((u.host.as_str(), u.port, u.tls, u.db), ("127.0.0.1", 7000, false, None));
        let u = Url::parse("rediss://alice:s%40cret@db.example:6380/3", None).unwrap();
        assert_eq!(
            (u.user.as_deref(), u.password.as_deref(), u.db, u.tls),
            (Some("alice"), Some("s@cret"), Some(3), true)
        );
        assert_eq!(u.to_string(), "rediss://alice@db.example:6380/3");
        let u = Url::parse("redis://:pw@h", Some("env".into())).unwrap();
        assert_eq!((u.user, u.password.as_deref(), u.port), (None, Some("pw"), 6379));
        let u = Url::parse("redis://h:1", Some("env".into())).unwrap();
        assert_eq!(u.password.as_deref(), Some("env"));
        assert!(Url::parse("http://h:1", None).is_err());
        assert!(Url::parse("redis://h:x", None).is_err());
        let e = Url::parse("redis://u:topsecret@h:x", None).unwrap_err();
        assert!(!e.contains("topsecret"), "{e}");
        assert_eq!(Url::parse("redis://[::1]:7000", None).unwrap().addr(), "[::1]:7000");
    }
}
