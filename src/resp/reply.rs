//! Parsing RESP2/RESP3 replies. [`parse`] tells "not enough bytes yet" apart from "not RESP".

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

#[derive(Debug, PartialEq)]
pub enum ParseError {
    Incomplete,
    Invalid(String),
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Status(b) | Reply::Bulk(Some(b)) | Reply::Error(b) => Some(b),
            _ => None,
        }
    }
    pub fn text(&self) -> String {
        match self {
            Reply::Int(i) => i.to_string(),
            Reply::Array(Some(a)) => format!("[{}]", a.iter().map(|r| r.text()).collect::<Vec<_>>().join(", ")),
            Reply::Array(None) | Reply::Bulk(None) => "(nil)".into(),
            r => String::from_utf8_lossy(r.bytes().unwrap_or(b"")).into_owned(),
        }
    }
    pub fn array(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(a)) => a,
            _ => &[],
        }
    }
    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            Reply::Bulk(Some(b)) | Reply::Status(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }
}

fn line(buf: &[u8], pos: usize) -> Result<(&[u8], usize), ParseError> {
    let rest = &buf[pos..];
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok((&rest[..i], pos + i + 2)),
        None => Err(ParseError::Incomplete),
    }
}

fn num(l: &[u8]) -> Result<i64, ParseError> {
    std::str::from_utf8(l)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ParseError::Invalid(format!("bad number {:?}", String::from_utf8_lossy(l))))
}

/// Parses one reply at `pos`; returns it and the position after it.
pub fn parse(buf: &[u8], pos: usize) -> Result<(Reply, usize), ParseError> {
    let Some(&t) = buf.get(pos) else { return Err(ParseError::Incomplete) };
    let (l, next) = line(buf, pos + 1)?;
    match t {
        b'+' => Ok((Reply::Status(l.to_vec()), next)),
        b'-' | b'!' => Ok((Reply::Error(l.to_vec()), next)),
        b':' => Ok((Reply::Int(num(l)?), next)),
        b'$' | b'=' => {
            let n = num(l)?;
            if n < 0 {
                return Ok((Reply::Bulk(None), next));
            }
            let end = next + n as usize;
            if buf.len() < end + 2 {
                return Err(ParseError::Incomplete);
            }
            Ok((Reply::Bulk(Some(buf[next..end].to_vec())), end + 2))
        }
        b'*' | b'~' | b'%' | b'>' => {
            let mut n = num(l)?;
            if n < 0 {
                return Ok((Reply::Array(None), next));
            }
            if t == b'%' {
                n *= 2;
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            let mut p = next;
            for _ in 0..n {
                let (r, np) = parse(buf, p)?;
                items.push(r);
                p = np;
            }
            Ok((Reply::Array(Some(items)), p))
        }
        b'_' => Ok((Reply::Bulk(None), next)),
        b',' => Ok((Reply::Bulk(Some(l.to_vec())), next)),
        b'#' => Ok((Reply::Int((l == b"t") as i64), next)),
        _ => Err(ParseError::Invalid(format!("unknown reply type byte 0x{t:02x}"))),
    }
}

/// Walks one reply at `pos` without building it; returns the position after it, and the
/// text of the reply when it is an error (what a pipelined loader needs, allocation-free).
pub fn skip(buf: &[u8], pos: usize) -> Result<(Option<&[u8]>, usize), ParseError> {
    let Some(&t) = buf.get(pos) else { return Err(ParseError::Incomplete) };
    let (l, next) = line(buf, pos + 1)?;
    match t {
        b'-' | b'!' => Ok((Some(l), next)),
        b'+' | b':' | b'_' | b',' | b'#' => Ok((None, next)),
        b'$' | b'=' => {
            let n = num(l)?;
            if n < 0 {
                return Ok((None, next));
            }
            let end = next + n as usize;
            if buf.len() < end + 2 {
                return Err(ParseError::Incomplete);
            }
            Ok((None, end + 2))
        }
        b'*' | b'~' | b'%' | b'>' => {
            let mut n = num(l)?;
            if t == b'%' {
                n *= 2;
            }
            let mut p = next;
            for _ in 0..n.max(0) {
                p = skip(buf, p)?.1;
            }
            Ok((None, p))
        }
        _ => Err(ParseError::Invalid(format!("unknown reply type byte 0x{t:02x}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let b = b"+OK\r\n:5\r\n$3\r\nabc\r\n*2\r\n$-1\r\n-ERR x\r\n";
        let (r, p) = parse(b, 0).unwrap();
        assert_eq!(r, Reply::Status(b"OK".to_vec()));
        let (r, p) = parse(b, p).unwrap();
        assert_eq!(r, Reply::Int(5));
        let (r, p) = parse(b, p).unwrap();
        assert_eq!(r, Reply::Bulk(Some(b"abc".to_vec())));
        let (r, p) = parse(b, p).unwrap();
        assert_eq!(r, Reply::Array(Some(vec![Reply::Bulk(None), Reply::Error(b"ERR x".to_vec())])));
        assert_eq!(p, b.len());
        assert_eq!(parse(b"$5\r\nab", 0), Err(ParseError::Incomplete));
        assert_eq!(parse(b"*2\r\n:1\r\n", 0), Err(ParseError::Incomplete));
        assert!(matches!(parse(b"?x\r\n", 0), Err(ParseError::Invalid(_))));
        // skip agrees with parse on where each reply ends, and finds errors
        let mut p = 0;
        let mut errs = Vec::new();
        while p < b.len() {
            let (e, np) = skip(b, p).unwrap();
            assert_eq!(np, parse(b, p).unwrap().1);
            errs.extend(e.map(|e| e.to_vec()));
            p = np;
        }
        assert!(errs.is_empty(), "the error above is nested in an array");
        assert_eq!(skip(b"-MOVED 1 h:2\r\n", 0).unwrap(), (Some(&b"MOVED 1 h:2"[..]), 14));
        assert_eq!(skip(b"*2\r\n:1\r\n", 0), Err(ParseError::Incomplete));
    }
}
