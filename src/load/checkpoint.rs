//! `--checkpoint FILE`: how far each dump has been loaded, and which of its keys failed, so
//! that a rerun continues where the last run stopped and retries the failures.
//!
//! - A dump is identified by its contents, not its path: its size and the CRC-64 of all its
//!   bytes (the load's pre-pass computes it). A different dump at the same path starts from
//!   the beginning; the same dump moved elsewhere resumes.
//! - "Offset" means: every key whose record starts before it was acknowledged, or failed and
//!   is listed as failed. The pre-pass checks that the offset is a key boundary of this dump.
//! - The file is rewritten at most once a second (and at the end), under an exclusive lock
//!   (`FILE.lock`), by reading what is there, replacing this run's dumps' entries, writing
//!   a temporary file and renaming it over the old one. Concurrent runs sharing one file
//!   keep each other's entries, and a crash leaves the old or the new version, never half.
//!
//! - A checkpoint belongs to one load of the dump: it records the target (a server's
//!   address, or a cluster's master node ids), where the keys went (the db mapping) and the
//!   selection (filters and exclusions). A rerun that differs in any of them is refused with
//!   what differs ([`Spec::differences`]): its progress says nothing about this load.
//!
//! Format, one record per line, tab-separated:
//! `rdbshift-checkpoint\t3`, then per dump `dump\tFINGERPRINT\tOFFSET\tPATH`, the load it
//! belongs to as `load\tFINGERPRINT\tFIELD\tVALUE` (fields `target`, `dbs`, `selection`;
//! tabs, newlines and backslashes escaped), and per failed key
//! `failed\tFINGERPRINT\tRECORD\tDB`. Version 2 files (no `load` lines) are read; their
//! entries belong to an unknown load and are taken as this one's, with a warning.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MAGIC: &str = "rdbshift-checkpoint\t3";
const MAGIC_V2: &str = "rdbshift-checkpoint\t2";

/// One dump's progress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// The dump's path when it was recorded (for people reading the file).
    pub path: String,
    pub offset: u64,
    /// Keys that failed: (record offset, db).
    pub failed: Vec<(u64, u64)>,
    /// The load this progress belongs to (`None`: written by a version that did not say).
    pub load: Option<Spec>,
}

/// What a target is, for telling one load from another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetId {
    /// A standalone server (or anything that is not a cluster) at this address.
    Server(String),
    /// A cluster, by its masters' node ids (sorted).
    Cluster(Vec<String>),
}

impl TargetId {
    fn render(&self) -> String {
        match self {
            TargetId::Server(a) => format!("server {a}"),
            TargetId::Cluster(ids) => format!("cluster {}", ids.join(",")),
        }
    }

    fn parse(s: &str) -> Option<TargetId> {
        if let Some(a) = s.strip_prefix("server ") {
            return Some(TargetId::Server(a.to_string()));
        }
        let ids = s.strip_prefix("cluster ")?;
        Some(TargetId::Cluster(
            ids.split(',').filter(|i| !i.is_empty()).map(str::to_string).collect(),
        ))
    }

    /// The same target: the same address, or a cluster that still has one of its masters
    /// (node ids survive restarts; a failover or a reshard keeps some of them).
    fn same(&self, o: &TargetId) -> bool {
        match (self, o) {
            (TargetId::Server(a), TargetId::Server(b)) => a == b,
            (TargetId::Cluster(a), TargetId::Cluster(b)) => a.iter().any(|x| b.contains(x)),
            _ => false,
        }
    }
}

impl std::fmt::Display for TargetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetId::Server(a) => write!(f, "the server at {a}"),
            TargetId::Cluster(ids) => {
                let short: Vec<&str> = ids.iter().map(|i| &i[..i.len().min(8)]).collect();
                write!(f, "the cluster of masters {}", short.join(", "))
            }
        }
    }
}

/// What a load was: where its keys went and which keys it took. Two loads of one dump
/// share progress only when their specs agree ([`Spec::differences`] is empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub target: TargetId,
    /// The db mapping, as a person would say it (`as in the dump`, `all into db 3`).
    pub dbs: String,
    /// The selection, as the options that make it (`all keys`, `--key 'a:*'`).
    pub selection: String,
}

