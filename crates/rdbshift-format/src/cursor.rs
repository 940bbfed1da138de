//! A bounds-checked reader over borrowed bytes, with RDB length and string decoding.
//!
//! Invariant: every read checks the bytes that remain first; a length read from the input
//! that the remaining bytes cannot hold is an error before anything is allocated.
//! Offsets in errors are absolute positions in the file (see [`Origin`]).

use super::error::{Error, ErrorKind, Result};
use super::lzf;

/// Where the bytes under a cursor come from, so errors can name a file offset.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Origin {
    /// The bytes sit in the file starting at this offset.
    File(u64),
    /// The bytes are the decompressed content of the LZF blob at this file offset.
    Lzf(u64),
}

/// A read position over borrowed bytes (the mapped file or a decompressed buffer); every
/// read is bounds-checked and advances the position.
#[derive(Clone, Copy, Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    origin: Origin,
}

/// A decoded RDB length prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    /// A plain length or count (6-, 14-, 32- or 64-bit form).
    Plain(u64),
    /// `11xxxxxx`: a special string encoding (0 int8, 1 int16, 2 int32, 3 LZF).
    Special(u8),
}

/// A string as stored: borrowed raw bytes, an integer, or an LZF blob not yet decompressed.
#[derive(Clone, Copy, Debug)]
pub enum RStr<'a> {
    /// Bytes stored as they are, borrowed from the input.
    Raw(&'a [u8]),
    /// An integer-encoded string (int8, int16 or int32), standing for its decimal text.
    Int(i64),
    /// An LZF-compressed string, not yet decompressed.
    Lzf {
        /// The compressed bytes, borrowed from the input.
        data: &'a [u8],
        /// The length in bytes once decompressed (checked against what `data` can expand to).
        ulen: usize,
        /// Absolute file offset of the string's length prefix, for errors.
        at: u64,
    },
}

/// A string value handed to consumers: bytes or an integer that stands for its decimal text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Str<'b> {
    /// The value's bytes, borrowed from the input or from a scratch buffer.
    Bytes(&'b [u8]),
    /// An integer that stands for its decimal text.
    Int(i64),
}

impl<'b> Str<'b> {
    /// The bytes of the value; integers are formatted into `tmp`.
    pub fn bytes<'t>(&self, tmp: &'t mut itoa::Buffer) -> &'t [u8]
    where
        'b: 't,
    {
        match *self {
            Str::Bytes(b) => b,
            Str::Int(i) => tmp.format(i).as_bytes(),
        }
    }
    /// The value as owned bytes (integers as their decimal text).
    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes(&mut itoa::Buffer::new()).to_vec()
    }
}

