//! Pre-flight: what the target is and whether the load may go, decided before the first
//! key is sent and shown as one block (and in the report).
//!
//! It shows the target's version and mode, what the user may run there and how the load
//! adapts, the keys and bytes going to each node (from the pre-pass's counts per slot),
//! and each master's memory. It refuses a target that could lose keys silently: a
//! `maxmemory` with a policy other than `noeviction` (unless eviction is allowed), and a
//! cluster with slots no master serves.

use std::collections::BTreeMap;

use super::pool::Pool;
use super::survey::{PerSlot, Survey};
use crate::encode::text::{json_list, json_object, json_str, size};
use crate::net::access::Perm;
use crate::net::topology::{Memory, SLOTS};

/// What pre-flight found.
#[derive(Debug, Default, Clone)]
pub struct Preflight {
    /// The block for a person, a line each.
    pub lines: Vec<String>,
    /// Why the load may not go (empty: it may).
    pub refusals: Vec<String>,
    pub warnings: Vec<String>,
    /// How the load adapts to what the user may run.
    pub adapted: Vec<String>,
    /// The same, as a JSON object for the report.
    pub json: String,
}

/// One node's share and memory.
#[derive(Debug, Default)]
struct NodeFacts {
    keys: u64,
    bytes: u64,
    memory: Option<Memory>,
    memory_error: Option<String>,
    /// What its keys take in its memory, by the model ([`needs`]).
    needs: Option<u64>,
}

/// What the dumps of a load hold, as pre-flight weighs it: their pre-passes summed.
#[derive(Debug, Default)]
pub struct Held {
    /// The keys to send and their records' bytes, per slot of the name each goes out under.
    pub per_slot: PerSlot,
    pub arrays: u64,
    pub field_ttl_hashes: u64,
    pub functions: u64,
    /// The dumps' size on disk.
    pub on_disk: u64,
    /// Sampled keys estimated for the target by `rdbshift memory`'s model: what a node
    /// needs for its share of the records.
    pub memory: crate::memory::sample::Sample,
    /// What `memory` was estimated for: the target's version, its default allocator.
    pub model: Option<crate::memory::Target>,
}

impl Held {
    /// Adds one dump (`size` bytes on disk) and its pre-pass.
    pub fn add(&mut self, s: &Survey, size: u64) {
        self.per_slot.add(&s.per_slot);
        self.arrays += s.arrays;
        self.field_ttl_hashes += s.field_ttl_hashes;
        self.functions += s.functions;
        self.on_disk += size;
    }
}

