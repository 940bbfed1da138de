//! The top-level record stream of an RDB file (`rdbLoadRioWithLoadingCtx` in `src/rdb.c`):
//! opcodes and keys, up to EOF and the checksum.
//!
//! [`Reader`] yields one [`Record`] at a time, borrowing from the input. For a key it walks
//! the value only far enough to find its end (no decompression, no container walk), so the
//! byte range of every key is known cheaply: that is what the splitter cuts on, and a
//! consumer decodes the value only if it wants it ([`Key::decode`]).

use super::crc;
use super::cursor::{Cursor, RStr};
use super::error::{Error, ErrorKind, Result};
use super::header::{Dialect, Header};
use super::keymeta::{self, MetaClass};
use super::keynames::KeyNames;
pub use super::keynames::{Fingerprints, KeyNameCheck};
pub use super::template::Registry;
use super::template::{self, Template};
use super::types::{self, op};
use super::value::{self, Scratch};
use super::visit::{Relay, Visitor};
use std::sync::Arc;

/// One key with everything that came before it (expiry, LRU/LFU, metadata), borrowing the
/// file it was read from: the value decodes from the key alone ([`Key::decode`]), so it can
/// never be decoded against other bytes.
///
/// Offsets are absolute in the file and ordered: `start <= meta_at <= type_at < value_at <=
/// end`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Key<'a> {
    data: &'a [u8],
    header: Header,
    db: u64,
    key: RStr<'a>,
    ty: u8,
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
    meta: Vec<MetaClass<'a>>,
    start: usize,
    meta_at: usize,
    type_at: usize,
    value_at: usize,
    end: usize,
    /// The walk that found the key has already checked the whole value (a stream: finding
    /// its end means decoding it), so [`Key::validate`] need not.
    checked: bool,
    /// The hash template the value refers to (types 30 and 32), resolved from the file's
    /// registry when the key was read: the key decodes on its own, on any thread.
    tmpl: Option<Arc<Template<'a>>>,
}

impl<'a> Key<'a> {
    /// The database the key is in (the last SELECTDB before it, 0 if none).
    pub fn db(&self) -> u64 {
        self.db
    }
    /// Where the name starts in the file (right after the type byte).
    pub fn name_at(&self) -> usize {
        self.type_at + 1
    }
    /// The key name as stored, borrowed from the file (possibly LZF or an integer); see
    /// [`Key::name`] for its bytes.
    pub fn raw_name(&self) -> &RStr<'a> {
        &self.key
    }
    /// The value's RDB type byte (`RDB_TYPE_*` in `src/rdb.h`), which says the encoding;
    /// [`Key::kind`] is the logical type.
    pub fn ty(&self) -> u8 {
        self.ty
    }
    /// The value's logical type, as `TYPE` reports it (module values are
    /// [`types::Kind::Module`]).
    pub fn kind(&self) -> types::Kind {
        types::kind(self.ty)
    }
    /// Absolute expiry in Unix ms.
    pub fn expire_ms(&self) -> Option<i64> {
        self.expire_ms
    }
    /// LRU idle time in seconds.
    pub fn idle(&self) -> Option<u64> {
        self.idle
    }
    /// LFU frequency.
    pub fn freq(&self) -> Option<u8> {
        self.freq
    }
    /// Key metadata classes (Redis 8.6+ opcode 243).
    pub fn meta(&self) -> &[MetaClass<'a>] {
        &self.meta
    }
    /// The module type id, for module values (type 7).
    pub fn module_id(&self) -> Option<u64> {
        (self.ty == types::MODULE_2).then(|| self.value_cursor().plain_len().ok()).flatten()
    }
    /// The header of the file the key was read from.
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// Offset of the first byte of this key's record (its first opcode).
    pub fn start(&self) -> usize {
        self.start
    }
    /// Offset just past the value: the key's record is `start()..end()`.
    pub fn end(&self) -> usize {
        self.end
    }
    /// Offset of the value body (after the key string).
    pub fn value_at(&self) -> usize {
        self.value_at
    }
    /// The whole record as stored, from its first opcode to the end of the value.
    pub fn record_bytes(&self) -> &'a [u8] {
        &self.data[self.start..self.end]
    }
    /// The key's metadata as a DUMP payload carries it (its opcode-243 bytes; empty when
    /// the key has none).
    pub fn meta_bytes(&self) -> &'a [u8] {
        &self.data[self.meta_at..self.type_at]
    }
    /// Bytes a DUMP payload of this key carries before its footer: the metadata, the
    /// type byte and the value.
    pub fn dump_len(&self) -> usize {
        (self.type_at - self.meta_at) + 1 + (self.end - self.value_at)
    }
    /// The key's bytes (decompressed if the key is LZF-compressed).
    pub fn name(&self) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        Ok(self.key.get(&mut buf)?.to_vec())
    }
    /// Decodes the value into `v`, element by element. The visitor's own error stops the
    /// decoding and is returned as it is; the reader's errors carry this key's name.
    /// `s` is reused buffer space (keep one per thread).
    pub fn decode<V: Visitor>(
        &self,
        v: &mut V,
        s: &mut Scratch,
    ) -> std::result::Result<(), V::Error> {
        let mut relay = Relay::new(v);
        let r = value::decode_with(
            &mut self.value_cursor(),
            self.ty,
            &self.header,
            self.tmpl.as_deref(),
            &mut relay,
            s,
        );
        relay.finish(r, |e| self.context(e))
    }
    /// Checks the whole value as the server would on loading it with deep sanitization;
    /// returns how many elements it holds. Errors carry the key.
    pub fn validate(&self, s: &mut Scratch) -> Result<u64> {
        if self.checked {
            // a stream: never an empty collection, checked whole by the skim
            return Ok(1);
        }
        let mut c = self.value_cursor();
        let n = value::validate_with(&mut c, self.ty, &self.header, self.tmpl.as_deref(), s)
            .map_err(|e| self.context(e))?;
        if c.pos() != self.end {
            return Err(self.context(c.corrupt("value", "the value ends before its record does")));
        }
        Ok(n)
    }
    /// A string value (type 0) as stored, borrowed from the file (raw, an integer, or LZF:
    /// [`RStr::get`] gives its bytes); `None` for any other type. What [`Key::decode`] hands
    /// a visitor's `string`, without a visitor.
    pub fn string_value(&self) -> Option<RStr<'a>> {
        if self.ty != types::STRING {
            return None;
        }
        self.value_cursor().string().ok()
    }
    /// How many bytes more than its record a string value takes once decompressed (see
    /// [`grows`]; 0 for other types): what decoding it costs beyond its bytes.
    pub fn grows(&self) -> usize {
        self.string_value().map_or(0, |v| grows(&v))
    }
    /// The serialized value: type byte and body (what a DUMP payload starts with).
    pub fn raw_value(&self) -> (&'a [u8], &'a [u8]) {
        (&self.data[self.type_at..self.type_at + 1], &self.data[self.value_at..self.end])
    }
    /// A stream's metadata, groups and IDMP state, read without decoding its entries
    /// (the node listpacks are skipped by their lengths). Errors carry the key.
    pub fn stream_tail(&self) -> Result<crate::stream::Tail<'a>> {
        crate::stream::read_tail(&mut self.value_cursor(), self.ty).map_err(|e| self.context(e))
    }
    /// A hash that refers to the file's template registry (types 30 and 32, what a save
    /// writes) as the self-contained type a DUMP payload must carry (29 and 31; a server
    /// refuses 30 and 32 in a payload): the type byte and the body. `None` for any other
    /// value. Errors carry the key.
    pub fn self_contained_hash(&self) -> Result<Option<(u8, Vec<u8>)>> {
        let Some(t) = self.tmpl.as_deref() else { return Ok(None) };
        template::self_contained(&mut self.value_cursor(), self.ty, t)
            .map(Some)
            .map_err(|e| self.context(e))
    }
    /// Adds this key's name to an error (left as it is if the name cannot be read).
    pub fn context(&self, e: Error) -> Error {
        match self.name() {
            Ok(n) => e.with_key(&n),
            Err(_) => e,
        }
    }
    fn value_cursor(&self) -> Cursor<'a> {
        let mut c = Cursor::file(&self.data[..self.end]);
        c.set_pos(self.value_at);
        c
    }
}

