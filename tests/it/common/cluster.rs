//! A 3-master Redis Cluster of real servers on loopback, and a connection that routes each
//! command to the node that owns its key (for comparing a cluster with a standalone server).
#![allow(dead_code)]

use std::process::Command;
use crate::common::proc::Timed;
use std::time::{Duration, Instant};

use crate::common::resp::Reply;
use crate::common::resp::Conn;

use super::Server;
use super::servercmp::Peer;

pub struct Cluster {
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// Starts `name` three times with cluster mode on and creates the cluster.
    pub fn start(name: &str) -> Option<Cluster> {
        Self::start_with(name, &[])
    }

    pub fn start_with(name: &str, extra: &[&str]) -> Option<Cluster> {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let conf = format!("nodes-{}.conf", super::unique());
            // the bus port is P + 100 (free_port keeps it free), which 7.0+ can be told
            let mut args =
                vec!["--cluster-enabled", "yes", "--cluster-config-file", &conf, "--cluster-node-timeout", "5000"];
            args.extend_from_slice(extra);
            let s = Server::start_ok(name, None, &args)?;
            nodes.push(s);
        }
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr()).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output_timed();
        assert!(
            out.status.success(),
            "cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let t = Instant::now();
        'wait: loop {
            assert!(t.elapsed() < Duration::from_secs(30), "cluster did not reach state ok");
            for n in &nodes {
                let r = n.conn().cmd(&["CLUSTER", "INFO"]).unwrap();
                let Reply::Bulk(Some(b)) = r else { panic!() };
                if !String::from_utf8_lossy(&b).contains("cluster_state:ok") {
                    std::thread::sleep(Duration::from_millis(100));
                    continue 'wait;
                }
            }
            break;
        }
        Some(Cluster { nodes })
    }

    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    pub fn peer(&self) -> ClusterPeer {
        let mut conns = Vec::new();
        for n in &self.nodes {
            let mut c = n.conn();
            let Reply::Array(Some(slots)) = c.cmd(&["CLUSTER", "SLOTS"]).unwrap() else { panic!() };
            let _ = slots;
            conns.push(c);
        }
        let mut owner = vec![0usize; 16384];
        let Reply::Array(Some(slots)) = conns[0].cmd(&["CLUSTER", "SLOTS"]).unwrap() else { panic!() };
        for r in slots {
            let Reply::Array(Some(f)) = r else { continue };
            let (Reply::Int(a), Reply::Int(b), Reply::Array(Some(m))) = (&f[0], &f[1], &f[2]) else { continue };
            let Reply::Int(port) = m[1] else { continue };
            let i = self.nodes.iter().position(|n| n.port as i64 == port).unwrap();
            for s in *a..=*b {
                owner[s as usize] = i;
            }
        }
        ClusterPeer { conns, owner }
    }
}

pub struct ClusterPeer {
    conns: Vec<Conn>,
    owner: Vec<usize>,
}

/// Where the key is in a command the comparison sends.
fn key_index(args: &[&[u8]]) -> Option<usize> {
    let cmd = String::from_utf8_lossy(args[0]).to_ascii_uppercase();
    match cmd.as_str() {
        "DEBUG" | "XINFO" => Some(2),
        "FUNCTION" | "SELECT" | "SCAN" => None,
        _ => Some(1),
    }
}

impl Peer for ClusterPeer {
    fn call(&mut self, args: &[&[u8]]) -> Reply {
        match key_index(args) {
            Some(i) => {
                let n = self.owner[crate::common::checksum::slot(args[i]) as usize];
                self.conns[n].call(args).unwrap()
            }
            None if args[0].eq_ignore_ascii_case(b"SELECT") => Reply::Status(b"OK".to_vec()),
            None => self.conns[0].call(args).unwrap(),
        }
    }
    fn keys(&mut self) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        for c in &mut self.conns {
            all.extend(super::datagen::scan(c, "*"));
        }
        all
    }
}
