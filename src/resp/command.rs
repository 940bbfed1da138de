//! Writing RESP commands (`*N\r\n$len\r\narg\r\n...`) into a caller's buffer with no
//! per-argument allocation. (Commands whose arguments are gathered before their count is
//! known, such as batches of collection elements, are written by `convert::commands`.)

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
    fn framing() {
        let mut w = b"x".to_vec();
        write(&mut w, &[b"SET", b"k", b"-12"]);
        assert_eq!(w, b"x*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n-12\r\n");
    }
}
