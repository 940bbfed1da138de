//! JSON output of keys (`inspect`): one object per key, written while the value is decoded.
//!
//! Invariant: output is flushed to the sink every [`FLUSH_AT`] bytes, so a key of any size
//! uses bounded memory. A collection key is only written once its first live element is
//! seen: keys the server would not hold (empty collections, hashes whose fields all expired)
//! produce nothing. The schema is documented in the README.
//!
//! Byte strings: every one is a JSON string, whatever the bytes, so a column keeps one type
//! (`key` is always text to jq and DuckDB). Valid UTF-8 is written as is; otherwise the
//! string is written lossily (U+FFFD for each invalid sequence) and the record also gets the
//! exact bytes in base64: `key_base64` for the key, and `value_base64` (the whole value
//! again, same shape, every byte string in base64) for a value with any such string. The
//! value is decoded a second time for that, so memory stays bounded.

use std::io::Write;

use super::text::{base64, json_double, json_list, json_str, json_text};
use crate::filter::Filter;
use crate::format::record::Key;
use crate::format::stream::{Group, Idmp, StreamEntry, StreamMeta};
use crate::format::types::Kind;
use crate::format::visit::{ArrayValue, ModuleValue, Visitor};
use crate::format::{Header, Str, module};

pub const FLUSH_AT: usize = 1 << 20;

/// Why a key's JSON could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The dump is damaged (the error names the offset and the key).
    #[error(transparent)]
    Format(#[from] crate::format::Error),
    /// The output failed (a closed pipe, a full disk, a stop).
    #[error(transparent)]
    Output(#[from] std::io::Error),
}

impl Error {
    /// Adds key `k`'s name to a format error.
    fn in_key(self, k: &Key) -> Error {
        match self {
            Error::Format(e) => Error::Format(k.context(e)),
            e => e,
        }
    }
}

/// The result of writing JSON.
pub type Result<T> = std::result::Result<T, Error>;

/// The output buffer of one key's value, and how byte strings go into it.
struct Buf {
    out: Vec<u8>,
    /// Byte strings in base64 (the `value_base64` pass).
    b64: bool,
    /// A byte string was not valid UTF-8 (written lossily: the record needs `value_base64`).
    lossy: bool,
}

impl std::ops::Deref for Buf {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.out
    }
}

impl std::ops::DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }
}

impl Buf {
    /// A byte string as a JSON string (see the module doc).
    fn bytes(&mut self, b: &[u8]) {
        if self.b64 {
            self.out.push(b'"');
            base64(&mut self.out, b);
            self.out.push(b'"');
        } else if !json_text(&mut self.out, b) {
            self.lossy = true;
        }
    }
}

fn jstr(out: &mut Buf, s: Str) {
    match s {
        Str::Bytes(b) => out.bytes(b),
        Str::Int(i) if out.b64 => out.bytes(itoa::Buffer::new().format(i).as_bytes()),
        Str::Int(i) => {
            out.push(b'"');
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            out.push(b'"');
        }
    }
}

fn num(out: &mut Vec<u8>, x: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes());
}

/// A number, or `null`.
fn opt(out: &mut Vec<u8>, x: Option<impl itoa::Integer>) {
    match x {
        Some(x) => num(out, x),
        None => out.extend_from_slice(b"null"),
    }
}

fn opt_id(out: &mut Vec<u8>, x: Option<crate::format::stream::StreamId>) {
    match x {
        Some(x) => id(out, x),
        None => out.extend_from_slice(b"null"),
    }
}

fn id(out: &mut Vec<u8>, id: crate::format::stream::StreamId) {
    out.push(b'"');
    num(out, id.ms);
    out.push(b'-');
    num(out, id.seq);
    out.push(b'"');
}

/// Writes one key as a JSON object.
pub struct KeyJson<'f, 'w> {
    buf: Buf,
    header: Vec<u8>,
    sink: &'w mut dyn Write,
    filter: &'f Filter,
    kind: Kind,
    started: bool,
    first: bool,
    groups_open: bool,
}

