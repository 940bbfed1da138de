//! The reader's mirror (feature `write`): the pieces of an RDB file, appended to a byte
//! buffer. No I/O, and nothing here decides what a value becomes for which server: that
//! is the caller's. Every piece reads back with this crate's [`crate::Reader`] as what was
//! written (the tests below check each one).
//!
//! Only forms every server from Redis 5.0 (RDB 9) on loads are written: lengths in their
//! shortest form, strings as raw bytes or 8/16/32-bit integers (never LZF: a server loads
//! raw bytes whatever its `rdbcompression`), doubles as 8 bytes LE, IDs as two lengths;
//! and the compact containers of RDB 9, [`ziplist`] and [`intset`], encoded as the
//! server encodes them.

use crate::cursor::Str;
use crate::header::Dialect;
use crate::stream::StreamId;
use crate::types::op;

pub mod intset;
pub mod ziplist;

/// The 9-byte magic: `REDIS` and 4 digits, or `VALKEY` and 3 (Valkey 9's 80 and later).
/// `None` for a version that does not fit its dialect's digits.
pub fn magic(dialect: Dialect, version: u32) -> Option<[u8; 9]> {
    let s = match dialect {
        Dialect::Redis if version <= 9999 => format!("REDIS{version:04}"),
        Dialect::Valkey if version <= 999 => format!("VALKEY{version:03}"),
        _ => return None,
    };
    s.as_bytes().try_into().ok()
}

