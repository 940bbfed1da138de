//! The sizes of the small things values are made of: sds strings, listpack and ziplist
//! entries, intset members, skiplist nodes.

use super::target::Target;

/// An sds header type, by the bytes of its header (`sds.h`: type 5 has a 1-byte header and
/// no `alloc` field; 8, 16, 32 and 64 have 3, 5, 9 and 17).
pub fn sds_header(len: usize, new_rules: bool) -> usize {
    if len == 0 {
        // an empty sds is made type 8 (`_sdsnewlen`), to be appended to
        3
    } else if len < 32 {
        1
    } else if new_rules {
        // Valkey 8+, Redis 8.6 (`sdsReqType`): a type must hold the usable size too
        if len <= 252 {
            3
        } else if len <= 65_530 {
            5
        } else if len as u64 <= u32::MAX as u64 - 9 {
            9
        } else {
            17
        }
    } else if len < 256 {
        3
    } else if len < 65_536 {
        5
    } else if (len as u64) < (1u64 << 32) {
        9
    } else {
        17
    }
}

/// The request for an sds of `len` bytes: header, bytes, terminator.
pub fn sds_req(len: usize, new_rules: bool) -> usize {
    sds_header(len, new_rules) + len + 1
}

/// The request for an sds of at least type 8 (EMBSTR values, hash entries' values).
pub fn sds8_req(len: usize, new_rules: bool) -> usize {
    sds_header(len.max(32), new_rules) + len + 1
}

/// A string the server stores as an integer, and the bytes an element takes in a
/// listpack: the reader's own rules (`string2ll`, `lpEncodeGetType`).
pub use crate::format::{listpack_entry_len as lp_entry, parse_i64_strict as as_int};

/// A listpack's header and terminator.
pub const LP_OVERHEAD: usize = 7;
/// A ziplist's header and terminator.
pub const ZL_OVERHEAD: usize = 11;

/// Bytes a ziplist entry takes after an entry of `prev` bytes (`ziplist.c`).
pub fn zl_entry(len: usize, int: Option<i64>, prev: usize) -> usize {
    let prevlen = if prev < 254 { 1 } else { 5 };
    let body = match int {
        Some(v) if (0..=12).contains(&v) => 1,
        Some(v) if i8::try_from(v).is_ok() => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None if len <= 63 => 1 + len,
        None if len <= 16_383 => 2 + len,
        None => 5 + len,
    };
    prevlen + body
}

