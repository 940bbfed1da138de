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
    /// redis://[user[:password]@]host:port[/db] (password also from REDISCLI_AUTH). A /db
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
    /// filters select and the dumps do not hold; any such key makes the exit code 1.
    #[arg(long)]
    extra: bool,
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
    eprintln!(
        "rdbshift: checked {} keys: {} missing, {} different, {} expired (not expected) in {:.2}s",
        rep.checked,
        rep.missing,
        rep.different,
        rep.expired,
        started.elapsed().as_secs_f64()
    );
    for k in &rep.missing_keys {
        eprintln!("rdbshift:   missing: {k}");
    }
    for (k, w) in &rep.different_keys {
        eprintln!("rdbshift:   different: {k}: {w}");
    }
    if a.extra {
        eprintln!(
            "rdbshift: extra: {} keys on the target that the dumps do not hold ({} scanned)",
            rep.extra, rep.scanned
        );
        for k in &rep.extra_keys {
            eprintln!("rdbshift:   extra: {k}");
        }
    }
    if rep.missing + rep.different + rep.extra > 0 {
        code = 1;
    }
    Ok(code)
}
