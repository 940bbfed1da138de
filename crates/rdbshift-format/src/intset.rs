//! Intset (`src/intset.c`, type 11): encoding width u32 LE (2, 4 or 8), count u32 LE,
//! then the values little-endian.
//!
//! Invariants, as `intsetValidateIntegrity` checks them with deep validation: the blob is
//! exactly header + count * width, the set is not empty, and the values are strictly
//! increasing (so sorted and without duplicates).

use super::cursor::Cursor;
use super::error::Result;

pub struct Intset<'a> {
    c: Cursor<'a>,
    width: u32,
    left: u32,
    prev: Option<i64>,
}

impl<'a> Intset<'a> {
    pub fn open(mut c: Cursor<'a>) -> Result<Self> {
        let width = c.u32_le()?;
        if !matches!(width, 2 | 4 | 8) {
            // intsetValidateIntegrity (intset.c:317-325), run on every load
            return Err(c.corrupt("intset", format!("bad encoding width {width}")));
        }
        let len = c.u32_le()?;
        if len as u64 * width as u64 != c.remaining() as u64 {
            return Err(c.corrupt(
                "intset",
                format!(
                    "{len} values of {width} bytes do not fill the {} bytes left",
                    c.remaining()
                ),
            ));
        }
        if len == 0 {
            // intset.c:333-334
            return Err(c.corrupt("intset", "empty intset"));
        }
        Ok(Intset { c, width, left: len, prev: None })
    }
    pub fn next_int(&mut self) -> Result<Option<i64>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let at = self.c.pos();
        let v = match self.width {
            2 => i16::from_le_bytes(self.c.array()?) as i64,
            4 => i32::from_le_bytes(self.c.array()?) as i64,
            _ => i64::from_le_bytes(self.c.array()?),
        };
        // intsetValidateIntegrity deep (intset.c:339-346; sanitize-dump-payload yes); a
        // duplicate in an intset over 512 members aborts any load (t_set.c:528)
        if let Some(p) = self.prev
            && v <= p
        {
            let why = if v == p {
                format!("duplicate member {v}")
            } else {
                format!("{v} after {p}: not sorted")
            };
            return Err(self
                .c
                .err_at(at, super::ErrorKind::Corrupt { container: "intset", reason: why }));
        }
        self.prev = Some(v);
        Ok(Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::Origin;

    #[test]
    fn widths() {
        let blob = [4, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0];
        let mut s = Intset::open(Cursor::new(&blob, Origin::File(0))).unwrap();
        assert_eq!(s.next_int().unwrap(), Some(-1));
        assert_eq!(s.next_int().unwrap(), Some(65536));
        assert_eq!(s.next_int().unwrap(), None);
        let bad = [4, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(Intset::open(Cursor::new(&bad, Origin::File(0))).is_err());
        let bad = [3, 0, 0, 0, 0, 0, 0, 0];
        assert!(Intset::open(Cursor::new(&bad, Origin::File(0))).is_err());
    }

    fn all(blob: &[u8]) -> Result<Vec<i64>> {
        let mut s = Intset::open(Cursor::new(blob, Origin::File(100)))?;
        let mut v = Vec::new();
        while let Some(x) = s.next_int()? {
            v.push(x);
        }
        Ok(v)
    }

    #[test]
    fn empty_unsorted_and_duplicates_are_refused() {
        // intsetValidateIntegrity: not empty, strictly increasing
        let e = all(&[2, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert!(e.to_string().contains("empty intset"), "{e}");
        assert_eq!(all(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0]).unwrap(), vec![1, 2]);
        let e = all(&[2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 2, 0]).unwrap_err();
        assert!(e.to_string().contains("duplicate member 2"), "{e}");
        assert_eq!(e.offset, 110, "the second value's offset");
        let e = all(&[2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 2, 0]).unwrap_err();
        assert!(e.to_string().contains("not sorted"), "{e}");
    }
}
