//! What a target is: its version and mode ([`probe`]), and on a cluster which node serves
//! each slot ([`SlotMap`]).

use std::time::Duration;

use super::access::Answer;
use super::client::Conn;
use super::error::Error;
use super::handshake::handshake;
use super::url::Url;
use crate::format::Dialect;
use crate::resp::Reply;
use crate::server::Server;

/// Number of hash slots of a cluster.
pub const SLOTS: usize = 16384;

fn info_field<'r>(info: &'r str, name: &str) -> Option<&'r str> {
    info.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':'))).map(str::trim)
}

/// A reply as text, for messages.
pub(crate) fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(Some(b)) | Reply::Status(b) | Reply::Error(b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        other => format!("{other:?}"),
    }
}

/// Asks the server at `url` its version, and whether it runs in cluster mode.
pub fn probe(url: &Url) -> Result<(Server, bool), Error> {
    let p = probe_with(url, &Hints::default())?;
    Ok((p.server, p.cluster))
}

/// How to take a target that does not say what it is (`INFO` denied, a proxy).
#[derive(Clone, Copy, Debug, Default)]
pub struct Hints {
    /// The target's version as the user gave it (`--target-version`): used instead of
    /// what the server says.
    pub version: Option<Server>,
    /// The target is a proxy that routes keys itself (`--proxy`): one connection, no
    /// cluster commands.
    pub proxy: bool,
}

/// How long the probe waits for the answer to a write command (see [`probe_with`]).
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// What a target is and what the user may run on it.
#[derive(Clone, Debug)]
pub struct Probe {
    pub server: Server,
    /// Where the version came from: `INFO`, `HELLO` or `--target-version`.
    pub version_from: &'static str,
    pub cluster: bool,
    /// Taken as a proxy: asked (`--proxy`), or neither `INFO` nor `HELLO` answered.
    pub proxy: bool,
    pub access: super::access::Access,
}

/// `HELLO`'s fields (a flat array of names and values in RESP2).
fn hello_field(r: &Reply, name: &str) -> Option<String> {
    let Reply::Array(Some(v)) = r else { return None };
    v.chunks(2).find(|kv| matches!(&kv[0], Reply::Bulk(Some(k)) if k == name.as_bytes())).and_then(
        |kv| match kv.get(1) {
            Some(Reply::Bulk(Some(b))) | Some(Reply::Status(b)) => {
                Some(String::from_utf8_lossy(b).into_owned())
            }
            _ => None,
        },
    )
}

