//! Redis 8.10 (RDB 15) hash templates: the registry (opcode 242) and the four hash types
//! that use it (29-32). Layouts and rules: docs/rdb-newest-formats.md section 4 (Redis
//! `rdbSaveHashTemplates`, `rdbLoadHashTemplate`, `rdbLoadObject` in `src/rdb.c`, and the
//! hand-built payloads of `tests/unit/type/hash-templates.tcl`).
//!
//! * Registry record (after the opcode byte): `len id; len field_count (>0); field_count x
//!   str`. Names strictly ascending by length, then bytes (no duplicates); an id twice is
//!   corruption; ids may be sparse. The records sit before the first database.
//! * 30 (`HASH_TMPL_LP_REF`): one listpack [integer template id, v1..vN].
//! * 32 (`HASH_TMPL_ARRAY_REF`): `len id`, then N value strings.
//! * 29 / 31 (self-contained, what DUMP writes): `len fields_fmt` (0: the names as one
//!   listpack; 1: `len N` and N strings), then 29: one listpack [source id, v1..vN], 31: N
//!   value strings.
//!
//! Memory: a template keeps its names where they are, as a cursor into the file; nothing is
//! reserved from a count, and each template is checked against the bytes that remain. The
//! registry is an index of 16 bytes per record; a key's template is read again on demand.

use std::sync::Arc;

use super::cursor::{Cursor, RStr};
use super::error::{Error, ErrorKind, Result, show_bytes};
use super::listpack::Listpack;
use super::types::{HASH_TMPL_ARRAY, HASH_TMPL_ARRAY_REF, HASH_TMPL_LP, HASH_TMPL_LP_REF};
use super::visit::Visitor;

/// One template of the registry: its id and field names (read on demand from the file).
#[derive(Debug, Clone)]
pub struct Template<'a> {
    /// The template id the keys of types 30/32 refer to (unique in a file, may be sparse).
    pub id: u64,
    /// Number of fields (> 0).
    pub len: u64,
    /// Offset of the record's opcode byte.
    pub at: usize,
    /// At the first name (a cursor over the whole file, so errors name file offsets).
    names: Cursor<'a>,
}

impl<'a> Template<'a> {
    /// The field names, in template order (ascending by length, then bytes).
    pub fn names(&self) -> impl Iterator<Item = Result<RStr<'a>>> + use<'a> {
        let mut c = self.names;
        (0..self.len).map(move |_| c.string())
    }
    /// The names as stored (`len` RDB strings back to back): what a self-contained
    /// template hash with fields format 1 carries after its count.
    pub fn names_bytes(&self) -> Result<&'a [u8]> {
        let mut c = self.names;
        let start = c.pos();
        for _ in 0..self.len {
            c.skip_string()?;
        }
        Ok(&c.data()[start..c.pos()])
    }
}

/// The templates of a file by id: a compact index of 16 bytes per template record (its id
/// and where it sits), whatever the number of records; a template is read again from
/// the file when a key asks for it. Cloning shares the index.
///
/// Invariant: once sealed (the reader seals it at the first record that is
/// not a template: the records come before the first database), the index is sorted by id
/// and holds every id once; a duplicate id is refused there, naming both records.
#[derive(Debug, Clone, Default)]
pub struct Registry<'a> {
    /// (id, offset of the record's opcode byte), in file order until sealed.
    index: Arc<Vec<(u64, usize)>>,
    /// A cursor over the whole file (records are read again through it).
    file: Option<Cursor<'a>>,
    /// Sorted by id and checked for duplicates.
    sealed: bool,
    /// The ids came in strictly increasing order so far (then sealing costs nothing).
    increasing: bool,
}

