//! Hand-made envelopes around small byte strings: LZ4 frames from `lz4_flex`'s encoder, zstd
//! frames from `ruzstd`'s encoder and by hand (RLE blocks).

use std::io::Write;

use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
use ruzstd::encoding::{CompressionLevel, compress_to_vec};

use super::*;

/// Compressible but not trivial: text-like lines with a counter, `n` bytes.
fn sample(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while v.len() < n {
        i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        write!(v, "key:{:05} value-{} ", i % 9_973, (i >> 40) % 1_000).unwrap();
    }
    v.truncate(n);
    v
}

fn envelope(codec: u8, flags: u8, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![b'V', b'K', b'C', b'S', 1, codec, flags, 0];
    v.extend_from_slice(frame);
    v
}

fn lz4(data: &[u8], info: FrameInfo) -> Vec<u8> {
    let mut e = FrameEncoder::with_frame_info(info, Vec::new());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// What Valkey writes: 64 KiB independent blocks, block checksums iff `checksums`.
fn valkey_lz4(data: &[u8], checksums: bool) -> Vec<u8> {
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent)
        .block_checksums(checksums)
        .content_checksum(false);
    let f = lz4(data, info);
    // the bytes of docs/rdb-newest-formats.md section 9: FLG 0x70 / 0x60, BD 0x40
    assert_eq!(f[4..6], [if checksums { 0x70 } else { 0x60 }, 0x40]);
    envelope(1, checksums as u8, &f)
}

/// A zstd envelope; `checksum` false clears the frame's checksum flag and drops its 4 bytes.
fn zstd(data: &[u8], checksum: bool) -> Vec<u8> {
    let mut f = compress_to_vec(data, CompressionLevel::Fastest);
    assert_ne!(f[4] & 0x04, 0, "ruzstd writes a content checksum");
    if !checksum {
        f[4] &= !0x04;
        f.truncate(f.len() - 4);
    }
    envelope(2, checksum as u8, &f)
}

fn run(file: &[u8]) -> Result<(Envelope, Vec<u8>), EnvelopeError> {
    run_limited(file, limit_for(file.len() as u64))
}

fn run_limited(file: &[u8], limit: u64) -> Result<(Envelope, Vec<u8>), EnvelopeError> {
    let mut out = Vec::new();
    let env = decompress(file, &mut out, file.len() as u64, limit)?;
    assert_eq!(env.decompressed_bytes, out.len() as u64);
    Ok((env, out))
}

/// The offset and message of a stream error (panics on anything else).
fn stream_err(r: Result<(Envelope, Vec<u8>), EnvelopeError>) -> (u64, String) {
    match r {
        Err(e @ EnvelopeError::Stream { offset, .. }) => (offset, e.to_string()),
        Err(e) => panic!("expected a stream error, got {e}"),
        Ok(_) => panic!("expected a stream error, got a result"),
    }
}

#[test]
fn lz4_round_trips_as_valkey_writes_it() {
    let data = sample(300_000); // five 64 KiB blocks
    for checksums in [true, false] {
        let file = valkey_lz4(&data, checksums);
        let (env, out) = run(&file).unwrap();
        assert!(out == data, "content differs (checksums {checksums})");
        assert_eq!(env.header, Header { version: 1, codec: Codec::Lz4, flags: checksums as u8 });
        assert_eq!((env.block_checksums, env.content_checksum), (checksums, false));
        assert_eq!(
            (env.compressed_bytes, env.decompressed_bytes, env.trailing_bytes),
            (file.len() as u64, 300_000, 0)
        );
        assert!(file.len() < data.len() / 2, "the sample compresses");
        let want = format!(
            "VKCS v1 LZ4 ({}), {} -> 300000 bytes",
            if checksums { "block checksums" } else { "no checksums" },
            file.len()
        );
        assert_eq!(env.describe(), want);
    }
}