/// A Redis Functions library (opcode 245, or 246 before 7.0 GA).
#[derive(Debug, Clone)]
pub struct Function<'a> {
    /// The library's source code, borrowed from the file.
    pub code: RStr<'a>,
    /// Pre-GA (opcode 246) only: the function name, engine and description.
    pub pre_ga: Option<PreGaFunction>,
}

/// A pre-GA function's (name, engine, description).
pub type PreGaFunction = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// How many bytes more than it is stored in `v` takes once decompressed (an LZF string's
/// length less its compressed bytes; 0 for any other).
pub fn grows(v: &RStr<'_>) -> usize {
    match v {
        RStr::Lzf { data, ulen, .. } => ulen.saturating_sub(data.len()),
        _ => 0,
    }
}

/// What a caller of [`Reader::raw_strings`] makes of the record it was handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    /// Go on with the next record.
    On,
    /// Stop, the reader past this record.
    Stop,
    /// Stop, the reader put back where this record starts, for the caller to read it again
    /// whole (its value does not decompress: the whole reading names the damage).
    Again,
}

/// A string key read by [`Reader::raw_strings`]: a raw name, a value of any string
/// encoding, at most an expiry.
#[derive(Clone, Copy, Debug)]
pub struct RawString<'a> {
    /// Where the record starts (its expiry opcode, or its type byte).
    pub start: usize,
    /// Where the next record starts.
    pub end: usize,
    /// Where the name's length starts (right after the type byte).
    pub name_at: usize,
    /// The expiry (opcode 252), if the record has one.
    pub expire_ms: Option<i64>,
    /// The name as stored.
    pub name: &'a [u8],
    /// The value as stored: raw bytes, an integer, or LZF (checked when decompressed).
    pub value: RStr<'a>,
}

impl RawString<'_> {
    /// How many bytes more than it is stored the value takes once decompressed.
    pub fn grows(&self) -> usize {
        grows(&self.value)
    }
}

/// What [`Reader::next_step`] read: a record, or only where a plain string key ends.
#[derive(Debug)]
pub enum Step<'a> {
    /// A string key (type 0) with nothing before it (no expiry, LRU, LFU or metadata), in
    /// the current database: its record is `start..end`, checked as [`Reader::next_record`]
    /// checks it, but not built (read it again with [`Reader::resume`]).
    PlainString {
        /// Where the record starts (its type byte).
        start: usize,
        /// Where the next record starts.
        end: usize,
        /// How many bytes more than it is stored in the value takes once decompressed (an
        /// LZF string; 0 otherwise): what reading the record again costs beyond its bytes.
        grows: usize,
        /// The key's name, as stored (checked as [`Reader::next_record`] checks it).
        name: RStr<'a>,
        /// The value, as stored: a string key with nothing before it is exactly this.
        value: RStr<'a>,
    },
    /// Any other record, as [`Reader::next_record`] gives it.
    Record(Record<'a>),
}

/// One top-level record of the file, in file order, borrowing from the input.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Record<'a> {
    /// An auxiliary field (opcode 250, `AUX`), such as `redis-ver` or `ctime`.
    Aux {
        /// The field's name, borrowed from the file.
        key: RStr<'a>,
        /// The field's value, borrowed from the file.
        value: RStr<'a>,
    },
    /// Opcode 254 (`SELECTDB`): the keys that follow are in this database.
    SelectDb(u64),
    /// Size hints for the current database (opcode 251, `RESIZEDB`).
    ResizeDb {
        /// Number of keys the writer held in the database.
        keys: u64,
        /// Number of those keys with an expiry.
        expires: u64,
    },
    /// Size hints for one cluster slot (opcode 244, `SLOT_INFO`); safe to ignore.
    SlotInfo {
        /// The slot number (0..16384).
        slot: u64,
        /// Number of keys in the slot.
        size: u64,
        /// Number of those keys with an expiry.
        expires: u64,
    },
    /// A Redis Functions library.
    Function(Function<'a>),
    /// Valkey 9 slot import in progress (opcode 243 in `VALKEY` files): job name and slot ranges.
    SlotImport {
        /// The import job's name.
        job: Vec<u8>,
        /// The slot ranges being imported, each (first, last) slot.
        ranges: Vec<(u64, u64)>,
    },
    /// Module aux data (opcode 247): module type id, when (before/after keys), the opcodes.
    ModuleAux {
        /// The module type's 64-bit id (name in the top 54 bits, encoding version in the low 10).
        id: u64,
        /// When the module saved it: `REDISMODULE_AUX_BEFORE_RDB` (1) or `_AFTER_RDB` (2).
        when: u64,
        /// The module opcodes, borrowed from the file, up to and including the EOF opcode.
        body: &'a [u8],
    },
    /// A key and its value.
    Key(Key<'a>),
    /// Redis 8.10: one hash template of the file's registry (opcode 242).
    Template(Arc<Template<'a>>),
    /// The EOF opcode (255) and the checksum after it: the last record.
    Eof(Trailer),
}

/// What follows the EOF opcode.
#[derive(Debug, Clone, Copy)]
pub struct Trailer {
    /// Offset of the EOF opcode in the file.
    pub eof_at: usize,
    /// The stored checksum (None before RDB 5; Some(0) means the writer disabled it).
    pub stored: Option<u64>,
    /// The checksum we computed (when one was stored and not zero).
    pub computed: Option<u64>,
    /// Bytes after the trailer (ignored, as the server ignores them).
    pub trailing: usize,
    /// Keys that were odd but loadable, per kind (found while skimming: streams).
    pub oddities: crate::visit::Oddities,
}

/// How strict a [`Reader`] is; the default checks everything.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// Accept versions newer than the newest known (stop at the first unknown byte instead).
    pub allow_newer: bool,
    /// Skip checksum verification.
    pub no_checksum: bool,
    /// Accept a key name twice in one database (by default an error, as the server's
    /// "Duplicated key found in RDB file").
    pub allow_duplicate_keys: bool,
}

impl Options {
    /// Sets [`Options::allow_newer`].
    pub fn allow_newer(mut self, yes: bool) -> Self {
        self.allow_newer = yes;
        self
    }
    /// Sets [`Options::no_checksum`].
    pub fn no_checksum(mut self, yes: bool) -> Self {
        self.no_checksum = yes;
        self
    }
    /// Sets [`Options::allow_duplicate_keys`].
    pub fn allow_duplicate_keys(mut self, yes: bool) -> Self {
        self.allow_duplicate_keys = yes;
        self
    }
}

/// Reads the records of a whole RDB file held in memory (usually a mapping), one at a time,
/// checking the checksum and duplicate keys as it goes (see [`Options`]).
pub struct Reader<'a> {
    c: Cursor<'a>,
    /// The file's parsed magic: dialect and RDB version.
    pub header: Header,
    db: u64,
    done: bool,
    opts: Options,
    /// The checksum is computed as the reader goes, so that a caller may release the
    /// pages behind [`Reader::checked_upto`]; `crc` covers `data[..crc_upto]`.
    crc: crc::Crc64,
    crc_upto: usize,
    /// Memory up to here has been asked for ahead of parsing (see [`PREFETCH_AHEAD`]).
    prefetched: usize,
    /// The key names read so far (`None`: not checked).
    names: Option<KeyNames>,
    /// The hash templates read so far (Redis 8.10 opcode 242).
    templates: Registry<'a>,
    /// How often each Redis Enterprise opcode was skipped: 107 (RAM LRU), 121 (slot).
    enterprise: [u64; 2],
    /// Odd but loadable values found while skimming (see [`Trailer::oddities`]).
    oddities: crate::visit::Oddities,
}

