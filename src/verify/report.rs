//! What a verification found: counts, the first names of each kind, dates for people.

// a part of verify: it shares the module's imports and types
use super::*;

/// What a verification found. Key names are quoted as redis-cli shows them ([`quote`]).
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    pub checked: u64,
    pub missing: u64,
    pub different: u64,
    /// Keys not expected on the target: their expiry has passed (in the dump, or since), or
    /// they are collections with no element left (every field's TTL passed).
    pub expired: u64,
    pub missing_keys: Vec<String>,
    /// Key and what differs (the first difference found in it).
    pub different_keys: Vec<(String, String)>,
    /// `--extra`: keys on the target that the filters select and the dumps do not hold.
    pub extra: u64,
    pub extra_keys: Vec<String>,
    /// `--extra`: keys the scan looked at.
    pub scanned: u64,
    /// `--extra` on a cluster: the slots the dumps' selected keys hold (the scan counts
    /// only keys in them, so that one shard's dump can be verified alone).
    pub extra_slots: Option<u64>,
    /// Keys for which the server answered an error (counted, with the key and the error).
    pub errors: u64,
    pub error_keys: Vec<(String, String)>,
    /// What the target cannot hold and so could not be compared, per kind (see
    /// [`NotComparable`]).
    pub not_comparable: std::collections::BTreeMap<&'static str, NotComparable>,
}

/// Things of one kind that the target cannot hold (field TTLs before Redis 7.4, stream
/// IDMP, NACKs, arrays, module values without the module), so verify could not compare
/// them: how many, in how many keys, and the first keys' names.
#[derive(Debug, Default, Clone)]
pub struct NotComparable {
    pub keys: u64,
    /// Items (fields, entries) where that means more than the key.
    pub items: u64,
    pub names: Vec<String>,
    /// Why, in words (`Redis 7.0 has no hash field TTLs`).
    pub why: String,
}

impl VerifyReport {
    pub(super) fn missing(&mut self, name: &[u8]) {
        self.missing += 1;
        if self.missing_keys.len() < NAMES_KEPT {
            self.missing_keys.push(quote(name));
        }
    }
    pub(super) fn differ(&mut self, name: &[u8], what: String) {
        self.different += 1;
        if self.different_keys.len() < NAMES_KEPT {
            self.different_keys.push((quote(name), what));
        }
    }
    pub(super) fn error(&mut self, name: &[u8], what: String) {
        self.errors += 1;
        if self.error_keys.len() < NAMES_KEPT {
            self.error_keys.push((quote(name), what));
        }
    }
    /// `items` things of `kind` in the key `name` could not be compared (`why`).
    pub(super) fn not_comparable(
        &mut self,
        kind: &'static str,
        name: &[u8],
        items: u64,
        why: String,
    ) {
        let n = self.not_comparable.entry(kind).or_default();
        n.keys += 1;
        n.items += items;
        n.why = why;
        if n.names.len() < NAMES_KEPT {
            n.names.push(quote(name));
        }
    }
    /// The counts and the first names of each kind, as a JSON object (`extra`: whether the
    /// target was scanned for keys the dumps lack).
    pub fn to_json(&self, extra: bool) -> serde_json::Value {
        let pairs = |v: &[(String, String)], what: &str| -> Vec<serde_json::Value> {
            v.iter().map(|(k, w)| serde_json::json!({ "key": k, what: w })).collect()
        };
        let not_comparable: serde_json::Map<String, serde_json::Value> = self
            .not_comparable
            .iter()
            .map(|(k, n)| {
                let v = serde_json::json!({
                    "keys": n.keys, "items": n.items, "why": n.why, "names": n.names,
                });
                (k.to_string(), v)
            })
            .collect();
        serde_json::json!({
            "checked": self.checked,
            "missing": self.missing,
            "different": self.different,
            "expired": self.expired,
            "errors": self.errors,
            "extra": if extra { Some(self.extra) } else { None },
            "scanned": if extra { Some(self.scanned) } else { None },
            "missing_keys": self.missing_keys,
            "different_keys": pairs(&self.different_keys, "difference"),
            "error_keys": pairs(&self.error_keys, "error"),
            "extra_keys": self.extra_keys,
            "not_comparable": not_comparable,
        })
    }

    /// Keys with something that could not be compared.
    pub fn not_comparable_keys(&self) -> u64 {
        self.not_comparable.values().map(|n| n.keys).sum()
    }

    /// The report as lines for a person (without the `rdbshift: ` prefix); `extra`: the
    /// target was scanned for keys the dumps do not hold.
    pub fn lines(&self, extra: bool, seconds: f64) -> Vec<String> {
        let mut v = vec![format!(
            "checked {} keys: {} missing, {} different, {} with server errors, {} expired (not expected), {} not comparable in {seconds:.2}s",
            self.checked,
            self.missing,
            self.different,
            self.errors,
            self.expired,
            self.not_comparable_keys()
        )];
        v.extend(self.missing_keys.iter().map(|k| format!("  missing: {k}")));
        v.extend(self.different_keys.iter().map(|(k, w)| format!("  different: {k}: {w}")));
        v.extend(self.error_keys.iter().map(|(k, w)| format!("  server error: {k}: {w}")));
        for (kind, n) in &self.not_comparable {
            let items = if n.items != n.keys {
                format!("{} {kind} in {} keys", n.items, n.keys)
            } else {
                format!("{} {kind}", n.keys)
            };
            v.push(format!("not comparable: {items}: {}", n.why));
            v.extend(n.names.iter().map(|k| format!("  not comparable: {k}")));
        }
        if extra {
            let scope = match self.extra_slots {
                Some(n) => format!(" in the {n} slots the dumps' keys hold"),
                None => String::new(),
            };
            v.push(format!(
                "extra: {} keys on the target{scope} that the dumps do not hold ({} scanned)",
                self.extra, self.scanned
            ));
            v.extend(self.extra_keys.iter().map(|k| format!("  extra: {k}")));
        }
        v
    }

    /// Whether anything could not be compared (`--strict` makes that a failure).
    pub fn incomplete(&self) -> bool {
        !self.not_comparable.is_empty()
    }
}

pub use crate::encode::text::date;

/// An expiry as verify shows it: milliseconds and the date (`none` for no expiry).
pub(super) fn expiry(ms: Option<i64>) -> String {
    match ms {
        None | Some(-1) => "none".into(),
        Some(-2) => "none (no such key)".into(),
        Some(e) => format!("{e} ({})", date(e)),
    }
}
