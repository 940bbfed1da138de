//! Key metadata (opcode 243 in `REDIS0013`+ files, Redis 8.6 `src/keymeta.c`): a prefix
//! before a key's type byte. Layout: a class count (at most 7), then per class a 32-bit LE
//! class spec (4-character name in 24 bits, version in 5, flags in 3) and the class's value
//! as module opcodes ending with EOF (see [`super::module`]).

use super::cursor::Cursor;
use super::error::{ErrorKind, Result};
use super::module;

/// Most classes a key can carry (`KEY_META_MAX_NUM_MODULES`).
pub const MAX_CLASSES: u64 = 7;

/// Note: `_` and `-` are swapped compared with the module type charset.
const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// One metadata class attached to a key, borrowed from the file.
#[derive(Debug, Clone, Copy)]
pub struct MetaClass<'a> {
    /// The 4-character short name (the class's full name is `META-` + this).
    pub name: [u8; 4],
    /// The class version (5 bits of the spec, 0-31).
    pub version: u8,
    /// The class flags (low 3 bits of the spec, 0-7).
    pub flags: u8,
    /// The class value: module opcodes, EOF included.
    pub body: &'a [u8],
}

impl MetaClass<'_> {
    /// The class's full name, `META-` + the short name (`META-KMT1`).
    pub fn full_name(&self) -> String {
        format!("META-{}", String::from_utf8_lossy(&self.name))
    }
}

/// Decodes a 32-bit class spec into (name, version, flags).
pub fn decode_spec(spec: u32) -> ([u8; 4], u8, u8) {
    let flags = (spec & 7) as u8;
    let version = ((spec >> 3) & 31) as u8;
    let mut v = spec >> 8;
    let mut name = [0u8; 4];
    for i in (0..4).rev() {
        name[i] = CHARSET[(v & 63) as usize];
        v >>= 6;
    }
    (name, version, flags)
}

/// Reads the metadata after the 243 opcode; returns the classes (borrowed).
pub fn read<'a>(c: &mut Cursor<'a>) -> Result<Vec<MetaClass<'a>>> {
    let at = c.pos();
    let n = c.plain_len()?;
    if n > MAX_CLASSES {
        return Err(c.err_at(
            at,
            ErrorKind::Corrupt {
                container: "key metadata",
                reason: format!("{n} classes, at most {MAX_CLASSES} exist"),
            },
        ));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (name, version, flags) = decode_spec(c.u32_le()?);
        let start = c.pos();
        module::skip_opcodes(c)?;
        out.push(MetaClass { name, version, flags, body: &c.data()[start..c.pos()] });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a class spec the way Redis 8.6 `keyMetaClassEncode` lays it out.
    fn spec(name: &str, ver: u32, flags: u32) -> u32 {
        let mut v = 0u32;
        for ch in name.bytes() {
            v = (v << 6) | CHARSET.iter().position(|&c| c == ch).unwrap() as u32;
        }
        ((v << 5 | ver) << 3) | flags
    }

    #[test]
    fn hand_made_metadata() {
        // No module on this machine writes key metadata, so this follows the layout in
        // Redis 8.6 keymeta.c: count, then per class a LE u32 spec and module opcodes to EOF.
        let mut b = vec![2u8];
        b.extend_from_slice(&spec("KMT1", 3, 1).to_le_bytes());
        b.extend_from_slice(&[2, 0x2a, 0]); // UINT 42, EOF
        b.extend_from_slice(&spec("ABCD", 0, 0).to_le_bytes());
        b.extend_from_slice(&[5, 2, b'h', b'i', 0]); // STRING "hi", EOF
        b.push(0); // the type byte that follows
        let mut c = Cursor::file(&b);
        let m = read(&mut c).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].full_name(), "META-KMT1");
        assert_eq!((m[0].version, m[0].flags), (3, 1));
        assert_eq!(m[0].body, &[2, 0x2a, 0]);
        assert_eq!(m[1].body, &[5, 2, b'h', b'i', 0]);
        assert_eq!(c.remaining(), 1);

        let mut c = Cursor::file(&[8u8]);
        assert!(read(&mut c).is_err());
        let mut c = Cursor::file(&b[..7]);
        assert!(read(&mut c).is_err());
    }
}
