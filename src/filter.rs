//! The selection stage: which keys a command works on (`--db`, `--key GLOB`, `--type`,
//! their `--exclude-*` counterparts, and expired keys), and the name and db each goes out
//! under ([`crate::rename`]).

use std::borrow::Cow;

use crate::format::module;
use crate::format::record::Key;
use crate::format::types::{self, Kind};

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

/// The selection stage: which keys a command works on. inspect, info, convert, load and
/// verify all ask [`Filter::judge`], so they select exactly the same keys.
///
/// A key is kept when its db, name and type match an inclusion of each kind (an empty list
/// matches everything), none of the exclusions matches, and its expiry has not passed
/// (unless `include_expired`). The rules look at a key's own db and name; [`Verdict::Keep`]
/// carries the name it goes out under (`rename`), and [`Filter::dest_db`] its db.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub dbs: Vec<u64>,
    pub exclude_dbs: Vec<u64>,
    pub globs: Vec<Vec<u8>>,
    pub exclude_globs: Vec<Vec<u8>>,
    /// Type names: logical types, `module`, or a module type name (see [`check_type`]).
    pub types: Vec<String>,
    pub exclude_types: Vec<String>,
    /// Keep keys (and hash fields) whose expiry has passed.
    pub include_expired: bool,
    /// "Now" in Unix ms for expiry decisions.
    pub now_ms: i64,
    /// The names and dbs selected keys go out under.
    pub rename: crate::rename::Rename,
    /// Only keys whose hash slot (of the name they go out under) is in the set.
    pub slots: Option<std::sync::Arc<crate::slot::SlotSet>>,
}

/// What the selection stage decided for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict<'n> {
    /// Selected, under this name.
    Keep(Cow<'n, [u8]>),
    /// Left out by a db, name or type rule.
    Filtered,
    /// Left out because its expiry has passed.
    Expired,
}

/// Checks a `--type`/`--exclude-type` name: a logical type (`string`, `list`, `set`, `zset`,
/// `hash`, `stream`), `module` (any module value), or a module type name (9 characters of
/// `A-Z a-z 0-9 - _`, as `TYPE` shows it, e.g. `ReJSON-RL`).
pub fn check_type(s: &str) -> Result<String, String> {
    let module_name =
        s.len() == 9 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if Kind::from_name(s).is_some() || module_name {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown type {s:?}: expected string, list, set, zset, hash, stream, module, or a 9-character module type name such as ReJSON-RL"
        ))
    }
}

fn type_matches(t: &str, k: Kind, module_name: Option<&str>) -> bool {
    t == k.name() || Some(t) == module_name
}

impl Filter {
    /// Whether keys of `db` may be selected (a cheap test before a key is read).
    pub fn db(&self, db: u64) -> bool {
        (self.dbs.is_empty() || self.dbs.contains(&db)) && !self.exclude_dbs.contains(&db)
    }
    /// Whether a key's verdict depends on its name: a name rule, or a slot rule (the slot of
    /// the name the key goes out under, renamed or not).
    pub fn reads_names(&self) -> bool {
        !self.globs.is_empty() || !self.exclude_globs.is_empty() || self.slots.is_some()
    }
    pub fn key(&self, key: &[u8]) -> bool {
        (self.globs.is_empty() || self.globs.iter().any(|g| glob_match(g, key)))
            && !self.exclude_globs.iter().any(|g| glob_match(g, key))
    }
    /// `module_name` is the module type name for module values.
    pub fn kind(&self, k: Kind, module_name: Option<&str>) -> bool {
        (self.types.is_empty() || self.types.iter().any(|t| type_matches(t, k, module_name)))
            && !self.exclude_types.iter().any(|t| type_matches(t, k, module_name))
    }
    /// Whether type rules are set (a key's type must then be looked at).
    pub fn by_type(&self) -> bool {
        !self.types.is_empty() || !self.exclude_types.is_empty()
    }
    /// Whether an expiry has passed (and expired things are being dropped).
    pub fn expired(&self, expire_ms: Option<i64>) -> bool {
        !self.include_expired && matches!(expire_ms, Some(e) if e < self.now_ms)
    }

