//! Times the record skim over a dump (what the convert engine's splitter does).
use rdbshift::format::Reader;
use rdbshift::format::record::{Options, Record};

fn main() {
    let path = std::env::args().nth(1).expect("usage: skim FILE");
    let dump = rdbshift::input::Dump::open(path.as_ref()).unwrap();
    let t = std::time::Instant::now();
    let mut r = Reader::new(
        dump.data(),
        Options::default().no_checksum(std::env::args().any(|a| a == "--no-checksum")),
    )
    .unwrap();
    let mut keys = 0u64;
    while let Some(rec) = r.next_record().unwrap() {
        if let Record::Key(_) = rec {
            keys += 1;
        }
    }
    println!("{keys} keys in {:.3}s", t.elapsed().as_secs_f64());
}
