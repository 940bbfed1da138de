//! Writing RESP commands (`*N\r\n$len\r\narg\r\n...`) into a caller's buffer with no
//! per-argument allocation. The argument count goes first, so a [`Command`] reserves room
//! for it and patches it in when the command is finished.

use crate::format::Str;

/// A command being written at the end of `out`.
pub struct Command<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
    argc: usize,
}

/// Width reserved for the argument count: `*` + up to 10 digits + CRLF.
const HEADER: usize = 13;

impl<'o> Command<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        let start = out.len();
        out.extend_from_slice(&[b' '; HEADER]);
        Command { out, start, argc: 0 }
    }
    pub fn arg(&mut self, a: &[u8]) -> &mut Self {
        let mut b = itoa::Buffer::new();
        self.out.push(b'$');
        self.out.extend_from_slice(b.format(a.len()).as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(a);
        self.out.extend_from_slice(b"\r\n");
        self.argc += 1;
        self
    }
    pub fn int(&mut self, i: impl itoa::Integer) -> &mut Self {
        self.arg(itoa::Buffer::new().format(i).as_bytes())
    }
    pub fn str(&mut self, s: Str) -> &mut Self {
        match s {
            Str::Bytes(b) => self.arg(b),
            Str::Int(i) => self.int(i),
        }
    }
    pub fn double(&mut self, x: f64) -> &mut Self {
        let mut t = Vec::with_capacity(24);
        crate::encode::text::double(&mut t, x);
        self.arg(&t)
    }
    pub fn argc(&self) -> usize {
        self.argc
    }
    /// Bytes written so far by this command.
    pub fn len(&self) -> usize {
        self.out.len() - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }
    /// Finishes the command: the count is written and the reserved room closed up.
    pub fn finish(self) {
        let mut b = itoa::Buffer::new();
        let digits = b.format(self.argc).as_bytes();
        let hlen = 1 + digits.len() + 2;
        let body_start = self.start + HEADER;
        let shift = HEADER - hlen;
        let hdr_at = self.start + shift;
        // write the header right before the body, then drop the unused reserved bytes
        self.out[hdr_at] = b'*';
        self.out[hdr_at + 1..hdr_at + 1 + digits.len()].copy_from_slice(digits);
        self.out[body_start - 2..body_start].copy_from_slice(b"\r\n");
        if shift > 0 {
            self.out.drain(self.start..self.start + shift);
        }
    }
}

/// Writes a whole command from a list of arguments.
pub fn write(out: &mut Vec<u8>, args: &[&[u8]]) {
    let mut b = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(b.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(b.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_patched_in() {
        let mut out = b"x".to_vec();
        let mut c = Command::new(&mut out);
        c.arg(b"SET").arg(b"k").int(-12);
        c.finish();
        assert_eq!(out, b"x*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n-12\r\n");
        let mut w = Vec::new();
        write(&mut w, &[b"SET", b"k", b"-12"]);
        assert_eq!(&out[1..], &w[..]);
    }
}
