//! Argument parsing and dispatch. Each subcommand lives in its own file.

mod convert;
mod info;
mod inspect;
mod load;
mod verify;

use std::io::Write;
use std::path::Path;

use clap::{Args, Parser, Subcommand};
use rdbshift::filter::Filter;
use rdbshift::format::record::Options;

#[derive(Parser)]
#[command(name = "rdbshift", version, about = "Read Redis/Valkey RDB snapshots offline and move their data.")]
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
    /// Check that a server or cluster holds every key of RDB files (or a sample).
    Verify(verify::VerifyArgs),
}

/// Options shared by commands that read dumps.
#[derive(Args, Clone, Debug)]
pub struct ReadArgs {
    /// Read files whose RDB version is newer than the newest known; stops at the first
    /// unknown type or opcode, naming it and its offset.
    #[arg(long)]
    pub allow_newer: bool,
    /// Do not verify the CRC-64 checksum at the end of the file.
    #[arg(long)]
    pub no_checksum: bool,
    /// Accept a key that appears twice in one database (the last one wins, as when
    /// replaying commands)
    #[arg(long)]
    pub allow_duplicate_keys: bool,
}

impl ReadArgs {
    pub fn options(&self) -> Options {
        Options {
            allow_newer: self.allow_newer,
            no_checksum: self.no_checksum,
            allow_duplicate_keys: self.allow_duplicate_keys,
        }
    }
}

/// TLS options for `rediss://` targets (load, verify).
#[derive(Args, Clone, Debug)]
pub struct TlsArgs {
    /// CA certificates (PEM) to check the server's certificate with (default: the public
    /// web roots).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Accept any server certificate (self-signed test setups; not for production).
    #[arg(long)]
    pub tls_insecure: bool,
}

impl TlsArgs {
    /// The target URL with its password from `REDISCLI_AUTH` when it has none, and TLS options.
    pub fn url(&self, target: &str) -> Result<rdbshift::load::url::Url, String> {
        let mut u = rdbshift::load::url::Url::parse(target, std::env::var("REDISCLI_AUTH").ok())?;
        u.tls_opts = rdbshift::load::tls::TlsOpts { ca: self.tls_ca.clone(), insecure: self.tls_insecure };
        Ok(u)
    }
}

/// Key selection shared by inspect, convert, load and verify.
#[derive(Args, Clone, Debug)]
pub struct FilterArgs {
    /// Only keys of this database (repeatable).
    #[arg(long = "db", value_name = "N")]
    pub dbs: Vec<u64>,
    /// Only keys matching this Redis-style glob (repeatable; any may match).
    #[arg(long = "key", value_name = "GLOB")]
    pub keys: Vec<String>,
    /// Only keys of this type: string, list, set, zset, hash, stream, module, or a module
    /// type name such as ReJSON-RL (repeatable).
    #[arg(long = "type", value_name = "T")]
    pub types: Vec<String>,
    /// Also include keys and hash fields whose expiry has already passed (a server drops
    /// them when it loads the file).
    #[arg(long)]
    pub include_expired: bool,
}

impl FilterArgs {
    pub fn filter(&self) -> Filter {
        Filter {
            dbs: self.dbs.clone(),
            globs: self.keys.iter().map(|g| g.as_bytes().to_vec()).collect(),
            types: self.types.clone(),
            include_expired: self.include_expired,
            now_ms: rdbshift::filter::now_ms(),
        }
    }
}

/// Opens `-o` (a path, or `-` for stdout) as a buffered writer.
pub fn open_output(path: Option<&Path>) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(match path {
        None => Box::new(std::io::BufWriter::with_capacity(1 << 20, std::io::stdout())),
        Some(p) if p == Path::new("-") => Box::new(std::io::BufWriter::with_capacity(1 << 20, std::io::stdout())),
        Some(p) => Box::new(std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(p)?)),
    })
}

/// Opens (maps) a dump; on failure reports it, naming the file, and gives `None`.
pub fn open_dump(f: &Path) -> Option<rdbshift::input::Dump> {
    rdbshift::input::Dump::open(f).map_err(|e| report(f, &e)).ok()
}

/// Prints an error the user sees: the file and the message.
pub fn report(file: &Path, e: &dyn std::fmt::Display) {
    eprintln!("rdbshift: {}: {e}", file.display());
}

/// What a subcommand returns: its exit code, or an error that ends the run.
pub type CliResult = Result<i32, Box<dyn std::error::Error>>;

pub fn run() -> i32 {
    let cli = Cli::parse();
    // A closed pipe (e.g. `| head`) is not an error worth a panic.
    let r = match cli.cmd {
        Cmd::Inspect(a) => inspect::run(a),
        Cmd::Info(a) => info::run(a),
        Cmd::Convert(a) => convert::run(a),
        Cmd::Load(a) => load::run(a),
        Cmd::Verify(a) => verify::run(a),
    };
    r.unwrap_or_else(|e| {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return 141;
            }
        }
        eprintln!("rdbshift: {e}");
        1
    })
}
