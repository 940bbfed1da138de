//! What the target answered against what the dump holds: presence, type, expiry, values
//! (whole, in batches, in pieces), module payloads.

// a part of verify: it shares the module's imports and types
use super::*;

impl Verifier {
    /// Judges one key from its replies (and finishes it, if it is bigger than one batch).
    pub(super) fn judge(
        &mut self,
        it: &Item,
        r: &[Reply],
        scratch: &mut Scratch,
    ) -> Result<(), Error> {
        let (k, name) = (&it.k, &it.name[..]);
        if let Reply::Error(e) = &r[0] {
            self.report.error(name, format!("TYPE: {}", String::from_utf8_lossy(e)));
            return Ok(());
        }
        let kind = types::kind(k.ty());
        if let Want::Elements { ttl_skipped, .. } = it.want
            && ttl_skipped > 0
        {
            self.report.not_comparable("hash field TTLs", name, ttl_skipped, self.no_field_ttls());
        }
        if r[0] == Reply::Status(b"none".to_vec()) {
            let gone = k.expire_ms().is_some_and(|e| e <= crate::filter::now_ms());
            let empty = matches!(it.want, Want::Elements { seen: 0, .. });
            if gone || empty {
                // its expiry passed since, or nothing in it is left to hold
                self.report.expired += 1;
                self.report.checked -= 1;
            } else if kind == Kind::Module && !self.target_has_modules(it) {
                let t = k.module_id().map(module::type_name).unwrap_or_default();
                let why = format!(
                    "{} has no modules loaded, so it cannot hold a {t} value",
                    self.p.server
                );
                self.report.not_comparable("module values", name, 1, why);
                self.report.checked -= 1;
            } else {
                self.report.missing(name);
            }
            return Ok(());
        }
        let want_type = match kind {
            Kind::Module => k.module_id().map(module::type_name).unwrap_or_default(),
            k => k.name().to_string(),
        };
        if r[0] != Reply::Status(want_type.as_bytes().to_vec()) {
            // whatever the value commands answered (WRONGTYPE), the type is the difference
            self.report.differ(name, format!("type {}, expected {want_type}", show(&r[0])));
            return Ok(());
        }
        for (x, what) in r.iter().zip(["TYPE", "the expiry", "the value"]).skip(1) {
            if let Reply::Error(e) = x {
                self.report.error(name, format!("{what}: {}", String::from_utf8_lossy(e)));
                return Ok(());
            }
        }
        let rep = &mut self.report;
        let exact_ttl = self.p.server.stream_counters();
        let ttl_ok = match (&r[1], k.expire_ms()) {
            (Reply::Int(-1), None) => true,
            (Reply::Int(t), Some(e)) if exact_ttl => *t == e,
            (Reply::Int(t), Some(e)) => *t >= 0 && (e - crate::filter::now_ms() - t).abs() < 10_000,
            _ => false,
        };
        if !ttl_ok {
            let what = if exact_ttl {
                format!("expiry {}, expected {}", expiry(r[1].int()), expiry(k.expire_ms()))
            } else {
                let want = k
                    .expire_ms()
                    .map_or("none".to_string(), |e| format!("{} ms", e - crate::filter::now_ms()));
                format!(
                    "TTL {} ms, expected about {want} (expiry {})",
                    show(&r[1]),
                    expiry(k.expire_ms())
                )
            };
            rep.differ(name, what);
            return Ok(());
        }
        let diff = match &it.want {
            Want::String(v) => (!matches!(&r[2], Reply::Bulk(Some(b)) if b == v))
                .then(|| "value differs".to_string()),
            Want::LongString(len) => {
                if r[2] != Reply::Int(*len as i64) {
                    Some(format!("length {}, expected {len}", show(&r[2])))
                } else {
                    self.long_string(it, scratch)?
                }
            }
            Want::Module => module_diff(&self.p.server, k, &r[2]),
            Want::Elements { batch, seen, single, expired_fields, .. } => {
                match judge_batch(kind, batch, 0, *single, &r[3..]) {
                    Some(d) => Some(d),
                    None => self.cardinality(it, &r[2], *seen, *expired_fields)?,
                }
            }
            Want::Big => self.big(it, &r[2], scratch)?,
        };
        if let Some(d) = diff {
            self.report.differ(name, d);
        }
        Ok(())
    }

