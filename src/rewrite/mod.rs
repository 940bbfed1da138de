//! `rdbshift rewrite`: dumps in, an RDB file a given server version loads natively out (or
//! one per cluster master). The records run through the same selection stage and
//! parallel engine as a conversion ([`crate::convert::engine`], [`Mode::Rdb`]); each key
//! is written by [`key`], and the files by [`sink::RdbSink`].
//!
//! Invariants:
//! - A value whose type the target loads is written byte for byte as stored, after the
//!   same checks the server applies (a corrupt value is refused, never written).
//! - Whatever the target cannot hold is counted ([`Counts`]), never silently dropped.
//! - The output depends only on the inputs and the options, not on the thread count.
//! - No file holds a key twice ([`dups`]), and a file for a cluster node holds database 0
//!   only.

pub mod dups;
pub mod key;
pub mod nodes;
pub mod sink;
pub mod stream;

use std::path::PathBuf;

pub use crate::convert::Counts;
use crate::convert::engine::Config;
use crate::convert::{Converted, Mode, Plan};
use crate::filter::Filter;
use crate::format::record::Options;
use crate::format::{Dialect, write};
use crate::input::Dump;
use crate::job::Stop;
use crate::server::Server;

/// Whether rewrite writes for `t`: Redis 5.0 (RDB 9) to 8.6 (RDB 13), the versions a
/// released server of the matrix writes, and Valkey 7.2 to 9.x.
pub fn check_target(t: Server) -> Result<(), String> {
    let ok = match t.dialect {
        Dialect::Valkey => (t.major, t.minor) >= (7, 2) && t.major <= 9,
        _ => (t.major, t.minor) >= (5, 0) && t.dump_version() <= 13,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "rewrite writes files for Redis 5.0 to 8.6 and Valkey 7.2 to 9.x, not {t} (Redis 8.8+ formats are not released in a server we can test against)"
        ))
    }
}

/// The magic a file for `t` carries: `VALKEY080` for Valkey 9, else `REDIS` and the RDB
/// version `t` writes.
pub fn magic(t: Server) -> [u8; 9] {
    let (dialect, v) = match t.dialect {
        Dialect::Valkey if t.major >= 9 => (Dialect::Valkey, 80),
        Dialect::Valkey => (Dialect::Redis, 11),
        _ => (Dialect::Redis, t.dump_version() as u32),
    };
    write::magic(dialect, v).expect("a known version fits its magic")
}

/// The magic and the aux fields every output file starts with: the version the file is
/// for (as the server that writes it would say it: `redis-ver`, and `valkey-ver` for
/// Valkey), `redis-bits`, and who wrote it from what (`rdbshift-ver`, `rdbshift-target`,
/// `rdbshift-source`).
pub fn head(t: Server, sources: &[Server]) -> Vec<u8> {
    let mut b = magic(t).to_vec();
    let ver = format!("{}.{}.0", t.major, t.minor);
    match t.dialect {
        Dialect::Valkey => {
            // what Valkey writes for tools that read redis-ver
            write::aux(&mut b, b"redis-ver", b"7.2.4");
            write::aux(&mut b, b"valkey-ver", ver.as_bytes());
        }
        _ => write::aux(&mut b, b"redis-ver", ver.as_bytes()),
    }
    write::aux(&mut b, b"redis-bits", b"64");
    write::aux(&mut b, b"rdbshift-ver", env!("CARGO_PKG_VERSION").as_bytes());
    write::aux(&mut b, b"rdbshift-target", t.to_string().as_bytes());
    let mut from: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    from.dedup();
    write::aux(&mut b, b"rdbshift-source", from.join(", ").as_bytes());
    b
}

/// A rewrite of dumps into one or more files, built with the setters, then [`Job::run`].
pub struct Job {
    inputs: Vec<(Dump, Server)>,
    target: Server,
    filter: Filter,
    read: Options,
    cfg: Config,
    keep_modules: bool,
    skip_functions: bool,
}

impl Job {
    /// A rewrite of `inputs` (each with the server that wrote it) for `target`.
    pub fn new(inputs: Vec<(Dump, Server)>, target: Server) -> Job {
        Job {
            inputs,
            target,
            filter: Filter::default(),
            read: Options::default(),
            cfg: Config::default(),
            keep_modules: true,
            skip_functions: false,
        }
    }
    pub fn filter(mut self, f: Filter) -> Self {
        self.filter = f;
        self
    }
    pub fn read_options(mut self, o: Options) -> Self {
        self.read = o;
        self
    }
    /// Decoding threads, and bytes of the file per unit of parallel work.
    pub fn engine(mut self, threads: Option<usize>, chunk_bytes: Option<usize>) -> Self {
        self.cfg = self.cfg.sized(threads, chunk_bytes);
        self
    }
    /// Leave out module values and module aux data (a target without the modules).
    pub fn drop_modules(mut self, yes: bool) -> Self {
        self.keep_modules = !yes;
        self
    }
    pub fn skip_functions(mut self, yes: bool) -> Self {
        self.skip_functions = yes;
        self
    }

