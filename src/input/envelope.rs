//! Valkey 9.2's streaming-compression envelope (`VKCS`).
//!
//! With `rdbcompression lz4` (or `zstd`), Valkey 9.2 writes the whole logical RDB through one
//! codec frame behind an 8-byte header (`src/compression_stream.h`, `src/compression_stream.c`
//! in valkey-io/valkey; see docs/rdb-newest-formats.md section 6.4):
//!
//! | byte | meaning |
//! |---|---|
//! | 0-3 | `VKCS` |
//! | 4 | envelope version: 1 |
//! | 5 | codec: 1 = LZ4 frame format, 2 = zstd frame |
//! | 6 | flags: bit 0 = the codec's checksums are on; any other bit is refused |
//! | 7 | stream kind: 0 = RDB; 1 = a replication stream (never a file on disk: refused) |
//!
//! Exactly one codec frame follows; its content is an ordinary RDB file (magic, records, EOF
//! opcode, CRC-64). Bytes after the frame's end are ignored, as Valkey ignores them.
//!
//! [`decompress`] reads the compressed file front to back and writes the RDB to any
//! [`Write`]: memory stays bounded whatever the sizes (an LZ4 block buffer of at most 4 MiB,
//! a zstd window of at most [`MAX_ZSTD_WINDOW`], and the caller's I/O buffers). Every error
//! names the byte offset in the compressed file where the decoder stopped; nothing in the
//! input can make it panic, loop, or allocate more than those bounds.
//!
//! Codecs: LZ4 frames are parsed here (the LZ4 frame format is a short header, length-prefixed
//! blocks and optional xxHash-32 checksums), each block is decoded by `lz4_flex`'s block
//! decoder (pure Rust, built with its `safe-decode` feature: no `unsafe` on hostile input), and
//! checksums come from `twox-hash`. Parsing the frame ourselves gives exact offsets for every
//! error, tells a truncated frame from a finished one (a generic frame reader treats a file
//! cut between blocks as a clean end), and stops at the end of the one frame instead of
//! reading trailing bytes as a next frame. zstd frames are decoded by `ruzstd`, a maintained
//! pure-Rust decoder: no C toolchain or FFI, and it decodes one block at a time with a window
//! bounded up front, which is what a reader of untrusted files needs. Its cost is speed: on
//! a 105 MB dump written by Redis 7.0 and compressed by `zstd -3`, about 170 MB/s of output
//! (temporary file included) against about 400 MB/s for the `zstd` tool (2026-11).

use std::io::{self, Read, Write};

mod lz4;
mod zstd;

/// The first four bytes of an enveloped file.
pub const MAGIC: &[u8; 4] = b"VKCS";
/// The size of the envelope header.
pub const HEADER_LEN: usize = 8;
/// The only envelope version there is (`VKCS_VERSION`).
pub const VERSION: u8 = 1;

/// The largest output accepted per byte of compressed file (see [`limit_for`]).
pub const MAX_RATIO: u64 = 1024;
/// The least output any compressed file may produce before it counts as a bomb.
pub const MIN_LIMIT: u64 = 64 << 20;
/// The most output any compressed file may produce: 1 TiB.
pub const MAX_LIMIT: u64 = 1 << 40;
/// The largest zstd window accepted: 128 MiB, libzstd's own default limit for decoders
/// (`ZSTD_WINDOWLOG_LIMIT_DEFAULT` = 27). Valkey's levels up to 19 use at most 8 MiB.
pub const MAX_ZSTD_WINDOW: u64 = 128 << 20;

/// How many decompressed bytes a compressed file of `compressed` bytes may produce:
/// [`MAX_RATIO`] times its size, but at least [`MIN_LIMIT`] and at most [`MAX_LIMIT`].
///
/// LZ4 cannot expand more than about 255 times (a match costs one byte per 255 bytes of
/// length), so a real LZ4 file never reaches this; zstd can (a run of one byte costs four
/// bytes per 128 KiB), and a few hundred bytes of zstd could otherwise fill the temporary
/// directory's disk. A real dump that compresses better than 1024:1 (mostly a huge sparse
/// bitmap, say) is refused with this limit in the message.
pub fn limit_for(compressed: u64) -> u64 {
    compressed.saturating_mul(MAX_RATIO).clamp(MIN_LIMIT, MAX_LIMIT)
}

/// The codec named by the envelope's byte 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// 1: one LZ4 frame (LZ4F; Valkey writes 64 KiB independent blocks, no content size).
    Lz4,
    /// 2: one zstd frame.
    Zstd,
}

