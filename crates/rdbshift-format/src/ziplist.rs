//! Ziplist (`src/ziplist.c`): the compact list encoding of RDB 4-9 (types 10, 12, 13, 14).
//!
//! Layout: `zlbytes` u32 LE (the whole blob), `zltail` u32 LE (offset of the last entry),
//! `zllen` u16 LE (entry count, 65535 = count by walking), entries, `0xFF`.
//! An entry: `prevlen` (1 byte, or 0xFE then u32 LE), an encoding, the data.
//!
//! Invariants kept here, as `ziplistValidateIntegrity` (deep) and `zipEntrySafe` check
//! them: `zlbytes` is the blob's size, the blob ends with `0xFF`, `zltail` points at the
//! last entry (or, for an empty ziplist, inside the blob); every entry has a known encoding
//! and ends before the end marker; each `prevlen` equals the size of the entry before it;
//! the count matches `zllen` when that is not 65535.

use super::cursor::{Cursor, Str};
use super::error::{ErrorKind, Result};

const WHAT: &str = "ziplist";

pub struct Ziplist<'a> {
    c: Cursor<'a>,
    declared: u16,
    tail: usize,
    seen: u32,
    prev_size: usize,
    prev_start: Option<usize>,
    done: bool,
}

/// Reads an entry's encoding and data (after its prevlen) at the cursor. String encodings
/// are told apart by their top two bits only, as `ZIP_ENTRY_ENCODING` does.
fn read_value<'a>(c: &mut Cursor<'a>) -> Result<Str<'a>> {
    let enc = c.u8()?;
    Ok(match enc >> 6 {
        0 => Str::Bytes(c.take((enc & 0x3f) as usize)?),
        1 => {
            let n = (((enc & 0x3f) as usize) << 8) | c.u8()? as usize;
            Str::Bytes(c.take(n)?)
        }
        2 => {
            let n = u32::from_be_bytes(c.array()?) as usize;
            Str::Bytes(c.take(n)?)
        }
        _ => Str::Int(match enc {
            0xc0 => i16::from_le_bytes(c.array()?) as i64,
            0xd0 => i32::from_le_bytes(c.array()?) as i64,
            0xe0 => i64::from_le_bytes(c.array()?),
            0xf0 => {
                let b: [u8; 3] = c.array()?;
                (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as i64
            }
            0xfe => c.u8()? as i8 as i64,
            0xf1..=0xfd => (enc & 0x0f) as i64 - 1,
            _ => {
                let at = c.pos() - 1;
                return Err(c.err_at(
                    at,
                    ErrorKind::Corrupt {
                        container: WHAT,
                        reason: format!("bad integer encoding 0x{enc:02x}"),
                    },
                ));
            }
        }),
    })
}

fn read_prevlen(c: &mut Cursor) -> Result<usize> {
    Ok(match c.u8()? {
        0xfe => c.u32_le()? as usize,
        b => b as usize,
    })
}

/// The value of the entry that starts at `pos` of a ziplist already walked by
/// [`Ziplist::next_elem`].
pub fn element_at(data: &[u8], pos: usize) -> Result<Str<'_>> {
    let mut c = Cursor::new(data, super::cursor::Origin::File(0));
    c.set_pos(pos);
    read_prevlen(&mut c)?;
    read_value(&mut c)
}

impl<'a> Ziplist<'a> {
    pub fn open(mut c: Cursor<'a>) -> Result<Self> {
        let total = c.data().len();
        if total < 11 {
            // ziplistValidateIntegrity (ziplist.c:1497), run deep on every ziplist a file holds
            return Err(c.corrupt(WHAT, format!("{total} bytes is shorter than an empty ziplist")));
        }
        let zlbytes = c.u32_le()? as usize;
        if zlbytes != total {
            // ziplist.c:1501-1503
            return Err(
                c.corrupt(WHAT, format!("header says {zlbytes} bytes, the string holds {total}"))
            );
        }
        let tail = c.u32_le()? as usize;
        if tail > total - 1 {
            // ziplist.c:1510-1511
            return Err(
                c.corrupt(WHAT, format!("tail offset {tail} outside the {total}-byte blob"))
            );
        }
        let declared = c.u16_le()?;
        if c.data()[total - 1] != 0xff {
            return Err(c.err_at(
                total - 1,
                ErrorKind::Corrupt { container: WHAT, reason: "no 0xFF end marker".into() },
            ));
        }
        Ok(Ziplist { c, declared, tail, seen: 0, prev_size: 0, prev_start: None, done: false })
    }

    /// Where the next entry starts (an offset into the ziplist's bytes).
    pub fn pos(&self) -> usize {
        self.c.pos()
    }

