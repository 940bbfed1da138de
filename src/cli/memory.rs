//! `rdbshift memory`: what each key, prefix and type of dumps will cost in a server's RAM.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use rdbshift::job::Progress;
use rdbshift::memory::render::{self, Summary};
use rdbshift::memory::scan::{self, Row};
use rdbshift::memory::tally::{Prefixes, Tally, keyspace_overhead};
use rdbshift::memory::{Allocator, Limits};
use rdbshift::server::Server;

use super::{CliResult, FilterArgs, ReadArgs, check_output, open_dumps_for, open_output, report};

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq)]
pub enum Format {
    /// A summary for the terminal.
    Text,
    /// One CSV row per key (or per prefix with --by prefix).
    Csv,
    /// One JSON object per line, per key (or per prefix).
    Jsonl,
    /// One self-contained HTML page: totals, a prefix flame graph, histograms, top keys.
    Html,
    /// The HTML page's data as one JSON document.
    Json,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq)]
pub enum By {
    Key,
    Prefix,
}

#[derive(Args)]
pub struct MemoryArgs {
    /// RDB files (several: one report over all of them, e.g. a cluster's shards).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Estimate for this server instead of the one that wrote each dump: 7.0, 8.6,
    /// valkey-9.1 ... The encodings it would choose on loading are simulated.
    #[arg(long = "as", value_name = "VERSION")]
    as_server: Option<String>,
    /// The allocator the server is built with: jemalloc (upstream builds, 8-byte
    /// quantum), jemalloc-16 (Debian and Ubuntu packages) or libc. By default, the build
    /// the test matrix uses for that version (see README).
    #[arg(long, value_name = "NAME")]
    allocator: Option<String>,
    /// An encoding threshold the server is configured with, NAME=VALUE (repeatable):
    /// hash-max-listpack-entries, hash-max-listpack-value, zset-max-listpack-entries,
    /// zset-max-listpack-value, set-max-intset-entries, set-max-listpack-entries,
    /// set-max-listpack-value, list-max-listpack-size (the -ziplist- names too).
    #[arg(long = "config", value_name = "NAME=VALUE")]
    config: Vec<String>,
    /// Output format (default: text on a terminal or without -o; else from -o's extension).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Rows per key or per prefix (csv and jsonl).
    #[arg(long, value_enum, default_value_t = By::Key)]
    by: By,
    /// Write here instead of stdout.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Bytes that end a key's namespace, for the prefix tree.
    #[arg(long, default_value = ":")]
    separators: String,
    /// Levels of the prefix tree.
    #[arg(long, default_value_t = 3)]
    depth: usize,
    /// Keep id-like segments (digits, long hex, UUIDs) in prefixes instead of writing `*`.
    #[arg(long)]
    exact_prefixes: bool,
    /// How many of the biggest keys to list.
    #[arg(long, default_value_t = 100)]
    top: usize,
    /// Memory the aggregation may use, in MiB: beyond it the smallest prefixes are dropped
    /// (their keys stay in their parents' figures, as "(other)").
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    budget: usize,
    #[command(flatten)]
    progress: super::args::ProgressArgs,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

fn limits(config: &[String]) -> Result<Limits, String> {
    let mut l = Limits::default();
    for c in config {
        let (name, value) =
            c.split_once('=').ok_or_else(|| format!("--config {c:?}: expected NAME=VALUE"))?;
        let v: i64 = value
            .trim()
            .parse()
            .map_err(|_| format!("--config {c:?}: {value:?} is not a number"))?;
        let name = name.trim().replace("ziplist", "listpack");
        let u = || u64::try_from(v).map_err(|_| format!("--config {c:?}: must not be negative"));
        match name.as_str() {
            "hash-max-listpack-entries" => l.hash_entries = u()?,
            "hash-max-listpack-value" => l.hash_value = u()?,
            "zset-max-listpack-entries" => l.zset_entries = u()?,
            "zset-max-listpack-value" => l.zset_value = u()?,
            "set-max-intset-entries" => l.set_intset_entries = u()?,
            "set-max-listpack-entries" => l.set_entries = u()?,
            "set-max-listpack-value" => l.set_value = u()?,
            "list-max-listpack-size" => {
                l.list_node_bytes = match v {
                    -1 => 4096,
                    -2 => 8192,
                    -3 => 16384,
                    -4 => 32768,
                    -5 => 65536,
                    // a positive size counts entries; nodes stay under the 8 KiB safety limit
                    1.. => {
                        l.list_node_items = Some(v as u64);
                        8192
                    }
                    _ => return Err(format!("--config {c:?}: expected -5 to -1 or a count")),
                }
            }
            _ => return Err(format!("--config {c:?}: unknown setting {name:?}")),
        }
    }
    Ok(l)
}

fn format_of(a: &MemoryArgs) -> Format {
    if let Some(f) = a.format {
        return f;
    }
    let ext = a.output.as_deref().and_then(Path::extension).and_then(|e| e.to_str());
    match ext {
        Some("html" | "htm") => Format::Html,
        Some("csv") => Format::Csv,
        Some("jsonl" | "ndjson") => Format::Jsonl,
        Some("json") => Format::Json,
        _ => Format::Text,
    }
}

pub fn run(a: MemoryArgs) -> CliResult {
    let as_server = a.as_server.as_deref().map(Server::parse).transpose()?;
    let alloc = match a.allocator.as_deref() {
        None => None,
        Some(n) => Some(Allocator::from_name(n).ok_or_else(|| {
            format!("--allocator {n:?}: expected one of {}", Allocator::NAMES.join(", "))
        })?),
    };
    let limits = limits(&a.config)?;
    let format = format_of(&a);
    if a.depth == 0 || a.depth > 64 {
        return Err("--depth: expected 1 to 64".into());
    }
    check_output(a.output.as_deref(), &a.files)?;
    let dumps = match open_dumps_for(&a.files, &a.read, a.output.as_deref()) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let filter = a.filter.filter()?;
    let cut = Prefixes {
        separators: a.separators.as_bytes().to_vec(),
        depth: a.depth,
        collapse_ids: !a.exact_prefixes,
    };
    let mut tally = Tally::new(a.top, cut, a.budget.saturating_mul(1 << 20), filter.now_ms);
    let mut output = open_output(a.output.as_deref(), &a.files)?;
    let rows = matches!(format, Format::Csv | Format::Jsonl) && a.by == By::Key;
    if rows && format == Format::Csv {
        writeln!(output.w, "{}", render::KEY_COLUMNS)?;
    }
    let bar = if a.output.is_some() { a.progress.bar(None) } else { super::progress::Bar::none() };
    bar.start(dumps.iter().map(|d| d.data().len() as u64).sum());
    let mut targets: Vec<String> = Vec::new();
    let mut overhead = 0u64;
    let mut code = 0;
    let mut incomplete: Vec<String> = Vec::new();
    let mut line = Vec::with_capacity(256);
    for d in &dumps {
        let t = match scan::target_for(d.data(), a.read.options(), as_server, alloc, limits) {
            Ok(t) => t,
            Err(e) => {
                report(&d.path, &e);
                incomplete.push(d.path.display().to_string());
                code = 1;
                continue;
            }
        };
        let label = t.to_string();
        if !targets.contains(&label) {
            targets.push(label);
        }
        let file = d.path.display().to_string();
        // this dump's keys and keys with a TTL per db: it is its own server's keyspace,
        // whose tables are sized by its keys
        let mut per_db: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        let release = |x, y| {
            d.release(x, y);
            bar.advance((y - x) as u64);
        };
        let out = &mut output.w;
        let r = scan::walk(d.data(), a.read.options(), &filter, &t, &release, &mut |row: Row| {
            if row.expired {
                tally.expired(&row.cost);
                return Ok(());
            }
            tally.add(row.db, row.key, row.expire_ms, &row.cost);
            let n = per_db.entry(row.db).or_default();
            n.0 += 1;
            n.1 += u64::from(row.expire_ms.is_some());
            if rows {
                line.clear();
                match format {
                    Format::Csv => render::key_csv(&mut line, &row, &file),
                    _ => render::key_jsonl(&mut line, &row, &file),
                }
                out.write_all(&line)?;
            }
            Ok(())
        });
        for &(keys, volatile) in per_db.values() {
            overhead += keyspace_overhead(&t, keys, volatile);
        }
        match r {
            Ok(_) if d.changed() => {
                super::report_msg(&d.path, &d.changed_message());
                incomplete.push(file.clone());
                code = 1;
            }
            Ok(_) => {}
            Err(scan::Error::Output(e)) => return Err(e.into()),
            Err(scan::Error::Stopped(sig)) => {
                eprintln!("rdbshift: {}", rdbshift::stop::error(sig));
                return Ok(rdbshift::stop::exit_code(sig));
            }
            Err(scan::Error::Format(e)) => {
                report(&d.path, &e);
                incomplete.push(file.clone());
                code = 1;
            }
        }
    }
    bar.finish();
    let files: Vec<String> = a.files.iter().map(|f| f.display().to_string()).collect();
    let summary = Summary { files: &files, targets: &targets, overhead, incomplete: &incomplete };
    let out = &mut output.w;
    match format {
        Format::Csv | Format::Jsonl if a.by == By::Prefix => {
            render::prefix_rows(out, &tally, format == Format::Csv)?
        }
        Format::Csv | Format::Jsonl => {}
        Format::Text => render::text(out, &tally, &summary)?,
        Format::Html | Format::Json => {
            let tool = format!("rdbshift {}", env!("CARGO_PKG_VERSION"));
            let doc = render::document(&tally, &summary, &tool, &now_text());
            if format == Format::Html {
                out.write_all(render::html(&doc).as_bytes())?;
            } else {
                writeln!(out, "{doc}")?;
            }
        }
    }
    output.commit()?;
    Ok(code)
}

/// Now, as an RFC 3339 UTC time.
fn now_text() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    rdbshift::encode::text::date(ms)
}
