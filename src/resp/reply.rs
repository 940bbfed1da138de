//! Parsing RESP2/RESP3 replies. [`ParseError`] tells "not enough bytes yet" apart from "not
//! RESP".
//!
//! Replies are untrusted input: a server, or whatever answers on its port, decides every
//! length and count. So:
//! - every declared length and count is checked against a limit before it is used: a bulk
//!   longer than a server's own maximum (`proto-max-bulk-len`, 512 MB by default), an
//!   aggregate with more elements than a server accepts in a request (`INT_MAX`), nesting
//!   deeper than [`MAX_DEPTH`], or a line longer than [`MAX_LINE`] is a protocol error;
//! - nothing is allocated in proportion to a declared length: a bulk is copied only once all
//!   its bytes have arrived, and an aggregate's vector grows with the elements parsed;
//! - nesting is walked with an explicit stack, so no input reaches the call stack;
//! - [`Skipper`] and [`Builder`] are resumable: after [`ParseError::Incomplete`] they go on
//!   where they stopped when more bytes arrive, so a reply arriving in many reads is scanned
//!   once, not once per read.
//!
//! A reader that buffers a reply still arriving keeps at most [`MAX_PENDING`] bytes of it.

/// The longest bulk accepted: a server's default (and usual) `proto-max-bulk-len`.
pub const MAX_BULK: i64 = 512 << 20;
/// The most elements in one aggregate (a map's pairs count twice): what a server accepts in
/// a request (`src/networking.c` refuses a multibulk length above `INT_MAX`).
pub const MAX_ELEMENTS: i64 = i32::MAX as i64;
/// The deepest nesting of aggregates. Replies to what rdbshift sends nest 3 deep at most.
pub const MAX_DEPTH: usize = 128;
/// The longest line (status, error, number, length header). A server's own inline limit is
/// 64 KiB (`PROTO_INLINE_MAX_SIZE`).
pub const MAX_LINE: usize = 64 << 10;
/// The most bytes a connection buffers for one reply that is still arriving: room for one
/// maximal bulk and more, but not unbounded.
pub const MAX_PENDING: usize = 1 << 30;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// The bytes so far are a valid beginning; more are needed.
    #[error("incomplete reply")]
    Incomplete,
    /// Not RESP, or beyond a limit.
    #[error("{0}")]
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
            Reply::Array(Some(a)) => {
                format!("[{}]", a.iter().map(|r| r.text()).collect::<Vec<_>>().join(", "))
            }
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

/// One element's header (and, for everything but aggregates, its whole value), borrowed
/// from the buffer.
enum Item<'b> {
    Status(&'b [u8]),
    Error(&'b [u8]),
    Int(i64),
    Bulk(Option<&'b [u8]>),
    /// An aggregate of this many elements (a map's pairs counted as two), or a nil one.
    Aggregate(Option<u64>),
}

/// The line at `pos`, without its CRLF, and the position after it.
fn line(buf: &[u8], pos: usize) -> Result<(&[u8], usize), ParseError> {
    let rest = &buf[pos.min(buf.len())..];
    let window = &rest[..rest.len().min(MAX_LINE + 2)];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && window[i - 1] == b'\r' => Ok((&rest[..i - 1], pos + i + 1)),
        Some(_) => Err(ParseError::Invalid("a line ends in LF without CR".into())),
        None if rest.len() > MAX_LINE + 1 => {
            Err(ParseError::Invalid(format!("a line longer than {MAX_LINE} bytes")))
        }
        None => Err(ParseError::Incomplete),
    }
}

fn num(l: &[u8]) -> Result<i64, ParseError> {
    std::str::from_utf8(l).ok().and_then(|s| s.parse().ok()).ok_or_else(|| {
        ParseError::Invalid(format!(
            "bad number {:?}",
            String::from_utf8_lossy(&l[..l.len().min(40)])
        ))
    })
}

/// Reads the element at `pos`: its value, or an aggregate's header; and the position after.
fn item(buf: &[u8], pos: usize) -> Result<(Item<'_>, usize), ParseError> {
    let Some(&t) = buf.get(pos) else { return Err(ParseError::Incomplete) };
    if !b"+-!:$=*~%>_,(#".contains(&t) {
        return Err(ParseError::Invalid(format!("unknown reply type byte 0x{t:02x}")));
    }
    let (l, next) = line(buf, pos + 1)?;
    Ok(match t {
        b'+' | b',' | b'(' => (Item::Status(l), next),
        b'-' | b'!' => (Item::Error(l), next),
        b':' => (Item::Int(num(l)?), next),
        b'#' => (Item::Int((l == b"t") as i64), next),
        b'_' => (Item::Bulk(None), next),
        b'$' | b'=' => {
            let n = num(l)?;
            if n == -1 {
                return Ok((Item::Bulk(None), next));
            }
            if !(0..=MAX_BULK).contains(&n) {
                return Err(ParseError::Invalid(format!(
                    "bulk length {n} (the limit is {MAX_BULK})"
                )));
            }
            let end = next + n as usize;
            if buf.len() < end + 2 {
                return Err(ParseError::Incomplete);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ParseError::Invalid("a bulk string not followed by CRLF".into()));
            }
            (Item::Bulk(Some(&buf[next..end])), end + 2)
        }
        _ => {
            let n = num(l)?;
            if n == -1 {
                return Ok((Item::Aggregate(None), next));
            }
            if !(0..=MAX_ELEMENTS).contains(&n) {
                return Err(ParseError::Invalid(format!(
                    "aggregate of {n} elements (the limit is {MAX_ELEMENTS})"
                )));
            }
            (Item::Aggregate(Some(n as u64 * if t == b'%' { 2 } else { 1 })), next)
        }
    })
}

