//! Listpack (`src/listpack.c`): the compact encoding of RDB 10+ (types 15-21, 25, 26).
//!
//! Layout: total bytes u32 LE, element count u16 LE (65535 = unknown), elements, `0xFF`.
//! An element: encoding (+ data), then `backlen`, the size of encoding+data written in 1-5
//! bytes, 7 bits each, read from its last byte backwards.
//!
//! Invariants kept here, as `lpValidateIntegrity` and `lpValidateNext` check them with deep
//! validation: the header's byte count is the blob's size and the blob ends with `0xFF`;
//! every element's encoding is known and the element lies before the end marker; each
//! backlen, decoded from its last byte backwards as the server does, equals the element's
//! size; nothing follows the end marker; the element count matches the header unless that
//! says 65535.

use super::cursor::{Cursor, Str};
use super::error::{ErrorKind, Result};

const WHAT: &str = "listpack";

pub struct Listpack<'a> {
    c: Cursor<'a>,
    declared: u16,
    seen: u32,
    done: bool,
}

/// Bytes the backlen of an element of `l` bytes takes (`lpEncodeBacklenBytes`).
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Parses a whole byte string as an integer the way `string2ll`/`lpStringToInt64` do: an
/// optional `-`, no `+`, no leading zeros (`0` alone excepted), no spaces, fits in i64,
/// fewer than 21 bytes.
pub fn parse_i64_strict(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() >= 21 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    if neg {
        if v > 1 << 63 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// The bytes a string takes once appended to a listpack (`lpEncodeGetType` plus the
/// backlen): strings that read as integers are stored as integers.
pub fn entry_size(b: &[u8]) -> u64 {
    entry_len(b.len(), parse_i64_strict(b)) as u64
}

/// The bytes an element of `len` bytes takes in a listpack, given what
/// [`parse_i64_strict`] makes of it (`int`): encoding, data and backlen.
pub fn entry_len(len: usize, int: Option<i64>) -> usize {
    let enc = match int {
        Some(v) => match v {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8388608..=8388607 => 4,
            -2147483648..=2147483647 => 5,
            _ => 9,
        },
        None => match len {
            0..=63 => 1 + len,
            64..=4095 => 2 + len,
            _ => 5 + len,
        },
    };
    enc + backlen_size(enc)
}

/// Reads one element's encoding and data (not its backlen) at the cursor.
fn read_value<'a>(c: &mut Cursor<'a>, start: usize) -> Result<Str<'a>> {
    let enc = c.u8()?;
    Ok(if enc & 0x80 == 0 {
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
                    ErrorKind::Corrupt {
                        container: WHAT,
                        reason: format!("bad encoding byte 0x{enc:02x}"),
                    },
                ));
            }
        }
    })
}

/// Reads the element at the cursor (value and backlen) without checking it: for walking
/// again elements that [`Listpack::next_elem`] has already checked.
pub fn read_element<'a>(c: &mut Cursor<'a>) -> Result<Str<'a>> {
    let start = c.pos();
    let v = read_value(c, start)?;
    let l = c.pos() - start;
    c.skip(backlen_size(l) as u64)?;
    Ok(v)
}

/// The element that starts at `pos` of a listpack already walked by [`Listpack::next_elem`].
pub fn element_at(data: &[u8], pos: usize) -> Result<Str<'_>> {
    let mut c = Cursor::new(data, super::cursor::Origin::File(0));
    c.set_pos(pos);
    read_value(&mut c, pos)
}

/// Decodes a backlen backwards from its last byte at `end - 1`, as `lpDecodeBacklen` does:
/// 7 bits per byte, continuing while the high bit is set, at most 5 bytes.
fn decode_backlen(d: &[u8], end: usize) -> Option<u64> {
    let mut val = 0u64;
    for k in 0..5 {
        let b = *d.get(end.checked_sub(1 + k)?)?;
        val |= ((b & 0x7f) as u64) << (7 * k);
        if b & 0x80 == 0 {
            return Some(val);
        }
    }
    None
}

impl<'a> Listpack<'a> {
    pub fn open(mut c: Cursor<'a>) -> Result<Self> {
        let total = c.data().len();
        if total < 7 {
            // lpValidateIntegrity header check (listpack.c:1700), run on every load
            return Err(c.corrupt(WHAT, format!("{total} bytes is shorter than an empty listpack")));
        }
        let declared_total = c.u32_le()? as usize;
        if declared_total != total {
            // listpack.c:1704-1706
            return Err(c.corrupt(
                WHAT,
                format!("header says {declared_total} bytes, the string holds {total}"),
            ));
        }
        let declared = c.u16_le()?;
        if c.data()[total - 1] != 0xff {
            return Err(c.err_at(
                total - 1,
                ErrorKind::Corrupt { container: WHAT, reason: "no 0xFF end marker".into() },
            ));
        }
        Ok(Listpack { c, declared, seen: 0, done: false })
    }

    /// Where the next element starts (an offset into the listpack's bytes).
    pub fn pos(&self) -> usize {
        self.c.pos()
    }