/// The Redis Enterprise opcodes the reader skips (each followed by one length; librdb
/// `__elementRamLru`, `__elementSlotNum`; docs/rdb-newest-formats.md section 5).
pub const ENTERPRISE_OPCODES: [(u8, &str); 2] =
    [(op::ENT_RAM_LRU, "RAM LRU"), (op::ENT_SLOT_NUM, "slot number")];

/// How far ahead of the parsing position memory is prefetched. Skimming jumps over values,
/// so every record starts in a cache line the hardware prefetcher did not fetch (it stops at
/// page boundaries); without this a skim of small keys waits on memory for most of its
/// time (measured: 2M 500-byte keys, 0.5 s without, see BENCHMARKS.md).
const PREFETCH_AHEAD: usize = 32 << 10;

/// A string of a plain string record, for [`Reader::next_step`]: inline in the common case
/// ([`Cursor::raw_string`]); `None` for damage, which the whole reading names.
#[inline(always)]
fn step_string<'a>(c: &mut Cursor<'a>) -> Option<RStr<'a>> {
    match c.raw_string() {
        Some(s) => Some(s),
        None => c.string().ok(),
    }
}

/// What one page fault of a file mapping maps: the kernel's `fault_around_bytes` (64 KiB
/// by default), aligned in the address space. Where it is smaller, the pages in between are
/// faulted in by the reading itself.
const FAULT_AROUND: usize = 64 << 10;

#[inline]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// How far the running checksum may fall behind the reading position: less than a core's
/// L2 cache, so that it reads what the skim has just brought in (measured: `info` of the
/// 2M-key benchmark 8% faster than with 4 MiB, which the checksum read from memory).
const CRC_STEP: usize = 256 << 10;

impl<'a> Reader<'a> {
    /// A reader at the first record of `data`, the whole file; fails if the header is bad.
    pub fn new(data: &'a [u8], opts: Options) -> Result<Self> {
        let header = Header::parse(data, opts.allow_newer)?;
        let mut c = Cursor::file(data);
        c.set_pos(header.len);
        let names = (!opts.allow_duplicate_keys).then(KeyNames::default);
        Ok(Reader {
            c,
            header,
            db: 0,
            done: false,
            opts,
            crc: crc::Crc64::default(),
            crc_upto: 0,
            prefetched: 0,
            names,
            templates: Registry::default(),
            oddities: Default::default(),
            enterprise: [0; 2],
        })
    }

    /// A reader at `pos`, a record boundary found by an earlier pass, in database `db`;
    /// it checks neither the checksum nor duplicate keys (for decoding one record again).
    /// A key that refers to a hash template needs the registry: [`Reader::with_templates`]
    /// (from [`templates`], read once).
    pub fn resume(data: &'a [u8], header: Header, pos: usize, db: u64) -> Self {
        let mut c = Cursor::file(data);
        c.set_pos(pos);
        let opts = Options { no_checksum: true, allow_newer: true, allow_duplicate_keys: true };
        Reader {
            c,
            header,
            db,
            done: false,
            opts,
            crc: crc::Crc64::default(),
            crc_upto: pos,
            prefetched: pos,
            names: None,
            templates: Registry::default(),
            oddities: Default::default(),
            enterprise: [0; 2],
        }
    }

    /// Gives the reader the file's hash templates (for [`Reader::resume`]).
    pub fn with_templates(mut self, t: Registry<'a>) -> Self {
        self.templates = t;
        self
    }