fn too_deep() -> ParseError {
    ParseError::Invalid(format!("replies nested more than {MAX_DEPTH} deep"))
}

/// Walks replies without building them (what a pipelined loader needs: where each reply
/// ends, and its text when it is an error). Resumable: see the module documentation.
///
/// Invariant: between calls, `open` and `resume` describe the reply that starts where the
/// previous call was asked to start; a call for another reply must follow a completed one
/// (or a [`Skipper::reset`]).
#[derive(Debug, Default)]
pub struct Skipper {
    /// Elements still expected by each open aggregate, innermost last.
    open: Vec<u64>,
    /// Where the next element starts, counted from the start of the reply.
    resume: usize,
}

impl Skipper {
    /// Walks the reply that starts at `start`; returns its error text (a top-level error
    /// reply) and the position after it.
    pub fn skip<'b>(
        &mut self,
        buf: &'b [u8],
        start: usize,
    ) -> Result<(Option<&'b [u8]>, usize), ParseError> {
        let mut pos = start + self.resume;
        loop {
            let (it, next) = match item(buf, pos) {
                Ok(x) => x,
                Err(ParseError::Incomplete) => {
                    self.resume = pos - start;
                    return Err(ParseError::Incomplete);
                }
                Err(e) => {
                    self.reset();
                    return Err(e);
                }
            };
            pos = next;
            let err = match it {
                Item::Aggregate(Some(n)) if n > 0 => {
                    if self.open.len() == MAX_DEPTH {
                        self.reset();
                        return Err(too_deep());
                    }
                    self.open.push(n);
                    continue;
                }
                // only a top-level error is the reply's
                Item::Error(e) if self.open.is_empty() => Some(e),
                _ => None,
            };
            // an element is complete: count it in the aggregates it completes
            loop {
                let Some(left) = self.open.last_mut() else {
                    self.resume = 0;
                    return Ok((err, pos));
                };
                *left -= 1;
                if *left > 0 {
                    break;
                }
                self.open.pop();
            }
        }
    }

    /// Forgets a reply half walked.
    pub fn reset(&mut self) {
        self.open.clear();
        self.resume = 0;
    }
}

/// Builds replies; resumable like [`Skipper`], with the same invariant.
#[derive(Debug, Default)]
pub struct Builder {
    /// Each open aggregate: elements still expected, and those built so far.
    open: Vec<(u64, Vec<Reply>)>,
    resume: usize,
}

impl Builder {
    /// Parses the reply that starts at `start`; returns it and the position after it.
    pub fn parse(&mut self, buf: &[u8], start: usize) -> Result<(Reply, usize), ParseError> {
        let mut pos = start + self.resume;
        loop {
            let (it, next) = match item(buf, pos) {
                Ok(x) => x,
                Err(ParseError::Incomplete) => {
                    self.resume = pos - start;
                    return Err(ParseError::Incomplete);
                }
                Err(e) => {
                    self.reset();
                    return Err(e);
                }
            };
            pos = next;
            let mut r = match it {
                Item::Status(s) => Reply::Status(s.to_vec()),
                Item::Error(s) => Reply::Error(s.to_vec()),
                Item::Int(i) => Reply::Int(i),
                Item::Bulk(b) => Reply::Bulk(b.map(<[u8]>::to_vec)),
                Item::Aggregate(None) => Reply::Array(None),
                Item::Aggregate(Some(0)) => Reply::Array(Some(Vec::new())),
                Item::Aggregate(Some(n)) => {
                    if self.open.len() == MAX_DEPTH {
                        self.reset();
                        return Err(too_deep());
                    }
                    // grows with the elements that arrive, not with the declared count
                    self.open.push((n, Vec::with_capacity(n.min(1024) as usize)));
                    continue;
                }
            };
            loop {
                let Some((left, items)) = self.open.last_mut() else {
                    self.resume = 0;
                    return Ok((r, pos));
                };
                items.push(r);
                *left -= 1;
                if *left > 0 {
                    break;
                }
                r = Reply::Array(Some(self.open.pop().unwrap().1));
            }
        }
    }