impl<'f, 'w> KeyJson<'f, 'w> {
    /// Prepares the object's header for `key`; `prefix` is written before it (a separator),
    /// and `file` (the dump's path) as its first field when given.
    fn new(
        k: &Key,
        name: &[u8],
        h: &Header,
        filter: &'f Filter,
        prefix: &[u8],
        file: Option<&str>,
        sink: &'w mut dyn Write,
    ) -> Self {
        let mut o = Vec::with_capacity(256);
        o.extend_from_slice(prefix);
        o.push(b'{');
        if let Some(f) = file {
            o.extend_from_slice(b"\"file\":");
            json_str(&mut o, f);
            o.push(b',');
        }
        o.extend_from_slice(b"\"db\":");
        num(&mut o, filter.dest_db(k.db()));
        o.extend_from_slice(b",\"key\":");
        if !json_text(&mut o, name) {
            o.extend_from_slice(b",\"key_base64\":\"");
            base64(&mut o, name);
            o.push(b'"');
        }
        let kind = crate::format::types::kind(k.ty());
        o.extend_from_slice(b",\"type\":");
        if kind == Kind::Module {
            json_str(&mut o, &module_type_name(k, h));
        } else {
            json_str(&mut o, kind.name());
        }
        o.extend_from_slice(b",\"encoding\":");
        json_str(&mut o, crate::format::types::encoding(k.ty(), h));
        o.extend_from_slice(b",\"expire_ms\":");
        match k.expire_ms() {
            Some(e) => num(&mut o, e),
            None => o.extend_from_slice(b"null"),
        }
        if let Some(i) = k.idle() {
            o.extend_from_slice(b",\"lru_idle_s\":");
            num(&mut o, i);
        }
        if let Some(f) = k.freq() {
            o.extend_from_slice(b",\"lfu_freq\":");
            num(&mut o, f);
        }
        if !k.meta().is_empty() {
            o.extend_from_slice(b",\"metadata\":");
            json_list(&mut o, k.meta(), |o, m| {
                o.extend_from_slice(b"{\"class\":");
                json_str(o, &m.full_name());
                o.extend_from_slice(b",\"version\":");
                num(o, m.version);
                o.extend_from_slice(b",\"flags\":");
                num(o, m.flags);
                o.extend_from_slice(b",\"raw_base64\":\"");
                base64(o, m.body);
                o.extend_from_slice(b"\"}");
            });
        }
        o.extend_from_slice(b",\"value\":");
        let buf = Buf { out: Vec::new(), b64: false, lossy: false };
        KeyJson {
            buf,
            header: o,
            sink,
            filter,
            kind,
            started: false,
            first: true,
            groups_open: false,
        }
    }

    /// The second pass over a value with a non-UTF-8 string: `,"value_base64":` and the
    /// value again, every byte string in base64.
    fn base64_pass(kind: Kind, filter: &'f Filter, sink: &'w mut dyn Write) -> Self {
        let buf = Buf { out: Vec::new(), b64: true, lossy: false };
        let header = b",\"value_base64\":".to_vec();
        KeyJson { buf, header, sink, filter, kind, started: false, first: true, groups_open: false }
    }

    fn start(&mut self, open: &[u8]) {
        if !self.started {
            self.started = true;
            self.buf.extend_from_slice(&self.header);
            self.buf.extend_from_slice(open);
        }
    }
    fn sep(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.buf.push(b',');
        }
    }
    fn maybe_flush(&mut self) -> Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.sink.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
    fn element(&mut self, open: &[u8]) -> Result<()> {
        self.maybe_flush()?;
        self.start(open);
        self.sep();
        Ok(())
    }

    /// Closes the value (not the record). Returns whether anything was written (false: the
    /// key was dropped) and whether a byte string was written lossily.
    fn finish(mut self) -> Result<(bool, bool)> {
        match self.kind {
            Kind::Stream => {
                if self.groups_open {
                    self.buf.push(b']');
                }
                self.buf.push(b'}');
            }
            Kind::Array if self.started => self.buf.extend_from_slice(b"]}"),
            Kind::String | Kind::Module => {}
            _ if self.started => self.buf.push(b']'),
            _ => {}
        }
        if self.started {
            self.sink.write_all(&self.buf)?;
        }
        Ok((self.started, self.buf.lossy))
    }
}