/// A length in its shortest form (6 bits, 14 bits, 32 bits BE, 64 bits BE).
#[inline]
pub fn len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A string as raw bytes (length, then the bytes).
#[inline]
pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    len(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// An integer string: 8-, 16- or 32-bit integer encoding where it fits, else its decimal
/// text (what a server reads back as the same text).
pub fn int(out: &mut Vec<u8>, i: i64) {
    if let Ok(v) = i8::try_from(i) {
        out.extend_from_slice(&[0xC0, v as u8]);
    } else if let Ok(v) = i16::try_from(i) {
        out.push(0xC1);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(i) {
        out.push(0xC2);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        bytes(out, itoa::Buffer::new().format(i).as_bytes());
    }
}

/// A string as a decoder handed it.
#[inline]
pub fn string(out: &mut Vec<u8>, s: Str<'_>) {
    match s {
        Str::Bytes(b) => bytes(out, b),
        Str::Int(i) => int(out, i),
    }
}

/// A binary double (zset2 scores): 8 bytes LE.
#[inline]
pub fn double(out: &mut Vec<u8>, d: f64) {
    out.extend_from_slice(&d.to_le_bytes());
}

/// A millisecond time (expiries, stream delivery and seen times): 8 bytes LE.
#[inline]
pub fn ms(out: &mut Vec<u8>, t: i64) {
    out.extend_from_slice(&t.to_le_bytes());
}

/// A stream ID as two lengths (a stream's last, first and max-deleted IDs, a group's last).
#[inline]
pub fn stream_id(out: &mut Vec<u8>, id: StreamId) {
    len(out, id.ms);
    len(out, id.seq);
}

/// The opcodes before a key's type byte: its expiry (ms), LRU idle time (s), LFU
/// frequency.
pub fn key_prefix(out: &mut Vec<u8>, expire_ms: Option<i64>, idle: Option<u64>, freq: Option<u8>) {
    if let Some(t) = expire_ms {
        out.push(op::EXPIRETIME_MS);
        ms(out, t);
    }
    if let Some(i) = idle {
        out.push(op::IDLE);
        len(out, i);
    }
    if let Some(f) = freq {
        out.extend_from_slice(&[op::FREQ, f]);
    }
}

/// A function library (Redis 7.0+): its source code.
pub fn function(out: &mut Vec<u8>, code: &[u8]) {
    out.push(op::FUNCTION2);
    bytes(out, code);
}

/// `RESIZEDB`: the size hints of the current database.
pub fn resize_db(out: &mut Vec<u8>, keys: u64, expires: u64) {
    out.push(op::RESIZEDB);
    len(out, keys);
    len(out, expires);
}

/// An aux field.
pub fn aux(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.push(op::AUX);
    bytes(out, key);
    bytes(out, value);
}

/// `SELECTDB db`.
pub fn select_db(out: &mut Vec<u8>, db: u64) {
    out.push(op::SELECTDB);
    len(out, db);
}

/// The trailer: `EOF` and the checksum (LE) of everything before it, `EOF` included.
pub fn eof(out: &mut Vec<u8>, crc_before: &mut crate::Crc64) {
    crc_before.update(&[op::EOF]);
    out.push(op::EOF);
    out.extend_from_slice(&crc_before.finish().to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::Cursor;
    use crate::record::{Options, Record};
    use crate::{Reader, Scratch};

    #[test]
    fn lengths_read_back_at_every_boundary() {
        for n in [0u64, 63, 64, 16383, 16384, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX] {
            let mut b = Vec::new();
            len(&mut b, n);
            let want = match n {
                0..=63 => 1,
                64..=16383 => 2,
                16384..=0xFFFF_FFFF => 5,
                _ => 9,
            };
            assert_eq!(b.len(), want, "{n}");
            let mut c = Cursor::file(&b);
            assert_eq!(c.plain_len().unwrap(), n);
            assert!(c.is_empty());
        }
    }

    #[test]
    fn strings_and_integers_read_back_as_their_text() {
        let cases: Vec<(Vec<u8>, usize)> = vec![
            (b"".to_vec(), 1),
            (b"hello".to_vec(), 6),
            (vec![0u8; 70], 72),
            (vec![b'x'; 20000], 20005),
        ];
        for (s, n) in cases {
            let mut b = Vec::new();
            bytes(&mut b, &s);
            assert_eq!(b.len(), n);
            let mut c = Cursor::file(&b);
            assert_eq!(c.string().unwrap().bytes(&mut Vec::new()).unwrap(), &s[..]);
        }
        for i in [0i64, -1, 127, -128, 128, 32767, -32768, 65536, i32::MAX as i64, i32::MIN as i64]
            .into_iter()
            .chain([i32::MAX as i64 + 1, i64::MIN, i64::MAX])
        {
            let mut b = Vec::new();
            int(&mut b, i);
            let mut c = Cursor::file(&b);
            let got = c.string().unwrap().bytes(&mut Vec::new()).unwrap().to_vec();
            assert_eq!(got, i.to_string().as_bytes(), "{i}");
            assert!(c.is_empty());
        }
    }

    #[test]
    fn a_written_file_reads_back_with_its_checksum() {
        #[derive(Default)]
        struct Items(Vec<(Vec<u8>, f64)>);
        impl crate::visit::Visitor for Items {
            type Error = crate::Error;
            fn zset_member(&mut self, m: Str<'_>, s: f64) -> crate::Result<()> {
                self.0.push((m.to_vec(), s));
                Ok(())
            }
        }
        for (dialect, version) in [(Dialect::Redis, 9), (Dialect::Redis, 13), (Dialect::Valkey, 80)]
        {
            let mut f = magic(dialect, version).unwrap().to_vec();
            aux(&mut f, b"rdbshift-ver", b"0.1.0");
            select_db(&mut f, 3);
            resize_db(&mut f, 1, 1);
            key_prefix(&mut f, Some(1_900_000_000_000), None, Some(3));
            f.push(crate::types::ZSET_2);
            bytes(&mut f, b"z");
            len(&mut f, 2);
            bytes(&mut f, b"a");
            double(&mut f, 1.5);
            int(&mut f, 70000);
            double(&mut f, f64::NEG_INFINITY);
            let mut crc = crate::Crc64::default();
            crc.update(&f);
            eof(&mut f, &mut crc);
            assert_eq!(crate::crc64(&f[..f.len() - 8]).to_le_bytes(), f[f.len() - 8..]);
            let mut r = Reader::new(&f, Options::default()).unwrap();
            assert_eq!((r.header.dialect, r.header.version), (dialect, version));
            let mut seen = 0;
            while let Some(rec) = r.next_record().unwrap() {
                if let Record::Key(k) = rec {
                    assert_eq!(
                        (k.db(), k.expire_ms(), k.freq()),
                        (3, Some(1_900_000_000_000), Some(3))
                    );
                    let mut v = Items::default();
                    k.decode(&mut v, &mut Scratch::default()).unwrap();
                    assert_eq!(
                        v.0,
                        vec![(b"a".to_vec(), 1.5), (b"70000".to_vec(), f64::NEG_INFINITY)]
                    );
                    seen += 1;
                }
            }
            assert_eq!(seen, 1);
        }
        assert_eq!(magic(Dialect::Valkey, 1000), None);
    }
}
