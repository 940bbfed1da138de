//! Buffers a decoding worker reuses from key to key (one set per thread), shared by the key
//! writers ([`super::commands`], [`super::stream`]) so that neither depends on the other
//! for them.

use crate::format::Scratch;

/// Buffers reused from key to key by one worker.
#[derive(Default)]
pub struct Bufs {
    /// The format layer's decompression and decoding scratch space.
    pub scratch: Scratch,
    /// Arguments of the batch being gathered, RESP-encoded.
    pub(crate) body: Vec<u8>,
    /// Hash fields with a TTL: (absolute ms, field).
    pub(crate) ttls: Vec<(i64, Vec<u8>)>,
}