/// The bytes of an intset member's width (`intset.c`).
pub fn intset_width(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// How a server writes a score into a listpack or ziplist (`util.c:d2string`): an integral
/// score as an integer, else `%.17g` (Redis ≤ 7.0) or the shortest text that reads back
/// (`fpconv_dtoa`, Redis 7.2+ and Valkey). Returns (text length, integer).
pub fn score_text(score: f64, shortest: bool) -> (usize, Option<i64>) {
    if score.is_infinite() {
        return (if score > 0.0 { 3 } else { 4 }, None);
    }
    if score == 0.0 && score.is_sign_negative() && shortest {
        // 7.2+ write "-0"
        return (2, None);
    }
    // integral scores are written as integers: within ±2^52 up to 7.0, within
    // ±LLONG_MAX/2 from 7.2 (`double2ll`)
    let range = if shortest { (i64::MAX / 2) as f64 } else { (1u64 << 52) as f64 };
    if score == score.trunc() && score.abs() < range {
        let i = score as i64;
        return (itoa::Buffer::new().format(i).len(), Some(i));
    }
    if shortest {
        return (shortest_len(score), None);
    }
    (g17_len(score), None)
}

/// Length of `%.17g`.
fn g17_len(x: f64) -> usize {
    let e = format!("{x:.16e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = usize::from(mant.starts_with('-'));
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sig = digits.trim_end_matches('0').len().max(1);
    if (-4..17).contains(&exp) {
        // fixed notation: digits before and after the point
        let before = if exp >= 0 { exp as usize + 1 } else { 1 };
        let after = (sig as i32 - 1 - exp).max(0) as usize;
        neg + before + if after > 0 { 1 + after } else { 0 }
    } else {
        let exp_len = if exp.abs() >= 100 { 3 } else { 2 };
        neg + sig + usize::from(sig > 1) + 2 + exp_len
    }
}

/// Length of the shortest round-trip text in `%g`'s style.
fn shortest_len(x: f64) -> usize {
    let s = format!("{x:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = usize::from(mant.starts_with('-'));
    let sig = mant.chars().filter(char::is_ascii_digit).count();
    if (-6..21).contains(&exp) {
        let before = if exp >= 0 { exp as usize + 1 } else { 1 };
        let after = (sig as i32 - 1 - exp).max(0) as usize;
        neg + before + if after > 0 { 1 + after } else { 0 }
    } else {
        neg + sig + usize::from(sig > 1) + 2 + if exp.abs() >= 100 { 3 } else { 2 }
    }
}

/// The probability of each skiplist level (`t_zset.c:zslRandomLevel`: P = 1/4), the last
/// level taking what remains.
fn level_probability(level: usize, max: usize) -> f64 {
    if level < max { 0.75 * 0.25f64.powi(level as i32 - 1) } else { 0.25f64.powi(max as i32 - 1) }
}

/// The expected usable size of a skiplist node of `base + 16 × level` bytes.
pub fn expected_node(t: &Target, base: usize) -> f64 {
    let max = t.facts().skiplist_max_level.min(32);
    (1..=max).map(|l| level_probability(l, max) * t.a(base + 16 * l) as f64).sum()
}

/// `dictExpand`'s table: the next power of two, at least 4 (`dict.c:_dictNextExp`).
pub fn dict_buckets(n: u64) -> u64 {
    n.max(4).next_power_of_two()
}

/// Valkey's hashtable for `n` entries as `hashtableTryExpand` sizes it: 7 slots per
/// bucket at most ~5/32 buckets per entry, a power of two (`hashtable.c:nextBucketExp`).
pub fn valkey_buckets(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    (n * 5).div_ceil(32).next_power_of_two()
}

/// The bytes of a Valkey hashtable's buckets for `n` entries: 64 per bucket, child buckets
/// by their expectation.
pub fn valkey_bucket_bytes(n: u64) -> f64 {
    let b = valkey_buckets(n);
    64.0 * (b as f64 + valkey_child_buckets(n, b))
}

/// The expected child buckets of a Valkey hashtable: a bucket holds 7 entries, and one that
/// overflows keeps 6 and chains a child (entries spread as Poisson(n / buckets)).
pub fn valkey_child_buckets(n: u64, buckets: u64) -> f64 {
    if buckets == 0 || n == 0 {
        return 0.0;
    }
    let lambda = n as f64 / buckets as f64;
    let mut p = (-lambda).exp();
    let mut e = 0.0;
    for k in 1..200u32 {
        p *= lambda / k as f64;
        if k > 7 {
            e += p * ((k - 7) as f64 / 6.0).ceil();
        }
        if p < 1e-18 && k as f64 > lambda {
            break;
        }
    }
    buckets as f64 * e
}

/// Entries of a chained dict with `buckets` that share a bucket with another (a set's
/// no-value dict stores a lone member in the bucket itself: `dict.c`, `keys_are_odd`).
pub fn chained(n: u64, buckets: u64) -> f64 {
    if buckets == 0 {
        return 0.0;
    }
    let b = buckets as f64;
    n as f64 - b * (1.0 - (1.0 - 1.0 / b).powf(n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_sizes() {
        // what Redis 7.0 wrote: f0..f9 with value0..value9 is 127 bytes
        let mut n = LP_OVERHEAD;
        for i in 0..10 {
            let f = format!("f{i}");
            let v = format!("value{i}");
            n += lp_entry(f.len(), None) + lp_entry(v.len(), None);
        }
        assert_eq!(n, 127);
        assert_eq!(lp_entry(3, Some(100)), 2);
        assert_eq!(lp_entry(4, Some(1000)), 3);
        assert_eq!(lp_entry(200, None), 204);
    }

    #[test]
    fn ints() {
        assert_eq!(as_int(b"12345"), Some(12345));
        assert_eq!(as_int(b"-7"), Some(-7));
        assert_eq!(as_int(b"0"), Some(0));
        for bad in [&b"007"[..], b"-0", b"+1", b"", b"1a", b"99999999999999999999"] {
            assert_eq!(as_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn scores() {
        assert_eq!(score_text(3.0, false), (1, Some(3)));
        assert_eq!(score_text(0.1, false).0, "0.10000000000000001".len());
        assert_eq!(score_text(0.1, true).0, 3);
        assert_eq!(score_text(1.5, false).0, 3);
        assert_eq!(score_text(f64::INFINITY, true).0, 3);
        // nanosecond timestamps are integers from 7.2 on, strings before
        assert_eq!(score_text(1.7e18, true), (19, Some(1_700_000_000_000_000_000)));
        assert_eq!(score_text(1.7e18, false).1, None);
        assert_eq!(score_text(-0.0, true), (2, None));
        assert_eq!(score_text(-0.0, false), (1, Some(0)));
    }

    #[test]
    fn tables() {
        assert_eq!(dict_buckets(0), 4);
        assert_eq!(dict_buckets(200), 256);
        assert_eq!(valkey_buckets(6), 1);
        assert_eq!(valkey_buckets(200), 32);
        assert_eq!(valkey_buckets(1000), 256);
        assert_eq!(valkey_buckets(100_000), 16384);
        let c = valkey_child_buckets(10_000, valkey_buckets(10_000));
        assert!((200.0..300.0).contains(&c), "{c}");
        let ch = chained(200, 256);
        assert!((60.0..63.0).contains(&ch), "{ch}");
    }
}
