//! Loading dumps into a live server or cluster: the convert engine's commands, routed per
//! key to the node that owns its slot, pipelined over a bounded window per node, with
//! redirects, retries and reconnects, and a report of what arrived.
//!
//! Invariants:
//! - A key is counted loaded only when every one of its commands was acknowledged without
//!   error; otherwise it is retried or counted failed with the error. Nothing is dropped
//!   silently.
//! - A retry decodes the key again from the dump and sends all its commands: they start
//!   with `DEL` (or `RESTORE ... REPLACE`), so a key half-written before a failure converges.

pub mod checkpoint;
pub mod ledger;
pub mod node;
pub mod survey;
pub mod tls;
pub mod url;
pub mod verify;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::convert::bufs::Bufs;
use crate::convert::commands;
use crate::convert::engine::Sink;
use crate::convert::out::{BufPool, Mark, Out, Seg};
use crate::convert::{Counts, Plan, Target as Server};
use crate::format::record::Record;
use crate::format::{Dialect, Header, Reader};
use crate::resp::reply::Reply;
use node::{Done, Expect, Node, Tag};
use url::Url;

/// Unacknowledged bytes allowed per node before the loader waits.
pub const WINDOW: usize = 16 << 20;
pub use ledger::MAX_ATTEMPTS;
/// How long a lost node may take to come back.
pub const RECONNECT_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, Default, Clone)]
pub struct NodeReport {
    pub loaded: u64,
    pub failed: u64,
}

/// What a load did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub loaded: u64,
    pub failed: u64,
    /// Of `failed`, function libraries.
    pub failed_functions: u64,
    /// Keys that already existed (`--on-conflict skip`).
    pub skipped: u64,
    pub retries: u64,
    pub redirects: u64,
    pub reconnects: u64,
    /// Up to 20 failed keys with their errors.
    pub failures: Vec<(String, String)>,
    /// Failed keys per error kind (the first word of the error).
    pub errors: BTreeMap<String, u64>,
    pub per_node: BTreeMap<String, NodeReport>,
    pub functions: u64,
    pub counts: Counts,
}

impl Report {
    /// Keys that failed (the function libraries that failed are not keys).
    pub fn failed_keys(&self) -> u64 {
        self.failed - self.failed_functions
    }
}

/// A server or cluster to load into.
pub struct Target {
    pub url: Url,
    pub cluster: bool,
    pub server: Server,
    nodes: Vec<Node>,
    /// slot -> node index (cluster).
    slots: Vec<usize>,
    pub report: Report,
    /// Unacknowledged bytes allowed per node.
    pub window: usize,
    /// Keyless commands (`FUNCTION LOAD`) sent so far, resent to a node that reconnects.
    globals: Vec<Vec<u8>>,
    /// Plain connections for questions (`--on-conflict`), per node.
    checkers: Vec<Option<crate::resp::client::Conn>>,
    /// Outcomes of other dumps' keys, seen by a load that was collecting (several dumps
    /// load at once through the same connections): (node, outcome) per dump.
    inbox: HashMap<u32, Vec<(usize, Done)>>,
    /// Other dumps' unacknowledged entries from a connection that died, with the reason
    /// and the node's address.
    lost: HashMap<u32, Vec<(Expect, String, String)>>,
    /// Per connection: timeouts in a row (a reply or a reconnect that waited the whole
    /// `--timeout`); cleared when it answers again.
    strikes: HashMap<usize, u32>,
    /// Nodes given up after [`STRIKES`] timeouts in a row, with the reason their keys fail.
    pub given_up: BTreeMap<String, String>,
}

/// Timeouts in a row after which a node is given up: it is reconnected at most
/// `STRIKES - 1` times, so a dead node costs about `STRIKES × --timeout`.
pub const STRIKES: u32 = 3;

/// A [`Target`] shared by the loads of several dumps running at once: a load holds the
/// lock for one call from its engine at a time (`acquire` .. `release`).
pub struct Locked<'t> {
    m: &'t Mutex<Target>,
    g: Option<MutexGuard<'t, Target>>,
}