    /// Compares the target's cardinality `card` with the `seen` elements of the dump.
    ///
    /// A hash's `HLEN` also counts fields whose TTL has passed and that the server has not
    /// reclaimed yet, so when the dump has `expired_fields`, a count up to that many higher
    /// is checked again with `HKEYS` (which leaves them out), up to 10 batches of fields;
    /// beyond that it is accepted as such.
    pub(super) fn cardinality(
        &mut self,
        it: &Item,
        card: &Reply,
        seen: u64,
        expired_fields: u64,
    ) -> Result<Option<String>, Error> {
        let Reply::Int(n) = *card else { return Ok(Some(count_diff(card, seen))) };
        let n = n.max(0) as u64;
        if n == seen {
            return Ok(None);
        }
        if !(seen < n && n <= seen + expired_fields) {
            return Ok(Some(count_diff(card, seen)));
        }
        if n > 10 * BATCH as u64 {
            return Ok(None);
        }
        let mut c = Cmds::default();
        c.push(&[b"HKEYS", &it.name]);
        let r = self.p.run(&it.name, it.db, &c)?;
        let live = r[0].array().len() as u64;
        Ok((live != seen).then(|| format!("{live} fields, expected {seen}")))
    }

    /// A string longer than one piece, compared piece by piece with `GETRANGE`.
    pub(super) fn long_string(
        &mut self,
        it: &Item,
        scratch: &mut Scratch,
    ) -> Result<Option<String>, Error> {
        let mut v = StringValue(None);
        it.k.decode(&mut v, scratch)?;
        let v = v.0.unwrap_or_default();
        for (n, piece) in v.chunks(STRING_PIECE).enumerate() {
            let from = n * STRING_PIECE;
            let mut c = Cmds::default();
            let (a, b) = (from.to_string(), (from + piece.len() - 1).to_string());
            c.push(&[b"GETRANGE", &it.name, a.as_bytes(), b.as_bytes()]);
            let r = self.p.run(&it.name, it.db, &c)?;
            if r[0].bytes() != Some(piece) {
                return Ok(Some(format!("value differs in bytes {a} to {b}")));
            }
        }
        Ok(None)
    }

