//! `rdbshift convert`: dumps to RESP commands (`redis-cli --pipe` input, or an AOF).

use std::path::{Path, PathBuf};

use clap::Args;
use rdbshift::convert::engine::{self, Config, RespSink};
use rdbshift::convert::{Counts, MAX_BYTES, MAX_ELEMS, Mode, Plan, Target, source_server};
use rdbshift::format::ErrorKind;

use rdbshift::output::OutFile;

use rdbshift::stop::Interruptible;

use super::{
    CliResult, FilterArgs, ReadArgs, check_output, input_ids, named, nothing_written, open_dumps, report_dump,
    stdout_writer,
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
    #[arg(long, value_name = "X.Y", value_parser = Target::parse)]
    target_version: Option<Target>,
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
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(a: ConvertArgs) -> CliResult {
    let mut cfg = Config::default();
    if let Some(t) = a.threads {
        cfg.threads = t.max(1);
    }
    if let Some(c) = a.chunk_bytes {
        cfg.chunk_bytes = c.max(1);
    }
    // checked before anything is opened: `-o` must not be one of the inputs
    check_output(Some(&a.output), &a.files)?;
    // every input is opened, its header and the server that wrote it read, before `-o` is
    // created: an unreadable input leaves an existing output as it was
    let dumps = match open_dumps(&a.files, &a.read) {
        Ok(d) => d,
        Err(code) => {
            if code == 1 {
                nothing_written(Some(&a.output));
            }
            return Ok(code);
        }
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
    let outfile =
        if a.output == Path::new("-") { None } else { Some(OutFile::create(&a.output, &input_ids(&a.files))?) };
    let dest = outfile.as_ref().map_or_else(|| PathBuf::from("-"), |o| o.dest.clone());
    let mut sink = match &outfile {
        None => RespSink::stream(Box::new(stdout_writer())),
        Some(o) if o.is_regular() => RespSink::file(o.try_clone()?),
        Some(o) => {
            RespSink::stream(Box::new(std::io::BufWriter::with_capacity(1 << 20, Interruptible(o.try_clone()?))))
        }
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(cfg.threads).build()?;
    let filter = a.filter.filter();
    let mut code = 0;
    let mut total = Counts::default();
    let started = std::time::Instant::now();
    // printed once the output is complete: a summary never precedes a failing final write
    let mut said: Vec<String> = Vec::new();
    for (dump, target) in &inputs {
        let (f, data, target) = (&dump.path, dump.data(), *target);
        let plan = Plan {
            target,
            mode: if a.restore { Mode::Restore } else { Mode::Commands },
            max_elems: a.batch_elements.max(1),
            max_bytes: a.batch_bytes.max(1),
            filter: filter.clone(),
            skip_functions: a.skip_functions,
            start_at: 0,
            redo: Default::default(),
        };
        let (counts, r) =
            engine::run(data, a.read.options(), &plan, &cfg, &pool, &mut sink, &|x, y| dump.release(x, y));
        said.push(format!(
            "rdbshift: {}: {} keys for {}{} ({} filtered out, {} expired, {} functions)",
            f.display(),
            counts.keys,
            target,
            if a.restore { format!(", {} as RESTORE", counts.restored) } else { String::new() },
            counts.filtered,
            counts.expired,
            counts.functions
        ));
        if a.target_version.is_none() && target.dump_version() > 9 {
            said.push(format!(
                "rdbshift: note: {}: written for {target}, the server that wrote the dump; older servers refuse what they cannot load (give --target-version X.Y or valkey-X.Y for the server you will load it into)",
                f.display()
            ));
        }
        if let Ok(t) = &r {
            for (odd, n) in t.oddities.iter() {
                said.push(format!(
                    "rdbshift: note: {}: {n} {} (every server loads them as stored)",
                    f.display(),
                    odd.describe()
                ));
            }
        }
        for w in counts.warnings(&target.to_string()) {
            said.push(format!("rdbshift: warning: {}: {w}", f.display()));
            if a.strict && code == 0 {
                code = 2;
            }
        }
        total.add(&counts);
        if let Some(sig) = rdbshift::stop::requested() {
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
        if let Err(e) = r {
            if let ErrorKind::Sink(io) = e.kind {
                return Err(named(&dest, io).into());
            }
            report_dump(dump, &e);
            code = 1;
        } else if dump.changed() {
            report_dump(dump, &"");
            code = 1;
        }
    }
    sink.finish().map_err(|e| named(&dest, e))?;
    drop(sink);
    if let Some(o) = outfile {
        o.commit()?;
    }
    for line in said {
        eprintln!("{line}");
    }
    if a.files.len() > 1 {
        eprintln!(
            "rdbshift: {} keys from {} files, {:.2}s",
            total.keys,
            a.files.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(code)
}
