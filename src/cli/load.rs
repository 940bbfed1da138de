//! `rdbshift load`: dumps into a live server or cluster, with a report of what arrived.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rdbshift::convert::Mode;
use rdbshift::job::Stop;
use rdbshift::load::throttle::Limits;
use rdbshift::load::{Job, checkpoint};
use rdbshift::net::url::redact;
use rdbshift::output::{OutFile, Role, check_roles};

use super::args::{LoadMode, OnConflict};
use super::{
    CliResult, ConnArgs, FilterArgs, ReadArgs, input_ids, input_roles, open_dumps, report,
};

#[derive(Args)]
#[command(group = clap::ArgGroup::new("limit").multiple(true).args(["max_ops", "max_bytes"]))]
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
    #[arg(long, value_name = "N", conflicts_with = "map_dbs")]
    to_db: Option<u64>,
    /// Decoding threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Fix the unacknowledged bytes allowed per node (384KiB, 4MiB, or a number of bytes).
    /// By default each node's window follows its path: what the round trip holds at the
    /// rate the server takes, plus 128 KiB queued at the server, which keeps its receive
    /// buffer short of full, near or far (at most 16 MiB).
    #[arg(long, value_name = "BYTES", value_parser = window_bytes)]
    window: Option<usize>,
    /// Send at most N operations per second over all nodes (each node with --per-node): a
    /// command is one, an MSET one per key it sets.
    #[arg(long, value_name = "N", value_parser = positive_rate)]
    max_ops: Option<f64>,
    /// Send at most RATE bytes per second over all nodes (each node with --per-node):
    /// 50MB, 512KiB, 1G (K, M, G are powers of 1000; KiB, MiB, GiB of 1024).
    #[arg(long, value_name = "RATE", value_parser = rdbshift::load::throttle::Limits::parse_rate)]
    max_bytes: Option<f64>,
    /// --max-ops and --max-bytes limit each node apart.
    #[arg(long, requires = "limit")]
    per_node: bool,
    /// Back off when a node's acknowledgements take longer than MS: its window halves
    /// (down to 16 KiB), and grows back once they take less than half of it.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    max_latency: Option<u64>,
    /// Serve Prometheus metrics on http://ADDR/metrics while loading (keys, bytes,
    /// failures by reason, retries, redirects, reconnects, throttled time, windows,
    /// acknowledgement latency; per node): 127.0.0.1:9187, or :9187 for every interface.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Check everything and print pre-flight (the target, permissions, keys and bytes per
    /// node, memory), then stop: nothing is sent.
    #[arg(long)]
    dry_run: bool,
    /// Load into a target whose maxmemory-policy may evict keys (refused by default: keys
    /// could disappear silently during the load).
    #[arg(long)]
    allow_eviction: bool,
    /// The target's version (`7.0`, `valkey-9.1` ...), for a target that denies INFO and
    /// HELLO; it also replaces what the server says.
    #[arg(long, value_name = "X.Y", value_parser = rdbshift::server::Server::parse)]
    target_version: Option<rdbshift::server::Server>,
    /// The target is a proxy that routes keys itself (twemproxy, Envoy ...): one
    /// connection, db 0, no cluster commands (also taken when it answers neither INFO nor
    /// HELLO).
    #[arg(long)]
    proxy: bool,
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
    progress: super::args::ProgressArgs,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(n) if n >= 1.0 && n.is_finite() => Ok(n),
        _ => Err(format!("{s:?}: expected a number of operations per second, at least 1")),
    }
}