impl Spec {
    /// What differs between the load that wrote `self` and `now`, one phrase each
    /// (empty: the same load).
    pub fn differences(&self, now: &Spec) -> Vec<String> {
        let mut d = Vec::new();
        if !self.target.same(&now.target) {
            d.push(format!("the target was {} (now {})", self.target, now.target));
        }
        if self.dbs != now.dbs {
            d.push(format!("the keys went {} (now {})", self.dbs, now.dbs));
        }
        if self.selection != now.selection {
            d.push(format!("the selection was {} (now {})", self.selection, now.selection));
        }
        d
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

pub struct Checkpoint {
    path: PathBuf,
    /// What this run knows: its own dumps' entries (others' are re-read at each write).
    mine: BTreeMap<String, Progress>,
    /// What the file held when opened.
    read: BTreeMap<String, Progress>,
    written: Option<Instant>,
    /// Least time between two writes (but the last).
    pub(crate) interval: Duration,
    /// The load this run records progress for (attached to every entry it writes).
    spec: Option<Spec>,
    /// Dumps whose entries this run dropped (`--checkpoint-reset`).
    forgotten: Vec<String>,
}

/// A dump's identity for the checkpoint: its size, the CRC-64 of its bytes before the
/// trailer, and the trailer. (Not the CRC of the whole file: a CRC over data followed by its
/// own CRC is the same constant for every valid file.)
pub fn fingerprint(data: &[u8]) -> String {
    let body = data.len().saturating_sub(8);
    let mut tail = [0u8; 8];
    tail[..data.len() - body].copy_from_slice(&data[body..]);
    format!(
        "{}:{:016x}:{:016x}",
        data.len(),
        crate::format::crc64(&data[..body]),
        u64::from_le_bytes(tail)
    )
}

fn parse(text: &str, path: &Path) -> std::io::Result<BTreeMap<String, Progress>> {
    let bad = |n: usize, why: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{}: line {n}: {why} (not an rdbshift checkpoint of this version?)",
                path.display()
            ),
        )
    };
    let mut out: BTreeMap<String, Progress> = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    match lines.next() {
        None => return Ok(out),
        Some((_, l)) if l == MAGIC || l == MAGIC_V2 => {}
        Some(_) => return Err(bad(1, "unknown header")),
    }
    // the parts of each dump's load spec, put together at the end
    let mut specs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.splitn(4, '\t').collect();
        match f.as_slice() {
            ["load", fp, field, value] => {
                specs.entry(fp.to_string()).or_default().insert(field.to_string(), unescape(value));
            }
            ["dump", fp, off, p] => {
                let e = out.entry(fp.to_string()).or_default();
                e.offset = off.parse().map_err(|_| bad(i + 1, "bad offset"))?;
                e.path = p.to_string();
            }
            ["failed", fp, rec, db] => {
                let rec = rec.parse().map_err(|_| bad(i + 1, "bad record offset"))?;
                let db = db.parse().map_err(|_| bad(i + 1, "bad db"))?;
                out.entry(fp.to_string()).or_default().failed.push((rec, db));
            }
            [""] => {}
            _ => return Err(bad(i + 1, "unknown line")),
        }
    }
    for (fp, mut fields) in specs {
        let mut take = |k: &str| {
            fields.remove(k).ok_or_else(|| bad(0, &format!("the load of {fp} has no {k}")))
        };
        let target = take("target")?;
        let spec = Spec {
            target: TargetId::parse(&target)
                .ok_or_else(|| bad(0, &format!("bad target {target:?}")))?,
            dbs: take("dbs")?,
            selection: take("selection")?,
        };
        out.entry(fp).or_default().load = Some(spec);
    }
    Ok(out)
}

fn render(entries: &BTreeMap<String, Progress>) -> String {
    let mut t = format!("{MAGIC}\n");
    for (fp, p) in entries {
        t.push_str(&format!("dump\t{fp}\t{}\t{}\n", p.offset, p.path));
        if let Some(l) = &p.load {
            t.push_str(&format!("load\t{fp}\ttarget\t{}\n", escape(&l.target.render())));
            t.push_str(&format!("load\t{fp}\tdbs\t{}\n", escape(&l.dbs)));
            t.push_str(&format!("load\t{fp}\tselection\t{}\n", escape(&l.selection)));
        }
        for (r, d) in &p.failed {
            t.push_str(&format!("failed\t{fp}\t{r}\t{d}\n"));
        }
    }
    t
}