    /// The db a selected key of `db` goes to (`--map-db`; `--to-db` is the target's).
    pub fn dest_db(&self, db: u64) -> u64 {
        self.rename.db(db)
    }

    /// Refuses `--map-db` beside a target db (`--to-db`, a URL `/db`) that puts every key
    /// in `to_db`: both would say where keys go.
    pub fn check_target_db(&self, to_db: Option<u64>) -> Result<(), String> {
        match to_db {
            Some(db) if self.rename.maps_dbs() => Err(format!(
                "--map-db and a target db ({db}, from --to-db or the URL) both say where keys go: give one"
            )),
            _ => Ok(()),
        }
    }

    /// Whether the db, name and type rules select the key `k` named `name` (expiry apart).
    pub fn selects(&self, k: &Key<'_>, name: &[u8]) -> bool {
        self.db(k.db()) && self.key(name) && self.key_type(k)
    }

    /// Whether the type rules select the key `k`.
    pub fn key_type(&self, k: &Key<'_>) -> bool {
        if self.by_type() {
            let kind = types::kind(k.ty());
            let mname = (kind == Kind::Module)
                .then(|| k.module_id().map(module::type_name).unwrap_or_default());
            return self.kind(kind, mname.as_deref());
        }
        true
    }

    /// The selection as the options that make it, in one canonical order (lists sorted,
    /// repeats dropped): `all keys` when nothing is filtered. Two filters that select the
    /// same keys by the same rules describe alike (a checkpoint compares them).
    pub fn describe(&self) -> String {
        fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        }
        let mut parts = Vec::new();
        for d in sorted(&self.dbs) {
            parts.push(format!("--db {d}"));
        }
        for d in sorted(&self.exclude_dbs) {
            parts.push(format!("--exclude-db {d}"));
        }
        for g in sorted(&self.globs) {
            parts.push(format!("--key '{}'", String::from_utf8_lossy(&g)));
        }
        for g in sorted(&self.exclude_globs) {
            parts.push(format!("--exclude-key '{}'", String::from_utf8_lossy(&g)));
        }
        for t in sorted(&self.types) {
            parts.push(format!("--type {t}"));
        }
        for t in sorted(&self.exclude_types) {
            parts.push(format!("--exclude-type {t}"));
        }
        if self.include_expired {
            parts.push("--include-expired".into());
        }
        parts.extend(self.rename.describe());
        if let Some(s) = &self.slots {
            parts.push(format!("--slots {}", s.describe()));
        }
        if parts.is_empty() { "all keys".into() } else { parts.join(" ") }
    }

    /// The selection stage for the key `k`, whose name is `name`.
    pub fn judge<'n>(&self, k: &Key<'_>, name: &'n [u8]) -> Verdict<'n> {
        self.judge_by(k.db(), k.expire_ms(), name, || self.key_type(k))
    }

    /// [`Filter::judge`] for a string key with no expiry in `db` (a plain string record),
    /// without its [`Key`].
    #[inline]
    pub fn judge_string<'n>(&self, db: u64, name: &'n [u8]) -> Verdict<'n> {
        if self.every_string() {
            return Verdict::Keep(Cow::Borrowed(name));
        }
        self.judge_by(db, None, name, || self.string_type())
    }

    /// Whether every string key is kept under its own name unless it expired: no db, name,
    /// type or slot rule, no rename.
    #[inline]
    pub fn every_string(&self) -> bool {
        self.dbs.is_empty()
            && self.exclude_dbs.is_empty()
            && self.globs.is_empty()
            && self.exclude_globs.is_empty()
            && !self.by_type()
            && self.slots.is_none()
            && !self.rename.names()
    }

    /// [`Filter::selects`] for a string key in `db`, without its [`Key`].
    pub fn selects_string(&self, db: u64, name: &[u8]) -> bool {
        self.db(db) && self.key(name) && self.string_type()
    }

    /// Whether the type rules select a string key.
    pub fn string_type(&self) -> bool {
        !self.by_type() || self.kind(Kind::String, None)
    }

    /// The selection stage of a key in `db`, expiring at `expire_ms`, named `name`, whose
    /// type `type_ok` judges.
    fn judge_by<'n>(
        &self,
        db: u64,
        expire_ms: Option<i64>,
        name: &'n [u8],
        type_ok: impl FnOnce() -> bool,
    ) -> Verdict<'n> {
        if !self.db(db) {
            return Verdict::Filtered;
        }
        if self.expired(expire_ms) {
            return Verdict::Expired;
        }
        if !(self.key(name) && type_ok()) {
            return Verdict::Filtered;
        }
        let name = self.rename.name(name);
        if let Some(s) = &self.slots
            && !s.contains(crate::slot::of(&name))
        {
            return Verdict::Filtered;
        }
        Verdict::Keep(name)
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;
    use super::*;

    #[test]
    fn a_selection_describes_itself_canonically() {
        assert_eq!(Filter::default().describe(), "all keys");
        let a = Filter {
            dbs: vec![3, 0, 3],
            globs: vec![b"b:*".to_vec(), b"a:*".to_vec()],
            exclude_types: vec!["stream".into()],
            include_expired: true,
            now_ms: 1,
            ..Default::default()
        };
        let b = Filter {
            dbs: vec![0, 3],
            globs: vec![b"a:*".to_vec(), b"b:*".to_vec()],
            now_ms: 2,
            ..a.clone()
        };
        assert_eq!(
            a.describe(),
            "--db 0 --db 3 --key 'a:*' --key 'b:*' --exclude-type stream --include-expired"
        );
        assert_eq!(a.describe(), b.describe(), "order, repeats and the clock do not matter");
        let c = Filter { include_expired: false, ..a.clone() };
        assert_ne!(a.describe(), c.describe());
    }

    #[test]
    fn inclusions_and_exclusions() {
        let f = Filter {
            dbs: vec![0, 1],
            exclude_dbs: vec![1],
            globs: vec![b"user:*".to_vec()],
            exclude_globs: vec![b"user:tmp:*".to_vec()],
            types: vec!["hash".into(), "ReJSON-RL".into()],
            exclude_types: vec![],
            include_expired: false,
            now_ms: 1000,
            rename: Default::default(),
            slots: None,
        };
        assert!(f.db(0) && !f.db(1) && !f.db(2));
        assert!(f.key(b"user:1") && !f.key(b"user:tmp:1") && !f.key(b"other"));
        assert!(
            f.kind(Kind::Hash, None)
                && f.kind(Kind::Module, Some("ReJSON-RL"))
                && !f.kind(Kind::Module, Some("MBbloom--"))
        );
        assert!(!f.kind(Kind::String, None));
        let g = Filter { exclude_types: vec!["module".into()], ..Default::default() };
        assert!(!g.kind(Kind::Module, Some("ReJSON-RL")) && g.kind(Kind::Set, None));
        assert!(f.expired(Some(999)) && !f.expired(Some(1000)) && !f.expired(None));
    }

    #[test]
    fn type_names_are_checked() {
        for ok in [
            "string",
            "list",
            "set",
            "zset",
            "hash",
            "stream",
            "module",
            "ReJSON-RL",
            "MBbloom--",
            "TSDB-TYPE",
        ] {
            assert_eq!(check_type(ok).as_deref(), Ok(ok));
        }
        for bad in ["strings", "HASH", "json", "ReJSON", "ReJSON-RL2", ""] {
            assert!(check_type(bad).is_err(), "{bad}");
        }
    }

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