    /// Forgets a reply half built.
    pub fn reset(&mut self) {
        self.open.clear();
        self.resume = 0;
    }
}

/// Parses one whole reply at `pos` (not resumable); returns it and the position after it.
pub fn parse(buf: &[u8], pos: usize) -> Result<(Reply, usize), ParseError> {
    Builder::default().parse(buf, pos)
}

/// Walks one whole reply at `pos` (not resumable): see [`Skipper::skip`].
pub fn skip(buf: &[u8], pos: usize) -> Result<(Option<&[u8]>, usize), ParseError> {
    Skipper::default().skip(buf, pos)
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
        // nested, maps, empty and nil aggregates
        let b = b"*3\r\n*0\r\n%1\r\n+a\r\n*1\r\n:2\r\n*-1\r\n";
        let (r, p) = parse(b, 0).unwrap();
        assert_eq!(p, b.len());
        assert_eq!(r.text(), "[[], [a, [2]], (nil)]");
        assert_eq!(skip(b, 0).unwrap().1, b.len());
    }

    fn invalid(b: &[u8]) -> String {
        let a = match parse(b, 0) {
            Err(ParseError::Invalid(m)) => m,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&b[..b.len().min(40)])),
        };
        assert_eq!(skip(b, 0), Err(ParseError::Invalid(a.clone())));
        a
    }

    #[test]
    fn limits() {
        // a bulk over the server's maximum is refused from its header alone
        assert!(invalid(b"$999999999999\r\n").contains("bulk length 999999999999"));
        assert_eq!(parse(b"$536870912\r\n", 0), Err(ParseError::Incomplete));
        invalid(b"$536870913\r\n");
        invalid(b"$-2\r\n");
        assert!(invalid(b"*2147483648\r\n").contains("aggregate"));
        // a huge declared count allocates nothing up front
        assert_eq!(parse(b"*2147483647\r\n:1\r\n", 0), Err(ParseError::Incomplete));
        // deep nesting: refused at the limit, without recursion
        let deep = b"*1\r\n".repeat(2_000_000);
        assert!(invalid(&deep).contains("nested"));
        let mut ok = b"*1\r\n".repeat(MAX_DEPTH);
        ok.extend_from_slice(b":7\r\n");
        assert_eq!(parse(&ok, 0).unwrap().1, ok.len());
        assert_eq!(skip(&ok, 0).unwrap().1, ok.len());
        // lines: endless, bare LF, garbage
        let mut long = b"+".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_LINE + 10));
        assert!(invalid(&long).contains("line longer"));
        let mut fits = b"+".to_vec();
        fits.extend(std::iter::repeat_n(b'a', MAX_LINE));
        assert_eq!(parse(&fits, 0), Err(ParseError::Incomplete));
        fits.extend_from_slice(b"\r\n");
        assert_eq!(parse(&fits, 0).unwrap().1, fits.len());
        invalid(b"+OK\n");
        invalid(b"hello\r\n");
        invalid(b"\x00\x01\x02");
        invalid(b":12x\r\n");
        invalid(b"$3\r\nabcd\r\n");
    }

    #[test]
    fn resumes_where_it_stopped() {
        let whole = b"*3\r\n$5\r\nhello\r\n*2\r\n:1\r\n-ERR in\r\n+done\r\n-ERR top\r\n";
        for cut in 0..whole.len() {
            let (mut s, mut b) = (Skipper::default(), Builder::default());
            let part = &whole[..cut];
            if let Ok((_, end)) = s.skip(part, 0) {
                assert!(end <= cut);
            }
            if let Ok((_, end)) = b.parse(part, 0) {
                assert!(end <= cut);
                continue;
            }
            let (e, end) = s.skip(whole, 0).unwrap();
            assert_eq!((e, end), (None, 39), "cut at {cut}");
            let (r, end2) = b.parse(whole, 0).unwrap();
            assert_eq!(end2, 39);
            assert_eq!(r.text(), "[hello, [1, ERR in], done]");
            // and the next reply starts fresh
            assert_eq!(s.skip(whole, end).unwrap(), (Some(&b"ERR top"[..]), whole.len()));
        }
        // byte by byte, as a slow server sends it
        let mut s = Skipper::default();
        let mut got = None;
        for n in 1..=whole.len() {
            match s.skip(&whole[..n], 0) {
                Ok(x) => {
                    got = Some(x.1);
                    break;
                }
                Err(ParseError::Incomplete) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, Some(39));
    }
}
