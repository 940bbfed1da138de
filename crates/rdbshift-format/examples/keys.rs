//! Prints every key of an RDB file: database, type, name, and its expiry.
//!
//! `cargo run -p rdbshift-format --example keys -- dump.rdb`

use rdbshift_format::record::Options;
use rdbshift_format::{Reader, Record};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: keys FILE.rdb")?;
    let data = std::fs::read(&path)?;
    let mut reader = Reader::new(&data, Options::default())?;
    let mut n = 0u64;
    while let Some(record) = reader.next_record()? {
        if let Record::Key(k) = record {
            let name = k.name()?;
            let expiry =
                k.expire_ms().map(|ms| format!(" (expires at {ms} ms)")).unwrap_or_default();
            println!(
                "db {} {} {}{expiry}",
                k.db(),
                k.kind().name(),
                String::from_utf8_lossy(&name)
            );
            n += 1;
        }
    }
    eprintln!("{n} keys, checksum verified");
    Ok(())
}