impl<'a> Registry<'a> {
    /// The template with this id, read again from its record (`None`: no record defines
    /// it). Needs a sealed registry to find it by binary search; an unsealed one is
    /// searched as it is (sealing comes at the first key).
    pub(crate) fn get(&self, id: u64) -> Option<Arc<Template<'a>>> {
        let at = if self.sealed || self.increasing {
            let i = self.index.binary_search_by_key(&id, |e| e.0).ok()?;
            self.index[i].1
        } else {
            self.index.iter().find(|e| e.0 == id)?.1
        };
        let mut c = self.file?;
        c.set_pos(at + 1);
        let id = c.plain_len().ok()?;
        let len = c.plain_len().ok()?;
        Some(Arc::new(Template { id, len, at, names: c }))
    }
    /// Number of templates read so far.
    pub fn len(&self) -> usize {
        self.index.len()
    }
    /// Whether no template has been read (files before RDB 15 have none).
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    /// Reads one record (the cursor after its opcode byte at `at`), checks it and indexes
    /// it. Its names are checked here; its id against the others when sealed.
    pub(crate) fn read_record(
        &mut self,
        c: &mut Cursor<'a>,
        at: usize,
    ) -> Result<Arc<Template<'a>>> {
        let id_at = c.pos();
        let id = c.plain_len()?;
        if self.sealed
            && let Ok(i) = self.index.binary_search_by_key(&id, |e| e.0)
        {
            return Err(twice(c, id_at, id, self.index[i].1));
        }
        let n_at = c.pos();
        let len = c.count("template fields", 1)?;
        if len == 0 {
            return Err(c.err_at(n_at, corrupt(format!("template {id} has zero fields"))));
        }
        let names = *c;
        let mut order = Order::default();
        for _ in 0..len {
            let name_at = c.pos();
            let s = c.string()?;
            order.next(&s, c, name_at)?;
        }
        if self.file.is_none() {
            let mut f = *c;
            f.set_pos(0);
            self.file = Some(f);
        }
        let index = Arc::make_mut(&mut self.index);
        if self.sealed {
            // a record after the first key: kept in order
            let i = index.partition_point(|e| e.0 < id);
            index.insert(i, (id, at));
        } else {
            if index.is_empty() {
                self.increasing = true;
            } else if index.last().is_some_and(|l| l.0 >= id) {
                if self.increasing && index.last().is_some_and(|l| l.0 == id) {
                    return Err(twice(c, id_at, id, index.last().unwrap().1));
                }
                self.increasing = false;
            }
            index.push((id, at));
        }
        Ok(Arc::new(Template { id, len, at, names }))
    }
    /// Sorts the index by id and refuses an id that two records define (the error names
    /// the later record's offset and the earlier one's). Idempotent.
    pub(crate) fn seal(&mut self) -> Result<()> {
        if self.sealed {
            return Ok(());
        }
        self.sealed = true;
        if self.index.is_empty() {
            return Ok(());
        }
        let index = Arc::make_mut(&mut self.index);
        index.shrink_to_fit();
        if self.increasing {
            return Ok(());
        }
        index.sort_unstable();
        if let Some(w) = index.windows(2).find(|w| w[0].0 == w[1].0) {
            let (id, first, second) = (w[0].0, w[0].1, w[1].1);
            let c = self.file.expect("a record was read");
            return Err(twice(&c, second + 1, id, first));
        }
        Ok(())
    }
}

fn twice(c: &Cursor, at: usize, id: u64, first: usize) -> super::error::Error {
    c.err_at(
        at,
        corrupt(format!(
            "template id {id} twice (first at byte offset {first}): duplicate template"
        )),
    )
}

fn corrupt(reason: String) -> ErrorKind {
    ErrorKind::Corrupt { container: "hash template", reason }
}

/// Checks that names come strictly ascending by length, then bytes (`sdscmplen`), which
/// also rules out duplicates. Keeps one copy of the previous name.
#[derive(Default)]
struct Order {
    prev: Option<Vec<u8>>,
    buf: Vec<u8>,
}