#[test]
fn lz4_frames_valkey_does_not_write_are_read_too() {
    let data = sample(600_000);
    for (mode, size, content_checksum, content_size) in [
        (BlockMode::Linked, BlockSize::Max64KB, true, None),
        (BlockMode::Linked, BlockSize::Max256KB, false, Some(600_000)),
        (BlockMode::Independent, BlockSize::Max4MB, true, Some(600_000)),
        (BlockMode::Independent, BlockSize::Max1MB, false, None),
    ] {
        let info = FrameInfo::new()
            .block_mode(mode)
            .block_size(size)
            .block_checksums(true)
            .content_checksum(content_checksum)
            .content_size(content_size);
        let (env, out) = run(&envelope(1, 1, &lz4(&data, info))).unwrap();
        assert!(out == data, "content differs ({mode:?} {size:?})");
        assert_eq!((env.block_checksums, env.content_checksum), (true, content_checksum));
    }
    // incompressible data: the encoder stores the blocks as they are (high bit of the size)
    let mut noise = vec![0u8; 200_000];
    let mut x = 0x2545F4914F6CDD1Du64;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let f = valkey_lz4(&noise, true);
    assert_ne!(f[8 + 7 + 3] & 0x80, 0, "first block stored uncompressed");
    assert!(run(&f).unwrap().1 == noise);
}

#[test]
fn zstd_round_trips_with_and_without_checksum() {
    let data = sample(400_000);
    for checksum in [true, false] {
        let file = zstd(&data, checksum);
        let (env, out) = run(&file).unwrap();
        assert!(out == data, "content differs (checksum {checksum})");
        assert_eq!(env.header.codec, Codec::Zstd);
        assert_eq!((env.block_checksums, env.content_checksum), (false, checksum));
        assert!(env.describe().starts_with(&format!(
            "VKCS v1 zstd ({}), {} -> 400000 bytes",
            if checksum { "content checksum" } else { "no checksums" },
            file.len()
        )));
    }
}

#[test]
fn bytes_after_the_frame_are_ignored_and_counted() {
    let data = sample(10_000);
    for mut file in [valkey_lz4(&data, true), zstd(&data, true)] {
        file.extend_from_slice(b"trailing garbage that is not a frame");
        let (env, out) = run(&file).unwrap();
        assert!(out == data);
        assert_eq!(env.trailing_bytes, 36);
        assert_eq!(env.compressed_bytes, file.len() as u64);
    }
}

#[test]
fn header_errors_name_the_byte() {
    let good = valkey_lz4(b"x", true);
    let cases: [(usize, u8, u64, &str); 7] = [
        (4, 2, 4, "unknown envelope version 2"),
        (4, 0, 4, "unknown envelope version 0"),
        (5, 3, 5, "unknown codec id 3"),
        (5, 0, 5, "unknown codec id 0"),
        (6, 0x81, 6, "reserved flag bits 0x80"),
        (7, 1, 7, "replication stream"),
        (7, 9, 7, "unknown stream kind 9"),
    ];
    for (byte, value, offset, text) in cases {
        let mut f = good.clone();
        f[byte] = value;
        match run(&f) {
            Err(e @ EnvelopeError::Header { offset: o, .. }) => {
                let msg = e.to_string();
                assert_eq!(o, offset, "{msg}");
                assert!(
                    msg.contains(text) && msg.ends_with(&format!("at byte offset {offset}")),
                    "{msg}"
                );
            }
            other => panic!("byte {byte} = {value}: {:?}", other.map(|r| r.0)),
        }
    }
    for n in 4..8 {
        match run(&good[..n]) {
            Err(e @ EnvelopeError::Header { offset, .. }) => {
                assert_eq!(offset, n as u64);
                assert!(e.to_string().contains("truncated header"), "{e}");
            }
            other => panic!("{n} bytes: {:?}", other.map(|r| r.0)),
        }
    }
    // a codec that does not match the frame: the frame is refused by its magic
    let mut f = good.clone();
    f[5] = 2;
    let (offset, msg) = stream_err(run(&f));
    assert_eq!(offset, 8);
    assert!(
        msg.starts_with("compressed (VKCS zstd) stream: not a zstd frame (magic 04224d18"),
        "{msg}"
    );
}

