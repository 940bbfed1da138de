//! The connections a load goes through: one pipelined connection per node (per node and db
//! on a standalone server), the cluster's slot map, reconnects, and the nodes given up.
//! Shared by the loads of several dumps running at once ([`Locked`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::report::Report;
use super::throttle::{self, Limits, Throttle};
use super::{Error, checkpoint};
use crate::net::node::{Done, Expect, Node, Tag};
use crate::net::{self, Conn, SlotMap, Url};
use crate::resp::Reply;
use crate::server::Server;

/// The most unacknowledged bytes a node's paced window grows to (see [`net::pacing`]):
/// 16 MiB covers a 160 ms round trip at 100 MB/s, and bounds the names of the keys in
/// flight a load holds. `--window` fixes the window instead.
pub const WINDOW_CAP: usize = 16 << 20;
/// How long a lost node may take to come back.
pub const RECONNECT_FOR: Duration = Duration::from_secs(60);
/// Timeouts in a row after which a node is given up: it is reconnected at most
/// `STRIKES - 1` times, so a dead node costs about `STRIKES × --timeout`.
pub const STRIKES: u32 = 3;

/// A server or cluster to load into: its connections and what the load did so far.
pub struct Pool {
    pub(super) url: Url,
    pub(super) cluster: bool,
    pub(super) server: Server,
    /// What the target is and what the user may run there.
    pub(super) probe: net::Probe,
    pub(super) nodes: Vec<Node>,
    /// slot -> index into `nodes` (cluster).
    slots: SlotMap,
    pub(super) report: Report,
    /// Unacknowledged bytes allowed per node: the most its paced window grows to, or with
    /// `fixed` the window itself (`--window`).
    pub(super) window: usize,
    pub(super) fixed: bool,
    /// The rate limits, and what they cost.
    pub(super) throttle: Throttle,
    /// Per connection under `--max-latency`: its window now, and when it last changed.
    windows: Vec<(usize, Instant)>,
    /// Where `--metrics` are published.
    pub(super) metrics: Option<super::metrics::Published>,
    /// Keyless commands (`FUNCTION LOAD`) sent so far, resent to a node that reconnects.
    pub(super) globals: Vec<Vec<u8>>,
    /// Plain connections for questions (`--on-conflict`), per node.
    checkers: Vec<Option<Conn>>,
    /// The address the URL names (a standalone server's).
    home: String,
    /// Rung by every connection's reader thread when replies arrive.
    pub(super) bell: std::sync::Arc<net::node::Bell>,
    /// Outcomes of other dumps' keys, seen by a load that was collecting (several dumps
    /// load at once through the same connections): (node, outcome) per dump.
    pub(super) inbox: HashMap<u32, Vec<(usize, Done)>>,
    /// Other dumps' unacknowledged entries from a connection that died, with the reason
    /// and the node's address.
    pub(super) lost: HashMap<u32, Vec<(Expect, String, String)>>,
    /// Per connection: timeouts in a row (a reply or a reconnect that waited the whole
    /// `--timeout`); cleared when it answers again.
    strikes: HashMap<usize, u32>,
    /// Nodes given up after [`STRIKES`] timeouts in a row, with the reason their keys fail.
    pub(super) given_up: BTreeMap<String, String>,
}

/// A [`Pool`] shared by the loads of several dumps running at once: a load holds the lock
/// for one call from its engine at a time (`acquire` .. `release`), and never while it
/// sleeps.
pub struct Locked<'t> {
    m: &'t Mutex<Pool>,
    g: Option<MutexGuard<'t, Pool>>,
}

