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
//! reserved from a count, and each template is checked against the bytes that remain.

use std::collections::HashMap;
use std::sync::Arc;

use super::cursor::{Cursor, RStr};
use super::error::{ErrorKind, Result, show_bytes};
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

/// The templates of a file by id, shared by the keys that use them (a key carries an
/// `Arc` to its template, so a worker decodes it without the registry).
#[derive(Debug, Clone, Default)]
pub struct Registry<'a> {
    by_id: HashMap<u64, Arc<Template<'a>>>,
}

impl<'a> Registry<'a> {
    /// The template with this id, if the registry read one.
    pub fn get(&self, id: u64) -> Option<&Arc<Template<'a>>> {
        self.by_id.get(&id)
    }
    /// Number of templates read so far.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
    /// Whether no template has been read (files before RDB 15 have none).
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
    /// Reads one record (the cursor after its opcode byte at `at`) and adds it.
    pub fn read_record(&mut self, c: &mut Cursor<'a>, at: usize) -> Result<Arc<Template<'a>>> {
        let id_at = c.pos();
        let id = c.plain_len()?;
        if let Some(t) = self.by_id.get(&id) {
            return Err(c.err_at(
                id_at,
                corrupt(format!("template id {id} twice (first at byte offset {}): duplicate template", t.at)),
            ));
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
        let t = Arc::new(Template { id, len, at, names });
        self.by_id.insert(id, t.clone());
        Ok(t)
    }
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
pub fn decode<'a, V: Visitor>(
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
                return Err(super::Error::corrupt(at, "hash template", format!("unknown template id {id}")));
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
                return Err(lp.cursor().err_at(id_at, corrupt(format!("template id {id} in the values"))));
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
            return Err(lp.cursor().err_at(at, corrupt(format!("the values listpack holds more than {n} values"))));
        }
    }
    Ok(())
}

/// Whether `t` is a template hash type.
pub fn is_template(t: u8) -> bool {
    matches!(t, HASH_TMPL_LP | HASH_TMPL_LP_REF | HASH_TMPL_ARRAY | HASH_TMPL_ARRAY_REF)
}