#[test]
fn every_truncation_is_an_error_at_the_files_end() {
    // three LZ4 blocks, two zstd blocks, in a few KB
    let data = sample(1_500).repeat(100);
    for file in
        [valkey_lz4(&data, true), valkey_lz4(&data, false), zstd(&data, true), zstd(&data, false)]
    {
        let mut stream_errors = 0;
        for cut in 0..file.len() {
            match run(&file[..cut]) {
                Ok(_) => panic!("a file cut at {cut} of {} was accepted", file.len()),
                Err(EnvelopeError::Stream { offset, what, codec }) => {
                    assert_eq!(offset, cut as u64, "{codec}: {what}");
                    assert!(
                        what.starts_with("truncated frame: the file ends inside"),
                        "cut {cut}: {what}"
                    );
                    stream_errors += 1;
                }
                Err(EnvelopeError::Header { .. }) => assert!(cut < HEADER_LEN, "cut {cut}"),
                Err(e) => panic!("cut {cut}: {e}"),
            }
        }
        assert_eq!(stream_errors, file.len() - HEADER_LEN);
        assert!(file.len() > 1000);
        eprintln!("{} bytes: every cut refused", file.len());
    }
}

#[test]
fn a_flipped_bit_in_a_checksummed_block_is_caught_at_the_block() {
    let data = sample(200_000);
    let file = valkey_lz4(&data, true);
    // the first block: envelope 8, frame header 7 (magic, FLG, BD, HC), size field 4
    let first = 8 + 7;
    let size =
        u32::from_le_bytes(file[first..first + 4].try_into().unwrap()) as usize & 0x7FFF_FFFF;
    let second = first + 4 + size + 4;
    for (at, byte) in [(first, first + 4 + 10), (second, second + 4 + 100)] {
        let mut f = file.clone();
        f[byte] ^= 0x10;
        let (offset, msg) = stream_err(run(&f));
        assert_eq!(offset, at as u64);
        assert!(msg.starts_with("compressed (VKCS LZ4) stream: block checksum mismatch"), "{msg}");
        assert!(msg.ends_with(&format!("at compressed byte offset {at}")), "{msg}");
    }
    // every bit of the frame header and the first block: an error (never a panic), but for
    // one: the "stored" bit of a block's size, which no LZ4 checksum covers (the block
    // checksum is of the bytes as stored); the RDB's own CRC-64 catches that one
    let mut accepted = Vec::new();
    for i in 8..second {
        for bit in 0..8 {
            let mut f = file.clone();
            f[i] ^= 1 << bit;
            if let Ok((_, out)) = run(&f) {
                assert!(out != data);
                accepted.push((i, bit));
            }
        }
    }
    assert_eq!(accepted, [(first + 3, 7)]);
}

#[test]
fn flipped_bits_never_panic_nor_yield_other_content() {
    // without codec checksums the damage may decode to other bytes (the RDB's CRC-64 is
    // then what catches it); with them, no flip may give other content silently
    let data = sample(8_000);
    for (file, checked) in
        [(valkey_lz4(&data, false), false), (zstd(&data, true), true), (zstd(&data, false), false)]
    {
        let (mut refused, mut same) = (0, 0);
        for i in 8..file.len() {
            for bit in 0..8 {
                let mut f = file.clone();
                f[i] ^= 1 << bit;
                match run(&f) {
                    Err(_) => refused += 1,
                    Ok((_, out)) if out == data => same += 1,
                    Ok(_) => assert!(!checked, "byte {i} bit {bit} gave other content"),
                }
            }
        }
        eprintln!("{} bytes, checksums {checked}: {refused} refused, {same} harmless", file.len());
        // with the content checksum, only flips that leave the content alone pass
        assert!(
            refused > 0 && (!checked || refused > 100 * same),
            "{refused} refused, {same} harmless"
        );
    }
}