impl Codec {
    /// The name used in messages: `LZ4`, `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Lz4 => "LZ4",
            Codec::Zstd => "zstd",
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The 8-byte envelope header, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub codec: Codec,
    /// The raw flag byte: only bit 0 (codec checksums on) may be set. Valkey sets it together
    /// with the frame's own checksum flags; what was verified is what the frame itself says
    /// ([`Envelope::block_checksums`], [`Envelope::content_checksum`]), whatever this bit is.
    pub flags: u8,
}

/// What an enveloped dump was: the envelope, the frame, and the sizes on both sides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub header: Header,
    /// The frame carried a checksum per block (LZ4), each verified.
    pub block_checksums: bool,
    /// The frame carried a checksum of its whole content (zstd; LZ4 optionally), verified.
    pub content_checksum: bool,
    /// The compressed file's size: header, frame, and anything after the frame.
    pub compressed_bytes: u64,
    /// The RDB inside: what [`crate::input::Dump::data`] holds.
    pub decompressed_bytes: u64,
    /// Bytes after the end of the frame, ignored (Valkey ignores them too).
    pub trailing_bytes: u64,
}

impl Envelope {
    /// One line for `info`: `VKCS v1 LZ4 (block checksums), 1234 -> 5678 bytes`.
    pub fn describe(&self) -> String {
        format!(
            "VKCS v{} {} ({}), {} -> {} bytes",
            self.header.version,
            self.header.codec,
            self.checks(),
            self.compressed_bytes,
            self.decompressed_bytes
        )
    }

    /// Which codec checksums were verified: `block checksums`, `content checksum`,
    /// `block and content checksums`, or `no checksums`.
    pub fn checks(&self) -> &'static str {
        match (self.block_checksums, self.content_checksum) {
            (true, true) => "block and content checksums",
            (true, false) => "block checksums",
            (false, true) => "content checksum",
            (false, false) => "no checksums",
        }
    }
}

/// Why an enveloped file cannot be read. Every variant names a byte offset in the file.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The 8-byte header is wrong; `offset` is the offending byte.
    #[error("VKCS envelope: {what} at byte offset {offset}")]
    Header { offset: u64, what: String },
    /// The codec frame is damaged or cut short.
    #[error("compressed (VKCS {codec}) stream: {what} at compressed byte offset {offset}")]
    Stream { codec: Codec, offset: u64, what: String },
    /// The frame expands past [`limit_for`] the file's size.
    #[error(
        "compressed (VKCS {codec}) stream: decompresses to more than {limit} bytes, the most rdbshift accepts \
         from a {compressed}-byte file ({MAX_RATIO} times its size, at least {MIN_LIMIT}, at most {MAX_LIMIT}); \
         refused as a decompression bomb at compressed byte offset {offset}"
    )]
    TooBig { codec: Codec, limit: u64, compressed: u64, offset: u64 },
    /// Reading the compressed file failed (not a format problem).
    #[error("reading the compressed file failed at byte offset {offset}: {source}")]
    Read { offset: u64, source: io::Error },
    /// Writing the decompressed copy failed (a full disk, say).
    #[error("writing the decompressed copy failed after {written} bytes: {source}")]
    Write { written: u64, source: io::Error },
}

