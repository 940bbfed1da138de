//! `verify`: every key of a dump (or a sample) checked on a live server or cluster:
//! presence, type, expiry (`PEXPIRETIME`, or `PTTL` within a margin before 7.0), and value,
//! compared element by element in batches (`GET`, `LRANGE`, `SMISMEMBER`, `ZMSCORE`,
//! `HMGET`, `XRANGE`, with cardinalities so that extra elements show too). Memory stays
//! bounded: a collection is decoded and checked 1000 elements at a time.

use std::time::Duration;

use super::url::Url;
use crate::convert::Target as Server;
use crate::filter::Filter;
use crate::format::record::{Key, Options, Record};
use crate::format::stream::StreamEntry;
use crate::format::types::{self, Kind};
use crate::format::value::Scratch;
use crate::format::visit::Visitor;
use crate::format::{Header, Reader, Str};
use crate::resp::client::Conn;
use crate::resp::reply::Reply;

/// Elements checked per round trip.
const BATCH: usize = 1000;

#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    pub checked: u64,
    pub missing: u64,
    pub different: u64,
    /// Keys whose expiry has passed (in the dump, or since): not expected on the target.
    pub expired: u64,
    pub missing_keys: Vec<String>,
    /// Key and what differs.
    pub different_keys: Vec<(String, String)>,
}

/// Connections to the target: one per node, routed by slot.
pub struct Peers {
    url: Url,
    cluster: bool,
    pub server: Server,
    conns: Vec<(String, Conn, u64)>,
    slots: Vec<usize>,
}

impl Peers {
    pub fn connect(url: Url) -> Result<Peers, String> {
        let (server, cluster) = super::probe(&url)?;
        let mut p = Peers { url, cluster, server, conns: Vec::new(), slots: vec![0; 16384] };
        p.refresh()?;
        Ok(p)
    }

    fn conn(&mut self, addr: &str) -> Result<usize, String> {
        if let Some(i) = self.conns.iter().position(|c| c.0 == addr) {
            return Ok(i);
        }
        let c = super::node::handshake(&self.url, addr, Duration::from_secs(10))?;
        self.conns.push((addr.to_string(), c, 0));
        Ok(self.conns.len() - 1)
    }

    fn refresh(&mut self) -> Result<(), String> {
        if !self.cluster {
            let a = self.url.addr();
            self.conn(&a)?;
            return Ok(());
        }
        let a = self.url.addr();
        let i = self.conn(&a)?;
        let ranges = super::cluster_slots(&mut self.conns[i].1, &a)?;
        for (lo, hi, addr) in ranges {
            let n = self.conn(&addr)?;
            for s in lo..=hi.min(16383) {
                self.slots[s] = n;
            }
        }
        Ok(())
    }

    /// Sends `cmds` for `key` (of `db`) pipelined and returns the replies; follows `MOVED`.
    fn run(&mut self, key: &[u8], db: u64, cmds: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, String> {
        for _ in 0..3 {
            let i = if self.cluster { self.slots[crate::slot::of(key) as usize] } else { 0 };
            let (addr, c, cur) = &mut self.conns[i];
            let mut buf = Vec::new();
            let select = !self.cluster && *cur != db;
            if select {
                let d = db.to_string();
                crate::resp::command::write(&mut buf, &[b"SELECT", d.as_bytes()]);
            }
            for cmd in cmds {
                let a: Vec<&[u8]> = cmd.iter().map(|x| &x[..]).collect();
                crate::resp::command::write(&mut buf, &a);
            }
            c.send_raw(&buf).map_err(|e| format!("{addr}: {e}"))?;
            if select {
                if let Reply::Error(e) = c.read_reply().map_err(|e| format!("{addr}: {e}"))? {
                    return Err(format!("{addr}: SELECT {db}: {}", String::from_utf8_lossy(&e)));
                }
                *cur = db;
            }
            let mut out = Vec::with_capacity(cmds.len());
            for _ in cmds {
                out.push(c.read_reply().map_err(|e| format!("{addr}: {e}"))?);
            }
            if out.iter().any(|r| matches!(r, Reply::Error(e) if e.starts_with(b"MOVED"))) {
                self.refresh()?;
                continue;
            }
            return Ok(out);
        }
        Err("keeps being redirected".into())
    }
}

fn s(b: &[u8]) -> Vec<u8> {
    b.to_vec()
}

fn owned(x: Str) -> Vec<u8> {
    x.to_vec()
}

fn show(r: &Reply) -> String {
    match r {
        Reply::Bulk(Some(b)) | Reply::Status(b) | Reply::Error(b) => {
            String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned()
        }
        Reply::Bulk(None) | Reply::Array(None) => "nil".into(),
        Reply::Int(i) => i.to_string(),
        Reply::Array(Some(v)) => format!("[{} items]", v.len()),
    }
}

/// Checks one collection batch by batch while it is decoded.
struct Check<'p> {
    p: &'p mut Peers,
    key: Vec<u8>,
    db: u64,
    kind: Kind,
    /// Elements of the batch being gathered: (member/field/item, score or value).
    batch: Vec<(Vec<u8>, Vec<u8>)>,
    entries: Vec<(String, Vec<(Vec<u8>, Vec<u8>)>)>,
    /// Elements seen so far (list index, cardinality).
    seen: u64,
    diff: Option<String>,
    err: Option<String>,
    now_ms: i64,
    field_ttl: bool,
    ttls: Vec<(Vec<u8>, i64)>,
}

