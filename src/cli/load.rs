//! `rdbshift load`: dumps into a live server or cluster, with a report of what arrived.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::{Args, ValueEnum};
use rdbshift::convert::engine::{self, Config};
use rdbshift::convert::{MAX_BYTES, MAX_ELEMS, Mode, Plan};
use rdbshift::format::record::Record;
use rdbshift::format::{ErrorKind, Reader};
use rdbshift::input::Dump;
use rdbshift::load::checkpoint::Checkpoint;
use rdbshift::load::url::{Url, redact};
use rdbshift::load::{Conflict, FileLoad, Report, Target};

use super::{CliResult, ConnArgs, FilterArgs, ReadArgs, open_dump, report};

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq)]
pub enum LoadMode {
    /// `RESTORE` payloads for every key whose type the target loads (commands for others).
    Restore,
    /// Plain commands only.
    Commands,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq)]
pub enum OnConflict {
    Replace,
    Skip,
    Fail,
}

#[derive(Args)]
pub struct LoadArgs {
    /// RDB files to load (one per source shard), one after the other.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// redis://[user[:password]@]host:port[/db] (the password may come from REDISCLI_AUTH).
    /// A cluster is detected and its slot map read.
    #[arg(long, value_name = "URL")]
    target: String,
    /// Default: restore (the target's version is asked, payloads fit it).
    #[arg(long, value_enum)]
    mode: Option<LoadMode>,
    /// Put every key into this database (a cluster has only db 0).
    #[arg(long, value_name = "N")]
    to_db: Option<u64>,
    /// Decoding threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Unacknowledged bytes allowed per node (tuning).
    #[arg(long, value_name = "BYTES", hide = true)]
    window: Option<usize>,
    /// What to do with keys that already exist: replace them (default), skip them, or
    /// count them as failures.
    #[arg(long, value_enum, default_value_t = OnConflict::Replace)]
    on_conflict: OnConflict,
    /// Record progress here; a rerun with the same file continues where the last run
    /// stopped (per dump: matched by path and size).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

/// The dbs that hold keys (a quick skim), to refuse a cluster load early.
fn dbs_with_keys(dump: &Dump, opts: rdbshift::format::record::Options) -> rdbshift::format::Result<Vec<u64>> {
    let mut r = Reader::new(dump.data(), opts)?;
    let mut dbs = Vec::new();
    let mut behind = rdbshift::input::Behind::new(|a, b| dump.release(a, b));
    while let Some(rec) = r.next_record()? {
        behind.passed(r.checked_upto());
        if let Record::Key(k) = rec {
            if dbs.last() != Some(&k.db) && !dbs.contains(&k.db) {
                dbs.push(k.db);
            }
        }
    }
    Ok(dbs)
}

pub fn run(a: LoadArgs) -> CliResult {
    let url = a.conn.url(&a.target)?;
    let started = Instant::now();
    let mut t = Target::connect(url.clone()).map_err(|e| format!("{}: {e}", redact(&a.target)))?;
    eprintln!("rdbshift: {} is {} ({})", url, t.server, if t.cluster { "cluster" } else { "standalone" });
    if let Some(w) = a.window {
        t.window = w.max(1);
    }
    let mut cfg = Config::default();
    if let Some(n) = a.threads {
        cfg.threads = n.max(1);
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(cfg.threads).build()?;
    let filter = a.filter.filter();
    let to_db = a.to_db.or(url.db);
    // a progress bar only for a person watching (stderr a terminal)
    let total: u64 = a.files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let ckpt = match &a.checkpoint {
        Some(p) => Some(Arc::new(Mutex::new(Checkpoint::open(p)?))),
        None => None,
    };
    // one thread per dump (one per source shard), all through the same connections
    let (server, cluster) = (t.server, t.cluster);
    let shared = Mutex::new(t);
    let one = |i: usize, f: &PathBuf| -> i32 {
        let Some(dump) = open_dump(f) else { return 1 };
        let data = dump.data();
        if cluster && to_db.is_none() {
            let other: Vec<u64> = match dbs_with_keys(&dump, a.read.options()) {
                Ok(dbs) => dbs.into_iter().filter(|d| *d != 0 && filter.db(*d)).collect(),
                Err(e) => {
                    report(f, &e);
                    return 1;
                }
            };
            if !other.is_empty() {
                report(
                    f,
                    &format!("keys in db {other:?}, and a cluster has only db 0: load one db with --db N --to-db 0"),
                );
                return 1;
            }
        }
        let mut plan = Plan {
            target: server,
            mode: if a.mode == Some(LoadMode::Commands) { Mode::Commands } else { Mode::Restore },
            max_elems: MAX_ELEMS,
            max_bytes: MAX_BYTES,
            filter: filter.clone(),
            skip_functions: false,
            start_at: 0,
        };
        let ck_name = Checkpoint::name(f);
        if let Some(c) = &ckpt {
            plan.start_at = c.lock().unwrap().resume_at(&ck_name, data.len() as u64) as usize;
            if plan.start_at >= data.len() {
                eprintln!("rdbshift: {}: already loaded (checkpoint)", f.display());
                return 0;
            }
            if plan.start_at > 0 {
                eprintln!("rdbshift: {}: resuming at byte offset {} (checkpoint)", f.display(), plan.start_at);
            }
        }
        let h = match rdbshift::format::Header::parse(data, a.read.allow_newer) {
            Ok(h) => h,
            Err(e) => {
                report(f, &e);
                return 1;
            }
        };
        let mut fl = FileLoad::new(&shared, i as u32, data, h, &plan, to_db);
        fl.on_conflict = match a.on_conflict {
            OnConflict::Replace => Conflict::Replace,
            OnConflict::Skip => Conflict::Skip,
            OnConflict::Fail => Conflict::Fail,
        };
        fl.checkpoint = ckpt.clone().map(|c| (c, ck_name.clone(), data.len() as u64));
        fl.progress = bar.clone().map(|b| (b, 0));
        let (counts, r) = engine::run(data, a.read.options(), &plan, &cfg, &pool, &mut fl, &|x, y| dump.release(x, y));
        let fin = fl.finish(r.is_ok());
        drop(fl);
        shared.lock().unwrap().report.counts.add(&counts);
        for w in counts.warnings(&server.to_string()) {
            eprintln!("rdbshift: warning: {}: {w}", f.display());
        }
        let mut code = 0;
        if let Err(e) = r {
            match e.kind {
                ErrorKind::Sink(io) => report(f, &io),
                _ => report(f, &e),
            }
            code = 1;
        }
        if let Err(e) = fin {
            report(f, &e);
            code = 1;
        }
        code
    };
    let codes: Vec<i32> = std::thread::scope(|s| {
        let hs: Vec<_> = a.files.iter().enumerate().map(|(i, f)| s.spawn(move || one(i, f))).collect();
        hs.into_iter().map(|h| h.join().unwrap_or(1)).collect()
    });
    let code = codes.into_iter().max().unwrap_or(0);
    let t = shared.into_inner().unwrap();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let rep = &t.report;
    print_report(rep, started.elapsed().as_secs_f64());
    if let Some(p) = &a.report {
        std::fs::write(p, report_json(rep, &url, started.elapsed().as_secs_f64()))?;
    }
    Ok(if rep.failed > 0 { code.max(1) } else { code })
}

fn print_report(r: &Report, secs: f64) {
    eprintln!(
        "rdbshift: loaded {} keys, {} failed, {} skipped (existing), {} functions in {:.2}s ({:.0} keys/s); {} retries, {} redirects, {} reconnects",
        r.loaded,
        r.failed,
        r.skipped,
        r.functions,
        secs,
        r.loaded as f64 / secs.max(1e-9),
        r.retries,
        r.redirects,
        r.reconnects
    );
    for (addr, n) in &r.per_node {
        eprintln!("rdbshift:   {addr}: {} loaded, {} failed", n.loaded, n.failed);
    }
    for (kind, n) in &r.errors {
        eprintln!("rdbshift:   {n} failed with {kind}");
    }
    for (k, e) in &r.failures {
        eprintln!("rdbshift:   failed: {k:?}: {e}");
    }
}

fn report_json(r: &Report, url: &Url, secs: f64) -> String {
    use rdbshift::encode::text::json_str;
    let mut o = Vec::new();
    o.extend_from_slice(b"{\"target\":");
    json_str(&mut o, &url.to_string());
    o.extend_from_slice(
        format!(
            ",\"loaded\":{},\"failed\":{},\"skipped\":{},\"functions\":{},\"retries\":{},\"redirects\":{},\"reconnects\":{},\"seconds\":{:.3},\"filtered\":{},\"expired\":{}",
            r.loaded, r.failed, r.skipped, r.functions, r.retries, r.redirects, r.reconnects, secs, r.counts.filtered, r.counts.expired
        )
        .as_bytes(),
    );
    let c = &r.counts;
    o.extend_from_slice(
        format!(
            ",\"not_carried\":{{\"streams_idmp\":{},\"field_ttls\":{},\"key_metadata\":{},\"functions\":{},\"module_aux\":{},\"stream_counters\":{},\"idmp_records\":{}}}",
            c.idmp_dropped, c.field_ttls_dropped, c.meta_dropped, c.functions_skipped, c.module_aux_skipped, c.stream_counters_dropped, c.idmp_records_dropped
        )
        .as_bytes(),
    );
    o.extend_from_slice(b",\"per_node\":{");
    for (i, (addr, n)) in r.per_node.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        json_str(&mut o, addr);
        o.extend_from_slice(format!(":{{\"loaded\":{},\"failed\":{}}}", n.loaded, n.failed).as_bytes());
    }
    o.extend_from_slice(b"},\"errors\":{");
    for (i, (k, n)) in r.errors.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        json_str(&mut o, k);
        o.extend_from_slice(format!(":{n}").as_bytes());
    }
    o.extend_from_slice(b"},\"failures\":[");
    for (i, (k, e)) in r.failures.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"key\":");
        json_str(&mut o, k);
        o.extend_from_slice(b",\"error\":");
        json_str(&mut o, e);
        o.push(b'}');
    }
    o.extend_from_slice(b"]}\n");
    String::from_utf8(o).unwrap()
}