    /// The hash templates read so far.
    pub fn templates(&self) -> &Registry<'a> {
        &self.templates
    }

    /// How often each Redis Enterprise opcode was skipped so far:
    /// (opcode, name, count), for those seen.
    pub fn enterprise_opcodes(&self) -> Vec<(u8, &'static str, u64)> {
        ENTERPRISE_OPCODES
            .iter()
            .zip(self.enterprise)
            .filter(|x| x.1 > 0)
            .map(|((o, n), k)| (*o, *n, k))
            .collect()
    }

    /// Bytes before this offset have been read and checksummed: a caller may release them.
    pub fn checked_upto(&self) -> usize {
        self.crc_upto
    }

    fn advance_crc(&mut self, to: usize) {
        if to > self.crc_upto {
            if !self.opts.no_checksum {
                self.crc.update(&self.c.data()[self.crc_upto..to]);
            }
            self.crc_upto = to;
        }
    }

    /// The whole file the reader reads.
    pub fn data(&self) -> &'a [u8] {
        self.c.data()
    }
    /// Offset in the file of the next record.
    pub fn pos(&self) -> usize {
        self.c.pos()
    }
    /// The current database (the last SELECTDB read, 0 before any).
    pub fn db(&self) -> u64 {
        self.db
    }

    /// The next record, `None` after EOF.
    ///
    /// A key whose name an earlier key of its database has is refused once the file is
    /// read to its end (the check keeps 8 bytes per key: see `keynames`), or at an error
    /// found later in the file: the duplicate, being earlier, is the error then.
    pub fn next_record(&mut self) -> Result<Option<Record<'a>>> {
        if self.names.is_none() {
            // the record goes straight to the caller (measured: moving it, 192 bytes, cost
            // a tenth of a tiny key's skim)
            return self.read_record();
        }
        let r = self.read_record();
        if let (Err(e), Some(names)) = (&r, &mut self.names)
            && !matches!(e.kind, ErrorKind::DuplicateKey { .. })
        {
            self.done = true;
            names.check(self.c.data())?;
        }
        r
    }

    /// The next record, as [`Reader::next_record`] reads it, but a plain string key only as
    /// where it ends ([`Step::PlainString`]): for a caller that finds record boundaries and
    /// reads the records again later (measured: a fifth of the instructions per tiny key).
    /// The same checks and the same errors; with the duplicate-key check on, or before the
    /// hash template registry is complete, every record is read whole.
    pub fn next_step(&mut self) -> Result<Option<Step<'a>>> {
        if self.names.is_none() && !self.done && self.templates.is_empty() {
            let start = self.c.pos();
            if self.c.data().get(start) == Some(&types::STRING) {
                let mut c = self.c;
                c.set_pos(start + 1);
                if let Some(name) = step_string(&mut c)
                    && let Some(value) = step_string(&mut c)
                {
                    self.before_record();
                    self.c = c;
                    let grows = grows(&value);
                    let end = c.pos();
                    return Ok(Some(Step::PlainString { start, end, grows, name, value }));
                }
                // damage: the whole path names it
            }
        }
        self.next_record().map(|r| r.map(Step::Record))
    }

    /// Reads the string records ahead whose name is raw bytes (not an integer, not LZF)
    /// and that carry nothing but, at most, an expiry in milliseconds (no LRU, LFU or
    /// metadata), handing each to `each`, until a record that is not one, the position
    /// `until`, or `each` saying so ([`Run`]: after the record, or before it, for the caller
    /// to read it again whole). The same checks as [`Reader::next_record`] (a value that
    /// does not decompress is for the caller to find, as with a [`Key`]); the record that
    /// stopped the run is left to it, so this is only a faster way over a run of the
    /// commonest records (measured: building a step or a key, and matching it, was most of
    /// a skim's cost per key). Reads nothing when `next_step` would read whole records (the
    /// duplicate-key check on, or templates pending).
    #[inline]
    pub fn raw_strings(&mut self, until: usize, mut each: impl FnMut(RawString<'a>) -> Run) {
        if self.names.is_some() || self.done || !self.templates.is_empty() {
            return;
        }
        let data = self.c.data();
        loop {
            let start = self.c.pos();
            if start >= until {
                return;
            }
            let (expire_ms, type_at) = match data.get(start) {
                Some(&types::STRING) => (None, start),
                Some(&op::EXPIRETIME_MS) => match data.get(start + 1..start + 10) {
                    Some([t @ .., types::STRING]) => {
                        let ms = i64::from_le_bytes(t.try_into().expect("8 bytes"));
                        (Some(ms), start + 9)
                    }
                    _ => return,
                },
                _ => return,
            };
            let mut c = self.c;
            c.set_pos(type_at + 1);
            let Some(name) = c.raw_bytes() else { return };
            let value = c.raw_string().or_else(|| c.small_int().map(RStr::Int));
            let Some(value) = value.or_else(|| c.string().ok()) else { return };
            let before = self.c;
            self.before_record();
            self.c = c;
            let end = c.pos();
            match each(RawString { start, end, name_at: type_at + 1, expire_ms, name, value }) {
                Run::On => {}
                Run::Stop => return,
                Run::Again => {
                    // read again whole by the caller (`before_record` is idempotent at one
                    // position: the checksum has read up to it once)
                    self.c = before;
                    return;
                }
            }
        }
    }

    #[inline(always)]
    fn read_record(&mut self) -> Result<Option<Record<'a>>> {
        if self.done {
            return Ok(None);
        }
        self.before_record();
        let c = &mut self.c;
        let start = c.pos();
        let (mut expire_ms, mut idle, mut freq) = (None, None, None);
        loop {
            let at = c.pos();
            if c.is_empty() {
                return Err(Error::new(at as u64, ErrorKind::NoEof(at as u64)));
            }
            let t = c.u8()?;
            // the registry is complete at the first record that is not a template: an id
            // two records define is refused there (rdbLoadHashTemplate)
            if t != op::HASH_TEMPLATE && !self.templates.is_empty() {
                self.templates.seal()?;
            }
            match t {
                op::EXPIRETIME_MS => expire_ms = Some(c.i64_le()?),
                op::EXPIRETIME => expire_ms = Some(c.u32_le()? as i32 as i64 * 1000),
                op::IDLE => idle = Some(c.plain_len()?),
                op::FREQ => freq = Some(c.u8()?),
                op::SELECTDB => {
                    self.db = c.plain_len()?;
                    return Ok(Some(Record::SelectDb(self.db)));
                }
                op::RESIZEDB => {
                    let (keys, expires) = (c.plain_len()?, c.plain_len()?);
                    return Ok(Some(Record::ResizeDb { keys, expires }));
                }
                op::SLOT_INFO => {
                    return Ok(Some(Record::SlotInfo {
                        slot: c.plain_len()?,
                        size: c.plain_len()?,
                        expires: c.plain_len()?,
                    }));
                }
                op::AUX => return Ok(Some(Record::Aux { key: c.string()?, value: c.string()? })),
                op::FUNCTION2 => {
                    return Ok(Some(Record::Function(Function {
                        code: c.string()?,
                        pre_ga: None,
                    })));
                }
                op::FUNCTION_PRE_GA => return function_pre_ga(c).map(Some),
                op::MODULE_AUX => return module_aux(c).map(Some),
                op::EOF => return self.eof(at).map(Some),
                op::KEY_META_OR_SLOT_IMPORT
                    if self.header.dialect == Dialect::Redis && self.header.version >= 13 =>
                {
                    let meta = keymeta::read(c)?;
                    let type_at = c.pos();
                    let ty = c.u8()?;
                    if !types::is_value_type(ty, &self.header) {
                        let kind = match types::refused_by_name(ty, &self.header) {
                            Some(why) => ErrorKind::Refused(why),
                            None => ErrorKind::UnknownType(ty),
                        };
                        return Err(c.err_at(type_at, kind));
                    }
                    return self.key_record(start, at, type_at, ty, (expire_ms, idle, freq), meta);
                }
                op::KEY_META_OR_SLOT_IMPORT if self.header.dialect == Dialect::Valkey => {
                    return slot_import(c).map(Some);
                }
                t if types::is_value_type(t, &self.header) => {
                    return self.key_record(start, at, at, t, (expire_ms, idle, freq), Vec::new());
                }
                op::HASH_TEMPLATE
                    if self.header.dialect == Dialect::Redis && self.header.version >= 15 =>
                {
                    return Ok(Some(Record::Template(self.templates.read_record(c, at)?)));
                }
                op::ENT_RAM_LRU | op::ENT_SLOT_NUM if self.header.dialect == Dialect::Redis => {
                    c.plain_len()?;
                    self.enterprise[(t == op::ENT_SLOT_NUM) as usize] += 1;
                }
                _ => {
                    let kind = match types::refused_by_name(t, &self.header) {
                        Some(why) => ErrorKind::Refused(why),
                        None => ErrorKind::UnknownType(t),
                    };
                    return Err(Error::new(at as u64, kind));
                }
            }
        }
    }

    /// What comes before reading each record: the checksum catches up with the position
    /// when it has fallen [`CRC_STEP`] behind, and the bytes ahead are prefetched.
    #[inline]
    fn before_record(&mut self) {
        if self.c.pos() - self.crc_upto >= CRC_STEP {
            self.advance_crc(self.c.pos());
        }
        self.prefetch_ahead();
    }

    /// Touches the bytes ahead of the cursor so that the next records' pages are in cache
    /// when they are read. A prefetch of a page not mapped yet is dropped, so one line of
    /// each [`FAULT_AROUND`] of the address space is read for real: the fault it takes maps
    /// the pages around it (measured: reading the first line of every page instead held
    /// the skim on memory for 6% of a convert's time).
    #[inline]
    fn prefetch_ahead(&mut self) {
        let data = self.c.data();
        let ahead = (self.c.pos() + PREFETCH_AHEAD).min(data.len());
        if self.prefetched < self.c.pos() {
            self.prefetched = self.c.pos();
        }
        while self.prefetched < ahead {
            let p = data[self.prefetched..].as_ptr();
            if (p as usize) % FAULT_AROUND < 64 {
                // SAFETY: `p` points into `data`.
                unsafe { std::ptr::read_volatile(p) };
            } else {
                prefetch(p);
            }
            self.prefetched += 64;
        }
    }

    /// The EOF opcode at `at`: the key-name check finishes, the checksum is compared.
    fn eof(&mut self, at: usize) -> Result<Record<'a>> {
        let c = &mut self.c;
        if let Some(names) = &mut self.names {
            names.check(c.data())?;
        }
        self.done = true;
        let mut tr = Trailer {
            eof_at: at,
            stored: None,
            computed: None,
            trailing: 0,
            oddities: self.oddities,
        };
        if self.header.has_checksum() {
            let stored = self.c.u64_le()?;
            tr.stored = Some(stored);
            self.advance_crc(at + 1);
            if stored != 0 && !self.opts.no_checksum {
                let computed = self.crc.finish();
                tr.computed = Some(computed);
                if computed != stored {
                    return Err(Error::new(
                        (at + 1) as u64,
                        ErrorKind::Checksum { stored, computed },
                    ));
                }
            }
        }
        tr.trailing = self.c.remaining();
        Ok(Record::Eof(tr))
    }

    fn key_record(
        &mut self,
        start: usize,
        meta_at: usize,
        type_at: usize,
        ty: u8,
        (expire_ms, idle, freq): (Option<i64>, Option<u64>, Option<u8>),
        meta: Vec<MetaClass<'a>>,
    ) -> Result<Option<Record<'a>>> {
        let c = &mut self.c;
        let key = match c.raw_string() {
            Some(k) => k,
            None => c.string()?,
        };
        if let Some(names) = &mut self.names {
            names.record(self.db, &key)?;
        }
        let c = &mut self.c;
        let value_at = c.pos();
        // the key is built once its end is known, in place: a key is moved as little as
        // possible (measured: copies of it were a third of a tiny key's skim)
        let (data, header, db) = (c.data(), self.header, self.db);
        let checked = value::skip_checks(ty, &header);
        let key_for = move |end, tmpl| Key {
            data,
            header,
            db,
            key,
            ty,
            expire_ms,
            idle,
            freq,
            meta,
            start,
            meta_at,
            type_at,
            value_at,
            end,
            checked,
            tmpl,
        };
        let skipped = if ty == types::HASH_TMPL_LP_REF || ty == types::HASH_TMPL_ARRAY_REF {
            self.skip_template_ref(ty).map(Some)
        } else {
            value::skip(&mut self.c, ty, &self.header, &mut self.oddities).map(|()| None)
        };
        let end = self.c.pos();
        match skipped {
            Ok(tmpl) => Ok(Some(Record::Key(key_for(end, tmpl)))),
            Err(e) => Err(key_for(end, None).context(e)),
        }
    }

    /// Skips a value that refers to a hash template (types 30, 32); returns the template.
    fn skip_template_ref(&mut self, ty: u8) -> Result<Arc<Template<'a>>> {
        let c = &mut self.c;
        let mut blob = Vec::new();
        let (id, at) = template::ref_id(c, ty, &mut blob)?;
        // the templates come before the first database: the registry is complete
        self.templates.seal()?;
        let Some(t) = self.templates.get(id) else {
            return Err(Error::corrupt(
                at,
                "hash template",
                format!("unknown template id {id} (no opcode 242 record defines it)"),
            ));
        };
        template::skip_ref(c, ty, &t)?;
        Ok(t)
    }
}

