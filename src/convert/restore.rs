//! `RESTORE key ttl payload REPLACE [ABSTTL] [IDLETIME s | FREQ f]` with a DUMP payload:
//! `[key metadata] type body version(u16 LE) crc64(u64 LE)`, the CRC (Redis's CRC-64)
//! covering everything before it (`createDumpPayload`/`verifyDumpPayload` in `cluster.c`).
//!
//! The body is the value exactly as the dump stores it, so nothing is re-encoded: the
//! caller only sends a key this way when the target loads its type
//! ([`crate::server::Server::loads_type`]). The version written is the target's own, which its
//! version check accepts. A big body is sent from the mapped input by reference.

use super::Plan;
use super::Result;
use super::out::{Out, array_header, bulk, bulk_header, bulk_int};
use crate::format::Crc64;
use crate::format::record::Key;

/// Largest payload sent (servers refuse bulk strings over `proto-max-bulk-len`, 512 MB by
/// default); bigger values go as commands.
pub const MAX_PAYLOAD: usize = 500 << 20;

/// Whether the key's payload is small enough for `RESTORE`.
pub fn fits(k: &Key) -> bool {
    k.dump_len() < MAX_PAYLOAD
}

/// The key's metadata as the target's payload carries it (none before 8.6).
fn meta<'d>(plan: &Plan, k: &Key<'d>) -> &'d [u8] {
    if plan.target.key_meta() { k.meta_bytes() } else { &[] }
}

/// A payload's footer: the target's DUMP version (u16 LE) and the CRC-64 (LE) of
/// everything before it, the version included.
fn footer(plan: &Plan, meta: &[u8], ty: &[u8], body: &[u8]) -> [u8; 10] {
    let ver = plan.target.dump_version().to_le_bytes();
    let mut crc = Crc64::default();
    crc.update(meta);
    crc.update(ty);
    crc.update(body);
    crc.update(&ver);
    let mut footer = [0u8; 10];
    footer[..2].copy_from_slice(&ver);
    footer[2..].copy_from_slice(&crc.finish().to_le_bytes());
    footer
}

/// The DUMP payload's parts: metadata + type byte, body, footer.
pub fn payload<'d>(plan: &Plan, k: &Key<'d>) -> (&'d [u8], &'d [u8], &'d [u8], [u8; 10]) {
    let meta = meta(plan, k);
    let (ty, body) = k.raw_value();
    (meta, ty, body, footer(plan, meta, ty, body))
}

/// `RESTORE` of a reference template hash, converted by [`Key::self_contained_hash`] (8.10+ targets).
pub fn template_key(plan: &Plan, k: &Key, name: &[u8], out: &mut Out) -> Result<()> {
    let Some((ty, body)) = k.self_contained_hash()? else {
        return Err(super::in_key(
            k,
            crate::format::Error::corrupt(
                k.value_at() as u64,
                "hash template",
                "not a template hash",
            ),
        ));
    };
    let meta = meta(plan, k);
    let footer = footer(plan, meta, &[ty], &body);
    write(k, name, out, meta, &[ty], &body, &footer)
}

/// `RESTORE` of a value re-encoded for the target ([`crate::rewrite::key::payload`]: its
/// type byte and body).
pub fn reencoded(plan: &Plan, k: &Key, name: &[u8], out: &mut Out, payload: &[u8]) -> Result<()> {
    let meta = meta(plan, k);
    let (ty, body) = payload.split_at(1);
    write(k, name, out, meta, ty, body, &footer(plan, meta, ty, body))
}

pub fn key(plan: &Plan, k: &Key, name: &[u8], out: &mut Out) -> Result<()> {
    let (meta, ty, body, footer) = payload(plan, k);
    write(k, name, out, meta, ty, body, &footer)
}

/// The `RESTORE` command for a payload in parts.
fn write(
    k: &Key,
    name: &[u8],
    out: &mut Out,
    meta: &[u8],
    ty: &[u8],
    body: &[u8],
    footer: &[u8],
) -> Result<()> {
    let mut argc = 5;
    if k.expire_ms().is_some() {
        argc += 1;
    }
    if k.idle().is_some() || k.freq().is_some() {
        argc += 2;
    }
    let b = &mut out.buf;
    array_header(b, argc);
    bulk(b, b"RESTORE");
    bulk(b, name);
    // a 0 ttl means none; an expiry at or before the epoch is kept as 1 ms after it
    bulk_int(b, k.expire_ms().map_or(0, |ms| ms.max(1)));
    bulk_header(b, meta.len() + ty.len() + body.len() + footer.len());
    b.extend_from_slice(meta);
    b.extend_from_slice(ty);
    match out.input_range(body) {
        Some(r) if body.len() >= super::out::ZERO_COPY_MIN => out.mapped(r)?,
        _ => out.buf.extend_from_slice(body),
    }
    let b = &mut out.buf;
    b.extend_from_slice(footer);
    b.extend_from_slice(b"\r\n");
    bulk(b, b"REPLACE");
    if k.expire_ms().is_some() {
        bulk(b, b"ABSTTL");
    }
    if let Some(f) = k.freq() {
        bulk(b, b"FREQ");
        bulk_int(b, f);
    } else if let Some(i) = k.idle() {
        bulk(b, b"IDLETIME");
        bulk_int(b, i);
    }
    out.end_cmd()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::Mode;
    use crate::format::Reader;
    use crate::format::record::{Options, Record};
    use crate::server::Server;

    fn plan(t: Server) -> Plan {
        Plan::new(t, Mode::Restore, Default::default())
    }

    #[test]
    fn payload_carries_metadata_only_to_8_6() {
        // a key with metadata (hand-made: no module here writes it), string value "v"
        let mut data = b"REDIS0013".to_vec();
        data.extend([0xF3, 1, 0x78, 0x56, 0x34, 0x12, 2, 0x2a, 0, 0, 1, b'k', 1, b'v', 0xff]);
        data.extend([0; 8]);
        let mut r = Reader::new(&data, Options::default()).unwrap();
        let Some(Record::Key(k)) = r.next_record().unwrap() else { panic!() };
        let (meta, ty, body, footer) = payload(&plan(Server::redis(8, 6)), &k);
        assert_eq!(meta, &[0xF3, 1, 0x78, 0x56, 0x34, 0x12, 2, 0x2a, 0]);
        assert_eq!((ty, body), (&[0u8][..], &[1u8, b'v'][..]));
        assert_eq!(&footer[..2], &13u16.to_le_bytes());
        let whole = [meta, ty, body, &footer[..2]].concat();
        assert_eq!(
            u64::from_le_bytes(footer[2..].try_into().unwrap()),
            crate::format::crc64(&whole)
        );
        let (meta, _, _, footer) = payload(&plan(Server::redis(8, 0)), &k);
        assert!(meta.is_empty());
        assert_eq!(&footer[..2], &12u16.to_le_bytes());
        let (_, _, _, footer) = payload(&plan(Server::valkey(9, 1)), &k);
        assert_eq!(&footer[..2], &80u16.to_le_bytes());
    }
}
