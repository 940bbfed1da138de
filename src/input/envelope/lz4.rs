//! One LZ4 frame (the LZ4 frame format, "LZ4F"), read block by block.
//!
//! Layout: magic `04 22 4D 18`; FLG (version 01, block independence, block checksums,
//! content size present, content checksum, reserved bit, dictionary id present); BD (block
//! maximum size id 4-7 = 64 KiB, 256 KiB, 1 MiB, 4 MiB; other bits reserved); the content
//! size (8 bytes) and dictionary id (4 bytes) when flagged; a header checksum byte (bits 8-15
//! of the xxHash-32 of FLG up to the last optional field). Then blocks: a 4-byte
//! little-endian size (high bit set: stored uncompressed), the block, and its xxHash-32 when
//! block checksums are on. A size of 0 ends the frame, followed by the content's xxHash-32
//! when flagged.
//!
//! Invariants: no buffer is larger than the frame's block maximum (4 MiB at most), checked
//! before anything is read into it; every error carries the offset in the file of what is
//! wrong (the block's size field for a bad block, the file's end for a truncation); reading
//! stops right after the frame.

use std::hash::Hasher;
use std::io::{Read, Write};

use twox_hash::XxHash32;

use super::{Fail, Output, Source, hex};

const FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];
/// How far back a match in a linked block may reach (into earlier blocks).
const WINDOW: usize = 64 << 10;

/// What the frame header says.
struct Frame {
    start: u64,
    independent: bool,
    block_checksums: bool,
    content_checksum: bool,
    max_block: usize,
    content_size: Option<u64>,
}

/// Decodes the frame that starts at `src`'s position into `out`; returns which checksums it
/// carried (block, content), all of them verified.
pub(super) fn decode<R: Read, W: Write>(
    src: &mut Source<R>,
    out: &mut Output<W>,
) -> Result<(bool, bool), Fail> {
    let f = header(src, out)?;
    let Frame { start, independent, block_checksums, content_checksum, max_block, content_size } =
        f;
    let mut block = Vec::new();
    let mut plain = vec![0u8; max_block];
    // linked blocks only: the last WINDOW bytes of output, which the next block may copy from
    let mut history: Vec<u8> = Vec::new();
    let mut content = XxHash32::with_seed(0);
    let mut total = 0u64;
    loop {
        let at = src.pos;
        let mut word = [0u8; 4];
        src.need(&mut word, "a block's size field (the frame has no end mark)")?;
        let word = u32::from_le_bytes(word);
        if word == 0 {
            break;
        }
        let stored = word & 0x8000_0000 != 0;
        let size = (word & 0x7FFF_FFFF) as usize;
        if size > max_block {
            return Err(Fail::at(
                at,
                format!("LZ4 block of {size} bytes, more than the frame's maximum {max_block}"),
            ));
        }
        block.resize(size, 0);
        src.need(&mut block, &format!("a {size}-byte block (which starts at byte {at})"))?;
        if block_checksums {
            let mut sum = [0u8; 4];
            src.need(&mut sum, &format!("the checksum of a block (which starts at byte {at})"))?;
            let (stored_sum, computed) = (u32::from_le_bytes(sum), XxHash32::oneshot(0, &block));
            if stored_sum != computed {
                return Err(Fail::at(
                    at,
                    format!(
                        "block checksum mismatch (stored 0x{stored_sum:08x}, computed 0x{computed:08x}): the block is damaged"
                    ),
                ));
            }
        }
        let data: &[u8] = if stored {
            &block
        } else {
            let n = if independent {
                lz4_flex::block::decompress_into(&block, &mut plain)
            } else {
                lz4_flex::block::decompress_into_with_dict(&block, &mut plain, &history)
            }
            .map_err(|e| Fail::at(at, format!("corrupt LZ4 block of {size} bytes ({e})")))?;
            &plain[..n]
        };
        out.put(data, at)?;
        total += data.len() as u64;
        if content_checksum {
            content.write(data);
        }
        if !independent {
            if data.len() >= WINDOW {
                history.clear();
                history.extend_from_slice(&data[data.len() - WINDOW..]);
            } else {
                let keep = (WINDOW - data.len()).min(history.len());
                history.drain(..history.len() - keep);
                history.extend_from_slice(data);
            }
        }
    }
    if content_checksum {
        let at = src.pos;
        let mut sum = [0u8; 4];
        src.need(&mut sum, "the frame's content checksum")?;
        let (stored_sum, computed) = (u32::from_le_bytes(sum), content.finish_32());
        if stored_sum != computed {
            return Err(Fail::at(
                at,
                format!(
                    "content checksum mismatch (stored 0x{stored_sum:08x}, computed 0x{computed:08x})"
                ),
            ));
        }
    }
    if let Some(n) = content_size
        && n != total
    {
        return Err(Fail::at(
            start + 6,
            format!("the frame header announces {n} bytes of content, its blocks hold {total}"),
        ));
    }
    Ok((block_checksums, content_checksum))
}

