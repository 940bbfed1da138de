//! `rdbshift load`: dumps into a live server or cluster, with a report of what arrived.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use rdbshift::convert::engine::{self, Config};
use rdbshift::convert::{MAX_BYTES, MAX_ELEMS, Mode, Plan};
use rdbshift::filter::Filter;
use rdbshift::format::ErrorKind;
use rdbshift::input::Dump;
use rdbshift::load::checkpoint::{self, Checkpoint};
use rdbshift::load::survey::{Survey, survey};

use rdbshift::load::url::{Url, redact};
use rdbshift::load::{Conflict, FileLoad, Report, Target};

use rdbshift::output::{OutFile, Role, check_roles};

use super::{CliResult, ConnArgs, FilterArgs, ReadArgs, input_ids, input_roles, open_dumps, report};

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
    /// redis://[[user]:password@]host:port[/db]; a lone name before @ is a password, as
    /// redis-cli reads it (--user names a user; the password may also come from REDISCLI_AUTH).
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
    /// Bytes of the file per unit of parallel work (tuning and tests).
    #[arg(long, value_name = "BYTES", hide = true)]
    chunk_bytes: Option<usize>,
    /// What to do with keys that already exist: replace them (default), skip them, or
    /// count them as failures.
    #[arg(long, value_enum, default_value_t = OnConflict::Replace)]
    on_conflict: OnConflict,
    /// Record progress here; a rerun continues where the last run stopped and sends the
    /// keys that failed again (a dump is matched by its size and CRC-64, not its path).
    /// Several runs may share one file.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// With --checkpoint: do not send again the keys an earlier run failed.
    #[arg(long)]
    skip_failed: bool,
    /// Exit with code 2 when something could not be carried to the target (see the
    /// warnings: hash field TTLs before Redis 7.4, stream IDMP or NACKs, arrays, ...), as
    /// `convert --strict` does (a load with failed keys still exits 1).
    #[arg(long)]
    strict: bool,
    /// With --checkpoint: forget what it recorded for these dumps and load them from the
    /// start (a checkpoint belongs to one load: its target, db mapping and selection; a
    /// rerun that differs is refused without this).
    #[arg(long)]
    checkpoint_reset: bool,
    /// Allow --to-db (or a URL /db) to put the keys of several dbs into one; names that
    /// occur in more than one db are reported, and the last one wins.
    #[arg(long)]
    merge_dbs: bool,
    /// Load a damaged dump's complete keys before the damage (default: a dump that fails
    /// the pre-pass is refused and nothing is sent).
    #[arg(long)]
    salvage: bool,
    /// After SIGINT/SIGTERM: how long to wait for the acknowledgements still due before
    /// writing the checkpoint and the report.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    stop_grace: u64,
    /// Least time between two checkpoint writes, in ms (tuning and tests).
    #[arg(long, value_name = "MS", hide = true, default_value_t = 1000)]
    checkpoint_interval_ms: u64,
    /// Write the report as JSON to this file (through a temporary file beside it, renamed
    /// into place at the end; it must not name a dump or the checkpoint).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

/// One dump, surveyed and ready to load.
struct Prepared {
    path: PathBuf,
    dump: Dump,
    fingerprint: String,
    survey: Survey,
    /// Where to start, and the keys an earlier run failed (to send again).
    start_at: usize,
    redo: BTreeSet<usize>,
    /// The pre-pass found damage here (`--salvage` loads what comes before it).
    damage: Option<String>,
}

