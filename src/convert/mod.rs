//! Turning dump records into commands a server replays: the key-to-command mapping
//! ([`commands`], [`stream`]), DUMP payloads ([`restore`]), the server they are for
//! ([`Server`]), and the parallel engine that runs it over a whole file ([`engine`]).
//!
//! Invariant: what is produced for a key depends only on the key and the [`Plan`], never on
//! how the file was split or how many threads ran, so output is byte-identical for any
//! thread count.

pub mod bufs;
pub mod commands;
pub mod engine;
mod job;
pub mod out;
pub mod restore;
pub mod stream;

use crate::filter::Filter;
pub use crate::server::Server;
pub use job::{Converted, Job};
pub(crate) use job::{pool, run_dump};

/// Why writing a key's commands stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The dump is damaged where the key lies (the error names the offset and the key).
    #[error(transparent)]
    Format(#[from] crate::format::Error),
    /// The output was closed: the writer stopped, and reports its own error.
    #[error("the output was closed")]
    Closed,
}

impl Error {
    /// Adds key `k`'s name to a format error.
    pub fn context(self, k: &crate::format::Key) -> Error {
        match self {
            Error::Format(e) => Error::Format(k.context(e)),
            e => e,
        }
    }
}

/// What writing one key's commands needs besides the key: the plan, where the commands go,
/// reusable buffer space, and the counts of what was written and what could not be carried.
pub struct KeyWriter<'w, 's> {
    pub(crate) plan: &'w Plan,
    pub(crate) out: &'w mut out::Out<'s>,
    pub(crate) bufs: &'w mut bufs::Bufs,
    pub(crate) counts: &'w mut Counts,
}

/// `e` with key `k`'s name added, when it is a format error.
pub fn in_key(k: &crate::format::Key, e: impl Into<Error>) -> Error {
    e.into().context(k)
}

/// The result of writing commands.
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plain commands (`SET`, `RPUSH`, `XADD` ...).
    Commands,
    /// `RESTORE` with DUMP payloads where the target loads the value's type; commands
    /// for the other keys.
    Restore,
    /// RDB records for a target version ([`crate::rewrite`]): no commands at all.
    Rdb,
}

/// Everything that decides what a key becomes.
#[derive(Clone, Debug)]
pub struct Plan {
    pub(crate) target: Server,
    pub(crate) mode: Mode,
    /// Most elements (list items, members, field-value pairs) per command.
    pub(crate) max_elems: usize,
    /// Most argument bytes per command, beyond which a batch is closed (a single larger
    /// element still goes whole, in a command of its own).
    pub(crate) max_bytes: usize,
    pub(crate) filter: Filter,
    /// Leave out `FUNCTION LOAD`.
    pub(crate) skip_functions: bool,
    /// The target denies `FUNCTION LOAD` to this user: libraries are counted as not
    /// carried.
    pub(crate) functions_denied: bool,
    /// Leave out the records before this offset (a load resumed from a checkpoint)...
    pub(crate) start_at: usize,
    /// ...except the keys at these record offsets (an earlier run's failures, sent again).
    pub(crate) redo: std::collections::BTreeSet<usize>,
    /// Keys at these record offsets are left out as duplicates of a later key under the
    /// same name ([`crate::rewrite`] merging dumps; counted, named).
    pub(crate) duplicates: std::collections::BTreeSet<usize>,
    /// Module values and module aux data are written ([`Mode::Rdb`]; else left out,
    /// counted).
    pub(crate) keep_modules: bool,
    /// [`Mode::Rdb`] merging dumps: function libraries of these names are left out (a later
    /// dump has one of the same name, and a server refuses a file with a library twice),
    /// and so is module aux data unless `module_aux` (only the last dump's is kept).
    pub(crate) later_libraries: std::collections::BTreeSet<Vec<u8>>,
    pub(crate) module_aux: bool,
}

impl Plan {
    /// Every key the filter selects, for `target` in `mode`: default batches, no key left
    /// out by a resume, a duplicate or a merge, module data kept.
    pub fn new(target: Server, mode: Mode, filter: Filter) -> Plan {
        Plan {
            target,
            mode,
            max_elems: MAX_ELEMS,
            max_bytes: MAX_BYTES,
            filter,
            skip_functions: false,
            functions_denied: false,
            start_at: 0,
            redo: Default::default(),
            duplicates: Default::default(),
            keep_modules: true,
            later_libraries: Default::default(),
            module_aux: true,
        }
    }

    /// Whether the key whose record starts at `record` was sent by the earlier run a load
    /// resumes (before [`Plan::start_at`], and not among the failures it sends again).
    #[inline]
    pub(crate) fn resumed(&self, record: usize) -> bool {
        record < self.start_at && !self.redo.contains(&record)
    }
}

