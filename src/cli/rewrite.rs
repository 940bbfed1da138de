//! `rdbshift rewrite`: dumps to an RDB file a given server version loads natively, or to
//! one file per cluster master (`--nodes`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use rdbshift::convert::engine::RunError;
use rdbshift::convert::{Converted, Counts, source_server};
use rdbshift::job::Stop;
use rdbshift::output::{AheadFile, OutFile, Role};
use rdbshift::rewrite::{self, Job, nodes, sink::RdbSink, sink::Split};
use rdbshift::server::Server;
use rdbshift::stop::Interruptible;

use super::{
    CliResult, FilterArgs, ReadArgs, input_ids, input_roles, named, nothing_written,
    open_dumps_for, report_dump, report_msg,
};

#[derive(Args)]
pub struct RewriteArgs {
    /// RDB files to rewrite, one after the other, into one output (a key in several is
    /// written once: the last, as a replay would leave it; the others are named).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The RDB file to write (`-` for stdout); with --nodes, the directory the files go in.
    #[arg(short = 'o', long = "output", required = true)]
    output: PathBuf,
    /// The server that will load the file: `6.2`, `7.0`, `8.6`, `valkey-8.1`, `valkey-9.1` ...
    /// (default: the one that wrote the first dump).
    #[arg(long, value_name = "X.Y", value_parser = Server::parse)]
    target_version: Option<Server>,
    /// A cluster's nodes.conf, or the saved output of CLUSTER NODES: one file per master
    /// with the keys of its slots, DIR/<node id>.rdb.
    #[arg(long, value_name = "FILE")]
    nodes: Option<PathBuf>,
    /// Leave out module values and module aux data (for a target without the modules).
    #[arg(long)]
    drop_modules: bool,
    /// Leave out Redis Functions libraries.
    #[arg(long)]
    skip_functions: bool,
    /// Decoding threads (default: all cores). The output does not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
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

/// One output file: where it goes, and the master it is for (with --nodes).
struct Target {
    path: PathBuf,
    master: Option<nodes::Master>,
}

pub fn run(a: RewriteArgs) -> CliResult {
    let masters = match &a.nodes {
        None => None,
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| named(p, e))?;
            match nodes::parse(&text) {
                Ok(m) => Some(m),
                Err(e) => {
                    report_msg(p, &e);
                    return Ok(1);
                }
            }
        }
    };
    let targets: Vec<Target> = match &masters {
        None => vec![Target { path: a.output.clone(), master: None }],
        Some(ms) => ms
            .iter()
            .filter(|m| !m.ranges.is_empty())
            .map(|m| Target { path: rewrite::node_file(&a.output, m), master: Some(m.clone()) })
            .collect(),
    };
    if masters.is_some() && a.output == Path::new("-") {
        return Err("with --nodes, -o is the directory the files go in, not stdout".into());
    }
    // checked before anything is opened: no output may be one of the inputs
    let mut roles = input_roles(&a.files);
    for t in targets.iter().filter(|t| t.path != Path::new("-")) {
        roles.extend(Role::output("-o", &t.path));
    }
    rdbshift::output::check_roles(&roles)?;
    let first = targets.first().map(|t| t.path.clone());
    let dumps = match open_dumps_for(&a.files, &a.read, first.as_deref()) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let mut inputs = Vec::new();
    for dump in dumps {
        match source_server(dump.data(), a.read.options()) {
            Ok(s) => inputs.push((dump, s)),
            Err(e) => report_dump(&dump, &e),
        }
    }
    if inputs.len() < a.files.len() {
        nothing_written(first.as_deref());
        return Ok(1);
    }
    let target = a.target_version.unwrap_or(inputs[0].1);
    if let Err(e) = rewrite::check_target(target) {
        let hint = if a.target_version.is_none() {
            " (the default is the server that wrote the first dump: give --target-version)"
        } else {
            ""
        };
        return Err(format!("{e}{hint}").into());
    }
    let mut filter = a.filter.filter()?;
    let mut split = None;
    if let Some(ms) = &masters {
        // a key goes to the master of its slot; --slots narrows that further
        let served: Vec<(u16, u16)> = ms.iter().flat_map(|m| m.ranges.clone()).collect();
        let mut owner = vec![None; 16384];
        for (i, t) in targets.iter().enumerate() {
            for &(x, y) in &t.master.as_ref().expect("a master per file").ranges {
                (x..=y).for_each(|s| owner[s as usize] = Some(i as u16));
            }
        }
        let mut set = rdbshift::slot::SlotSet::of(&served);
        if let Some(user) = &filter.slots {
            set = set.and(user);
        }
        filter.slots = Some(std::sync::Arc::new(set));
        split = Some(Split { owner });
        let free = nodes::uncovered(ms);
        if !free.is_empty() {
            eprintln!(
                "rdbshift: warning: {}: no master serves slots {}: their keys are left out (counted as filtered)",
                a.nodes.as_ref().expect("--nodes").display(),
                nodes::show(&free)
            );
        }
    }
    let job = Job::new(inputs, target)
        .filter(filter)
        .read_options(a.read.options())
        .engine(a.threads, a.chunk_bytes)
        .drop_modules(a.drop_modules)
        .skip_functions(a.skip_functions);
    let dups = match job.duplicates() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("rdbshift: {e}");
            nothing_written(first.as_deref());
            return Ok(1);
        }
    };
    // the files, through temporary files renamed into place once all are complete
    if masters.is_some() {
        std::fs::create_dir_all(&a.output).map_err(|e| named(&a.output, e))?;
    }
    let ids = input_ids(&a.files);
    let mut outs = Vec::new();
    let mut writers: Vec<Box<dyn Write + Send>> = Vec::new();
    for t in &targets {
        if t.path == Path::new("-") {
            writers
                .push(Box::new(std::io::BufWriter::with_capacity(1 << 20, super::stdout_writer())));
            continue;
        }
        let o = OutFile::create(&t.path, &ids)?;
        // the sink writes pieces of about 1 MiB, and flushes each file once, when it is
        // complete: a new regular file's blocks are allocated ahead of the writes
        if o.is_regular() {
            writers.push(Box::new(Interruptible(AheadFile::new(o.try_clone()?))));
        } else {
            writers.push(Box::new(Interruptible(o.try_clone()?)));
        }
        outs.push(o);
    }
    let aux: Vec<Vec<(Vec<u8>, Vec<u8>)>> = targets
        .iter()
        .map(|t| match &t.master {
            Some(m) => vec![
                (b"rdbshift-node".to_vec(), m.id.as_bytes().to_vec()),
                (b"rdbshift-slots".to_vec(), nodes::show(&m.ranges).into_bytes()),
            ],
            None => Vec::new(),
        })
        .collect();
    let head = rewrite::head(target, &job.sources());
    let mut sink = RdbSink::new(writers, &head, &aux, split, masters.is_some())
        .map_err(|e| named(&targets[0].path, e))?;
    let started = std::time::Instant::now();
    let stop = Stop::on_signals();
    let to_terminal =
        a.output == Path::new("-") && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let bar = if to_terminal { super::progress::Bar::none() } else { a.progress.bar(None) };
    let done = job.run(&mut sink, &dups, &stop, &bar)?;
    if let Some(sig) = stop.requested() {
        eprintln!("rdbshift: {}; the unfinished output was removed", rdbshift::stop::error(sig));
        return Ok(rdbshift::stop::exit_code(sig));
    }
    for c in &done {
        match (&c.error, &c.changed) {
            (Some(RunError::Sink(io)), _) => {
                eprintln!(
                    "rdbshift: {}: {io}",
                    first.as_deref().unwrap_or(Path::new("-")).display()
                );
            }
            (_, Some(changed)) => report_msg(&c.path, changed),
            (Some(e), None) => super::report(&c.path, e),
            (None, None) => continue,
        }
        // a file written in part would load as if whole: nothing is kept
        drop(outs);
        eprintln!("rdbshift: nothing was written (a rewritten file is whole or not there)");
        return Ok(1);
    }
    sink.finish().map_err(|e| named(&targets[0].path, e))?;
    let (bytes, keys) = (sink.bytes(), sink.keys());
    drop(sink);
    for o in outs {
        o.commit()?;
    }
    let mut total = Counts::default();
    let mut code = 0;
    for c in &done {
        say(c);
        if a.strict && c.incomplete() {
            code = 2;
        }
        total.add(&c.counts);
    }
    for d in dups.cases.iter().take(rdbshift::convert::NAMES_KEPT) {
        eprintln!(
            "rdbshift: warning: key {} (db {}) of {} at byte offset {} left out: the same name from {} at byte offset {} is written (the last wins)",
            rdbshift::encode::text::quote(&d.name),
            d.db,
            a.files[d.dropped.0].display(),
            d.dropped.1,
            a.files[d.kept.0].display(),
            d.kept.1
        );
    }
    for (i, t) in targets.iter().enumerate() {
        let Some(m) = &t.master else { continue };
        eprintln!(
            "rdbshift: {} ({}): slots {}: {} keys, {} bytes -> {}",
            m.id,
            m.addr,
            nodes::show(&m.ranges),
            keys[i],
            bytes[i],
            t.path.display()
        );
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "rdbshift: {} keys for {target} in {} file(s), {} bytes, {secs:.2}s",
        total.keys,
        targets.len(),
        bytes.iter().sum::<u64>()
    );
    Ok(code)
}

