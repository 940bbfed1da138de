//! The parallel engine: one dump in, commands out in file order.
//!
//! - A skimmer (one thread) walks the records by their length prefixes ([`Reader`]: no
//!   decompression, no container decoding) and cuts the file into chunks at key
//!   boundaries: at most `chunk_bytes` ([`Config`]) bytes or [`CHUNK_ITEMS`] records, never
//!   spanning two databases.
//! - Chunks are decoded on a rayon pool, FIFO, each into a bounded channel of output
//!   pieces ([`Seg`]). When the writer has every slot queued, the skimmer converts the
//!   chunk it has just cut itself, while the chunk is in its cache, instead of skimming
//!   further ahead (measured on 2 cores, the 2M-key benchmark: 0.52 s against 0.64 s in a
//!   side-by-side run; BENCHMARKS.md).
//! - The calling thread writes the chunks' pieces in chunk order into a [`Sink`], and
//!   releases the mapped pages behind what it has written.
//!
//! Memory is bounded: at most `2 * threads + 2` chunks are in flight, and a chunk holds at
//! most [`SEGS_QUEUED`] pieces of about `piece` ([`Config`]) bytes before its worker waits, so
//! a single huge key streams through instead of being materialized. Chunk boundaries and a
//! key's output depend only on the input, so the output is the same for any thread count.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use super::bufs::Bufs;
use super::commands;
use super::out::{BufPool, Mark, Out, Seg};
use super::{Counts, Error, KeyWriter, Plan};
use crate::filter::Verdict;
use crate::format::Header;
use crate::format::record::{
    Fingerprints, Function, Key, KeyNameCheck, Options, Record, Registry, Trailer,
};
use crate::format::{RStr, Reader, Run, Step, Str};
use crate::job::Stop;
use crate::output::AheadFile;

/// Why a run of the engine ended before the dump's end, for a sink whose errors are `E`.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    /// The dump is damaged (the error names the offset, and the key when one is known);
    /// everything before the damage was written.
    #[error(transparent)]
    Format(crate::format::Error),
    /// The sink failed (an output file, a target).
    #[error(transparent)]
    Sink(E),
    /// A stop was asked for (the signal).
    #[error("{}", crate::stop::error(*.0))]
    Stopped(i32),
    /// The dump changed while it was being read, at this offset: nothing read after it
    /// left.
    #[error("{}", crate::input::changed_error(*.0))]
    Changed(usize),
}

/// Most records per chunk (bounds the per-chunk record list for files of tiny keys).
pub const CHUNK_ITEMS: usize = 16 << 10;
/// Pieces a chunk may have waiting before its worker blocks.
pub const SEGS_QUEUED: usize = 8;

#[derive(Clone, Debug)]
pub struct Config {
    /// What stops the run (a signal, the dump changing).
    pub(crate) stop: Stop,
    pub(crate) threads: usize,
    /// A chunk is closed once it spans this many bytes of the file.
    pub(crate) chunk_bytes: usize,
    /// Output is handed on in pieces of about this size.
    pub(crate) piece: usize,
    /// A plain string record goes out from its step ([`Step::PlainString`]), without its
    /// [`Key`] built (measured: a sixth of a tiny key's conversion). The output, counts and
    /// errors are the same either way (a test compares them).
    pub(crate) lean: bool,
    /// When the skimming thread converts a chunk it has cut, instead of a worker.
    pub(crate) skim_converts: SkimConverts,
}

/// When the skimming thread converts a chunk it has just cut (from its cache) instead of
/// handing it to a worker. The output is the same whichever thread converts a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SkimConverts {
    /// When the writer has every slot queued (the skim would wait, and every slot's chunk
    /// before this one is the workers' to convert meanwhile) and the chunk holds no key
    /// handed over as read ([`HAND_OVER`]: a big key, not in cache, whose conversion would
    /// keep the skim from cutting for long).
    WhenAhead,
    /// Never (for tests). Chunks from cuts made before ([`Source::Cuts`]) are not in the
    /// dispatching thread's cache: it never converts them, whatever this says.
    #[cfg_attr(not(test), allow(dead_code))]
    Never,
    /// Every chunk (for tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Always,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stop: Stop::manual(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            chunk_bytes: 4 << 20,
            piece: 1 << 20,
            lean: true,
            skim_converts: SkimConverts::WhenAhead,
        }
    }
}

impl Config {
    /// For a conversion into a file or a stream: chunks of 1 MiB instead of 4 MiB. Fewer
    /// bytes of output wait for the writer (measured, the 2M-key benchmark: 33 MB of
    /// anonymous memory at the peak against 54 MB), and the writer copies pieces while they
    /// are still in cache. Right after a load had freed its memory, the host had to hand
    /// pages back for that difference (measured, 4 rounds each after a load: 0.42 s against
    /// 0.53 s, `cat` 0.34 s; back to back, the same within the noise).
    pub fn for_output() -> Self {
        Config { chunk_bytes: 1 << 20, ..Config::default() }
    }

    /// With `threads` decoding threads and chunks of `chunk_bytes` of the file, where given
    /// (each at least 1).
    pub fn sized(mut self, threads: Option<usize>, chunk_bytes: Option<usize>) -> Self {
        if let Some(n) = threads {
            self.threads = n.max(1);
        }
        if let Some(c) = chunk_bytes {
            self.chunk_bytes = c.max(1);
        }
        self
    }
}

/// Where the engine's output goes, in order.
pub trait Sink {
    /// Why a write failed.
    type Error: std::error::Error + 'static;
    /// The next pieces are for database `db` (a sink emits `SELECT` when it changes).
    fn select(&mut self, db: u64) -> std::result::Result<(), Self::Error>;
    fn write(&mut self, bytes: &[u8]) -> std::result::Result<(), Self::Error>;
    /// An owned piece (with its key marks if [`Sink::wants_marks`]); the buffer goes back
    /// to [`Sink::pool`] once written.
    fn write_owned(
        &mut self,
        b: Vec<u8>,
        _marks: Vec<Mark>,
    ) -> std::result::Result<(), Self::Error> {
        let r = self.write(&b);
        self.pool().put(b);
        r
    }
    /// Where workers take their output buffers from.
    fn pool(&self) -> &Arc<BufPool>;
    /// Whether pieces should carry key marks.
    fn wants_marks(&self) -> bool {
        false
    }
    /// Whether marks should carry their key's name (`Mark::name`).
    fn wants_names(&self) -> bool {
        false
    }
    /// The dump's size hint (`RESIZEDB`) for database `db` (as the keys go out: after
    /// `--map-db`), before the first piece of its keys.
    fn size_hint(&mut self, _db: u64, _keys: u64, _expires: u64) {}
    /// Whether plain strings may share `MSET`s (`Some`; `Some(true)`: only keys of one hash
    /// slot), for a sink that acknowledges keys by their marks ([`Out::with_groups`]).
    fn groups(&mut self) -> Option<bool> {
        None
    }
}

