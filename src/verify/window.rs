//! Keys checked in windows: each key's commands prepared from the dump, one pipelined
//! write per node per window, the replies handed to the comparison.

// a part of verify: it shares the module's imports and types
use super::*;

/// Keys gathered for one pipelined round trip.
#[derive(Default)]
pub(super) struct Window<'a> {
    pub(super) items: Vec<Item<'a>>,
    pub(super) bytes: usize,
}

/// One key of a window: its commands and what they must answer.
pub(super) struct Item<'a> {
    pub(super) k: Key<'a>,
    pub(super) name: Vec<u8>,
    /// The db it is looked for in.
    pub(super) db: u64,
    /// `TYPE`, the expiry, the value or cardinality, then a small collection's elements.
    pub(super) cmds: Cmds,
    pub(super) want: Want,
    /// Memory the item holds (expected values and commands), roughly.
    pub(super) bytes: usize,
}

/// What the third and later replies of an item must be.
pub(super) enum Want {
    /// `GET`.
    String(Vec<u8>),
    /// `STRLEN`, then pieces compared after the window.
    LongString(usize),
    /// `DUMP`: compared with the dump's bytes.
    Module,
    /// The cardinality, then the elements of a collection that fits one batch.
    Elements { batch: Batch, seen: u64, single: bool, expired_fields: u64, ttl_skipped: u64 },
    /// The cardinality; the elements (and a stream's groups) are checked after the window.
    Big,
}

impl Verifier {
    /// The commands that check key `k`, and what they must answer.
    pub(super) fn prepare<'a>(
        &self,
        k: Key<'a>,
        name: Vec<u8>,
        db: u64,
        scratch: &mut Scratch,
    ) -> Result<Item<'a>, Error> {
        let server = &self.p.server;
        let kind = types::kind(k.ty());
        let mut cmds = Cmds::default();
        cmds.push(&[b"TYPE", &name]);
        cmds.push(&[if server.stream_counters() { b"PEXPIRETIME" } else { b"PTTL" }, &name]);
        let mut bytes = 64 + name.len();
        let want = match kind {
            Kind::String => {
                let mut v = StringValue(None);
                k.decode(&mut v, scratch)?;
                let v = v.0.unwrap_or_default();
                if v.len() > STRING_PIECE {
                    cmds.push(&[b"STRLEN", &name]);
                    Want::LongString(v.len())
                } else {
                    cmds.push(&[b"GET", &name]);
                    bytes += 2 * v.len();
                    Want::String(v)
                }
            }
            Kind::Module => {
                cmds.push(&[b"DUMP", &name]);
                bytes += 2 * k.dump_len();
                Want::Module
            }
            Kind::Stream => {
                cmds.push(&[b"XLEN", &name]);
                Want::Big
            }
            _ => {
                let card: &[u8] = match kind {
                    Kind::List => b"LLEN",
                    Kind::Set => b"SCARD",
                    Kind::Zset => b"ZCARD",
                    _ => b"HLEN",
                };
                cmds.push(&[card, &name]);
                let mut c = Collect::new(kind, &self.filter, server, None);
                match k.decode(&mut c, scratch) {
                    Err(Halt::Overflow) => Want::Big,
                    Err(Halt::Format(e)) => return Err(e.into()),
                    Err(Halt::Target(e)) => return Err(e),
                    Ok(()) => {
                        bytes += 2 * c.batch.bytes;
                        batch_cmds(&mut cmds, kind, &name, &c.batch, 0, c.single);
                        Want::Elements {
                            batch: c.batch,
                            seen: c.seen,
                            single: c.single,
                            expired_fields: c.expired_fields,
                            ttl_skipped: c.ttl_skipped,
                        }
                    }
                }
            }
        };
        Ok(Item { k, name, db, cmds, want, bytes })
    }

    /// Sends the window's commands (one write per node), judges the replies, then finishes
    /// the keys too big for one batch one by one.
    pub(super) fn run_window(
        &mut self,
        w: &mut Window,
        scratch: &mut Scratch,
    ) -> Result<(), Error> {
        let items = std::mem::take(&mut w.items);
        w.bytes = 0;
        if items.is_empty() {
            return Ok(());
        }
        // per node: bytes to send, and per reply to read, the item it belongs to (None: SELECT)
        let mut plan: Vec<(Vec<u8>, Vec<Option<usize>>)> = Vec::new();
        for (j, it) in items.iter().enumerate() {
            let i = self.p.node_of(&it.name);
            if plan.len() <= i {
                plan.resize_with(i + 1, Default::default);
            }
            let (buf, order) = &mut plan[i];
            if self.p.select_into(i, it.db, buf) {
                order.push(None);
            }
            buf.extend_from_slice(it.cmds.bytes());
            order.extend(std::iter::repeat_n(Some(j), it.cmds.len()));
        }
        for (i, (buf, _)) in plan.iter().enumerate() {
            if !buf.is_empty() {
                self.p.send(i, buf)?;
            }
        }
        let mut replies: Vec<Vec<Reply>> =
            items.iter().map(|it| Vec::with_capacity(it.cmds.len())).collect();
        for (i, (_, order)) in plan.iter().enumerate() {
            for who in order {
                match who {
                    None => self.p.read_select(i)?,
                    Some(j) => replies[*j].push(self.p.read(i)?),
                }
            }
        }
        for (it, mut r) in items.into_iter().zip(replies) {
            let redirected =
                r.iter().any(|x| matches!(x, Reply::Error(e) if e.starts_with(b"MOVED ") || e.starts_with(b"ASK ")));
            if redirected {
                r = self.p.run(&it.name, it.db, &it.cmds)?;
            }
            self.judge(&it, &r, scratch)?;
        }
        Ok(())
    }
}
