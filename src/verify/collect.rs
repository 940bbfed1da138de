//! A value's elements gathered into batches while it is decoded (checked as they fill,
//! for a big key), and the commands that fetch a batch from the target.

// a part of verify: it shares the module's imports and types
use super::*;

/// Elements of one batch of a collection, as the dump has them.
#[derive(Default)]
pub(super) struct Batch {
    /// (item / member / field, score text / value).
    pub(super) elems: Vec<(Vec<u8>, Vec<u8>)>,
    /// Hash fields' expiries (-1: none), when the target has field TTLs.
    pub(super) ttls: Vec<(Vec<u8>, i64)>,
    /// Stream entries: ID and flat field/value list.
    pub(super) entries: Vec<(StreamId, Vec<Vec<u8>>)>,
    /// Bytes held.
    pub(super) bytes: usize,
}

impl Batch {
    pub(super) fn len(&self) -> usize {
        self.elems.len() + self.entries.len()
    }
    pub(super) fn clear(&mut self) {
        self.elems.clear();
        self.ttls.clear();
        self.entries.clear();
        self.bytes = 0;
    }
}

/// Writes the commands that check batch `b` of `key` (whose first element is number `first`).
pub(super) fn batch_cmds(
    c: &mut Cmds,
    kind: Kind,
    key: &[u8],
    b: &Batch,
    first: u64,
    single: bool,
) {
    match kind {
        _ if b.len() == 0 => {}
        Kind::List => {
            let (from, to) = (first.to_string(), (first + b.elems.len() as u64 - 1).to_string());
            c.push(&[b"LRANGE", key, from.as_bytes(), to.as_bytes()]);
        }
        Kind::Set | Kind::Zset if single => {
            let verb: &[u8] = if kind == Kind::Set { b"SISMEMBER" } else { b"ZSCORE" };
            for (m, _) in &b.elems {
                c.push(&[verb, key, m]);
            }
        }
        Kind::Set | Kind::Zset | Kind::Hash => {
            let verb: &[u8] = match kind {
                Kind::Set => b"SMISMEMBER",
                Kind::Zset => b"ZMSCORE",
                _ => b"HMGET",
            };
            let mut args: Vec<&[u8]> = vec![verb, key];
            args.extend(b.elems.iter().map(|e| &e.0[..]));
            c.push(&args);
            if kind == Kind::Hash && !b.ttls.is_empty() {
                let n = b.ttls.len().to_string();
                let mut args: Vec<&[u8]> = vec![b"HPEXPIRETIME", key, b"FIELDS", n.as_bytes()];
                args.extend(b.ttls.iter().map(|t| &t.0[..]));
                c.push(&args);
            }
        }
        _ => {
            let (a, z) = (b.entries[0].0.to_string(), b.entries[b.entries.len() - 1].0.to_string());
            c.push(&[b"XRANGE", key, a.as_bytes(), z.as_bytes()]);
        }
    }
}

/// Checks batches on the target as they fill up.
pub(super) struct Live<'p> {
    pub(super) p: &'p mut Peers,
    pub(super) key: &'p [u8],
    pub(super) db: u64,
    pub(super) diff: Option<String>,
}

/// Why collecting a value's elements stopped before its end.
#[derive(Debug)]
pub(super) enum Halt {
    /// The dump is damaged.
    Format(crate::format::Error),
    /// More than one batch, and no live check: the key is finished after its window.
    Overflow,
    /// The target failed while a batch was checked.
    Target(Error),
}

impl From<crate::format::Error> for Halt {
    fn from(e: crate::format::Error) -> Halt {
        Halt::Format(e)
    }
}

/// Gathers a value's elements into batches while it is decoded. Without a [`Live`] check
/// it stops at the first full batch ([`Halt::Overflow`]: the key is finished after its window).
pub(super) struct Collect<'p> {
    pub(super) kind: Kind,
    pub(super) now_ms: i64,
    /// The target has field TTLs: every field's expiry is compared (-1 for none).
    pub(super) field_ttl: bool,
    /// The target has no `SMISMEMBER`/`ZMSCORE` (before 6.2): one command per member.
    pub(super) single: bool,
    pub(super) batch: Batch,
    /// Elements decoded so far (the number of the batch's first is `seen - batch.len()`).
    pub(super) seen: u64,
    /// Hash fields left out because their TTL has passed.
    pub(super) expired_fields: u64,
    /// Hash fields with a TTL the target cannot hold (compared without it).
    pub(super) ttl_skipped: u64,
    pub(super) live: Option<Live<'p>>,
    pub(super) tail: streams::Tail,
}