/// RESP commands into a file or a stream (`redis-cli --pipe` input, or an AOF): `SELECT`
/// only when the database changes, starting from db 0 as a fresh connection does.
///
/// Into a regular file, the thread that puts the pieces in order writes them, into blocks
/// allocated ahead ([`AheadFile`]). A thread of its own for the writes cost more than it saved once the
/// skim converts when the writer is behind (measured on 2 cores, alternating rounds: the
/// 2M-key benchmark 0.45-0.48 s against 0.47-0.52 s with it, and 5% less CPU; the same on
/// the other benchmark dumps). More writing threads do not help: ext4 takes the inode lock
/// for every write, and measured, two writers spent their time spinning on it.
pub struct RespSink {
    out: Output,
    db: u64,
    /// Bytes written (the offset of the next piece).
    pub bytes: u64,
    pool: Arc<BufPool>,
}

enum Output {
    Stream(Box<dyn Write + Send>),
    File(AheadFile),
}

impl RespSink {
    pub fn stream(w: Box<dyn Write + Send>) -> Self {
        RespSink { out: Output::Stream(w), db: 0, bytes: 0, pool: Arc::default() }
    }

    /// Written in order from the start of `file`, a new, empty file whose blocks are
    /// allocated ahead of the writes ([`AheadFile`]) and cut to what was written by
    /// [`RespSink::finish`].
    pub fn file(file: File) -> Self {
        RespSink { out: Output::File(AheadFile::new(file)), db: 0, bytes: 0, pool: Arc::default() }
    }

    /// Flushes what is buffered; a file is cut to what was written (the blocks allocated
    /// past it are given back).
    pub fn finish(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Output::Stream(w) => w.flush(),
            Output::File(file) => file.flush(),
        }
    }
}

impl Sink for RespSink {
    type Error = std::io::Error;
    fn select(&mut self, db: u64) -> std::io::Result<()> {
        if db != self.db {
            let mut b = Vec::new();
            crate::resp::command::write(&mut b, &[b"SELECT", db.to_string().as_bytes()]);
            self.write(&b)?;
            self.db = db;
        }
        Ok(())
    }
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.bytes += bytes.len() as u64;
        match &mut self.out {
            Output::Stream(w) => w.write_all(bytes),
            Output::File(file) => file.write_all(bytes),
        }
    }
    fn pool(&self) -> &Arc<BufPool> {
        &self.pool
    }
}

impl Drop for RespSink {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// A record a worker converts.
enum Item<'r, 'a> {
    Key(&'r Key<'a>),
    /// A plain string record ([`Step::PlainString`]) at `start`, in database `db`.
    Plain {
        start: usize,
        db: u64,
        name: RStr<'a>,
        value: RStr<'a>,
    },
    /// The strings with raw names and no more than an expiry ahead of the reader, up to the
    /// offset given ([`Reader::raw_strings`]): the item is done (true) if it read one.
    Raw(&'r mut Reader<'a>, usize),
    Function(&'r Function<'a>),
    /// A module aux record: where it lies in the file.
    ModuleAux(std::ops::Range<usize>),
}

/// The records of a chunk, in file order.
///
/// Small records are not handed over as read: a worker reads them again from the file
/// (measured: moving a ~200-byte [`Key`] through the skim's channel cost more than the
/// whole skim of a small key; 10M tiny keys, convert 1.5x slower). A big key is handed over
/// as read, so that no value is skimmed twice where that costs.
enum Part<'a> {
    /// The records in `start..end`, all of them items (keys, functions, module aux).
    Run {
        start: usize,
        end: usize,
    },
    Key(Box<Key<'a>>),
}

/// Records from this size up are handed over as read ([`Part::Key`]).
const HAND_OVER: usize = 64 << 10;

/// One chunk of a dump: the records from `start` to `end`, `items` of them keys, functions
/// or module aux, all in database `db` (`None`: no key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cut {
    pub start: usize,
    pub end: usize,
    pub db: Option<u64>,
    pub items: usize,
}

/// Where the engine cuts a dump into chunks: at most `chunk_bytes` bytes of the file or
/// [`CHUNK_ITEMS`] records, never spanning two databases, nor a hash template record (a
/// worker reads a chunk's records again, and a template must be read once). The skim cuts
/// with it as it reads; a load's survey cuts with it too, and its cuts stand for a skim
/// ([`Source::Cuts`]).
pub struct Cutter {
    cur: Cut,
    chunk_bytes: usize,
    /// The open cut's bytes, counting what its values grow by once decompressed.
    weight: usize,
}

impl Cutter {
    pub fn new(chunk_bytes: usize) -> Self {
        Cutter { cur: Cut::default(), chunk_bytes: chunk_bytes.max(1), weight: 0 }
    }

    /// The item record `start..end` (of a key in database `db`; `None`: no key), whose
    /// value takes `grows` bytes more once decompressed ([`crate::format::record::grows`]:
    /// a chunk is the work of decoding it, so 400 compressed 512 KiB strings in 2 MB of
    /// file are many chunks, not one for a single worker). Returns the cut it closed before
    /// it (another database) and the one it completed.
    pub fn item(
        &mut self,
        start: usize,
        end: usize,
        db: Option<u64>,
        grows: usize,
    ) -> [Option<Cut>; 2] {
        let mut done = [None, None];
        if let (Some(d), Some(c)) = (db, self.cur.db)
            && d != c
        {
            done[0] = self.close();
        }
        if self.cur.items == 0 {
            self.cur.start = start;
        }
        self.cur.items += 1;
        self.cur.end = end;
        self.weight = self.weight.saturating_add(end - start).saturating_add(grows);
        if db.is_some() {
            self.cur.db = db;
        }
        if self.weight >= self.chunk_bytes || self.cur.items >= CHUNK_ITEMS {
            done[1] = self.close();
        }
        done
    }

    /// Whether a key of database `db` goes into the open cut (no cut closes before it).
    pub fn joins(&self, db: u64) -> bool {
        self.cur.db.is_none_or(|d| d == db)
    }

    /// Ends the open cut: at a record no chunk may hold (a hash template), at the end of
    /// the records, or at damage.
    pub fn close(&mut self) -> Option<Cut> {
        self.weight = 0;
        let c = std::mem::take(&mut self.cur);
        (c.items > 0).then_some(c)
    }
}