    /// A collection bigger than one batch, or a stream: decoded again and checked batch by
    /// batch, then the cardinality (`card`, from the window), then a stream's groups.
    pub(super) fn big(
        &mut self,
        it: &Item,
        card: &Reply,
        scratch: &mut Scratch,
    ) -> Result<Option<String>, Error> {
        let kind = types::kind(it.k.ty());
        let server = self.p.server;
        let live = Live { p: &mut self.p, key: &it.name, db: it.db, diff: None };
        let mut c = Collect::new(kind, &self.filter, &server, Some(live));
        match it.k.decode(&mut c, scratch) {
            Ok(()) => c.flush()?,
            Err(Halt::Format(e)) => return Err(e.into()),
            Err(Halt::Target(e)) => return Err(e),
            Err(Halt::Overflow) => {
                return Err(Error::Other("a live check stopped at one batch".into()));
            }
        }
        let (seen, expired_fields, tail) = (c.seen, c.expired_fields, std::mem::take(&mut c.tail));
        let ttl_skipped = c.ttl_skipped;
        let Some(Live { diff, .. }) = c.live.take() else { return Ok(None) };
        if ttl_skipped > 0 {
            let why = self.no_field_ttls();
            self.report.not_comparable("hash field TTLs", &it.name, ttl_skipped, why);
        }
        if tail.idmp.is_some() && !server.idmp() {
            let why = format!("{server} has no stream IDMP state");
            self.report.not_comparable("stream IDMP", &it.name, 1, why);
        }
        let nacked = tail.groups.iter().map(|g| g.nacked()).sum::<u64>();
        if nacked > 0 && !server.xnack() {
            let why = format!(
                "{server} has no NACKed stream entries (they go as unowned or are dropped)"
            );
            self.report.not_comparable("stream NACKs", &it.name, nacked, why);
        }
        if diff.is_some() {
            return Ok(diff);
        }
        match tail.meta.as_ref().filter(|m| kind == Kind::Stream && m.length != seen) {
            // an odd but valid stream: its stored length is not its live entries. RESTORE
            // carries the stored length; commands cannot (XLEN counts the entries)
            Some(m) => match card.int() {
                Some(n) if n as u64 == m.length => {}
                Some(n) if n as u64 == seen => {
                    let why = format!(
                        "the stored length ({}) is not the live entries ({seen}); commands cannot set it (load --mode restore carries it)",
                        m.length
                    );
                    self.report.not_comparable("stream lengths", &it.name, 1, why);
                }
                _ => {
                    let d = format!(
                        "stream length {}, expected {} (stored; {seen} live entries)",
                        show(card),
                        m.length
                    );
                    return Ok(Some(d));
                }
            },
            None => {
                if let Some(d) = self.cardinality(it, card, seen, expired_fields)? {
                    return Ok(Some(d));
                }
            }
        }
        if kind == Kind::Stream {
            return streams::compare(
                &mut self.p,
                &it.name,
                it.db,
                &tail,
                self.settings.pel_exact,
                self.filter.now_ms,
            );
        }
        Ok(None)
    }

    pub(super) fn no_field_ttls(&self) -> String {
        format!(
            "{} has no hash field TTLs (Redis 7.4 and Valkey 9.0 have them): the fields were compared without",
            self.p.server
        )
    }

    /// Whether the target has any module loaded (`MODULE LIST`, asked once).
    pub(super) fn target_has_modules(&mut self, it: &Item) -> bool {
        if let Some(m) = self.has_modules {
            return m;
        }
        let mut c = Cmds::default();
        c.push(&[b"MODULE", b"LIST"]);
        let m = match self.p.run(&it.name, it.db, &c) {
            Ok(r) => !matches!(r.first(), Some(Reply::Array(Some(v))) if v.is_empty()),
            Err(_) => true,
        };
        self.has_modules = Some(m);
        m
    }
}

/// "N elements, expected M".
pub(super) fn count_diff(got: &Reply, want: u64) -> String {
    format!("{} elements, expected {want}", show(got))
}

pub(super) fn show(r: &Reply) -> String {
    match r {
        Reply::Bulk(Some(b)) | Reply::Status(b) | Reply::Error(b) => quote(&b[..b.len().min(60)]),
        Reply::Bulk(None) | Reply::Array(None) => "nil".into(),
        Reply::Int(i) => i.to_string(),
        Reply::Array(Some(v)) => format!("[{} items]", v.len()),
    }
}

/// Compares a `DUMP` payload with the dump's serialized module value.
pub(super) fn module_diff(server: &Server, k: &Key, r: &Reply) -> Option<String> {
    // the payload: key metadata (8.6, as `RESTORE` gave it), the type byte, the value
    let meta: &[u8] = if server.key_meta() { k.meta_bytes() } else { &[] };
    let (ty, value) = k.raw_value();
    let Some(payload) = r.bytes().filter(|p| p.len() >= 10) else {
        return Some(format!("DUMP gave {}", show(r)));
    };
    let body = &payload[..payload.len() - 10];
    let n = meta.len() + ty.len();
    if body.len() == n + value.len()
        && body[..meta.len()] == *meta
        && body[meta.len()..n] == *ty
        && body[n..] == *value
    {
        return None;
    }
    // name a different module encoding version: the bytes then cannot match
    let theirs = (body.get(meta.len()) == Some(&types::MODULE_2))
        .then(|| module::payload_id(&body[meta.len() + 1..]))
        .flatten();
    match (theirs, k.module_id()) {
        (Some(t), Some(o)) if t != o && module::type_name(t) == module::type_name(o) => {
            Some(format!(
                "module encoding version {} on the target, {} in the dump: the bytes cannot be compared",
                module::encver(t),
                module::encver(o)
            ))
        }
        _ => Some("module value differs (DUMP payload)".into()),
    }
}