/// Asks the server at `url` its version (`INFO`, else `HELLO`, else the hint), its mode,
/// and what the user may run there ([`super::access::Access`]).
pub fn probe_with(url: &Url, hints: &Hints) -> Result<Probe, Error> {
    let addr = url.addr();
    let mut conn = Some(handshake(url, &addr, Duration::from_secs(10))?);
    // one command; a connection closed instead of an answer is reopened for the next. A
    // write command (RESTORE, FUNCTION LOAD) waits for its answer at most PROBE_WAIT: a
    // paused server holds writes back, and a load must still find it (and wait on it as
    // it waits on any silent server)
    let mut ask = |args: &[&str], write: bool| -> Result<Answer, Error> {
        let c = match &mut conn {
            Some(c) => c,
            None => conn.insert(handshake(url, &addr, Duration::from_secs(10))?),
        };
        let full = c.timeout();
        if write {
            c.set_timeout(full.min(PROBE_WAIT))?;
        }
        let r = c.cmd(args);
        if write && r.is_ok() {
            c.set_timeout(full)?;
        }
        match r {
            Ok(r) => Ok(Answer::Reply(r)),
            Err(e) if write && e.is_timeout() => {
                conn = None;
                Ok(Answer::NoAnswer)
            }
            Err(e) if e.is_timeout() => Err(e),
            Err(_) => {
                conn = None;
                Ok(Answer::Closed)
            }
        }
    };
    let reply = |a: Answer| match a {
        Answer::Reply(r) => Some(r),
        _ => None,
    };
    // asked once: its answer is the version and the permission to run INFO
    let info_answer = ask(&["INFO", "server"], false)?;
    let info_perm = info_answer.perm();
    let info = match reply(info_answer) {
        Some(r @ Reply::Bulk(Some(_))) => Some(text(&r)),
        _ => None,
    };
    let from_info = info.as_deref().and_then(|info| match info_field(info, "valkey_version") {
        Some(v) => Server::version(Dialect::Valkey, v.as_bytes()),
        None => info_field(info, "redis_version")
            .and_then(|v| Server::version(Dialect::Redis, v.as_bytes())),
    });
    let hello = if info.is_none() { reply(ask(&["HELLO"], false)?) } else { None };
    let from_hello = hello.as_ref().and_then(|h| {
        let dialect = if hello_field(h, "server").as_deref() == Some("valkey") {
            Dialect::Valkey
        } else {
            Dialect::Redis
        };
        hello_field(h, "version").and_then(|v| Server::version(dialect, v.as_bytes()))
    });
    let (server, version_from) = match (hints.version, from_info, from_hello) {
        (Some(v), _, _) => (v, "--target-version"),
        (None, Some(v), _) => (v, "INFO"),
        (None, None, Some(v)) => (v, "HELLO"),
        (None, None, None) => {
            return Err(Error::Refused {
                addr: url.to_string(),
                what: String::new(),
                msg: "neither INFO nor HELLO gave the server's version (denied, or a proxy): say which it is with --target-version X.Y".into(),
            });
        }
    };
    let proxy = hints.proxy || (from_info.is_none() && from_hello.is_none());
    let cluster = if proxy {
        false
    } else if from_info.is_some() {
        let cinfo = reply(ask(&["INFO", "cluster"], false)?).map(|r| text(&r)).unwrap_or_default();
        info_field(&cinfo, "cluster_enabled") == Some("1")
    } else {
        hello.as_ref().and_then(|h| hello_field(h, "mode")).as_deref() == Some("cluster")
    };
    let access = super::access::Access::probe(&mut ask, server.functions(), info_perm)?;
    Ok(Probe { server, version_from, cluster, proxy, access })
}

/// A node's memory as the user may see it (`INFO memory`, else `CONFIG GET`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub used: Option<u64>,
    /// 0: no limit.
    pub maxmemory: Option<u64>,
    pub policy: Option<String>,
    /// The machine's memory, as the server reports it.
    pub system: Option<u64>,
}

impl Memory {
    /// What the node can still take: up to `maxmemory` when set, else the machine's.
    pub fn free(&self) -> Option<u64> {
        let used = self.used?;
        match self.maxmemory {
            Some(m) if m > 0 => Some(m.saturating_sub(used)),
            _ => self.system.filter(|&s| s > 0).map(|s| s.saturating_sub(used)),
        }
    }

    /// Whether keys may be evicted: a limit and a policy other than `noeviction`. `None`
    /// when the user may see neither.
    pub fn evicts(&self) -> Option<bool> {
        match (self.maxmemory, self.policy.as_deref()) {
            (Some(0), _) => Some(false),
            (Some(_), Some(p)) => Some(p != "noeviction"),
            _ => None,
        }
    }
}

/// Asks the node behind `c` its memory facts.
pub fn memory(c: &mut Conn) -> Result<Memory, Error> {
    let mut m = Memory::default();
    if let Reply::Bulk(Some(b)) = c.cmd(&["INFO", "memory"])? {
        let info = String::from_utf8_lossy(&b);
        let num = |n| info_field(&info, n).and_then(|v| v.parse::<u64>().ok());
        m.used = num("used_memory");
        m.maxmemory = num("maxmemory");
        m.system = num("total_system_memory");
        m.policy = info_field(&info, "maxmemory_policy").map(str::to_string);
    }
    if m.maxmemory.is_none() || m.policy.is_none() {
        for (name, slot) in [("maxmemory", 0), ("maxmemory-policy", 1)] {
            if let Reply::Array(Some(v)) = c.cmd(&["CONFIG", "GET", name])?
                && v.len() == 2
            {
                let t = text(&v[1]);
                if slot == 0 {
                    m.maxmemory = m.maxmemory.or(t.parse().ok());
                } else if m.policy.is_none() {
                    m.policy = Some(t);
                }
            }
        }
    }
    Ok(m)
}

