//! Renaming on the way out: the name and the db a selected key goes out under
//! (`--rename-prefix FROM=TO`, `--rename-key PATTERN=TEMPLATE`, `--map-db SRC=DST`).
//!
//! It is part of the selection stage ([`crate::filter::Filter::judge`] hands out the new
//! name), so inspect, convert, load and verify rename alike, and a cluster slot is always
//! computed on the name a key goes out under.
//!
//! Invariants:
//! - a key gets at most one rename: the first `--rename-key` pattern that matches (in the
//!   order given), else the longest `--rename-prefix` that matches, else its own name;
//! - matching is linear in the name's length (no backtracking), whatever the pattern;
//! - a db is mapped at most once (`--map-db 1=0 --map-db 0=1` swaps two dbs).

use std::borrow::Cow;
use std::collections::BTreeMap;

/// A `--rename-key` rule: literal text and `*` captures, and a template using `$1`..`$9`.
///
/// The name must begin with the text before the first `*` and end with the text after the
/// last; the text between two stars is found at its first place after the previous one, so
/// each `*` but the last captures as little as it can (`*:*` on `a:b:c` gives `a`, `b:c`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// The literal texts around the stars (one more than there are stars).
    lits: Vec<Vec<u8>>,
    template: Vec<Part>,
    /// As the user wrote it.
    source: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(Vec<u8>),
    /// Capture number (0-based).
    Capture(usize),
}

/// Splits `FROM=TO` at the first `=` that is not escaped (`\=`); `\\` stays for the parts.
fn split(arg: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let b = arg.as_bytes();
    let mut left = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1) == Some(&b'=') => {
                left.push(b'=');
                i += 2;
            }
            b'\\' if i + 1 < b.len() => {
                left.extend_from_slice(&b[i..i + 2]);
                i += 2;
            }
            b'=' => return Ok((left, unescape_eq(&b[i + 1..]))),
            c => {
                left.push(c);
                i += 1;
            }
        }
    }
    Err(format!("{arg:?}: expected FROM=TO (write \\= for an = in a name)"))
}