/// Writes the key `k` (named `name`) as one JSON object: `prefix` first (a separator), the
/// dump's path as `file` when given, the value decoded from `data` (twice when it holds a
/// string that is not UTF-8, for `value_base64`). Returns whether anything was written: a
/// key the server would not hold (an empty collection, a hash whose fields all expired)
/// gives nothing.
#[allow(clippy::too_many_arguments)]
pub fn write_key(
    k: &Key,
    name: &[u8],
    filter: &Filter,
    prefix: &[u8],
    file: Option<&str>,
    sink: &mut dyn Write,
    s: &mut crate::format::Scratch,
) -> Result<bool> {
    let kind = crate::format::types::kind(k.ty());
    let mut j = KeyJson::new(k, name, k.header(), filter, prefix, file, sink);
    k.decode(&mut j, s)?;
    let (written, lossy) = j.finish().map_err(|e| e.in_key(k))?;
    if !written {
        return Ok(false);
    }
    if lossy {
        let mut j = KeyJson::base64_pass(kind, filter, sink);
        k.decode(&mut j, s)?;
        j.finish().map_err(|e| e.in_key(k))?;
    }
    sink.write_all(b"}")?;
    Ok(true)
}

/// The module type name of a module value (`TYPE` shows it), read from the module id.
pub fn module_type_name(k: &Key, _h: &Header) -> String {
    k.module_id().map(module::type_name).unwrap_or_else(|| "module".into())
}

