//! What `info` reports about a dump: header, aux fields, per-db counts, biggest keys,
//! functions, modules, checksum. Gathered by walking records without decoding values
//! (streams excepted, to see their IDMP state).

mod json;
mod text;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::filter::{Filter, Verdict};
use crate::format::Scratch;
use crate::format::record::{Key, KeyNameCheck, Options, Record};
use crate::format::stream::Idmp;
use crate::format::types::{self, Kind};
use crate::format::{Error, Header, Reader, Result, module};
use crate::input::Behind;
use crate::input::beside::check_names_beside;

#[derive(Debug, Default, Clone)]
pub struct DbStats {
    pub keys: u64,
    pub expires: u64,
    /// Keys whose expiry had passed when the report was made (a server drops them on load).
    pub already_expired: u64,
    /// Keys per type, every record counted (already expired ones too).
    pub types: BTreeMap<String, u64>,
    /// Keys per type that a server keeps when it loads the file (and `inspect` lists):
    /// the already expired left out.
    pub types_live: BTreeMap<String, u64>,
    pub encodings: BTreeMap<String, u64>,
    pub resize_hint: Option<(u64, u64)>,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BigKey {
    pub bytes: u64,
    pub db: u64,
    pub key: Vec<u8>,
    pub kind: String,
    pub encoding: String,
}

#[derive(Debug, Clone)]
pub struct Info {
    pub header: Header,
    pub file_bytes: u64,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    pub dbs: BTreeMap<u64, DbStats>,
    pub biggest: Vec<BigKey>,
    pub functions: Vec<String>,
    pub module_aux: Vec<String>,
    pub module_types: BTreeMap<String, u64>,
    pub streams_with_idmp: u64,
    pub keys_with_metadata: u64,
    pub slot_info_records: u64,
    pub slot_imports: u64,
    /// Redis 8.10 hash templates in the registry (opcode 242 records).
    pub templates: u64,
    /// NACKed stream IDs (type 27 streams, all groups).
    pub nacked_ids: u64,
    /// Redis Enterprise opcodes skipped: (opcode, name, how often).
    pub enterprise_opcodes: Vec<(u8, &'static str, u64)>,
    /// "ok", "disabled" (zero stored), "absent" (RDB < 5), "not checked".
    pub checksum: &'static str,
    pub stored_checksum: Option<u64>,
    pub trailing_bytes: u64,
    /// Values no server writes but every server loads (see [`crate::format::visit::Oddity`]).
    pub oddities: crate::format::visit::Oddities,
    /// Keys left out by the selection (`--db`, `--key`, `--type` ...).
    pub filtered: u64,
}

/// The library name from a function library's source (`#!lua name=NAME ...`).
pub fn library_name(code: &[u8]) -> String {
    let first = code.split(|&b| b == b'\n').next().unwrap_or(b"");
    let first = String::from_utf8_lossy(first);
    first.split_whitespace().find_map(|w| w.strip_prefix("name=")).unwrap_or("?").to_string()
}

/// Gathers [`Info`] for the keys of a whole file that `filter` selects (expired keys are
/// counted as such, never left out). `filter.now_ms` decides which keys count as already
/// expired. `release(from, to)` is told about byte ranges the walk has finished with.
///
/// The duplicate-key check (unless the options allow them) runs on a second thread, fed the
/// names in batches, as `load`'s survey runs it: that thread also releases the pages behind
/// both. What is reported is what the reader's own check reports: the earlier of the walk's
/// error and the check's.
pub fn gather<'a>(
    data: &'a [u8],
    opts: Options,
    filter: &Filter,
    top: usize,
    release: &(dyn Fn(usize, usize) + Sync),
) -> Result<Info> {
    let info = if opts.allow_duplicate_keys {
        walk(data, opts, filter, top, &mut |_| true, None, release)
    } else {
        check_names_beside(
            data,
            release,
            |n| n,
            &mut |_| {},
            |send, crc_at| {
                let mut each = |k: &Key<'a>| send(KeyNameCheck::of(k));
                let opts = opts.allow_duplicate_keys(true);
                walk(data, opts, filter, top, &mut each, Some(crc_at), release)
            },
        )
    }?;
    // the walk stops early only when the check has stopped, whose error is then reported
    info.ok_or_else(|| Error::corrupt(0, "file", "the duplicate-key check stopped"))
}

/// Walks the dump's records; hands every key to `each` (false: stop, `Ok(None)`).
/// `released_by`: another thread releases the pages behind; the walk tells it how far its
/// checksum has read (the walk releases them itself otherwise).
fn walk<'a>(
    data: &'a [u8],
    opts: Options,
    filter: &Filter,
    top: usize,
    each: &mut dyn FnMut(&Key<'a>) -> bool,
    released_by: Option<&AtomicUsize>,
    release: &dyn Fn(usize, usize),
) -> Result<Option<Info>> {
    let now_ms = filter.now_ms;
    let filter = Filter { include_expired: true, ..filter.clone() };
    let by_name = filter.reads_names();
    let mut r = Reader::new(data, opts)?;
    let mut info = Info {
        header: r.header,
        file_bytes: data.len() as u64,
        aux: Vec::new(),
        dbs: BTreeMap::new(),
        biggest: Vec::new(),
        functions: Vec::new(),
        module_aux: Vec::new(),
        module_types: BTreeMap::new(),
        streams_with_idmp: 0,
        keys_with_metadata: 0,
        slot_info_records: 0,
        slot_imports: 0,
        templates: 0,
        nacked_ids: 0,
        enterprise_opcodes: Vec::new(),
        checksum: "not checked",
        stored_checksum: None,
        trailing_bytes: 0,
        oddities: Default::default(),
        filtered: 0,
    };
    let mut g = Gather {
        heap: BinaryHeap::new(),
        scratch: Scratch::default(),
        top,
        now_ms,
        by_name,
        tallies: BTreeMap::new(),
    };
    let mut buf = Vec::new();
    let mut behind = Behind::new(release);
    let mut passed = |at: usize| match released_by {
        Some(p) => p.store(at, Ordering::Release),
        None => behind.passed(at),
    };
    while let Some(rec) = r.next_record()? {
        passed(r.checked_upto());
        match rec {
            Record::Aux { key, value } => {
                let k = key.get(&mut buf)?.to_vec();
                let v = value.get(&mut buf)?.to_vec();
                info.aux.push((k, v));
            }
            Record::ResizeDb { keys, expires } => {
                info.dbs.entry(r.db()).or_default().resize_hint = Some((keys, expires));
            }
            Record::SlotInfo { .. } => info.slot_info_records += 1,
            Record::SlotImport { .. } => info.slot_imports += 1,
            Record::Function(f) => {
                let code = f.code.get(&mut buf)?.to_vec();
                info.functions.push(match f.pre_ga {
                    Some((name, ..)) => String::from_utf8_lossy(&name).into_owned(),
                    None => library_name(&code),
                });
            }
            Record::ModuleAux { id, .. } => info.module_aux.push(module::type_name(id)),
            Record::Key(k) => {
                if !each(&k) {
                    return Ok(None);
                }
                let name = if g.by_name { k.name()? } else { Vec::new() };
                if !filter.db(k.db()) || filter.judge(&k, &name) == Verdict::Filtered {
                    info.filtered += 1;
                    continue;
                }
                g.key(&mut info, &k)?;
            }
            Record::Eof(tr) => {
                info.stored_checksum = tr.stored;
                info.checksum = match (tr.stored, tr.computed) {
                    (None, _) => "absent",
                    (Some(0), _) => "disabled",
                    (Some(_), Some(_)) => "ok",
                    (Some(_), None) => "not checked",
                };
                info.trailing_bytes = tr.trailing as u64;
                info.oddities = tr.oddities;
            }
            Record::Template(_) => info.templates += 1,
            _ => {}
        }
    }
    info.enterprise_opcodes = r.enterprise_opcodes();
    g.tallies_into(&mut info);
    let mut big: Vec<BigKey> = g.heap.into_iter().map(|Reverse(b)| b).collect();
    big.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.key.cmp(&b.key)));
    info.biggest = big;
    Ok(Some(info))
}

