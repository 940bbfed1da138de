//! `rdbshift info`: a summary of each dump, as text or JSON.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use rdbshift::input::Dump;
use rdbshift::job::Progress;
use rdbshift::stats::gather;

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
    progress: super::args::ProgressArgs,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(a: InfoArgs) -> CliResult {
    let mut code = 0;
    let filter = a.filter.filter()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in &a.files {
        type Failure = Box<dyn std::error::Error + Send + Sync>;
        let res = Dump::open(f).map_err(Failure::from).and_then(|d| {
            let bar = a.progress.bar(None);
            bar.start(d.data().len() as u64);
            let release = |x, y| {
                d.release(x, y);
                bar.advance((y - x) as u64);
            };
            let r = gather(d.data(), a.read.options(), &filter, a.top, &release);
            bar.finish();
            if d.changed() {
                return Err(d.changed_message().into());
            }
            r.map(|info| (info, d.envelope.clone())).map_err(Failure::from)
        });
        match res {
            Ok((info, env)) => {
                let env = env.as_ref();
                let text = if a.json { info.to_json(f, env) } else { info.to_text(f, env) };
                out.write_all(&text)?;
            }
            Err(e) => {
                report(f, e.as_ref());
                if let Some(sig) = rdbshift::stop::requested() {
                    return Ok(rdbshift::stop::exit_code(sig));
                }
                code = 1;
            }
        }
    }
    Ok(code)
}
