//! `rdbshift convert`: dumps to RESP commands (`redis-cli --pipe` input, or an AOF).

use std::path::{Path, PathBuf};

use clap::Args;
use rdbshift::convert::engine::{self, Config, RespSink};
use rdbshift::convert::{Counts, MAX_BYTES, MAX_ELEMS, Mode, Plan, Target, source_server};
use rdbshift::format::ErrorKind;

use super::{CliResult, FilterArgs, ReadArgs, open_dump, open_output, report};

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
    let mut sink = if a.output == Path::new("-") {
        RespSink::stream(open_output(None)?)
    } else {
        let f = std::fs::File::create(&a.output)?;
        if f.metadata()?.is_file() {
            RespSink::file(f)
        } else {
            RespSink::stream(Box::new(std::io::BufWriter::with_capacity(1 << 20, f)))
        }
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(cfg.threads).build()?;
    let filter = a.filter.filter();
    let mut code = 0;
    let mut total = Counts::default();
    let started = std::time::Instant::now();
    for f in &a.files {
        let Some(dump) = open_dump(f) else {
            code = 1;
            continue;
        };
        let data = dump.data();
        let target = match a.target_version {
            Some(t) => t,
            None => match source_server(data, a.read.options()) {
                Ok(t) => t,
                Err(e) => {
                    report(f, &e);
                    code = 1;
                    continue;
                }
            },
        };
        let plan = Plan {
            target,
            mode: if a.restore { Mode::Restore } else { Mode::Commands },
            max_elems: a.batch_elements.max(1),
            max_bytes: a.batch_bytes.max(1),
            filter: filter.clone(),
            skip_functions: a.skip_functions,
            start_at: 0,
        };
        let (counts, r) =
            engine::run(data, a.read.options(), &plan, &cfg, &pool, &mut sink, &|x, y| dump.release(x, y));
        eprintln!(
            "rdbshift: {}: {} keys for {}{} ({} filtered out, {} expired, {} functions)",
            f.display(),
            counts.keys,
            target,
            if a.restore { format!(", {} as RESTORE", counts.restored) } else { String::new() },
            counts.filtered,
            counts.expired,
            counts.functions
        );
        for w in counts.warnings(&target.to_string()) {
            eprintln!("rdbshift: warning: {}: {w}", f.display());
            if a.strict && code == 0 {
                code = 2;
            }
        }
        total.add(&counts);
        if let Err(e) = r {
            if let ErrorKind::Sink(io) = e.kind {
                return Err(io.into());
            }
            report(f, &e);
            code = 1;
        }
    }
    sink.finish()?;
    if a.files.len() > 1 {
        eprintln!(
            "rdbshift: {} keys from {} files, {} bytes, {:.2}s",
            total.keys,
            a.files.len(),
            sink.bytes,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(code)
}
