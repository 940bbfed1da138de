//! A 3-master Redis Cluster of real servers on loopback (read back for comparisons by
//! [`super::readback`], each node's own keys from that node).
#![allow(dead_code)]

use crate::common::proc::Timed;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::resp::Reply;

use super::Server;

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
            let mut args = vec![
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &conf,
                "--cluster-node-timeout",
                "5000",
            ];
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
                let Reply::Bulk(Some(b)) = r else { panic!("CLUSTER INFO: {r:?}") };
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
}
