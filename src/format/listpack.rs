//! Listpack (`src/listpack.c`): the compact encoding of RDB 10+ (types 15-21, 25, 26).
//!
//! Layout: total bytes u32 LE, element count u16 LE (65535 = unknown), elements, `0xFF`.
//! An element: encoding (+ data), then `backlen`, the size of encoding+data written in 1-5
//! bytes, 7 bits each, read from its last byte backwards. Invariant kept here: every element
//! lies inside the blob and its backlen agrees with its size.

use super::cursor::{Cursor, Str};
use super::error::Result;

const WHAT: &str = "listpack";

pub struct Listpack<'a> {
    c: Cursor<'a>,
    declared: u16,
    seen: u32,
    done: bool,
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

impl<'a> Listpack<'a> {
    pub fn open(mut c: Cursor<'a>) -> Result<Self> {
        let total = c.data().len();
        if total < 7 {
            return Err(c.corrupt(WHAT, format!("{total} bytes is shorter than an empty listpack")));
        }
        let declared_total = c.u32_le()? as usize;
        if declared_total != total {
            return Err(c.corrupt(WHAT, format!("header says {declared_total} bytes, the string holds {total}")));
        }
        let declared = c.u16_le()?;
        if c.data()[total - 1] != 0xff {
            return Err(c.err_at(
                total - 1,
                super::ErrorKind::Corrupt { container: WHAT, reason: "no 0xFF end marker".into() },
            ));
        }
        Ok(Listpack { c, declared, seen: 0, done: false })
    }

    pub fn declared_len(&self) -> Option<u64> {
        (self.declared != u16::MAX).then_some(self.declared as u64)
    }

    /// The next element, or `None` at the end marker.
    pub fn next(&mut self) -> Result<Option<Str<'a>>> {
        if self.done {
            return Ok(None);
        }
        let c = &mut self.c;
        let start = c.pos();
        let enc = c.u8()?;
        if enc == 0xff {
            if c.remaining() != 0 {
                return Err(c.err_at(
                    start,
                    super::ErrorKind::Corrupt { container: WHAT, reason: "data after the end marker".into() },
                ));
            }
            if self.declared != u16::MAX && self.seen != self.declared as u32 {
                return Err(c.err_at(
                    start,
                    super::ErrorKind::Corrupt {
                        container: WHAT,
                        reason: format!("header counts {} elements, found {}", self.declared, self.seen),
                    },
                ));
            }
            self.done = true;
            return Ok(None);
        }
        let v = if enc & 0x80 == 0 {
            Str::Int((enc & 0x7f) as i64)
        } else if enc & 0xc0 == 0x80 {
            Str::Bytes(c.take((enc & 0x3f) as usize)?)
        } else if enc & 0xe0 == 0xc0 {
            let v = (((enc & 0x1f) as i64) << 8) | c.u8()? as i64;
            Str::Int(if v >= 1 << 12 { v - (1 << 13) } else { v })
        } else if enc & 0xf0 == 0xe0 {
            let n = (((enc & 0x0f) as usize) << 8) | c.u8()? as usize;
            Str::Bytes(c.take(n)?)
        } else {
            match enc {
                0xf0 => {
                    let n = c.u32_le()? as usize;
                    Str::Bytes(c.take(n)?)
                }
                0xf1 => Str::Int(i16::from_le_bytes(c.array()?) as i64),
                0xf2 => {
                    let b: [u8; 3] = c.array()?;
                    Str::Int((i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as i64)
                }
                0xf3 => Str::Int(i32::from_le_bytes(c.array()?) as i64),
                0xf4 => Str::Int(i64::from_le_bytes(c.array()?)),
                _ => {
                    return Err(c.err_at(
                        start,
                        super::ErrorKind::Corrupt { container: WHAT, reason: format!("bad encoding byte 0x{enc:02x}") },
                    ));
                }
            }
        };
        let l = c.pos() - start;
        let bl_at = c.pos();
        let bl = c.take(backlen_size(l))?;
        let mut val = 0usize;
        for (i, &b) in bl.iter().rev().enumerate() {
            val |= ((b & 0x7f) as usize) << (7 * i);
        }
        if val != l {
            return Err(c.err_at(
                bl_at,
                super::ErrorKind::Corrupt {
                    container: WHAT,
                    reason: format!("backlen {val} but the element is {l} bytes"),
                },
            ));
        }
        if c.remaining() == 0 {
            return Err(c.corrupt(WHAT, "element runs into the end marker"));
        }
        self.seen += 1;
        Ok(Some(v))
    }