struct Chunk<'a> {
    cut: Cut,
    /// A `RESIZEDB` read before the chunk's first record: (keys, expires).
    hint: Option<(u64, u64)>,
    parts: Vec<Part<'a>>,
    /// What reading a run again needs.
    header: Header,
    templates: Registry<'a>,
}
impl<'a> Chunk<'a> {
    fn new(header: Header) -> Self {
        let (cut, templates) = (Cut::default(), Registry::default());
        Chunk { cut, hint: None, parts: Vec::new(), header, templates }
    }

    /// Adds the item record `start..end`.
    fn add(&mut self, start: usize, end: usize, key: Option<&Key<'a>>) {
        match (key, self.parts.last_mut()) {
            (Some(k), _) if end - start >= HAND_OVER => {
                self.parts.push(Part::Key(Box::new(k.clone())))
            }
            (_, Some(Part::Run { end: e, .. })) if *e == start => *e = end,
            _ => self.parts.push(Part::Run { start, end }),
        }
    }
}

enum Msg {
    Seg(Seg),
    /// The chunk's result, and the fingerprints of its key names (duplicate-key check).
    Done(Box<std::result::Result<Counts, Stopped>>, Vec<u64>),
}

/// Damage found after some keys: a key twice among those keys comes first in the file,
/// so it is the error (as a server reports the first thing it refuses).
fn checked(names: &mut Option<KeyNameCheck>, data: &[u8], e: Stopped) -> Stopped {
    match (names, e) {
        (Some(names), Stopped::Format(e)) => match names.finish(data) {
            Err(dup) if dup.offset < e.offset => Stopped::Format(dup),
            _ => Stopped::Format(e),
        },
        (_, e) => e,
    }
}

/// Why the skim or a worker stopped (the engine's error without the sink's).
#[derive(Debug)]
enum Stopped {
    Format(crate::format::Error),
    Signal(i32),
    Changed(usize),
    /// The writer went away: it reports its own error.
    Closed,
}

impl From<Error> for Stopped {
    fn from(e: Error) -> Stopped {
        match e {
            Error::Format(e) => Stopped::Format(e),
            Error::Closed => Stopped::Closed,
        }
    }
}

impl Stopped {
    fn run_error<E: std::error::Error + 'static>(self) -> RunError<E> {
        match self {
            Stopped::Format(e) => RunError::Format(e),
            Stopped::Signal(s) => RunError::Stopped(s),
            Stopped::Changed(at) => RunError::Changed(at),
            Stopped::Closed => RunError::Format(crate::format::Error::corrupt(
                0,
                "chunk",
                "the engine stopped without a result",
            )),
        }
    }
}

enum Slot {
    Chunk { db: Option<u64>, end: usize, hint: Option<(u64, u64)>, rx: Receiver<Msg> },
    End(std::result::Result<Trailer, Stopped>),
}

/// Where a run's chunks come from.
pub enum Source<'c> {
    /// A skim of the dump, reading it with these options.
    Skim(Options),
    /// Cuts an earlier pass made over the whole dump ([`Cutter`]), and the trailer it
    /// read: no skim, and neither the checksum nor duplicate keys checked again.
    Cuts(&'c [Cut], Trailer),
}

/// Converts one dump. Returns what was done, and the trailer or the first error;
/// everything before the error has been written.
///
/// The duplicate-key check (unless the options allow them) runs beside the decoding, not
/// in the skim: the workers fingerprint the names they read anyway, and the writer gathers
/// the fingerprints and checks them at the end (a key twice is refused then, or at damage
/// found after it: the output of a refused dump is not committed).
pub fn run<'a, E: std::error::Error + 'static>(
    data: &'a [u8],
    source: Source,
    plan: &Plan,
    cfg: &Config,
    pool: &rayon::ThreadPool,
    sink: &mut dyn Sink<Error = E>,
    release: &(dyn Fn(usize, usize) + Sync),
) -> (Counts, std::result::Result<Trailer, RunError<E>>) {
    let (names, feed) = match source {
        Source::Skim(opts) => match Reader::new(data, opts.allow_duplicate_keys(true)) {
            Ok(r) => ((!opts.allow_duplicate_keys).then(KeyNameCheck::default), Ok(r)),
            Err(e) => return (Counts::default(), Err(RunError::Format(e))),
        },
        Source::Cuts(cuts, trailer) => (None, Err((cuts, trailer))),
    };
    let stop = &cfg.stop;
    let bufs = sink.pool().clone();
    let bufs = &*bufs;
    let (marks, groups) = (sink.wants_marks(), sink.groups());
    let marked_names = marks && sink.wants_names();
    let fingerprints = names.as_ref().map(|n| n.fingerprints());
    let shared = Shared {
        data,
        plan,
        piece: cfg.piece,
        pool: bufs,
        marks,
        groups,
        stop,
        names: fingerprints,
        lean: cfg.lean,
        marked_names,
    };
    let shared = &shared;
    let (otx, orx) = sync_channel::<Slot>(cfg.threads * 2 + 2);
    // a skim's chunk is in its thread's cache when cut
    let hot = feed.is_ok();
    std::thread::scope(|ts| {
        ts.spawn(move || {
            pool.in_place_scope_fifo(|s| {
                let mut dispatch = |chunk: Chunk<'a>| {
                    let (tx, rx) = sync_channel(SEGS_QUEUED);
                    // the db its keys go to (`--map-db`)
                    let db = chunk.cut.db.map(|d| plan.filter.dest_db(d));
                    let (end, hint) = (chunk.cut.end, chunk.hint);
                    // a skim that finds every slot taken is ahead of the writer and of the
                    // workers: once a slot frees, it converts the chunk itself, from its cache,
                    // instead of skimming further ahead
                    let ahead = match otx.try_send(Slot::Chunk { db, end, hint, rx }) {
                        Ok(()) => false,
                        Err(TrySendError::Full(slot)) => {
                            if otx.send(slot).is_err() {
                                return false;
                            }
                            true
                        }
                        Err(TrySendError::Disconnected(_)) => return false,
                    };
                    let by_skim = hot
                        && match cfg.skim_converts {
                            // a key handed over as read is big (see HAND_OVER): not in
                            // cache, and long to convert while no chunk is cut
                            SkimConverts::WhenAhead => {
                                ahead && chunk.parts.iter().all(|p| matches!(p, Part::Run { .. }))
                            }
                            SkimConverts::Never => false,
                            SkimConverts::Always => true,
                        };
                    let convert = move |chunk: &Chunk| {
                        let mut fps = Vec::new();
                        let r = work(shared, chunk, &tx, &mut fps);
                        let _ = tx.send(Msg::Done(Box::new(r), fps));
                    };
                    if by_skim {
                        convert(&chunk);
                    } else {
                        s.spawn_fifo(move |_| convert(&chunk));
                    }
                    true
                };
                let end = match feed {
                    Ok(r) => skim(r, cfg.chunk_bytes, stop, &mut dispatch),
                    Err((cuts, t)) => dispatch_cuts(data, cuts, t, stop, &mut dispatch),
                };
                let _ = otx.send(Slot::End(end));
            });
        });
        write_in_order(orx, data, sink, release, names)
    })
}