impl<'t> Locked<'t> {
    pub fn new(m: &'t Mutex<Pool>) -> Self {
        Locked { m, g: None }
    }
    pub(super) fn acquire(&mut self) {
        if self.g.is_none() {
            self.g = Some(self.m.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }
    pub(super) fn release(&mut self) {
        self.g = None;
    }
}

impl std::ops::Deref for Locked<'_> {
    type Target = Pool;
    fn deref(&self) -> &Pool {
        self.g.as_deref().expect("the pool's lock is held")
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Pool {
        self.g.as_deref_mut().expect("the pool's lock is held")
    }
}

impl Pool {
    /// Connects, asks the server its version, and detects a cluster (`cluster_enabled`),
    /// whose slot map it then reads.
    pub fn connect(url: Url) -> Result<Pool, Error> {
        Pool::connect_with(url, &net::Hints::default())
    }

    /// [`Pool::connect`], taking the target as `hints` say where it does not tell.
    pub fn connect_with(url: Url, hints: &net::Hints) -> Result<Pool, Error> {
        let probe = net::probe_with(&url, hints)?;
        let (server, cluster) = (probe.server, probe.cluster);
        if cluster && !probe.access.cluster.allowed() {
            return Err(Error::Refused(format!(
                "{url} is a cluster, and CLUSTER is denied to this user, so its slot map cannot be read: behind a proxy that routes keys itself, say --proxy"
            )));
        }
        let mut t = Pool {
            home: url.addr(),
            url,
            cluster,
            server,
            probe,
            nodes: Vec::new(),
            slots: SlotMap::default(),
            report: Report::default(),
            window: WINDOW_CAP,
            fixed: false,
            throttle: Throttle::default(),
            windows: Vec::new(),
            metrics: None,
            globals: Vec::new(),
            checkers: Vec::new(),
            bell: Default::default(),
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

    /// The server's version.
    pub fn server(&self) -> Server {
        self.server
    }

    /// What the target is and what the user may run there.
    pub fn probe(&self) -> &net::Probe {
        &self.probe
    }

    /// The masters' addresses with their connections (standalone: the server's).
    pub fn master_addrs(&self) -> Vec<(usize, String)> {
        self.masters().into_iter().map(|i| (i, self.nodes[i].addr.clone())).collect()
    }

    /// The connection serving `slot`, if a node does (a cluster; standalone: the server's).
    pub fn slot_owner(&self, slot: u16) -> Option<usize> {
        if self.cluster { self.slots.owner(slot) } else { Some(0) }
    }

    /// Asks connection `i`'s node its memory facts.
    pub fn memory(&mut self, i: usize) -> Result<net::topology::Memory, Error> {
        let a = &self.probe.access;
        if self.probe.proxy || !(a.info.allowed() || a.config.allowed()) {
            // a proxy may close the connection on what it does not know
            return Ok(net::topology::Memory::default());
        }
        let c = self.checker(i)?;
        let r = net::topology::memory(c);
        if r.is_err() {
            // the side connection is not used again after an error (`--on-conflict` asks on it)
            self.checkers[i] = None;
        }
        Ok(r?)
    }

    /// Whether the target is a cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// Fixes the unacknowledged bytes allowed per node (at least 1): no pacing by the path.
    pub fn set_window(&mut self, bytes: usize) {
        self.window = bytes.max(1);
        self.fixed = true;
    }

    /// Sets the sender's limits.
    pub fn set_limits(&mut self, l: Limits) {
        self.throttle = Throttle::new(l);
    }

    /// Publishes the load's metrics on `page` as it goes (`--metrics`).
    pub fn set_metrics(&mut self, page: crate::metrics::Page) {
        self.metrics = Some(super::metrics::Published { page, at: None });
    }

    /// Connection `i`'s window as it stands.
    pub(super) fn window_now(&self, i: usize) -> usize {
        match self.windows.get(i) {
            Some(w) => w.0,
            None => self.paced(i),
        }
    }

    /// Connection `i`'s window before `--max-latency`: the fixed one, or what its path
    /// allows.
    fn paced(&self, i: usize) -> usize {
        match self.fixed {
            true => self.window,
            false => self.nodes[i].paced_window(self.window),
        }
    }

    /// What the sender's limits cost so far.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// Books a write of `ops` operations and `bytes` bytes to connection `i` with the rate
    /// limits, and waits until it may go (a stop ends the wait). The pool's lock stays
    /// held: every write of the run waits on the same budget anyway.
    pub(super) fn pace(&mut self, i: usize, ops: u64, bytes: usize) {
        let (nodes, throttle) = (&self.nodes, &mut self.throttle);
        let mut wait = throttle.book(&nodes[i].addr, ops, bytes);
        while !wait.is_zero() && crate::stop::requested().is_none() {
            let nap = wait.min(Duration::from_millis(100));
            std::thread::sleep(nap);
            wait -= nap;
        }
    }

    /// Connection `i`'s window: the fixed one or what its path allows, and under
    /// `--max-latency` no more than its acknowledgement latency allows (changed at most
    /// once per `max_latency`).
    pub(super) fn window_of(&mut self, i: usize) -> usize {
        let full = self.paced(i);
        let Some(max) = self.throttle.limits().max_latency else { return full };
        if self.windows.len() <= i {
            self.windows.resize(i + 1, (full, Instant::now()));
        }
        // never more than the path allows now (it moves; a reconnected node starts afresh)
        let (w, at) = self.windows[i];
        if at.elapsed() < max {
            return w.min(full);
        }
        let now = throttle::adapt_window(w.min(full), full, self.nodes[i].latency(), max);
        if now < w.min(full) {
            self.throttle.latency_backoffs += 1;
        }
        self.windows[i] = (now, Instant::now());
        now
    }

    /// Whether connection `i`'s window has room for `len` more bytes, waiting at most
    /// `within` for it (true too when the connection died or a stop was asked for: what is
    /// sent then is queued as unacknowledged, or not sent at all).
    pub(super) fn has_room(&mut self, i: usize, len: usize, within: Duration) -> bool {
        let limit = self.window_of(i).saturating_sub(len);
        self.nodes[i].wait_below_for(limit, within)
    }

    /// The index of the connection to `addr` working in `db`, connecting if needed. A
    /// standalone load has one connection per target db, each selected in its handshake: no
    /// `SELECT` ever travels in a pipeline, so nothing can run in the wrong db.
    pub(super) fn node(&mut self, addr: &str, db: u64) -> Result<usize, net::Error> {
        if let Some(i) = self.nodes.iter().position(|n| n.addr == addr && n.db == db) {
            return Ok(i);
        }
        self.nodes.push(Node::connect(&self.url, addr, db, self.bell.clone())?);
        self.report.per_node.entry(addr.to_string()).or_default();
        Ok(self.nodes.len() - 1)
    }

    /// A plain connection to node `i`, for questions outside the pipeline.
    pub(super) fn checker(&mut self, i: usize) -> Result<&mut Conn, net::Error> {
        if self.checkers.len() <= i {
            self.checkers.resize_with(i + 1, || None);
        }
        if self.checkers[i].is_none() {
            self.checkers[i] =
                Some(net::handshake(&self.url, &self.nodes[i].addr, Duration::from_secs(10))?);
        }
        Ok(self.checkers[i].as_mut().expect("connected above"))
    }

    /// Reads the slot map again, from the URL's node or any node known.
    pub(super) fn refresh_slots(&mut self) -> Result<(), net::Error> {
        let mut seeds: Vec<String> = self.nodes.iter().map(|n| n.addr.clone()).collect();
        seeds.insert(0, self.url.addr());
        let mut map = std::mem::take(&mut self.slots);
        let url = self.url.clone();
        let r = map.refresh(&url, &seeds, &mut |addr| self.node(addr, 0));
        self.slots = map;
        r
    }

    /// The connection for a key of `slot` going to `db` (standalone: the server's
    /// connection for that db; a cluster has only db 0).
    pub(super) fn route(&mut self, slot: u16, db: u64) -> Result<usize, net::Error> {
        if !self.cluster {
            // one connection per db to the server (a redirect may have opened others)
            if let Some(i) = self.nodes.iter().position(|n| n.db == db && n.addr == self.home) {
                return Ok(i);
            }
            let addr = self.home.clone();
            return self.node(&addr, db);
        }
        if self.slots.owner(slot).is_none() {
            self.refresh_slots()?;
        }
        self.slots
            .owner(slot)
            .ok_or_else(|| net::Error::Cluster(format!("slot {slot} is not served by any node")))
    }

    /// The connections of the nodes that serve slots (standalone: the server's).
    pub(super) fn masters(&self) -> Vec<usize> {
        if !self.cluster {
            return vec![0];
        }
        self.slots.owners()
    }

    /// Waits until every node has acknowledged everything (or died).
    pub(super) fn drain(&self) {
        for n in &self.nodes {
            n.wait_below(0);
        }
    }

    /// Waits at most `within` for every node to acknowledge everything it was sent.
    pub(super) fn drain_within(&self, within: Duration) {
        let until = Instant::now() + within;
        while Instant::now() < until
            && self.nodes.iter().any(|n| n.in_flight() > 0 && n.dead().is_none())
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Checks, before anything is sent, that every db in `dbs` exists on the target
    /// (standalone: `SELECT` on a side connection; a cluster has only db 0).
    pub fn check_dbs(&mut self, dbs: &[u64]) -> Result<(), Error> {
        if self.cluster {
            return match dbs.iter().find(|&&d| d != 0) {
                Some(d) => Err(Error::Refused(format!(
                    "keys would go to db {d}, and a cluster has only db 0 (load one db with --db N --to-db 0)"
                ))),
                None => Ok(()),
            };
        }
        let addr = self.nodes[0].addr.clone();
        let c = self.checker(0)?;
        // db 0 is every connection's first: nothing to check (and SELECT may be denied)
        for d in dbs.iter().filter(|&&d| d != 0) {
            if let Reply::Error(e) = c.cmd(&["SELECT", &d.to_string()])? {
                let have = match c.cmd(&["CONFIG", "GET", "databases"]) {
                    Ok(Reply::Array(Some(v))) if v.len() == 2 => {
                        format!(" (it has {} databases)", net::topology::text(&v[1]))
                    }
                    _ => String::new(),
                };
                let why = if self.probe.proxy { " (a proxy serves db 0 only)" } else { "" };
                return Err(Error::Refused(format!(
                    "db {d} cannot be selected on {addr}{have}{why}: {}",
                    String::from_utf8_lossy(&e)
                )));
            }
        }
        Ok(())
    }

    /// What identifies the target for a checkpoint: a standalone server by its address, a
    /// cluster by its masters' node ids (any seed node gives the same; a failover or a
    /// reshard keeps some of them).
    pub fn identity(&mut self) -> Result<checkpoint::TargetId, Error> {
        if !self.cluster {
            return Ok(checkpoint::TargetId::Server(self.url.addr()));
        }
        let first = self.masters().first().copied().unwrap_or(0);
        let addr = self.nodes[first].addr.clone();
        let c = self.checker(first)?;
        Ok(checkpoint::TargetId::Cluster(net::topology::master_ids(c, &addr)?))
    }

    /// Connection `i` died or timed out (`why`): when it timed out, one more strike against
    /// it; at [`STRIKES`] in a row its node is given up (a standalone server's connections
    /// for other dbs with it). Returns whether it is.
    pub(super) fn strike(&mut self, i: usize, why: &str, timed_out: bool) -> bool {
        let addr = self.nodes[i].addr.clone();
        if self.given_up.contains_key(&addr) {
            return true;
        }
        if !timed_out {
            return false;
        }
        let n = self.strikes.entry(i).or_default();
        *n += 1;
        if *n < STRIKES {
            return false;
        }
        let reason =
            format!("timed out after {} waiting for {addr}", net::secs(self.url.timeouts.io));
        eprintln!(
            "rdbshift: giving up on {addr}: it timed out {STRIKES} times in a row ({why}); its keys fail"
        );
        self.given_up.insert(addr, reason);
        true
    }

    /// Connection `i` answered: its timeouts are no longer in a row.
    pub(super) fn answered(&mut self, i: usize) {
        if !self.strikes.is_empty() {
            self.strikes.remove(&i);
        }
    }

    /// Why keys for node `i` fail without being sent, if it was given up.
    pub(super) fn gave_up_on(&self, i: usize) -> Option<&String> {
        if self.given_up.is_empty() {
            return None;
        }
        self.given_up.get(&self.nodes[i].addr)
    }

    /// The nodes given up, with why their keys failed.
    pub fn given_up(&self) -> &BTreeMap<String, String> {
        &self.given_up
    }

    /// What the load did so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Reconnects a node whose connection died, for up to [`RECONNECT_FOR`] (a handshake
    /// that times out is a strike: see [`Pool::strike`]). A node given up is left dead;
    /// so is every node after a stop (`stop`).
    pub(super) fn reconnect(&mut self, i: usize, stop: &crate::job::Stop) -> Result<(), Error> {
        let addr = self.nodes[i].addr.clone();
        if self.given_up.contains_key(&addr) {
            return Ok(());
        }
        let start = Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            if stop.requested().is_some() {
                // after a stop nothing more is sent: the connection stays dead
                return Ok(());
            }
            match Node::connect(&self.url, &addr, self.nodes[i].db, self.bell.clone()) {
                Ok(n) => {
                    self.nodes[i] = n;
                    self.report.reconnects += 1;
                    for g in self.globals.clone() {
                        self.nodes[i].send(
                            &g,
                            Some(Expect {
                                tag: Tag::Internal,
                                cmds: 1,
                                bytes: g.len(),
                                end: true,
                                joined: false,
                            }),
                        );
                    }
                    return Ok(());
                }
                Err(e) if e.is_timeout() && self.strike(i, &e.to_string(), true) => return Ok(()),
                Err(e) if start.elapsed() > RECONNECT_FOR => {
                    return Err(Error::Refused(format!(
                        "{addr} did not come back within {}s: {e}",
                        RECONNECT_FOR.as_secs()
                    )));
                }
                Err(_) => {
                    if self.cluster && self.refresh_slots().is_ok() && !self.slots.serves(i) {
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