    /// The next element, which must exist.
    pub fn expect(&mut self, what: &str) -> Result<Str<'a>> {
        let at = self.c.pos();
        self.next()?.ok_or_else(|| {
            self.c.err_at(
                at,
                super::ErrorKind::Corrupt { container: WHAT, reason: format!("ends where {what} was expected") },
            )
        })
    }
    /// The next element as an integer.
    pub fn expect_int(&mut self, what: &str) -> Result<i64> {
        let at = self.c.pos();
        match self.expect(what)? {
            Str::Int(i) => Ok(i),
            Str::Bytes(b) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).ok_or_else(|| {
                self.c.err_at(
                    at,
                    super::ErrorKind::Corrupt { container: WHAT, reason: format!("{what} is not an integer") },
                )
            }),
        }
    }
    pub fn cursor(&self) -> &Cursor<'a> {
        &self.c
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::format::cursor::Origin;

    /// Encodes one element (encoding + data + backlen).
    pub fn elem(v: &Str) -> Vec<u8> {
        let mut e = Vec::new();
        match *v {
            Str::Int(i) if (0..128).contains(&i) => e.push(i as u8),
            Str::Int(i) if (-4096..4096).contains(&i) => {
                let u = (i as u16) & 0x1fff;
                e.push(0xc0 | (u >> 8) as u8);
                e.push(u as u8);
            }
            Str::Int(i) if i16::try_from(i).is_ok() => {
                e.push(0xf1);
                e.extend_from_slice(&(i as i16).to_le_bytes());
            }
            Str::Int(i) if (-(1 << 23)..(1 << 23)).contains(&i) => {
                e.push(0xf2);
                e.extend_from_slice(&(i as i32).to_le_bytes()[..3]);
            }
            Str::Int(i) if i32::try_from(i).is_ok() => {
                e.push(0xf3);
                e.extend_from_slice(&(i as i32).to_le_bytes());
            }
            Str::Int(i) => {
                e.push(0xf4);
                e.extend_from_slice(&i.to_le_bytes());
            }
            Str::Bytes(b) if b.len() < 64 => {
                e.push(0x80 | b.len() as u8);
                e.extend_from_slice(b);
            }
            Str::Bytes(b) if b.len() < 4096 => {
                e.push(0xe0 | (b.len() >> 8) as u8);
                e.push(b.len() as u8);
                e.extend_from_slice(b);
            }
            Str::Bytes(b) => {
                e.push(0xf0);
                e.extend_from_slice(&(b.len() as u32).to_le_bytes());
                e.extend_from_slice(b);
            }
        }
        let l = e.len();
        let n = backlen_size(l);
        let mut bl = vec![0u8; n];
        for i in 0..n {
            // byte n-1-i holds bits 7i..7i+7; all but the first stored byte have the high bit
            bl[n - 1 - i] = ((l >> (7 * i)) & 0x7f) as u8 | if i + 1 < n { 0x80 } else { 0 };
        }
        e.extend_from_slice(&bl);
        e
    }

    pub fn build(items: &[Str]) -> Vec<u8> {
        let mut body: Vec<u8> = items.iter().flat_map(elem).collect();
        body.push(0xff);
        let mut lp = Vec::new();
        lp.extend_from_slice(&((6 + body.len()) as u32).to_le_bytes());
        lp.extend_from_slice(&(items.len() as u16).to_le_bytes());
        lp.extend_from_slice(&body);
        lp
    }

    fn all(lp: &[u8]) -> Result<Vec<Str<'_>>> {
        let mut l = Listpack::open(Cursor::new(lp, Origin::File(0)))?;
        let mut v = Vec::new();
        while let Some(s) = l.next()? {
            v.push(s);
        }
        Ok(v)
    }

    #[test]
    fn every_encoding_round_trips() {
        let mid = vec![b'm'; 200];
        let big = vec![b'b'; 5000];
        let items = [
            Str::Int(5),
            Str::Int(127),
            Str::Int(-1),
            Str::Int(4095),
            Str::Int(-4096),
            Str::Int(30000),
            Str::Int(-30000),
            Str::Int(8_000_000),
            Str::Int(-8_000_000),
            Str::Int(2_000_000_000),
            Str::Int(i64::MIN),
            Str::Int(i64::MAX),
            Str::Bytes(b""),
            Str::Bytes(b"hello"),
            Str::Bytes(&mid),
            Str::Bytes(&big),
        ];
        let lp = build(&items);
        assert_eq!(all(&lp).unwrap(), items.to_vec());
    }

    #[test]
    fn thirteen_bit_sign() {
        // 110xxxxx: 0xdf 0xff is -1 in 13-bit two's complement
        let lp = [10, 0, 0, 0, 1, 0, 0xdf, 0xff, 2, 0xff];
        assert_eq!(all(&lp).unwrap(), vec![Str::Int(-1)]);
    }

    #[test]
    fn rejects_corruption() {
        let lp = build(&[Str::Bytes(b"abc"), Str::Int(7)]);
        let mut bad = lp.clone();
        bad[4] = 3;
        assert!(all(&bad).is_err());
        let mut bad = lp.clone();
        bad[10] = 9; // backlen of the first element
        assert!(all(&bad).is_err());
        let mut bad = lp.clone();
        bad[6] = 0x8f; // string longer than the blob
        assert!(all(&bad).is_err());
        let mut bad = lp;
        bad[0] += 1;
        assert!(all(&bad).is_err());
    }
}