/// A pre-GA function (opcode 246): name, engine, description and code.
fn function_pre_ga<'a>(c: &mut Cursor<'a>) -> Result<Record<'a>> {
    let name = c.owned_string()?;
    let engine = c.owned_string()?;
    let desc = if c.plain_len()? != 0 { Some(c.owned_string()?) } else { None };
    let code = c.string()?;
    Ok(Record::Function(Function { code, pre_ga: Some((name, engine, desc)) }))
}

/// Module aux data (opcode 247): the module id, `when`, and the opcodes, carried raw.
fn module_aux<'a>(c: &mut Cursor<'a>) -> Result<Record<'a>> {
    let id = c.plain_len()?;
    let wat = c.pos();
    let when_op = c.plain_len()?;
    if when_op != 2 {
        return Err(c.err_at(
            wat,
            ErrorKind::Corrupt {
                container: "module aux",
                reason: format!("'when' opcode {when_op}, expected 2"),
            },
        ));
    }
    let when = c.plain_len()?;
    let body_at = c.pos();
    super::module::skip_opcodes(c)?;
    Ok(Record::ModuleAux { id, when, body: &c.data()[body_at..c.pos()] })
}

/// A Valkey slot import (opcode 243 in Valkey files): the job name and its slot ranges.
fn slot_import<'a>(c: &mut Cursor<'a>) -> Result<Record<'a>> {
    let job = c.owned_string()?;
    let n_at = c.pos();
    let n = c.count("slot ranges", 2)?;
    // kept in memory (16 bytes each): no more ranges than there are slots
    if n > 16384 {
        return Err(c.err_at(
            n_at,
            ErrorKind::Corrupt {
                container: "slot import",
                reason: format!("{n} slot ranges for 16384 slots"),
            },
        ));
    }
    let ranges =
        (0..n).map(|_| Ok((c.plain_len()?, c.plain_len()?))).collect::<Result<Vec<_>>>()?;
    Ok(Record::SlotImport { job, ranges })
}

