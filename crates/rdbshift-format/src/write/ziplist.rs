//! A ziplist (`src/ziplist.c`) built entry by entry, as the server builds one: a string that
//! is a canonical integer of at most 32 bytes is stored as the smallest integer encoding
//! (`zipTryEncoding`), other strings with a 6-, 14- or 32-bit length; each entry starts
//! with the size of the one before it (1 byte, or 0xFE and 4 bytes LE from 254 on).
//!
//! Invariants (what `ziplistValidateIntegrity` checks): `zlbytes` is the blob's size,
//! `zltail` the offset of the last entry (of the end marker's place for an empty one),
//! `zllen` the count (65535 from 65535 entries on), and the blob ends with 0xFF.

use crate::cursor::Str;

/// Header bytes: zlbytes, zltail, zllen.
const HEADER: usize = 10;

/// A ziplist being built.
#[derive(Debug, Clone)]
pub struct Ziplist {
    buf: Vec<u8>,
    /// Offset of the last entry, and its size.
    last: Option<(usize, usize)>,
    count: usize,
}

impl Default for Ziplist {
    fn default() -> Self {
        Ziplist { buf: vec![0; HEADER], last: None, count: 0 }
    }
}

impl Ziplist {
    /// Entries so far.
    pub fn len(&self) -> usize {
        self.count
    }
    /// Whether no entry was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The blob's size if it ended now.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends an entry.
    pub fn push(&mut self, s: Str<'_>) {
        let at = self.buf.len();
        let prev = self.last.map_or(0, |(_, size)| size);
        if prev < 254 {
            self.buf.push(prev as u8);
        } else {
            self.buf.push(0xfe);
            self.buf.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        let int = match s {
            Str::Int(i) => Some(i),
            Str::Bytes(b) if b.len() <= 32 => crate::parse_i64_strict(b),
            Str::Bytes(_) => None,
        };
        match (int, s) {
            (Some(i), _) => self.int(i),
            (None, Str::Bytes(b)) => {
                let n = b.len();
                if n <= 0x3f {
                    self.buf.push(n as u8);
                } else if n <= 0x3fff {
                    self.buf.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
                } else {
                    self.buf.push(0x80);
                    self.buf.extend_from_slice(&(n as u32).to_be_bytes());
                }
                self.buf.extend_from_slice(b);
            }
            (None, Str::Int(_)) => unreachable!("an integer always has an encoding"),
        }
        self.last = Some((at, self.buf.len() - at));
        self.count += 1;
    }

    /// The smallest integer encoding, as `zipTryEncoding` picks it.
    fn int(&mut self, i: i64) {
        let b = &mut self.buf;
        if (0..=12).contains(&i) {
            b.push(0xf1 + i as u8);
        } else if let Ok(v) = i8::try_from(i) {
            b.extend_from_slice(&[0xfe, v as u8]);
        } else if let Ok(v) = i16::try_from(i) {
            b.push(0xc0);
            b.extend_from_slice(&v.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&i) {
            b.push(0xf0);
            b.extend_from_slice(&(i as i32).to_le_bytes()[..3]);
        } else if let Ok(v) = i32::try_from(i) {
            b.push(0xd0);
            b.extend_from_slice(&v.to_le_bytes());
        } else {
            b.push(0xe0);
            b.extend_from_slice(&i.to_le_bytes());
        }
    }

    /// The finished blob; the builder is empty again.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut b = std::mem::replace(&mut self.buf, vec![0; HEADER]);
        let tail = self.last.map_or(HEADER, |(at, _)| at);
        b.push(0xff);
        let total = b.len() as u32;
        b[0..4].copy_from_slice(&total.to_le_bytes());
        b[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        b[8..10].copy_from_slice(&(self.count.min(65535) as u16).to_le_bytes());
        self.last = None;
        self.count = 0;
        b
    }
}

/// A score as a ziplist entry holds it: an integral value as an integer (as the server's
/// `d2string` text of it becomes one), else the shortest text that reads back as the same
/// double (`zzlStrtod`); `-0` stays `-0`.
pub fn score_text(d: f64, buf: &mut Vec<u8>) -> Str<'_> {
    if d == d.trunc() && d.abs() < (1u64 << 53) as f64 && !(d == 0.0 && d.is_sign_negative()) {
        return Str::Int(d as i64);
    }
    buf.clear();
    if d.is_infinite() {
        buf.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
    } else {
        // Debug is the shortest round-trip text, with an exponent where that is shorter
        buf.extend_from_slice(format!("{d:?}").as_bytes());
    }
    Str::Bytes(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::Cursor;

    fn read_back(blob: &[u8]) -> Vec<Vec<u8>> {
        let mut z = crate::ziplist::Ziplist::open(Cursor::file(blob)).unwrap();
        let mut out = Vec::new();
        while let Some(e) = z.next_elem().unwrap() {
            out.push(e.to_vec());
        }
        out
    }

    #[test]
    fn every_encoding_reads_back() {
        let long = vec![b'x'; 300];
        let longer = vec![b'y'; 20000];
        let items: Vec<Str> = vec![
            Str::Bytes(b""),
            Str::Bytes(b"hello"),
            Str::Bytes(b"007"),
            Str::Bytes(b"12"),
            Str::Int(0),
            Str::Int(13),
            Str::Int(-128),
            Str::Int(1000),
            Str::Int(-8_000_000),
            Str::Int(2_000_000_000),
            Str::Int(i64::MIN),
            Str::Bytes(&long),
            Str::Bytes(b"after a long one"),
            Str::Bytes(&longer),
            Str::Bytes(b"-9223372036854775808"),
            Str::Bytes(b"99999999999999999999"),
        ];
        let mut z = Ziplist::default();
        items.iter().for_each(|s| z.push(*s));
        assert_eq!(z.len(), items.len());
        let blob = z.finish();
        let want: Vec<Vec<u8>> = items.iter().map(|s| s.to_vec()).collect();
        assert_eq!(read_back(&blob), want);
        // integers took integer encodings: "12" (after the 5-byte "007" entry) as the
        // immediate 12
        assert!(blob.windows(2).any(|w| w == [5, 0xfd]), "no immediate 12");
        // and an empty one is valid too
        assert_eq!(read_back(&Ziplist::default().finish()), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn many_entries_cap_the_count_at_65535() {
        let mut z = Ziplist::default();
        for i in 0..70000 {
            z.push(Str::Int(i));
        }
        let blob = z.finish();
        assert_eq!(u16::from_le_bytes([blob[8], blob[9]]), 65535);
        assert_eq!(read_back(&blob).len(), 70000);
    }

    #[test]
    fn scores_read_back_as_the_same_double() {
        let mut buf = Vec::new();
        for d in [
            0.0,
            -0.0,
            1.0,
            -3.0,
            0.1,
            1e300,
            -2.5e-300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9007199254740993.0,
            1.0 / 3.0,
        ] {
            let s = score_text(d, &mut buf).to_vec();
            let back: f64 = crate::parse_double(&s).unwrap();
            assert_eq!(back.to_bits(), d.to_bits(), "{d} as {:?}", String::from_utf8_lossy(&s));
        }
    }
}
