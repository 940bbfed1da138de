//! `rdbshift inspect`: keys as JSON lines or one JSON document, streamed.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rdbshift::encode::json::{self, write_key};
use rdbshift::filter::{Filter, Verdict};
use rdbshift::format::Reader;
use rdbshift::format::Scratch;
use rdbshift::format::record::Record;
use rdbshift::input::{Behind, Dump};
use rdbshift::job::Progress;

use super::{
    CliResult, FilterArgs, ReadArgs, check_output, open_dumps_for, open_output, report, report_msg,
};

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// One JSON array holding every key object.
    Json,
}

#[derive(Args)]
pub struct InspectArgs {
    /// RDB files to read.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Write here instead of stdout (`-` is stdout).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    #[command(flatten)]
    progress: super::args::ProgressArgs,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(a: InspectArgs) -> CliResult {
    // `-o` is checked against the inputs, and every input opened and its header read, before
    // `-o` is created: an unreadable input leaves an existing output as it was
    check_output(a.output.as_deref(), &a.files)?;
    let dumps = match open_dumps_for(&a.files, &a.read, a.output.as_deref()) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let mut output = open_output(a.output.as_deref(), &a.files)?;
    let out = &mut output.w;
    let filter = a.filter.filter()?;
    let mut written = 0u64;
    if a.format == Format::Json {
        out.write_all(b"[")?;
    }
    let mut code = 0;
    // progress with -o only: on stdout it would mix with the keys
    let bar = if a.output.is_some() { a.progress.bar(None) } else { super::progress::Bar::none() };
    bar.start(dumps.iter().map(|d| d.data().len() as u64).sum());
    for dump in &dumps {
        match inspect_one(dump, &a, &filter, &mut **out, &mut written, &bar) {
            Err(json::Error::Output(io)) => return Err(io.into()),
            _ if dump.changed() => report_msg(&dump.path, &dump.changed_message()),
            Err(json::Error::Format(e)) => report(&dump.path, &e),
            Ok(()) => continue,
        }
        code = 1;
    }
    if a.format == Format::Json {
        out.write_all(if written > 0 { b"\n]\n" } else { b"]\n" })?;
    }
    bar.finish();
    output.commit()?;
    Ok(code)
}

fn inspect_one(
    dump: &Dump,
    a: &InspectArgs,
    filter: &Filter,
    out: &mut dyn Write,
    written: &mut u64,
    bar: &dyn Progress,
) -> Result<(), json::Error> {
    let data = dump.data();
    let mut r = Reader::new(data, a.read.options())?;
    let mut scratch = Scratch::default();
    let mut behind = Behind::new(|a, b| {
        dump.release(a, b);
        bar.advance((b - a) as u64);
    });
    // several dumps: every record says which one it came from
    let path = dump.path.display().to_string();
    let file = (a.files.len() > 1).then_some(path.as_str());
    while let Some(rec) = r.next_record()? {
        let Record::Key(k) = rec else { continue };
        if let Some(sig) = rdbshift::stop::requested() {
            return Err(rdbshift::stop::error(sig).into());
        }
        if rdbshift::input::faulted() {
            return Err(rdbshift::input::changed_error(k.start()).into());
        }
        behind.passed(r.checked_upto());
        if !filter.db(k.db()) {
            continue;
        }
        let name = k.name()?;
        let Verdict::Keep(name) = filter.judge(&k, &name) else { continue };
        let prefix: &[u8] = match (a.format, *written) {
            (Format::Json, 0) => b"\n",
            (Format::Json, _) => b",\n",
            _ => b"",
        };
        if write_key(&k, &name, filter, prefix, file, out, &mut scratch)? {
            *written += 1;
            if a.format == Format::Jsonl {
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}
