//! Argument parsing and dispatch. Each subcommand lives in its own file.

mod conn;
mod convert;
mod info;
mod inspect;
mod load;
mod man;
mod verify;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, Parser, Subcommand};
use rdbshift::filter::Filter;
use rdbshift::format::record::Options;
use rdbshift::input::{Dump, Identity};
use rdbshift::output::{OutFile, OutputError, Role};
use rdbshift::stop::Interruptible;

pub use conn::ConnArgs;

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
        Options::default()
            .allow_newer(self.allow_newer)
            .no_checksum(self.no_checksum)
            .allow_duplicate_keys(self.allow_duplicate_keys)
    }
}

/// Key selection shared by inspect, info, convert, load and verify (one stage:
/// [`rdbshift::filter::Filter::judge`]).
#[derive(Args, Clone, Debug)]
pub struct FilterArgs {
    /// Only keys of this database (repeatable).
    #[arg(long = "db", value_name = "N")]
    pub dbs: Vec<u64>,
    /// Leave out the keys of this database (repeatable).
    #[arg(long = "exclude-db", value_name = "N")]
    pub exclude_dbs: Vec<u64>,
    /// Only keys matching this Redis-style glob (repeatable; any may match).
    #[arg(long = "key", value_name = "GLOB")]
    pub keys: Vec<String>,
    /// Leave out keys matching this Redis-style glob (repeatable).
    #[arg(long = "exclude-key", value_name = "GLOB")]
    pub exclude_keys: Vec<String>,
    /// Only keys of this type: string, list, set, zset, hash, stream, module, or a module
    /// type name such as ReJSON-RL (repeatable).
    #[arg(long = "type", value_name = "T", value_parser = rdbshift::filter::check_type)]
    pub types: Vec<String>,
    /// Leave out keys of this type (same names as --type; repeatable).
    #[arg(long = "exclude-type", value_name = "T", value_parser = rdbshift::filter::check_type)]
    pub exclude_types: Vec<String>,
    /// Also include keys and hash fields whose expiry has already passed (a server drops
    /// them when it loads the file).
    #[arg(long)]
    pub include_expired: bool,
}

impl FilterArgs {
    pub fn filter(&self) -> Filter {
        let globs = |g: &[String]| g.iter().map(|g| g.as_bytes().to_vec()).collect();
        Filter {
            dbs: self.dbs.clone(),
            exclude_dbs: self.exclude_dbs.clone(),
            globs: globs(&self.keys),
            exclude_globs: globs(&self.exclude_keys),
            types: self.types.clone(),
            exclude_types: self.exclude_types.clone(),
            include_expired: self.include_expired,
            now_ms: rdbshift::filter::now_ms(),
        }
    }
}

/// Where `-o` goes: stdout, or an [`OutFile`] renamed into place on success.
pub struct Output {
    pub w: Box<dyn Write + Send>,
    pub file: Option<OutFile>,
}

impl Output {
    /// Flushes and, for a file, renames it into place. Errors name the path.
    pub fn commit(mut self) -> Result<(), Box<dyn std::error::Error>> {
        let dest = self.file.as_ref().map(|f| f.dest.clone());
        if let Err(e) = self.w.flush() {
            return Err(match dest {
                Some(d) => OutputError::io(&d, e).into(),
                None => e.into(),
            });
        }
        if let Some(f) = self.file.take() {
            f.commit()?;
        }
        Ok(())
    }
}

/// What identifies each input that exists (an output must not be one of them).
pub fn input_ids(files: &[PathBuf]) -> Vec<(PathBuf, Identity)> {
    files.iter().filter_map(|f| Identity::at(f).ok().map(|i| (f.clone(), i))).collect()
}

/// The inputs' roles, for [`rdbshift::output::check_roles`].
pub fn input_roles(files: &[PathBuf]) -> Vec<Role> {
    files.iter().map(|f| Role::input(f)).collect()
}

/// Checks `-o` (`None` or `-`: stdout) against the inputs, before anything is opened.
pub fn check_output(output: Option<&Path>, inputs: &[PathBuf]) -> Result<(), OutputError> {
    let mut roles = input_roles(inputs);
    if let Some(p) = output.filter(|p| *p != Path::new("-")) {
        roles.extend(Role::output("-o", p));
    }
    rdbshift::output::check_roles(&roles)
}

/// Opens every dump and reads its header, before anything is written: an output, a report
/// or a checkpoint is never touched by a run whose inputs cannot be read (a missing file,
/// garbage, a cut envelope). Each failure is reported; `Err` holds the exit code (1, or
/// 130/143 when a stop came while an envelope was decompressed).
pub fn open_dumps(files: &[PathBuf], read: &ReadArgs) -> Result<Vec<Dump>, i32> {
    let mut dumps = Vec::with_capacity(files.len());
    let mut failed = false;
    for f in files {
        match Dump::open(f) {
            Ok(d) => match rdbshift::format::Reader::new(d.data(), read.options()) {
                Ok(_) => dumps.push(d),
                Err(e) => {
                    report_dump(&d, &e);
                    failed = true;
                }
            },
            Err(e) => {
                if let Some(sig) = rdbshift::stop::requested() {
                    report(f, &e);
                    return Err(rdbshift::stop::exit_code(sig));
                }
                report(f, &e);
                failed = true;
            }
        }
    }
    if failed { Err(1) } else { Ok(dumps) }
}