/// What the walk keeps besides the [`Info`]: the biggest keys so far (a heap of `top`), and
/// the counts by type and encoding (tallied without building a name per key: the names are
/// made once, at the end).
struct Gather {
    heap: BinaryHeap<Reverse<BigKey>>,
    scratch: Scratch,
    top: usize,
    now_ms: i64,
    /// The selection looks at names (they are read for every key).
    by_name: bool,
    /// Per database.
    tallies: BTreeMap<u64, Tally>,
}

/// A key's type as `info` names it: a kind, or a module type by its id.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TypeName {
    Kind(&'static str),
    Module(u64),
}

impl TypeName {
    fn name(self) -> String {
        match self {
            TypeName::Kind(k) => k.to_string(),
            TypeName::Module(id) => module::type_name(id),
        }
    }
}

/// One database's keys by type (all, and not yet expired) and by encoding. A dump holds a
/// handful of each: a list searched from the front beats hashing every key.
#[derive(Default)]
struct Tally {
    types: Counts<TypeName>,
    live: Counts<TypeName>,
    encodings: Counts<&'static str>,
}

/// Counts by a few distinct values.
struct Counts<T>(Vec<(T, u64)>);

impl<T> Default for Counts<T> {
    fn default() -> Self {
        Counts(Vec::new())
    }
}