/// Checks the target for a load of what `held` counts. `adapted`: what the job changed for
/// the user's permissions.
pub fn check(
    pool: &mut Pool,
    held: &Held,
    allow_eviction: bool,
    adapted: Vec<String>,
) -> Preflight {
    let mut p = Preflight { adapted, ..Default::default() };
    let probe = pool.probe().clone();
    p.warnings.extend(cannot_hold(&probe, held));
    let per_slot = &held.per_slot;
    let masters = pool.master_addrs();
    let mode = if probe.proxy {
        "proxy (keys are routed by it)".to_string()
    } else if pool.is_cluster() {
        format!("cluster of {} masters", masters.len())
    } else {
        "standalone".to_string()
    };
    p.lines.push(format!(
        "target: {} ({} from {}), {mode}",
        pool.url, probe.server, probe.version_from
    ));
    let denied = probe.access.denied();
    p.lines.push(if denied.is_empty() {
        "permissions: every command a load may use is allowed".into()
    } else {
        format!("permissions: denied {}", denied.join(", "))
    });
    for a in &p.adapted {
        p.lines.push(format!("adapted: {a}"));
    }
    // keys and bytes per node, and the slots no master serves
    let mut nodes: BTreeMap<String, NodeFacts> = BTreeMap::new();
    let by_index: BTreeMap<usize, String> = masters.iter().cloned().collect();
    let (mut orphan_slots, mut orphan_keys) = (0u64, 0u64);
    for (slot, &(keys, bytes)) in per_slot.0.iter().enumerate() {
        match pool.slot_owner(slot as u16).and_then(|i| by_index.get(&i)) {
            Some(addr) => {
                let n = nodes.entry(addr.clone()).or_default();
                n.keys += keys;
                n.bytes += bytes;
            }
            None => {
                orphan_slots += 1;
                orphan_keys += keys;
            }
        }
    }
    if pool.is_cluster() && orphan_slots > 0 {
        p.refusals.push(format!(
            "{orphan_slots} of the cluster's {SLOTS} slots are served by no master ({orphan_keys} of the selected keys hash to them): fix the cluster's slot assignment first"
        ));
    }
    for (i, addr) in &masters {
        let n = nodes.entry(addr.clone()).or_default();
        match pool.memory(*i) {
            Ok(m) => n.memory = Some(m),
            Err(e) => n.memory_error = Some(e.to_string()),
        }
    }
    let total: (u64, u64) = per_slot.total();
    p.lines.push(format!(
        "to send: {} keys, {} of records (the dumps: {} on disk)",
        total.0,
        size(total.1),
        size(held.on_disk)
    ));
    for n in nodes.values_mut() {
        n.needs = needs(held, n);
    }
    for (addr, n) in &nodes {
        let mem = match &n.memory {
            Some(m) => {
                let mut v = Vec::new();
                if let Some(u) = m.used {
                    v.push(format!("used {}", size(u)));
                }
                match m.maxmemory {
                    Some(0) => v.push("no maxmemory".into()),
                    Some(x) => v.push(format!("maxmemory {}", size(x))),
                    None => v.push("maxmemory unknown".into()),
                }
                v.push(format!("policy {}", m.policy.as_deref().unwrap_or("unknown")));
                v.join(", ")
            }
            None => format!("memory unknown: {}", n.memory_error.as_deref().unwrap_or("?")),
        };
        let need =
            n.needs.map(|x| format!(", needs about {} in memory", size(x))).unwrap_or_default();
        p.lines.push(format!("  {addr}: {} keys, {}{need}; {mem}", n.keys, size(n.bytes)));
        let Some(m) = &n.memory else { continue };
        match m.evicts() {
            Some(true) if !allow_eviction => p.refusals.push(format!(
                "{addr} has maxmemory {} with maxmemory-policy {}: keys could be evicted silently during the load (set noeviction, or say --allow-eviction)",
                size(m.maxmemory.unwrap_or(0)),
                m.policy.as_deref().unwrap_or("?")
            )),
            Some(true) => p.warnings.push(format!(
                "{addr} may evict keys (maxmemory-policy {}): --allow-eviction says go on; verify afterwards",
                m.policy.as_deref().unwrap_or("?")
            )),
            None => p.warnings.push(format!(
                "{addr}: cannot tell whether it evicts keys (neither INFO nor CONFIG is allowed)"
            )),
            Some(false) => {}
        }
        if let Some(free) = m.free()
            && free < n.needs.unwrap_or(n.bytes)
        {
            p.warnings.push(match n.needs {
                Some(x) => format!(
                    "{addr} has {} free and needs about {} for its {} keys ({} of records; rdbshift memory's model for {}, from {} sampled keys): the load may run out of memory",
                    size(free),
                    size(x),
                    n.keys,
                    size(n.bytes),
                    probe.server,
                    held.memory.keys
                ),
                None => format!(
                    "{addr} has {} free and is sent {} of records (a value takes more memory than on disk): the load may run out of memory",
                    size(free),
                    size(n.bytes)
                ),
            });
        }
    }
    for w in &p.warnings {
        p.lines.push(format!("warning: {w}"));
    }
    p.json = to_json(&p, &probe, &mode, &nodes, total);
    p
}