/// What one dump became, for the person: keys, notes and what could not be carried.
fn say(c: &Converted<std::io::Error>) {
    let (f, n, target) = (c.path.display(), &c.counts, c.target);
    let empty = if n.empty > 0 {
        format!(", {} empty (every server skips them)", n.empty)
    } else {
        String::new()
    };
    eprintln!(
        "rdbshift: {f}: {} keys for {target} ({} filtered out, {} expired, {} functions{empty})",
        n.keys, n.filtered, n.expired, n.functions
    );
    for (odd, k) in c.oddities.iter() {
        eprintln!(
            "rdbshift: note: {f}: {k} {} (every server loads them as stored)",
            odd.describe()
        );
    }
    if n.libraries_replaced > 0 {
        eprintln!(
            "rdbshift: note: {f}: {} function librar(y/ies) left out: a later dump has one of the same name (the last wins)",
            n.libraries_replaced
        );
    }
    if n.modules_written > 0 {
        eprintln!(
            "rdbshift: note: {f}: {} module value(s) written: the target refuses the file unless it loads their modules (--drop-modules leaves them out, counted)",
            n.modules_written
        );
    }
    if n.expired_fields > 0 {
        eprintln!("rdbshift: note: {f}: {} expired hash field(s) left out", n.expired_fields);
    }
    for w in n.warnings(&target.to_string()) {
        eprintln!("rdbshift: warning: {f}: {w}");
    }
}
