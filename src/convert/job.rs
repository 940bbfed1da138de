//! A conversion of dumps into one RESP stream: each dump through the engine, in order,
//! for the server it is meant for.

use super::engine::{self, Config, RunError, Sink, Source};
use super::{Counts, MAX_BYTES, MAX_ELEMS, Mode, Plan, Server};
use crate::filter::Filter;
use crate::format::record::Options;
use crate::format::visit::Oddities;
use crate::input::Dump;
use crate::job::Stop;

/// A conversion, built with the setters below, then [`Job::run`].
pub struct Job {
    inputs: Vec<(Dump, Server)>,
    mode: Mode,
    max_elems: usize,
    max_bytes: usize,
    skip_functions: bool,
    cfg: Config,
    filter: Filter,
    read: Options,
}

/// What one dump became.
#[derive(Debug)]
pub struct Converted<E: std::error::Error + 'static> {
    /// The dump's path.
    pub path: std::path::PathBuf,
    /// The server the commands are for.
    pub target: Server,
    /// What was written, and what could not be carried.
    pub counts: Counts,
    /// What the dump holds that is odd but every server loads.
    pub oddities: Oddities,
    /// Why the dump's conversion ended early, if it did (everything before was written).
    pub error: Option<RunError<E>>,
    /// The file changed while it was read (what was read of it after that is not out):
    /// what the user is told.
    pub changed: Option<String>,
}

impl<E: std::error::Error + 'static> Converted<E> {
    /// Whether something could not be carried to the target (see [`Counts::warnings`]).
    pub fn incomplete(&self) -> bool {
        !self.counts.warnings(&self.target.to_string()).is_empty()
    }
}

/// The engine's thread pool, `threads` wide.
pub(crate) fn pool(threads: usize) -> std::io::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(std::io::Error::other)
}

/// Runs one dump through the engine by `plan` into `sink`, releasing its pages behind the
/// writer (they are the progress): what it became.
pub(crate) fn run_dump<E: std::error::Error + 'static>(
    dump: &Dump,
    plan: &Plan,
    read: Options,
    cfg: &Config,
    pool: &rayon::ThreadPool,
    sink: &mut dyn Sink<Error = E>,
    progress: &dyn crate::job::Progress,
) -> Converted<E> {
    let (counts, r) =
        engine::run(dump.data(), Source::Skim(read), plan, cfg, pool, sink, &|x, y| {
            dump.release(x, y);
            progress.advance((y - x) as u64);
        });
    let (oddities, error) = match r {
        Ok(t) => (t.oddities, None),
        Err(e) => (Oddities::default(), Some(e)),
    };
    Converted {
        path: dump.path.clone(),
        target: plan.target,
        counts,
        oddities,
        error,
        changed: dump.changed().then(|| dump.changed_message()),
    }
}

impl Job {
    /// A conversion of `inputs` (opened dumps, each with the server its commands are for):
    /// commands (no `RESTORE`), default batches, all cores.
    pub fn new(inputs: Vec<(Dump, Server)>) -> Job {
        Job {
            inputs,
            mode: Mode::Commands,
            max_elems: MAX_ELEMS,
            max_bytes: MAX_BYTES,
            skip_functions: false,
            cfg: Config::for_output(),
            filter: Filter::default(),
            read: Options::default(),
        }
    }
    /// `RESTORE` payloads where the target loads the type, or plain commands.
    pub fn mode(mut self, m: Mode) -> Self {
        self.mode = m;
        self
    }
    /// Most elements and argument bytes per command for big collections (at least 1).
    pub fn batches(mut self, elems: usize, bytes: usize) -> Self {
        (self.max_elems, self.max_bytes) = (elems.max(1), bytes.max(1));
        self
    }
    /// Leave out Redis Functions libraries.
    pub fn skip_functions(mut self, yes: bool) -> Self {
        self.skip_functions = yes;
        self
    }
    /// Decoding threads, and bytes of the file per unit of parallel work.
    pub fn engine(mut self, threads: Option<usize>, chunk_bytes: Option<usize>) -> Self {
        self.cfg = self.cfg.sized(threads, chunk_bytes);
        self
    }
    /// The keys to write.
    pub fn filter(mut self, f: Filter) -> Self {
        self.filter = f;
        self
    }
    /// How strictly the dumps are read.
    pub fn read_options(mut self, o: Options) -> Self {
        self.read = o;
        self
    }

    /// Converts every dump into `sink`, in order. Stops after a dump whose output failed,
    /// or when `stop` asks; a damaged dump's complete keys before the damage are written
    /// and the next dump goes on.
    pub fn run<E: std::error::Error + 'static>(
        &self,
        sink: &mut dyn Sink<Error = E>,
        stop: &Stop,
        progress: &dyn crate::job::Progress,
    ) -> Result<Vec<Converted<E>>, std::io::Error> {
        progress.start(self.inputs.iter().map(|(d, _)| d.data().len() as u64).sum());
        let cfg = Config { stop: stop.clone(), ..self.cfg.clone() };
        let pool = pool(cfg.threads)?;
        let mut done = Vec::new();
        for (dump, target) in &self.inputs {
            let plan = Plan {
                max_elems: self.max_elems,
                max_bytes: self.max_bytes,
                skip_functions: self.skip_functions,
                ..Plan::new(*target, self.mode, self.filter.clone())
            };
            let c = run_dump(dump, &plan, self.read, &cfg, &pool, sink, progress);
            // a damaged dump's complete keys are out, and the next dump goes on
            let last = matches!(c.error, Some(RunError::Sink(_))) || stop.requested().is_some();
            done.push(c);
            if last {
                break;
            }
        }
        progress.finish();
        Ok(done)
    }
}