#[test]
fn a_corrupt_block_is_reported_at_the_block() {
    // a block whose size field promises more than the frame's maximum
    let mut f = valkey_lz4(&sample(1000), false);
    f[15..19].copy_from_slice(&(70_000u32).to_le_bytes());
    let (offset, msg) = stream_err(run(&f));
    assert_eq!(offset, 15);
    assert!(msg.contains("more than the frame's maximum 65536"), "{msg}");
    // garbage after the block's last sequence: a match with offset 0 in a compressed block
    let frame = valkey_lz4(&sample(1000), false);
    let size = u32::from_le_bytes(frame[15..19].try_into().unwrap()) as usize;
    let mut f = frame[..19].to_vec();
    f[15..19].copy_from_slice(&((size + 3) as u32).to_le_bytes());
    f.extend_from_slice(&frame[19..19 + size]);
    f.extend_from_slice(&[0x00, 0x00, 0x00]); // token 0, offset 0
    f.extend_from_slice(&[0, 0, 0, 0]);
    let (offset, msg) = stream_err(run(&f));
    assert_eq!(offset, 15);
    assert!(msg.starts_with("compressed (VKCS LZ4) stream: corrupt LZ4 block of"), "{msg}");
    // LZ4 header fields
    let good = valkey_lz4(b"abc", true);
    for (byte, value, offset, text) in [
        (12, 0xB0, 12, "LZ4 frame version 2"),
        (12, 0x72, 12, "reserved bit"),
        (13, 0x41, 13, "reserved bits"),
        (13, 0x30, 13, "maximum size id 3"),
        (14, good[14] ^ 0xFF, 14, "header checksum"),
        (8, 0x00, 8, "not an LZ4 frame"),
    ] {
        let mut f = good.clone();
        f[byte] = value;
        let (o, msg) = stream_err(run(&f));
        assert_eq!(o, offset, "{msg}");
        assert!(msg.contains(text), "{msg}");
    }
}

