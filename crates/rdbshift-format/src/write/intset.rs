//! An intset (`src/intset.c`): the encoding (2, 4 or 8 bytes, the smallest that holds every
//! member), the count, then the members ascending, each LE. Invariants (what
//! `intsetValidateIntegrity` checks): members sorted and unique, count and size agree.

/// The intset holding `members` (sorted and deduplicated here); `None` when there are
/// none (an empty intset is refused by the server) or more than `u32::MAX`.
pub fn build(members: &mut Vec<i64>) -> Option<Vec<u8>> {
    members.sort_unstable();
    members.dedup();
    if members.is_empty() || members.len() > u32::MAX as usize {
        return None;
    }
    let (lo, hi) = (members[0], members[members.len() - 1]);
    let width: u32 = if i16::try_from(lo).is_ok() && i16::try_from(hi).is_ok() {
        2
    } else if i32::try_from(lo).is_ok() && i32::try_from(hi).is_ok() {
        4
    } else {
        8
    };
    let mut b = Vec::with_capacity(8 + members.len() * width as usize);
    b.extend_from_slice(&width.to_le_bytes());
    b.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for &m in members.iter() {
        b.extend_from_slice(&m.to_le_bytes()[..width as usize]);
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use crate::cursor::Cursor;

    fn read_back(blob: &[u8]) -> Vec<i64> {
        let mut s = crate::intset::Intset::open(Cursor::file(blob)).unwrap();
        let mut out = Vec::new();
        while let Some(i) = s.next_int().unwrap() {
            out.push(i);
        }
        out
    }

    #[test]
    fn widths_and_order() {
        for (mut m, width) in [
            (vec![3, -1, 2, 3], 2u32),
            (vec![70000, 1], 4),
            (vec![-5_000_000_000, 0, i64::MAX, i64::MIN], 8),
        ] {
            let blob = super::build(&mut m).unwrap();
            assert_eq!(u32::from_le_bytes(blob[..4].try_into().unwrap()), width);
            assert_eq!(read_back(&blob), m);
        }
        assert_eq!(super::build(&mut Vec::new()), None);
    }
}
