//! Argument parsing and dispatch. Each subcommand lives in its own file.

mod args;
mod conn;
mod convert;
mod files;
mod info;
mod inspect;
mod load;
mod man;
mod memory;
mod progress;
mod report;
mod rewrite;
mod verify;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

pub use args::{FilterArgs, ReadArgs};
pub use conn::ConnArgs;
pub use files::{
    check_output, input_ids, input_roles, named, nothing_written, open_dump, open_dumps,
    open_dumps_for, open_output, report, report_dump, report_msg, stdout_writer,
};

#[derive(Parser)]
#[command(
    name = "rdbshift",
    version,
    about = "Read Redis/Valkey RDB snapshots offline and move their data."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the keys of RDB files as JSON (one object per key).
    Inspect(inspect::InspectArgs),
    /// Summarize RDB files: version, aux fields, per-db counts, biggest keys, checksum.
    Info(info::InfoArgs),
    /// Convert RDB files to RESP commands (for `redis-cli --pipe`, or as an AOF).
    Convert(convert::ConvertArgs),
    /// Load RDB files into a Redis/Valkey server or cluster.
    Load(load::LoadArgs),
    /// Estimate what each key, prefix and type will cost in a server's RAM (MEMORY USAGE).
    Memory(memory::MemoryArgs),
    /// Write an RDB file a given server version loads natively (older Redis, Valkey), or one
    /// per cluster master by slots (--nodes).
    Rewrite(rewrite::RewriteArgs),
    /// Check that a server or cluster holds every key of RDB files (or a sample).
    Verify(verify::VerifyArgs),
    /// Work with load reports: `report merge shard-*.json` sums one migration's shards.
    Report(report::ReportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into --dir.
    Man {
        /// Write rdbshift.1 and one rdbshift-COMMAND.1 per command into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// What a subcommand returns: its exit code, or an error that ends the run.
pub type CliResult = Result<i32, Box<dyn std::error::Error>>;

pub fn run() -> i32 {
    let cli = Cli::parse();
    // SIGINT/SIGTERM become a request to stop cleanly where there is something to finish
    // (an output to remove, a checkpoint and a report to write); elsewhere they end the
    // process at once, as usual
    if matches!(
        cli.cmd,
        Cmd::Inspect(_) | Cmd::Convert(_) | Cmd::Load(_) | Cmd::Memory(_) | Cmd::Rewrite(_)
    ) {
        rdbshift::stop::install();
    }
    // A closed pipe (e.g. `| head`) is not an error worth a panic.
    let r = match cli.cmd {
        Cmd::Inspect(a) => inspect::run(a),
        Cmd::Info(a) => info::run(a),
        Cmd::Convert(a) => convert::run(a),
        Cmd::Load(a) => load::run(a),
        Cmd::Verify(a) => verify::run(a),
        Cmd::Memory(a) => memory::run(a),
        Cmd::Rewrite(a) => rewrite::run(a),
        Cmd::Report(a) => report::run(a),
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "rdbshift", &mut std::io::stdout());
            Ok(0)
        }
        Cmd::Man { dir } => man::run(Cli::command(), dir.as_deref()),
    };
    r.unwrap_or_else(|e| {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return 141;
        }
        if let Some(sig) = rdbshift::stop::requested() {
            eprintln!("rdbshift: {}", rdbshift::stop::error(sig));
            return rdbshift::stop::exit_code(sig);
        }
        eprintln!("rdbshift: {e}");
        1
    })
}
