//! `rdbshift verify`: checks that a server or cluster holds what dumps hold.

use std::path::PathBuf;

use clap::Args;
use rdbshift::net::url::redact;
use rdbshift::verify::{Job, PEL_EXACT};

use super::{CliResult, ConnArgs, FilterArgs, ReadArgs, open_dump, report};

#[derive(Args)]
pub struct VerifyArgs {
    /// The dumps that were loaded.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// redis://[[user]:password@]host:port[/db]; a lone name before @ is a password, as
    /// redis-cli reads it (--user names a user; the password may also come from REDISCLI_AUTH). A /db
    /// means every dump key is looked for in that db, as `load` puts it there.
    #[arg(long, value_name = "URL")]
    target: String,
    /// Look for every dump key in this database, as `load --to-db N` put it there (a
    /// cluster has only db 0).
    #[arg(long, value_name = "N", conflicts_with = "map_dbs")]
    to_db: Option<u64>,
    /// Check about N keys, spread evenly over the selected keys of the dumps, instead of all.
    #[arg(long, value_name = "N")]
    sample: Option<u64>,
    /// Also scan the target (the dbs verified, every master of a cluster) for keys that the
    /// filters select and the dumps do not hold; any such key makes the exit code 1. On a
    /// cluster only the slots the dumps' keys hold are scanned, so one shard's dump can be
    /// verified alone; on a standalone server give every dump that was loaded into it.
    #[arg(long)]
    extra: bool,
    /// Exit with code 2 when something could not be compared because the target cannot
    /// hold it (hash field TTLs before Redis 7.4, stream IDMP or NACKs, arrays, module
    /// values without the module).
    #[arg(long)]
    strict: bool,
    /// Consumer-group PELs up to this many entries are compared from XINFO STREAM FULL,
    /// longer ones in pages with XPENDING (tuning, tests).
    #[arg(long, value_name = "N", hide = true, default_value_t = PEL_EXACT)]
    pel_exact: usize,
    /// Write the report as JSON to this file (what was checked, against what, what was
    /// found; through a temporary file beside it, renamed into place at the end).
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

pub fn run(a: VerifyArgs) -> CliResult {
    let url = a.conn.url(&a.target)?;
    if let Some(p) = &a.report {
        let mut roles = super::input_roles(&a.files);
        roles.extend(rdbshift::output::Role::output("--report", p));
        rdbshift::output::check_roles(&roles)?;
    }
    // a dump that cannot be opened is reported; the others are still verified
    let dumps: Vec<_> = a.files.iter().filter_map(|f| open_dump(f)).collect();
    let mut code = i32::from(dumps.len() < a.files.len());
    let job = Job::new(url, dumps)
        .to_db(a.to_db)
        .sample(a.sample)
        .extra(a.extra)
        .pel_exact(a.pel_exact)
        .filter(a.filter.filter()?)
        .read_options(a.read.options())
        .json_report(a.report.is_some());
    let bar = a.progress.bar(Some(10));
    let outcome = match job.run(&bar) {
        Ok(o) => o,
        Err(e @ rdbshift::verify::Error::Net(_)) => {
            return Err(format!("{}: {e}", redact(&a.target)).into());
        }
        Err(e) => {
            eprintln!("rdbshift: {}: {e}", redact(&a.target));
            return Ok(1);
        }
    };
    for (path, e) in &outcome.problems {
        report(path, e.as_ref());
    }
    let rep = &outcome.report;
    for line in rep.lines(a.extra, outcome.seconds) {
        eprintln!("rdbshift: {line}");
    }
    if outcome.differs() {
        code = 1;
    }
    if let (Some(p), Some(json)) = (&a.report, &outcome.json) {
        let o = rdbshift::output::OutFile::create(p, &super::input_ids(&a.files))
            .map_err(|e| format!("report: {e}"))?;
        std::io::Write::write_all(&mut o.file(), json.as_bytes())
            .map_err(|e| format!("report {}: {e}", p.display()))?;
        o.commit().map_err(|e| format!("report: {e}"))?;
    }
    if a.strict && rep.incomplete() && code == 0 {
        eprintln!(
            "rdbshift: --strict: {} keys could not be compared in full",
            rep.not_comparable_keys()
        );
        code = 2;
    }
    Ok(code)
}