/// The pre-pass of one dump (see [`rdbshift::load::survey`]): refuses it when damaged
/// (unless `--salvage`), and finds where a checkpoint says to resume.
fn prepare(
    a: &LoadArgs,
    dump: Dump,
    filter: &Filter,
    ckpt: Option<&Mutex<Checkpoint>>,
    merge: bool,
) -> Result<Prepared, String> {
    let data = dump.data();
    // the content's identity is needed only for a checkpoint (one more pass at memory speed)
    let fingerprint = match ckpt {
        Some(_) => {
            let fp = checkpoint::fingerprint(data);
            dump.release(0, data.len());
            fp
        }
        None => String::new(),
    };
    if a.checkpoint_reset
        && let Some(c) = ckpt
    {
        c.lock().unwrap().reset(&fingerprint);
    }
    let progress = ckpt.and_then(|c| c.lock().unwrap().progress(&fingerprint).cloned());
    let mut offsets: Vec<u64> = Vec::new();
    if let Some(p) = &progress {
        offsets.push(p.offset);
        offsets.extend(p.failed.iter().map(|x| x.0));
    }
    // name collisions between dbs matter only when several dbs are merged, which a first
    // pass tells: the names are gathered in a second one only then
    let first = survey(data, a.read.options(), filter, &offsets, false, &|x, y| dump.release(x, y));
    let first = match first {
        (s, None) if merge && a.merge_dbs && s.selected_dbs.len() > 1 => {
            // the first pass proved the structure, the checksum and the key names unique
            let names_only = a.read.options().no_checksum(true).allow_duplicate_keys(true);
            survey(data, names_only, filter, &offsets, true, &|x, y| dump.release(x, y))
        }
        other => other,
    };
    let (survey, damage) = match first {
        (s, None) => (s, None),
        (s, Some(e)) if a.salvage && !dump.changed() => (s, Some(e.to_string())),
        (s, Some(e)) => {
            if dump.changed() {
                return Err(dump.changed_message());
            }
            // the hint only when there is something to salvage
            let hint = match s.total_keys() {
                0 => String::new(),
                n => format!(" ({n} complete key(s) come before the damage: --salvage loads them)"),
            };
            return Err(format!("{e}; nothing was sent{hint}"));
        }
    };
    if dump.changed() {
        return Err(dump.changed_message());
    }
    let (mut start_at, mut redo) = (0, BTreeSet::new());
    if let Some(p) = progress {
        if !survey.bad_offsets.is_empty() {
            return Err(format!(
                "the checkpoint's offsets {:?} are not key boundaries of this dump: refusing to resume (remove the entry or the checkpoint)",
                survey.bad_offsets
            ));
        }
        start_at = p.offset as usize;
        if !a.skip_failed {
            redo = p.failed.iter().map(|x| x.0 as usize).collect();
        }
    }
    Ok(Prepared { path: dump.path.clone(), dump, fingerprint, survey, start_at, redo, damage })
}

