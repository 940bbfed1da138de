//! `rdbshift info`: a summary of each dump, as text or JSON.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use rdbshift::encode::text::{json_bytes_field, json_list, json_object, json_str};
use rdbshift::input::Dump;
use rdbshift::input::envelope::Envelope;
use rdbshift::stats::{Info, gather};

use super::{CliResult, FilterArgs, ReadArgs, report};

#[derive(Args)]
pub struct InfoArgs {
    /// RDB files to summarize.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON (one object per file, one per line) instead of text.
    #[arg(long)]
    json: bool,
    /// How many of the biggest keys to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(a: InfoArgs) -> CliResult {
    let mut code = 0;
    let filter = a.filter.filter();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in &a.files {
        let res = Dump::open(f).map_err(|e| e.to_string()).and_then(|d| {
            let r = gather(d.data(), a.read.options(), &filter, a.top, &|x, y| d.release(x, y));
            if d.changed() {
                return Err(d.changed_message());
            }
            r.map(|info| (info, d.envelope.clone())).map_err(|e| e.to_string())
        });
        match res {
            Ok((info, env)) => {
                let env = env.as_ref();
                let text = if a.json { json(f, &info, env) } else { text(f, &info, env) };
                out.write_all(&text)?;
            }
            Err(e) => {
                report(f, &e);
                if let Some(sig) = rdbshift::stop::requested() {
                    return Ok(rdbshift::stop::exit_code(sig));
                }
                code = 1;
            }
        }
    }
    Ok(code)
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn text(f: &std::path::Path, i: &Info, env: Option<&Envelope>) -> Vec<u8> {
    let mut o = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(o, "file: {}", f.display());
    let _ = writeln!(o, "bytes: {}", i.file_bytes);
    if let Some(e) = env {
        let _ = writeln!(o, "envelope: {}", e.describe());
        if e.trailing_bytes > 0 {
            let _ = writeln!(o, "  bytes after the compressed frame (ignored): {}", e.trailing_bytes);
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
        i.stored_checksum.filter(|&c| c != 0).map(|c| format!(" (0x{c:016x})")).unwrap_or_default()
    );
    if i.filtered > 0 {
        let _ = writeln!(o, "keys left out by the selection: {}", i.filtered);
    }
    if i.trailing_bytes > 0 {
        let _ = writeln!(o, "trailing bytes after the checksum (ignored): {}", i.trailing_bytes);
    }
    for (odd, n) in i.oddities.iter() {
        let _ = writeln!(o, "odd but loadable (every server loads them as stored): {n} {}", odd.describe());
    }
    let _ = writeln!(o, "aux:");
    for (k, v) in &i.aux {
        let _ = writeln!(o, "  {} = {}", show(k), show(v));
    }
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
            let _ = writeln!(o, "  types without the already expired (what a server loads): {}", live.join(" "));
        }
        let _ = writeln!(o, "  encodings: {}", encs.join(" "));
    }
    let _ = writeln!(o, "functions: {}", if i.functions.is_empty() { "none".into() } else { i.functions.join(", ") });
    let _ =
        writeln!(o, "module aux: {}", if i.module_aux.is_empty() { "none".into() } else { i.module_aux.join(", ") });
    let mt: Vec<String> = i.module_types.iter().map(|(t, n)| format!("{t}={n}")).collect();
    let _ = writeln!(o, "module values: {}", if mt.is_empty() { "none".into() } else { mt.join(" ") });
    let _ = writeln!(o, "streams with IDMP state: {}", i.streams_with_idmp);
    let _ = writeln!(o, "keys with metadata: {}", i.keys_with_metadata);
    if i.slot_info_records > 0 || i.slot_imports > 0 {
        let _ = writeln!(o, "slot info records: {}, slot imports: {}", i.slot_info_records, i.slot_imports);
    }
    if i.templates > 0 {
        let _ = writeln!(o, "hash templates: {}", i.templates);
    }
    if i.nacked_ids > 0 {
        let _ = writeln!(o, "NACKed stream IDs: {}", i.nacked_ids);
    }
    if !i.enterprise_opcodes.is_empty() {
        let e: Vec<String> = i.enterprise_opcodes.iter().map(|(op, name, c)| format!("{op} ({name}) x{c}")).collect();
        let _ = writeln!(o, "Redis Enterprise opcodes skipped: {}", e.join(", "));
    }
    let _ = writeln!(o, "biggest keys (serialized bytes):");
    for b in &i.biggest {
        let _ = writeln!(
            o,
            "  {:>12}  db {}  {} ({}, {})",
            b.bytes,
            b.db,
            rdbshift::format::error::show_bytes(&b.key),
            b.kind,
            b.encoding
        );
    }
    o.push('\n');
    o.into_bytes()
}