/// The files written beside a checkpoint `FILE`, with what they are (for the check that no
/// other role of the command names them): its lock `FILE.lock` and this process's
/// temporary `FILE.PID.tmp` (the names `Lock::take` and `Checkpoint::write_locked` use).
pub fn side_files(path: &Path) -> [(&'static str, PathBuf); 2] {
    let with = |tail: String| {
        let mut name = path.as_os_str().to_owned();
        name.push(tail);
        PathBuf::from(name)
    };
    [
        ("the lock file of --checkpoint", with(".lock".into())),
        ("the temporary file of --checkpoint", with(format!(".{}.tmp", std::process::id()))),
    ]
}

/// An exclusive `flock` on `FILE.lock`, released on drop.
struct Lock(std::fs::File);

impl Lock {
    fn take(path: &Path) -> std::io::Result<Lock> {
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(name))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Lock(f))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl Checkpoint {
    /// Reads `path` if it exists, and proves it can be written (before anything is sent):
    /// the file is created (or rewritten unchanged) right away. Errors name the path.
    pub fn open(path: &Path) -> std::io::Result<Checkpoint> {
        let named = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("checkpoint {}: {e}", path.display()))
        };
        let _lock = Lock::take(path).map_err(named)?;
        let read = match std::fs::read_to_string(path) {
            Ok(text) => parse(&text, path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(named(e)),
        };
        let c = Checkpoint {
            path: path.to_path_buf(),
            mine: BTreeMap::new(),
            read,
            written: None,
            interval: Duration::from_secs(1),
            spec: None,
            forgotten: Vec::new(),
        };
        c.write_locked().map_err(named)?;
        Ok(c)
    }

    /// The name a dump is shown under in the file (its canonical path).
    pub fn path_name(dump: &Path) -> String {
        std::fs::canonicalize(dump).unwrap_or_else(|_| dump.to_path_buf()).display().to_string()
    }

    /// Where a previous run left the dump with this fingerprint (None: start afresh).
    pub fn progress(&self, fingerprint: &str) -> Option<&Progress> {
        self.read.get(fingerprint)
    }

    /// The load this run is: every entry it records says so.
    pub fn bind(&mut self, spec: Spec) {
        self.spec = Some(spec);
    }

    /// Whether the dump's recorded progress may be taken by the load `spec`: `Err` says
    /// what differs. Progress of an unknown load (a version 2 file) is taken.
    pub fn check(&self, fingerprint: &str, spec: &Spec) -> Result<(), Vec<String>> {
        match self.read.get(fingerprint).and_then(|p| p.load.as_ref()) {
            Some(l) => match l.differences(spec) {
                d if d.is_empty() => Ok(()),
                d => Err(d),
            },
            None => Ok(()),
        }
    }

    /// Forgets the dump's recorded progress (`--checkpoint-reset`): it starts over, and
    /// the next write replaces its entry.
    pub fn reset(&mut self, fingerprint: &str) {
        self.read.remove(fingerprint);
        self.forgotten.push(fingerprint.to_string());
    }

    /// Whether a write that is not forced would happen now (at most once per `interval`):
    /// a caller may skip gathering its progress when it would not be written anyway.
    pub fn due(&self) -> bool {
        self.written.is_none_or(|t| t.elapsed() >= self.interval)
    }

    /// Records progress; written now if `force`, else at most once a second.
    pub fn record(
        &mut self,
        fingerprint: &str,
        mut p: Progress,
        force: bool,
    ) -> std::io::Result<()> {
        if p.load.is_none() {
            p.load = self.spec.clone();
        }
        self.mine.insert(fingerprint.to_string(), p);
        if !force && !self.due() {
            return Ok(());
        }
        let _lock = Lock::take(&self.path)?;
        self.write_locked()?;
        self.written = Some(Instant::now());
        Ok(())
    }

    /// Merges this run's entries into what the file holds now and replaces it (lock held).
    fn write_locked(&self) -> std::io::Result<()> {
        let mut all = match std::fs::read_to_string(&self.path) {
            Ok(text) => parse(&text, &self.path).unwrap_or_default(),
            Err(_) => BTreeMap::new(),
        };
        all.extend(
            self.read
                .iter()
                .filter(|(k, _)| !all.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>(),
        );
        for k in &self.forgotten {
            all.remove(k);
        }
        for (k, v) in &self.mine {
            all.insert(k.clone(), v.clone());
        }
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        // a second signal unlinks it before the process ends
        let _name = crate::stop::TempName::register(&tmp);
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(render(&all).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rdbshift-ckpt-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn round_trip_with_failures() {
        let d = dir("rt");
        let p = d.join("ck");
        let mut c = Checkpoint::open(&p).unwrap();
        assert!(p.exists(), "created before anything is loaded");
        assert!(c.progress("10:00").is_none());
        let a =
            Progress { path: "/a.rdb".into(), offset: 7, failed: vec![(3, 0), (5, 2)], load: None };
        c.record("10:00", a.clone(), true).unwrap();
        c.record(
            "20:ff",
            Progress { path: "/b c.rdb".into(), offset: 3, failed: vec![], load: None },
            true,
        )
        .unwrap();
        let c = Checkpoint::open(&p).unwrap();
        assert_eq!(c.progress("10:00"), Some(&a));
        assert_eq!(c.progress("20:ff").map(|p| p.offset), Some(3));
        assert!(c.progress("10:01").is_none(), "another dump (same size, other content)");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn concurrent_runs_keep_each_others_entries() {
        let d = dir("conc");
        let p = d.join("ck");
        let mut one = Checkpoint::open(&p).unwrap();
        let mut two = Checkpoint::open(&p).unwrap();
        one.record(
            "1:aa",
            Progress { path: "/1".into(), offset: 11, failed: vec![], load: None },
            true,
        )
        .unwrap();
        two.record(
            "2:bb",
            Progress { path: "/2".into(), offset: 22, failed: vec![], load: None },
            true,
        )
        .unwrap();
        one.record(
            "1:aa",
            Progress { path: "/1".into(), offset: 12, failed: vec![], load: None },
            true,
        )
        .unwrap();
        let c = Checkpoint::open(&p).unwrap();
        assert_eq!(c.progress("1:aa").map(|p| p.offset), Some(12));
        assert_eq!(c.progress("2:bb").map(|p| p.offset), Some(22));
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn spec(target: TargetId, selection: &str) -> Spec {
        Spec { target, dbs: "as in the dump".into(), selection: selection.into() }
    }

    #[test]
    fn a_checkpoint_belongs_to_its_load() {
        let d = dir("spec");
        let p = d.join("ck");
        let mut c = Checkpoint::open(&p).unwrap();
        let cluster = TargetId::Cluster(vec!["aaaa".into(), "bbbb".into(), "cccc".into()]);
        // a selection that needs escaping survives the round trip
        let mine = spec(cluster.clone(), "--key 'a:*\tb\\c\nd'");
        c.bind(mine.clone());
        c.record("1:aa", Progress { path: "/1".into(), offset: 11, ..Default::default() }, true)
            .unwrap();
        let c = Checkpoint::open(&p).unwrap();
        assert_eq!(c.progress("1:aa").unwrap().load.as_ref(), Some(&mine));
        assert_eq!(c.check("1:aa", &mine), Ok(()));
        // the same cluster after a failover (one master replaced) is the same target
        let failed_over = TargetId::Cluster(vec!["aaaa".into(), "bbbb".into(), "dddd".into()]);
        assert_eq!(c.check("1:aa", &spec(failed_over, &mine.selection)), Ok(()));
        // another selection, another target, another db mapping: each named
        let e = c.check("1:aa", &spec(cluster.clone(), "all keys")).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("selection was --key") && e[0].contains("(now all keys)"), "{e:?}");
        let e = c
            .check("1:aa", &spec(TargetId::Server("127.0.0.1:6379".into()), &mine.selection))
            .unwrap_err();
        assert!(
            e[0].contains("the target was the cluster of masters aaaa")
                && e[0].contains("127.0.0.1:6379"),
            "{e:?}"
        );
        let other_db = Spec { dbs: "all into db 3".into(), ..mine.clone() };
        let e = c.check("1:aa", &other_db).unwrap_err();
        assert!(e[0].contains("went as in the dump (now all into db 3)"), "{e:?}");
        // a dump it does not know is free to start
        assert_eq!(c.check("2:bb", &other_db), Ok(()));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reset_forgets_the_dump_and_version_2_files_are_read() {
        let d = dir("reset");
        let p = d.join("ck");
        std::fs::write(&p, "rdbshift-checkpoint\t2\ndump\t1:aa\t40\t/x.rdb\nfailed\t1:aa\t9\t0\ndump\t2:bb\t5\t/y\n")
            .unwrap();
        let mut c = Checkpoint::open(&p).unwrap();
        let old = c.progress("1:aa").unwrap();
        assert_eq!((old.offset, old.failed.clone(), old.load.clone()), (40, vec![(9, 0)], None));
        let now = spec(TargetId::Server("h:1".into()), "all keys");
        assert_eq!(c.check("1:aa", &now), Ok(()), "an unknown load is taken as this one");
        c.reset("1:aa");
        assert!(c.progress("1:aa").is_none());
        c.bind(now.clone());
        c.record("2:bb", Progress { path: "/y".into(), offset: 6, ..Default::default() }, true)
            .unwrap();
        let c = Checkpoint::open(&p).unwrap();
        assert!(c.progress("1:aa").is_none(), "the reset entry is gone from the file");
        assert_eq!(c.progress("2:bb").unwrap().load.as_ref(), Some(&now));
        assert!(std::fs::read_to_string(&p).unwrap().starts_with("rdbshift-checkpoint\t3\n"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn refuses_garbage_and_unwritable_places() {
        let d = dir("bad");
        let p = d.join("ck");
        std::fs::write(&p, "not a checkpoint\n").unwrap();
        assert!(Checkpoint::open(&p).err().unwrap().to_string().contains("line 1"));
        let e = Checkpoint::open(&d.join("missing/ck")).err().unwrap();
        assert!(e.to_string().contains("missing/ck"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