pub fn run(a: LoadArgs) -> CliResult {
    let url = a.conn.url(&a.target)?;
    let started = Instant::now();
    let filter = a.filter.filter();
    let to_db = a.to_db.or(url.db);
    // what is read and written is checked first: no two roles may name one file
    let mut roles = input_roles(&a.files);
    if let Some(p) = &a.checkpoint {
        roles.push(Role::written("--checkpoint", p));
        roles.extend(checkpoint::side_files(p).into_iter().map(|(what, f)| Role::written(what, &f)));
    }
    if let Some(p) = &a.report {
        roles.extend(Role::output("--report", p));
    }
    check_roles(&roles)?;
    // then every dump is opened and its header read: nothing is written for a run whose
    // inputs cannot be read
    let opened = match open_dumps(&a.files, &a.read) {
        Ok(d) => d,
        Err(code) => {
            if code == 1 {
                eprintln!("rdbshift: nothing was loaded");
            }
            return Ok(code);
        }
    };
    // the checkpoint's place is checked before anything is sent
    let ckpt = match &a.checkpoint {
        Some(p) => {
            let mut c = Checkpoint::open(p)?;
            c.interval = Duration::from_millis(a.checkpoint_interval_ms);
            Some(Arc::new(Mutex::new(c)))
        }
        None => None,
    };
    // every dump is proven intact before a byte of any of them is sent
    let mut dumps = Vec::new();
    let mut code = 0;
    for dump in opened {
        let path = dump.path.clone();
        match prepare(&a, dump, &filter, ckpt.as_deref(), to_db.is_some()) {
            Ok(p) => dumps.push(p),
            Err(e) => {
                report(&path, &e);
                code = 1;
            }
        }
    }
    if code != 0 {
        eprintln!("rdbshift: nothing was loaded");
        return Ok(code);
    }
    // the report's temporary file beside it (so its place is known to work before anything
    // is sent); renamed over it at the end
    let report_file = match &a.report {
        Some(p) => Some(OutFile::create(p, &input_ids(&a.files)).map_err(|e| format!("report: {e}"))?),
        None => None,
    };
    for d in &dumps {
        if to_db.is_some() && d.survey.selected_dbs.len() > 1 && !a.merge_dbs {
            report(
                &d.path,
                &format!(
                    "keys in dbs {:?} would all go into db {}: say --merge-dbs to do that (names in several dbs: the last wins, and they are reported), or choose one with --db N",
                    d.survey.selected_dbs,
                    to_db.unwrap_or(0)
                ),
            );
            code = 1;
        }
        for (odd, n) in d.survey.oddities.iter() {
            eprintln!(
                "rdbshift: note: {}: {n} {} (every server loads them as stored; RESTORE carries them as they are)",
                d.path.display(),
                odd.describe()
            );
        }
        if d.survey.collision_count > 0 {
            let names: Vec<String> =
                d.survey.collisions.iter().map(|n| format!("{:?}", String::from_utf8_lossy(n))).collect();
            eprintln!(
                "rdbshift: warning: {}: {} key name(s) occur in more than one of the merged dbs; the last one wins: {}",
                d.path.display(),
                d.survey.collision_count,
                names.join(", ")
            );
        }
    }
    if code != 0 {
        eprintln!("rdbshift: nothing was loaded");
        return Ok(code);
    }
    let mut t = Target::connect(url.clone()).map_err(|e| format!("{}: {e}", redact(&a.target)))?;
    eprintln!("rdbshift: {} is {} ({})", url, t.server, if t.cluster { "cluster" } else { "standalone" });
    // a checkpoint belongs to one load: progress another load recorded is refused
    if let Some(c) = &ckpt {
        let spec = checkpoint::Spec {
            target: t.identity().map_err(|e| format!("{}: {e}", redact(&a.target)))?,
            dbs: match to_db {
                Some(db) => format!("all into db {db}"),
                None => "as in the dump".into(),
            },
            selection: filter.describe(),
        };
        let mut c = c.lock().unwrap();
        for d in &dumps {
            if let Err(diff) = c.check(&d.fingerprint, &spec) {
                report(
                    &d.path,
                    &format!(
                        "the checkpoint {} records another load of this dump: {}; rerun with the options it was made with, or add --checkpoint-reset to load this dump from the start",
                        a.checkpoint.as_deref().unwrap_or(std::path::Path::new("")).display(),
                        diff.join("; ")
                    ),
                );
                code = 1;
            }
        }
        if code != 0 {
            eprintln!("rdbshift: nothing was loaded");
            return Ok(code);
        }
        c.bind(spec);
    }
    if let Some(w) = a.window {
        t.window = w.max(1);
    }
    // every db keys go to exists, before anything is sent
    let mut target_dbs: BTreeSet<u64> = BTreeSet::new();
    for d in &dumps {
        match to_db {
            Some(db) => {
                target_dbs.insert(db);
            }
            None => target_dbs.extend(d.survey.selected_dbs.iter().copied()),
        }
    }
    if let Err(e) = t.check_dbs(&target_dbs.iter().copied().collect::<Vec<_>>()) {
        let hint = if t.cluster { " (load one db with --db N --to-db 0)" } else { "" };
        eprintln!("rdbshift: {e}{hint}; nothing was loaded");
        return Ok(1);
    }
    let mut cfg = Config::default();
    if let Some(n) = a.threads {
        cfg.threads = n.max(1);
    }
    if let Some(c) = a.chunk_bytes {
        cfg.chunk_bytes = c.max(1);
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(cfg.threads).build()?;
    // a progress bar only for a person watching (stderr a terminal)
    let total: u64 = dumps.iter().map(|d| d.dump.data().len() as u64).sum();
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
    // one thread per dump (one per source shard), all through the same connections
    let server = t.server;
    let shared = Mutex::new(t);
    let grace = Duration::from_secs(a.stop_grace);
    // a write blocked on a stalled server when a stop comes goes on for the grace at most
    rdbshift::stop::set_grace(grace);
    let one = |i: usize, d: &Prepared| -> (i32, u64) {
        let data = d.dump.data();
        let f = &d.path;
        let plan = Plan {
            target: server,
            mode: if a.mode == Some(LoadMode::Commands) { Mode::Commands } else { Mode::Restore },
            max_elems: MAX_ELEMS,
            max_bytes: MAX_BYTES,
            filter: filter.clone(),
            skip_functions: false,
            start_at: d.start_at,
            redo: d.redo.clone(),
        };
        // a finished dump still goes through the engine, which sends nothing before
        // `start_at` and counts each key as done earlier or filtered out
        if plan.start_at >= data.len() && plan.redo.is_empty() {
            eprintln!("rdbshift: {}: already loaded (checkpoint)", f.display());
        } else if plan.start_at > 0 {
            eprintln!(
                "rdbshift: {}: resuming at byte offset {} (checkpoint){}",
                f.display(),
                plan.start_at,
                if plan.redo.is_empty() {
                    String::new()
                } else {
                    format!(", sending again {} key(s) that failed", plan.redo.len())
                }
            );
        }
        let h = match rdbshift::format::Header::parse(data, a.read.allow_newer) {
            Ok(h) => h,
            Err(e) => {
                report(f, &e);
                return (1, 0);
            }
        };
        let mut fl = FileLoad::new(&shared, i as u32, data, h, &plan, to_db);
        fl.on_conflict = match a.on_conflict {
            OnConflict::Replace => Conflict::Replace,
            OnConflict::Skip => Conflict::Skip,
            OnConflict::Fail => Conflict::Fail,
        };
        fl.checkpoint = ckpt.clone().map(|c| (c, d.fingerprint.clone(), Checkpoint::path_name(f)));
        fl.progress = bar.clone().map(|b| (b, 0));
        // the pre-pass has checked the structure, the checksum and duplicate keys: the
        // engine's skim need not keep a second table of key names
        let opts = a.read.options().allow_duplicate_keys(true);
        let (counts, r) = engine::run(data, opts, &plan, &cfg, &pool, &mut fl, &|x, y| d.dump.release(x, y));
        let stopped = rdbshift::stop::requested().is_some();
        // after a stop, what is left of the grace since the signal (several dumps wait in turn)
        let wait = if stopped { rdbshift::stop::grace_left(grace) } else { grace };
        let fin = fl.finish(r.is_ok() && !stopped, (stopped || r.is_err()).then_some(wait));
        drop(fl);
        shared.lock().unwrap_or_else(|p| p.into_inner()).report.counts.add(&counts);
        let mut code = 0;
        for w in counts.warnings(&server.to_string()) {
            eprintln!("rdbshift: warning: {}: {w}", f.display());
            if a.strict {
                code = 2;
            }
        }
        if let Some(dmg) = &d.damage {
            report(f, &format!("{dmg} (--salvage: the complete keys before it were loaded)"));
            code = code.max(1);
        } else if let Err(e) = r {
            if d.dump.changed() {
                report(f, &d.dump.changed_message());
            } else if !stopped {
                match e.kind {
                    ErrorKind::Sink(io) => report(f, &io),
                    _ => report(f, &e),
                }
            }
            code = 1;
        }
        if let Err(e) = fin {
            report(f, &e);
            code = 1;
        }
        (code, d.survey.total_keys())
    };
    let results: Vec<(i32, u64)> = std::thread::scope(|s| {
        let hs: Vec<_> = dumps.iter().enumerate().map(|(i, d)| s.spawn(move || one(i, d))).collect();
        hs.into_iter().map(|h| h.join().unwrap_or((1, 0))).collect()
    });
    // a failure (1) says more than a loss --strict counts (2)
    let mut code = if results.iter().any(|r| r.0 == 1) { 1 } else { results.iter().map(|r| r.0).max().unwrap_or(0) };
    let keys: u64 = results.iter().map(|r| r.1).sum();
    let t = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let rep = &t.report;
    let acct = Accounting::of(rep, keys);
    let secs = started.elapsed().as_secs_f64();
    print_report(rep, &acct, secs);
    for (addr, why) in &t.given_up {
        eprintln!("rdbshift: gave up on {addr}: {why}, {} times in a row; its keys failed", rdbshift::load::STRIKES);
    }
    if let Some(o) = report_file {
        let mut odd = rdbshift::format::visit::Oddities::default();
        for d in &dumps {
            odd.merge(&d.survey.oddities);
        }
        let json = report_json(rep, &acct, &url, secs, &t.given_up, &odd);
        std::io::Write::write_all(&mut o.file(), json.as_bytes())
            .map_err(|e| format!("report {}: {e}", o.dest.display()))?;
        o.commit().map_err(|e| format!("report: {e}"))?;
    }
    if let Some(sig) = rdbshift::stop::requested() {
        eprintln!(
            "rdbshift: {}: the checkpoint and report record what was acknowledged; rerun to continue",
            rdbshift::stop::error(sig)
        );
        return Ok(rdbshift::stop::exit_code(sig));
    }
    if rep.failed > 0 || acct.not_sent > 0 {
        code = 1;
    }
    Ok(code)
}

/// Where every key of the dumps ended up: the counts add up to the dumps' keys.
struct Accounting {
    keys: u64,
    /// Keys neither loaded, failed, skipped, filtered, expired nor resumed: the load
    /// stopped before them (an error, damage, or a signal).
    not_sent: u64,
}

impl Accounting {
    fn of(r: &Report, keys: u64) -> Accounting {
        let c = &r.counts;
        let accounted = r.loaded + r.failed_keys() + r.skipped + c.filtered + c.expired + c.resumed;
        Accounting { keys, not_sent: keys.saturating_sub(accounted) }
    }
}

fn print_report(r: &Report, acct: &Accounting, secs: f64) {
    let c = &r.counts;
    eprintln!(
        "rdbshift: {} keys in the dumps: {} loaded, {} failed, {} skipped, {} filtered out, {} expired, {} done by an earlier run, {} not sent",
        acct.keys,
        r.loaded,
        r.failed_keys(),
        r.skipped,
        c.filtered,
        c.expired,
        c.resumed,
        acct.not_sent
    );
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

fn report_json(
    r: &Report,
    acct: &Accounting,
    url: &Url,
    secs: f64,
    given_up: &std::collections::BTreeMap<String, String>,
    odd: &rdbshift::format::visit::Oddities,
) -> String {
    use rdbshift::encode::text::{json_list, json_object, json_str};
    let mut o = Vec::new();
    o.extend_from_slice(b"{\"target\":");
    json_str(&mut o, &url.to_string());
    o.extend_from_slice(
        format!(
            ",\"keys\":{},\"not_sent\":{},\"resumed\":{},\"stopped_by_signal\":{},\"loaded\":{},\"failed\":{},\"skipped\":{},\"functions\":{},\"retries\":{},\"redirects\":{},\"reconnects\":{},\"seconds\":{:.3},\"filtered\":{},\"expired\":{}",
            acct.keys,
            acct.not_sent,
            r.counts.resumed,
            rdbshift::stop::requested().is_some(),
            r.loaded, r.failed, r.skipped, r.functions, r.retries, r.redirects, r.reconnects, secs, r.counts.filtered, r.counts.expired
        )
        .as_bytes(),
    );
    let c = &r.counts;
    o.extend_from_slice(
        format!(
            ",\"not_carried\":{{\"streams_idmp\":{},\"field_ttls\":{},\"key_metadata\":{},\"functions\":{},\"module_aux\":{},\"stream_counters\":{},\"idmp_records\":{},\"arrays\":{},\"streams_nack\":{},\"stream_lengths\":{}}}",
            c.idmp_dropped, c.field_ttls_dropped, c.meta_dropped, c.functions_skipped, c.module_aux_skipped, c.stream_counters_dropped, c.idmp_records_dropped, c.arrays_dropped, c.streams_nack, c.stream_lengths_dropped
        )
        .as_bytes(),
    );
    let int = |o: &mut Vec<u8>, n: u64| o.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    o.extend_from_slice(b",\"per_node\":");
    json_object(&mut o, &r.per_node, |o, n| {
        o.extend_from_slice(format!("{{\"loaded\":{},\"failed\":{}}}", n.loaded, n.failed).as_bytes())
    });
    o.extend_from_slice(b",\"odd_but_loadable\":");
    json_object(&mut o, odd.iter().map(|(k, n)| (k.name(), n)), int);
    o.extend_from_slice(b",\"given_up\":");
    json_object(&mut o, given_up, |o, why| json_str(o, why));
    o.extend_from_slice(b",\"errors\":");
    json_object(&mut o, &r.errors, |o, n| int(o, *n));
    o.extend_from_slice(b",\"failures\":");
    json_list(&mut o, &r.failures, |o, (k, e)| {
        o.extend_from_slice(b"{\"key\":");
        json_str(o, k);
        o.extend_from_slice(b",\"error\":");
        json_str(o, e);
        o.push(b'}');
    });
    o.extend_from_slice(b"}\n");
    String::from_utf8(o).unwrap()
}