pub fn run(a: LoadArgs) -> CliResult {
    let url = a.conn.url(&a.target)?;
    // what is read and written is checked first: no two roles may name one file
    let mut roles = input_roles(&a.files);
    if let Some(p) = &a.checkpoint {
        roles.push(Role::written("--checkpoint", p));
        roles
            .extend(checkpoint::side_files(p).into_iter().map(|(what, f)| Role::written(what, &f)));
    }
    if let Some(p) = &a.report {
        roles.extend(Role::output("--report", p));
    }
    check_roles(&roles)?;
    // then every dump is opened and its header read: nothing is written for a run whose
    // inputs cannot be read
    let dumps = match open_dumps(&a.files, &a.read) {
        Ok(d) => d,
        Err(code) => {
            if code == 1 {
                eprintln!("rdbshift: nothing was loaded");
            }
            return Ok(code);
        }
    };
    // the report's temporary file beside it (so its place is known to work before anything
    // is sent); renamed over it at the end
    let report_file = match &a.report {
        Some(p) => {
            Some(OutFile::create(p, &input_ids(&a.files)).map_err(|e| format!("report: {e}"))?)
        }
        None => None,
    };
    let job = Job::new(url, dumps)
        .mode(if a.mode == Some(LoadMode::Commands) { Mode::Commands } else { Mode::Restore })
        .to_db(a.to_db)
        .engine(a.threads, a.chunk_bytes)
        .window(a.window)
        .hints(rdbshift::net::Hints { version: a.target_version, proxy: a.proxy })
        .allow_eviction(a.allow_eviction)
        .dry_run(a.dry_run)
        .metrics(
            a.metrics.clone().map(|m| if m.starts_with(':') { format!("0.0.0.0{m}") } else { m }),
        )
        .limits(Limits {
            ops: a.max_ops,
            bytes: a.max_bytes,
            per_node: a.per_node,
            max_latency: a.max_latency.map(Duration::from_millis),
        })
        .on_conflict(a.on_conflict.into())
        .checkpoint(a.checkpoint.clone(), Duration::from_millis(a.checkpoint_interval_ms))
        .resume(a.skip_failed, a.checkpoint_reset)
        .merge_dbs(a.merge_dbs)
        .salvage(a.salvage)
        .stop_grace(Duration::from_secs(a.stop_grace))
        .filter(a.filter.filter()?)
        .read_options(a.read.options());
    let stop = Stop::on_signals();
    let bar = a.progress.bar(Some(10));
    let outcome = match job.run(&bar, &stop) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rdbshift: {}: {e}; nothing was loaded", redact(&a.target));
            return Ok(stop.requested().map_or(1, rdbshift::stop::exit_code));
        }
    };
    for (path, e) in &outcome.problems {
        report(path, e.as_ref());
    }
    let Some(rep) = outcome.report else {
        if a.dry_run
            && outcome.problems.is_empty()
            && let Some(pre) = &outcome.preflight
        {
            // the report holds what pre-flight found, for whatever decides on the load
            if let Some(o) = report_file {
                let text = format!(
                    "{{\"tool\":\"rdbshift {}\",\"dry_run\":true,\"preflight\":{}}}\n",
                    env!("CARGO_PKG_VERSION"),
                    pre.json
                );
                std::io::Write::write_all(&mut o.file(), text.as_bytes())
                    .map_err(|e| format!("report {}: {e}", o.dest.display()))?;
                o.commit().map_err(|e| format!("report: {e}"))?;
            }
            eprintln!("rdbshift: --dry-run: the load may go; nothing was sent");
            return Ok(0);
        }
        eprintln!("rdbshift: nothing was loaded");
        return Ok(1);
    };
    for line in rep.lines() {
        eprintln!("rdbshift: {line}");
    }
    for (addr, why) in &rep.given_up {
        eprintln!(
            "rdbshift: gave up on {addr}: {why}, {} times in a row; its keys failed",
            rdbshift::load::STRIKES
        );
    }
    if let Some(o) = report_file {
        std::io::Write::write_all(&mut o.file(), rep.to_json().as_bytes())
            .map_err(|e| format!("report {}: {e}", o.dest.display()))?;
        o.commit().map_err(|e| format!("report: {e}"))?;
    }
    if let Some(sig) = rep.stopped_by {
        eprintln!(
            "rdbshift: {}: the checkpoint and report record what was acknowledged; rerun to continue",
            rdbshift::stop::error(sig)
        );
        return Ok(rdbshift::stop::exit_code(sig));
    }
    // a failure (1) says more than a loss --strict counts (2)
    Ok(if !outcome.problems.is_empty() || rep.lost_keys() {
        1
    } else if a.strict && outcome.incomplete {
        2
    } else {
        0
    })
}

/// `--window`: a byte count with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), from
/// 1 KiB to 64 GiB.
fn window_bytes(s: &str) -> Result<usize, String> {
    let bad = || format!("{s:?}: a window is a size from 1KiB to 64GiB, such as 384KiB or 4MiB");
    if s.trim().ends_with("/s") {
        return Err(bad());
    }
    let n = rdbshift::load::throttle::Limits::parse_rate(s).map_err(|_| bad())?;
    if !(1024.0..=(64u64 << 30) as f64).contains(&n) {
        return Err(bad());
    }
    Ok(n as usize)
}
