//! `rdbshift verify`: checks that a server or cluster holds what dumps hold.

use std::path::PathBuf;

use clap::Args;
use rdbshift::input::Dump;
use rdbshift::load::url::redact;
use rdbshift::load::verify::{PEL_EXACT, Peers, Settings, Verifier, survey};

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
    #[arg(long, value_name = "N")]
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
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(a: VerifyArgs) -> CliResult {
    let url = a.conn.url(&a.target)?;
    let to_db = a.to_db.or(url.db);
    let p = Peers::connect(url).map_err(|e| format!("{}: {e}", redact(&a.target)))?;
    if p.is_cluster() && to_db.is_some_and(|d| d != 0) {
        return Err(format!("{}: a cluster has only db 0 (--to-db or the URL's /db)", redact(&a.target)).into());
    }
    let filter = a.filter.filter();
    let mut code = 0;
    let dumps: Vec<(PathBuf, Dump)> = a
        .files
        .iter()
        .filter_map(|f| match open_dump(f) {
            Some(d) => Some((f.clone(), d)),
            None => {
                code = 1;
                None
            }
        })
        .collect();
    // a skim first when it is needed: the selected keys (sampling), their dbs (a cluster)
    let mut selected = 0;
    if a.sample.is_some() || (p.is_cluster() && to_db.is_none()) {
        for (f, d) in &dumps {
            let (dbs, n) = survey(d.data(), a.read.options(), &filter).map_err(|e| format!("{}: {e}", f.display()))?;
            if p.is_cluster() && to_db.is_none() && dbs.iter().any(|&db| db != 0) {
                let other: Vec<u64> = dbs.into_iter().filter(|&db| db != 0).collect();
                report(
                    f,
                    &format!("keys in db {other:?}, and a cluster has only db 0: verify one db with --db N --to-db 0"),
                );
                return Ok(1);
            }
            selected += n;
        }
    }
    // sampling: every k-th selected key (deterministic, spread over the files)
    let every = match a.sample {
        Some(n) if n > 0 => (selected / n).max(1),
        _ => 1,
    };
    let mut i = 0u64;
    let mut pick = || {
        i += 1;
        (i - 1).is_multiple_of(every)
    };
    let started = std::time::Instant::now();
    let settings = Settings { to_db, pel_exact: a.pel_exact };
    let mut v = Verifier::new(p, filter, settings, a.extra);
    for (f, d) in &dumps {
        if let Err(e) = v.dump(d.data(), a.read.options(), &mut pick) {
            report(f, &e);
            code = 1;
        }
    }
    if a.extra
        && code == 0
        && let Err(e) = v.extra()
    {
        eprintln!("rdbshift: looking for extra keys: {e}");
        code = 1;
    }
    let rep = &v.report;
    let not_comparable: u64 = rep.not_comparable.values().map(|n| n.keys).sum();
    eprintln!(
        "rdbshift: checked {} keys: {} missing, {} different, {} with server errors, {} expired (not expected), {} not comparable in {:.2}s",
        rep.checked,
        rep.missing,
        rep.different,
        rep.errors,
        rep.expired,
        not_comparable,
        started.elapsed().as_secs_f64()
    );
    for k in &rep.missing_keys {
        eprintln!("rdbshift:   missing: {k}");
    }
    for (k, w) in &rep.different_keys {
        eprintln!("rdbshift:   different: {k}: {w}");
    }
    for (k, w) in &rep.error_keys {
        eprintln!("rdbshift:   server error: {k}: {w}");
    }
    for (kind, n) in &rep.not_comparable {
        let items = if n.items != n.keys {
            format!("{} {kind} in {} keys", n.items, n.keys)
        } else {
            format!("{} {kind}", n.keys)
        };
        eprintln!("rdbshift: not comparable: {items}: {}", n.why);
        for k in &n.names {
            eprintln!("rdbshift:   not comparable: {k}");
        }
    }
    if a.extra {
        let scope = match rep.extra_slots {
            Some(n) => format!(" in the {n} slots the dumps' keys hold"),
            None => String::new(),
        };
        eprintln!(
            "rdbshift: extra: {} keys on the target{scope} that the dumps do not hold ({} scanned)",
            rep.extra, rep.scanned
        );
        for k in &rep.extra_keys {
            eprintln!("rdbshift:   extra: {k}");
        }
    }
    if rep.missing + rep.different + rep.extra + rep.errors > 0 {
        code = 1;
    }
    if a.strict && rep.incomplete() && code == 0 {
        eprintln!("rdbshift: --strict: {not_comparable} keys could not be compared in full");
        code = 2;
    }
    Ok(code)
}
