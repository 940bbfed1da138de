//! Module values (type 7, `src/module.c`) and module aux data (opcode 247).
//!
//! A module type id is 64 bits: nine 6-bit symbols of the type name in the top 54 bits,
//! the encoding version in the low 10. A value is a sequence of typed opcodes, each a
//! length: 1 signed int (a length), 2 unsigned int (a length), 3 float (4 bytes),
//! 4 double (8 bytes), 5 string; 0 ends it. That is what lets us skip and carry a value
//! without the module.

use super::cursor::Cursor;
use super::error::Result;

const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The module type name (9 characters) encoded in an id.
pub fn type_name(id: u64) -> String {
    (0..9).map(|i| CHARSET[((id >> (64 - 6 * (i + 1))) & 63) as usize] as char).collect()
}

/// The encoding version in an id.
pub fn encver(id: u64) -> u32 {
    (id & 1023) as u32
}

/// The module type id at the start of a module value's body (what follows the type byte 7
/// in a file or a DUMP payload), if the body starts with a well-formed length.
pub fn payload_id(body: &[u8]) -> Option<u64> {
    Cursor::file(body).plain_len().ok()
}

/// Skips module opcodes up to and including the EOF opcode.
pub(crate) fn skip_opcodes(c: &mut Cursor) -> Result<()> {
    loop {
        let at = c.pos();
        match c.plain_len()? {
            0 => return Ok(()),
            1 | 2 => {
                c.plain_len()?;
            }
            3 => c.skip(4)?,
            4 => c.skip(8)?,
            5 => c.skip_string()?,
            op => {
                return Err(c.err_at(
                    at,
                    super::ErrorKind::Corrupt {
                        container: "module value",
                        reason: format!("unknown module opcode {op}"),
                    },
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(name: &str, ver: u64) -> u64 {
        let mut id = 0u64;
        for ch in name.bytes() {
            id = (id << 6) | CHARSET.iter().position(|&c| c == ch).unwrap() as u64;
        }
        (id << 10) | ver
    }

    #[test]
    fn names() {
        let id = id_of("ReJSON-RL", 3);
        assert_eq!(type_name(id), "ReJSON-RL");
        assert_eq!(encver(id), 3);
        // the id in redis-rdb-tools' redis_40_with_module.rdb
        assert_eq!(type_name(0x45e25238df912c00), "ReJSON-RL");
    }

    #[test]
    fn skip_all_opcodes() {
        let data =
            [1, 5, 2, 0x40, 0x10, 3, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 5, 2, b'h', b'i', 0, 9];
        let mut c = Cursor::file(&data);
        skip_opcodes(&mut c).unwrap();
        assert_eq!(c.remaining(), 1);
        let mut c = Cursor::file(&[6]);
        assert!(skip_opcodes(&mut c).is_err());
    }
}