impl<T: PartialEq + Copy> Counts<T> {
    #[inline]
    fn add(&mut self, t: T) {
        match self.0.iter_mut().find(|(x, _)| *x == t) {
            Some((_, n)) => *n += 1,
            None => self.0.push((t, 1)),
        }
    }
}

impl Gather {
    /// Counts one selected key.
    fn key(&mut self, info: &mut Info, k: &crate::format::Key) -> Result<()> {
        let db = info.dbs.entry(k.db()).or_default();
        let tally = self.tallies.entry(k.db()).or_default();
        let kind = types::kind(k.ty());
        let tname = match (kind, k.module_id()) {
            (Kind::Module, Some(id)) => TypeName::Module(id),
            _ => TypeName::Kind(kind.name()),
        };
        db.keys += 1;
        let gone = k.expire_ms().is_some_and(|e| e < self.now_ms);
        db.expires += u64::from(k.expire_ms().is_some());
        db.already_expired += u64::from(gone);
        if !gone {
            tally.live.add(tname);
        }
        let bytes = (k.end() - k.start()) as u64;
        db.bytes += bytes;
        let enc = types::encoding(k.ty(), k.header());
        tally.types.add(tname);
        tally.encodings.add(enc);
        info.keys_with_metadata += u64::from(!k.meta().is_empty());
        if k.ty() == types::STREAM_LISTPACKS_4 || k.ty() == types::STREAM_LISTPACKS_5 {
            let mut v = IdmpProbe(false, 0);
            k.decode(&mut v, &mut self.scratch)?;
            info.streams_with_idmp += u64::from(v.0);
            info.nacked_ids += v.1;
        }
        if self.heap.len() < self.top || self.heap.peek().is_some_and(|Reverse(m)| m.bytes < bytes)
        {
            self.heap.push(Reverse(BigKey {
                bytes,
                db: k.db(),
                key: k.name()?,
                kind: tname.name(),
                encoding: enc.to_string(),
            }));
            if self.heap.len() > self.top {
                self.heap.pop();
            }
        }
        Ok(())
    }

    /// The tallies as the [`Info`]'s named counts.
    fn tallies_into(&mut self, info: &mut Info) {
        for (db, t) in std::mem::take(&mut self.tallies) {
            let s = info.dbs.entry(db).or_default();
            for (n, c) in t.types.0 {
                *s.types.entry(n.name()).or_default() += c;
                if let TypeName::Module(_) = n {
                    *info.module_types.entry(n.name()).or_default() += c;
                }
            }
            for (n, c) in t.live.0 {
                *s.types_live.entry(n.name()).or_default() += c;
            }
            for (e, c) in t.encodings.0 {
                *s.encodings.entry(e.to_string()).or_default() += c;
            }
        }
    }
}

/// Records whether a stream has IDMP producers, and how many NACKed IDs its groups hold.
struct IdmpProbe(bool, u64);

impl crate::format::visit::Visitor for IdmpProbe {
    type Error = crate::format::Error;
    fn stream_idmp(&mut self, i: &Idmp) -> Result<()> {
        self.0 = !i.is_default();
        Ok(())
    }
    fn stream_group(&mut self, g: &crate::format::stream::Group<'_>) -> Result<()> {
        self.1 += g.nacked_len() as u64;
        Ok(())
    }
}
