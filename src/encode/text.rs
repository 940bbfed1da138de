//! Small text encoders shared by the writers: base64, JSON strings, doubles.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Writes `[a,b,...]`, each item written by `f`.
pub fn json_list<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut f: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        f(out, x);
    }
    out.push(b']');
}

/// Writes `{"k":v,...}`, each key a JSON string and each value written by `f`.
pub fn json_object<K: AsRef<str>, T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = (K, T)>,
    mut f: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'{');
    for (i, (k, v)) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, k.as_ref());
        out.push(b':');
        f(out, v);
    }
    out.push(b'}');
}

/// Standard base64 with padding.
pub fn base64(out: &mut Vec<u8>, data: &[u8]) {
    for ch in data.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63]);
        out.push(B64[(n >> 12) as usize & 63]);
        out.push(if ch.len() > 1 { B64[(n >> 6) as usize & 63] } else { b'=' });
        out.push(if ch.len() > 2 { B64[n as usize & 63] } else { b'=' });
    }
}

/// Writes `s` as a quoted JSON string (it must be valid UTF-8).
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut last = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&b[last..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ]);
        } else {
            out.extend_from_slice(esc);
        }
        last = i + 1;
    }
    out.extend_from_slice(&b[last..]);
    out.push(b'"');
}

/// Writes bytes as a JSON string: exactly when they are valid UTF-8 (returns true), else
/// lossily, each invalid sequence as U+FFFD (returns false: the caller adds the exact bytes
/// in a `*_base64` field).
pub fn json_text(out: &mut Vec<u8>, data: &[u8]) -> bool {
    match std::str::from_utf8(data) {
        Ok(s) => {
            json_str(out, s);
            true
        }
        Err(_) => {
            json_str(out, &String::from_utf8_lossy(data));
            false
        }
    }
}

/// A JSON field `"name":"text"` for bytes, plus `"name_base64":"..."` when they are not
/// UTF-8 (see [`json_text`]). `out` already holds what precedes the field.
pub fn json_bytes_field(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    json_str(out, name);
    out.push(b':');
    if !json_text(out, data) {
        out.push(b',');
        json_str(out, &format!("{name}_base64"));
        out.extend_from_slice(b":\"");
        base64(out, data);
        out.push(b'"');
    }
}

/// Formats a double so that parsing the text gives the same double back (shortest form),
/// as Redis's parser reads it: `inf`, `-inf`, `nan`, decimal or exponent notation.
pub fn double(out: &mut Vec<u8>, x: f64) {
    use std::io::Write;
    if x.is_nan() {
        out.extend_from_slice(b"nan");
    } else if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b"inf" } else { b"-inf" });
    } else if x != 0.0 && !(1e-6..1e21).contains(&x.abs()) {
        write!(out, "{x:e}").unwrap();
    } else {
        write!(out, "{x}").unwrap();
    }
}

/// A double as a JSON value: a number, or a string for the non-finite ones. Negative zero
/// is written `-0.0`, since JSON readers take `-0` for the integer zero.
pub fn json_double(out: &mut Vec<u8>, x: f64) {
    if x == 0.0 && x.is_sign_negative() {
        out.extend_from_slice(b"-0.0");
    } else if x.is_finite() {
        double(out, x)
    } else {
        out.push(b'"');
        double(out, x);
        out.push(b'"');
    }
}

/// A byte string as redis-cli shows it, so that it can be pasted back as one argument:
/// printable ASCII without spaces, quotes or backslashes as is; anything else in double
/// quotes with `\n`, `\r`, `\t`, `\a`, `\b`, `\"`, `\\` and `\xHH` escapes (`sdscatrepr` in
/// `src/sds.c`).
pub fn quote(b: &[u8]) -> String {
    let bare = !b.is_empty()
        && b.iter().all(|&c| c.is_ascii_graphic() && !matches!(c, b'"' | b'\'' | b'\\'));
    if bare {
        return String::from_utf8_lossy(b).into_owned();
    }
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// A byte count for a person: `512 B`, `1.5 KiB`, `462.0 MiB`, `1.1 GiB`.
pub fn size(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Unix milliseconds as a UTC date and time, `2262-04-11T23:47:16.854Z` (proleptic
/// Gregorian; what a person reads next to the number).
pub fn date(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // days since 1970-01-01 to (y, m, d): Howard Hinnant's civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_padding() {
        let mut o = Vec::new();
        base64(&mut o, b"\xff\x00ab");
        assert_eq!(o, b"/wBhYg==");
    }

    #[test]
    fn doubles_round_trip() {
        for x in
            [0.1, 1.0 / 3.0, 1e300, -2.5e-300, 123456789.125, 5e-324, f64::MAX, -0.0, 1e20, 1e21]
        {
            let mut o = Vec::new();
            double(&mut o, x);
            let back: f64 = std::str::from_utf8(&o).unwrap().parse().unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{}", String::from_utf8_lossy(&o));
        }
    }

    #[test]
    fn json_escapes() {
        let mut o = Vec::new();
        assert!(json_text(&mut o, b"a\"b\\\n\x01"));
        assert_eq!(o, b"\"a\\\"b\\\\\\n\\u0001\"");
        let mut o = Vec::new();
        assert!(!json_text(&mut o, b"\xc3\x28"), "not UTF-8");
        assert_eq!(o, "\"\u{fffd}(\"".as_bytes());
        let mut o = Vec::new();
        json_bytes_field(&mut o, "key", b"\xffk");
        assert_eq!(o, "\"key\":\"\u{fffd}k\",\"key_base64\":\"/2s=\"".as_bytes());
    }
}
