//! A cluster's masters and their slots, from a `nodes.conf` or the saved output of
//! `CLUSTER NODES` (one line per node: id, address, flags, master id, ping, pong, epoch,
//! link state, then slots and slot ranges; `[slot->-id]`/`[slot-<-id]` migrations and the
//! `vars` line are ignored).

/// One master and the slots it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Master {
    /// The node's 40-character id.
    pub id: String,
    /// `host:port` as the file gives it (without the bus port and hostname).
    pub addr: String,
    /// Slot ranges, each `(first, last)`, inclusive.
    pub ranges: Vec<(u16, u16)>,
}

/// The masters in `text`, in file order. Errors name the line.
pub fn parse(text: &str) -> Result<Vec<Master>, String> {
    let mut masters: Vec<Master> = Vec::new();
    let mut owner = vec![None::<usize>; 16384];
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() || f[0] == "vars" {
            continue;
        }
        let at = |msg: String| format!("line {}: {msg}", i + 1);
        if f.len() < 8 {
            return Err(at(format!("expected at least 8 fields, found {}: {line:?}", f.len())));
        }
        if f[0].len() != 40 || !f[0].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(at(format!("{:?} is not a node id (40 hex characters)", f[0])));
        }
        let flags: Vec<&str> = f[2].split(',').collect();
        if !flags.contains(&"master") {
            continue;
        }
        let addr = f[1].split(['@', ',']).next().unwrap_or("").to_string();
        let mut ranges = Vec::new();
        for s in &f[8..] {
            if s.starts_with('[') {
                continue;
            }
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let slot = |x: &str| {
                x.parse::<u16>()
                    .ok()
                    .filter(|&n| n < 16384)
                    .ok_or_else(|| at(format!("{s:?} is not a slot or a slot range")))
            };
            let (a, b) = (slot(a)?, slot(b)?);
            if a > b {
                return Err(at(format!("slot range {s:?} runs backwards")));
            }
            for x in a..=b {
                if let Some(o) = owner[x as usize] {
                    let o: &Master = &masters[o];
                    return Err(at(format!("slot {x} is also served by {} ({})", o.id, o.addr)));
                }
                owner[x as usize] = Some(masters.len());
            }
            ranges.push((a, b));
        }
        if masters.iter().any(|m| m.id == f[0]) {
            return Err(at(format!("node {} is listed twice", f[0])));
        }
        masters.push(Master { id: f[0].to_string(), addr, ranges });
    }
    if masters.iter().all(|m| m.ranges.is_empty()) {
        return Err("no master with slots".into());
    }
    Ok(masters)
}

/// The slots no master serves, as ranges.
pub fn uncovered(masters: &[Master]) -> Vec<(u16, u16)> {
    let mut covered = vec![false; 16384];
    for m in masters {
        for &(a, b) in &m.ranges {
            (a..=b).for_each(|s| covered[s as usize] = true);
        }
    }
    let mut out: Vec<(u16, u16)> = Vec::new();
    for s in 0..16384u16 {
        if covered[s as usize] {
            continue;
        }
        match out.last_mut() {
            Some((_, b)) if *b + 1 == s => *b = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// Ranges as `0-5460,5461,...`.
pub fn show(ranges: &[(u16, u16)]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
        .collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "\
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002,host-b master - 0 1426238316232 2 connected 5461-10922 [10923->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@40005 slave 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
vars currentEpoch 6 lastVoteEpoch 0
";

    #[test]
    fn masters_and_their_ranges() {
        let m = parse(CONF).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].addr, "127.0.0.1:30001");
        assert_eq!(m[1].addr, "127.0.0.1:30002");
        assert_eq!(m[1].ranges, vec![(5461, 10922)]);
        assert_eq!(m[2].ranges, vec![(10923, 16383)]);
        assert!(uncovered(&m).is_empty());
        let partial = CONF.replace(" 10923-16383", " 10923-16000 16002");
        let m = parse(&partial).unwrap();
        assert_eq!(uncovered(&m), vec![(16001, 16001), (16003, 16383)]);
        assert_eq!(show(&uncovered(&m)), "16001,16003-16383");
    }

    #[test]
    fn bad_files_name_their_line() {
        let e = parse(&CONF.replace("0-5460", "0-5461")).unwrap_err();
        assert!(e.starts_with("line 2: slot 5461 is also served by e7d1"), "{e}");
        let e = parse(&CONF.replace("0-5460", "0-16384")).unwrap_err();
        assert!(e.contains("line 1") && e.contains("not a slot"), "{e}");
        let e = parse("hello world\n").unwrap_err();
        assert!(e.starts_with("line 1: expected at least 8 fields"), "{e}");
        assert!(parse("").is_err());
    }
}