/// A zstd frame by hand: no checksum, no content size unless given, a 128 KiB window, and
/// `blocks` RLE blocks of 128 KiB of one byte each (4 bytes per block).
fn zstd_rle_bomb(blocks: usize, content_size: Option<u64>) -> Vec<u8> {
    let mut f = vec![0x28, 0xB5, 0x2F, 0xFD];
    match content_size {
        None => f.extend_from_slice(&[0x00, 0x38]), // FHD: nothing; window 2^17
        Some(n) => {
            f.extend_from_slice(&[0xC0, 0x38]); // FHD: 8-byte content size; window 2^17
            f.extend_from_slice(&n.to_le_bytes());
        }
    }
    for i in 0..blocks {
        let last = (i + 1 == blocks) as u32;
        let h = (128u32 << 10) << 3 | 1 << 1 | last;
        f.extend_from_slice(&h.to_le_bytes()[..3]);
        f.push(b'z');
    }
    envelope(2, 0, &f)
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    // 4 KiB of zstd that would expand to 128 MiB
    let bomb = zstd_rle_bomb(1024, None);
    assert_eq!(limit_for(bomb.len() as u64), MIN_LIMIT);
    let mut out = Vec::new();
    match decompress(&bomb[..], &mut out, bomb.len() as u64, 1 << 20) {
        Err(e @ EnvelopeError::TooBig { limit: 1048576, .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("decompression bomb at compressed byte offset"), "{msg}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(out.len() <= 1 << 20, "wrote {} bytes past the limit", out.len());
    // below the limit it decodes: the hand-made frame is sound
    let (_, out) = run(&zstd_rle_bomb(8, None)).unwrap();
    assert!(out.len() == 8 << 17 && out.iter().all(|&b| b == b'z'));
    // a content size announced in the header is refused before anything is written
    let mut out = Vec::new();
    let bomb = zstd_rle_bomb(2, Some(1 << 40));
    match decompress(&bomb[..], &mut out, bomb.len() as u64, 1 << 20) {
        Err(EnvelopeError::TooBig { offset: 8, .. }) => assert!(out.is_empty()),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // LZ4 too (it cannot pass the default limit: about 255 to 1 at most)
    let zeros = vec![0u8; 4 << 20];
    let f = valkey_lz4(&zeros, true);
    assert!(f.len() * 200 < zeros.len());
    assert!(matches!(
        run_limited(&f, 1 << 20),
        Err(EnvelopeError::TooBig { codec: Codec::Lz4, .. })
    ));
    assert!(run(&f).unwrap().1 == zeros);
}

#[test]
fn zstd_header_checks() {
    let good = zstd(b"hello hello hello hello", true);
    // a window of 2^31: refused before any allocation
    let mut f = zstd_rle_bomb(1, None);
    f[13] = (31 - 10) << 3;
    let (offset, msg) = stream_err(run(&f));
    assert_eq!(offset, 13);
    assert!(msg.contains("2147483648-byte window"), "{msg}");
    // a dictionary id
    let mut f = zstd_rle_bomb(1, None);
    f[12] |= 0x01;
    f.insert(14, 7);
    let (offset, msg) = stream_err(run(&f));
    assert_eq!(offset, 14);
    assert!(msg.contains("dictionary"), "{msg}");
    // the reserved bit
    let mut f = good.clone();
    f[12] |= 0x08;
    assert_eq!(stream_err(run(&f)).0, 12);
    // a skippable frame
    let mut f = good.clone();
    f[8..12].copy_from_slice(&[0x50, 0x2A, 0x4D, 0x18]);
    assert!(stream_err(run(&f)).1.contains("skippable frame"));
    // a content size that does not match
    let (offset, msg) = stream_err(run(&zstd_rle_bomb(2, Some(12345))));
    assert_eq!(offset, 12);
    assert!(msg.contains("announces 12345 bytes of content, its blocks hold 262144"), "{msg}");
}

#[test]
fn limit_bounds() {
    assert_eq!(limit_for(0), MIN_LIMIT);
    assert_eq!(limit_for(1 << 20), 1 << 30);
    assert_eq!(limit_for(u64::MAX), MAX_LIMIT);
}

#[test]
fn random_damage_never_panics() {
    // runs of random bytes, inflated size fields, swapped blocks: an error or, when the codec
    // checksums cover the damage, the original content; never a panic or a hang
    let data = sample(300_000);
    let files =
        [valkey_lz4(&data, true), valkey_lz4(&data, false), zstd(&data, true), zstd(&data, false)];
    let mut x = 0x9E3779B97F4A7C15u64;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let (mut refused, mut runs) = (0, 0);
    for (i, file) in files.iter().enumerate() {
        for _ in 0..MUTATIONS {
            let mut f = file.clone();
            match rnd(3) {
                0 => {
                    let at = 8 + rnd(f.len() - 8);
                    let end = (at + 1 + rnd(16)).min(f.len());
                    for b in &mut f[at..end] {
                        *b = rnd(256) as u8;
                    }
                }
                1 => {
                    let at = 8 + rnd(f.len() - 12);
                    f[at..at + 4].copy_from_slice(&[0xFF, 0xFF, 0x3F, 0x00]);
                }
                _ => {
                    let (a, b) = (8 + rnd(f.len() - 8), 8 + rnd(f.len() - 8));
                    let (a, b) = (a.min(b), a.max(b));
                    f[a..b].rotate_left((b - a) / 2);
                }
            }
            runs += 1;
            match run(&f) {
                Err(_) => refused += 1,
                Ok((_, out)) => {
                    assert!(
                        i % 2 == 1 || out == data || f == *file,
                        "checksummed frame gave other content"
                    )
                }
            }
        }
    }
    eprintln!("{runs} damaged files, {refused} refused");
    assert_eq!(runs, 4 * MUTATIONS);
    assert!(refused > runs / 2);
}

/// Mutations per file (20000 each ran clean once; 500 keep the test short).
const MUTATIONS: usize = 500;
