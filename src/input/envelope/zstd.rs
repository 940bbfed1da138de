//! One zstd frame, decoded by `ruzstd` one block at a time.
//!
//! The frame header is read and checked here first (magic `28 B5 2F FD`; the descriptor's
//! reserved bit clear; no dictionary; a window of at most [`MAX_ZSTD_WINDOW`]; a declared
//! content size within the output limit), so that nothing is allocated for a header that
//! would be refused, and every refusal names its byte. The checked header is then handed to
//! `ruzstd`, which decodes the blocks. After each block the output beyond the window is
//! written out, so memory stays at the window plus one block (128 KiB at most).
//!
//! Errors carry the offset of the block's header in the file (damage), or the file's end
//! (truncation: the file ended while the decoder still needed bytes).

use std::io::{Read, Write};

use ruzstd::decoding::errors::FrameDecoderError;
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use super::{Fail, MAX_ZSTD_WINDOW, Output, Source, hex};

const FRAME_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// What the frame header says: where the frame starts, the header's length, whether a
/// content checksum follows, and the content size if announced.
struct Frame {
    start: u64,
    len: usize,
    checksum: bool,
    content_size: Option<u64>,
}

/// Decodes the frame that starts at `src`'s position into `out`; returns which checksums it
/// carried (block: never, for zstd; content), all of them verified.
pub(super) fn decode<R: Read, W: Write>(
    src: &mut Source<R>,
    out: &mut Output<W>,
) -> Result<(bool, bool), Fail> {
    // magic, descriptor, window, dictionary id (up to 4), content size (up to 8)
    let mut hdr = [0u8; 18];
    let Frame { start, len, checksum, content_size } = header(src, out, &mut hdr)?;
    let mut dec = FrameDecoder::new();
    dec.set_max_window_size(MAX_ZSTD_WINDOW);
    // the header was checked above; ruzstd reads it again from the copy
    dec.reset(&hdr[..len]).map_err(|e| Fail::at(start, format!("bad zstd frame header ({e})")))?;
    loop {
        let at = src.pos;
        let finished = match dec.decode_blocks(&mut *src, BlockDecodingStrategy::UptoBlocks(1)) {
            Ok(f) => f,
            Err(e) if src.eof => {
                let inside = match e {
                    FrameDecoderError::FailedToReadChecksum(_) => {
                        "the frame's content checksum".to_string()
                    }
                    _ => format!("a block (which starts at byte {at})"),
                };
                return Err(Fail::at(
                    src.pos,
                    format!("truncated frame: the file ends inside {inside}"),
                ));
            }
            Err(e) => return Err(Fail::at(at, format!("corrupt zstd block ({})", describe(&e)))),
        };
        let n = dec.can_collect();
        out.admit(n, at)?;
        if n > 0 {
            dec.collect_to_writer(&mut *out).map_err(Fail::Write)?;
        }
        if finished {
            break;
        }
    }
    if checksum {
        let (stored, computed) = (dec.get_checksum_from_data(), dec.get_calculated_checksum());
        if stored != computed {
            let s = |c: Option<u32>| c.map_or("none".to_string(), |c| format!("0x{c:08x}"));
            return Err(Fail::at(
                src.pos - 4,
                format!(
                    "content checksum mismatch (stored {}, computed {})",
                    s(stored),
                    s(computed)
                ),
            ));
        }
    }
    if let Some(n) = content_size
        && n != out.written
    {
        return Err(Fail::at(
            start + 4,
            format!(
                "the frame header announces {n} bytes of content, its blocks hold {}",
                out.written
            ),
        ));
    }
    Ok((false, checksum))
}

/// ruzstd's message for a failed block, labelled by what failed (its own labels for header
/// and body are swapped in 0.9).
fn describe(e: &FrameDecoderError) -> String {
    match e {
        FrameDecoderError::FailedToReadBlockHeader(e) => format!("bad block header: {e}"),
        FrameDecoderError::FailedToReadBlockBody(e) => format!("bad block content: {e}"),
        FrameDecoderError::FailedToReadChecksum(e) => {
            format!("cannot read the content checksum: {e}")
        }
        e => e.to_string(),
    }
}

/// Reads and checks the frame header into `hdr` (magic, descriptor, window, dictionary,
/// content size); the window is bounded before anything is decoded.
fn header<R: Read, W: Write>(
    src: &mut Source<R>,
    out: &mut Output<W>,
    hdr: &mut [u8; 18],
) -> Result<Frame, Fail> {
    let start = src.pos;
    // magic, descriptor, window, dictionary id (up to 4), content size (up to 8)
    src.need(&mut hdr[..5], "the zstd frame header")?;
    if hdr[..4] != FRAME_MAGIC {
        let what = if hdr[0] & 0xF0 == 0x50 && hdr[1..4] == [0x2A, 0x4D, 0x18] {
            "a zstd skippable frame where the data frame should be".to_string()
        } else {
            format!("not a zstd frame (magic {}, expected 28b52ffd)", hex(&hdr[..4]))
        };
        return Err(Fail::at(start, what));
    }
    let fhd = hdr[4];
    if fhd & 0x08 != 0 {
        return Err(Fail::at(
            start + 4,
            format!("reserved bit set in the zstd frame descriptor 0x{fhd:02x}"),
        ));
    }
    let single = fhd & 0x20 != 0;
    let checksum = fhd & 0x04 != 0;
    let dict_len = [0usize, 1, 2, 4][(fhd & 3) as usize];
    let fcs_len = match fhd >> 6 {
        0 => usize::from(single),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let mut len = 5;
    let mut window = None;
    if !single {
        src.need(&mut hdr[5..6], "the zstd frame header")?;
        let wd = hdr[5];
        let base = 1u64 << (10 + (wd >> 3));
        window = Some(base + base / 8 * u64::from(wd & 7));
        len = 6;
    }
    src.need(&mut hdr[len..len + dict_len + fcs_len], "the zstd frame header")?;
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x));
    if dict_len > 0 && le(&hdr[len..len + dict_len]) != 0 {
        return Err(Fail::at(
            start + len as u64,
            "the zstd frame needs a dictionary (Valkey never writes one; rdbshift has none)",
        ));
    }
    len += dict_len;
    let content_size =
        (fcs_len > 0).then(|| le(&hdr[len..len + fcs_len]) + if fcs_len == 2 { 256 } else { 0 });
    len += fcs_len;
    let window = window.or(content_size).unwrap_or(0);
    if window > MAX_ZSTD_WINDOW {
        return Err(Fail::at(
            start + 5,
            format!(
                "the zstd frame asks for a {window}-byte window, more than the {MAX_ZSTD_WINDOW} rdbshift allows \
                 (as libzstd's decoder does by default)"
            ),
        ));
    }
    if let Some(n) = content_size {
        out.admit(usize::try_from(n).unwrap_or(usize::MAX), start)?;
    }
    Ok(Frame { start, len, checksum, content_size })
}