impl Order {
    fn next(&mut self, s: &RStr, c: &Cursor, at: usize) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let r = s.bytes(&mut buf).and_then(|b| self.check(b, c, at));
        self.buf = buf;
        r
    }
    fn check(&mut self, b: &[u8], c: &Cursor, at: usize) -> Result<()> {
        if let Some(p) = &self.prev
            && (p.len(), &p[..]) >= (b.len(), b)
        {
            {
                return Err(c.err_at(
                    at,
                    corrupt(format!(
                        "field \"{}\" after \"{}\": names must ascend by length, then bytes",
                        show_bytes(b),
                        show_bytes(p)
                    )),
                ));
            }
        }
        let p = self.prev.get_or_insert_with(Vec::new);
        p.clear();
        p.extend_from_slice(b);
        Ok(())
    }
}

/// The template id a key of type 30 or 32 refers to (the cursor at the value body), and
/// the offset it sits at. `blob` holds an LZF listpack's content.
pub fn ref_id(c: &Cursor, t: u8, blob: &mut Vec<u8>) -> Result<(u64, u64)> {
    let mut c = *c;
    if t == HASH_TMPL_ARRAY_REF {
        let at = c.offset();
        return Ok((c.plain_len()?, at));
    }
    let at = c.offset();
    let s = c.string()?;
    let data_at = match s {
        RStr::Raw(b) => c.offset() - b.len() as u64,
        _ => at,
    };
    let mut lp = Listpack::open(s.open(blob, "listpack", data_at)?)?;
    let id_at = lp.cursor().offset();
    let id = lp.expect_encoded_int("the template id")?;
    if id < 0 {
        return Err(lp.cursor().err_at(lp.pos(), corrupt(format!("template id {id}"))));
    }
    Ok((id as u64, id_at))
}

/// Skips a value of type 30 or 32 that uses `tmpl` (30: one string; 32: the id and N
/// strings).
pub fn skip_ref(c: &mut Cursor, t: u8, tmpl: &Template) -> Result<()> {
    if t == HASH_TMPL_LP_REF {
        return c.skip_string();
    }
    c.plain_len()?;
    for _ in 0..tmpl.len {
        c.skip_string()?;
    }
    Ok(())
}

/// Buffers for the strings a template hash needs decoded at once.
#[derive(Default)]
pub struct Bufs {
    names_blob: Vec<u8>,
    values_blob: Vec<u8>,
    name: Vec<u8>,
    value: Vec<u8>,
}

