//! Which keys a command works on: `--db`, `--key GLOB`, `--type`, and expired keys.

use crate::format::types::Kind;

/// Redis-style glob (`stringmatchlen` in `src/util.c`): `*`, `?`, `[abc]`, `[^a-z]`, `\x`.
pub fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let (mut star_p, mut star_i) = (usize::MAX, 0);
    while i < s.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star_p = p;
                    star_i = i;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(pat, p, s[i]) {
                        if matched {
                            p = next;
                            i += 1;
                            continue;
                        }
                    } else if s[i] == b'[' {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pat.len() => {
                    if pat[p + 1] == s[i] {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[i] {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
        }
        if star_p != usize::MAX {
            p = star_p + 1;
            star_i += 1;
            i = star_i;
            continue;
        }
        return false;
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pat[p] == '['`; returns (matched, index after `]`).
fn class(pat: &[u8], p: usize, c: u8) -> Option<(bool, usize)> {
    let mut j = p + 1;
    let negate = pat.get(j) == Some(&b'^');
    if negate {
        j += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &x = pat.get(j)?;
        if x == b']' && !first {
            return Some((matched != negate, j + 1));
        }
        first = false;
        if x == b'\\' && j + 1 < pat.len() {
            matched |= pat[j + 1] == c;
            j += 2;
        } else if pat.get(j + 1) == Some(&b'-') && j + 2 < pat.len() && pat[j + 2] != b']' {
            let (lo, hi) = (x.min(pat[j + 2]), x.max(pat[j + 2]));
            matched |= (lo..=hi).contains(&c);
            j += 3;
        } else {
            matched |= x == c;
            j += 1;
        }
    }
}

/// A selection of keys.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub dbs: Vec<u64>,
    pub globs: Vec<Vec<u8>>,
    /// Type names: logical types, or a module type name.
    pub types: Vec<String>,
    /// Keep keys (and hash fields) whose expiry has passed.
    pub include_expired: bool,
    /// "Now" in Unix ms for expiry decisions.
    pub now_ms: i64,
}

impl Filter {
    pub fn db(&self, db: u64) -> bool {
        self.dbs.is_empty() || self.dbs.contains(&db)
    }
    pub fn key(&self, key: &[u8]) -> bool {
        self.globs.is_empty() || self.globs.iter().any(|g| glob_match(g, key))
    }
    /// `module_name` is the module type name for module values.
    pub fn kind(&self, k: Kind, module_name: Option<&str>) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t == k.name() || Some(t.as_str()) == module_name)
    }
    /// Whether an expiry has passed (and expired things are being dropped).
    pub fn expired(&self, expire_ms: Option<i64>) -> bool {
        !self.include_expired && matches!(expire_ms, Some(e) if e < self.now_ms)
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;

    #[test]
    fn globs() {
        assert!(m(b"*", b"anything"));
        assert!(m(b"user:*", b"user:1"));
        assert!(!m(b"user:*", b"usr:1"));
        assert!(m(b"h?llo", b"hello"));
        assert!(m(b"h[ae]llo", b"hallo"));
        assert!(!m(b"h[^e]llo", b"hello"));
        assert!(m(b"h[a-c]llo", b"hbllo"));
        assert!(m(b"a\\*b", b"a*b"));
        assert!(!m(b"a\\*b", b"axb"));
        assert!(m(b"*:*:x", b"a:b:c:x"));
        assert!(m(b"", b""));
        assert!(!m(b"", b"a"));
    }
}
