//! The command line's files: dumps opened before anything is written, `-o` checked against
//! them and renamed into place on success, and errors reported with the file they are about.

use std::io::Write;
use std::path::{Path, PathBuf};

use rdbshift::input::{Dump, Identity};
use rdbshift::output::{OutFile, OutputError, Role};
use rdbshift::stop::Interruptible;

use super::ReadArgs;

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

/// [`open_dumps`] for a command that writes `output`: when an input cannot be read, says
/// that nothing was written (an existing output is left as it was).
pub fn open_dumps_for(
    files: &[PathBuf],
    read: &ReadArgs,
    output: Option<&Path>,
) -> Result<Vec<Dump>, i32> {
    open_dumps(files, read).inspect_err(|&code| {
        if code == 1 {
            nothing_written(output);
        }
    })
}

/// What is said when inputs could not be read and `-o` (a file) was left as it was.
pub fn nothing_written(output: Option<&Path>) {
    let Some(p) = output.filter(|p| *p != Path::new("-")) else { return };
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => {
            eprintln!("rdbshift: nothing was written; {} is unchanged", p.display())
        }
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
                w: Box::new(PathWriter {
                    w: std::io::BufWriter::with_capacity(1 << 20, f),
                    path: o.dest.clone(),
                }),
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
pub fn report_dump(dump: &rdbshift::input::Dump, e: &(dyn std::error::Error + 'static)) {
    if dump.changed() {
        report_msg(&dump.path, &dump.changed_message());
    } else {
        report(&dump.path, e);
    }
}

/// Prints an error the user sees: the file and the message, and what the user can do
/// about it when the error (or its cause) is a reader error of a kind a flag changes. The
/// file's name goes through `redact`: a target URL given where a file was expected must
/// not show its password.
pub fn report(file: &Path, e: &(dyn std::error::Error + 'static)) {
    let file = rdbshift::net::url::redact(&file.display().to_string());
    eprintln!("rdbshift: {file}: {e}{}", hint(e));
}

/// Prints a message the user sees about a file (see [`report`]).
pub fn report_msg(file: &Path, msg: &str) {
    eprintln!("rdbshift: {}: {msg}", rdbshift::net::url::redact(&file.display().to_string()));
}

/// What the user can do about a reader error, in the command line's terms (the reader
/// crate's messages name no flag): chosen by the error's kind.
fn hint(e: &(dyn std::error::Error + 'static)) -> &'static str {
    let mut cur = Some(e);
    while let Some(x) = cur {
        if let Some(f) = x.downcast_ref::<rdbshift::format::Error>() {
            return match f.kind {
                rdbshift::format::ErrorKind::TooNew { .. } => " (use --allow-newer to try anyway)",
                rdbshift::format::ErrorKind::DuplicateKey { .. } => {
                    "; --allow-duplicate-keys accepts it, the last one wins"
                }
                _ => "",
            };
        }
        cur = x.source();
    }
    ""
}