fn json(f: &std::path::Path, i: &Info, env: Option<&Envelope>) -> Vec<u8> {
    let mut o = Vec::new();
    let n = |o: &mut Vec<u8>, x: u64| o.extend_from_slice(x.to_string().as_bytes());
    o.extend_from_slice(b"{\"file\":");
    json_str(&mut o, &f.display().to_string());
    o.extend_from_slice(b",\"bytes\":");
    n(&mut o, i.file_bytes);
    o.extend_from_slice(b",\"envelope\":");
    match env {
        None => o.extend_from_slice(b"null"),
        Some(e) => {
            o.extend_from_slice(b"{\"magic\":\"VKCS\",\"version\":");
            n(&mut o, e.header.version as u64);
            o.extend_from_slice(b",\"codec\":");
            json_str(&mut o, e.header.codec.name());
            o.extend_from_slice(b",\"flags\":");
            n(&mut o, e.header.flags as u64);
            o.extend_from_slice(format!(",\"block_checksums\":{}", e.block_checksums).as_bytes());
            o.extend_from_slice(format!(",\"content_checksum\":{}", e.content_checksum).as_bytes());
            o.extend_from_slice(b",\"compressed_bytes\":");
            n(&mut o, e.compressed_bytes);
            o.extend_from_slice(b",\"decompressed_bytes\":");
            n(&mut o, e.decompressed_bytes);
            o.extend_from_slice(b",\"trailing_bytes\":");
            n(&mut o, e.trailing_bytes);
            o.push(b'}');
        }
    }
    o.extend_from_slice(b",\"magic\":");
    json_str(&mut o, &i.header.describe());
    o.extend_from_slice(b",\"dialect\":");
    json_str(&mut o, i.header.dialect.name());
    o.extend_from_slice(b",\"version\":");
    n(&mut o, i.header.version as u64);
    o.extend_from_slice(b",\"checksum\":");
    json_str(&mut o, i.checksum);
    o.extend_from_slice(b",\"trailing_bytes\":");
    n(&mut o, i.trailing_bytes);
    o.extend_from_slice(b",\"odd_but_loadable\":");
    json_object(&mut o, i.oddities.iter().map(|(odd, c)| (odd.name(), c)), n);
    o.extend_from_slice(b",\"filtered\":");
    n(&mut o, i.filtered);
    o.extend_from_slice(b",\"aux\":");
    json_list(&mut o, &i.aux, |o, (k, v)| {
        o.push(b'{');
        json_bytes_field(o, "name", k);
        o.push(b',');
        json_bytes_field(o, "value", v);
        o.push(b'}');
    });
    o.extend_from_slice(b",\"dbs\":{");
    for (j, (db, s)) in i.dbs.iter().enumerate() {
        if j > 0 {
            o.push(b',');
        }
        json_str(&mut o, &db.to_string());
        o.extend_from_slice(b":{\"keys\":");
        n(&mut o, s.keys);
        o.extend_from_slice(b",\"expires\":");
        n(&mut o, s.expires);
        o.extend_from_slice(b",\"already_expired\":");
        n(&mut o, s.already_expired);
        o.extend_from_slice(b",\"bytes\":");
        n(&mut o, s.bytes);
        for (name, map) in [("types", &s.types), ("types_live", &s.types_live), ("encodings", &s.encodings)] {
            o.extend_from_slice(format!(",\"{name}\":").as_bytes());
            json_object(&mut o, map, |o, c| n(o, *c));
        }
        o.push(b'}');
    }
    o.extend_from_slice(b"},\"functions\":");
    json_list(&mut o, &i.functions, |o, f| json_str(o, f));
    o.extend_from_slice(b",\"module_aux\":");
    json_list(&mut o, &i.module_aux, |o, m| json_str(o, m));
    o.extend_from_slice(b",\"module_types\":");
    json_object(&mut o, &i.module_types, |o, c| n(o, *c));
    o.extend_from_slice(b",\"streams_with_idmp\":");
    n(&mut o, i.streams_with_idmp);
    o.extend_from_slice(b",\"keys_with_metadata\":");
    n(&mut o, i.keys_with_metadata);
    o.extend_from_slice(b",\"hash_templates\":");
    n(&mut o, i.templates);
    o.extend_from_slice(b",\"nacked_ids\":");
    n(&mut o, i.nacked_ids);
    o.extend_from_slice(b",\"enterprise_opcodes\":");
    json_list(&mut o, &i.enterprise_opcodes, |o, (op, name, c)| {
        o.extend_from_slice(b"{\"opcode\":");
        n(o, *op as u64);
        o.extend_from_slice(b",\"name\":");
        json_str(o, name);
        o.extend_from_slice(b",\"count\":");
        n(o, *c);
        o.push(b'}');
    });
    o.extend_from_slice(b",\"biggest\":");
    json_list(&mut o, &i.biggest, |o, b| {
        o.extend_from_slice(b"{\"db\":");
        n(o, b.db);
        o.push(b',');
        json_bytes_field(o, "key", &b.key);
        o.extend_from_slice(b",\"type\":");
        json_str(o, &b.kind);
        o.extend_from_slice(b",\"encoding\":");
        json_str(o, &b.encoding);
        o.extend_from_slice(b",\"bytes\":");
        n(o, b.bytes);
        o.push(b'}');
    });
    o.extend_from_slice(b"}\n");
    o
}