fn unescape_eq(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            if b[i + 1] != b'=' {
                out.push(b'\\');
            }
            out.push(b[i + 1]);
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// `\x` as `x` (for text that has no special characters but the escape).
fn literal(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            i += 1;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Parses a `--rename-prefix FROM=TO` value.
pub fn parse_prefix(arg: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (from, to) = split(arg)?;
    let from = literal(&from);
    if from.is_empty() {
        return Err(format!(
            "{arg:?}: the prefix to replace is empty (to prefix every name, use --rename-key '*=TO$1')"
        ));
    }
    Ok((from, literal(&to)))
}

/// Parses a `--map-db SRC=DST` value.
pub fn parse_db(arg: &str) -> Result<(u64, u64), String> {
    let (a, b) = arg.split_once('=').ok_or_else(|| format!("{arg:?}: expected SRC=DST"))?;
    let n = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("{arg:?}: {s:?} is not a db"));
    Ok((n(a)?, n(b)?))
}

impl Pattern {
    /// Parses a `--rename-key PATTERN=TEMPLATE` value: `*` captures, `\*` is a star,
    /// `$1`..`$9` in the template are the captures, `$$` is a dollar sign.
    pub fn parse(arg: &str) -> Result<Pattern, String> {
        let (pat, tpl) = split(arg)?;
        let mut lits = vec![Vec::new()];
        let mut i = 0;
        while i < pat.len() {
            match pat[i] {
                b'\\' if i + 1 < pat.len() => {
                    lits.last_mut().expect("one at least").push(pat[i + 1]);
                    i += 2;
                    continue;
                }
                b'*' => lits.push(Vec::new()),
                b'?' | b'[' => {
                    return Err(format!(
                        "{arg:?}: only * captures in a rename pattern (write \\{} for the character)",
                        pat[i] as char
                    ));
                }
                c => lits.last_mut().expect("one at least").push(c),
            }
            i += 1;
        }
        let stars = lits.len() - 1;
        let mut template = Vec::new();
        let mut text = Vec::new();
        let mut i = 0;
        while i < tpl.len() {
            match (tpl[i], tpl.get(i + 1)) {
                (b'$', Some(b'$')) => {
                    text.push(b'$');
                    i += 2;
                }
                (b'$', Some(d @ b'1'..=b'9')) => {
                    let n = (d - b'1') as usize;
                    if n >= stars {
                        return Err(format!(
                            "{arg:?}: ${} names capture {}, and the pattern has {stars}",
                            n + 1,
                            n + 1
                        ));
                    }
                    if !text.is_empty() {
                        template.push(Part::Text(std::mem::take(&mut text)));
                    }
                    template.push(Part::Capture(n));
                    i += 2;
                }
                (b'$', _) => {
                    return Err(format!("{arg:?}: $ in a template is $1..$9 or $$"));
                }
                (b'\\', Some(&c)) => {
                    text.push(c);
                    i += 2;
                }
                (c, _) => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        if !text.is_empty() {
            template.push(Part::Text(text));
        }
        Ok(Pattern { lits, template, source: arg.to_string() })
    }

    /// The captures of `name` (their ranges), if the pattern matches it.
    fn captures(&self, name: &[u8]) -> Option<Vec<(usize, usize)>> {
        let (first, last) = (&self.lits[0], &self.lits[self.lits.len() - 1]);
        if self.lits.len() == 1 {
            return (name == first.as_slice()).then(Vec::new);
        }
        if name.len() < first.len() + last.len()
            || !name.starts_with(first)
            || !name.ends_with(last)
        {
            return None;
        }
        let end = name.len() - last.len();
        let mut caps = Vec::with_capacity(self.lits.len() - 1);
        let mut at = first.len();
        for lit in &self.lits[1..self.lits.len() - 1] {
            let found = find(&name[at..end], lit)?;
            caps.push((at, at + found));
            at += found + lit.len();
        }
        caps.push((at, end));
        Some(caps)
    }

    fn apply(&self, name: &[u8]) -> Option<Vec<u8>> {
        let caps = self.captures(name)?;
        let mut out = Vec::with_capacity(name.len() + 16);
        for p in &self.template {
            match p {
                Part::Text(t) => out.extend_from_slice(t),
                Part::Capture(n) => out.extend_from_slice(&name[caps[*n].0..caps[*n].1]),
            }
        }
        Some(out)
    }
}

/// Where `needle` first occurs in `hay` (an empty needle at 0).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    let (&b0, rest) = needle.split_first()?;
    let mut from = 0;
    while from + needle.len() <= hay.len() {
        let i = from + hay[from..=hay.len() - needle.len()].iter().position(|&c| c == b0)?;
        if hay[i + 1..i + needle.len()] == *rest {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// The renames of a run: patterns, prefixes and db mappings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rename {
    patterns: Vec<Pattern>,
    /// Longest `from` first, so that the longest matching prefix wins.
    prefixes: Vec<(Vec<u8>, Vec<u8>)>,
    dbs: BTreeMap<u64, u64>,
}

impl Rename {
    /// The renames; a prefix or a source db given twice is refused.
    pub fn new(
        patterns: Vec<Pattern>,
        prefixes: Vec<(Vec<u8>, Vec<u8>)>,
        dbs: Vec<(u64, u64)>,
    ) -> Result<Rename, String> {
        let mut p = prefixes;
        p.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        if let Some(w) = p.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!(
                "--rename-prefix {:?} is given twice",
                String::from_utf8_lossy(&w[0].0)
            ));
        }
        let mut map = BTreeMap::new();
        for (s, d) in dbs {
            if map.insert(s, d).is_some_and(|old| old != d) {
                return Err(format!("--map-db {s}=... is given twice"));
            }
        }
        Ok(Rename { patterns, prefixes: p, dbs: map })
    }

    /// Whether any name is renamed.
    #[inline]
    pub fn names(&self) -> bool {
        !self.patterns.is_empty() || !self.prefixes.is_empty()
    }

    /// Whether any db is mapped.
    pub fn maps_dbs(&self) -> bool {
        !self.dbs.is_empty()
    }

    /// Whether anything is renamed or mapped.
    pub fn is_active(&self) -> bool {
        self.names() || !self.dbs.is_empty()
    }

    /// The db keys of `db` go to.
    pub fn db(&self, db: u64) -> u64 {
        if self.dbs.is_empty() {
            return db;
        }
        self.dbs.get(&db).copied().unwrap_or(db)
    }

    /// The name a key named `name` goes out under.
    pub fn name<'n>(&self, name: &'n [u8]) -> Cow<'n, [u8]> {
        if !self.names() {
            return Cow::Borrowed(name);
        }
        if let Some(out) = self.patterns.iter().find_map(|p| p.apply(name)) {
            return Cow::Owned(out);
        }
        for (from, to) in &self.prefixes {
            if let Some(rest) = name.strip_prefix(from.as_slice()) {
                let mut out = Vec::with_capacity(to.len() + rest.len());
                out.extend_from_slice(to);
                out.extend_from_slice(rest);
                return Cow::Owned(out);
            }
        }
        Cow::Borrowed(name)
    }

    /// The renames as the options that make them, in a canonical order.
    pub fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.patterns.iter().map(|p| format!("--rename-key '{}'", p.source)).collect();
        let mut pre: Vec<String> = self
            .prefixes
            .iter()
            .map(|(f, t)| {
                format!(
                    "--rename-prefix '{}={}'",
                    String::from_utf8_lossy(f),
                    String::from_utf8_lossy(t)
                )
            })
            .collect();
        pre.sort();
        v.extend(pre);
        v.extend(self.dbs.iter().map(|(s, d)| format!("--map-db {s}={d}")));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(pats: &[&str], pres: &[&str], dbs: &[&str]) -> Rename {
        Rename::new(
            pats.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
            pres.iter().map(|p| parse_prefix(p).unwrap()).collect(),
            dbs.iter().map(|d| parse_db(d).unwrap()).collect(),
        )
        .unwrap()
    }

    fn name(r: &Rename, n: &str) -> String {
        String::from_utf8(r.name(n.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn prefixes_the_longest_wins() {
        let x = r(&[], &["user:=u:", "user:tmp:=t:", "a\\=b=c"], &[]);
        assert_eq!(name(&x, "user:1"), "u:1");
        assert_eq!(name(&x, "user:tmp:1"), "t:1");
        assert_eq!(name(&x, "users"), "users");
        assert_eq!(name(&x, "a=bx"), "cx", "an escaped = belongs to the prefix");
        assert!(matches!(x.name(b"other"), Cow::Borrowed(_)), "no copy for a name kept");
        assert_eq!(name(&r(&[], &["k:="], &[]), "k:1"), "1", "an empty TO strips the prefix");
        assert!(parse_prefix("=x").is_err() && parse_prefix("nothing").is_err());
        assert!(
            Rename::new(
                vec![],
                vec![parse_prefix("a=b").unwrap(), parse_prefix("a=c").unwrap()],
                vec![]
            )
            .is_err()
        );
    }

    #[test]
    fn patterns_capture_and_come_first() {
        let x = r(&["user:*:profile=profile:$1", "*:*=$2/$1"], &["user:=u:"], &[]);
        assert_eq!(name(&x, "user:42:profile"), "profile:42");
        assert_eq!(name(&x, "a:b:c"), "b:c/a", "the first star takes as little as it can");
        assert_eq!(name(&x, "plain"), "plain");
        let y = r(&["*=pre:$1", "x=y"], &[], &[]);
        assert_eq!(name(&y, ""), "pre:", "a star matches the empty name");
        let z = r(&["x=y", "a*b*c=[$1][$2]"], &[], &[]);
        assert_eq!(name(&z, "x"), "y");
        assert_eq!(name(&z, "xx"), "xx", "no star: the whole name");
        assert_eq!(name(&z, "abc"), "[][]");
        assert_eq!(name(&z, "abbc"), "[][b]");
        assert_eq!(name(&z, "ac"), "ac", "the literals may not overlap");
        let d = r(&["\\**=star:$1$$"], &[], &[]);
        assert_eq!(name(&d, "*x"), "star:x$");
        assert!(Pattern::parse("a*=b$2").is_err(), "a capture the pattern lacks");
        assert!(Pattern::parse("a?=b").is_err() && Pattern::parse("a*=$x").is_err());
    }

    #[test]
    fn stars_in_a_row_and_long_names() {
        // the texts between stars are found left to right, once each: no backtracking
        let x = r(&["*a*a*a*b=$4|$3|$2|$1", "**=[$1][$2]"], &[], &[]);
        let long = format!("{}b", "a".repeat(200_000));
        assert_eq!(name(&x, &long), format!("{}|||", "a".repeat(199_997)));
        assert_eq!(name(&x, "xy"), "[][xy]", "the first of two stars takes nothing");
    }

    #[test]
    fn dbs_map_once() {
        let x = r(&[], &[], &["1=0", "0=1"]);
        assert_eq!((x.db(0), x.db(1), x.db(2)), (1, 0, 2));
        assert!(Rename::new(vec![], vec![], vec![(1, 0), (1, 2)]).is_err());
        assert!(parse_db("a=1").is_err() && parse_db("1").is_err());
        assert_eq!(x.describe(), vec!["--map-db 0=1".to_string(), "--map-db 1=0".to_string()]);
        assert!(!x.names() && x.is_active() && !Rename::default().is_active());
    }
}