fn write_in_order<E: std::error::Error + 'static>(
    orx: Receiver<Slot>,
    data: &[u8],
    sink: &mut dyn Sink<Error = E>,
    release: &(dyn Fn(usize, usize) + Sync),
    mut names: Option<KeyNameCheck>,
) -> (Counts, std::result::Result<Trailer, RunError<E>>) {
    let mut counts = Counts::default();
    let mut behind = crate::input::Behind::new(release);
    for slot in orx.iter() {
        match slot {
            Slot::Chunk { db, end, hint, rx } => {
                if let (Some(db), Some((keys, expires))) = (db, hint) {
                    sink.size_hint(db, keys, expires);
                }
                let mut first = true;
                loop {
                    let r = match rx.recv() {
                        Ok(Msg::Seg(seg)) => {
                            let w = || -> std::result::Result<(), E> {
                                if let (true, Some(db)) = (first, db) {
                                    sink.select(db)?;
                                }
                                first = false;
                                match seg {
                                    Seg::Bytes(b, marks) => sink.write_owned(b, marks),
                                    Seg::Mapped(r) => sink.write(&data[r]),
                                }
                            };
                            w().map_err(RunError::Sink)
                        }
                        Ok(Msg::Done(r, fps)) => {
                            if let Some(names) = &mut names {
                                fps.into_iter().for_each(|h| names.add(h));
                            }
                            match *r {
                                Ok(c) => {
                                    counts.add(&c);
                                    break;
                                }
                                Err(e) => Err(checked(&mut names, data, e).run_error()),
                            }
                        }
                        Err(_) => Err(RunError::Format(crate::format::Error::corrupt(
                            end as u64,
                            "chunk",
                            "a worker stopped without a result",
                        ))),
                    };
                    if let Err(e) = r {
                        return (counts, Err(e));
                    }
                }
                behind.passed(end);
            }
            Slot::End(Ok(t)) => {
                let r = match names.as_mut().map(|n| n.finish(data)) {
                    Some(Err(dup)) => Err(RunError::Format(dup)),
                    _ => Ok(t),
                };
                return (counts, r);
            }
            Slot::End(Err(e)) => return (counts, Err(checked(&mut names, data, e).run_error())),
        }
    }
    (counts, Err(Stopped::Closed.run_error()))
}

/// Walks the records and hands chunks to `dispatch` (false: stop, the writer is gone).
fn skim<'a>(
    mut r: Reader<'a>,
    chunk_bytes: usize,
    stop: &Stop,
    dispatch: &mut dyn FnMut(Chunk<'a>) -> bool,
) -> std::result::Result<Trailer, Stopped> {
    let header = r.header;
    let mut cutter = Cutter::new(chunk_bytes);
    let mut cur = Chunk::new(header);
    // hands on the chunk being filled, as the cut `c` (nothing: no cut was completed)
    let mut flush = |cur: &mut Chunk<'a>, c: Option<Cut>, r: &Reader<'a>| {
        let Some(c) = c else { return Ok(()) };
        let mut full = std::mem::replace(cur, Chunk::new(header));
        full.cut = c;
        full.templates = r.templates().clone();
        if !dispatch(full) {
            return Err(Stopped::Closed);
        }
        Ok(())
    };
    loop {
        let at = r.pos();
        if let Some(sig) = stop.requested() {
            return Err(Stopped::Signal(sig));
        }
        // a run of strings with raw names and values and at most an expiry, up to the cut
        // it completes: what the steps below do with each, without building them
        let db = r.db();
        if cutter.joins(db) {
            let (mut ran, mut full) = (false, None);
            r.raw_strings(usize::MAX, |s| {
                ran = true;
                // never a cut before it: the open cut is of this database
                let [_, done] = cutter.item(s.start, s.end, Some(db), s.grows());
                cur.add(s.start, s.end, None);
                full = done;
                if full.is_none() { Run::On } else { Run::Stop }
            });
            if ran {
                if stop.input_changed() {
                    return Err(Stopped::Changed(at));
                }
                flush(&mut cur, full, &r)?;
                continue;
            }
        }
        let next = r.next_step();
        let step = match &next {
            Ok(Some(step)) if !stop.input_changed() => step,
            Ok(Some(_)) => return Err(Stopped::Changed(at)),
            Ok(None) => return Err(Stopped::Closed),
            Err(_) => {
                // the complete keys before the damage still go out
                let _ = flush(&mut cur, cutter.close(), &r);
                let Err(e) = next else { unreachable!("matched as an error") };
                return Err(if stop.input_changed() {
                    Stopped::Changed(at)
                } else {
                    Stopped::Format(e)
                });
            }
        };
        let (end, db, key, grows) = match step {
            Step::PlainString { end, grows, .. } => (*end, Some(r.db()), None, *grows),
            Step::Record(Record::Key(k)) => (k.end(), Some(k.db()), Some(k), k.grows()),
            Step::Record(Record::Function(_) | Record::ModuleAux { .. }) => {
                (r.pos(), None, None, 0)
            }
            Step::Record(Record::Template(_)) => {
                flush(&mut cur, cutter.close(), &r)?;
                continue;
            }
            Step::Record(Record::Eof(t)) => {
                let t = *t;
                flush(&mut cur, cutter.close(), &r)?;
                return Ok(t);
            }
            Step::Record(Record::ResizeDb { keys, expires }) => {
                // for the chunk that holds the database's first keys
                let (keys, expires) = (*keys, *expires);
                let before = cutter.close();
                flush(&mut cur, before, &r)?;
                cur.hint = Some((keys, expires));
                continue;
            }
            Step::Record(_) => continue,
        };
        let [before, full] = cutter.item(at, end, db, grows);
        flush(&mut cur, before, &r)?;
        cur.add(at, end, key);
        flush(&mut cur, full, &r)?;
    }
}

