//! Checksums the tests compute themselves: the RDB file CRC-64 (Jones, reflected, as Redis
//! uses it, from the `crc-fast` crate), the cluster key slot (CRC16-XMODEM with hash tags)
//! and the redis-cli quoting of key names.
#![allow(dead_code)]

/// Redis's CRC-64 of `data` (what ends an RDB file and a DUMP payload).
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Redis, data)
}

/// CRC16-XMODEM (poly 0x1021, init 0), bit by bit.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The cluster slot of a key: CRC16 of the `{tag}` when there is a non-empty one.
pub fn slot(key: &[u8]) -> u16 {
    let part = match key.iter().position(|&c| c == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&c| c == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(part) % 16384
}

/// A key name as rdbshift's messages print it: bare when it is all printable ASCII without
/// quotes or backslashes, else in double quotes with C-style escapes (as redis-cli shows it).
pub fn quote(b: &[u8]) -> String {
    if !b.is_empty()
        && b.iter().all(|&c| c.is_ascii_graphic() && c != b'"' && c != b'\'' && c != b'\\')
    {
        return String::from_utf8_lossy(b).into_owned();
    }
    let mut s = String::from("\"");
    for &c in b {
        let esc = match c {
            b'\\' => "\\\\".to_string(),
            b'"' => "\\\"".to_string(),
            b'\n' => "\\n".to_string(),
            b'\r' => "\\r".to_string(),
            b'\t' => "\\t".to_string(),
            7 => "\\a".to_string(),
            8 => "\\b".to_string(),
            0x20..=0x7e => (c as char).to_string(),
            _ => format!("\\x{c:02x}"),
        };
        s.push_str(&esc);
    }
    s.push('"');
    s
}

/// The checkpoint's fingerprint of a dump: its length, the CRC-64 of all but the last 8
/// bytes, and those 8 bytes (little-endian), as rdbshift's checkpoint file writes it.
pub fn fingerprint(data: &[u8]) -> String {
    let body = data.len().saturating_sub(8);
    let mut tail = [0u8; 8];
    tail[..data.len() - body].copy_from_slice(&data[body..]);
    format!("{}:{:016x}:{:016x}", data.len(), crc64(&data[..body]), u64::from_le_bytes(tail))
}

#[test]
fn known_values() {
    // the check values of the two algorithms, and the slot examples of the cluster spec
    assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    assert_eq!(crc16(b"123456789"), 0x31c3);
    assert_eq!(slot(b"foo"), 12182);
    assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
    assert_eq!(slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
}