/// What is said when inputs could not be read and `-o` (a file) was left as it was.
pub fn nothing_written(output: Option<&Path>) {
    let Some(p) = output.filter(|p| *p != Path::new("-")) else { return };
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => eprintln!("rdbshift: nothing was written; {} is unchanged", p.display()),
        Ok(_) => {}
        Err(_) => eprintln!("rdbshift: nothing was written to {}", p.display()),
    }
}

/// Standard output for a command's output: buffered here, and a write blocked on a pipe
/// nobody reads ends at a stop (see [`rdbshift::stop`]).
pub fn stdout_writer() -> std::io::BufWriter<Interruptible<rdbshift::stop::Stdout>> {
    std::io::BufWriter::with_capacity(1 << 20, Interruptible(rdbshift::stop::Stdout))
}

/// Opens `-o` (a path, or `-`/none for stdout) as a buffered writer; a path is refused
/// when it is one of `inputs`. Call after the inputs were opened ([`open_dumps`]).
pub fn open_output(path: Option<&Path>, inputs: &[PathBuf]) -> Result<Output, OutputError> {
    Ok(match path {
        None => Output { w: Box::new(stdout_writer()), file: None },
        Some(p) if p == Path::new("-") => Output { w: Box::new(stdout_writer()), file: None },
        Some(p) => {
            let o = OutFile::create(p, &input_ids(inputs))?;
            let f = Interruptible(o.try_clone()?);
            Output {
                w: Box::new(PathWriter { w: std::io::BufWriter::with_capacity(1 << 20, f), path: o.dest.clone() }),
                file: Some(o),
            }
        }
    })
}

/// A writer whose errors name its path.
struct PathWriter<W: Write> {
    w: W,
    path: PathBuf,
}

impl<W: Write> Write for PathWriter<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.w.write(b).map_err(|e| named(&self.path, e))
    }
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.w.write_all(b).map_err(|e| named(&self.path, e))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush().map_err(|e| named(&self.path, e))
    }
}

/// An I/O error whose message starts with the path it happened on.
pub fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Opens (maps) a dump; on failure reports it, naming the file and what it is, and gives
/// `None`.
pub fn open_dump(f: &Path) -> Option<rdbshift::input::Dump> {
    rdbshift::input::Dump::open(f).map_err(|e| report(f, &e)).ok()
}

/// Reports a dump's error; when the file changed under the mapping, that is the error
/// (what followed from reading zeros is not).
pub fn report_dump(dump: &rdbshift::input::Dump, e: &dyn std::fmt::Display) {
    if dump.changed() {
        report(&dump.path, &dump.changed_message());
    } else {
        report(&dump.path, e);
    }
}

/// Prints an error the user sees: the file and the message. The file's name goes through
/// `redact`: a target URL given where a file was expected must not show its password.
pub fn report(file: &Path, e: &dyn std::fmt::Display) {
    let msg = e.to_string();
    eprintln!("rdbshift: {}: {msg}{}", rdbshift::load::url::redact(&file.display().to_string()), hint(&msg));
}

/// What the user can do about a reader error, in the command line's terms (the reader
/// crate's messages name no flag).
fn hint(msg: &str) -> &'static str {
    if msg.contains("unsupported RDB version") {
        " (use --allow-newer to try anyway)"
    } else if msg.contains("Duplicated key found in RDB file") {
        "; --allow-duplicate-keys accepts it, the last one wins"
    } else {
        ""
    }
}

/// What a subcommand returns: its exit code, or an error that ends the run.
pub type CliResult = Result<i32, Box<dyn std::error::Error>>;

pub fn run() -> i32 {
    let cli = Cli::parse();
    // SIGINT/SIGTERM become a request to stop cleanly where there is something to finish
    // (an output to remove, a checkpoint and a report to write); elsewhere they end the
    // process at once, as usual
    if matches!(cli.cmd, Cmd::Inspect(_) | Cmd::Convert(_) | Cmd::Load(_)) {
        rdbshift::stop::install();
    }
    // A closed pipe (e.g. `| head`) is not an error worth a panic.
    let r = match cli.cmd {
        Cmd::Inspect(a) => inspect::run(a),
        Cmd::Info(a) => info::run(a),
        Cmd::Convert(a) => convert::run(a),
        Cmd::Load(a) => load::run(a),
        Cmd::Verify(a) => verify::run(a),
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