/// Hands on chunks cut by an earlier pass over the same dump ([`Cutter`], a load's survey)
/// instead of skimming it: each chunk is one run its worker reads.
fn dispatch_cuts<'a>(
    data: &'a [u8],
    cuts: &[Cut],
    trailer: Trailer,
    stop: &Stop,
    dispatch: &mut dyn FnMut(Chunk<'a>) -> bool,
) -> std::result::Result<Trailer, Stopped> {
    let header = crate::format::Header::parse(data, true).map_err(Stopped::Format)?;
    let templates = crate::format::record::templates(data).map_err(Stopped::Format)?;
    for c in cuts {
        if let Some(sig) = stop.requested() {
            return Err(Stopped::Signal(sig));
        }
        if stop.input_changed() {
            return Err(Stopped::Changed(c.start));
        }
        let parts = vec![Part::Run { start: c.start, end: c.end }];
        let chunk = Chunk { cut: *c, hint: None, parts, header, templates: templates.clone() };
        if !dispatch(chunk) {
            return Err(Stopped::Closed);
        }
    }
    Ok(trailer)
}

/// What every worker of one run shares: the dump, the plan, the output's piece size, where
/// buffers come from, whether pieces carry key marks, and what stops the run.
struct Shared<'r> {
    data: &'r [u8],
    plan: &'r Plan,
    piece: usize,
    pool: &'r BufPool,
    marks: bool,
    /// Plain strings share `MSET`s (see [`Sink::groups`]).
    groups: Option<bool>,
    stop: &'r Stop,
    /// How key names are fingerprinted, when the duplicate-key check is on.
    names: Option<Fingerprints>,
    /// [`Config::lean`].
    lean: bool,
    /// Marks carry their key's name ([`Sink::wants_names`]).
    marked_names: bool,
}

