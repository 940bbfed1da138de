//! `rdbshift convert`: dumps to RESP commands (`redis-cli --pipe` input, or an AOF).

use std::path::{Path, PathBuf};

use clap::Args;
use rdbshift::convert::engine::{RespSink, RunError};
use rdbshift::convert::{Converted, Counts, Job, MAX_BYTES, MAX_ELEMS, Mode, source_server};
use rdbshift::job::Stop;
use rdbshift::output::OutFile;
use rdbshift::server::Server;
use rdbshift::stop::Interruptible;

use super::{
    CliResult, FilterArgs, ReadArgs, check_output, input_ids, named, nothing_written,
    open_dumps_for, report_dump, report_msg, stdout_writer,
};

#[derive(Args)]
pub struct ConvertArgs {
    /// RDB files to convert, one after the other, into one output.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output file (`-` for stdout).
    #[arg(short = 'o', long = "output", required = true)]
    output: PathBuf,
    /// Write `RESTORE` with DUMP payloads for keys whose type the target loads (commands
    /// for the others).
    #[arg(long)]
    restore: bool,
    /// The server the output is for: `7.0`, `8.6`, `valkey-9.1` ... (default: the one that
    /// wrote each dump, from its aux fields).
    #[arg(long, value_name = "X.Y", value_parser = Server::parse)]
    target_version: Option<Server>,
    /// Decoding threads (default: all cores). The output does not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Most elements per command for big collections.
    #[arg(long, value_name = "N", default_value_t = MAX_ELEMS)]
    batch_elements: usize,
    /// Most argument bytes per command for big collections.
    #[arg(long, value_name = "BYTES", default_value_t = MAX_BYTES)]
    batch_bytes: usize,
    /// Leave out Redis Functions libraries.
    #[arg(long)]
    skip_functions: bool,
    /// Bytes of the file per unit of parallel work (tuning and tests).
    #[arg(long, value_name = "BYTES", hide = true)]
    chunk_bytes: Option<usize>,
    /// Exit with code 2 when something could not be carried to the target (see warnings).
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    progress: super::args::ProgressArgs,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(a: ConvertArgs) -> CliResult {
    // checked before anything is opened: `-o` must not be one of the inputs
    check_output(Some(&a.output), &a.files)?;
    // every input is opened, its header and the server that wrote it read, before `-o` is
    // created: an unreadable input leaves an existing output as it was
    let dumps = match open_dumps_for(&a.files, &a.read, Some(&a.output)) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let mut inputs = Vec::new();
    for dump in dumps {
        match a.target_version.map_or_else(|| source_server(dump.data(), a.read.options()), Ok) {
            Ok(t) => inputs.push((dump, t)),
            Err(e) => report_dump(&dump, &e),
        }
    }
    if inputs.len() < a.files.len() {
        nothing_written(Some(&a.output));
        return Ok(1);
    }
    let outfile = if a.output == Path::new("-") {
        None
    } else {
        Some(OutFile::create(&a.output, &input_ids(&a.files))?)
    };
    let dest = outfile.as_ref().map_or_else(|| PathBuf::from("-"), |o| o.dest.clone());
    let mut sink = match &outfile {
        None => RespSink::stream(Box::new(stdout_writer())),
        Some(o) if o.is_regular() => RespSink::file(o.try_clone()?),
        Some(o) => RespSink::stream(Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            Interruptible(o.try_clone()?),
        ))),
    };
    let job = Job::new(inputs)
        .mode(if a.restore { Mode::Restore } else { Mode::Commands })
        .batches(a.batch_elements, a.batch_bytes)
        .skip_functions(a.skip_functions)
        .engine(a.threads, a.chunk_bytes)
        .filter(a.filter.filter()?)
        .read_options(a.read.options());
    let started = std::time::Instant::now();
    let stop = Stop::on_signals();
    // no progress over an output written to the terminal, where it would mix with it
    let to_terminal =
        a.output == Path::new("-") && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let bar = if to_terminal { super::progress::Bar::none() } else { a.progress.bar(None) };
    let mut done = job.run(&mut sink, &stop, &bar)?;
    if let Some(sig) = stop.requested() {
        // the unfinished output is removed when `outfile` drops
        match &outfile {
            Some(o) if o.is_regular() => eprintln!(
                "rdbshift: {}; the unfinished output {} was removed",
                rdbshift::stop::error(sig),
                dest.display()
            ),
            _ => eprintln!("rdbshift: {}", rdbshift::stop::error(sig)),
        }
        return Ok(rdbshift::stop::exit_code(sig));
    }
    // a failed output ends the run (the dump it was writing is the last converted)
    if let Some(Converted { error: Some(RunError::Sink(io)), .. }) =
        done.pop_if(|c| matches!(c.error, Some(RunError::Sink(_))))
    {
        return Err(named(&dest, io).into());
    }
    let mut code = 0;
    for c in &done {
        match (&c.error, &c.changed) {
            // what followed from reading zeros is not the error: the change is
            (_, Some(changed)) => report_msg(&c.path, changed),
            (Some(e), None) => super::report(&c.path, e),
            (None, None) => continue,
        }
        code = 1;
    }
    sink.finish().map_err(|e| named(&dest, e))?;
    drop(sink);
    if let Some(o) = outfile {
        o.commit()?;
    }
    // printed once the output is complete: a summary never precedes a failing final write
    let mut total = Counts::default();
    for c in &done {
        say(&a, c);
        if a.strict && code == 0 && c.incomplete() {
            code = 2;
        }
        total.add(&c.counts);
    }
    if a.files.len() > 1 {
        let secs = started.elapsed().as_secs_f64();
        eprintln!("rdbshift: {} keys from {} files, {secs:.2}s", total.keys, a.files.len());
    }
    Ok(code)
}

/// What one dump became, for the person: keys, notes and what could not be carried.
fn say(a: &ConvertArgs, c: &Converted<std::io::Error>) {
    let (f, n, target) = (c.path.display(), &c.counts, c.target);
    let restored = if a.restore { format!(", {} as RESTORE", n.restored) } else { String::new() };
    eprintln!(
        "rdbshift: {f}: {} keys for {target}{restored} ({} filtered out, {} expired, {} functions)",
        n.keys, n.filtered, n.expired, n.functions
    );
    if a.target_version.is_none() && target.dump_version() > 9 {
        eprintln!(
            "rdbshift: note: {f}: written for {target}, the server that wrote the dump; older servers refuse what they cannot load (give --target-version X.Y or valkey-X.Y for the server you will load it into)"
        );
    }
    for (odd, k) in c.oddities.iter() {
        eprintln!(
            "rdbshift: note: {f}: {k} {} (every server loads them as stored)",
            odd.describe()
        );
    }
    for w in n.warnings(&target.to_string()) {
        eprintln!("rdbshift: warning: {f}: {w}");
    }
}