impl<'a> RStr<'a> {
    /// Decompresses if needed (into `buf`) and returns the value.
    pub fn get<'b>(&self, buf: &'b mut Vec<u8>) -> Result<Str<'b>>
    where
        'a: 'b,
    {
        Ok(match *self {
            RStr::Raw(b) => Str::Bytes(b),
            RStr::Int(i) => Str::Int(i),
            RStr::Lzf { data, ulen, at } => {
                lzf::decompress(data, ulen, buf).map_err(|e| Error::new(at, ErrorKind::Lzf(e)))?;
                Str::Bytes(&buf[..])
            }
        })
    }
    /// The string's bytes: borrowed from the file when stored raw, else decompressed or
    /// formatted into `buf`.
    pub fn bytes<'b>(&self, buf: &'b mut Vec<u8>) -> Result<&'b [u8]>
    where
        'a: 'b,
    {
        match *self {
            RStr::Int(i) => {
                buf.clear();
                buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
                Ok(&buf[..])
            }
            _ => match self.get(buf)? {
                Str::Bytes(b) => Ok(b),
                Str::Int(_) => unreachable!("only RStr::Int gives Str::Int"),
            },
        }
    }
    /// A cursor over the string's bytes, for containers (ziplist, listpack, ...) stored in a string.
    pub fn open<'b>(
        &self,
        buf: &'b mut Vec<u8>,
        container: &'static str,
        at: u64,
    ) -> Result<Cursor<'b>>
    where
        'a: 'b,
    {
        match *self {
            RStr::Raw(b) => Ok(Cursor::new(b, Origin::File(at))),
            RStr::Int(_) => {
                Err(Error::corrupt(at, container, "stored as an integer-encoded string"))
            }
            RStr::Lzf { data, ulen, at } => {
                lzf::decompress(data, ulen, buf).map_err(|e| Error::new(at, ErrorKind::Lzf(e)))?;
                Ok(Cursor::new(&buf[..], Origin::Lzf(at)))
            }
        }
    }
    /// Length of the value once decoded (for integers, of the decimal text).
    pub fn decoded_len(&self) -> usize {
        match *self {
            RStr::Raw(b) => b.len(),
            RStr::Int(i) => itoa::Buffer::new().format(i).len(),
            RStr::Lzf { ulen, .. } => ulen,
        }
    }
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`, whose bytes come from `origin`.
    pub fn new(buf: &'a [u8], origin: Origin) -> Self {
        Cursor { buf, pos: 0, origin }
    }
    /// A cursor over a whole file.
    pub fn file(buf: &'a [u8]) -> Self {
        Cursor::new(buf, Origin::File(0))
    }
    /// The current position, in bytes from the start of the buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// Moves to `pos` (clamped to the end of the buffer).
    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
    }
    /// Bytes left between the position and the end of the buffer.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// Whether the position is at the end of the buffer.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    /// The whole buffer under the cursor (not only what remains).
    pub fn data(&self) -> &'a [u8] {
        self.buf
    }
    /// Where the buffer's bytes come from.
    pub fn origin(&self) -> Origin {
        self.origin
    }
    /// The absolute file offset of the current position (for LZF content: the blob's offset).
    pub fn offset(&self) -> u64 {
        self.offset_of(self.pos)
    }
    /// The absolute file offset of buffer position `pos` (for LZF content: the blob's offset).
    pub fn offset_of(&self, pos: usize) -> u64 {
        match self.origin {
            Origin::File(base) => base + pos as u64,
            Origin::Lzf(blob) => blob,
        }
    }
    /// An error at position `pos` of this cursor.
    pub fn err_at(&self, pos: usize, kind: ErrorKind) -> Error {
        let mut e = Error::new(self.offset_of(pos), kind);
        if let Origin::Lzf(_) = self.origin {
            e.inner = Some(pos as u64);
        }
        e
    }
    /// An error at the current position.
    pub fn err(&self, kind: ErrorKind) -> Error {
        self.err_at(self.pos, kind)
    }
    /// A corruption error at the current position, naming the container and the reason.
    pub fn corrupt(&self, container: &'static str, reason: impl Into<String>) -> Error {
        self.err(ErrorKind::Corrupt { container, reason: reason.into() })
    }

    fn need(&self, n: u64) -> Result<()> {
        if n > self.remaining() as u64 {
            Err(self.err(ErrorKind::Truncated { needed: n, available: self.remaining() as u64 }))
        } else {
            Ok(())
        }
    }
    /// The next `n` bytes, borrowed from the buffer; fails if fewer remain.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        self.need(n as u64)?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// Moves past `n` bytes; fails if fewer remain.
    pub fn skip(&mut self, n: u64) -> Result<()> {
        self.need(n)?;
        self.pos += n as usize;
        Ok(())
    }
    /// The next `N` bytes, copied into an array.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }
    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    /// The byte at the position without moving, `None` at the end.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }
    /// Reads a little-endian `u16`.
    pub fn u16_le(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian `u32`.
    pub fn u32_le(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian `u64`.
    pub fn u64_le(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian `i64` (as RDB stores millisecond times).
    pub fn i64_le(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    /// Reads a big-endian `u64` (as the 64-bit length form and stream IDs store it).
    pub fn u64_be(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// Reads a little-endian IEEE 754 double (`rdbLoadBinaryDoubleValue`).
    pub fn f64_le(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// Reads an RDB length prefix (`rdbLoadLenByRef`).
    #[inline]
    pub fn len(&mut self) -> Result<Len> {
        let start = self.pos;
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Plain((b & 0x3f) as u64),
            1 => Len::Plain((((b & 0x3f) as u64) << 8) | self.u8()? as u64),
            3 => Len::Special(b & 0x3f),
            _ => match b {
                0x80 => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
                0x81 => Len::Plain(self.u64_be()?),
                _ => return Err(self.err_at(start, ErrorKind::BadLength(b))),
            },
        })
    }
    /// A plain length (a special encoding here is corruption).
    #[inline]
    pub fn plain_len(&mut self) -> Result<u64> {
        let start = self.pos;
        match self.len()? {
            Len::Plain(n) => Ok(n),
            Len::Special(s) => Err(self.err_at(start, ErrorKind::BadLength(0xc0 | s))),
        }
    }
    /// A count of things that follow, each at least `min_bytes` long: checked against what remains.
    pub fn count(&mut self, what: &'static str, min_bytes: u64) -> Result<u64> {
        let start = self.pos;
        let n = self.plain_len()?;
        let remaining = self.remaining() as u64;
        if n.saturating_mul(min_bytes) > remaining {
            return Err(self.err_at(start, ErrorKind::LengthTooLarge { what, len: n, remaining }));
        }
        Ok(n)
    }

    /// [`Cursor::string`] for the common case only, inline: raw bytes behind a 6-, 14- or
    /// 32-bit length that fit in what remains. `None` (the cursor unmoved) for anything else
    /// (an integer, LZF, a 64-bit length, damage): read it with [`Cursor::string`].
    #[inline(always)]
    pub fn raw_string(&mut self) -> Option<RStr<'a>> {
        self.raw_bytes().map(RStr::Raw)
    }

    /// [`Cursor::string`] for an integer-encoded string only (8-, 16- or 32-bit), inline.
    /// `None` (the cursor unmoved) for anything else, or one cut short (measured: a file
    /// of 3M counters converts a tenth faster than through `string`).
    #[inline(always)]
    pub fn small_int(&mut self) -> Option<i64> {
        let (buf, p) = (self.buf, self.pos);
        let (v, n) = match *buf.get(p)? {
            0xc0 => (*buf.get(p + 1)? as i8 as i64, 2),
            0xc1 => (i16::from_le_bytes(buf.get(p + 1..p + 3)?.try_into().ok()?) as i64, 3),
            0xc2 => (i32::from_le_bytes(buf.get(p + 1..p + 5)?.try_into().ok()?) as i64, 5),
            _ => return None,
        };
        self.pos = p + n;
        Some(v)
    }

    /// [`Cursor::raw_string`]'s bytes.
    #[inline(always)]
    pub fn raw_bytes(&mut self) -> Option<&'a [u8]> {
        let (buf, p) = (self.buf, self.pos);
        let b = *buf.get(p)?;
        let (n, head) = match b >> 6 {
            0 => ((b & 0x3f) as usize, 1),
            1 => ((((b & 0x3f) as usize) << 8) | *buf.get(p + 1)? as usize, 2),
            2 if b == 0x80 => {
                (u32::from_be_bytes(buf.get(p + 1..p + 5)?.try_into().ok()?) as usize, 5)
            }
            _ => return None,
        };
        let s = buf.get(p + head..)?.get(..n)?;
        self.pos = p + head + n;
        Some(s)
    }

    /// Reads an RDB string (`rdbGenericLoadStringObject`), borrowing raw bytes.
    #[inline]
    pub fn string(&mut self) -> Result<RStr<'a>> {
        let start = self.pos;
        match self.len()? {
            Len::Plain(n) => {
                let remaining = self.remaining() as u64;
                if n > remaining {
                    return Err(self.err_at(
                        start,
                        ErrorKind::LengthTooLarge { what: "string", len: n, remaining },
                    ));
                }
                Ok(RStr::Raw(self.take(n as usize)?))
            }
            Len::Special(0) => Ok(RStr::Int(self.u8()? as i8 as i64)),
            Len::Special(1) => Ok(RStr::Int(i16::from_le_bytes(self.array()?) as i64)),
            Len::Special(2) => Ok(RStr::Int(i32::from_le_bytes(self.array()?) as i64)),
            Len::Special(3) => {
                let clen = self.plain_len()?;
                let ulen = self.plain_len()?;
                let remaining = self.remaining() as u64;
                if clen > remaining {
                    return Err(self.err_at(
                        start,
                        ErrorKind::LengthTooLarge { what: "LZF string", len: clen, remaining },
                    ));
                }
                if ulen > clen.saturating_mul(lzf::MAX_RATIO) || ulen > usize::MAX as u64 / 2 {
                    return Err(self.err_at(
                        start,
                        ErrorKind::Lzf(
                            "declared length is larger than the compressed bytes can expand to",
                        ),
                    ));
                }
                let at = self.offset_of(start);
                let data = self.take(clen as usize)?;
                Ok(RStr::Lzf { data, ulen: ulen as usize, at })
            }
            Len::Special(s) => Err(self.err_at(start, ErrorKind::BadLength(0xc0 | s))),
        }
    }
    /// Skips an RDB string without decompressing it.
    pub fn skip_string(&mut self) -> Result<()> {
        self.string().map(|_| ())
    }
    /// Reads a string and returns it as owned bytes (for short things such as names).
    pub fn owned_string(&mut self) -> Result<Vec<u8>> {
        let s = self.string()?;
        let mut buf = Vec::new();
        Ok(s.get(&mut buf)?.to_vec())
    }
    /// A double stored as text with a length byte (`rdbLoadDoubleValue`, zset type 3).
    pub fn text_double(&mut self) -> Result<f64> {
        let start = self.pos;
        let n = self.u8()?;
        Ok(match n {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            _ => {
                let b = self.take(n as usize)?;
                parse_double(b).ok_or_else(|| {
                    self.err_at(
                        start,
                        ErrorKind::Corrupt {
                            container: "double",
                            reason: format!("not a number: {:?}", String::from_utf8_lossy(b)),
                        },
                    )
                })?
            }
        })
    }
}

/// Parses a double as Redis's `strtod` would for values it wrote itself
/// ("inf", "-inf", "nan", decimal and exponent forms).
pub fn parse_double(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    match s {
        "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" | "-nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_string_reads_what_string_reads_or_leaves_it() {
        let mut cases: Vec<Vec<u8>> = vec![
            vec![0],
            vec![3, b'a', b'b', b'c'],
            vec![0x3f],
            [vec![0x40, 200], vec![7; 200]].concat(),
            [vec![0x80, 0, 0, 0x01, 0x2c], vec![9; 300]].concat(),
            [vec![0x81, 0, 0, 0, 0, 0, 0, 0, 2], vec![1, 2]].concat(),
            vec![0xc0, 7],
            vec![0xc1, 1, 2],
            vec![0xc2, 1, 2, 3, 4],
            vec![0xc3, 4, 9, 2, b'a', b'b', b'c', 0x80, 2],
            vec![0xc5],
        ];
        // every case cut short too: lengths past the end
        for i in 0..cases.len() {
            for cut in 0..cases[i].len() {
                cases.push(cases[i][..cut].to_vec());
            }
        }
        let mut fast = 0;
        for b in &cases {
            let mut raw = Cursor::file(b);
            let mut whole = Cursor::file(b);
            match raw.raw_string() {
                Some(s) => {
                    fast += 1;
                    let w = whole.string().expect("raw_string read it");
                    assert!(matches!((s, w), (RStr::Raw(x), RStr::Raw(y)) if x == y), "{b:?}");
                    assert_eq!(raw.pos(), whole.pos());
                }
                // left to the whole reading, which reads it or names the damage
                None => assert_eq!(raw.pos(), 0, "{b:?}"),
            }
        }
        assert_eq!(fast, 4, "the whole raw forms: two of 6-bit lengths, a 14- and a 32-bit one");
    }

    #[test]
    fn lengths() {
        let data = [0x05, 0x41, 0x02, 0x80, 0, 0, 1, 0, 0x81, 0, 0, 0, 1, 0, 0, 0, 0, 0xc3];
        let mut c = Cursor::file(&data);
        assert_eq!(c.len().unwrap(), Len::Plain(5));
        assert_eq!(c.len().unwrap(), Len::Plain(0x102));
        assert_eq!(c.len().unwrap(), Len::Plain(256));
        assert_eq!(c.len().unwrap(), Len::Plain(1 << 32));
        assert_eq!(c.len().unwrap(), Len::Special(3));
        let mut bad = Cursor::file(&[0x82]);
        assert!(matches!(bad.len().unwrap_err().kind, ErrorKind::BadLength(0x82)));
    }

    #[test]
    fn int_strings_are_little_endian() {
        let data = [0xc0, 0xfe, 0xc1, 0x34, 0x12, 0xc2, 0xff, 0xff, 0xff, 0x7f];
        let mut c = Cursor::file(&data);
        assert!(matches!(c.string().unwrap(), RStr::Int(-2)));
        assert!(matches!(c.string().unwrap(), RStr::Int(0x1234)));
        assert!(matches!(c.string().unwrap(), RStr::Int(0x7fffffff)));
    }

    #[test]
    fn oversized_string_names_offset() {
        let data = [b'x', b'x', 0x80, 0xff, 0xff, 0xff, 0xf0, b'a'];
        let mut c = Cursor::file(&data);
        c.skip(2).unwrap();
        let e = c.string().unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(matches!(e.kind, ErrorKind::LengthTooLarge { .. }));
    }

    #[test]
    fn lzf_string() {
        let data = [0xc3, 6, 8, 2, b'a', b'b', b'c', 0x60, 2];
        let mut c = Cursor::file(&data);
        let s = c.string().unwrap();
        let mut buf = Vec::new();
        assert_eq!(s.get(&mut buf).unwrap(), Str::Bytes(b"abcabcab"));
        assert_eq!(s.decoded_len(), 8);
    }
}
