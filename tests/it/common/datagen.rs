//! Seeded random data sets written into a real server through its own commands: every type
//! the server has, small (compact encodings) and big (hashtable, skiplist, big elements),
//! expiries, field TTLs, several databases, functions, streams with deleted and trimmed
//! entries, groups, PEL, idle consumers, and IDMP producers where the server has them.
#![allow(dead_code)]

use super::version::Target;
use crate::common::resp::Conn;
use crate::common::resp::Reply;

/// xorshift64*: small, seeded, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    /// A value: an integer, short text, binary bytes, or (rarely) a big string.
    pub fn value(&mut self, big_pct: u64) -> Vec<u8> {
        match self.below(100) {
            x if x < big_pct => {
                let n = 70_000 + self.below(30_000) as usize;
                (0..n).map(|i| b'a' + ((i as u64 + self.0) % 26) as u8).collect()
            }
            x if x < 30 => (self.next() as i64 >> self.below(60)).to_string().into_bytes(),
            x if x < 45 => (0..self.below(40)).map(|_| self.next() as u8).collect(),
            _ => {
                let n = 1 + self.below(90) as usize;
                (0..n)
                    .map(|_| b"abcdefghijklmnopqrstuvwxyz0123456789 :-_"[self.below(40) as usize])
                    .collect()
            }
        }
    }
    pub fn score(&mut self) -> String {
        match self.below(20) {
            0 => "inf".into(),
            1 => "-inf".into(),
            2 => (self.next() as i64 % 1000).to_string(),
            3 => "0.1".into(),
            _ => format!(
                "{:e}",
                f64::from_bits(self.next() >> 2) * if self.chance(50) { 1.0 } else { -1.0 }
            ),
        }
    }
}

/// The server a binary name stands for: `redis-7.0`, `redis-stack-7.4`, `valkey-9.1`.
pub fn target_of(name: &str) -> Target {
    Target::parse(name)
}

/// Commands, sent pipelined; errors fail the test (the generator must only say valid things).
pub struct Batch(Vec<Vec<Vec<u8>>>);

impl Batch {
    pub fn new() -> Batch {
        Batch(Vec::new())
    }
    pub fn push(&mut self, args: &[&[u8]]) {
        self.0.push(args.iter().map(|a| a.to_vec()).collect());
    }
    pub fn s(&mut self, args: &[&str]) {
        self.0.push(args.iter().map(|a| a.as_bytes().to_vec()).collect());
    }
    pub fn send(self, c: &mut Conn) {
        for part in self.0.chunks(500) {
            let mut buf = Vec::new();
            for cmd in part {
                let a: Vec<&[u8]> = cmd.iter().map(|x| &x[..]).collect();
                crate::common::resp::encode(&mut buf, &a);
            }
            c.send_raw(&buf).unwrap();
            for cmd in part {
                let r = c.read_reply().unwrap();
                if let Reply::Error(e) = &r {
                    panic!(
                        "generator command {:?} failed: {}",
                        cmd.iter()
                            .map(|x| String::from_utf8_lossy(&x[..x.len().min(40)]).into_owned())
                            .collect::<Vec<_>>(),
                        String::from_utf8_lossy(e)
                    );
                }
            }
        }
    }
}

pub struct Opts {
    pub seed: u64,
    /// Keys per type (small and big mixed).
    pub keys: u64,
    /// Use dbs other than 0 (not for clusters).
    pub dbs: bool,
    pub functions: bool,
}

/// Fills the server; returns how many keys it wrote (across dbs).
pub fn populate(c: &mut Conn, t: &Target, o: &Opts) {
    let mut r = Rng::new(o.seed);
    let now = now_ms();
    let mut b = Batch::new();
    let field_ttl = t.field_ttl();
    for i in 0..o.keys {
        let db = if o.dbs && r.chance(20) { [1u64, 3, 15][r.below(3) as usize] } else { 0 };
        b.s(&["SELECT", &db.to_string()]);
        let big = r.chance(25);
        let n = if big { 130 + r.below(600) } else { 1 + r.below(12) };
        let bigv = if big { 3 } else { 0 };
        // string
        let k = format!("str:{i}");
        b.push(&[b"SET", k.as_bytes(), &r.value(bigv + 1)]);
        // list
        let k = format!("list:{i}");
        for _ in 0..n {
            b.push(&[b"RPUSH", k.as_bytes(), &r.value(bigv)]);
        }
        // set: integers (intset) or strings
        let k = format!("set:{i}");
        let ints = r.chance(40);
        for _ in 0..n {
            let m = if ints {
                (r.next() as i64 >> r.below(63)).to_string().into_bytes()
            } else {
                r.value(bigv)
            };
            b.push(&[b"SADD", k.as_bytes(), &m]);
        }
        // zset
        let k = format!("zset:{i}");
        for _ in 0..n {
            b.push(&[b"ZADD", k.as_bytes(), r.score().as_bytes(), &r.value(bigv)]);
        }
        // hash, with field TTLs where the server has them
        let k = format!("hash:{i}");
        for j in 0..n {
            let f =
                format!("f{j}:{}", String::from_utf8_lossy(&r.value(0)).replace(['\r', '\n'], ""));
            b.push(&[b"HSET", k.as_bytes(), f.as_bytes(), &r.value(bigv)]);
            if field_ttl && r.chance(30) {
                let at = (now + 86_400_000 + r.below(1_000_000) as i64).to_string();
                b.push(&[
                    b"HPEXPIREAT",
                    k.as_bytes(),
                    at.as_bytes(),
                    b"FIELDS",
                    b"1",
                    f.as_bytes(),
                ]);
            }
        }
        for name in ["str", "list", "set", "zset", "hash"] {
            if r.chance(20) {
                let at = (now + 3_600_000 + r.below(100_000_000) as i64).to_string();
                let k = format!("{name}:{i}");
                b.s(&["PEXPIREAT", &k, &at]);
            }
        }
        stream(&mut b, &mut r, t, &format!("stream:{i}"), big);
    }
    b.s(&["SELECT", "0"]);
    // streams in corner states
    b.s(&["XGROUP", "CREATE", "stream:grouponly", "g1", "$", "MKSTREAM"]);
    b.s(&["XADD", "stream:emptied", "5-1", "a", "b"]);
    b.s(&["XDEL", "stream:emptied", "5-1"]);
    if o.functions && t.functions() {
        let lib =
            "#!lua name=genlib\nredis.register_function('gen_hello', function() return 'hi' end)\n";
        b.s(&["FUNCTION", "LOAD", lib]);
    }
    b.send(c);
}