/// What a node's share of the keys takes in its memory, by `rdbshift memory`'s model
/// ([`Held::model`]): the sampled keys' ratio of memory to record bytes, applied to the
/// node's records, and the keyspace's table for its keys. `None` when nothing was sampled.
fn needs(held: &Held, n: &NodeFacts) -> Option<u64> {
    let values = held.memory.scale(n.bytes)?;
    Some(values + crate::memory::tally::keyspace_overhead(held.model.as_ref()?, n.keys, 0))
}

/// What the dumps hold that the target cannot: arrays before Redis 8.8, hashes stored with
/// field TTLs before Redis 7.4 / Valkey 9 (their TTLs), function libraries it has no
/// `FUNCTION LOAD` for or denies. The run counts each exactly (streams' IDMP and NACKs too).
fn cannot_hold(probe: &crate::net::Probe, held: &Held) -> Vec<String> {
    let server = probe.server;
    let mut v = Vec::new();
    if !server.arrays() && held.arrays > 0 {
        v.push(format!(
            "{} array(s): {server} has no arrays (Redis 8.8 has them); they are not sent",
            held.arrays
        ));
    }
    let ttl_hashes = held.field_ttl_hashes;
    if !server.field_ttl() && ttl_hashes > 0 {
        v.push(format!(
            "{ttl_hashes} hash(es) stored with field TTLs: {server} has none (Redis 7.4, Valkey 9); the TTLs are not carried"
        ));
    }
    let denied = matches!(probe.access.function, Perm::Denied(_));
    if held.functions > 0 && (!server.functions() || denied) {
        let why = if denied { "FUNCTION LOAD is denied" } else { "it has no FUNCTION LOAD" };
        v.push(format!("{} function librar(y/ies): {why}; not carried", held.functions));
    }
    v
}

fn to_json(
    p: &Preflight,
    probe: &crate::net::Probe,
    mode: &str,
    nodes: &BTreeMap<String, NodeFacts>,
    total: (u64, u64),
) -> String {
    let mut o = Vec::new();
    o.extend_from_slice(b"{\"version\":");
    json_str(&mut o, &probe.server.to_string());
    o.extend_from_slice(b",\"version_from\":");
    json_str(&mut o, probe.version_from);
    o.extend_from_slice(b",\"mode\":");
    json_str(&mut o, mode);
    o.extend_from_slice(b",\"permissions\":");
    let perms: Vec<(String, String)> = probe
        .access
        .lines()
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Perm::Allowed => "allowed".to_string(),
                Perm::Denied(why) => format!("denied: {why}"),
                Perm::NotAsked => "not asked".to_string(),
                Perm::Unknown(why) => format!("unknown: {why}"),
            };
            (k.to_string(), v)
        })
        .collect();
    json_object(&mut o, perms.iter().map(|(k, v)| (k, v)), |o, v| json_str(o, v));
    o.extend_from_slice(format!(",\"keys\":{},\"bytes\":{}", total.0, total.1).as_bytes());
    o.extend_from_slice(b",\"nodes\":");
    json_object(&mut o, nodes, |o, n| {
        let num = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
        let m = n.memory.clone().unwrap_or_default();
        o.extend_from_slice(
            format!(
                "{{\"keys\":{},\"bytes\":{},\"needs\":{},\"used_memory\":{},\"maxmemory\":{},\"free\":{},\"policy\":",
                n.keys,
                n.bytes,
                num(n.needs),
                num(m.used),
                num(m.maxmemory),
                num(m.free())
            )
            .as_bytes(),
        );
        match &m.policy {
            Some(pol) => json_str(o, pol),
            None => o.extend_from_slice(b"null"),
        }
        o.push(b'}');
    });
    for (name, list) in
        [("adapted", &p.adapted), ("warnings", &p.warnings), ("refused", &p.refusals)]
    {
        o.extend_from_slice(format!(",\"{name}\":").as_bytes());
        json_list(&mut o, list, |o, s| json_str(o, s));
    }
    o.push(b'}');
    String::from_utf8(o).expect("JSON text is UTF-8")
}
