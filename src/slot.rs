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

/// A set of hash slots (`--slots 0-5460 --slots 10923`).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet(Box<[u64; 256]>);

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotSet({})", self.describe())
    }
}

impl SlotSet {
    /// The slots of `ranges` (each `(first, last)`, inclusive, below 16384).
    pub fn of(ranges: &[(u16, u16)]) -> SlotSet {
        let mut b = Box::new([0u64; 256]);
        for &(a, z) in ranges {
            for s in a..=z.min(16383) {
                b[s as usize / 64] |= 1 << (s % 64);
            }
        }
        SlotSet(b)
    }
    /// The slots in both sets.
    pub fn and(&self, other: &SlotSet) -> SlotSet {
        let mut b = self.0.clone();
        b.iter_mut().zip(other.0.iter()).for_each(|(x, y)| *x &= y);
        SlotSet(b)
    }
    pub fn contains(&self, slot: u16) -> bool {
        slot < 16384 && self.0[slot as usize / 64] & (1 << (slot % 64)) != 0
    }
    /// The set as sorted ranges.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for s in (0..16384u16).filter(|&s| self.contains(s)) {
            match out.last_mut() {
                Some((_, z)) if *z + 1 == s => *z = s,
                _ => out.push((s, s)),
            }
        }
        out
    }
    /// `0-5460,10923` (`none` when empty).
    pub fn describe(&self) -> String {
        let r: Vec<String> = self
            .ranges()
            .iter()
            .map(|&(a, z)| if a == z { a.to_string() } else { format!("{a}-{z}") })
            .collect();
        if r.is_empty() { "none".into() } else { r.join(",") }
    }
}

/// Parses `A-B` or `A` (slots 0 to 16383).
pub fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (a, z) = s.split_once('-').unwrap_or((s, s));
    let slot = |x: &str| {
        x.trim()
            .parse::<u16>()
            .ok()
            .filter(|&n| n < 16384)
            .ok_or_else(|| format!("{s:?} is not a slot range (A-B or A, slots 0 to 16383)"))
    };
    let (a, z) = (slot(a)?, slot(z)?);
    if a > z {
        return Err(format!("slot range {s:?} runs backwards"));
    }
    Ok((a, z))
}

#[cfg(test)]
mod tests {
    #[test]
    fn slot_sets() {
        let s = super::SlotSet::of(&[(0, 5), (7, 7), (16380, 16383)]);
        assert!(s.contains(0) && s.contains(5) && !s.contains(6) && s.contains(7));
        assert!(s.contains(16383) && !s.contains(16384) && !s.contains(8000));
        assert_eq!(s.describe(), "0-5,7,16380-16383");
        let t = super::SlotSet::of(&[(4, 16381)]);
        assert_eq!(s.and(&t).describe(), "4-5,7,16380-16381");
        assert_eq!(super::parse_range("10-20"), Ok((10, 20)));
        assert_eq!(super::parse_range("42"), Ok((42, 42)));
        assert!(super::parse_range("20-10").is_err());
        assert!(super::parse_range("16384").is_err());
        assert!(super::parse_range("a-b").is_err());
    }

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