/// Defaults well under every server's limits (`proto-max-bulk-len` 512 MB, 1M arguments
/// per command on Redis 5, 1 GB query buffer).
pub const MAX_ELEMS: usize = 512;
pub const MAX_BYTES: usize = 1 << 20;

/// What a conversion did, and what it could not carry (never silent: the CLI prints these).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Keys written.
    pub keys: u64,
    /// Of those, written as `RESTORE`.
    pub restored: u64,
    /// Keys left out by `--db/--key/--type`.
    pub filtered: u64,
    /// Keys left out because their expiry has passed.
    pub expired: u64,
    /// Hash fields left out because their expiry has passed.
    pub expired_fields: u64,
    pub functions: u64,
    /// Function libraries the target cannot load (before 7.0, or a 7.0 RC format).
    pub functions_skipped: u64,
    /// Module aux records (no command carries them).
    pub module_aux_skipped: u64,
    /// Streams whose IDMP state the target cannot hold.
    pub idmp_dropped: u64,
    /// Hash fields whose TTL the target cannot hold (kept without it).
    pub field_ttls_dropped: u64,
    /// Keys whose metadata the target cannot hold (value kept).
    pub meta_dropped: u64,
    /// Stream counters the target cannot hold (entries-added, max-deleted-id, entries-read).
    pub stream_counters_dropped: u64,
    /// IDMP records that point at deleted entries (`XIDMPRECORD` needs the entry).
    pub idmp_records_dropped: u64,
    /// Keys before the resume point (`--checkpoint`).
    pub resumed: u64,
    /// Arrays (Redis 8.8 type 28) the target cannot hold: not written.
    pub arrays_dropped: u64,
    /// The first [`NAMES_KEPT`] of those arrays' names, for the warning.
    pub arrays_dropped_names: Vec<Vec<u8>>,
    /// Streams whose NACKed entries (type 27) the target cannot hold (before 8.8).
    pub streams_nack: u64,
    /// The NACKed PEL entries of those streams (not rebuilt).
    pub nacked_dropped: u64,
    /// Streams whose stored length is not their live entries (old servers left such
    /// lengths after trims and deletions): commands give `XLEN` = the live entries.
    pub stream_lengths_dropped: u64,
    /// Empty collections, left out as every server leaves them out when it loads a file
    /// ([`Mode::Rdb`]).
    pub empty: u64,
    /// Keys left out because a later key (in this dump or a later one, or under a rename)
    /// goes out under the same name and db ([`Mode::Rdb`]); the first [`NAMES_KEPT`] names.
    pub duplicates: u64,
    pub duplicate_names: Vec<Vec<u8>>,
    /// Module values left out (`--drop-modules`: a target without the module).
    pub modules_dropped: u64,
    /// Module values written into an RDB file ([`Mode::Rdb`]): the target needs their
    /// modules loaded.
    pub modules_written: u64,
    /// Module aux records left out with them, or because a later merged dump has its own.
    pub module_aux_dropped: u64,
    /// Function libraries left out because a later merged dump has one of the same name.
    pub libraries_replaced: u64,
}

