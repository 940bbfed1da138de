//! The target as verify sees it: one blocking connection per node, keys routed by slot on
//! a cluster, redirects followed through the connection layer ([`crate::net`]).

use std::time::Duration;

use crate::encode::text::quote;
use crate::net::{self, Conn, Redirect, SlotMap, Url};
use crate::resp::Reply;
use crate::server::Server;

/// Commands written into one buffer, counted; where each starts is kept, so that they can
/// be sent again each after `ASKING` without parsing them back.
#[derive(Default, Clone)]
pub(crate) struct Cmds {
    buf: Vec<u8>,
    starts: Vec<usize>,
}

impl Cmds {
    pub(crate) fn push(&mut self, args: &[&[u8]]) {
        self.starts.push(self.buf.len());
        crate::resp::command::write(&mut self.buf, args);
    }
    /// The commands' bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }
    /// How many commands there are.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }
    /// The same commands, each after an `ASKING` (a slot being migrated).
    fn with_asking(&self) -> Cmds {
        let mut out = Cmds::default();
        for (n, &at) in self.starts.iter().enumerate() {
            let end = self.starts.get(n + 1).copied().unwrap_or(self.buf.len());
            out.push(&[b"ASKING"]);
            out.starts.push(out.buf.len());
            out.buf.extend_from_slice(&self.buf[at..end]);
        }
        out
    }
}

/// One connection to a node, with the db it has selected.
struct Link {
    addr: String,
    conn: Conn,
    db: u64,
}

/// Connections to the target: one per node, keys routed by slot on a cluster.
pub struct Peers {
    url: Url,
    cluster: bool,
    pub(crate) server: Server,
    links: Vec<Link>,
    /// Slot -> index into `links` (cluster).
    slots: SlotMap,
}

/// How long a reply may take.
const TIMEOUT: Duration = Duration::from_secs(60);

impl Peers {
    /// Connects to the target; on a cluster, reads its slot map and connects to every master.
    pub fn connect(url: Url) -> Result<Peers, net::Error> {
        let (server, cluster) = net::probe(&url)?;
        let mut p = Peers { url, cluster, server, links: Vec::new(), slots: SlotMap::default() };
        p.refresh()?;
        Ok(p)
    }

    /// Whether the target is a cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The target's version.
    pub fn server(&self) -> Server {
        self.server
    }

    fn link(&mut self, addr: &str) -> Result<usize, net::Error> {
        if let Some(i) = self.links.iter().position(|c| c.addr == addr) {
            return Ok(i);
        }
        let conn = net::handshake(&self.url, addr, TIMEOUT)?;
        self.links.push(Link { addr: addr.to_string(), conn, db: 0 });
        Ok(self.links.len() - 1)
    }

    fn refresh(&mut self) -> Result<(), net::Error> {
        let a = self.url.addr();
        self.link(&a)?;
        if !self.cluster {
            return Ok(());
        }
        let seeds: Vec<String> =
            std::iter::once(a).chain(self.links.iter().map(|l| l.addr.clone())).collect();
        let mut map = std::mem::take(&mut self.slots);
        let url = self.url.clone();
        let r = map.refresh(&url, &seeds, &mut |addr| self.link(addr));
        self.slots = map;
        r
    }

    pub(crate) fn node_of(&self, key: &[u8]) -> usize {
        if self.cluster { self.slots.owner(crate::slot::of(key)).unwrap_or(0) } else { 0 }
    }

    /// The nodes that serve slots (standalone: the one node).
    pub(crate) fn masters(&self) -> Vec<usize> {
        if self.cluster { self.slots.owners() } else { vec![0] }
    }

    /// The address of node `i`.
    pub(crate) fn addr(&self, i: usize) -> &str {
        &self.links[i].addr
    }

    /// Writes a `SELECT` into `buf` when node `i` is not on `db` (standalone only); true if
    /// it did (its reply comes first).
    pub(crate) fn select_into(&mut self, i: usize, db: u64, buf: &mut Vec<u8>) -> bool {
        if self.cluster || self.links[i].db == db {
            return false;
        }
        crate::resp::command::write(buf, &[b"SELECT", db.to_string().as_bytes()]);
        self.links[i].db = db;
        true
    }

    pub(crate) fn send(&mut self, i: usize, bytes: &[u8]) -> Result<(), net::Error> {
        self.links[i].conn.send_raw(bytes)
    }

    pub(crate) fn read(&mut self, i: usize) -> Result<Reply, net::Error> {
        self.links[i].conn.read_reply()
    }

    /// Reads the reply of a `SELECT` written by [`Peers::select_into`].
    pub(crate) fn read_select(&mut self, i: usize) -> Result<(), net::Error> {
        match self.read(i)? {
            Reply::Error(e) => Err(net::Error::refused(
                &self.links[i].addr,
                &format!("SELECT {}", self.links[i].db),
                &e,
            )),
            _ => Ok(()),
        }
    }

    /// Runs `cmds` on node `i` in `db`, pipelined; no redirects followed.
    pub(crate) fn exec(
        &mut self,
        i: usize,
        db: u64,
        cmds: &Cmds,
    ) -> Result<Vec<Reply>, net::Error> {
        let mut buf = Vec::new();
        let select = self.select_into(i, db, &mut buf);
        buf.extend_from_slice(&cmds.buf);
        self.send(i, &buf)?;
        if select {
            self.read_select(i)?;
        }
        (0..cmds.len()).map(|_| self.read(i)).collect()
    }

    /// Runs the commands of `key` (in `db`) pipelined and returns their replies; follows
    /// `MOVED` (slot map read again) and `ASK` (each command after `ASKING`).
    pub(crate) fn run(
        &mut self,
        key: &[u8],
        db: u64,
        cmds: &Cmds,
    ) -> Result<Vec<Reply>, net::Error> {
        let mut ask: Option<usize> = None;
        for _ in 0..5 {
            let out = match ask {
                None => {
                    let i = self.node_of(key);
                    self.exec(i, db, cmds)?
                }
                Some(i) => {
                    self.exec(i, db, &cmds.with_asking())?.into_iter().skip(1).step_by(2).collect()
                }
            };
            let seed = self.addr(self.node_of(key)).to_string();
            match out.iter().find_map(Redirect::parse) {
                None => return Ok(out),
                Some(Redirect::Moved { .. }) => {
                    self.refresh()?;
                    ask = None;
                }
                Some(r @ Redirect::Ask { .. }) => ask = Some(self.link(&r.addr_from(&seed))?),
            }
        }
        Err(net::Error::Cluster(format!("{}: keeps being redirected", quote(key))))
    }
}
