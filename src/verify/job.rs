//! A whole verification: the target, the dumps, the selection (all keys or an even
//! sample), and what was found.

use super::{Error, Peers, Settings, Verifier, VerifyReport, survey};
use crate::filter::Filter;
use crate::format::record::Options;
use crate::input::Dump;
use crate::job::Problem;
use crate::net::Url;

/// A verification, built with the setters below, then [`Job::run`].
pub struct Job {
    target: Url,
    dumps: Vec<Dump>,
    to_db: Option<u64>,
    sample: Option<u64>,
    extra: bool,
    pel_exact: usize,
    filter: Filter,
    read: Options,
    /// Build the JSON report ([`Outcome::json`]).
    json: bool,
}

/// How a verification ended.
pub struct Outcome {
    /// What was found.
    pub report: VerifyReport,
    /// Dumps that could not be verified (wholly), and a failed scan for extra keys.
    pub problems: Vec<Problem>,
    pub seconds: f64,
    /// The report as JSON (when asked for): what was checked, against what, and what was found.
    pub json: Option<String>,
}

impl Outcome {
    /// Whether the target differs from the dumps (or could not be checked).
    pub fn differs(&self) -> bool {
        let r = &self.report;
        !self.problems.is_empty() || r.missing + r.different + r.extra + r.errors > 0
    }
}

impl Job {
    /// A check of every selected key of `dumps` on `target`, each in its own db (the
    /// URL's `/db` if it names one).
    pub fn new(target: Url, dumps: Vec<Dump>) -> Job {
        let to_db = target.db;
        Job {
            target,
            dumps,
            to_db,
            sample: None,
            extra: false,
            pel_exact: super::PEL_EXACT,
            filter: Filter::default(),
            read: Options::default(),
            json: false,
        }
    }
    /// Also build the report as JSON ([`Outcome::json`]).
    pub fn json_report(mut self, yes: bool) -> Self {
        self.json = yes;
        self
    }
    /// Look for every dump key in this db (as `load --to-db` put it), else the URL's.
    pub fn to_db(mut self, db: Option<u64>) -> Self {
        self.to_db = db.or(self.target.db);
        self
    }
    /// Check about `n` keys spread evenly over the selected keys, instead of all.
    pub fn sample(mut self, n: Option<u64>) -> Self {
        self.sample = n;
        self
    }
    /// Also scan the target for keys the dumps do not hold.
    pub fn extra(mut self, yes: bool) -> Self {
        self.extra = yes;
        self
    }
    /// PELs up to this many entries are compared from `XINFO STREAM FULL`.
    pub fn pel_exact(mut self, n: usize) -> Self {
        self.pel_exact = n;
        self
    }
    /// The keys to check.
    pub fn filter(mut self, f: Filter) -> Self {
        self.filter = f;
        self
    }
    /// How strictly the dumps are read.
    pub fn read_options(mut self, o: Options) -> Self {
        self.read = o;
        self
    }

    /// Runs the verification. `Err` when it could not start (the target, a db a cluster
    /// lacks); what differs is in the outcome.
    pub fn run(self, progress: &dyn crate::job::Progress) -> Result<Outcome, Error> {
        let started_ms = crate::filter::now_ms();
        self.filter.check_target_db(self.to_db).map_err(Error::Other)?;
        let p = Peers::connect(self.target.clone())?;
        if p.is_cluster() && self.to_db.is_some_and(|d| d != 0) {
            return Err(Error::Other("a cluster has only db 0 (--to-db or the URL's /db)".into()));
        }
        // a skim first when it is needed: the selected keys (sampling), their dbs (a cluster)
        let mut selected = 0;
        if self.sample.is_some() || (p.is_cluster() && self.to_db.is_none()) {
            for d in &self.dumps {
                let (dbs, n) = survey(d.data(), self.read, &self.filter)?;
                if p.is_cluster() && self.to_db.is_none() && dbs.iter().any(|&db| db != 0) {
                    let other: Vec<u64> = dbs.into_iter().filter(|&db| db != 0).collect();
                    return Err(Error::Other(format!(
                        "{}: keys in db {other:?}, and a cluster has only db 0: verify one db with --db N --to-db 0",
                        d.path.display()
                    )));
                }
                selected += n;
            }
        }
        // sampling: every k-th selected key (deterministic, spread over the files)
        let every = match self.sample {
            Some(n) if n > 0 => (selected / n).max(1),
            _ => 1,
        };
        let mut i = 0u64;
        let mut pick = || {
            i += 1;
            (i - 1).is_multiple_of(every)
        };
        let started = std::time::Instant::now();
        let settings = Settings { to_db: self.to_db, pel_exact: self.pel_exact };
        let mut v = Verifier::new(p, self.filter.clone(), settings, self.extra);
        let mut problems: Vec<Problem> = Vec::new();
        progress.start(self.dumps.iter().map(|d| d.data().len() as u64).sum());
        let mut trailers = Vec::new();
        for d in &self.dumps {
            let release = |a, b| d.release(a, b);
            if let Err(e) = v.dump(d.data(), self.read, &mut pick, &release, progress) {
                problems.push((d.path.clone(), Box::new(e)));
            }
            trailers.push(v.trailer.take());
        }
        if self.extra
            && problems.is_empty()
            && let Err(e) = v.extra()
        {
            problems.push(("looking for extra keys".into(), Box::new(e)));
        }
        progress.finish();
        let seconds = started.elapsed().as_secs_f64();
        let mut outcome = Outcome { report: v.report, problems, seconds, json: None };
        if self.json {
            outcome.json = Some(self.json_of(&outcome, started_ms, &trailers));
        }
        Ok(outcome)
    }

    /// The report of `o` as JSON: what was checked (each dump by path, size and CRC-64, as
    /// load's report names it), against what, with which options, and what was found.
    fn json_of(
        &self,
        o: &Outcome,
        started_ms: i64,
        trailers: &[Option<crate::format::record::Trailer>],
    ) -> String {
        let dumps: Vec<serde_json::Value> = self
            .dumps
            .iter()
            .zip(trailers)
            .map(|(d, t)| {
                let crc = d.crc64(t.as_ref());
                serde_json::json!({
                    "path": d.path.display().to_string(),
                    "size": d.data().len(),
                    "crc64": format!("{crc:016x}"),
                })
            })
            .collect();
        let mut j = o.report.to_json(self.extra);
        if let Some(m) = j.as_object_mut() {
            m.insert("tool".into(), format!("rdbshift {}", env!("CARGO_PKG_VERSION")).into());
            m.insert("target".into(), self.target.to_string().into());
            m.insert("started".into(), crate::encode::text::date(started_ms).into());
            m.insert("ended".into(), crate::encode::text::date(crate::filter::now_ms()).into());
            m.insert("seconds".into(), o.seconds.into());
            m.insert("dumps".into(), dumps.into());
            m.insert(
                "options".into(),
                serde_json::json!({
                    "selection": self.filter.describe(),
                    "to_db": self.to_db,
                    "sample": self.sample,
                    "extra": self.extra,
                }),
            );
            let problems: Vec<String> =
                o.problems.iter().map(|(p, e)| format!("{}: {e}", p.display())).collect();
            m.insert("problems".into(), problems.into());
            m.insert("identical".into(), (!o.differs()).into());
        }
        serde_json::to_string_pretty(&j).expect("JSON") + "\n"
    }
}