    /// The next element, or `None` at the end marker.
    pub fn next_elem(&mut self) -> Result<Option<Str<'a>>> {
        if self.done {
            return Ok(None);
        }
        let c = &mut self.c;
        let start = c.pos();
        if c.peek() == Some(0xff) {
            // lpValidateIntegrity deep (listpack.c:1735-1736; sanitize-dump-payload yes)
            if c.remaining() != 1 {
                return Err(c.err_at(
                    start,
                    ErrorKind::Corrupt {
                        container: WHAT,
                        reason: "data after the end marker".into(),
                    },
                ));
            }
            // listpack.c:1738-1740, deep only
            if self.declared != u16::MAX && self.seen != self.declared as u32 {
                return Err(c.err_at(
                    start,
                    ErrorKind::Corrupt {
                        container: WHAT,
                        reason: format!(
                            "header counts {} elements, found {}",
                            self.declared, self.seen
                        ),
                    },
                ));
            }
            c.skip(1)?;
            self.done = true;
            return Ok(None);
        }
        let v = read_value(c, start)?;
        let l = c.pos() - start;
        let bl_at = c.pos();
        c.skip(backlen_size(l) as u64)?;
        // lpValidateNext (listpack.c:1679-1682), deep only; lpFirst asserts it on a stream
        // node's first element at every load
        match decode_backlen(c.data(), c.pos()) {
            Some(val) if val == l as u64 => {}
            val => {
                let shown = val.map_or("unreadable".to_string(), |v| v.to_string());
                return Err(c.err_at(
                    bl_at,
                    ErrorKind::Corrupt {
                        container: WHAT,
                        reason: format!("backlen {shown} but the element is {l} bytes"),
                    },
                ));
            }
        }
        if c.remaining() == 0 {
            return Err(c.err_at(
                start,
                ErrorKind::Corrupt {
                    container: WHAT,
                    reason: "element runs into the end marker".into(),
                },
            ));
        }
        self.seen += 1;
        Ok(Some(v))
    }

    fn err_at(&self, at: usize, reason: String) -> super::Error {
        self.c.err_at(at, ErrorKind::Corrupt { container: WHAT, reason })
    }

    /// The next element, which must exist.
    pub fn expect(&mut self, what: &str) -> Result<Str<'a>> {
        let at = self.c.pos();
        self.next_elem()?.ok_or_else(|| self.err_at(at, format!("ends where {what} was expected")))
    }

    /// The next element as an integer: integer-encoded, or a string that reads as one
    /// (`lpGetIntegerIfValid` in `t_stream.c`).
    pub fn expect_int(&mut self, what: &str) -> Result<i64> {
        let at = self.c.pos();
        match self.expect(what)? {
            Str::Int(i) => Ok(i),
            Str::Bytes(b) => parse_i64_strict(b)
                .ok_or_else(|| self.err_at(at, format!("{what} is not an integer"))),
        }
    }

    /// The next element, which must be integer-encoded (`lpGetIntegerValue`).
    pub fn expect_encoded_int(&mut self, what: &str) -> Result<i64> {
        let at = self.c.pos();
        match self.expect(what)? {
            Str::Int(i) => Ok(i),
            Str::Bytes(_) => Err(self.err_at(at, format!("{what} is a string, not an integer"))),
        }
    }

    pub fn cursor(&self) -> &Cursor<'a> {
        &self.c
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cursor::Origin;

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
        while let Some(s) = l.next_elem()? {
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

    #[test]
    fn server_rules() {
        // the backlen is read backwards from its last byte: a 2-byte backlen whose last byte
        // lacks the continuation bit reads as 1 byte, as lpDecodeBacklen reads it
        let mut e = elem(&Str::Bytes(&[b'x'; 200]));
        let n = e.len();
        assert_eq!(e[n - 2..], [1, 0x80 | 74]);
        e[n - 1] &= 0x7f;
        let mut lp = (6 + e.len() as u32 + 1).to_le_bytes().to_vec();
        lp.extend([1, 0]);
        lp.extend(&e);
        lp.push(0xff);
        let err = all(&lp).unwrap_err();
        assert!(err.to_string().contains("backlen 74 but the element is 202 bytes"), "{err}");
        // unknown encodings 0xf5..0xfe
        let bad = [8, 0, 0, 0, 1, 0, 0xf5, 0xff];
        assert!(all(&bad).unwrap_err().to_string().contains("bad encoding byte 0xf5"));
        // 65535 in the header: any count
        let mut lp = build(&[Str::Int(1), Str::Int(2)]);
        lp[4..6].copy_from_slice(&[0xff, 0xff]);
        assert_eq!(all(&lp).unwrap().len(), 2);
        lp[4] = 3;
        lp[5] = 0;
        assert!(all(&lp).unwrap_err().to_string().contains("header counts 3 elements, found 2"));
    }

    #[test]
    fn integers_as_the_server_reads_them() {
        for (t, v) in [("0", Some(0)), ("-1", Some(-1)), ("9223372036854775807", Some(i64::MAX))] {
            assert_eq!(parse_i64_strict(t.as_bytes()), v, "{t}");
        }
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
        for t in ["", "-", "+1", "01", "-0", " 1", "1 ", "9223372036854775808", "1.0", "0x1"] {
            assert_eq!(parse_i64_strict(t.as_bytes()), None, "{t:?}");
        }
        // the size lpAppend gives a string: integers stored as such
        assert_eq!(entry_size(b"7"), 2);
        assert_eq!(entry_size(b"1000"), 3);
        assert_eq!(entry_size(b"abc"), 5);
        assert_eq!(entry_size(&[b'a'; 100]), 2 + 100 + 1);
        assert_eq!(entry_size(b"-0"), 4, "not an integer: a 2-byte string");
    }
}