/// Decodes one chunk into commands. On an error, the commands of the keys before the
/// failing one are still handed on. When the duplicate-key check is on, the fingerprints of the chunk's key names (up to the
/// failing key) go into `fps`.
fn work(
    w: &Shared,
    chunk: &Chunk,
    tx: &SyncSender<Msg>,
    fps: &mut Vec<u64>,
) -> std::result::Result<Counts, Stopped> {
    let Shared { data, plan, piece, pool, marks, groups, stop, names, lean, marked_names } = *w;
    let mut send = |s: Seg| tx.send(Msg::Seg(s)).map_err(|_| Error::Closed);
    let mut out = Out::new(data, piece, pool, &mut send);
    if marks {
        out = out.with_marks();
        if marked_names {
            out = out.with_names();
        }
        if let Some(by_slot) = groups {
            out = out.with_groups(by_slot);
        }
    }
    let mut n = Counts::default();
    let mut bufs = Bufs::default();
    let mut code = Vec::new();
    let mut namebuf = Vec::new();
    let f = &plan.filter;
    // an RDB output rewrites records: a plain string's too
    let lean = lean && plan.mode != super::Mode::Rdb;
    // strings all kept under their own names (unless expired): a run of them needs no
    // verdict
    let raw_run = lean && f.every_string();
    // Ok(false): a plain string the lean path left to the whole one (damage it names there)
    let mut each = |item: Item| -> std::result::Result<bool, Stopped> {
        let r = match item {
            Item::Plain { start, db, name, value } => (|| -> super::Result<bool> {
                // the stages of a Key below, in the same order, for a string with nothing
                // before it: no expiry, so never expired
                let Ok(stored) = name.bytes(&mut namebuf) else { return Ok(false) };
                // the name it goes out under, if any, and the count the key falls under
                // (a kept key's, `keys`, is counted by `plain_string`)
                let (kept, left) = if !f.db(db) {
                    (None, &mut n.filtered)
                } else if plan.resumed(start) {
                    let left =
                        if f.selects_string(db, stored) { &mut n.resumed } else { &mut n.filtered };
                    (None, left)
                } else {
                    match f.judge_string(db, stored) {
                        Verdict::Keep(name) => (Some(name), &mut n.keys),
                        Verdict::Filtered | Verdict::Expired => (None, &mut n.filtered),
                    }
                };
                // read before anything is counted: damage goes the whole way
                let v = match &kept {
                    Some(_) => match value.get(&mut bufs.body) {
                        Ok(v) => Some(v),
                        Err(_) => return Ok(false),
                    },
                    None => None,
                };
                if let Some(fp) = names {
                    fps.push(fp.of(db, stored));
                }
                let (Some(name), Some(v)) = (kept, v) else {
                    *left += 1;
                    return Ok(true);
                };
                commands::plain_string(plan, &mut out, &mut n, start, &name, None, v)?;
                Ok(true)
            })(),
            Item::Raw(r, end) => {
                // what the lean path and the key's path do with each, for a selection that
                // keeps every string under its own name: no verdict to reach but expiry
                let (db, mut ran, mut failed) = (r.db(), false, None);
                r.raw_strings(end, |s| {
                    let (name, start) = (s.name, s.start);
                    let resumed = plan.resumed(start);
                    let kept = !resumed && !f.expired(s.expire_ms);
                    // a value read before anything is counted: damage goes the whole way
                    let v = match kept.then(|| s.value.get(&mut bufs.body)) {
                        Some(Ok(v)) => Some(v),
                        Some(Err(_)) => return Run::Again,
                        None => None,
                    };
                    ran = true;
                    if let Some(fp) = names {
                        fps.push(fp.of(db, name));
                    }
                    let Some(v) = v else {
                        if resumed {
                            n.resumed += 1;
                        } else {
                            n.expired += 1;
                        }
                        return Run::On;
                    };
                    let ms = s.expire_ms;
                    match commands::plain_string(plan, &mut out, &mut n, start, name, ms, v) {
                        // a key read over pages that vanished never leaves: checked below
                        Ok(()) if stop.input_changed() => Run::Stop,
                        Ok(()) => Run::On,
                        Err(e) => {
                            failed = Some(e);
                            Run::Stop
                        }
                    }
                });
                failed.map_or(Ok(ran), Err)
            }
            Item::Key(k) => (|| -> super::Result<()> {
                let name = k.raw_name().bytes(&mut namebuf).map_err(|e| super::in_key(k, e))?;
                if let Some(fp) = names {
                    fps.push(fp.of(k.db(), name));
                }
                if !f.db(k.db()) {
                    n.filtered += 1;
                    return Ok(());
                }
                // a key an earlier run of this load finished: but one the selection leaves
                // out was never part of it
                if plan.resumed(k.start()) {
                    if f.selects(k, name) {
                        n.resumed += 1;
                    } else {
                        n.filtered += 1;
                    }
                    return Ok(());
                }
                let stored = name;
                let name = match f.judge(k, name) {
                    Verdict::Keep(name) => name,
                    Verdict::Filtered => {
                        n.filtered += 1;
                        return Ok(());
                    }
                    Verdict::Expired => {
                        n.expired += 1;
                        return Ok(());
                    }
                };
                let name = &*name;
                if commands::dropped_array(plan, k, name, &mut n) {
                    return Ok(());
                }
                if plan.mode == super::Mode::Rdb {
                    if plan.duplicates.contains(&k.start()) {
                        n.duplicates += 1;
                        if n.duplicate_names.len() < super::NAMES_KEPT {
                            n.duplicate_names.push(name.to_vec());
                        }
                        return Ok(());
                    }
                    let slot = out.marked().then(|| crate::slot::of(name));
                    out.begin_key(k.start(), slot, name);
                    let renamed = name != stored;
                    let mut kw = KeyWriter { plan, out: &mut out, bufs: &mut bufs, counts: &mut n };
                    if crate::rewrite::key::key(&mut kw, k, name, renamed)? {
                        out.end_key();
                    } else {
                        out.drop_unfinished();
                    }
                    return Ok(());
                }
                // the slot routes a load; a file needs none (CRC16: a tenth of a tiny key's cost)
                let slot = out.marked().then(|| crate::slot::of(name));
                if out.grouping() && commands::groupable(k) {
                    out.begin_grouped_key(k.start(), slot, name);
                } else {
                    out.begin_key(k.start(), slot, name);
                }
                commands::key(
                    &mut KeyWriter { plan, out: &mut out, bufs: &mut bufs, counts: &mut n },
                    k,
                    name,
                )?;
                out.end_key();
                Ok(())
            })()
            .map(|()| true),
            Item::Function(func) => (|| -> super::Result<()> {
                if plan.skip_functions || chunk.cut.start < plan.start_at {
                    return Ok(());
                }
                if func.pre_ga.is_some() || !plan.target.functions() || plan.functions_denied {
                    n.functions_skipped += 1;
                    return Ok(());
                }
                let body = func.code.get(&mut code)?;
                if let Str::Bytes(b) = body
                    && super::library_name(b).is_some_and(|l| plan.later_libraries.contains(l))
                {
                    n.libraries_replaced += 1;
                    return Ok(());
                }
                let Str::Bytes(body) = body else {
                    return Err(crate::format::Error::corrupt(
                        chunk.cut.start as u64,
                        "function",
                        "library code is an integer",
                    )
                    .into());
                };
                out.begin_key(usize::MAX, None, b"");
                if plan.mode == super::Mode::Rdb {
                    crate::format::write::function(out.buf(), body);
                    out.filled()?;
                } else {
                    out.command(&[b"FUNCTION", b"LOAD", b"REPLACE", body])?;
                }
                n.functions += 1;
                out.end_key();
                Ok(())
            })()
            .map(|()| true),
            Item::ModuleAux(r) => match plan.mode {
                // an RDB carries it as stored (to every file of a split)
                super::Mode::Rdb
                    if plan.keep_modules && plan.module_aux && chunk.cut.start >= plan.start_at =>
                {
                    out.begin_key(usize::MAX, None, b"");
                    let r = out.raw(&data[r]);
                    out.end_key();
                    r
                }
                super::Mode::Rdb => {
                    n.module_aux_dropped += 1;
                    Ok(())
                }
                _ => {
                    n.module_aux_skipped += 1;
                    Ok(())
                }
            }
            .map(|()| true),
        };
        let r: std::result::Result<bool, Stopped> = match r {
            // a key read over pages that vanished never leaves
            Ok(_) if stop.input_changed() => Err(Stopped::Changed(chunk.cut.start)),
            r => r.map_err(Stopped::from),
        };
        if let Err(e) = &r {
            // keep the complete keys before this one (a closed output needs no more)
            if !matches!(e, Stopped::Closed) {
                out.drop_unfinished();
                let _ = out.flush();
            }
        }
        r
    };
    for part in &chunk.parts {
        match part {
            Part::Key(k) => _ = each(Item::Key(k))?,
            Part::Run { start, end } => {
                let db = chunk.cut.db.unwrap_or(0);
                let mut r = Reader::resume(data, chunk.header, *start, db)
                    .with_templates(chunk.templates.clone());
                while r.pos() < *end {
                    let at = r.pos();
                    // a run of strings straight from the reader
                    if raw_run && each(Item::Raw(&mut r, *end))? {
                        continue;
                    }
                    let next = if lean {
                        r.next_step()
                    } else {
                        r.next_record().map(|r| r.map(Step::Record))
                    };
                    match &next {
                        Ok(Some(Step::PlainString { start, name, value, .. })) => {
                            let (start, db) = (*start, r.db());
                            if !each(Item::Plain { start, db, name: *name, value: *value })? {
                                // read whole, it fails as the whole path says
                                let mut whole = Reader::resume(data, chunk.header, start, db)
                                    .with_templates(chunk.templates.clone());
                                match whole.next_record() {
                                    Ok(Some(Record::Key(k))) => _ = each(Item::Key(&k))?,
                                    Ok(_) => unreachable!("a plain string record is a key"),
                                    Err(e) => {
                                        let _ = out.flush();
                                        return Err(Stopped::Format(e));
                                    }
                                }
                            }
                        }
                        Ok(Some(Step::Record(Record::Key(k)))) => _ = each(Item::Key(k))?,
                        Ok(Some(Step::Record(Record::Function(func)))) => {
                            _ = each(Item::Function(func))?
                        }
                        Ok(Some(Step::Record(Record::ModuleAux { .. }))) => {
                            _ = each(Item::ModuleAux(at..r.pos()))?
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => {
                            let _ = out.flush();
                            let Err(e) = next else { unreachable!("matched as an error") };
                            return Err(Stopped::Format(e));
                        }
                    }
                }
            }
        }
    }
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sink_ends_at_what_it_wrote_and_keeps_no_blocks_past_it() {
        use std::os::unix::fs::MetadataExt;
        let path = std::env::temp_dir().join(format!("rdbshift-sink-{}", std::process::id()));
        let mut opts = File::options();
        let file = opts.create(true).truncate(true).read(true).write(true).open(&path).unwrap();
        let mut sink = RespSink::file(file.try_clone().unwrap());
        // past one step of allocation ahead, with the database changing on the way
        let piece: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut want = Vec::new();
        for i in 0..250 {
            if i == 100 {
                sink.select(3).unwrap();
                crate::resp::command::write(&mut want, &[b"SELECT", b"3"]);
            }
            sink.write(&piece).unwrap();
            want.extend_from_slice(&piece);
        }
        assert!(want.len() as u64 > crate::output::PREALLOC_STEP, "the writes pass one step");
        sink.finish().unwrap();
        drop(sink);
        assert_eq!(std::fs::read(&path).unwrap(), want);
        // blocks allocated ahead and not written are given back (on a filesystem that
        // allocates ahead; one that does not holds no more than it was written either)
        let held = file.metadata().unwrap().blocks() * 512;
        assert!(held < want.len() as u64 + (1 << 20), "{held} bytes held for {}", want.len());
        let _ = std::fs::remove_file(&path);
    }

    fn cut(start: usize, end: usize, db: Option<u64>, items: usize) -> Option<Cut> {
        Some(Cut { start, end, db, items })
    }

    /// A sink that keeps all it is given: the bytes (a database switch as `<db N>`), and
    /// the key marks with their offsets in those bytes.
    struct Kept {
        pool: Arc<BufPool>,
        marks: bool,
        groups: Option<bool>,
        bytes: Vec<u8>,
        kept: Vec<Mark>,
    }

    impl Sink for Kept {
        type Error = std::io::Error;
        fn select(&mut self, db: u64) -> std::io::Result<()> {
            self.bytes.extend_from_slice(format!("<db {db}>").as_bytes());
            Ok(())
        }
        fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
            self.bytes.extend_from_slice(b);
            Ok(())
        }
        fn write_owned(&mut self, b: Vec<u8>, marks: Vec<Mark>) -> std::io::Result<()> {
            let base = self.bytes.len();
            self.kept.extend(marks.into_iter().map(|m| Mark { at: m.at + base, ..m }));
            self.bytes.extend_from_slice(&b);
            self.pool.put(b);
            Ok(())
        }
        fn pool(&self) -> &Arc<BufPool> {
            &self.pool
        }
        fn wants_marks(&self) -> bool {
            self.marks
        }
        fn wants_names(&self) -> bool {
            self.marks
        }
        fn groups(&mut self) -> Option<bool> {
            self.groups
        }
    }

    /// What one run gave: the sink's bytes and marks, the counts, and how it ended.
    type Ran = (Vec<u8>, Vec<Mark>, Counts, String);

    fn ran(data: &[u8], plan: &Plan, sink: (bool, Option<bool>), lean: bool) -> Ran {
        ran_by(data, plan, sink, lean, SkimConverts::WhenAhead)
    }

    /// [`ran`], with chunks converted by the skim as `skim` says.
    fn ran_by(
        data: &[u8],
        plan: &Plan,
        sink: (bool, Option<bool>),
        lean: bool,
        skim_converts: SkimConverts,
    ) -> Ran {
        let cfg = Config { chunk_bytes: 96, threads: 2, lean, skim_converts, ..Config::default() };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let (marks, groups) = sink;
        let mut k = Kept { pool: Arc::default(), marks, groups, bytes: vec![], kept: vec![] };
        let opts = Options::default();
        let (n, r) = run(data, Source::Skim(opts), plan, &cfg, &pool, &mut k, &|_, _| {});
        let end = match r {
            Ok(t) => format!("ok {:?} {:?}", t.eof_at, t.computed),
            Err(e) => format!("error {e}"),
        };
        (k.bytes, k.kept, n, end)
    }

    /// An LZF string of `raw` (a compressed blob, as stored) that decompresses to `ulen`.
    fn lzf(out: &mut Vec<u8>, blob: &[u8], ulen: usize) {
        out.push(0xc3);
        crate::format::write::len(out, blob.len() as u64);
        crate::format::write::len(out, ulen as u64);
        out.extend_from_slice(blob);
    }

    /// A dump of plain string records of every string encoding among keys that are not
    /// plain (an expiry, a hash), in two databases; `damage` adds a plain string whose LZF
    /// value (or name) does not decompress. Returns the dump and its key records' offsets.
    fn dump(damage: Option<bool>) -> (Vec<u8>, Vec<usize>) {
        use crate::format::types::op;
        use crate::format::write;
        let mut b = b"REDIS0009".to_vec();
        let mut at = vec![];
        write::select_db(&mut b, 0);
        write::resize_db(&mut b, 60, 1);
        // "abcabcabc": a literal run of 3, then 6 bytes from 3 back
        let abc: &[u8] = &[2, b'a', b'b', b'c', 0x80, 2];
        for i in 0..40u32 {
            at.push(b.len());
            match i % 8 {
                // an integer name and value
                1 => b.extend([0, 0xc0, i as u8, 0xc1, 0x34, 0x12]),
                // a compressed name, a compressed value
                2 => {
                    b.push(0);
                    write::bytes(&mut b, format!("z{i}").as_bytes());
                    lzf(&mut b, abc, 9);
                }
                3 if i < 8 => {
                    b.push(0);
                    lzf(&mut b, abc, 9);
                    write::bytes(&mut b, b"v");
                }
                // a raw name and an integer value
                7 => {
                    b.push(0);
                    write::bytes(&mut b, format!("k{i}").as_bytes());
                    b.extend([0xc1, i as u8, 0x12]);
                }
                // not plain: an expiry long past (or far ahead), and a hash
                4 => {
                    b.push(op::EXPIRETIME_MS);
                    let ms: i64 = if i % 16 == 4 { 1000 } else { 4_000_000_000_000 };
                    b.extend(ms.to_le_bytes());
                    b.push(0);
                    write::bytes(&mut b, format!("e{i}").as_bytes());
                    write::bytes(&mut b, b"x");
                }
                5 => {
                    b.push(4);
                    write::bytes(&mut b, format!("h{i}").as_bytes());
                    b.push(1);
                    write::bytes(&mut b, b"f");
                    write::bytes(&mut b, b"v");
                }
                _ => {
                    b.push(0);
                    write::bytes(&mut b, format!("k{i}").as_bytes());
                    write::bytes(
                        &mut b,
                        format!("value {i}").repeat(i as usize % 3 + 1).as_bytes(),
                    );
                }
            }
            if i == 30 {
                if let Some(in_name) = damage {
                    at.push(b.len());
                    b.push(0);
                    // a back reference before the start of the output
                    let bad: &[u8] = &[0, b'q', 0x80, 9];
                    if in_name {
                        lzf(&mut b, bad, 8);
                        write::bytes(&mut b, b"v");
                    } else {
                        write::bytes(&mut b, b"broken");
                        lzf(&mut b, bad, 8);
                    }
                }
                write::select_db(&mut b, 3);
            }
        }
        let mut crc = crate::format::Crc64::default();
        crc.update(&b);
        write::eof(&mut b, &mut crc);
        (b, at)
    }

    #[test]
    fn a_plain_string_goes_out_alike_from_its_step_and_from_its_key() {
        use crate::filter::Filter;
        use crate::server::Server;
        let (data, at) = dump(None);
        let rename = crate::rename::Rename::new(
            vec![],
            vec![crate::rename::parse_prefix("k1=x1").unwrap()],
            vec![],
        )
        .unwrap();
        // now: the expiry of 1970 has passed
        let base = Filter { now_ms: crate::filter::now_ms(), ..Filter::default() };
        let filters = [
            base.clone(),
            Filter { include_expired: true, ..base.clone() },
            Filter { globs: vec![b"k1*".to_vec(), b"z*".to_vec()], ..base.clone() },
            Filter { exclude_globs: vec![b"k2*".to_vec()], ..base.clone() },
            Filter { exclude_dbs: vec![3], ..base.clone() },
            Filter { types: vec!["hash".into()], ..base.clone() },
            Filter { exclude_types: vec!["hash".into()], ..base.clone() },
            Filter { rename, ..base.clone() },
            Filter {
                slots: Some(Arc::new(crate::slot::SlotSet::of(&[(0, 8000)]))),
                ..base.clone()
            },
        ];
        let mut runs = 0;
        for (i, f) in filters.iter().enumerate() {
            // a target older than 6.2 has no SET ... PXAT: PEXPIREAT follows
            let modes = [
                (super::super::Mode::Commands, Server::redis(7, 0)),
                (super::super::Mode::Restore, Server::redis(7, 0)),
                (super::super::Mode::Commands, Server::redis(6, 0)),
            ];
            for (mode, t) in modes {
                for sink in [(false, None), (true, None), (true, Some(false)), (true, Some(true))] {
                    let mut plan = Plan::new(t, mode, f.clone());
                    if i % 3 == 1 {
                        // a resumed load: the keys before the 12th were sent, but the 3rd
                        // (a compressed name) and the 7th (raw)
                        plan.start_at = at[12];
                        plan.redo = [at[3], at[7]].into();
                    }
                    let whole = ran_by(&data, &plan, sink, false, SkimConverts::Never);
                    assert!(whole.3.starts_with("ok"), "{}", whole.3);
                    // the same from the lean path, and from chunks the skim converts
                    for (lean, by) in [
                        (true, SkimConverts::Never),
                        (true, SkimConverts::Always),
                        (false, SkimConverts::Always),
                    ] {
                        let other = ran_by(&data, &plan, sink, lean, by);
                        let how = format!("filter {i}, {mode:?}, {sink:?}, lean {lean}, {by:?}");
                        assert_eq!(other.3, whole.3, "{how}");
                        assert_eq!(other.2, whole.2, "counts: {how}");
                        assert_eq!(other.1, whole.1, "marks: {how}");
                        assert!(
                            other.0 == whole.0,
                            "{how}:\n{}\n{}",
                            String::from_utf8_lossy(&other.0),
                            String::from_utf8_lossy(&whole.0)
                        );
                        runs += 1;
                    }
                }
            }
        }
        assert_eq!(runs, filters.len() * 12 * 3);
        // the floor: the default run wrote the plain strings of both databases, and the
        // strings that expire later with their expiries
        let t = Server::redis(7, 0);
        let (out, _, n, _) = ran(
            &data,
            &Plan::new(t, super::super::Mode::Commands, base.clone()),
            (false, None),
            true,
        );
        let out = String::from_utf8_lossy(&out);
        assert!(n.keys >= 30 && n.expired == 3, "{n:?}");
        for s in [
            "abcabcabc",
            "<db 3>",
            "$2\r\nk7\r\n",
            "$1\r\n9\r\n$4\r\n4660\r\n",
            "$3\r\ne12\r\n$1\r\nx\r\n$4\r\nPXAT\r\n$13\r\n4000000000000\r\n",
        ] {
            assert!(out.contains(s), "{s} in {out}");
        }
    }

    #[test]
    fn damage_in_a_plain_string_is_named_alike_from_its_step_and_from_its_key() {
        use crate::server::Server;
        for in_name in [false, true] {
            let (data, at) = dump(Some(in_name));
            let plan =
                Plan::new(Server::redis(7, 0), super::super::Mode::Restore, Default::default());
            let whole = ran_by(&data, &plan, (true, Some(false)), false, SkimConverts::Never);
            assert!(whole.3.starts_with("error"), "{}", whole.3);
            let offset: usize = whole
                .3
                .split("byte offset ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            assert!((at[31]..at[32]).contains(&offset), "the offset in the record: {}", whole.3);
            // the same from the lean path, and from chunks the skim converts
            for (lean, by) in [(true, SkimConverts::Never), (true, SkimConverts::Always)] {
                let other = ran_by(&data, &plan, (true, Some(false)), lean, by);
                assert_eq!(other.3, whole.3, "{by:?}");
                assert_eq!(other.2, whole.2, "{by:?}");
                assert_eq!(other.1, whole.1, "{by:?}");
                assert!(other.0 == whole.0, "{by:?}");
            }
            assert!(whole.2.keys >= 20, "the keys before it went out: {:?}", whole.2);
        }
    }

    #[test]
    fn cuts_keep_to_one_database_a_size_and_around_templates() {
        let mut c = Cutter::new(100);
        // a function (no db), then keys of db 0 up to the size
        assert_eq!(c.item(10, 20, None, 0), [None, None]);
        assert_eq!(c.item(20, 60, Some(0), 0), [None, None]);
        assert_eq!(c.item(60, 115, Some(0), 0), [None, cut(10, 115, Some(0), 3)]);
        // another database closes the open cut before its key
        assert_eq!(c.item(115, 120, Some(0), 0), [None, None]);
        assert_eq!(c.item(125, 130, Some(1), 0), [cut(115, 120, Some(0), 1), None]);
        // a template may not be read twice: no cut holds one
        assert_eq!(c.close(), cut(125, 130, Some(1), 1));
        assert_eq!(c.close(), None);
        assert_eq!(c.item(140, 150, Some(1), 0), [None, None]);
        assert_eq!(c.close(), cut(140, 150, Some(1), 1));
        assert_eq!(c.close(), None);
        // and at most CHUNK_ITEMS records
        let mut c = Cutter::new(usize::MAX);
        let full =
            (0..CHUNK_ITEMS).filter_map(|i| c.item(i, i + 1, Some(0), 0)[1]).collect::<Vec<_>>();
        assert_eq!(full, vec![Cut { start: 0, end: CHUNK_ITEMS, db: Some(0), items: CHUNK_ITEMS }]);
    }

    #[test]
    fn values_that_grow_once_decompressed_weigh_what_they_grow_to() {
        // 2 KiB records holding 512 KiB values: a chunk of 1 MiB of work holds two
        let mut c = Cutter::new(1 << 20);
        let grows = (512 << 10) - 2048;
        assert_eq!(c.item(0, 2048, Some(0), grows), [None, None]);
        assert_eq!(c.item(2048, 4096, Some(0), grows), [None, cut(0, 4096, Some(0), 2)]);
        assert_eq!(c.item(4096, 6144, Some(0), 0), [None, None]);
        assert_eq!(c.close(), cut(4096, 6144, Some(0), 1), "the weight starts again");
    }
}