/// Whether `head` (a file's first bytes) starts an envelope.
pub fn is_envelope(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Checks the header at the start of `head`, which starts with [`MAGIC`].
pub fn parse_header(head: &[u8]) -> Result<Header, EnvelopeError> {
    let bad = |offset: u64, what: String| EnvelopeError::Header { offset, what };
    if head.len() < HEADER_LEN {
        return Err(bad(
            head.len() as u64,
            format!("truncated header ({} of its {HEADER_LEN} bytes)", head.len()),
        ));
    }
    let version = head[4];
    if version != VERSION {
        return Err(bad(
            4,
            format!("unknown envelope version {version} (rdbshift reads version {VERSION})"),
        ));
    }
    let codec = match head[5] {
        1 => Codec::Lz4,
        2 => Codec::Zstd,
        c => return Err(bad(5, format!("unknown codec id {c} (1 = LZ4, 2 = zstd)"))),
    };
    let flags = head[6];
    if flags & !1 != 0 {
        return Err(bad(
            6,
            format!(
                "reserved flag bits 0x{:02x} are set (only bit 0, checksums, is defined)",
                flags & !1
            ),
        ));
    }
    match head[7] {
        0 => {}
        1 => {
            return Err(bad(
                7,
                "stream kind 1 is a replication stream (a replica's full sync), not an RDB file"
                    .to_string(),
            ));
        }
        k => return Err(bad(7, format!("unknown stream kind {k} (0 = RDB)"))),
    }
    Ok(Header { version, codec, flags })
}

/// Reads the enveloped file `src` (positioned at its first byte; `compressed` is its size)
/// and writes the RDB inside to `out`, at most `limit` bytes (see [`limit_for`]).
///
/// `src` should be buffered (the decoders read a few bytes at a time) and `out` too.
/// `out` is flushed before this returns `Ok`.
pub fn decompress<R: Read, W: Write>(
    src: R,
    out: W,
    compressed: u64,
    limit: u64,
) -> Result<Envelope, EnvelopeError> {
    let mut src = Source::new(src);
    let mut head = [0u8; HEADER_LEN];
    let got = src.fill(&mut head).map_err(|e| EnvelopeError::Read { offset: 0, source: e })?;
    if !is_envelope(&head[..got]) {
        return Err(EnvelopeError::Header {
            offset: 0,
            what: "the file does not start with VKCS".into(),
        });
    }
    let header = parse_header(&head[..got])?;
    let codec = header.codec;
    let mut out = Output { inner: out, written: 0, limit };
    let checks = match codec {
        Codec::Lz4 => lz4::decode(&mut src, &mut out),
        Codec::Zstd => zstd::decode(&mut src, &mut out),
    }
    .and_then(|c| out.inner.flush().map(|_| c).map_err(Fail::Write));
    let (block_checksums, content_checksum) = checks.map_err(|f| match f {
        Fail::At { offset, what } => EnvelopeError::Stream { codec, offset, what },
        Fail::TooBig { offset } => EnvelopeError::TooBig { codec, limit, compressed, offset },
        Fail::Read(e) => EnvelopeError::Read { offset: src.pos, source: e },
        Fail::Write(e) => EnvelopeError::Write { written: out.written, source: e },
    })?;
    let end = src.pos;
    Ok(Envelope {
        header,
        block_checksums,
        content_checksum,
        compressed_bytes: compressed.max(end),
        decompressed_bytes: out.written,
        trailing_bytes: compressed.saturating_sub(end),
    })
}

/// Why a codec stopped, before the codec's name is attached.
enum Fail {
    /// Damage or truncation, at this offset in the file.
    At {
        offset: u64,
        what: String,
    },
    /// The output would pass the limit; the block that would pass it starts at `offset`.
    TooBig {
        offset: u64,
    },
    Read(io::Error),
    Write(io::Error),
}

impl Fail {
    fn at(offset: u64, what: impl Into<String>) -> Fail {
        Fail::At { offset, what: what.into() }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The compressed file as the codecs read it: counts the bytes handed out (so `pos` is the
/// offset in the file of the next byte a decoder gets) and remembers reaching the end.
struct Source<R> {
    inner: R,
    /// Offset in the file of the next byte to be read.
    pos: u64,
    /// A read returned 0 bytes: the file ends at `pos`.
    eof: bool,
}

impl<R: Read> Source<R> {
    fn new(inner: R) -> Self {
        Source { inner, pos: 0, eof: false }
    }

    /// Reads until `buf` is full or the file ends; returns how much was read.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    /// Reads exactly `buf.len()` bytes; a file that ends first is a truncated frame, reported
    /// at the file's end with `inside` saying what was being read.
    fn need(&mut self, buf: &mut [u8], inside: &str) -> Result<(), Fail> {
        let got = self.fill(buf).map_err(Fail::Read)?;
        if got < buf.len() {
            return Err(Fail::at(
                self.pos,
                format!("truncated frame: the file ends inside {inside}"),
            ));
        }
        Ok(())
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof = true;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Where the RDB goes: counts what was written and keeps it under the limit.
struct Output<W> {
    inner: W,
    written: u64,
    limit: u64,
}

impl<W: Write> Output<W> {
    /// Whether `n` more bytes fit under the limit; `offset` is where the block producing them
    /// starts in the compressed file.
    fn admit(&self, n: usize, offset: u64) -> Result<(), Fail> {
        if self.written.saturating_add(n as u64) > self.limit {
            return Err(Fail::TooBig { offset });
        }
        Ok(())
    }

    fn put(&mut self, data: &[u8], offset: u64) -> Result<(), Fail> {
        self.admit(data.len(), offset)?;
        self.inner.write_all(data).map_err(Fail::Write)?;
        self.written += data.len() as u64;
        Ok(())
    }
}

/// Counts bytes written through it, for decoders that write on their own (ruzstd's drain);
/// the caller has already [`Output::admit`]ted them.
impl<W: Write> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests;
