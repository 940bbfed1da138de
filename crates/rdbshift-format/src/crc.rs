//! CRC-64 as Redis computes it (`crc64.c`: the Jones polynomial, reflected), used for the
//! RDB trailer and for DUMP payloads. Note: this is not CRC-64/XZ.

use crc_fast::{CrcAlgorithm, Digest};

/// CRC-64/Redis of `data` in one call.
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64Redis, data)
}

/// Incremental CRC-64/Redis.
pub struct Crc64(Digest);

impl Default for Crc64 {
    fn default() -> Self {
        Crc64(Digest::new(CrcAlgorithm::Crc64Redis))
    }
}

impl Crc64 {
    /// Feeds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data)
    }
    /// The CRC-64 of every byte fed so far (the state is kept, more bytes may follow).
    pub fn finish(&self) -> u64 {
        self.0.finalize()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_value() {
        assert_eq!(super::crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
        let mut c = super::Crc64::default();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xe9c6d914c4b8d9ca);
    }
}