impl<'t> Locked<'t> {
    pub fn new(m: &'t Mutex<Target>) -> Self {
        Locked { m, g: None }
    }
    fn acquire(&mut self) {
        if self.g.is_none() {
            self.g = Some(self.m.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }
    fn release(&mut self) {
        self.g = None;
    }
}

impl std::ops::Deref for Locked<'_> {
    type Target = Target;
    fn deref(&self) -> &Target {
        self.g.as_deref().expect("the target's lock is held")
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Target {
        self.g.as_deref_mut().expect("the target's lock is held")
    }
}

fn info_field<'r>(info: &'r str, name: &str) -> Option<&'r str> {
    info.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':'))).map(str::trim)
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(Some(b)) | Reply::Status(b) | Reply::Error(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

/// Asks the server at `url` its version, and whether it runs in cluster mode.
pub fn probe(url: &Url) -> Result<(Server, bool), String> {
    let mut c = node::handshake(url, &url.addr(), Duration::from_secs(10))?;
    let info = text(&c.cmd(&["INFO", "server"]).map_err(|e| e.to_string())?);
    let server = match info_field(&info, "valkey_version") {
        Some(v) => Server::version(Dialect::Valkey, v.as_bytes()),
        None => info_field(&info, "redis_version").and_then(|v| Server::version(Dialect::Redis, v.as_bytes())),
    }
    .ok_or_else(|| format!("{url}: INFO gave no version"))?;
    let cinfo = text(&c.cmd(&["INFO", "cluster"]).map_err(|e| e.to_string())?);
    Ok((server, info_field(&cinfo, "cluster_enabled") == Some("1")))
}

impl Target {
    /// Connects, asks the server its version, and detects a cluster (`cluster_enabled`),
    /// whose slot map it then reads.
    pub fn connect(url: Url) -> Result<Target, String> {
        let (server, cluster) = probe(&url)?;
        let mut t = Target {
            url,
            cluster,
            server,
            nodes: Vec::new(),
            slots: vec![usize::MAX; 16384],
            report: Report::default(),
            window: WINDOW,
            globals: Vec::new(),
            checkers: Vec::new(),
            inbox: HashMap::new(),
            lost: HashMap::new(),
            strikes: HashMap::new(),
            given_up: BTreeMap::new(),
        };
        if cluster {
            t.refresh_slots()?;
        } else {
            let addr = t.url.addr();
            t.node(&addr, 0)?;
        }
        Ok(t)
    }

    /// The index of the connection to `addr` working in `db`, connecting if needed. A
    /// standalone load has one connection per target db, each selected in its handshake: no
    /// `SELECT` ever travels in a pipeline, so nothing can run in the wrong db.
    fn node(&mut self, addr: &str, db: u64) -> Result<usize, String> {
        if let Some(i) = self.nodes.iter().position(|n| n.addr == addr && n.db == db) {
            return Ok(i);
        }
        self.nodes.push(Node::connect(&self.url, addr, db)?);
        self.report.per_node.entry(addr.to_string()).or_default();
        Ok(self.nodes.len() - 1)
    }

    /// A plain connection to node `i`, for questions outside the pipeline.
    fn checker(&mut self, i: usize) -> Result<&mut crate::resp::client::Conn, String> {
        if self.checkers.len() <= i {
            self.checkers.resize_with(i + 1, || None);
        }
        if self.checkers[i].is_none() {
            self.checkers[i] = Some(node::handshake(&self.url, &self.nodes[i].addr, Duration::from_secs(10))?);
        }
        Ok(self.checkers[i].as_mut().unwrap())
    }

    /// Reads `CLUSTER SLOTS` from the first node that answers.
    fn refresh_slots(&mut self) -> Result<(), String> {
        let mut seeds: Vec<String> = self.nodes.iter().map(|n| n.addr.clone()).collect();
        seeds.insert(0, self.url.addr());
        let mut last = String::new();
        for seed in seeds {
            let mut c = match node::handshake(&self.url, &seed, Duration::from_secs(5)) {
                Ok(c) => c,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let map = match cluster_slots(&mut c, &seed) {
                Ok(m) => m,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            if map.is_empty() {
                last = format!("{seed}: no slots assigned");
                continue;
            }
            self.slots.iter_mut().for_each(|s| *s = usize::MAX);
            for (a, b, addr) in map {
                let i = self.node(&addr, 0)?;
                for s in a..=b.min(16383) {
                    self.slots[s] = i;
                }
            }
            return Ok(());
        }
        Err(format!("cannot read the cluster's slot map: {last}"))
    }

    /// The connection for a key of `slot` going to `db` (standalone: the server's
    /// connection for that db; a cluster has only db 0).
    fn route(&mut self, slot: u16, db: u64) -> Result<usize, String> {
        if !self.cluster {
            let addr = self.url.addr();
            return self.node(&addr, db);
        }
        if self.slots[slot as usize] == usize::MAX {
            self.refresh_slots()?;
        }
        match self.slots[slot as usize] {
            usize::MAX => Err(format!("slot {slot} is not served by any node")),
            i => Ok(i),
        }
    }

    fn masters(&self) -> Vec<usize> {
        if !self.cluster {
            return vec![0];
        }
        let mut v: Vec<usize> = self.slots.iter().copied().filter(|&i| i != usize::MAX).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Waits until every node has acknowledged everything (or died).
    fn drain(&self) {
        for n in &self.nodes {
            n.wait_below(0);
        }
    }

    /// Waits at most `within` for every node to acknowledge everything it was sent.
    fn drain_within(&self, within: Duration) {
        let until = Instant::now() + within;
        while Instant::now() < until && self.nodes.iter().any(|n| n.in_flight() > 0 && n.dead().is_none()) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Checks, before anything is sent, that every db in `dbs` exists on the target
    /// (standalone: `SELECT` on a side connection; a cluster has only db 0).
    pub fn check_dbs(&mut self, dbs: &[u64]) -> Result<(), String> {
        if self.cluster {
            return match dbs.iter().find(|&&d| d != 0) {
                Some(d) => Err(format!("keys would go to db {d}, and a cluster has only db 0")),
                None => Ok(()),
            };
        }
        let addr = self.nodes[0].addr.clone();
        let c = self.checker(0)?;
        for d in dbs {
            if let Reply::Error(e) = c.cmd(&["SELECT", &d.to_string()]).map_err(|e| format!("{addr}: {e}"))? {
                let have = match c.cmd(&["CONFIG", "GET", "databases"]) {
                    Ok(Reply::Array(Some(v))) if v.len() == 2 => format!(" (it has {} databases)", text(&v[1])),
                    _ => String::new(),
                };
                return Err(format!(
                    "db {d} cannot be selected on {addr}{have}: {}; nothing was sent",
                    String::from_utf8_lossy(&e)
                ));
            }
        }
        Ok(())
    }

    /// What identifies the target for a checkpoint: a standalone server by its address, a
    /// cluster by its masters' node ids (any seed node gives the same; a failover or a
    /// reshard keeps some of them).
    pub fn identity(&mut self) -> Result<checkpoint::TargetId, String> {
        if !self.cluster {
            return Ok(checkpoint::TargetId::Server(self.url.addr()));
        }
        let first = self.masters().first().copied().unwrap_or(0);
        let addr = self.nodes[first].addr.clone();
        let c = self.checker(first)?;
        let r = match c.cmd(&["CLUSTER", "SLOTS"]) {
            Ok(Reply::Array(Some(r))) => r,
            other => return Err(format!("{addr}: CLUSTER SLOTS: {other:?}")),
        };
        let mut ids = std::collections::BTreeSet::new();
        for range in r {
            let Reply::Array(Some(f)) = range else { continue };
            if let Some(Reply::Array(Some(m))) = f.get(2)
                && let Some(Reply::Bulk(Some(id))) = m.get(2)
            {
                ids.insert(String::from_utf8_lossy(id).into_owned());
            }
        }
        if ids.is_empty() {
            return Err(format!("{addr}: CLUSTER SLOTS names no node ids"));
        }
        Ok(checkpoint::TargetId::Cluster(ids.into_iter().collect()))
    }

    /// Connection `i` timed out (`why`): one more strike against it; at [`STRIKES`] in a
    /// row its node is given up (a standalone server's connections for other dbs with it).
    /// Returns whether it is.
    fn strike(&mut self, i: usize, why: &str) -> bool {
        let addr = self.nodes[i].addr.clone();
        if self.given_up.contains_key(&addr) {
            return true;
        }
        if !why.starts_with("timed out") {
            return false;
        }
        let n = self.strikes.entry(i).or_default();
        *n += 1;
        if *n < STRIKES {
            return false;
        }
        let reason = format!("timed out after {} waiting for {addr}", crate::resp::client::secs(self.url.timeouts.io));
        eprintln!("rdbshift: giving up on {addr}: it timed out {STRIKES} times in a row ({why}); its keys fail");
        self.given_up.insert(addr, reason);
        true
    }

    /// Connection `i` answered: its timeouts are no longer in a row.
    fn answered(&mut self, i: usize) {
        if !self.strikes.is_empty() {
            self.strikes.remove(&i);
        }
    }

    /// Why keys for node `i` fail without being sent, if it was given up.
    fn gave_up_on(&self, i: usize) -> Option<&String> {
        if self.given_up.is_empty() {
            return None;
        }
        self.given_up.get(&self.nodes[i].addr)
    }

    /// Reconnects a node whose connection died, for up to [`RECONNECT_FOR`] (a handshake
    /// that times out is a strike: see [`Target::strike`]). A node given up is left dead.
    fn reconnect(&mut self, i: usize) -> Result<(), String> {
        let addr = self.nodes[i].addr.clone();
        if self.given_up.contains_key(&addr) {
            return Ok(());
        }
        let start = Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            if crate::stop::requested().is_some() {
                // after a stop nothing more is sent: the connection stays dead
                return Ok(());
            }
            match Node::connect(&self.url, &addr, self.nodes[i].db) {
                Ok(n) => {
                    self.nodes[i] = n;
                    self.report.reconnects += 1;
                    for g in self.globals.clone() {
                        self.nodes[i].send(&g, Some(Expect { tag: Tag::Internal, cmds: 1, bytes: g.len(), end: true }));
                    }
                    return Ok(());
                }
                Err(e) if e.contains("timed out") && self.strike(i, &e) => return Ok(()),
                Err(e) if start.elapsed() > RECONNECT_FOR => {
                    return Err(format!("{addr} did not come back within {}s: {e}", RECONNECT_FOR.as_secs()));
                }
                Err(_) => {
                    if self.cluster && self.refresh_slots().is_ok() && !self.slots.contains(&i) {
                        // failed over: its slots have a new owner; nothing more to send here
                        return Ok(());
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// `CLUSTER SLOTS` of the node `c` (at `seed`): (first slot, last slot, master address).
pub fn cluster_slots(c: &mut crate::resp::client::Conn, seed: &str) -> Result<Vec<(usize, usize, String)>, String> {
    let r = match c.cmd(&["CLUSTER", "SLOTS"]) {
        Ok(Reply::Array(Some(r))) => r,
        other => return Err(format!("{seed}: CLUSTER SLOTS: {other:?}")),
    };
    let host = seed.rsplit_once(':').map_or(seed, |x| x.0).to_string();
    let mut map = Vec::new();
    for range in r {
        let Reply::Array(Some(f)) = range else { continue };
        let (Some(Reply::Int(a)), Some(Reply::Int(b)), Some(Reply::Array(Some(m)))) = (f.first(), f.get(1), f.get(2))
        else {
            continue;
        };
        let ip = match m.first() {
            Some(Reply::Bulk(Some(ip))) if !ip.is_empty() && ip != b"?" => String::from_utf8_lossy(ip).into_owned(),
            _ => host.clone(),
        };
        let Some(Reply::Int(port)) = m.get(1) else { continue };
        map.push((*a as usize, *b as usize, format!("{ip}:{port}")));
    }
    Ok(map)
}

/// What to do with a key that already exists on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Conflict {
    /// Replace it (the commands start with `DEL`, `RESTORE` has `REPLACE`).
    #[default]
    Replace,
    /// Leave it, count it as skipped.
    Skip,
    /// Leave it, count it as failed (exit code 1).
    Fail,
}

/// Loads one dump through the convert engine: the engine's [`Sink`].
pub struct FileLoad<'a, 't> {
    pub t: Locked<'t>,
    /// This dump's number in the run (keys' outcomes are told apart by it).
    file: u32,
    data: &'a [u8],
    h: Header,
    plan: &'a Plan,
    pool: std::sync::Arc<BufPool>,
    /// The db keys go to (`--to-db` or the URL's db), else the dump's.
    to_db: Option<u64>,
    db: u64,
    /// Where the key being written goes (mapped pieces follow it).
    cur: Option<usize>,
    /// Keys that will be sent again whole: their remaining pieces are dropped.
    dropped: HashSet<usize>,
    /// Per node: bytes and entries gathered from the current piece, not yet sent.
    gathered: Vec<(Vec<u8>, Vec<Expect>)>,
    fatal: Option<String>,
    pub on_conflict: Conflict,
    /// The key whose commands continue in the next piece.
    unfinished: Option<usize>,
    /// Every key's state (see [`ledger`]).
    pub ledger: ledger::Ledger,
    /// Where progress is recorded (`--checkpoint`), with this dump's fingerprint and path,
    /// and the keys an earlier run failed (offset, db) that this run sends again.
    pub checkpoint: Option<(Arc<Mutex<checkpoint::Checkpoint>>, String, String)>,
    /// Progress shown to a person at a terminal: the bar, and this dump's first byte's
    /// position on it (several dumps share one bar).
    pub progress: Option<(indicatif::ProgressBar, u64)>,
    /// Bytes of this dump already counted on the progress bar.
    shown: u64,
    /// The dump's hash templates (Redis 8.10), read the first time a key is decoded again.
    templates: std::cell::OnceCell<crate::format::record::Registry<'a>>,
}

fn err_io(e: String) -> std::io::Error {
    std::io::Error::other(e)
}

impl<'a, 't> FileLoad<'a, 't> {
    pub fn new(t: &'t Mutex<Target>, file: u32, data: &'a [u8], h: Header, plan: &'a Plan, to_db: Option<u64>) -> Self {
        FileLoad {
            t: Locked::new(t),
            file,
            data,
            h,
            plan,
            pool: Default::default(),
            to_db,
            db: 0,
            cur: None,
            dropped: HashSet::new(),
            gathered: Vec::new(),
            fatal: None,
            on_conflict: Conflict::Replace,
            unfinished: None,
            ledger: Default::default(),
            checkpoint: None,
            progress: None,
            shown: 0,
            // read only when a key is decoded again (a retry, a failed key's name)
            templates: std::cell::OnceCell::new(),
        }
    }

    /// Handles the keys whose replies have all arrived, and nodes that died.
    fn collect(&mut self) -> std::io::Result<()> {
        // what other loads found for this one
        for (i, d) in self.t.inbox.remove(&self.file).unwrap_or_default() {
            self.outcome(i, d);
        }
        for (e, why, addr) in self.t.lost.remove(&self.file).unwrap_or_default() {
            self.lose(e, &why, &addr);
        }
        for i in 0..self.t.nodes.len() {
            let done = self.t.nodes[i].take_done();
            if !done.is_empty() {
                self.t.answered(i);
            }
            self.sort_done(i, done);
            if let Some(why) = self.t.nodes[i].dead() {
                let addr = self.t.nodes[i].addr.clone();
                // a connection that timed out is a strike against its node (once per death:
                // what it owed is taken below, and a given-up node's stays dead)
                if self.t.nodes[i].in_flight() == 0 && self.t.gave_up_on(i).is_some() {
                    continue;
                }
                self.t.strike(i, &why);
                // what was not acknowledged goes again, from each key's first command (or
                // fails, when the node was given up)
                let lost = self.t.nodes[i].take_unacknowledged();
                let done = self.t.nodes[i].take_done();
                self.sort_done(i, done);
                for e in lost {
                    match e.tag {
                        Tag::Key { file, .. } if file != self.file => {
                            self.t.lost.entry(file).or_default().push((e, why.clone(), addr.clone()))
                        }
                        _ => self.lose(e, &why, &addr),
                    }
                }
                if self.cur == Some(i) {
                    self.cur = None;
                }
                self.t.reconnect(i).map_err(err_io)?;
            }
        }
        match self.fatal.take() {
            Some(f) => Err(err_io(f)),
            None => Ok(()),
        }
    }

    /// This load's outcomes are handled; other loads' are left in their inbox.
    fn sort_done(&mut self, i: usize, done: Vec<Done>) {
        for d in done {
            match d.tag {
                Tag::Key { file, .. } if file != self.file => self.t.inbox.entry(file).or_default().push((i, d)),
                _ => self.outcome(i, d),
            }
        }
    }

    /// A key of this dump whose commands were not all acknowledged before its connection
    /// (to `addr`) died: it goes again, or fails if the node was given up.
    fn lose(&mut self, e: Expect, why: &str, addr: &str) {
        if let Tag::Key { record, db, .. } = e.tag {
            if !e.end && self.ledger.is_open(record) && !self.ledger.is_retrying(record) {
                self.dropped.insert(record);
            }
            if let Some(reason) = self.t.given_up.get(addr).cloned() {
                self.fail_key(addr, record, db, reason);
                return;
            }
            self.ledger.retry(record, None, format!("connection lost: {why}"));
        }
    }

    /// A key whose node was given up: it fails, counted but not listed (see
    /// [`ledger::Ledger::abandon`]), and its later pieces are dropped.
    fn abandon(&mut self, addr: &str, record: usize, end: bool, reason: String) {
        if !self.ledger.is_open(record) {
            return;
        }
        if !end {
            self.dropped.insert(record);
        }
        let name = self.key_name(record, self.db);
        self.ledger.abandon(record);
        self.fail(addr, name, reason);
    }

    fn outcome(&mut self, node: usize, d: Done) {
        let addr = self.t.nodes[node].addr.clone();
        match (d.tag, d.err) {
            (Tag::Key { record, .. }, None) => {
                if self.ledger.acked(record) == ledger::Outcome::Finished {
                    self.t.report.loaded += 1;
                    self.t.report.per_node.entry(addr).or_default().loaded += 1;
                }
            }
            (Tag::Key { record, db, .. }, Some(e)) => self.key_error(&addr, record, db, e),
            (Tag::Global, None) => self.t.report.functions += 1,
            (Tag::Global, Some(e)) => {
                self.t.report.failed_functions += 1;
                self.fail(&addr, "(function library)".into(), e)
            }
            // SELECT (and ASKING): nothing more may run on this connection
            (Tag::Internal, Some(e)) => {
                self.fatal.get_or_insert(format!("{addr}: {e}; nothing more was sent after it"));
            }
            (Tag::Internal, None) => {}
        }
    }

    fn key_error(&mut self, addr: &str, record: usize, db: u64, e: String) {
        let word = e.split_whitespace().next().unwrap_or("").to_string();
        match word.as_str() {
            "MOVED" | "ASK" => {
                self.t.report.redirects += 1;
                let mut ask = None;
                let mut why = e.clone();
                if word == "ASK" {
                    ask = e.split_whitespace().nth(2).map(str::to_string);
                } else if let Err(x) = self.t.refresh_slots() {
                    why = x;
                }
                self.ledger.retry(record, ask, why);
            }
            "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" | "BUSY" | "MASTERDOWN" | "READONLY" => {
                if word == "READONLY" || word == "CLUSTERDOWN" {
                    let _ = self.t.refresh_slots();
                }
                self.ledger.retry(record, None, e);
            }
            "BUSYKEY" => {
                if self.ledger.skipped(record) == ledger::Outcome::Finished {
                    self.t.report.skipped += 1
                }
            }
            _ => self.fail_key(addr, record, db, e),
        }
    }

    /// Everything before this offset of the file is done (for a checkpoint).
    pub fn done_upto(&self) -> usize {
        self.ledger.done_upto()
    }

    /// Records progress in the checkpoint (at most once a second unless `force`).
    fn record_progress(&mut self, offset: usize, force: bool) -> std::io::Result<()> {
        if let Some((c, fp, path)) = &self.checkpoint {
            // the failed keys are gathered only for a write that happens (this runs per piece)
            if !force && !c.lock().unwrap_or_else(|p| p.into_inner()).due() {
                return Ok(());
            }
            let failed = self.ledger.failed_keys().map(|(r, d)| (r as u64, d)).collect();
            let p = checkpoint::Progress { path: path.clone(), offset: offset as u64, failed, load: None };
            c.lock().unwrap_or_else(|p| p.into_inner()).record(fp, p, force)?;
        }
        Ok(())
    }

    /// The key at `record` fails for good with `e` (counted once, whatever else reported it).
    fn fail_key(&mut self, addr: &str, record: usize, db: u64, e: String) {
        // the name travels with the open key: take it before the ledger closes it
        let name = self.key_name(record, db);
        if self.ledger.failed(record, db) == ledger::Outcome::Finished {
            self.fail(addr, name, e);
        }
    }

    fn fail(&mut self, addr: &str, name: String, e: String) {
        let rep = &mut self.t.report;
        rep.failed += 1;
        rep.per_node.entry(addr.to_string()).or_default().failed += 1;
        let kind = if e.starts_with("timed out") { "timed out" } else { e.split_whitespace().next().unwrap_or("?") };
        *rep.errors.entry(kind.to_string()).or_default() += 1;
        if rep.failures.len() < 20 {
            rep.failures.push((name, e));
        }
    }

    /// The key whose record starts at `record` (read again from the dump).
    fn key_at(&self, record: usize, db: u64) -> Option<crate::format::Key<'_>> {
        match Reader::resume(self.data, self.h, record, db)
            // a damaged registry is found and reported by the pre-pass
            .with_templates(
                self.templates.get_or_init(|| crate::format::record::templates(self.data).unwrap_or_default()).clone(),
            )
            .next_record()
        {
            Ok(Some(Record::Key(k))) => Some(k),
            _ => None,
        }
    }

    /// The name of the key at `record`: from the ledger while the key is open (its name
    /// travelled with its commands), else read again from the dump.
    fn key_name(&self, record: usize, db: u64) -> String {
        if let Some(n) = self.ledger.name(record) {
            return String::from_utf8_lossy(n).into_owned();
        }
        match self.key_at(record, db) {
            Some(k) => String::from_utf8_lossy(&k.name().unwrap_or_default()).into_owned(),
            None => format!("(key at byte offset {record})"),
        }
    }

    /// The key's commands, decoded again from the dump (each after an `ASKING` when `ask`):
    /// (bytes, commands, slot).
    fn regenerate(&self, record: usize, db: u64, ask: bool) -> Result<(Vec<u8>, u32, u16), String> {
        let Some(k) = self.key_at(record, db) else { return Err(format!("no key at byte offset {record}")) };
        let name = k.name().map_err(|e| e.to_string())?;
        let slot = crate::slot::of(&name);
        let mut segs = Vec::new();
        let mut send = |s: Seg| {
            segs.push(s);
            Ok(())
        };
        let pool = BufPool::default();
        let mut out = Out::new(self.data, 1 << 20, &pool, &mut send).with_marks();
        if ask {
            out = out.with_asking();
        }
        let mut bufs = Bufs::default();
        out.begin_key(record, Some(slot), &name);
        commands::key(self.plan, &k, &name, &mut out, &mut bufs, &mut Counts::default()).map_err(|e| e.to_string())?;
        out.end_key();
        out.flush().map_err(|e| e.to_string())?;
        drop(out);
        let (mut bytes, mut cmds) = (Vec::new(), 0);
        for s in segs {
            match s {
                Seg::Bytes(b, marks) => {
                    bytes.extend_from_slice(&b);
                    cmds += marks.iter().map(|m| m.cmds).sum::<u32>();
                }
                Seg::Mapped(r) => bytes.extend_from_slice(&self.data[r]),
            }
        }
        Ok((bytes, cmds, slot))
    }

    /// Sends the pending retries, in rounds, until none is left; records progress in the
    /// checkpoint. After a stop (a signal, or `complete` false after an error) it sends
    /// nothing more: it waits at most `grace` for the acknowledgements still due.
    pub fn finish(&mut self, complete: bool, grace: Option<Duration>) -> std::io::Result<()> {
        self.t.acquire();
        let r = self.finish_locked(complete, grace);
        self.t.release();
        r
    }

    fn finish_locked(&mut self, complete: bool, grace: Option<Duration>) -> std::io::Result<()> {
        if let Some(grace) = grace {
            self.t.drain_within(grace);
            let r = self.collect();
            let done = self.done_upto();
            self.record_progress(done, true)?;
            return r;
        }
        loop {
            self.t.drain();
            self.collect()?;
            if !self.ledger.has_retries() {
                let done = if complete && self.ledger.open_count() == 0 && !self.ledger.has_abandoned() {
                    self.data.len()
                } else {
                    self.done_upto()
                };
                return self.record_progress(done, true);
            }
            let (round, gave_up) = self.ledger.take_retries();
            for r in gave_up {
                self.fail_key("-", r.record, r.db, ledger::gave_up(&r));
            }
            let backoff = round.iter().map(|r| r.attempt).max().unwrap_or(1);
            std::thread::sleep(Duration::from_millis((25u64 << backoff.min(6)).min(1000)));
            for r in round {
                self.dropped.remove(&r.record);
                self.t.report.retries += 1;
                let (bytes, cmds, slot) = self.regenerate(r.record, r.db, r.ask.is_some()).map_err(err_io)?;
                let node = match &r.ask {
                    Some(addr) => self.t.node(addr, 0).map_err(err_io)?,
                    None => self.t.route(slot, r.db).map_err(err_io)?,
                };
                if let Some(reason) = self.t.gave_up_on(node).cloned() {
                    let addr = self.t.nodes[node].addr.clone();
                    self.fail_key(&addr, r.record, r.db, reason);
                    continue;
                }
                let tag = Tag::Key { file: self.file, record: r.record, db: r.db };
                self.t.nodes[node].send(&bytes, Some(Expect { tag, cmds, bytes: bytes.len(), end: true }));
            }
        }
    }
}

impl FileLoad<'_, '_> {
    /// `--on-conflict skip|fail`: asks the nodes which of the keys starting in this piece
    /// exist already (one pipelined `EXISTS` round trip per node) and leaves those out.
    fn leave_existing(&mut self, marks: &[Mark]) -> Result<(), String> {
        let mut by_node: BTreeMap<usize, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
        for m in marks {
            if m.record == usize::MAX || Some(m.record) == self.unfinished || self.dropped.contains(&m.record) {
                continue;
            }
            let Some(name) = &m.name else { continue };
            let i = self.t.route(m.slot.unwrap_or(0), self.db)?;
            by_node.entry(i).or_default().push((m.record, name.to_vec()));
        }
        for (i, keys) in by_node {
            let addr = self.t.nodes[i].addr.clone();
            let cluster = self.t.cluster;
            let c = self.t.checker(i)?;
            let mut buf = Vec::new();
            let db = self.db.to_string();
            if !cluster {
                crate::resp::command::write(&mut buf, &[b"SELECT", db.as_bytes()]);
            }
            for (_, name) in &keys {
                crate::resp::command::write(&mut buf, &[b"EXISTS", name]);
            }
            c.send_raw(&buf).map_err(|e| e.to_string())?;
            if !cluster {
                c.read_reply().map_err(|e| e.to_string())?;
            }
            let mut found = Vec::new();
            for (rec, name) in keys {
                if c.read_reply().map_err(|e| e.to_string())? == Reply::Int(1) {
                    found.push((rec, name));
                }
            }
            for (rec, name) in found {
                self.dropped.insert(rec);
                self.ledger.passed(rec);
                if self.on_conflict == Conflict::Skip {
                    self.t.report.skipped += 1;
                } else {
                    self.fail(
                        &addr,
                        String::from_utf8_lossy(&name).into_owned(),
                        "the key exists (--on-conflict fail)".into(),
                    );
                }
            }
        }
        Ok(())
    }

    fn gather(&mut self, i: usize, piece: &[u8], e: Expect) {
        if self.gathered.len() <= i {
            self.gathered.resize_with(i + 1, Default::default);
        }
        self.gathered[i].0.extend_from_slice(piece);
        self.gathered[i].1.push(e);
    }

    /// Sends what was gathered for node `i` (after waiting for room in its window).
    fn flush_node(&mut self, i: usize) {
        let Some((bytes, es)) = self.gathered.get_mut(i) else { return };
        if es.is_empty() && bytes.is_empty() {
            return;
        }
        let (bytes, es) = (std::mem::take(bytes), std::mem::take(es));
        self.t.nodes[i].wait_below(self.t.window);
        self.t.nodes[i].send_many(&bytes, es);
        let slot = &mut self.gathered[i].0;
        if slot.capacity() == 0 {
            *slot = bytes;
            slot.clear();
        }
    }
}

impl Sink for FileLoad<'_, '_> {
    fn select(&mut self, db: u64) -> std::io::Result<()> {
        self.t.acquire();
        let r = self.select_locked(db);
        self.t.release();
        r
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.t.acquire();
        let r = self.write_locked(bytes);
        self.t.release();
        r
    }

    fn write_owned(&mut self, b: Vec<u8>, marks: Vec<Mark>) -> std::io::Result<()> {
        self.t.acquire();
        let r = self.write_owned_locked(b, marks);
        self.t.release();
        r
    }

    fn pool(&self) -> &std::sync::Arc<BufPool> {
        &self.pool
    }

    fn wants_marks(&self) -> bool {
        true
    }
}

/// The engine's calls, with the target's lock held.
impl FileLoad<'_, '_> {
    fn select_locked(&mut self, db: u64) -> std::io::Result<()> {
        let db = self.to_db.unwrap_or(db);
        if self.t.cluster && db != 0 {
            return Err(err_io(format!(
                "the dump has keys in db {db}, and a cluster has only db 0: choose one with --db N (and --to-db 0)"
            )));
        }
        self.db = db;
        Ok(())
    }

    fn write_locked(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // a mapped piece of the key being written: after what was gathered for its node
        if let Some(i) = self.cur {
            self.flush_node(i);
            self.t.nodes[i].send(bytes, None);
        }
        Ok(())
    }

    fn write_owned_locked(&mut self, b: Vec<u8>, mut marks: Vec<Mark>) -> std::io::Result<()> {
        if let Some(sig) = crate::stop::requested() {
            return Err(crate::stop::error(sig));
        }
        if crate::input::faulted() {
            return Err(err_io("the dump changed while it was being read; nothing more is sent".into()));
        }
        if self.on_conflict != Conflict::Replace {
            self.leave_existing(&marks).map_err(err_io)?;
        }
        for m in &mut marks {
            if m.record == usize::MAX {
                continue;
            }
            if Some(m.record) != self.unfinished && !self.dropped.contains(&m.record) {
                self.ledger.sent(m.record, self.db, m.name.take());
            } else {
                self.ledger.passed(m.record);
            }
        }
        self.unfinished = marks.last().filter(|m| !m.end).map(|m| m.record);
        // each node's keys gathered into one write per piece
        for (j, m) in marks.iter().enumerate() {
            let piece = &b[m.at..marks.get(j + 1).map_or(b.len(), |n| n.at)];
            if m.record == usize::MAX {
                // keyless (FUNCTION LOAD): every master
                self.t.globals.push(piece.to_vec());
                for i in self.t.masters() {
                    self.gather(i, piece, Expect { tag: Tag::Global, cmds: m.cmds, bytes: piece.len(), end: m.end });
                }
                self.cur = None;
                continue;
            }
            if self.dropped.contains(&m.record) {
                if m.end && !self.ledger.is_retrying(m.record) {
                    self.dropped.remove(&m.record);
                }
                self.cur = None;
                continue;
            }
            let i = self.t.route(m.slot.unwrap_or(0), self.db).map_err(err_io)?;
            if let Some(reason) = self.t.gave_up_on(i).cloned() {
                let addr = self.t.nodes[i].addr.clone();
                self.abandon(&addr, m.record, m.end, reason);
                if m.end {
                    self.dropped.remove(&m.record);
                }
                self.cur = None;
                continue;
            }
            self.gather(
                i,
                piece,
                Expect {
                    tag: Tag::Key { file: self.file, record: m.record, db: self.db },
                    cmds: m.cmds,
                    bytes: piece.len(),
                    end: m.end,
                },
            );
            self.cur = Some(i);
        }
        for i in 0..self.gathered.len() {
            self.flush_node(i);
        }
        self.pool.put(b);
        self.collect()?;
        let done = self.done_upto();
        self.record_progress(done, false)?;
        if let Some((bar, _)) = &self.progress {
            let upto = marks.iter().filter(|m| m.record != usize::MAX).map(|m| m.record as u64).max().unwrap_or(0);
            bar.inc(upto.saturating_sub(self.shown));
            self.shown = self.shown.max(upto);
            let loaded = self.t.report.loaded;
            bar.set_message(format!(
                "{loaded} keys, {:.0} keys/s",
                loaded as f64 / bar.elapsed().as_secs_f64().max(1e-3)
            ));
        }
        Ok(())
    }
}
