//! `rdbshift verify`: checks that a server or cluster holds what dumps hold.

use std::path::PathBuf;

use clap::Args;
use rdbshift::input::Dump;
use rdbshift::load::url::redact;
use rdbshift::load::verify::{Peers, VerifyReport, verify_dump};

use super::{CliResult, ConnArgs, FilterArgs, ReadArgs, open_dump, report};

#[derive(Args)]
pub struct VerifyArgs {
    /// The dumps that were loaded.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// redis://[user[:password]@]host:port[/db] (password also from REDISCLI_AUTH).
    #[arg(long, value_name = "URL")]
    target: String,
    /// Check about N keys, spread evenly over the dumps, instead of all.
    #[arg(long, value_name = "N")]
    sample: Option<u64>,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

/// Keys per dump, for sampling.
fn count_keys(data: &[u8], opts: rdbshift::format::record::Options) -> u64 {
    let Ok(mut r) = rdbshift::format::Reader::new(data, opts) else { return 0 };
    let mut n = 0;
    while let Ok(Some(rec)) = r.next_record() {
        n += matches!(rec, rdbshift::format::Record::Key(_)) as u64;
    }
    n
}

pub fn run(a: VerifyArgs) -> CliResult {
    let url = a.conn.url(&a.target)?;
    let mut p = Peers::connect(url).map_err(|e| format!("{}: {e}", redact(&a.target)))?;
    let filter = a.filter.filter();
    let mut rep = VerifyReport::default();
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
    // sampling: every k-th key, k from the total (deterministic, spread over the files)
    let every = match a.sample {
        Some(n) if n > 0 => {
            let total: u64 = dumps.iter().map(|(_, d)| count_keys(d.data(), a.read.options())).sum();
            (total / n).max(1)
        }
        _ => 1,
    };
    let mut i = 0u64;
    let mut pick = || {
        i += 1;
        (i - 1) % every == 0
    };
    for (f, d) in &dumps {
        if let Err(e) = verify_dump(&mut p, d.data(), a.read.options(), &filter, &mut pick, &mut rep) {
            report(f, &e);
            code = 1;
        }
    }
    eprintln!(
        "rdbshift: checked {} keys: {} missing, {} different, {} expired (not expected)",
        rep.checked, rep.missing, rep.different, rep.expired
    );
    for k in &rep.missing_keys {
        eprintln!("rdbshift:   missing: {k:?}");
    }
    for (k, w) in &rep.different_keys {
        eprintln!("rdbshift:   different: {k:?}: {w}");
    }
    if rep.missing + rep.different > 0 {
        code = 1;
    }
    Ok(code)
}
