//! What the integrity rules cost, per value encoding: for every key of a file, the time to
//! find its end (the skim), to check it whole as a server with deep sanitization would
//! (`Key::validate`, what a `RESTORE` payload gets before it goes out) and to decode it
//! into a visitor that keeps nothing (what `convert` does for commands, with the same
//! checks made as it goes). Best of `ROUNDS` passes, in nanoseconds per key and per byte.
//!
//! `cargo run --release -p rdbshift-format --example check_cost -- dump.rdb [ROUNDS]`

use std::collections::BTreeMap;
use std::time::Instant;

use rdbshift_format::record::Options;
use rdbshift_format::types;
use rdbshift_format::visit::Visitor;
use rdbshift_format::{Reader, Record, Scratch};

/// Takes every value and keeps nothing.
struct Discard;
impl Visitor for Discard {
    type Error = rdbshift_format::Error;
}

#[derive(Default, Clone, Copy)]
struct Cost {
    keys: u64,
    bytes: u64,
    validate_ns: u128,
    decode_ns: u128,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: check_cost FILE.rdb [ROUNDS]")?;
    let rounds: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3);
    let data = std::fs::read(&path)?;
    let mut best: BTreeMap<&'static str, Cost> = BTreeMap::new();
    let mut skim_best = u128::MAX;
    let mut s = Scratch::default();
    for _ in 0..rounds {
        let t = Instant::now();
        let mut keys = Vec::new();
        let mut r = Reader::new(&data, Options::default().allow_duplicate_keys(true))?;
        while let Some(rec) = r.next_record()? {
            if let Record::Key(k) = rec {
                keys.push(k);
            }
        }
        skim_best = skim_best.min(t.elapsed().as_nanos());
        // two passes over all keys, so that each finds the values equally far from the
        // cache (one pass after the other on each key would favour the second)
        let mut round: BTreeMap<&'static str, Cost> = BTreeMap::new();
        for k in &keys {
            let enc = types::encoding(k.ty(), k.header());
            let c = round.entry(enc).or_default();
            c.keys += 1;
            c.bytes += (k.end() - k.value_at()) as u64;
            let t = Instant::now();
            k.validate(&mut s)?;
            c.validate_ns += t.elapsed().as_nanos();
        }
        for k in &keys {
            let c = round.get_mut(types::encoding(k.ty(), k.header())).expect("counted");
            let t = Instant::now();
            k.decode(&mut Discard, &mut s)?;
            c.decode_ns += t.elapsed().as_nanos();
        }
        for (enc, c) in round {
            let b = best.entry(enc).or_insert(c);
            b.validate_ns = b.validate_ns.min(c.validate_ns);
            b.decode_ns = b.decode_ns.min(c.decode_ns);
        }
    }
    let keys: u64 = best.values().map(|c| c.keys).sum();
    println!(
        "{path}: {keys} keys; the skim (every record's end, the checksum): {:.0} ns/key",
        skim_best as f64 / keys.max(1) as f64
    );
    println!("encoding | keys | value bytes | validate ns/key | ns/byte | decode ns/key | ns/byte");
    for (enc, c) in &best {
        let per = |ns: u128, n: u64| ns as f64 / n.max(1) as f64;
        println!(
            "{enc} | {} | {} | {:.0} | {:.2} | {:.0} | {:.2}",
            c.keys,
            c.bytes,
            per(c.validate_ns, c.keys),
            per(c.validate_ns, c.bytes),
            per(c.decode_ns, c.keys),
            per(c.decode_ns, c.bytes)
        );
    }
    Ok(())
}