    pub fn cursor(&self) -> &Cursor<'a> {
        &self.c
    }

    /// An error for a ziplist that ends where `what` was expected.
    pub fn end_error(&self, what: &str) -> super::Error {
        self.c.corrupt(WHAT, format!("ends where {what} was expected"))
    }

    fn err_at(&self, at: usize, reason: String) -> super::Error {
        self.c.err_at(at, ErrorKind::Corrupt { container: WHAT, reason })
    }

    pub fn next_elem(&mut self) -> Result<Option<Str<'a>>> {
        if self.done {
            return Ok(None);
        }
        let start = self.c.pos();
        if self.c.peek() == Some(0xff) {
            if self.c.remaining() != 1 {
                // ziplist.c:1543-1544 (deep, always for a file)
                return Err(self.err_at(start, "data after the end marker".into()));
            }
            if let Some(last) = self.prev_start
                && last != self.tail
            {
                // ziplist.c:1547-1548
                return Err(self.err_at(
                    4,
                    format!("tail offset {} but the last entry is at {last}", self.tail),
                ));
            }
            if self.declared != u16::MAX && self.seen != self.declared as u32 {
                // ziplist.c:1551-1552
                return Err(self.err_at(
                    8,
                    format!("header counts {} entries, found {}", self.declared, self.seen),
                ));
            }
            self.done = true;
            return Ok(None);
        }
        let prevlen = read_prevlen(&mut self.c)?;
        if prevlen != self.prev_size {
            return Err(self.err_at(
                start,
                format!("prevlen {prevlen} but the previous entry is {} bytes", self.prev_size),
            ));
        }
        let v = read_value(&mut self.c)?;
        // The last byte of the blob is the end marker: an entry must end before it.
        if self.c.remaining() == 0 {
            return Err(self.err_at(start, "entry runs into the end marker".into()));
        }
        self.prev_size = self.c.pos() - start;
        self.prev_start = Some(start);
        self.seen += 1;
        Ok(Some(v))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cursor::Origin;

    /// Builds a ziplist from encoded entries (encoding + data, without prevlen).
    pub fn build(entries: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = 10;
        for e in entries {
            tail = 10 + body.len();
            let start = body.len();
            if prev < 254 {
                body.push(prev as u8);
            } else {
                body.push(0xfe);
                body.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            body.extend_from_slice(e);
            prev = body.len() - start;
        }
        let mut z = Vec::new();
        z.extend_from_slice(&((11 + body.len()) as u32).to_le_bytes());
        z.extend_from_slice(&(tail as u32).to_le_bytes());
        z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        z.extend_from_slice(&body);
        z.push(0xff);
        z
    }

    fn all(z: &[u8]) -> Result<Vec<Str<'_>>> {
        let mut zl = Ziplist::open(Cursor::new(z, Origin::File(0)))?;
        let mut v = Vec::new();
        while let Some(s) = zl.next_elem()? {
            v.push(s);
        }
        Ok(v)
    }

    #[test]
    fn every_encoding() {
        let long = vec![b'x'; 300];
        let mut e14 = vec![0x41, 0x2c];
        e14.extend_from_slice(&long);
        let z = build(&[
            b"\x03abc",
            &e14,
            b"\xc0\x34\x12",
            b"\xd0\xff\xff\xff\xff",
            b"\xe0\x00\x00\x00\x00\x00\x00\x00\x80",
            b"\xf0\xff\xff\x7f",
            b"\xf0\x00\x00\x80",
            b"\xfe\x80",
            b"\xf1",
            b"\xfd",
        ]);
        let v = all(&z).unwrap();
        assert_eq!(v[0], Str::Bytes(b"abc"));
        assert_eq!(v[1], Str::Bytes(&long));
        assert_eq!(v[2], Str::Int(0x1234));
        assert_eq!(v[3], Str::Int(-1));
        assert_eq!(v[4], Str::Int(i64::MIN));
        assert_eq!(v[5], Str::Int(0x7fffff));
        assert_eq!(v[6], Str::Int(-0x800000));
        assert_eq!(v[7], Str::Int(-128));
        assert_eq!(v[8], Str::Int(0));
        assert_eq!(v[9], Str::Int(12));
    }

    #[test]
    fn rejects_corruption() {
        let mut z = build(&[b"\x03abc", b"\x01d"]);
        z[0] += 1; // zlbytes
        assert!(all(&z).is_err());
        let mut z = build(&[b"\x03abc", b"\x01d"]);
        z[8] = 3; // count
        assert!(all(&z).is_err());
        let mut z = build(&[b"\x03abc", b"\x01d"]);
        z[15] = 9; // prevlen of the second entry
        assert!(all(&z).is_err());
        let mut z = build(&[b"\x05abc"]);
        let n = z.len();
        z[n - 2] = b'c';
        assert!(all(&z).is_err()); // string runs into the end marker
    }

    #[test]
    fn server_rules() {
        let z = build(&[b"\x01a", b"\x01b", b"\x01c"]);
        assert_eq!(all(&z).unwrap().len(), 3);
        // zltail must point at the last entry
        let mut bad = z.clone();
        bad[4] = 13;
        let e = all(&bad).unwrap_err();
        assert!(e.to_string().contains("tail offset 13 but the last entry is at 16"), "{e}");
        assert_eq!(e.offset, 4);
        bad[4] = 20; // past the end marker's position: refused at open
        assert!(all(&bad).is_err());
        // an empty ziplist may have its tail anywhere inside the blob
        let mut empty = build(&[]);
        assert!(all(&empty).unwrap().is_empty());
        empty[4] = 10;
        assert!(all(&empty).unwrap().is_empty());
        // a 32-bit string length is told by the top two bits only (ZIP_ENTRY_ENCODING)
        let z = build(&[b"\x85\x00\x00\x00\x02hi"]);
        assert_eq!(all(&z).unwrap(), vec![Str::Bytes(b"hi")]);
        // unknown integer encodings
        let z = build(&[b"\xc1\x00\x00"]);
        assert!(all(&z).unwrap_err().to_string().contains("bad integer encoding 0xc1"));
    }
}
