//! Zipmap (`src/zipmap.c`, type 9, RDB < 4 hashes): a count byte (254+ = unknown), then
//! entries `len key len free value <free bytes>`, lengths 1 byte (< 254) or 254 + u32 LE,
//! and 255 at the end.
//!
//! Invariants, as `zipmapValidateIntegrity` checks them: the blob is at least 2 bytes and
//! ends with 255; every entry lies before the end marker; a length under 254 is written in
//! one byte; the zipmap is not empty; the count byte is 254 or the entry count. (A length
//! byte of 255 where a value length is expected is a 5-byte length, as the server reads
//! it; only at the start of an entry does 255 end the zipmap.)

use super::cursor::Cursor;
use super::error::{ErrorKind, Result};

const WHAT: &str = "zipmap";

pub struct Zipmap<'a> {
    c: Cursor<'a>,
    declared: u8,
    seen: u64,
    done: bool,
}

/// A length: 1 byte under 254, else the byte and a u32 LE.
fn read_len(c: &mut Cursor) -> Result<(usize, usize)> {
    let b = c.u8()?;
    if b < 254 {
        return Ok((b as usize, 1));
    }
    Ok((c.u32_le()? as usize, 5))
}

/// The key of the entry that starts at `pos` of a zipmap already walked by
/// [`Zipmap::next_pair`].
pub fn key_at(data: &[u8], pos: usize) -> Result<&[u8]> {
    let mut c = Cursor::new(data, super::cursor::Origin::File(0));
    c.set_pos(pos);
    let (l, _) = read_len(&mut c)?;
    c.take(l)
}

impl<'a> Zipmap<'a> {
    pub fn open(c: Cursor<'a>) -> Result<Self> {
        let d = c.data();
        if d.len() < 2 {
            return Err(
                c.corrupt(WHAT, format!("{} bytes is shorter than an empty zipmap", d.len()))
            );
        }
        if d[d.len() - 1] != 255 {
            return Err(c.err_at(
                d.len() - 1,
                ErrorKind::Corrupt { container: WHAT, reason: "no 255 end marker".into() },
            ));
        }
        let mut c = c;
        let declared = c.u8()?;
        Ok(Zipmap { c, declared, seen: 0, done: false })
    }

    /// Where the next entry starts (an offset into the zipmap's bytes).
    pub fn pos(&self) -> usize {
        self.c.pos()
    }

    pub fn cursor(&self) -> &Cursor<'a> {
        &self.c
    }

    fn err_at(&self, at: usize, reason: String) -> super::Error {
        self.c.err_at(at, ErrorKind::Corrupt { container: WHAT, reason })
    }

    /// One length, checked as the server does: it and what it covers stay before the end
    /// marker (`more` bytes follow the length before the data), and a small length takes
    /// one byte.
    fn len(&mut self, what: &str) -> Result<usize> {
        let at = self.c.pos();
        let (l, size) = read_len(&mut self.c)?;
        if self.c.remaining() == 0 {
            return Err(self.err_at(at, format!("{what} length runs into the end marker")));
        }
        if l < 254 && size != 1 {
            return Err(self.err_at(at, format!("{what} length {l} written in 5 bytes")));
        }
        Ok(l)
    }

    fn data(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let at = self.c.pos();
        let b = self.c.take(n)?;
        if self.c.remaining() == 0 {
            return Err(self.err_at(at, format!("{what} runs into the end marker")));
        }
        Ok(b)
    }

    pub fn next_pair(&mut self) -> Result<Option<(&'a [u8], &'a [u8])>> {
        if self.done {
            return Ok(None);
        }
        if self.c.peek() == Some(255) {
            let at = self.c.pos();
            if self.c.remaining() != 1 {
                return Err(self.err_at(at, "data after the end marker".into()));
            }
            if self.seen == 0 {
                return Err(self.err_at(at, "empty zipmap".into()));
            }
            // zipmapValidateIntegrity (zipmap.c, "check that the count in the header is
            // correct"), which rdbLoadObject runs deep on every zipmap since Redis 6.2; older
            // servers had no such check and loaded these files (seen: 5.0 and 6.0)
            if self.declared != 254 && self.declared as u64 != self.seen {
                return Err(self.err_at(
                    0,
                    format!(
                        "count byte {} but {} entries (Redis 6.2 and later and Valkey refuse this file; Redis 6.0 and earlier loaded it)",
                        self.declared, self.seen
                    ),
                ));
            }
            self.done = true;
            return Ok(None);
        }
        let klen = self.len("field")?;
        let key = self.data(klen, "field")?;
        let vlen = self.len("value")?;
        let free = self.c.u8()? as usize;
        let val = self.c.take(vlen)?;
        self.data(free, "value")?;
        self.seen += 1;
        Ok(Some((key, val)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::Origin;

    #[test]
    fn entries_and_free_bytes() {
        let blob = [2, 1, b'a', 2, 1, b'x', b'y', 0, 2, b'b', b'c', 0, 0, 255];
        let mut z = Zipmap::open(Cursor::new(&blob, Origin::File(0))).unwrap();
        assert_eq!(z.next_pair().unwrap(), Some((&b"a"[..], &b"xy"[..])));
        assert_eq!(z.next_pair().unwrap(), Some((&b"bc"[..], &b""[..])));
        assert_eq!(z.next_pair().unwrap(), None);
        let trunc = [1, 5, b'a', 255];
        let mut z = Zipmap::open(Cursor::new(&trunc, Origin::File(0))).unwrap();
        assert!(z.next_pair().is_err());
    }

    fn all(blob: &[u8]) -> Result<usize> {
        let mut z = Zipmap::open(Cursor::new(blob, Origin::File(0)))?;
        let mut n = 0;
        while z.next_pair()?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    #[test]
    fn server_rules() {
        // zipmapValidateIntegrity: not empty, count byte 254 or exact, short lengths in 1 byte
        let e = all(&[0, 255]).unwrap_err();
        assert!(e.to_string().contains("empty zipmap"), "{e}");
        assert_eq!(all(&[254, 1, b'a', 1, 0, b'x', 255]).unwrap(), 1);
        let e = all(&[2, 1, b'a', 1, 0, b'x', 255]).unwrap_err();
        assert!(e.to_string().contains("count byte 2"), "{e}");
        let e = all(&[1, 254, 1, 0, 0, 0, b'a', 1, 0, b'x', 255]).unwrap_err();
        assert!(e.to_string().contains("written in 5 bytes"), "{e}");
        assert_eq!(e.offset, 1);
        // the value (and its free bytes) must end before the end marker
        let e = all(&[1, 1, b'a', 1, 0, 255]).unwrap_err();
        assert!(e.to_string().contains("byte offset"), "{e}");
        // a 5-byte value length of 255 is a length, as the server reads it
        let mut big = vec![1, 1, b'a', 255];
        big.extend_from_slice(&300u32.to_le_bytes());
        big.push(0);
        big.extend(std::iter::repeat_n(b'v', 300));
        big.push(255);
        assert_eq!(all(&big).unwrap(), 1);
    }
}
