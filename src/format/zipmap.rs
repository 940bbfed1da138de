//! Zipmap (`src/zipmap.c`, type 9, RDB < 4 hashes): a count byte (254+ = unknown), then
//! entries `len key len free value <free bytes>`, lengths 1 byte (< 254) or 254 + u32 LE,
//! and 255 at the end. Invariant: every entry lies inside the blob, nothing follows the end.

use super::cursor::Cursor;
use super::error::Result;

const WHAT: &str = "zipmap";

pub struct Zipmap<'a> {
    c: Cursor<'a>,
    done: bool,
}

impl<'a> Zipmap<'a> {
    pub fn open(mut c: Cursor<'a>) -> Result<Self> {
        c.u8()?;
        Ok(Zipmap { c, done: false })
    }

    fn len(&mut self) -> Result<Option<usize>> {
        Ok(match self.c.u8()? {
            255 => None,
            254 => Some(self.c.u32_le()? as usize),
            b => Some(b as usize),
        })
    }

    pub fn next(&mut self) -> Result<Option<(&'a [u8], &'a [u8])>> {
        if self.done {
            return Ok(None);
        }
        let Some(klen) = self.len()? else {
            if self.c.remaining() != 0 {
                return Err(self.c.corrupt(WHAT, "data after the end marker"));
            }
            self.done = true;
            return Ok(None);
        };
        let key = self.c.take(klen)?;
        let Some(vlen) = self.len()? else {
            return Err(self.c.corrupt(WHAT, "end marker where a value length was expected"));
        };
        let free = self.c.u8()? as usize;
        let val = self.c.take(vlen)?;
        self.c.take(free)?;
        Ok(Some((key, val)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::cursor::Origin;

    #[test]
    fn entries_and_free_bytes() {
        let blob = [2, 1, b'a', 2, 1, b'x', b'y', 0, 2, b'b', b'c', 0, 0, 255];
        let mut z = Zipmap::open(Cursor::new(&blob, Origin::File(0))).unwrap();
        assert_eq!(z.next().unwrap(), Some((&b"a"[..], &b"xy"[..])));
        assert_eq!(z.next().unwrap(), Some((&b"bc"[..], &b""[..])));
        assert_eq!(z.next().unwrap(), None);
        let trunc = [1, 5, b'a'];
        let mut z = Zipmap::open(Cursor::new(&trunc, Origin::File(0))).unwrap();
        assert!(z.next().is_err());
    }
}
