//! `rdbshift report merge`: per-shard load reports summed into one migration report.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rdbshift::output::{OutFile, Role, check_roles};

use super::CliResult;

#[derive(Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    cmd: ReportCmd,
}

#[derive(Subcommand)]
enum ReportCmd {
    /// Sum load reports (`load --report`, one per shard) into one: exit 1 if a shard
    /// failed, left keys unsent, was stopped, cannot be read or is missing (--expect).
    Merge(MergeArgs),
}

#[derive(Args)]
struct MergeArgs {
    /// The shards' reports (`shard-*.json`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// How many shards the migration has: fewer reports is a failure.
    #[arg(long, value_name = "N")]
    expect: Option<usize>,
    /// Write the merged report here (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(a: ReportArgs) -> CliResult {
    let ReportCmd::Merge(m) = a.cmd;
    let mut roles: Vec<Role> = m.files.iter().map(|f| Role::input(f)).collect();
    if let Some(o) = &m.output {
        roles.extend(Role::output("-o", o));
    }
    check_roles(&roles)?;
    let inputs = m.files.iter().map(|f| (f.clone(), std::fs::read(f))).collect();
    let merged = rdbshift::load::merge::merge(inputs, m.expect);
    match &m.output {
        Some(p) => {
            let o = OutFile::create(p, &[]).map_err(|e| format!("{}: {e}", p.display()))?;
            std::io::Write::write_all(&mut o.file(), merged.json.as_bytes())?;
            o.commit()?;
        }
        None => std::io::Write::write_all(&mut std::io::stdout(), merged.json.as_bytes())?,
    }
    for l in &merged.lines {
        eprintln!("rdbshift: {l}");
    }
    Ok(if merged.ok { 0 } else { 1 })
}