    /// The servers that wrote the inputs.
    pub fn sources(&self) -> Vec<Server> {
        self.inputs.iter().map(|(_, s)| *s).collect()
    }

    /// Finds the keys that would meet under one name (several inputs, renames, or a dump
    /// read with `allow_duplicate_keys`): see [`dups`]. Otherwise one input needs no search
    /// (the engine refuses a dump that holds a key twice, as a server does).
    pub fn duplicates(&self) -> crate::format::Result<dups::Found> {
        if self.inputs.len() < 2
            && !self.filter.rename.is_active()
            && !self.read.allow_duplicate_keys
        {
            return Ok(dups::Found {
                skip: vec![Default::default(); self.inputs.len()],
                cases: Vec::new(),
            });
        }
        let data: Vec<&[u8]> = self.inputs.iter().map(|(d, _)| d.data()).collect();
        let now = (!self.filter.include_expired).then_some(self.filter.now_ms);
        let mut scratch = crate::format::Scratch::default();
        let mut writes = |k: &crate::format::Key| {
            key::writes_something(k, &self.target, self.keep_modules, now, &mut scratch)
        };
        dups::find(&data, self.read, &self.filter, &mut writes)
    }

    /// Rewrites every dump into `sink`, in order, leaving out `skip`'s keys (from
    /// [`Job::duplicates`]). Stops at the first dump that is damaged or whose output
    /// failed, or when `stop` asks: a file written in part must not be taken for whole.
    pub fn run(
        &self,
        sink: &mut sink::RdbSink,
        skip: &dups::Found,
        stop: &Stop,
        progress: &dyn crate::job::Progress,
    ) -> Result<Vec<Converted<std::io::Error>>, std::io::Error> {
        progress.start(self.inputs.iter().map(|(d, _)| d.data().len() as u64).sum());
        let cfg = Config { stop: stop.clone(), ..self.cfg.clone() };
        let pool = crate::convert::pool(cfg.threads)?;
        // merged dumps: each library and the module aux data once, from the last dump
        // that has them (a server refuses a file with a library twice)
        let libraries: Vec<Vec<Vec<u8>>> =
            self.inputs.iter().map(|(d, _)| libraries(d.data(), self.read)).collect();
        let mut done = Vec::new();
        for (i, (dump, _)) in self.inputs.iter().enumerate() {
            let plan = Plan {
                skip_functions: self.skip_functions,
                duplicates: skip.skip.get(i).cloned().unwrap_or_default(),
                keep_modules: self.keep_modules,
                later_libraries: libraries[i + 1..].iter().flatten().cloned().collect(),
                module_aux: i + 1 == self.inputs.len(),
                ..Plan::new(self.target, Mode::Rdb, self.filter.clone())
            };
            let c = crate::convert::run_dump(dump, &plan, self.read, &cfg, &pool, sink, progress);
            // a file written in part must not be taken for whole: any error ends the run
            let last = c.error.is_some() || stop.requested().is_some();
            done.push(c);
            if last {
                break;
            }
        }
        progress.finish();
        Ok(done)
    }
}

/// The names of the function libraries a dump holds before its first key (where every
/// server saves them); a dump that cannot be read has none here (its run reports why).
fn libraries(data: &[u8], opts: Options) -> Vec<Vec<u8>> {
    use crate::format::Record;
    let Ok(mut r) = crate::format::Reader::new(data, opts.no_checksum(true)) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut buf = Vec::new();
    while let Ok(Some(rec)) = r.next_record() {
        match rec {
            Record::Function(f) => {
                if let Ok(crate::format::Str::Bytes(code)) = f.code.get(&mut buf)
                    && let Some(n) = crate::convert::library_name(code)
                {
                    names.push(n.to_vec());
                }
            }
            Record::Key(_) | Record::Eof(_) => break,
            _ => {}
        }
    }
    names
}

/// The paths of a split's files: `DIR/<node id>.rdb`.
pub fn node_file(dir: &std::path::Path, m: &nodes::Master) -> PathBuf {
    dir.join(format!("{}.rdb", m.id))
}