impl<'p> Collect<'p> {
    pub(super) fn new(
        kind: Kind,
        filter: &Filter,
        server: &Server,
        live: Option<Live<'p>>,
    ) -> Self {
        Collect {
            kind,
            now_ms: filter.now_ms,
            field_ttl: server.field_ttl(),
            single: !server.set_pxat(),
            batch: Batch::default(),
            seen: 0,
            expired_fields: 0,
            ttl_skipped: 0,
            live,
            tail: streams::Tail::default(),
        }
    }

    /// Checks the gathered batch (live), and empties it.
    pub(super) fn flush(&mut self) -> Result<(), Error> {
        let Some(l) = &mut self.live else { return Ok(()) };
        if l.diff.is_none() && self.batch.len() > 0 {
            let first = self.seen - self.batch.len() as u64;
            let mut c = Cmds::default();
            batch_cmds(&mut c, self.kind, l.key, &self.batch, first, self.single);
            let r = l.p.run(l.key, l.db, &c)?;
            l.diff = judge_batch(self.kind, &self.batch, first, self.single, &r);
        }
        self.batch.clear();
        Ok(())
    }

    /// Makes room for one more element: a full batch is checked, or (not live) ends the decode.
    pub(super) fn room(&mut self) -> Result<(), Halt> {
        if self.batch.len() < BATCH {
            return Ok(());
        }
        if self.live.is_none() {
            return Err(Halt::Overflow);
        }
        self.flush().map_err(Halt::Target)
    }

    pub(super) fn push(&mut self, a: Vec<u8>, b: Vec<u8>) -> Result<(), Halt> {
        self.room()?;
        self.batch.bytes += a.len() + b.len() + 16;
        self.batch.elems.push((a, b));
        self.seen += 1;
        Ok(())
    }
}

impl Visitor for Collect<'_> {
    type Error = Halt;
    fn list_item(&mut self, v: Str<'_>) -> Result<(), Halt> {
        self.push(v.to_vec(), Vec::new())
    }
    fn set_member(&mut self, v: Str<'_>) -> Result<(), Halt> {
        self.push(v.to_vec(), Vec::new())
    }
    fn zset_member(&mut self, m: Str<'_>, score: f64) -> Result<(), Halt> {
        let mut t = Vec::new();
        crate::encode::text::double(&mut t, score);
        self.push(m.to_vec(), t)
    }
    fn hash_field(&mut self, f: Str<'_>, v: Str<'_>, expire_ms: Option<i64>) -> Result<(), Halt> {
        // a field whose TTL has passed is not on the target (whatever --include-expired says)
        if expire_ms.is_some_and(|e| e <= self.now_ms) {
            self.expired_fields += 1;
            return Ok(());
        }
        self.room()?;
        if self.field_ttl {
            self.batch.ttls.push((f.to_vec(), expire_ms.unwrap_or(-1)));
        } else if expire_ms.is_some() {
            self.ttl_skipped += 1;
        }
        self.push(f.to_vec(), v.to_vec())
    }
    fn stream_entry(&mut self, e: &StreamEntry<'_>) -> Result<(), Halt> {
        self.room()?;
        self.tail.first_entry.get_or_insert(e.id);
        let mut fv: Vec<Vec<u8>> = Vec::new();
        for r in e.fields() {
            let (f, v) = r?;
            fv.push(f.to_vec());
            fv.push(v.to_vec());
        }
        self.batch.bytes += fv.iter().map(|x| x.len() + 16).sum::<usize>();
        self.batch.entries.push((e.id, fv));
        self.seen += 1;
        Ok(())
    }
    fn stream_meta(&mut self, m: &StreamMeta) -> Result<(), Halt> {
        self.tail.meta = Some(m.clone());
        Ok(())
    }
    fn stream_group(&mut self, g: &Group) -> Result<(), Halt> {
        self.tail.groups.push(streams::DGroup::of(g)?);
        Ok(())
    }
    fn stream_idmp(&mut self, i: &Idmp) -> Result<(), Halt> {
        self.tail.idmp = Some(streams::DIdmp::of(i)?);
        Ok(())
    }
}

pub(super) struct StringValue(pub(super) Option<Vec<u8>>);

impl Visitor for StringValue {
    type Error = crate::format::Error;
    fn string(&mut self, v: Str<'_>) -> crate::format::Result<()> {
        self.0 = Some(v.to_vec());
        Ok(())
    }
}