fn stream(b: &mut Batch, r: &mut Rng, t: &Target, k: &str, big: bool) {
    let n = if big { 200 + r.below(400) } else { 1 + r.below(10) };
    let idmp = t.idmp() && r.chance(40);
    let nf = 1 + r.below(3);
    for e in 0..n {
        let mut args: Vec<Vec<u8>> = vec![b"XADD".to_vec(), k.as_bytes().to_vec()];
        if idmp && r.chance(60) {
            args.extend([
                b"IDMP".to_vec(),
                format!("p{}", r.below(3)).into_bytes(),
                format!("iid-{e}").into_bytes(),
            ]);
        }
        args.push(b"*".to_vec());
        // same fields as the master entry most of the time (the SAMEFIELDS flag)
        let same = r.chance(70);
        for f in 0..nf {
            let fname = if same { format!("f{f}").into_bytes() } else { r.value(0) };
            args.push(if fname.is_empty() { b"x".to_vec() } else { fname });
            args.push(r.value(0));
        }
        let a: Vec<&[u8]> = args.iter().map(|x| &x[..]).collect();
        b.push(&a);
    }
    if idmp && r.chance(50) {
        b.s(&[
            "XCFGSET",
            k,
            "IDMP-DURATION",
            &(1000 + r.below(80000)).to_string(),
            "IDMP-MAXSIZE",
            &(100 + r.below(900)).to_string(),
        ]);
        // records made after the change
        b.s(&["XADD", k, "IDMP", "late", "iid-late", "*", "f", "v"]);
    }
    let groups = r.below(3);
    for g in 0..groups {
        let gname = format!("g{g}");
        b.s(&["XGROUP", "CREATE", k, &gname, "0"]);
        for c in 0..1 + r.below(3) {
            let cname = format!("c{c}");
            let count = (1 + r.below(n / 2 + 1)).to_string();
            b.s(&["XREADGROUP", "GROUP", &gname, &cname, "COUNT", &count, "STREAMS", k, ">"]);
        }
        if t.create_consumer() && r.chance(50) {
            b.s(&["XGROUP", "CREATECONSUMER", k, &gname, "idle-consumer"]);
        }
    }
    // delete some entries (some of them pending), then trim the head away sometimes
    if r.chance(60) {
        b.s(&["XDEL", k, "0-1"]); // no such entry: harmless
    }
    if n > 3 && r.chance(50) {
        let keep = (n - 1 - r.below(n / 2)).to_string();
        b.s(&["XTRIM", k, "MAXLEN", &keep]);
    }
    if r.chance(30) {
        b.s(&["XADD", k, "*", "after", "trim"]);
    }
}

/// Deletes a few entries in the middle of every big stream (after the data is written,
/// with the IDs known): XDEL needs real IDs.
pub fn delete_some_entries(c: &mut Conn, seed: u64) {
    let mut r = Rng::new(seed ^ 0xdead);
    let keys = scan(c, "stream:*");
    for k in keys {
        if let Reply::Array(Some(entries)) = c.call(&[b"XRANGE", &k, b"-", b"+"]).unwrap() {
            for e in entries {
                if let Reply::Array(Some(parts)) = e
                    && let Reply::Bulk(Some(id)) = &parts[0]
                    && r.chance(10)
                {
                    c.call(&[b"XDEL", &k, id]).unwrap();
                }
            }
        }
    }
}

pub fn scan(c: &mut Conn, pattern: &str) -> Vec<Vec<u8>> {
    let mut cursor = b"0".to_vec();
    let mut out = Vec::new();
    loop {
        let r =
            c.call(&[b"SCAN", &cursor, b"MATCH", pattern.as_bytes(), b"COUNT", b"1000"]).unwrap();
        let Reply::Array(Some(mut parts)) = r else { panic!("SCAN: {r:?}") };
        let Reply::Array(Some(keys)) = parts.pop().unwrap() else { panic!() };
        let Reply::Bulk(Some(next)) = parts.pop().unwrap() else { panic!() };
        out.extend(
            keys.into_iter().map(|k| if let Reply::Bulk(Some(k)) = k { k } else { panic!() }),
        );
        if next == b"0" {
            return out;
        }
        cursor = next;
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
