//! Intset (`src/intset.c`, type 11): encoding width u32 LE (2, 4 or 8), count u32 LE,
//! then the values little-endian, sorted. Invariant: the blob is exactly header + count * width.

use super::cursor::Cursor;
use super::error::Result;

pub struct Intset<'a> {
    c: Cursor<'a>,
    width: u32,
    left: u32,
}

impl<'a> Intset<'a> {
    pub fn open(mut c: Cursor<'a>) -> Result<Self> {
        let width = c.u32_le()?;
        if !matches!(width, 2 | 4 | 8) {
            return Err(c.corrupt("intset", format!("bad encoding width {width}")));
        }
        let len = c.u32_le()?;
        if len as u64 * width as u64 != c.remaining() as u64 {
            return Err(c.corrupt(
                "intset",
                format!("{len} values of {width} bytes do not fill the {} bytes left", c.remaining()),
            ));
        }
        Ok(Intset { c, width, left: len })
    }
    pub fn len(&self) -> u64 {
        self.left as u64
    }
    pub fn next(&mut self) -> Result<Option<i64>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        Ok(Some(match self.width {
            2 => i16::from_le_bytes(self.c.array()?) as i64,
            4 => i32::from_le_bytes(self.c.array()?) as i64,
            _ => i64::from_le_bytes(self.c.array()?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::cursor::Origin;

    #[test]
    fn widths() {
        let blob = [4, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0];
        let mut s = Intset::open(Cursor::new(&blob, Origin::File(0))).unwrap();
        assert_eq!(s.next().unwrap(), Some(-1));
        assert_eq!(s.next().unwrap(), Some(65536));
        assert_eq!(s.next().unwrap(), None);
        let bad = [4, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(Intset::open(Cursor::new(&bad, Origin::File(0))).is_err());
        let bad = [3, 0, 0, 0, 0, 0, 0, 0];
        assert!(Intset::open(Cursor::new(&bad, Origin::File(0))).is_err());
    }
}
