//! [`Info`] as text for a person.

use super::Info;
use crate::input::envelope::Envelope;

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Info {
    /// The report as text for a person (`info`), about the dump at `f`.
    pub fn to_text(&self, f: &std::path::Path, env: Option<&Envelope>) -> Vec<u8> {
        let i = self;
        let mut o = String::new();
        use std::fmt::Write as _;
        let _ = writeln!(o, "file: {}", f.display());
        let _ = writeln!(o, "bytes: {}", i.file_bytes);
        if let Some(e) = env {
            let _ = writeln!(o, "envelope: {}", e.describe());
            if e.trailing_bytes > 0 {
                let _ = writeln!(
                    o,
                    "  bytes after the compressed frame (ignored): {}",
                    e.trailing_bytes
                );
            }
        }
        let _ = writeln!(
            o,
            "format: {} (dialect {}, RDB version {})",
            i.header.describe(),
            i.header.dialect.name(),
            i.header.version
        );
        let _ = writeln!(
            o,
            "checksum: {}{}",
            i.checksum,
            i.stored_checksum
                .filter(|&c| c != 0)
                .map(|c| format!(" (0x{c:016x})"))
                .unwrap_or_default()
        );
        if i.filtered > 0 {
            let _ = writeln!(o, "keys left out by the selection: {}", i.filtered);
        }
        if i.trailing_bytes > 0 {
            let _ =
                writeln!(o, "trailing bytes after the checksum (ignored): {}", i.trailing_bytes);
        }
        for (odd, n) in i.oddities.iter() {
            let _ = writeln!(
                o,
                "odd but loadable (every server loads them as stored): {n} {}",
                odd.describe()
            );
        }
        let _ = writeln!(o, "aux:");
        for (k, v) in &i.aux {
            let _ = writeln!(o, "  {} = {}", show(k), show(v));
        }
        dbs(&mut o, i);
        let _ = writeln!(
            o,
            "functions: {}",
            if i.functions.is_empty() { "none".into() } else { i.functions.join(", ") }
        );
        let _ = writeln!(
            o,
            "module aux: {}",
            if i.module_aux.is_empty() { "none".into() } else { i.module_aux.join(", ") }
        );
        let mt: Vec<String> = i.module_types.iter().map(|(t, n)| format!("{t}={n}")).collect();
        let _ = writeln!(
            o,
            "module values: {}",
            if mt.is_empty() { "none".into() } else { mt.join(" ") }
        );
        let _ = writeln!(o, "streams with IDMP state: {}", i.streams_with_idmp);
        let _ = writeln!(o, "keys with metadata: {}", i.keys_with_metadata);
        if i.slot_info_records > 0 || i.slot_imports > 0 {
            let _ = writeln!(
                o,
                "slot info records: {}, slot imports: {}",
                i.slot_info_records, i.slot_imports
            );
        }
        if i.templates > 0 {
            let _ = writeln!(o, "hash templates: {}", i.templates);
        }
        if i.nacked_ids > 0 {
            let _ = writeln!(o, "NACKed stream IDs: {}", i.nacked_ids);
        }
        if !i.enterprise_opcodes.is_empty() {
            let e: Vec<String> = i
                .enterprise_opcodes
                .iter()
                .map(|(op, name, c)| format!("{op} ({name}) x{c}"))
                .collect();
            let _ = writeln!(o, "Redis Enterprise opcodes skipped: {}", e.join(", "));
        }
        let _ = writeln!(o, "biggest keys (serialized bytes):");
        for b in &i.biggest {
            let _ = writeln!(
                o,
                "  {:>12}  db {}  {} ({}, {})",
                b.bytes,
                b.db,
                crate::format::error::show_bytes(&b.key),
                b.kind,
                b.encoding
            );
        }
        o.push('\n');
        o.into_bytes()
    }
}

/// The per-db lines: counts, the resize hint, types and encodings.
fn dbs(o: &mut String, i: &Info) {
    use std::fmt::Write as _;
    for (db, s) in &i.dbs {
        let _ = writeln!(
            o,
            "db {db}: {} keys, {} with expiry ({} already expired), {} bytes",
            s.keys, s.expires, s.already_expired, s.bytes
        );
        if let Some((k, e)) = s.resize_hint {
            let _ = writeln!(o, "  resize hint: {k} keys, {e} expires");
        }
        let types: Vec<String> = s.types.iter().map(|(t, n)| format!("{t}={n}")).collect();
        let encs: Vec<String> = s.encodings.iter().map(|(t, n)| format!("{t}={n}")).collect();
        let _ = writeln!(o, "  types: {}", types.join(" "));
        if s.already_expired > 0 {
            let live: Vec<String> = s.types_live.iter().map(|(t, n)| format!("{t}={n}")).collect();
            let _ = writeln!(
                o,
                "  types without the already expired (what a server loads): {}",
                live.join(" ")
            );
        }
        let _ = writeln!(o, "  encodings: {}", encs.join(" "));
    }
}