/// Which node serves each slot of a cluster, as an index the owner of the map chooses for
/// each node's address (its connection's place in a list).
///
/// Invariant: `owner[s]` is `None` for a slot no node serves, else the index the caller's
/// `index_of` gave for the address `CLUSTER SLOTS` names for it.
#[derive(Debug, Clone)]
pub struct SlotMap {
    owner: Vec<Option<usize>>,
}

impl Default for SlotMap {
    fn default() -> Self {
        SlotMap { owner: vec![None; SLOTS] }
    }
}

impl SlotMap {
    /// Reads `CLUSTER SLOTS` from the first of `seeds` that answers with slots, and
    /// replaces the map: each master's address becomes an index through `index_of` (which
    /// may connect to it).
    pub fn refresh(
        &mut self,
        url: &Url,
        seeds: &[String],
        index_of: &mut dyn FnMut(&str) -> Result<usize, Error>,
    ) -> Result<(), Error> {
        let mut last = Error::Cluster("no node to ask".into());
        for seed in seeds {
            let ranges = match handshake(url, seed, Duration::from_secs(5))
                .and_then(|mut c| cluster_slots(&mut c, seed))
            {
                Ok(r) if r.is_empty() => {
                    last = Error::Cluster(format!("{seed}: no slots assigned"));
                    continue;
                }
                Ok(r) => r,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            self.owner.iter_mut().for_each(|s| *s = None);
            for (a, b, addr) in ranges {
                let i = index_of(&addr)?;
                for s in a..=b.min(SLOTS - 1) {
                    self.owner[s] = Some(i);
                }
            }
            return Ok(());
        }
        Err(Error::Cluster(format!("cannot read the cluster's slot map: {last}")))
    }

    /// The index of the node serving `slot`, if any does.
    pub fn owner(&self, slot: u16) -> Option<usize> {
        self.owner.get(slot as usize).copied().flatten()
    }

    /// The nodes that serve slots, each once, in index order.
    pub fn owners(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.owner.iter().flatten().copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether node `i` serves any slot.
    pub fn serves(&self, i: usize) -> bool {
        self.owner.contains(&Some(i))
    }
}

/// `CLUSTER SLOTS` of the node `c` (at `seed`): (first slot, last slot, master address); a
/// master without a known IP takes `seed`'s host.
pub fn cluster_slots(c: &mut Conn, seed: &str) -> Result<Vec<(usize, usize, String)>, Error> {
    let r = match c.cmd(&["CLUSTER", "SLOTS"])? {
        Reply::Array(Some(r)) => r,
        other => return Err(Error::refused(seed, "CLUSTER SLOTS", text(&other).as_bytes())),
    };
    let host = seed.rsplit_once(':').map_or(seed, |x| x.0).to_string();
    let mut map = Vec::new();
    for range in r {
        let Reply::Array(Some(f)) = range else { continue };
        let (Some(Reply::Int(a)), Some(Reply::Int(b)), Some(Reply::Array(Some(m)))) =
            (f.first(), f.get(1), f.get(2))
        else {
            continue;
        };
        let ip = match m.first() {
            Some(Reply::Bulk(Some(ip))) if !ip.is_empty() && ip != b"?" => {
                String::from_utf8_lossy(ip).into_owned()
            }
            _ => host.clone(),
        };
        let Some(Reply::Int(port)) = m.get(1) else { continue };
        if *a < 0 || *b < *a {
            continue;
        }
        map.push((*a as usize, *b as usize, format!("{ip}:{port}")));
    }
    Ok(map)
}

/// The masters' node ids in `CLUSTER SLOTS` (what identifies a cluster for a checkpoint:
/// any node gives the same, and a failover or a reshard keeps some of them).
pub fn master_ids(c: &mut Conn, addr: &str) -> Result<Vec<String>, Error> {
    let r = match c.cmd(&["CLUSTER", "SLOTS"])? {
        Reply::Array(Some(r)) => r,
        other => return Err(Error::refused(addr, "CLUSTER SLOTS", text(&other).as_bytes())),
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
        return Err(Error::Cluster(format!("{addr}: CLUSTER SLOTS names no node ids")));
    }
    Ok(ids.into_iter().collect())
}