/// The hash templates of a file (its opcode 242 records, which come before the first
/// database), read once: what [`Reader::with_templates`] needs to decode a key again.
/// Reads no further than the first key or database; an empty registry before RDB 15.
pub fn templates(data: &[u8]) -> Result<Registry<'_>> {
    let opts = Options { no_checksum: true, allow_newer: true, allow_duplicate_keys: true };
    let mut r = Reader::new(data, opts)?;
    if r.header.dialect != Dialect::Redis || r.header.version < 15 {
        return Ok(Registry::default());
    }
    loop {
        match r.next_record()? {
            None | Some(Record::Key(_) | Record::SelectDb(_) | Record::Eof(_)) => {
                r.templates.seal()?;
                return Ok(r.templates);
            }
            Some(_) => {}
        }
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Record<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_record() {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Hand-made files for what no server here writes in every form (layouts from Redis 8.6
    //! `rdb.c`/`t_stream.c`/`keymeta.c` and Valkey 9 `rdb.c`).
    use super::*;
    use crate::stream::{Idmp, StreamId};

    /// Every record's (start, end) and its key's database (or none), and the error that
    /// ends the walk, read with `next_step` (`steps`) or `next_record`.
    /// Records as (start, end, the key's database).
    type Spans = Vec<(usize, usize, Option<u64>)>;

    fn boundaries(data: &[u8], steps: bool) -> (Spans, Option<Error>) {
        walk(data, steps, false)
    }

    /// [`boundaries`], with runs of raw plain strings read by [`Reader::raw_strings`] first
    /// (`raw`), each checked against the record read whole.
    fn walk(data: &[u8], steps: bool, raw: bool) -> (Spans, Option<Error>) {
        let opts = Options::default().allow_duplicate_keys(true);
        let mut r = Reader::new(data, opts).unwrap();
        let mut out = Vec::new();
        loop {
            if raw {
                let (db, header) = (r.db(), r.header);
                r.raw_strings(usize::MAX, |s| {
                    let mut whole = Reader::resume(data, header, s.start, db);
                    let Ok(Some(Record::Key(k))) = whole.next_record() else { panic!("a key") };
                    assert!(matches!(k.raw_name(), RStr::Raw(n) if *n == s.name));
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    let v = k.string_value().expect("a string");
                    assert_eq!(v.get(&mut a).ok(), s.value.get(&mut b).ok());
                    assert_eq!(s.grows(), k.grows());
                    assert_eq!(
                        (k.end(), k.name_at(), k.expire_ms()),
                        (s.end, s.name_at, s.expire_ms)
                    );
                    assert!(k.idle().is_none() && k.freq().is_none() && k.meta().is_empty());
                    out.push((s.start, s.end, Some(db)));
                    Run::On
                });
            }
            let at = r.pos();
            let rec =
                if steps { r.next_step() } else { r.next_record().map(|x| x.map(Step::Record)) };
            match rec {
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
                Ok(Some(Step::PlainString { start, end, .. })) => {
                    assert_eq!(start, at);
                    out.push((start, end, Some(r.db())));
                }
                Ok(Some(Step::Record(Record::Key(k)))) => out.push((at, k.end(), Some(k.db()))),
                Ok(Some(Step::Record(_))) => out.push((at, r.pos(), None)),
            }
        }
    }

    #[test]
    fn steps_find_the_records_and_the_errors_that_records_do() {
        let mut b = vec![0, 1, b'a', 1, b'1']; // a plain string
        b.extend([0, 0xc0, 7, 0xc1, 0x34, 0x12]); // integer name and value
        b.extend([0, 0xc3, 4, 3, 0x02, b'a', b'b', b'c', 1, b'x']); // an LZF name: "abc"
        b.extend([op::EXPIRETIME_MS, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'e', 1, b'v']); // expiry
        b.extend([op::SELECTDB, 3]);
        b.extend([4, 1, b'h', 1, 1, b'f', 1, b'v']); // a hash, then a plain string in db 3
        b.extend([0, 1, b'z', 2, b'z', b'z']);
        // raw names, integer values of each width
        b.extend([0, 1, b'i', 0xc0, 0xf9, 0, 1, b'j', 0xc1, 0x34, 0x12]);
        b.extend([0, 1, b'k', 0xc2, 0xff, 0xff, 0xff, 0x7f]);
        // a raw name, an LZF value: "abc"
        b.extend([0, 1, b'l', 0xc3, 4, 3, 0x02, b'a', b'b', b'c']);
        let ttl = b.len();
        // expiries before what no run takes: an LFU counter, a hash
        b.extend([op::EXPIRETIME_MS, 0xe8, 3, 0, 0, 0, 0, 0, 0, op::FREQ, 5, 0, 1, b'f', 1, b'v']);
        b.extend([op::EXPIRETIME_MS, 0xe8, 3, 0, 0, 0, 0, 0, 0, 4, 1, b'g', 1, 1, b'f', 1, b'v']);
        let data = file(b"REDIS0009", &b);
        let (fast, e) = boundaries(&data, true);
        assert!(e.is_none(), "{e:?}");
        assert_eq!(fast, boundaries(&data, false).0);
        let (runs, e) = walk(&data, true, true);
        assert!(e.is_none(), "{e:?}");
        assert_eq!(runs, fast);
        assert_eq!(fast.iter().filter(|x| x.2.is_some()).count(), 12, "{fast:?}");
        assert_eq!(fast.last().map(|x| x.2), Some(None), "EOF last");
        // damage in a plain string: the same error at the same offset, after the same records
        for cut in [
            b.len() - 1,
            b.len() - 3,
            3,
            2,
            26,
            31,
            32,
            34,
            ttl - 2,
            ttl - 9,
            ttl - 13,
            ttl + 9,
            ttl + 10,
        ] {
            let mut bad = b"REDIS0009".to_vec();
            bad.extend_from_slice(&b[..cut]);
            let (fast, e1) = boundaries(&bad, true);
            let (slow, e2) = boundaries(&bad, false);
            assert_eq!(fast, slow, "cut at {cut}");
            let (runs, e3) = walk(&bad, true, true);
            assert_eq!(runs, slow, "cut at {cut}");
            let e3 = e3.expect("an error");
            let (e1, e2) = (e1.expect("an error"), e2.expect("an error"));
            assert_eq!((e1.offset, e1.to_string()), (e2.offset, e2.to_string()), "cut at {cut}");
            assert_eq!((e3.offset, e3.to_string()), (e2.offset, e2.to_string()), "cut at {cut}");
        }
        // a run stops where it is told, and after the record its caller refused
        let mut r = Reader::new(&data, Options::default().allow_duplicate_keys(true)).unwrap();
        let first = r.pos();
        let mut seen = Vec::new();
        r.raw_strings(first + 1, |s| {
            seen.push((s.start, s.end, s.name.to_vec()));
            Run::Stop
        });
        assert_eq!(seen, [(first, first + 5, b"a".to_vec())]);
        assert_eq!(r.pos(), first + 5);
        r.raw_strings(first + 5, |_| unreachable!("past its end"));
        // the integer name that follows is left to `next_step`
        r.raw_strings(usize::MAX, |_| unreachable!("not raw"));
        assert_eq!(r.pos(), first + 5);
        // a record the caller reads again whole: the reader stands where it starts
        let mut r = Reader::new(&data, Options::default().allow_duplicate_keys(true)).unwrap();
        let first = r.pos();
        r.raw_strings(usize::MAX, |_| Run::Again);
        assert_eq!(r.pos(), first);
        assert!(
            matches!(r.next_step(), Ok(Some(Step::PlainString { start, .. })) if start == first)
        );
        // with the duplicate-key check on, records are read whole
        let mut r = Reader::new(&data, Options::default()).unwrap();
        r.raw_strings(usize::MAX, |_| unreachable!("the check reads whole records"));
        // a length that is no length
        let mut bad = b"REDIS0009".to_vec();
        bad.extend([0, 1, b'a', 0xc7]);
        let (e1, e2) = (boundaries(&bad, true).1.unwrap(), boundaries(&bad, false).1.unwrap());
        assert_eq!(e1.to_string(), e2.to_string());
    }

    /// magic + records + EOF + a zero (disabled) checksum.
    fn file(magic: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = magic.to_vec();
        v.extend_from_slice(body);
        v.push(op::EOF);
        v.extend_from_slice(&[0; 8]);
        v
    }

    fn keys(data: &[u8]) -> Result<Vec<Key<'_>>> {
        let mut r = Reader::new(data, Options::default())?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            if let Record::Key(k) = rec {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// (duration, max size, added, duplicates, producers with their IIDs)
    type IdmpSeen = (u64, u64, u64, u64, Vec<(Vec<u8>, Vec<(Vec<u8>, StreamId)>)>);
    struct GetIdmp(Option<IdmpSeen>);
    impl Visitor for GetIdmp {
        type Error = crate::Error;
        fn stream_idmp(&mut self, i: &Idmp) -> Result<()> {
            let mut producers = Vec::new();
            for p in i.producers() {
                let p = p?;
                producers.push((p.name.clone(), p.iids().collect::<Result<Vec<_>>>()?));
            }
            self.0 = Some((i.duration_s, i.max_size, i.iids_added, i.iids_duplicates, producers));
            Ok(())
        }
    }

    /// An empty type 26 stream: no nodes, counters, no groups, then the IDMP section.
    fn stream26() -> Vec<u8> {
        let mut b = vec![26, 1, b's'];
        b.extend([0]); // listpack nodes
        b.extend([0, 5, 1]); // length 0, last id 5-1
        b.extend([0, 0, 5, 1, 3]); // first id 0-0, max deleted 5-1, entries added 3
        b.extend([0]); // groups
        b.extend([60, 10]); // IDMP duration 60 s, max size 10
        b.extend([1, 2, b'p', b'1', 1, 3, b'i', b'i', b'd', 4, 0]); // producer "p1": "iid" -> 4-0
        b.extend([7, 2]); // IIDs added 7, duplicates 2
        b
    }

    #[test]
    fn type_26_stream_with_idmp() {
        let data = file(b"REDIS0013", &stream26());
        let ks = keys(&data).unwrap();
        assert_eq!(ks.len(), 1);
        let mut v = GetIdmp(None);
        ks[0].decode(&mut v, &mut Scratch::default()).unwrap();
        let (d, m, added, dups, producers) = v.0.unwrap();
        assert_eq!((d, m, added, dups), (60, 10, 7, 2));
        assert_eq!(
            producers,
            vec![(b"p1".to_vec(), vec![(b"iid".to_vec(), StreamId { ms: 4, seq: 0 })])]
        );
        // type 26 does not exist in Valkey files, and is refused inside bounds in Redis ones
        let e = keys(&file(b"VALKEY080", &stream26())).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnknownType(26)), "{e}");
        let mut bad = stream26();
        bad[14] = 0; // IDMP duration 0: out of range
        let e = keys(&file(b"REDIS0013", &bad)).unwrap_err();
        assert!(e.to_string().contains("byte offset"), "{e}");
        for cut in 10..data.len() - 9 {
            assert!(keys(&data[..cut]).is_err(), "truncated at {cut}");
        }
    }

    #[test]
    fn opcode_243_by_dialect() {
        // Redis 13: key metadata (1 class, spec, module opcodes to EOF), then the key
        let mut b = vec![op::KEY_META_OR_SLOT_IMPORT, 1];
        b.extend_from_slice(&0x1234_5678u32.to_le_bytes());
        b.extend([2, 0x2a, 0]);
        b.extend([0, 1, b'k', 1, b'v']);
        let data = file(b"REDIS0013", &b);
        let ks = keys(&data).unwrap();
        assert_eq!(ks[0].meta.len(), 1);
        assert_eq!(ks[0].meta[0].body, &[2, 0x2a, 0]);
        assert_eq!(
            &data[ks[0].meta_at..ks[0].type_at],
            &b[..9],
            "the metadata as a DUMP payload carries it"
        );
        // the same byte before Redis 13 is no opcode at all
        let e = keys(&file(b"REDIS0012", &b)).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnknownType(243)), "{e}");
        // Valkey 9: slot import (job name, ranges), then a key without metadata
        let v = [
            op::KEY_META_OR_SLOT_IMPORT,
            3,
            b'j',
            b'o',
            b'b',
            1,
            0,
            0x40,
            100,
            0,
            1,
            b'k',
            1,
            b'v',
        ];
        let data = file(b"VALKEY080", &v);
        let mut r = Reader::new(&data, Options::default()).unwrap();
        match r.next_record().unwrap() {
            Some(Record::SlotImport { job, ranges }) => {
                assert_eq!((job, ranges), (b"job".to_vec(), vec![(0, 100)]))
            }
            other => panic!("{other:?}"),
        }
        let Some(Record::Key(k)) = r.next_record().unwrap() else { panic!() };
        assert!(k.meta.is_empty() && k.meta_at == k.type_at);
    }

    #[test]
    fn duplicate_keys_per_database() {
        let rec = |k: &[u8], v: &[u8]| {
            let mut r = vec![0, k.len() as u8];
            r.extend_from_slice(k);
            r.push(v.len() as u8);
            r.extend_from_slice(v);
            r
        };
        // db 0: k, x, k; db 1: k
        let mut b = rec(b"k", b"1");
        b.extend(rec(b"x", b"2"));
        b.extend(rec(b"k", b"3"));
        b.extend([op::SELECTDB, 1]);
        b.extend(rec(b"k", b"4"));
        let data = file(b"REDIS0013", &b);
        let e = keys(&data).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::DuplicateKey { db: 0, first: 10 }), "{e}");
        assert_eq!(e.offset, 20, "the second name's offset");
        assert_eq!(e.key.as_deref(), Some(&b"k"[..]));
        let text = e.to_string();
        assert!(
            text.contains("database 0 (first at byte offset 10)")
                && text.contains("Duplicated key"),
            "{text}"
        );
        // allowed: every record, in order
        let mut r =
            Reader::new(&data, Options { allow_duplicate_keys: true, ..Options::default() })
                .unwrap();
        let mut n = 0;
        while let Some(rec) = r.next_record().unwrap() {
            n += matches!(rec, Record::Key(_)) as usize;
        }
        assert_eq!(n, 4);
        // one name per database is fine; so is reading one record again
        let mut b = rec(b"k", b"1");
        b.extend([op::SELECTDB, 1]);
        b.extend(rec(b"k", b"4"));
        assert_eq!(keys(&file(b"REDIS0013", &b)).unwrap().len(), 2);
        let h = Header::parse(&data, false).unwrap();
        let again = Reader::resume(&data, h, 9, 0)
            .take(3)
            .filter(|r| matches!(r, Ok(Record::Key(_))))
            .count();
        assert_eq!(again, 3, "resume reads the records without the check");
        // many keys (the table path), one duplicate far apart
        let mut b = Vec::new();
        for i in 0..5000u32 {
            b.extend(rec(format!("key{i}").as_bytes(), b"v"));
        }
        b.extend(rec(b"key17", b"v"));
        b.extend(rec(b"after", b"v"));
        let e = keys(&file(b"REDIS0013", &b)).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(&b"key17"[..]), "{e}");
    }

    /// A v15 registry (docs/rdb-newest-formats.md 4.1, ids sparse) and keys that use it:
    /// resolved while skimming, decodable on their own, and by a resumed reader given the
    /// registry.
    #[test]
    fn hash_templates_resolve_and_resume() {
        let mut b = vec![op::HASH_TEMPLATE, 7, 2, 3, b'a', b'g', b'e', 4, b'n', b'a', b'm', b'e'];
        b.extend([op::HASH_TEMPLATE, 40, 1, 1, b'x']);
        b.extend([op::SELECTDB, 0]);
        let key_at = 9 + b.len();
        b.extend([types::HASH_TMPL_ARRAY_REF, 2, b'k', b'1', 7, 0xc0, 42, 2, b'a', b'l']);
        b.extend([types::HASH_TMPL_ARRAY_REF, 2, b'k', b'2', 40, 1, b'z']);
        let data = file(b"REDIS0015", &b);
        let ks = keys(&data).unwrap();
        assert_eq!(ks.iter().map(|k| k.tmpl.as_ref().unwrap().id).collect::<Vec<_>>(), vec![7, 40]);
        struct Fields(Vec<(Vec<u8>, Vec<u8>)>);
        impl Visitor for Fields {
            type Error = crate::Error;
            fn hash_field(
                &mut self,
                f: crate::Str<'_>,
                v: crate::Str<'_>,
                e: Option<i64>,
            ) -> Result<()> {
                assert!(e.is_none());
                self.0.push((f.to_vec(), v.to_vec()));
                Ok(())
            }
        }
        let h = Header::parse(&data, false).unwrap();
        let mut f = Fields(Vec::new());
        ks[0].decode(&mut f, &mut Scratch::default()).unwrap();
        assert_eq!(
            f.0,
            vec![(b"age".to_vec(), b"42".to_vec()), (b"name".to_vec(), b"al".to_vec())]
        );
        // resumed at the key: without the registry the id is unknown; with it, the same key
        let e = Reader::resume(&data, h, key_at, 0).next_record().unwrap_err();
        assert!(e.to_string().contains("unknown template id 7"), "{e}");
        let reg = super::templates(&data).unwrap();
        assert_eq!(reg.len(), 2);
        let Some(Record::Key(k)) =
            Reader::resume(&data, h, key_at, 0).with_templates(reg).next_record().unwrap()
        else {
            panic!()
        };
        assert_eq!(k.tmpl.unwrap().id, 7);
        // registry rules: zero fields, names out of order, an id twice
        for (reg, says) in [
            (vec![op::HASH_TEMPLATE, 1, 0], "has zero fields"),
            (vec![op::HASH_TEMPLATE, 1, 2, 2, b'b', b'b', 1, b'a'], "names must ascend"),
            (vec![op::HASH_TEMPLATE, 1, 2, 1, b'b', 1, b'a'], "names must ascend"),
            (vec![op::HASH_TEMPLATE, 1, 2, 1, b'a', 1, b'a'], "names must ascend"),
            (
                vec![op::HASH_TEMPLATE, 1, 1, 1, b'a', op::HASH_TEMPLATE, 1, 1, 1, b'b'],
                "template id 1 twice",
            ),
            // an id twice among unordered ids is found when the registry is complete
            (
                vec![
                    op::HASH_TEMPLATE,
                    9,
                    1,
                    1,
                    b'a',
                    op::HASH_TEMPLATE,
                    3,
                    1,
                    1,
                    b'a',
                    op::HASH_TEMPLATE,
                    9,
                    1,
                    1,
                    b'b',
                ],
                "template id 9 twice (first at byte offset 9)",
            ),
            (vec![op::HASH_TEMPLATE, 1, 0x80, 0x10, 0, 0, 0, 1, b'a'], "template fields length"),
        ] {
            let e = keys(&file(b"REDIS0015", &reg)).unwrap_err();
            assert!(e.to_string().contains(says), "{e} (expected {says:?})");
        }
        // ids in any order, sparse: each found, by binary search once complete
        let mut b = Vec::new();
        for id in [36u8, 5, 63, 0, 17] {
            b.extend([op::HASH_TEMPLATE, id, 1, 1, b'a' + id % 26]);
        }
        b.extend([op::SELECTDB, 0]);
        let data = file(b"REDIS0015", &b);
        let reg = super::templates(&data).unwrap();
        assert_eq!(reg.len(), 5);
        for id in [36u64, 5, 63, 0, 17] {
            let t = reg.get(id).unwrap();
            assert_eq!((t.id, t.len), (id, 1));
            let name = t.names().next().unwrap().unwrap().bytes(&mut Vec::new()).unwrap().to_vec();
            assert_eq!(name, vec![b'a' + (id % 26) as u8]);
        }
        assert!(reg.get(6).is_none());
        // opcode 242 means nothing before RDB 15
        let e = keys(&file(b"REDIS0014", &b)).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnknownType(242)), "{e}");
    }

    /// Redis Enterprise opcodes 107 and 121 (one length each) are skipped; 101/102 refused.
    #[test]
    fn enterprise_opcodes() {
        let b = [
            op::ENT_RAM_LRU,
            0x40,
            67,
            op::ENT_SLOT_NUM,
            5,
            0,
            1,
            b'k',
            1,
            b'v',
            op::ENT_RAM_LRU,
            3,
            0,
            1,
            b'j',
            1,
            b'w',
        ];
        let data = file(b"REDIS0012", &b);
        let mut r = Reader::new(&data, Options::default()).unwrap();
        let mut n = 0;
        while let Some(rec) = r.next_record().unwrap() {
            if let Record::Key(k) = rec {
                assert_eq!(
                    k.start,
                    if n == 0 { 9 } else { 19 },
                    "a key's record starts at the opcode before it"
                );
                n += 1;
            }
        }
        assert_eq!(n, 2);
        assert_eq!(r.enterprise_opcodes(), vec![(107, "RAM LRU", 2), (121, "slot number", 1)]);
        let e = keys(&file(b"REDIS0015", &[op::ENT_GCAS])).unwrap_err();
        assert_eq!(e.offset, 9);
        assert!(
            e.to_string().contains("Redis Enterprise opcode 101 (GCAS) has no published layout"),
            "{e}"
        );
        // not an opcode in Valkey files
        let e = keys(&file(b"VALKEY080", &b)).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnknownType(107)), "{e}");
    }
}
