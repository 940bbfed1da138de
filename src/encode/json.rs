//! JSON output of keys (`inspect`): one object per key, written while the value is decoded.
//!
//! Invariant: output is flushed to the sink every [`FLUSH_AT`] bytes, so a key of any size
//! uses bounded memory. A collection key is only written once its first live element is
//! seen: keys the server would not hold (empty collections, hashes whose fields all expired)
//! produce nothing. The schema is documented in the README.

use std::io::Write;

use super::text::{json_bytes, json_double, json_list, json_str};
use crate::filter::Filter;
use crate::format::record::Key;
use crate::format::stream::{Group, Idmp, StreamEntry, StreamMeta};
use crate::format::types::Kind;
use crate::format::visit::{ArrayValue, ModuleValue, Visitor};
use crate::format::{Error, ErrorKind, Header, Result, Str, module};

pub const FLUSH_AT: usize = 1 << 20;

fn sink_err(e: std::io::Error) -> Error {
    Error::new(0, ErrorKind::Sink(e))
}

fn jstr(out: &mut Vec<u8>, s: Str) {
    match s {
        Str::Bytes(b) => json_bytes(out, b),
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
    buf: Vec<u8>,
    header: Vec<u8>,
    sink: &'w mut dyn Write,
    filter: &'f Filter,
    kind: Kind,
    started: bool,
    first: bool,
    groups_open: bool,
}

impl<'f, 'w> KeyJson<'f, 'w> {
    /// Prepares the object's header for `key`; `prefix` is written before it (a separator).
    pub fn new(k: &Key, name: &[u8], h: &Header, filter: &'f Filter, prefix: &[u8], sink: &'w mut dyn Write) -> Self {
        let mut o = Vec::with_capacity(256);
        o.extend_from_slice(prefix);
        o.extend_from_slice(b"{\"db\":");
        num(&mut o, k.db);
        o.extend_from_slice(b",\"key\":");
        json_bytes(&mut o, name);
        let kind = crate::format::types::kind(k.ty);
        o.extend_from_slice(b",\"type\":");
        if kind == Kind::Module {
            json_str(&mut o, &module_type_name(k, h));
        } else {
            json_str(&mut o, kind.name());
        }
        o.extend_from_slice(b",\"encoding\":");
        json_str(&mut o, crate::format::types::encoding(k.ty, h));
        o.extend_from_slice(b",\"expire_ms\":");
        match k.expire_ms {
            Some(e) => num(&mut o, e),
            None => o.extend_from_slice(b"null"),
        }
        if let Some(i) = k.idle {
            o.extend_from_slice(b",\"lru_idle_s\":");
            num(&mut o, i);
        }
        if let Some(f) = k.freq {
            o.extend_from_slice(b",\"lfu_freq\":");
            num(&mut o, f);
        }
        if !k.meta.is_empty() {
            o.extend_from_slice(b",\"metadata\":");
            json_list(&mut o, &k.meta, |o, m| {
                o.extend_from_slice(b"{\"class\":");
                json_str(o, &m.full_name());
                o.extend_from_slice(b",\"version\":");
                num(o, m.version);
                o.extend_from_slice(b",\"flags\":");
                num(o, m.flags);
                o.extend_from_slice(b",\"raw\":{\"base64\":\"");
                super::text::base64(o, m.body);
                o.extend_from_slice(b"\"}}");
            });
        }
        o.extend_from_slice(b",\"value\":");
        KeyJson { buf: Vec::new(), header: o, sink, filter, kind, started: false, first: true, groups_open: false }
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
            self.sink.write_all(&self.buf).map_err(sink_err)?;
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

    /// Closes the object. Returns whether anything was written (false: the key was dropped).
    pub fn finish(mut self) -> Result<bool> {
        match self.kind {
            Kind::Stream => {
                if self.groups_open {
                    self.buf.push(b']');
                }
                self.buf.extend_from_slice(b"}}");
            }
            Kind::Array if self.started => self.buf.extend_from_slice(b"]}}"),
            Kind::String | Kind::Module => self.buf.push(b'}'),
            _ if self.started => self.buf.extend_from_slice(b"]}"),
            _ => {}
        }
        if self.started {
            self.sink.write_all(&self.buf).map_err(sink_err)?;
        }
        Ok(self.started)
    }
}

/// The module type name of a module value (`TYPE` shows it), read from the module id.
pub fn module_type_name(k: &Key, _h: &Header) -> String {
    k.module_id.map(module::type_name).unwrap_or_else(|| "module".into())
}

impl Visitor for KeyJson<'_, '_> {
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
                json_bytes(o, other.text(&mut t));
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
        json_bytes(o, &g.name);
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
                Some(c) => json_bytes(o, &g.consumer(c)?.name),
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
            json_bytes(o, &c.name);
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
            json_bytes(o, &p.name);
            o.extend_from_slice(b",\"iids\":[");
            for (j, x) in p.iids().enumerate() {
                let (iid, sid) = x?;
                self.maybe_flush()?;
                let o = &mut self.buf;
                if j > 0 {
                    o.push(b',');
                }
                o.push(b'[');
                json_bytes(o, &iid);
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
        o.extend_from_slice(b",\"raw\":{\"base64\":\"");
        super::text::base64(o, m.body);
        o.extend_from_slice(b"\"}}");
        Ok(())
    }
}
