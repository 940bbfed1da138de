//! Fuzzes the reader: records, value decoding and JSON output on arbitrary bytes.
//! Any input must end in Ok or a format error: never a panic, a hang or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbshift::filter::Filter;
use rdbshift::format::record::Options;
use rdbshift::format::value::Scratch;
use rdbshift::format::{Reader, Record};

fuzz_target!(|data: &[u8]| {
    // Checksums would reject nearly every mutation before the interesting code runs.
    let opts = Options { allow_newer: true, no_checksum: true, allow_duplicate_keys: false };
    let Ok(mut r) = Reader::new(data, opts) else { return };
    let h = r.header;
    let mut s = Scratch::default();
    let filter = Filter { include_expired: true, ..Default::default() };
    let mut sink = std::io::sink();
    while let Ok(Some(rec)) = r.next_record() {
        if let Record::Key(k) = rec {
            // the check that runs before a RESTORE payload goes out
            let _ = k.validate(data, &h, &mut s);
            let Ok(name) = k.name() else { break };
            if rdbshift::encode::json::write_key(&k, &name, data, &h, &filter, b"", None, &mut sink, &mut s).is_err() {
                break;
            }
        }
    }
});