/// Where names come from: strings in the file, or a listpack.
enum Names<'b> {
    Strings(Cursor<'b>, u64),
    Pack(Listpack<'b>),
}

/// Where values come from: strings in the file (31, 32), or a listpack (29, 30).
enum Values<'b> {
    Strings,
    Pack(Listpack<'b>),
}

/// Decodes a template hash of type `t` (29-32) into `hash_field` events; `tmpl` is the
/// key's template (types 30 and 32). The cursor ends after the value.
pub fn decode<'a, V: Visitor<Error = Error>>(
    c: &mut Cursor<'a>,
    t: u8,
    tmpl: Option<&Template<'a>>,
    v: &mut V,
    bufs: &mut Bufs,
) -> Result<()> {
    let Bufs { names_blob, values_blob, name, value } = bufs;
    let mut names = match t {
        HASH_TMPL_LP_REF | HASH_TMPL_ARRAY_REF => {
            let Some(tm) = tmpl else {
                let (id, at) = ref_id(c, t, values_blob)?;
                return Err(super::Error::corrupt(
                    at,
                    "hash template",
                    format!("unknown template id {id}"),
                ));
            };
            Names::Strings(tm.names, tm.len)
        }
        _ => {
            let fmt_at = c.pos();
            match c.plain_len()? {
                0 => {
                    let at = c.offset();
                    let s = c.string()?;
                    let data_at = match s {
                        RStr::Raw(b) => c.offset() - b.len() as u64,
                        _ => at,
                    };
                    Names::Pack(Listpack::open(s.open(names_blob, "listpack", data_at)?)?)
                }
                1 => {
                    let n_at = c.pos();
                    let n = c.count("template fields", 1)?;
                    if n == 0 {
                        return Err(c.err_at(n_at, corrupt("template with zero fields".into())));
                    }
                    let names = *c;
                    for _ in 0..n {
                        c.skip_string()?;
                    }
                    Names::Strings(names, n)
                }
                f => return Err(c.err_at(fmt_at, corrupt(format!("unknown fields format {f}")))),
            }
        }
    };
    let mut values = match t {
        HASH_TMPL_LP | HASH_TMPL_LP_REF => {
            let at = c.offset();
            let s = c.string()?;
            let data_at = match s {
                RStr::Raw(b) => c.offset() - b.len() as u64,
                _ => at,
            };
            let mut lp = Listpack::open(s.open(values_blob, "listpack", data_at)?)?;
            let id_at = lp.pos();
            let id = lp.expect_encoded_int("the template id")?;
            if id < 0 || tmpl.is_some_and(|tm| tm.id != id as u64) {
                return Err(lp
                    .cursor()
                    .err_at(id_at, corrupt(format!("template id {id} in the values"))));
            }
            Values::Pack(lp)
        }
        _ => {
            if t == HASH_TMPL_ARRAY_REF {
                c.plain_len()?; // the id, resolved when the key was read
            }
            Values::Strings
        }
    };
    let mut order = Order::default();
    let mut n = 0u64;
    loop {
        let (f, f_at, f_cursor) = match &mut names {
            Names::Strings(nc, left) => {
                if *left == 0 {
                    break;
                }
                *left -= 1;
                let at = nc.pos();
                let s = nc.string()?;
                (s.get(name)?, at, *nc)
            }
            Names::Pack(lp) => {
                let at = lp.pos();
                match lp.next_elem()? {
                    Some(s) => (s, at, *lp.cursor()),
                    None => break,
                }
            }
        };
        n += 1;
        if tmpl.is_none() {
            // the registry's names were checked when it was read
            let mut ib = itoa::Buffer::new();
            order.check(f.bytes(&mut ib), &f_cursor, f_at)?;
        }
        let x = match &mut values {
            Values::Strings => c.string()?.get(value)?,
            Values::Pack(lp) => lp.expect("a template value")?,
        };
        v.hash_field(f, x, None)?;
    }
    if n == 0 {
        return Err(c.corrupt("hash template", "template with zero fields"));
    }
    if let Values::Pack(lp) = &mut values {
        let at = lp.pos();
        if lp.next_elem()?.is_some() {
            return Err(lp
                .cursor()
                .err_at(at, corrupt(format!("the values listpack holds more than {n} values"))));
        }
    }
    Ok(())
}

/// A hash that refers to the registry (types 30 and 32) as the self-contained type a DUMP
/// payload must carry (29 and 31): fields format 1 (`len N` and the names as the registry
/// stores them), then the values unchanged (30: the listpack [id, values]; 32: the value
/// strings). `c` is at the value body and ends where the value does.
/// docs/rdb-newest-formats.md sections 4.2-4.5.
pub(crate) fn self_contained(c: &mut Cursor, ty: u8, t: &Template) -> Result<(u8, Vec<u8>)> {
    let mut body = vec![1];
    rdb_len(&mut body, t.len);
    body.extend_from_slice(t.names_bytes()?);
    let ty = if ty == HASH_TMPL_LP_REF {
        HASH_TMPL_LP
    } else {
        c.plain_len()?; // the id: the names stand in for it
        HASH_TMPL_ARRAY
    };
    body.extend_from_slice(&c.data()[c.pos()..]);
    Ok((ty, body))
}

/// Appends `n` as an RDB length (6, 14, 32 or 64 bits).
fn rdb_len(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=63 => out.push(n as u8),
        64..=16383 => out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]),
        _ if n <= u32::MAX as u64 => {
            out.push(0x80);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(0x81);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}
