//! Cluster redirects: `MOVED slot host:port` (the slot lives elsewhere now: read the slot map
//! again) and `ASK slot host:port` (the slot is migrating: send this key's commands there,
//! each after `ASKING`).

use crate::resp::Reply;

/// A redirect a cluster node answered instead of running a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// The slot is served by `addr` from now on.
    Moved {
        /// The key's slot.
        slot: u16,
        /// `host:port` of the node that serves it.
        addr: String,
    },
    /// The slot is migrating to `addr`: this key may already be there.
    Ask {
        /// The key's slot.
        slot: u16,
        /// `host:port` of the node to ask.
        addr: String,
    },
}

impl Redirect {
    /// The redirect in an error reply, if it is one.
    pub fn parse(r: &Reply) -> Option<Redirect> {
        match r {
            Reply::Error(e) => Redirect::parse_error(e),
            _ => None,
        }
    }

    /// The redirect in an error reply's text (`MOVED 3999 127.0.0.1:6381`), if it is one.
    /// An address without a host (`:6381`, what a node with no known IP says) is left as
    /// it is: [`Redirect::addr_from`] fills it in.
    pub fn parse_error(e: &[u8]) -> Option<Redirect> {
        let text = std::str::from_utf8(e).ok()?;
        let mut w = text.split_ascii_whitespace();
        let (kind, slot, addr) = (w.next()?, w.next()?, w.next()?);
        let slot: u16 = slot.parse().ok().filter(|s| *s < 16384)?;
        let addr = addr.to_string();
        match kind {
            "MOVED" => Some(Redirect::Moved { slot, addr }),
            "ASK" => Some(Redirect::Ask { slot, addr }),
            _ => None,
        }
    }

    /// The node to go to, with `seed`'s host when the redirect names none.
    pub fn addr_from(&self, seed: &str) -> String {
        let (Redirect::Moved { addr, .. } | Redirect::Ask { addr, .. }) = self;
        match addr.strip_prefix(':') {
            Some(port) => format!("{}:{port}", seed.rsplit_once(':').map_or(seed, |x| x.0)),
            None => addr.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_moved_and_ask_and_nothing_else() {
        let moved = Redirect::parse(&Reply::Error(b"MOVED 3999 127.0.0.1:6381".to_vec()));
        assert_eq!(moved, Some(Redirect::Moved { slot: 3999, addr: "127.0.0.1:6381".into() }));
        let ask = Redirect::parse_error(b"ASK 1 [::1]:7000");
        assert_eq!(ask, Some(Redirect::Ask { slot: 1, addr: "[::1]:7000".into() }));
        assert_eq!(ask.unwrap().addr_from("x:1"), "[::1]:7000");
        let bare = Redirect::parse_error(b"MOVED 5 :7001").unwrap();
        assert_eq!(bare.addr_from("10.0.0.1:7000"), "10.0.0.1:7001");
        for e in
            [&b"MOVED"[..], b"MOVED 16384 a:1", b"ASK x a:1", b"ERR MOVED 1 a:1", b"BUSYKEY exists"]
        {
            assert_eq!(Redirect::parse_error(e), None, "{}", String::from_utf8_lossy(e));
        }
        assert_eq!(Redirect::parse(&Reply::Status(b"MOVED 1 a:1".to_vec())), None);
    }
}