/// The first difference between batch `b` and the replies to its [`batch_cmds`].
pub(super) fn judge_batch(
    kind: Kind,
    b: &Batch,
    first: u64,
    single: bool,
    r: &[Reply],
) -> Option<String> {
    if b.len() == 0 {
        return None;
    }
    if let Some(Reply::Error(e)) = r.iter().find(|x| x.is_error()) {
        return Some(format!("checking elements gave {}", String::from_utf8_lossy(e)));
    }
    let single = single && matches!(kind, Kind::Set | Kind::Zset);
    let gathered;
    let items: &[Reply] = if single {
        gathered = r.to_vec();
        &gathered
    } else {
        match r.first() {
            Some(Reply::Array(Some(a))) => a,
            other => {
                return Some(format!(
                    "element check gave {}",
                    other.map_or("nothing".into(), show)
                ));
            }
        }
    };
    match kind {
        Kind::List => {
            for (i, (want, _)) in b.elems.iter().enumerate() {
                if items.get(i).and_then(Reply::bytes) != Some(&want[..]) {
                    return Some(format!("list item {} differs", first + i as u64));
                }
            }
        }
        Kind::Set => {
            if let Some(i) = (0..b.elems.len()).find(|&i| items.get(i) != Some(&Reply::Int(1))) {
                return Some(format!("member {} missing", quote(&b.elems[i].0)));
            }
        }
        Kind::Zset => {
            for (i, (m, want)) in b.elems.iter().enumerate() {
                let got = items.get(i).and_then(Reply::bytes).and_then(crate::format::parse_double);
                let want = crate::format::parse_double(want);
                // -0 and 0 compare equal: a compact sorted set stores -0 as it pleases
                if got.is_none() || got != want {
                    let shown = got.map_or("none".to_string(), |g| g.to_string());
                    let want = want.map_or("?".to_string(), |w| w.to_string());
                    return Some(format!("member {}: score {shown}, expected {want}", quote(m)));
                }
            }
        }
        Kind::Hash => {
            for (i, (f, want)) in b.elems.iter().enumerate() {
                if items.get(i).and_then(Reply::bytes) != Some(&want[..]) {
                    return Some(format!("field {} differs", quote(f)));
                }
            }
            if !b.ttls.is_empty() {
                let t = r.get(1).map(Reply::array).unwrap_or_default();
                for (i, (f, want)) in b.ttls.iter().enumerate() {
                    if t.get(i) != Some(&Reply::Int(*want)) {
                        let got = t.get(i).map_or("nothing".into(), show);
                        return Some(format!("field {}: TTL {got}, expected {want}", quote(f)));
                    }
                }
            }
        }
        _ => {
            let same = items.len() == b.entries.len()
                && items.iter().zip(&b.entries).all(|(e, (id, fv))| {
                    let e = e.array();
                    let got_id = e.first().and_then(Reply::bytes);
                    let got_fv = e.get(1).map(Reply::array).unwrap_or_default();
                    got_id == Some(id.to_string().as_bytes())
                        && got_fv.len() == fv.len()
                        && got_fv.iter().zip(fv).all(|(x, y)| x.bytes() == Some(&y[..]))
                });
            if !same {
                let (a, z) = (b.entries[0].0, b.entries[b.entries.len() - 1].0);
                return Some(format!("stream entries between {a} and {z} differ"));
            }
        }
    }
    None
}
