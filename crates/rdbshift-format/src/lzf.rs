//! LZF decompression (the format of Redis's `lzf_d.c`), into a buffer the caller owns.
//!
//! Invariant: the output never grows past the declared length, and it only grows as
//! real input is consumed, so a corrupt declared length cannot cause a large allocation
//! on its own.

/// Largest expansion LZF can achieve: a 3-byte back reference yields 264 bytes.
pub const MAX_RATIO: u64 = 88;

/// Decompresses `input` into `out` (cleared first); `out` ends up exactly `ulen` bytes long.
pub fn decompress(input: &[u8], ulen: usize, out: &mut Vec<u8>) -> Result<(), &'static str> {
    out.clear();
    if ulen as u64 > (input.len() as u64).saturating_mul(MAX_RATIO) {
        return Err("declared length is larger than the compressed bytes can expand to");
    }
    out.reserve(ulen.min(1 << 20));
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            if i + n > input.len() {
                return Err("literal run past the end of the compressed bytes");
            }
            if out.len() + n > ulen {
                return Err("output longer than the declared length");
            }
            out.extend_from_slice(&input[i..i + n]);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                let Some(&extra) = input.get(i) else {
                    return Err("back reference cut short");
                };
                len += extra as usize;
                i += 1;
            }
            let Some(&low) = input.get(i) else {
                return Err("back reference cut short");
            };
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low as usize + 1;
            len += 2;
            if back > out.len() {
                return Err("back reference before the start of the output");
            }
            if out.len() + len > ulen {
                return Err("output longer than the declared length");
            }
            let start = out.len() - back;
            if back >= len {
                out.extend_from_within(start..start + len);
            } else {
                for k in 0..len {
                    let b = out[start + k];
                    out.push(b);
                }
            }
        }
    }
    if out.len() != ulen {
        return Err("decompressed length differs from the declared length");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_backref() {
        // literal "abc" (ctrl 2), then back reference len 3+2=5? ctrl = (3<<5)|0, off low=2 => back 3
        let input = [2, b'a', b'b', b'c', (3 << 5), 2];
        let mut out = Vec::new();
        decompress(&input, 8, &mut out).unwrap();
        assert_eq!(out, b"abcabcab");
    }

    #[test]
    fn rejects_bad_input() {
        let mut out = Vec::new();
        assert!(decompress(&[5, b'a'], 6, &mut out).is_err());
        assert!(decompress(&[0x20, 9], 3, &mut out).is_err()); // back reference before start
        assert!(decompress(&[0, b'a'], 2, &mut out).is_err()); // too short
        assert!(decompress(&[0, b'a'], 1 << 40, &mut out).is_err()); // impossible length
    }
}