impl Visitor for KeyJson<'_, '_> {
    type Error = Error;
    fn string(&mut self, v: Str<'_>) -> Result<()> {
        self.start(b"");
        jstr(&mut self.buf, v);
        Ok(())
    }
    fn list_item(&mut self, v: Str<'_>) -> Result<()> {
        self.element(b"[")?;
        jstr(&mut self.buf, v);
        Ok(())
    }
    fn set_member(&mut self, v: Str<'_>) -> Result<()> {
        self.list_item(v)
    }
    fn zset_member(&mut self, m: Str<'_>, score: f64) -> Result<()> {
        self.element(b"[")?;
        self.buf.push(b'[');
        jstr(&mut self.buf, m);
        self.buf.push(b',');
        json_double(&mut self.buf, score);
        self.buf.push(b']');
        Ok(())
    }
    fn hash_field(&mut self, f: Str<'_>, v: Str<'_>, expire_ms: Option<i64>) -> Result<()> {
        if self.filter.expired(expire_ms) {
            return Ok(());
        }
        self.element(b"[")?;
        self.buf.push(b'[');
        jstr(&mut self.buf, f);
        self.buf.push(b',');
        jstr(&mut self.buf, v);
        if let Some(e) = expire_ms {
            self.buf.push(b',');
            num(&mut self.buf, e);
        }
        self.buf.push(b']');
        Ok(())
    }
    fn array_meta(&mut self, insert_index: Option<u64>) -> Result<()> {
        let mut open = b"{\"insert_index\":".to_vec();
        match insert_index {
            Some(i) => {
                open.push(b'"');
                num(&mut open, i);
                open.push(b'"');
            }
            None => open.extend_from_slice(b"null"),
        }
        open.extend_from_slice(b",\"elements\":[");
        self.start(&open);
        Ok(())
    }
    fn array_element(&mut self, index: u64, v: ArrayValue<'_>) -> Result<()> {
        self.element(b"")?;
        let o = &mut self.buf;
        o.extend_from_slice(b"[\"");
        num(o, index);
        o.extend_from_slice(b"\",");
        match v {
            ArrayValue::Str(s) => jstr(o, s),
            other => {
                let mut t = Vec::new();
                o.bytes(other.text(&mut t));
            }
        }
        o.push(b']');
        Ok(())
    }
    fn stream_entry(&mut self, e: &StreamEntry<'_>) -> Result<()> {
        self.element(b"{\"entries\":[")?;
        let o = &mut self.buf;
        o.extend_from_slice(b"{\"id\":");
        id(o, e.id);
        o.extend_from_slice(b",\"fields\":[");
        for (i, fv) in e.fields().enumerate() {
            let (f, v) = fv?;
            if i > 0 {
                o.push(b',');
            }
            o.push(b'[');
            jstr(o, f);
            o.push(b',');
            jstr(o, v);
            o.push(b']');
        }
        o.extend_from_slice(b"]}");
        Ok(())
    }
    fn stream_meta(&mut self, m: &StreamMeta) -> Result<()> {
        self.start(b"{\"entries\":[");
        let o = &mut self.buf;
        o.extend_from_slice(b"],\"length\":");
        num(o, m.length);
        o.extend_from_slice(b",\"last_id\":");
        id(o, m.last_id);
        o.extend_from_slice(b",\"first_id\":");
        opt_id(o, m.first_id);
        o.extend_from_slice(b",\"max_deleted_id\":");
        opt_id(o, m.max_deleted_id);
        o.extend_from_slice(b",\"entries_added\":");
        opt(o, m.entries_added);
        o.extend_from_slice(b",\"groups\":[");
        self.groups_open = true;
        self.first = true;
        Ok(())
    }
    fn stream_group(&mut self, g: &Group<'_>) -> Result<()> {
        self.maybe_flush()?;
        self.sep();
        let o = &mut self.buf;
        o.extend_from_slice(b"{\"name\":");
        o.bytes(&g.name);
        o.extend_from_slice(b",\"last_delivered_id\":");
        id(o, g.last_id);
        o.extend_from_slice(b",\"entries_read\":");
        opt(o, g.entries_read);
        o.extend_from_slice(b",\"pel\":[");
        // PEL and consumers are read on demand: flushed as they go, so any size streams
        for (i, p) in g.pel().enumerate() {
            let p = p?;
            self.maybe_flush()?;
            let o = &mut self.buf;
            if i > 0 {
                o.push(b',');
            }
            o.extend_from_slice(b"{\"id\":");
            id(o, p.id);
            o.extend_from_slice(b",\"delivery_time_ms\":");
            num(o, p.delivery_time_ms);
            o.extend_from_slice(b",\"delivery_count\":");
            num(o, p.delivery_count);
            o.extend_from_slice(b",\"consumer\":");
            match p.consumer {
                Some(c) => o.bytes(&g.consumer(c)?.name),
                None => o.extend_from_slice(b"null"),
            }
            o.push(b'}');
        }
        self.buf.extend_from_slice(b"],\"consumers\":[");
        for (i, c) in g.consumers().enumerate() {
            let c = c?;
            self.maybe_flush()?;
            let o = &mut self.buf;
            if i > 0 {
                o.push(b',');
            }
            o.extend_from_slice(b"{\"name\":");
            o.bytes(&c.name);
            o.extend_from_slice(b",\"seen_time_ms\":");
            num(o, c.seen_time_ms);
            o.extend_from_slice(b",\"active_time_ms\":");
            opt(o, c.active_time_ms);
            o.extend_from_slice(b",\"pending\":");
            num(o, c.pending_len());
            o.push(b'}');
        }
        self.buf.push(b']');
        if g.has_nack_zone() {
            self.buf.extend_from_slice(b",\"nacked\":[");
            for (i, n) in g.nacked().enumerate() {
                self.maybe_flush()?;
                if i > 0 {
                    self.buf.push(b',');
                }
                id(&mut self.buf, n);
            }
            self.buf.push(b']');
        }
        self.buf.push(b'}');
        Ok(())
    }
    fn stream_idmp(&mut self, i: &Idmp<'_>) -> Result<()> {
        let o = &mut self.buf;
        o.extend_from_slice(b"],\"idmp\":{\"duration_s\":");
        self.groups_open = false;
        num(o, i.duration_s);
        o.extend_from_slice(b",\"max_size\":");
        num(o, i.max_size);
        o.extend_from_slice(b",\"producers\":[");
        for (k, p) in i.producers().enumerate() {
            let p = p?;
            self.maybe_flush()?;
            let o = &mut self.buf;
            if k > 0 {
                o.push(b',');
            }
            o.extend_from_slice(b"{\"pid\":");
            o.bytes(&p.name);
            o.extend_from_slice(b",\"iids\":[");
            for (j, x) in p.iids().enumerate() {
                let (iid, sid) = x?;
                self.maybe_flush()?;
                let o = &mut self.buf;
                if j > 0 {
                    o.push(b',');
                }
                o.push(b'[');
                o.bytes(&iid);
                o.push(b',');
                id(o, sid);
                o.push(b']');
            }
            self.buf.extend_from_slice(b"]}");
        }
        let o = &mut self.buf;
        o.extend_from_slice(b"],\"iids_added\":");
        num(o, i.iids_added);
        o.extend_from_slice(b",\"iids_duplicates\":");
        num(o, i.iids_duplicates);
        o.push(b'}');
        Ok(())
    }
    fn module(&mut self, m: &ModuleValue<'_>) -> Result<()> {
        self.start(b"");
        let o = &mut self.buf;
        o.extend_from_slice(b"{\"module\":");
        json_str(o, &module::type_name(m.id));
        o.extend_from_slice(b",\"encver\":");
        num(o, module::encver(m.id));
        o.extend_from_slice(b",\"raw_base64\":\"");
        base64(o, m.body);
        o.extend_from_slice(b"\"}");
        Ok(())
    }
}
