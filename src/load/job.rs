//! A whole load: every dump proven intact by the pre-pass before a byte is sent, the
//! checkpoint bound to this load, the target's dbs checked, then one engine run per dump
//! (all at once, through the same connections), and the report.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::checkpoint::{self, Checkpoint};
use super::preflight::{self, Preflight};
use super::sink::{CheckpointAt, FileLoad};
use super::survey::{Survey, survey};
use super::throttle::Limits;
use super::{Conflict, Error, Finish, Pool, Report};
use crate::convert::engine::{self, Config, RunError, Source};
use crate::convert::{Mode, Plan};
use crate::encode::text::json_str;
use crate::filter::Filter;
use crate::format::record::Options;
use crate::input::Dump;
use crate::job::Progress;
use crate::job::Stop;
use crate::net::Hints;
use crate::net::Url;
use crate::net::access::Perm;

use crate::job::Problem;

/// Bytes of commands per piece a load's workers hand on (a conversion's are 1 MiB). The
/// pieces in flight are most of a load's anonymous memory, and a load splits each piece
/// per node anyway: at 256 KiB the 1M-strings load peaks at about 42 MiB anonymous
/// instead of 68, in the same wall time (medians of 5 alternating runs: 2.59 s against
/// 2.72 s).
const LOAD_PIECE: usize = 256 << 10;

/// A load of dumps into a target, built with the setters below, then [`Job::run`].
pub struct Job {
    target: Url,
    dumps: Vec<Dump>,
    mode: Mode,
    to_db: Option<u64>,
    cfg: Config,
    window: Option<usize>,
    limits: Limits,
    on_conflict: Conflict,
    checkpoint: Option<(PathBuf, Duration)>,
    skip_failed: bool,
    checkpoint_reset: bool,
    merge_dbs: bool,
    salvage: bool,
    stop_grace: Duration,
    filter: Filter,
    read: Options,
    hints: Hints,
    allow_eviction: bool,
    dry_run: bool,
    /// `FUNCTION LOAD` is denied to the user (found at the start).
    functions_denied: bool,
    /// Where to serve Prometheus metrics while loading.
    metrics: Option<String>,
}

/// How a load ended.
pub struct Outcome {
    /// What the load did (when it started sending).
    pub report: Option<Report>,
    /// The dumps that could not be loaded, or not wholly.
    pub problems: Vec<Problem>,
    /// Something could not be carried to the target (see the warnings).
    pub incomplete: bool,
    /// What pre-flight found (when it ran).
    pub preflight: Option<Preflight>,
}

impl Outcome {
    fn refused(problems: Vec<Problem>) -> Outcome {
        Outcome { report: None, problems, incomplete: false, preflight: None }
    }
}