/// Reads and checks the frame header (magic, FLG, BD, optional size, header checksum).
fn header<R: Read, W: Write>(src: &mut Source<R>, out: &mut Output<W>) -> Result<Frame, Fail> {
    let start = src.pos;
    let mut magic = [0u8; 4];
    src.need(&mut magic, "the LZ4 frame header")?;
    if magic != FRAME_MAGIC {
        return Err(Fail::at(
            start,
            format!("not an LZ4 frame (magic {}, expected 04224d18)", hex(&magic)),
        ));
    }
    // FLG, BD, then up to 12 optional bytes; the header checksum covers them all
    let mut desc = [0u8; 14];
    src.need(&mut desc[..2], "the LZ4 frame header")?;
    let (flg, bd) = (desc[0], desc[1]);
    if flg >> 6 != 1 {
        return Err(Fail::at(
            start + 4,
            format!("LZ4 frame version {} (FLG 0x{flg:02x}), expected 1", flg >> 6),
        ));
    }
    if flg & 0x02 != 0 {
        return Err(Fail::at(
            start + 4,
            format!("reserved bit set in the LZ4 frame's FLG byte 0x{flg:02x}"),
        ));
    }
    let independent = flg & 0x20 != 0;
    let block_checksums = flg & 0x10 != 0;
    let has_size = flg & 0x08 != 0;
    let content_checksum = flg & 0x04 != 0;
    let has_dict = flg & 0x01 != 0;
    if bd & 0x8F != 0 {
        return Err(Fail::at(
            start + 5,
            format!("reserved bits set in the LZ4 frame's BD byte 0x{bd:02x}"),
        ));
    }
    let max_block = match (bd >> 4) & 7 {
        id @ 4..=7 => (64usize << 10) << (2 * (id - 4)),
        id => {
            return Err(Fail::at(
                start + 5,
                format!("LZ4 block maximum size id {id} (4 to 7 are defined)"),
            ));
        }
    };
    let mut len = 2;
    let mut content_size = None;
    if has_size {
        src.need(&mut desc[len..len + 8], "the LZ4 frame header")?;
        content_size = Some(u64::from_le_bytes(desc[len..len + 8].try_into().unwrap_or_default()));
        len += 8;
    }
    if has_dict {
        return Err(Fail::at(
            start + 4 + len as u64,
            "the LZ4 frame names a dictionary (Valkey never writes one; rdbshift has none)",
        ));
    }
    let mut hc = [0u8; 1];
    src.need(&mut hc, "the LZ4 frame header")?;
    let expected = (XxHash32::oneshot(0, &desc[..len]) >> 8) as u8;
    if hc[0] != expected {
        return Err(Fail::at(
            src.pos - 1,
            format!(
                "LZ4 frame header checksum 0x{:02x} does not match its header (0x{expected:02x})",
                hc[0]
            ),
        ));
    }
    if let Some(n) = content_size {
        // announced up front: refuse before writing anything
        out.admit(usize::try_from(n).unwrap_or(usize::MAX), start)?;
    }
    Ok(Frame { start, independent, block_checksums, content_checksum, max_block, content_size })
}
