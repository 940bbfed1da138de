//! Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its hash tag (the part between
//! the first `{` and the next `}`, when not empty), modulo 16384 (`keyHashSlot` in
//! `cluster.c`).

const fn table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut j = 0;
        while j < 8 {
            c = if c & 0x8000 != 0 { (c << 1) ^ 0x1021 } else { c << 1 };
            j += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u16; 256] = table();

pub fn crc16(b: &[u8]) -> u16 {
    b.iter().fold(0u16, |crc, &x| (crc << 8) ^ TABLE[((crc >> 8) as u8 ^ x) as usize])
}

/// The hash slot of `key`.
pub fn of(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&c| c == b'{') {
        Some(s) => match key[s + 1..].iter().position(|&c| c == b'}') {
            Some(len) if len > 0 => &key[s + 1..s + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) % 16384
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_slots() {
        // values from the Redis Cluster specification and CLUSTER KEYSLOT
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(of(b"foo"), 12182);
        assert_eq!(of(b"{user1000}.following"), of(b"user1000"));
        assert_eq!(of(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        assert_eq!(of(b"foo{{bar}}zap"), crc16(b"{bar") % 16384);
        assert_eq!(of(b"foo{bar}{zap}"), of(b"bar"));
    }
}