impl Check<'_> {
    fn flush(&mut self) {
        if self.diff.is_some() || self.err.is_some() || (self.batch.is_empty() && self.entries.is_empty()) {
            self.batch.clear();
            self.entries.clear();
            return;
        }
        let k = self.key.clone();
        let n = self.batch.len() as u64;
        let cmd: Vec<Vec<u8>> = match self.kind {
            Kind::List => vec![
                s(b"LRANGE"),
                k.clone(),
                (self.seen - n).to_string().into_bytes(),
                (self.seen - 1).to_string().into_bytes(),
            ],
            Kind::Set => {
                [s(b"SMISMEMBER"), k.clone()].into_iter().chain(self.batch.iter().map(|e| e.0.clone())).collect()
            }
            Kind::Zset => {
                [s(b"ZMSCORE"), k.clone()].into_iter().chain(self.batch.iter().map(|e| e.0.clone())).collect()
            }
            Kind::Hash => [s(b"HMGET"), k.clone()].into_iter().chain(self.batch.iter().map(|e| e.0.clone())).collect(),
            _ => {
                let (first, last) = (self.entries.first().unwrap().0.clone(), self.entries.last().unwrap().0.clone());
                vec![s(b"XRANGE"), k.clone(), first.into_bytes(), last.into_bytes()]
            }
        };
        // SMISMEMBER and ZMSCORE are 6.2+: one SISMEMBER/ZSCORE each before
        let single = matches!(self.kind, Kind::Set | Kind::Zset) && !self.p.server.set_pxat();
        let mut cmds = if single {
            let verb: &[u8] = if self.kind == Kind::Set { b"SISMEMBER" } else { b"ZSCORE" };
            self.batch.iter().map(|e| vec![s(verb), k.clone(), e.0.clone()]).collect()
        } else {
            vec![cmd]
        };
        if self.kind == Kind::Hash && self.field_ttl && !self.ttls.is_empty() {
            let mut c = vec![s(b"HPEXPIRETIME"), k.clone(), s(b"FIELDS"), self.ttls.len().to_string().into_bytes()];
            c.extend(self.ttls.iter().map(|t| t.0.clone()));
            cmds.push(c);
        }
        let r = match self.p.run(&k, self.db, &cmds) {
            Ok(r) => r,
            Err(e) => {
                self.err = Some(e);
                return;
            }
        };
        let r = if single { vec![Reply::Array(Some(r))] } else { r };
        let Reply::Array(Some(items)) = &r[0] else {
            self.diff = Some(format!("{} gave {}", String::from_utf8_lossy(&cmds[0][0]), show(&r[0])));
            return;
        };
        match self.kind {
            Kind::List => {
                for (i, (want, _)) in self.batch.iter().enumerate() {
                    if items.get(i) != Some(&Reply::Bulk(Some(want.clone()))) {
                        self.diff = Some(format!("list item {} differs", self.seen - n + i as u64));
                        break;
                    }
                }
            }
            Kind::Set => {
                if let Some(i) = items.iter().position(|x| *x != Reply::Int(1)) {
                    self.diff = Some(format!("member {:?} missing", String::from_utf8_lossy(&self.batch[i].0)));
                }
            }
            Kind::Zset => {
                for (i, (m, want)) in self.batch.iter().enumerate() {
                    let got = match items.get(i) {
                        Some(Reply::Bulk(Some(b))) => crate::format::cursor::parse_double(b),
                        _ => None,
                    };
                    let want = crate::format::cursor::parse_double(want);
                    // -0 and 0 compare equal: a compact sorted set stores -0 as it pleases
                    if got.is_none() || got != want {
                        self.diff = Some(format!(
                            "member {:?}: score {:?}, expected {want:?}",
                            String::from_utf8_lossy(m),
                            got
                        ));
                        break;
                    }
                }
            }
            Kind::Hash => {
                for (i, (f, want)) in self.batch.iter().enumerate() {
                    if items.get(i) != Some(&Reply::Bulk(Some(want.clone()))) {
                        self.diff = Some(format!("field {:?} differs", String::from_utf8_lossy(f)));
                        break;
                    }
                }
                if let (None, Some(Reply::Array(Some(t)))) = (&self.diff, r.get(1)) {
                    for ((f, want), got) in self.ttls.iter().zip(t) {
                        if *got != Reply::Int(*want) {
                            self.diff = Some(format!(
                                "field {:?}: TTL {}, expected {want}",
                                String::from_utf8_lossy(f),
                                show(got)
                            ));
                            break;
                        }
                    }
                }
            }
            _ => {
                let got: Vec<(String, Vec<Vec<u8>>)> = items
                    .iter()
                    .filter_map(|e| match e {
                        Reply::Array(Some(p)) => match (&p[0], p.get(1)) {
                            (Reply::Bulk(Some(id)), Some(Reply::Array(Some(fv)))) => Some((
                                String::from_utf8_lossy(id).into_owned(),
                                fv.iter()
                                    .map(|x| if let Reply::Bulk(Some(b)) = x { b.clone() } else { Vec::new() })
                                    .collect(),
                            )),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect();
                let want: Vec<(String, Vec<Vec<u8>>)> = self
                    .entries
                    .iter()
                    .map(|(id, fv)| (id.clone(), fv.iter().flat_map(|(f, v)| [f.clone(), v.clone()]).collect()))
                    .collect();
                if got != want {
                    self.diff =
                        Some(format!("stream entries between {} and {} differ", want[0].0, want[want.len() - 1].0));
                }
            }
        }
        self.batch.clear();
        self.entries.clear();
        self.ttls.clear();
    }

    fn push(&mut self, a: Vec<u8>, b: Vec<u8>) {
        self.batch.push((a, b));
        self.seen += 1;
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }
}

impl Visitor for Check<'_> {
    fn list_item(&mut self, v: Str<'_>) -> crate::format::Result<()> {
        self.push(owned(v), Vec::new());
        Ok(())
    }
    fn set_member(&mut self, v: Str<'_>) -> crate::format::Result<()> {
        self.push(owned(v), Vec::new());
        Ok(())
    }
    fn zset_member(&mut self, m: Str<'_>, score: f64) -> crate::format::Result<()> {
        let mut t = Vec::new();
        crate::encode::text::double(&mut t, score);
        self.push(owned(m), t);
        Ok(())
    }
    fn hash_field(&mut self, f: Str<'_>, v: Str<'_>, expire_ms: Option<i64>) -> crate::format::Result<()> {
        if expire_ms.is_some_and(|e| e <= self.now_ms) {
            return Ok(());
        }
        if let Some(e) = expire_ms {
            self.ttls.push((owned(f), e));
        } else if self.field_ttl {
            self.ttls.push((owned(f), -1));
        }
        self.push(owned(f), owned(v));
        Ok(())
    }
    fn stream_entry(&mut self, e: &StreamEntry<'_>) -> crate::format::Result<()> {
        let fields = e.fields().map(|r| r.map(|(f, v)| (owned(f), owned(v)))).collect::<crate::format::Result<_>>()?;
        self.entries.push((e.id.to_string(), fields));
        self.seen += 1;
        if self.entries.len() >= BATCH {
            self.flush();
        }
        Ok(())
    }
}

/// Verifies every key of one dump selected by `filter` (or every `sample_every`-th key).
pub fn verify_dump(
    p: &mut Peers,
    data: &[u8],
    opts: Options,
    filter: &Filter,
    pick: &mut dyn FnMut() -> bool,
    rep: &mut VerifyReport,
) -> Result<(), String> {
    let mut r = Reader::new(data, opts).map_err(|e| e.to_string())?;
    let h = r.header;
    let mut scratch = Scratch::default();
    while let Some(rec) = r.next_record().map_err(|e| e.to_string())? {
        let Record::Key(k) = rec else { continue };
        if !filter.db(k.db) {
            continue;
        }
        let name = k.name().map_err(|e| e.to_string())?;
        if !filter.key(&name) || !pick() {
            continue;
        }
        if filter.expired(k.expire_ms) {
            rep.expired += 1;
            continue;
        }
        rep.checked += 1;
        check_key(p, &h, data, &k, &name, filter, &mut scratch, rep)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_key(
    p: &mut Peers,
    h: &Header,
    data: &[u8],
    k: &Key,
    name: &[u8],
    filter: &Filter,
    scratch: &mut Scratch,
    rep: &mut VerifyReport,
) -> Result<(), String> {
    let shown = String::from_utf8_lossy(name).into_owned();
    let kind = types::kind(k.ty);
    let exact_ttl = p.server.stream_counters();
    let card: &[u8] = match kind {
        Kind::String => b"GET",
        Kind::List => b"LLEN",
        Kind::Set => b"SCARD",
        Kind::Zset => b"ZCARD",
        Kind::Hash => b"HLEN",
        Kind::Stream => b"XLEN",
        Kind::Module => b"EXISTS",
    };
    let cmds = vec![
        vec![s(b"TYPE"), s(name)],
        vec![s(if exact_ttl { b"PEXPIRETIME" } else { b"PTTL" }), s(name)],
        vec![s(card), s(name)],
    ];
    let r = p.run(name, k.db, &cmds)?;
    let differ = |what: String, rep: &mut VerifyReport| {
        rep.different += 1;
        if rep.different_keys.len() < 20 {
            rep.different_keys.push((shown.clone(), what));
        }
    };
    if r[0] == Reply::Status(b"none".to_vec()) {
        // gone since: its expiry passed in the meantime
        if k.expire_ms.is_some_and(|e| e <= crate::filter::now_ms()) {
            rep.expired += 1;
            rep.checked -= 1;
        } else {
            rep.missing += 1;
            if rep.missing_keys.len() < 20 {
                rep.missing_keys.push(shown);
            }
        }
        return Ok(());
    }
    let want_type = match kind {
        Kind::Module => None,
        k => Some(k.name().as_bytes()),
    };
    if let Some(t) = want_type {
        if r[0] != Reply::Status(t.to_vec()) {
            differ(format!("type {}, expected {}", show(&r[0]), String::from_utf8_lossy(t)), rep);
            return Ok(());
        }
    }
    let ttl_ok = match (&r[1], k.expire_ms) {
        (Reply::Int(-1), None) => true,
        (Reply::Int(t), Some(e)) if exact_ttl => *t == e,
        (Reply::Int(t), Some(e)) => *t >= 0 && (e - crate::filter::now_ms() - t).abs() < 10_000,
        _ => false,
    };
    if !ttl_ok {
        differ(format!("expiry {}, expected {:?}", show(&r[1]), k.expire_ms), rep);
        return Ok(());
    }
    if kind == Kind::String {
        let mut v = StringValue(None);
        k.decode(data, h, &mut v, scratch).map_err(|e| e.to_string())?;
        if r[2] != Reply::Bulk(v.0) {
            differ("value differs".into(), rep);
        }
        return Ok(());
    }
    if kind == Kind::Module {
        return Ok(());
    }
    let mut c = Check {
        p,
        key: name.to_vec(),
        db: k.db,
        kind,
        batch: Vec::new(),
        entries: Vec::new(),
        seen: 0,
        diff: None,
        err: None,
        now_ms: filter.now_ms,
        field_ttl: false,
        ttls: Vec::new(),
    };
    c.field_ttl = c.p.server.field_ttl();
    k.decode(data, h, &mut c, scratch).map_err(|e| e.to_string())?;
    c.flush();
    if let Some(e) = c.err {
        return Err(e);
    }
    let count_ok = r[2] == Reply::Int(c.seen as i64);
    match c.diff {
        Some(d) => differ(d, rep),
        None if !count_ok => differ(format!("{} elements, expected {}", show(&r[2]), c.seen), rep),
        None => {}
    }
    Ok(())
}

struct StringValue(Option<Vec<u8>>);

impl Visitor for StringValue {
    fn string(&mut self, v: Str<'_>) -> crate::format::Result<()> {
        self.0 = Some(v.to_vec());
        Ok(())
    }
}
