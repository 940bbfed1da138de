//! What a target is: its version and mode ([`probe`]), and on a cluster which node serves
//! each slot ([`SlotMap`]).

use std::time::Duration;

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
    let addr = url.addr();
    let mut c = handshake(url, &addr, Duration::from_secs(10))?;
    let info = text(&c.cmd(&["INFO", "server"])?);
    let server = match info_field(&info, "valkey_version") {
        Some(v) => Server::version(Dialect::Valkey, v.as_bytes()),
        None => info_field(&info, "redis_version")
            .and_then(|v| Server::version(Dialect::Redis, v.as_bytes())),
    }
    .ok_or_else(|| Error::Refused {
        addr: url.to_string(),
        what: String::new(),
        msg: "INFO gave no version".into(),
    })?;
    let cinfo = text(&c.cmd(&["INFO", "cluster"])?);
    Ok((server, info_field(&cinfo, "cluster_enabled") == Some("1")))
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