fn problem(
    path: &std::path::Path,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Problem {
    (path.to_path_buf(), e.into())
}

/// One dump, surveyed and ready to load.
struct Prepared {
    dump: Dump,
    fingerprint: String,
    survey: Survey,
    /// Where to start, and the keys an earlier run failed (to send again).
    start_at: usize,
    redo: BTreeSet<usize>,
    /// The pre-pass found damage here (`salvage` loads what comes before it).
    damage: Option<String>,
}

impl Job {
    /// A load of `dumps` (opened, headers read) into `target`: `RESTORE` payloads, every
    /// key in its own db, all cores.
    pub fn new(target: Url, dumps: Vec<Dump>) -> Job {
        Job {
            target,
            dumps,
            mode: Mode::Restore,
            to_db: None,
            cfg: Config::default(),
            window: None,
            limits: Limits::default(),
            on_conflict: Conflict::Replace,
            checkpoint: None,
            skip_failed: false,
            checkpoint_reset: false,
            merge_dbs: false,
            salvage: false,
            stop_grace: Duration::from_secs(30),
            filter: Filter::default(),
            read: Options::default(),
            hints: Hints::default(),
            allow_eviction: false,
            dry_run: false,
            functions_denied: false,
            metrics: None,
        }
    }
    /// Serve Prometheus metrics on `http://ADDR/metrics` while loading.
    pub fn metrics(mut self, addr: Option<String>) -> Self {
        self.metrics = addr;
        self
    }
    /// How to take a target that does not say what it is: its version (`--target-version`),
    /// a routing proxy (`--proxy`).
    pub fn hints(mut self, h: Hints) -> Self {
        self.hints = h;
        self
    }
    /// Load into a target that may evict keys (a `maxmemory` with an evicting policy).
    pub fn allow_eviction(mut self, yes: bool) -> Self {
        self.allow_eviction = yes;
        self
    }
    /// Stop after pre-flight: nothing is sent.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
    /// `RESTORE` payloads (where the target loads the type) or plain commands.
    pub fn mode(mut self, m: Mode) -> Self {
        self.mode = m;
        self
    }
    /// Every key into this db (default: the URL's `/db`, else the key's own).
    pub fn to_db(mut self, db: Option<u64>) -> Self {
        self.to_db = db;
        self
    }
    /// Decoding threads, and bytes of the file per unit of parallel work.
    pub fn engine(mut self, threads: Option<usize>, chunk_bytes: Option<usize>) -> Self {
        self.cfg = self.cfg.sized(threads, chunk_bytes);
        self
    }
    /// Unacknowledged bytes allowed per node.
    pub fn window(mut self, bytes: Option<usize>) -> Self {
        self.window = bytes;
        self
    }
    /// Limits on the sender (rates, latency): see [`super::throttle`].
    pub fn limits(mut self, l: Limits) -> Self {
        self.limits = l;
        self
    }
    /// What to do with keys that exist on the target.
    pub fn on_conflict(mut self, c: Conflict) -> Self {
        self.on_conflict = c;
        self
    }
    /// Records progress in this file (least time between two writes: `interval`).
    pub fn checkpoint(mut self, path: Option<PathBuf>, interval: Duration) -> Self {
        self.checkpoint = path.map(|p| (p, interval));
        self
    }
    /// With a checkpoint: `skip_failed` leaves the keys an earlier run failed; `reset`
    /// forgets what it recorded for these dumps.
    pub fn resume(mut self, skip_failed: bool, reset: bool) -> Self {
        self.skip_failed = skip_failed;
        self.checkpoint_reset = reset;
        self
    }
    /// Allow several dbs into one (`to_db`): names in several of them are reported.
    pub fn merge_dbs(mut self, yes: bool) -> Self {
        self.merge_dbs = yes;
        self
    }
    /// Load a damaged dump's complete keys before the damage.
    pub fn salvage(mut self, yes: bool) -> Self {
        self.salvage = yes;
        self
    }
    /// After a stop: how long to wait for the acknowledgements still due.
    pub fn stop_grace(mut self, d: Duration) -> Self {
        self.stop_grace = d;
        self
    }
    /// The keys to load.
    pub fn filter(mut self, f: Filter) -> Self {
        self.filter = f;
        self
    }
    /// How strictly the dumps are read.
    pub fn read_options(mut self, o: Options) -> Self {
        self.read = o;
        self
    }

    /// The db keys go to: `to_db`, else the URL's `/db`.
    fn dest_db(&self) -> Option<u64> {
        self.to_db.or(self.target.db)
    }

    /// Runs the load. `Err` only when nothing could be sent for a reason that is the
    /// target's (it cannot be reached, a db it lacks); problems with dumps are in the
    /// outcome.
    pub fn run(mut self, progress: &dyn Progress, stop: &Stop) -> Result<Outcome, Error> {
        let started = Instant::now();
        let started_ms = crate::filter::now_ms();
        self.filter.check_target_db(self.dest_db()).map_err(Error::Refused)?;
        let ckpt = match &self.checkpoint {
            Some((p, interval)) => {
                let mut c = Checkpoint::open(p)?;
                c.interval = *interval;
                Some(Arc::new(Mutex::new(c)))
            }
            None => None,
        };
        // every dump is proven intact before a byte of any of them is sent
        let mut dumps = Vec::new();
        let mut problems = Vec::new();
        for dump in std::mem::take(&mut self.dumps) {
            let path = dump.path.clone();
            match self.prepare(dump, ckpt.as_deref()) {
                Ok(p) => dumps.push(p),
                Err(e) => problems.push((path, e)),
            }
        }
        if !problems.is_empty() {
            return Ok(Outcome::refused(problems));
        }
        self.check_dbs_merged(&dumps, &mut problems, progress);
        if !problems.is_empty() {
            return Ok(Outcome::refused(problems));
        }
        // the metrics listen first: an address that cannot be had stops the load at once
        let exporter = match &self.metrics {
            Some(addr) => Some(crate::metrics::Exporter::start(addr).map_err(Error::Refused)?),
            None => None,
        };
        let mut pool = Pool::connect_with(self.target.clone(), &self.hints)?;
        if let Some(e) = &exporter {
            pool.set_metrics(e.page.clone());
            pool.publish_metrics(true);
            progress.note(&format!("metrics on http://{}/metrics", e.addr));
        }
        let adapted = self.adapt(&pool);
        if let Some(c) = &ckpt {
            self.bind_checkpoint(c, &mut pool, &dumps, &mut problems)?;
            if !problems.is_empty() {
                return Ok(Outcome::refused(problems));
            }
        }
        if let Some(w) = self.window {
            pool.set_window(w);
        }
        pool.set_limits(self.limits);
        // every db keys go to exists, before anything is sent
        let target_dbs: BTreeSet<u64> = match self.dest_db() {
            Some(db) => [db].into(),
            None => dumps
                .iter()
                .flat_map(|d| d.survey.selected_dbs.iter().map(|&db| self.filter.dest_db(db)))
                .collect(),
        };
        pool.check_dbs(&target_dbs.into_iter().collect::<Vec<_>>())?;
        // pre-flight: the block, then refused, a dry run's end, or on
        let mut held = preflight::Held::default();
        let model =
            crate::memory::Target::new(pool.probe().server, None, crate::memory::Limits::default());
        for d in &dumps {
            held.add(&d.survey, d.dump.data().len() as u64);
            // a sample of the keys, priced for the target by `rdbshift memory`'s model
            if let Ok(header) = crate::format::Header::parse(d.dump.data(), true) {
                let spans: Vec<_> = d.survey.cuts.iter().map(|c| (c.start, c.end, c.db)).collect();
                let s = crate::memory::sample::sample(
                    d.dump.data(),
                    header,
                    &spans,
                    &self.filter,
                    &model,
                    &|a, b| d.dump.release(a, b),
                );
                held.memory.add(&s);
            }
        }
        held.model = Some(model);
        let pre = preflight::check(&mut pool, &held, self.allow_eviction, adapted);
        for line in &pre.lines {
            progress.note(&format!("pre-flight: {line}"));
        }
        if !pre.refusals.is_empty() {
            return Err(Error::Refused(pre.refusals.join("; ")));
        }
        if self.dry_run {
            return Ok(Outcome { preflight: Some(pre), ..Outcome::refused(problems) });
        }
        let threads = crate::convert::pool(self.cfg.threads)
            .map_err(|e| Error::Fatal(format!("cannot start the decoding threads: {e}")))?;
        progress.start(dumps.iter().map(|d| d.dump.data().len() as u64).sum());
        // a write blocked on a stalled server when a stop comes goes on for the grace at most
        crate::stop::set_grace(self.stop_grace);
        let shared = Mutex::new(pool);
        let job = &self;
        let results: Vec<(Vec<Problem>, bool, u64)> = std::thread::scope(|s| {
            let hs: Vec<_> = dumps
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let (shared, threads, ckpt) = (&shared, &threads, &ckpt);
                    s.spawn(move || {
                        job.load_one(i as u32, d, shared, threads, ckpt.clone(), progress, stop)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or_else(|_| (Vec::new(), false, 0))).collect()
        });
        let mut pool = shared.into_inner().unwrap_or_else(|p| p.into_inner());
        progress.keys(pool.report.loaded);
        progress.finish();
        pool.publish_metrics(true);
        let mut report = pool.report().clone();
        report.target = self.target.to_string();
        report.given_up = pool.given_up().clone();
        for d in &dumps {
            report.odd.merge(&d.survey.oddities);
        }
        report.seconds = started.elapsed().as_secs_f64();
        report.rates = pool.throttle().rates(Instant::now());
        report.stopped_by = stop.requested();
        report.close(results.iter().map(|r| r.2).sum());
        report.preflight = pre.json.clone();
        report.tool = format!("rdbshift {}", env!("CARGO_PKG_VERSION"));
        report.started_ms = started_ms;
        report.ended_ms = crate::filter::now_ms();
        report.options = self.options_json();
        report.dumps = dumps
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let data = d.dump.data();
                super::report::DumpReport {
                    path: d.dump.path.display().to_string(),
                    size: data.len() as u64,
                    crc64: d.dump.crc64(d.survey.trailer.as_ref()),
                    keys: d.survey.total_keys(),
                    counts: report.by_file.get(&(i as u32)).copied().unwrap_or_default(),
                }
            })
            .collect();
        let incomplete = results.iter().any(|r| r.1);
        problems.extend(results.into_iter().flat_map(|r| r.0));
        Ok(Outcome { report: Some(report), problems, incomplete, preflight: Some(pre) })
    }

    /// The options the load runs with, as a JSON object for the report.
    fn options_json(&self) -> String {
        let mut o = Vec::new();
        o.extend_from_slice(b"{\"mode\":");
        json_str(&mut o, if self.mode == Mode::Commands { "commands" } else { "restore" });
        o.extend_from_slice(b",\"selection\":");
        json_str(&mut o, &self.filter.describe());
        let db = self.dest_db().map_or("null".to_string(), |d| d.to_string());
        let on_conflict = match self.on_conflict {
            Conflict::Replace => "replace",
            Conflict::Skip => "skip",
            Conflict::Fail => "fail",
        };
        o.extend_from_slice(
            format!(
                ",\"to_db\":{db},\"on_conflict\":\"{on_conflict}\",\"window\":{},\"salvage\":{},\"allow_eviction\":{},\"threads\":{}",
                self.window.map_or("\"paced\"".to_string(), |w| w.to_string()),
                self.salvage,
                self.allow_eviction,
                self.cfg.threads
            )
            .as_bytes(),
        );
        o.extend_from_slice(b",\"checkpoint\":");
        match &self.checkpoint {
            Some((p, _)) => json_str(&mut o, &p.display().to_string()),
            None => o.extend_from_slice(b"null"),
        }
        o.push(b'}');
        String::from_utf8(o).expect("JSON text is UTF-8")
    }

    /// Adapts the load to what the user may run on the target; says what changed.
    fn adapt(&mut self, pool: &Pool) -> Vec<String> {
        let p = pool.probe();
        let mut v = Vec::new();
        if p.version_from != "INFO" {
            v.push(format!("the version ({}) is taken from {}", p.server, p.version_from));
        }
        if p.proxy {
            v.push("a proxy: one connection, db 0 only, no cluster commands".into());
        }
        if self.mode == Mode::Restore && !p.access.restore.allowed() {
            self.mode = Mode::Commands;
            v.push(
                "RESTORE is denied: every key goes as commands (a module value, which only RESTORE carries, fails)"
                    .into(),
            );
        }
        if matches!(p.access.function, Perm::Denied(_)) {
            self.functions_denied = true;
            v.push("FUNCTION LOAD is denied: function libraries are counted as not carried".into());
        }
        if matches!(p.access.select, Perm::Denied(_)) && !pool.is_cluster() {
            v.push("SELECT is denied: only db 0 can be loaded".into());
        }
        v
    }

    /// The pre-pass of one dump (see [`super::survey`]): refuses it when damaged (unless
    /// `salvage`), and finds where a checkpoint says to resume.
    fn prepare(
        &self,
        dump: Dump,
        ckpt: Option<&Mutex<Checkpoint>>,
    ) -> Result<Prepared, Box<dyn std::error::Error + Send + Sync>> {
        let data = dump.data();
        // the content's identity is needed only for a checkpoint (one more pass at memory speed)
        let fingerprint = match ckpt {
            Some(_) => {
                let fp = checkpoint::fingerprint(data);
                dump.release(0, data.len());
                fp
            }
            None => String::new(),
        };
        if self.checkpoint_reset
            && let Some(c) = ckpt
        {
            c.lock().unwrap_or_else(|p| p.into_inner()).reset(&fingerprint);
        }
        let progress = ckpt.and_then(|c| {
            c.lock().unwrap_or_else(|p| p.into_inner()).progress(&fingerprint).cloned()
        });
        let mut offsets: Vec<u64> = Vec::new();
        if let Some(p) = &progress {
            offsets.push(p.offset);
            offsets.extend(p.failed.iter().map(|x| x.0));
        }
        let release = |x, y| dump.release(x, y);
        // names that collide (several dbs merged into one, or renames) matter only when
        // keys go out elsewhere than they are, which a first pass tells: the names are
        // gathered in a second one only then
        let chunk_bytes = self.cfg.chunk_bytes;
        let dest = |db| self.dest_db().unwrap_or(self.filter.dest_db(db));
        let first =
            match survey(data, self.read, &self.filter, &offsets, None, chunk_bytes, &release) {
                (s, None)
                    if self.filter.rename.is_active()
                        || (self.dest_db().is_some()
                            && self.merge_dbs
                            && s.selected_dbs.len() > 1) =>
                {
                    // the first pass proved the structure, the checksum and the key names unique
                    let names_only = self.read.no_checksum(true).allow_duplicate_keys(true);
                    let merge: &dyn Fn(u64) -> u64 = &dest;
                    survey(
                        data,
                        names_only,
                        &self.filter,
                        &offsets,
                        Some(merge),
                        chunk_bytes,
                        &release,
                    )
                }
                other => other,
            };
        let (survey, damage) = match first {
            (s, None) => (s, None),
            (s, Some(e)) if self.salvage && !dump.changed() => (s, Some(e.to_string())),
            (_, Some(_)) if dump.changed() => return Err(dump.changed_message().into()),
            (s, Some(e)) => {
                return Err(Box::new(Refusal { error: e, salvageable: s.total_keys() }));
            }
        };
        if dump.changed() {
            return Err(dump.changed_message().into());
        }
        let (mut start_at, mut redo) = (0, BTreeSet::new());
        if let Some(p) = progress {
            if !survey.bad_offsets.is_empty() {
                return Err(format!(
                    "the checkpoint's offsets {:?} are not key boundaries of this dump: refusing to resume (remove the entry or the checkpoint)",
                    survey.bad_offsets
                )
                .into());
            }
            start_at = p.offset as usize;
            if !self.skip_failed {
                redo = p.failed.iter().map(|x| x.0 as usize).collect();
            }
        }
        Ok(Prepared { dump, fingerprint, survey, start_at, redo, damage })
    }

    /// Several dbs into one only when asked; the notes on what the dumps hold.
    fn check_dbs_merged(
        &self,
        dumps: &[Prepared],
        problems: &mut Vec<Problem>,
        progress: &dyn Progress,
    ) {
        if dumps.len() > 1 && (self.filter.rename.is_active() || self.merge_dbs) {
            progress.note(
                "note: keys that go out under one name are looked for within each dump, not across dumps (shards hold disjoint keys; renames that make two shards' keys meet are not reported)",
            );
        }
        for d in dumps {
            let path = &d.dump.path;
            if let Some(db) = self.dest_db()
                && d.survey.selected_dbs.len() > 1
                && !self.merge_dbs
            {
                problems.push(problem(path, format!(
                    "keys in dbs {:?} would all go into db {db}: say --merge-dbs to do that (names in several dbs: the last wins, and they are reported), or choose one with --db N",
                    d.survey.selected_dbs
                )));
            }
            for (odd, n) in d.survey.oddities.iter() {
                progress.note(&format!(
                    "note: {}: {n} {} (every server loads them as stored; RESTORE carries them as they are)",
                    path.display(),
                    odd.describe()
                ));
            }
            if d.survey.collision_count > 0 {
                let names: Vec<String> = d
                    .survey
                    .collisions
                    .iter()
                    .map(|n| format!("{:?}", String::from_utf8_lossy(n)))
                    .collect();
                let what = if self.filter.rename.is_active() {
                    "key(s) go out under a name another key of the same db also goes out under (renames or merged dbs); the last one sent wins"
                } else {
                    "key name(s) occur in more than one of the merged dbs; the last one wins"
                };
                progress.note(&format!(
                    "warning: {}: {} {what}: {}",
                    path.display(),
                    d.survey.collision_count,
                    names.join(", ")
                ));
            }
        }
    }

    /// A checkpoint belongs to one load: progress another load recorded is refused.
    fn bind_checkpoint(
        &self,
        c: &Mutex<Checkpoint>,
        pool: &mut Pool,
        dumps: &[Prepared],
        problems: &mut Vec<Problem>,
    ) -> Result<(), Error> {
        let spec = checkpoint::Spec {
            target: pool.identity()?,
            dbs: match self.dest_db() {
                Some(db) => format!("all into db {db}"),
                None => "as in the dump".into(),
            },
            selection: self.filter.describe(),
        };
        let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.checkpoint.as_ref().map(|x| x.0.display().to_string()).unwrap_or_default();
        for d in dumps {
            if let Err(diff) = c.check(&d.fingerprint, &spec) {
                problems.push(problem(&d.dump.path, format!(
                    "the checkpoint {path} records another load of this dump: {}; rerun with the options it was made with, or add --checkpoint-reset to load this dump from the start",
                    diff.join("; ")
                )));
            }
        }
        if problems.is_empty() {
            c.bind(spec);
        }
        Ok(())
    }

    /// Loads one dump through the shared pool: (its problems, whether something could not
    /// be carried, its keys).
    #[allow(
        clippy::too_many_arguments,
        reason = "the run's shared parts, handed to each dump's thread"
    )]
    fn load_one(
        &self,
        i: u32,
        d: &Prepared,
        shared: &Mutex<Pool>,
        threads: &rayon::ThreadPool,
        ckpt: Option<Arc<Mutex<Checkpoint>>>,
        progress: &dyn Progress,
        stop: &Stop,
    ) -> (Vec<Problem>, bool, u64) {
        let (data, path) = (d.dump.data(), &d.dump.path);
        let server = shared.lock().unwrap_or_else(|p| p.into_inner()).server();
        let plan = Plan {
            functions_denied: self.functions_denied,
            start_at: d.start_at,
            redo: d.redo.clone(),
            ..Plan::new(server, self.mode, self.filter.clone())
        };
        // a finished dump still goes through the engine, which sends nothing before
        // `start_at` and counts each key as done earlier or filtered out
        if plan.start_at >= data.len() && plan.redo.is_empty() {
            progress.note(&format!("{}: already loaded (checkpoint)", path.display()));
        } else if plan.start_at > 0 {
            let again = match plan.redo.len() {
                0 => String::new(),
                n => format!(", sending again {n} key(s) that failed"),
            };
            progress.note(&format!(
                "{}: resuming at byte offset {} (checkpoint){again}",
                path.display(),
                plan.start_at
            ));
        }
        let at = ckpt.map(|file| CheckpointAt {
            file,
            fingerprint: d.fingerprint.clone(),
            path: Checkpoint::path_name(path),
        });
        let mut fl = FileLoad::new(shared, i, data, &plan, self.dest_db(), progress, stop.clone())
            .on_conflict(self.on_conflict)
            .checkpoint(at);
        // the pre-pass has checked the structure, the checksum and duplicate keys: the
        // engine's skim computes neither the checksum nor a second table of key names
        let opts = self.read.allow_duplicate_keys(true).no_checksum(true);
        let cfg = Config { stop: stop.clone(), piece: LOAD_PIECE, ..self.cfg.clone() };
        let release = |x, y| d.dump.release(x, y);
        let source = match (d.survey.trailer, &d.damage) {
            // the pre-pass read the whole dump: its cuts stand for the engine's skim
            (Some(t), None) => Source::Cuts(&d.survey.cuts, t),
            _ => Source::Skim(opts),
        };
        let (counts, r) = engine::run(data, source, &plan, &cfg, threads, &mut fl, &release);
        let how = match (stop.requested(), &r) {
            // after a stop, what is left of the grace since the signal (several dumps wait in turn)
            (Some(_), _) => Finish::Stop(crate::stop::grace_left(self.stop_grace)),
            (None, Err(_)) => Finish::Stop(self.stop_grace),
            (None, Ok(_)) => Finish::Complete,
        };
        let fin = fl.finish(how);
        drop(fl);
        shared.lock().unwrap_or_else(|p| p.into_inner()).report.counts.add(&counts);
        let mut problems = Vec::new();
        let warnings = counts.warnings(&server.to_string());
        for w in &warnings {
            progress.note(&format!("warning: {}: {w}", path.display()));
        }
        if let Some(dmg) = &d.damage {
            problems.push(problem(
                path,
                format!("{dmg} (--salvage: the complete keys before it were loaded)"),
            ));
        } else if let Err(e) = r {
            if d.dump.changed() {
                problems.push(problem(path, d.dump.changed_message()));
            } else if stop.requested().is_none() {
                problems.push(match e {
                    RunError::Format(e) => problem(path, e),
                    e => problem(path, e.to_string()),
                });
            }
        }
        if let Err(e) = fin {
            problems.push(problem(path, e.to_string()));
        }
        (problems, !warnings.is_empty(), d.survey.total_keys())
    }
}

/// A dump the pre-pass refused: the damage, and how many complete keys come before it.
#[derive(Debug)]
pub struct Refusal {
    /// The damage.
    pub error: crate::format::Error,
    /// Complete keys before it (what `--salvage` would load).
    pub salvageable: u64,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; nothing was sent", self.error)?;
        if self.salvageable > 0 {
            write!(
                f,
                " ({} complete key(s) come before the damage: --salvage loads them)",
                self.salvageable
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