/// How many names of dropped keys a warning shows.
pub const NAMES_KEPT: usize = 20;

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.keys += o.keys;
        self.restored += o.restored;
        self.filtered += o.filtered;
        self.expired += o.expired;
        self.expired_fields += o.expired_fields;
        self.functions += o.functions;
        self.functions_skipped += o.functions_skipped;
        self.module_aux_skipped += o.module_aux_skipped;
        self.idmp_dropped += o.idmp_dropped;
        self.field_ttls_dropped += o.field_ttls_dropped;
        self.meta_dropped += o.meta_dropped;
        self.stream_counters_dropped += o.stream_counters_dropped;
        self.idmp_records_dropped += o.idmp_records_dropped;
        self.resumed += o.resumed;
        self.arrays_dropped += o.arrays_dropped;
        for name in &o.arrays_dropped_names {
            if self.arrays_dropped_names.len() < NAMES_KEPT {
                self.arrays_dropped_names.push(name.clone());
            }
        }
        self.streams_nack += o.streams_nack;
        self.nacked_dropped += o.nacked_dropped;
        self.stream_lengths_dropped += o.stream_lengths_dropped;
        self.empty += o.empty;
        self.duplicates += o.duplicates;
        for name in &o.duplicate_names {
            if self.duplicate_names.len() < NAMES_KEPT {
                self.duplicate_names.push(name.clone());
            }
        }
        self.modules_dropped += o.modules_dropped;
        self.modules_written += o.modules_written;
        self.module_aux_dropped += o.module_aux_dropped;
        self.libraries_replaced += o.libraries_replaced;
    }

    /// One line per thing the target lost, for the user.
    pub fn warnings(&self, target: &str) -> Vec<String> {
        let mut w = Vec::new();
        let mut say = |n: u64, what: &str| {
            if n > 0 {
                w.push(format!("{n} {what}"));
            }
        };
        say(
            self.idmp_dropped,
            &format!(
                "stream(s) lost their IDMP state ({target} has no XCFGSET/XIDMPRECORD; Redis 8.6+ does)"
            ),
        );
        say(
            self.field_ttls_dropped,
            &format!("hash field(s) kept without their TTL ({target} has no HPEXPIREAT)"),
        );
        say(
            self.meta_dropped,
            &format!("key(s) lost their key metadata ({target} cannot RESTORE it)"),
        );
        say(
            self.functions_skipped,
            &format!(
                "function librar(y/ies) not converted ({target} has no FUNCTION LOAD or denies it to this user, or pre-7.0 format)"
            ),
        );
        say(
            self.module_aux_skipped,
            "module aux record(s) not converted (no command carries them)",
        );
        say(
            self.stream_counters_dropped,
            &format!(
                "stream(s) lost entries-added/max-deleted-id/entries-read ({target} predates them)"
            ),
        );
        say(self.idmp_records_dropped, "IDMP record(s) pointing at deleted entries not rebuilt");
        say(
            self.stream_lengths_dropped,
            "stream(s) whose stored length is not their live entries get XLEN = the live entries (commands cannot set it; RESTORE carries it)",
        );
        say(
            self.streams_nack,
            &format!(
                "stream(s) lost their NACKed pending entries ({} in all; {target} has no XNACK; Redis 8.8+ does)",
                self.nacked_dropped
            ),
        );
        say(
            self.modules_dropped,
            "module value(s) left out (--drop-modules: the target has no module for them)",
        );
        say(
            self.module_aux_dropped,
            "module aux record(s) left out (with their module values, or a later merged dump has its own)",
        );
        if self.duplicates > 0 {
            let names: Vec<String> =
                self.duplicate_names.iter().map(|n| crate::encode::text::quote(n)).collect();
            let more = if self.duplicates > names.len() as u64 { ", ..." } else { "" };
            w.push(format!(
                "{} key(s) left out: a later key of the same name and db is written (the last wins, as in a replay): {}{more}",
                self.duplicates,
                names.join(", ")
            ));
        }
        if self.arrays_dropped > 0 {
            let names: Vec<String> =
                self.arrays_dropped_names.iter().map(|n| crate::encode::text::quote(n)).collect();
            let more = if self.arrays_dropped > names.len() as u64 { ", ..." } else { "" };
            w.push(format!(
                "{} array(s) not converted ({target} has no arrays; Redis 8.8+ does): {}{more}",
                self.arrays_dropped,
                names.join(", ")
            ));
        }
        w
    }
}

/// A function library's name: `name=` on its first line (`#!lua name=mylib`), which a
/// server requires (`functionExtractLibMetaData`).
pub fn library_name(code: &[u8]) -> Option<&[u8]> {
    let line = code.split(|&c| c == b'\n').next()?;
    line.strip_prefix(b"#!")?
        .split(|c| c.is_ascii_whitespace())
        .find_map(|t| t.strip_prefix(b"name="))
        .filter(|n| !n.is_empty())
}

/// The server that wrote a dump, from its `redis-ver`/`valkey-ver` aux fields (which come
/// before any key), else from its RDB version.
pub fn source_server(
    data: &[u8],
    opts: crate::format::record::Options,
) -> crate::format::Result<Server> {
    use crate::format::record::Record;
    let mut r = crate::format::Reader::new(data, opts)?;
    let (mut redis, mut valkey) = (None, None);
    let mut buf = Vec::new();
    while let Some(rec) = r.next_record()? {
        match rec {
            Record::Aux { key, value } => {
                let k = key.get(&mut buf)?.to_vec();
                let v = value.get(&mut buf)?.to_vec();
                match &k[..] {
                    b"redis-ver" => redis = Some(v),
                    b"valkey-ver" => valkey = Some(v),
                    _ => {}
                }
            }
            Record::Key(_) | Record::Eof(_) => break,
            _ => {}
        }
    }
    Ok(Server::of_dump(r.header.version, r.header.dialect, redis.as_deref(), valkey.as_deref()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn library_names() {
        let n = |c: &[u8]| super::library_name(c).map(|n| n.to_vec());
        assert_eq!(n(b"#!lua name=mylib\nredis.register_function(...)"), Some(b"mylib".to_vec()));
        assert_eq!(n(b"#!lua  engine=x name=a_b\n"), Some(b"a_b".to_vec()));
        assert_eq!(n(b"#!lua name=\n"), None);
        assert_eq!(n(b"return 1\n#!lua name=x"), None);
    }
}
