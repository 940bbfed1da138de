//! The events a decoded value produces. Decoders call a [`Visitor`] element by element, so
//! no collection is ever held whole in memory: a 5M-field hash is 5M `hash_field` calls.
//! Strings handed to a visitor borrow from the file or from a scratch buffer, and live only
//! for the call.

use super::cursor::Str;
use super::error::{Error, ErrorKind, Result};
use super::stream_view::{Group, Idmp, StreamEntry, StreamMeta};

/// A module value (type 7), carried as its raw serialized bytes.
#[derive(Debug, Clone, Copy)]
pub struct ModuleValue<'a> {
    /// The module type's 64-bit id (name in the top 54 bits, encoding version in the low 10).
    pub id: u64,
    /// The bytes after the id, up to and including the EOF opcode.
    pub body: &'a [u8],
}

/// One element of a Redis 8.8 array (type 28), as stored: a string (tags SDS and
/// SMALLSTR), an integer or a double (docs/rdb-newest-formats.md section 3).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ArrayValue<'b> {
    /// A string element (stored as SDS or SMALLSTR), borrowed for the call.
    Str(Str<'b>),
    /// An integer element.
    Int(i64),
    /// A double element.
    Float(f64),
}

impl ArrayValue<'_> {
    /// The value as a client reads it (`arDecode`): integers in decimal, doubles in their
    /// shortest round-trip text with ".0" appended when it has no '.', 'e' or 'E' (1.0 is
    /// "1.0"), strings as they are. `buf` holds formatted text.
    pub fn text<'s>(&'s self, buf: &'s mut Vec<u8>) -> &'s [u8] {
        match self {
            ArrayValue::Str(Str::Bytes(b)) => b,
            ArrayValue::Str(Str::Int(i)) | ArrayValue::Int(i) => {
                buf.clear();
                buf.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes());
                buf
            }
            ArrayValue::Float(f) => {
                buf.clear();
                if f.is_nan() {
                    buf.extend_from_slice(b"nan");
                } else if f.is_infinite() {
                    buf.extend_from_slice(if *f > 0.0 { b"inf" } else { b"-inf" });
                } else {
                    // Rust's Display is the shortest text that reads back to the same double
                    buf.extend_from_slice(f.to_string().as_bytes());
                    if !buf.iter().any(|c| matches!(c, b'.' | b'e' | b'E')) {
                        buf.extend_from_slice(b".0");
                    }
                }
                buf
            }
        }
    }
}

/// Something a server loads although no server writes it: no check of the server's
/// (`rdbLoadObject`, even with `sanitize-dump-payload yes`) refuses it, so the reader does
/// not either; it says so through [`Visitor::oddity`] (once per key and kind) and the
/// file's [`crate::record::Trailer`] counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Oddity {
    /// A stream whose stored length (what `XLEN` says) is not its live entries, as old
    /// servers left them after trims and deletions (`s->length` is read as stored).
    StreamLengthNotLive,
    /// A stream's listpack nodes out of master-ID order (the server's rax sorts them).
    StreamNodesOutOfOrder,
    /// A stream's entry IDs not strictly increasing (the server reads them as stored).
    StreamEntryIdsUnordered,
    /// A stream entry after the stream's last ID (`last_id` is read as stored).
    StreamEntriesAfterLastId,
    /// A stream listpack node that holds no entry at all (the deep check passes it).
    StreamNodeWithoutEntries,
}

impl Oddity {
    /// Every kind, in the order [`Oddities`] keeps them.
    pub const ALL: [Oddity; 5] = [
        Oddity::StreamLengthNotLive,
        Oddity::StreamNodesOutOfOrder,
        Oddity::StreamEntryIdsUnordered,
        Oddity::StreamEntriesAfterLastId,
        Oddity::StreamNodeWithoutEntries,
    ];

    /// What a count of them is, in words (`3 streams whose ...`).
    pub fn describe(self) -> &'static str {
        match self {
            Oddity::StreamLengthNotLive => "streams whose stored length is not their live entries",
            Oddity::StreamNodesOutOfOrder => "streams whose nodes are out of ID order",
            Oddity::StreamEntryIdsUnordered => "streams whose entry IDs do not increase",
            Oddity::StreamEntriesAfterLastId => "streams with entries after their last ID",
            Oddity::StreamNodeWithoutEntries => "streams with a node holding no entry",
        }
    }

    /// A short name for reports (`stream_length_not_live`).
    pub fn name(self) -> &'static str {
        match self {
            Oddity::StreamLengthNotLive => "stream_length_not_live",
            Oddity::StreamNodesOutOfOrder => "stream_nodes_out_of_order",
            Oddity::StreamEntryIdsUnordered => "stream_entry_ids_unordered",
            Oddity::StreamEntriesAfterLastId => "stream_entries_after_last_id",
            Oddity::StreamNodeWithoutEntries => "stream_node_without_entries",
        }
    }

    fn index(self) -> usize {
        Oddity::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// How many keys showed each [`Oddity`]; a [`Visitor`] that counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Oddities([u64; 5]);

impl Oddities {
    /// One more key with `o`.
    pub fn add(&mut self, o: Oddity) {
        self.0[o.index()] += 1;
    }
    /// Keys with `o`.
    pub fn get(&self, o: Oddity) -> u64 {
        self.0[o.index()]
    }
    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Oddities) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
    /// The kinds seen, with their counts.
    pub fn iter(&self) -> impl Iterator<Item = (Oddity, u64)> + '_ {
        Oddity::ALL.into_iter().map(|o| (o, self.get(o))).filter(|x| x.1 > 0)
    }
    /// Whether none was seen.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }
}

impl Visitor for Oddities {
    type Error = Error;
    fn oddity(&mut self, o: Oddity) -> Result<()> {
        self.add(o);
        Ok(())
    }
}

/// The receiver of a decoded value's elements, called in file order, one element at a time.
/// Every method has a no-op default, so a visitor states only the events it uses.
///
/// A visitor has its own error type: any of its methods can fail with it, or return it to
/// stop the decoding early (for example once it has seen what it wanted). The reader's own
/// errors convert into it, so [`crate::Key::decode`] returns one error type, the visitor's.
/// A visitor that never fails on its own uses [`Error`].
pub trait Visitor {
    /// The visitor's failure, and the reader's converted into it.
    type Error: From<Error>;
    /// The value is odd but loadable (see [`Oddity`]): called once per kind, after the
    /// elements it concerns.
    fn oddity(&mut self, _o: Oddity) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// A container as the dump stores it, `bytes` long once decompressed, announced
    /// before the elements it holds (every node of a quicklist or a stream, the one blob of
    /// an intset, ziplist, zipmap or listpack value). Plain encodings announce none.
    fn container(
        &mut self,
        _kind: Container,
        _bytes: usize,
    ) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// A string value (type 0): called once with the whole value.
    fn string(&mut self, _v: Str<'_>) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// One list element, in order from head to tail.
    fn list_item(&mut self, _v: Str<'_>) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// One set member, in stored order (for an intset, ascending).
    fn set_member(&mut self, _v: Str<'_>) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// One sorted-set member with its score, in stored order.
    fn zset_member(
        &mut self,
        _member: Str<'_>,
        _score: f64,
    ) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// `expire_ms`: the field's absolute expiry in Unix ms, if it has one.
    fn hash_field(
        &mut self,
        _field: Str<'_>,
        _value: Str<'_>,
        _expire_ms: Option<i64>,
    ) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// One live stream entry (deleted ones are skipped), in ascending ID order, before
    /// `stream_meta`. An entry is a view over its node: its fields are read on demand.
    fn stream_entry(&mut self, _e: &StreamEntry<'_>) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// Called once after all entries.
    fn stream_meta(&mut self, _m: &StreamMeta) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// Called per group, after `stream_meta`. The group is a view: its PEL and consumers
    /// are read on demand.
    fn stream_group(&mut self, _g: &Group<'_>) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// Called once after the groups for streams that carry IDMP state (types 26 and 27).
    fn stream_idmp(&mut self, _i: &Idmp<'_>) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// A module value (type 7): called once with its raw serialized bytes.
    fn module(&mut self, _m: &ModuleValue<'_>) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// An array (type 28): called once before its elements, with the insert cursor (the
    /// index of the last ARINSERT, if any).
    fn array_meta(&mut self, _insert_index: Option<u64>) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// One array element, in ascending index order.
    fn array_element(
        &mut self,
        _index: u64,
        _v: ArrayValue<'_>,
    ) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
}

/// How a dump stores a run of elements (see [`Visitor::container`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// An intset (type 11).
    Intset,
    /// A ziplist (types 10, 12, 13, and the nodes of type 14).
    Ziplist,
    /// A zipmap (type 9).
    Zipmap,
    /// A listpack (types 16, 17, 20, 25, and the packed nodes of type 18).
    Listpack,
    /// A quicklist node holding one element as it is (a "plain" node of type 18).
    PlainNode,
    /// One listpack of a stream, under its master ID (the rax key: 16 bytes, big-endian).
    StreamNode([u8; 16]),
}

/// A visitor that ignores everything (for walking a value to validate or skip it).
pub struct Ignore;

impl Visitor for Ignore {
    type Error = Error;
}

/// Hands a decoder's events on to a visitor with its own error type, and keeps that error
/// aside: the decoders deal in the reader's [`Error`] only. After a visitor fails, the
/// decoder sees a [`ErrorKind::VisitorFailed`] and unwinds; [`Relay::finish`] gives back
/// the visitor's own error.
pub(crate) struct Relay<'v, V: Visitor> {
    v: &'v mut V,
    failed: Option<V::Error>,
}

impl<'v, V: Visitor> Relay<'v, V> {
    pub(crate) fn new(v: &'v mut V) -> Self {
        Relay { v, failed: None }
    }
    fn keep(&mut self, r: std::result::Result<(), V::Error>) -> Result<()> {
        r.map_err(|e| {
            self.failed = Some(e);
            Error::new(0, ErrorKind::VisitorFailed)
        })
    }
    /// The decoder's result in the visitor's terms: the visitor's own error if it failed,
    /// else the reader's error passed through `context`.
    pub(crate) fn finish<T>(
        self,
        r: Result<T>,
        context: impl FnOnce(Error) -> Error,
    ) -> std::result::Result<T, V::Error> {
        match (self.failed, r) {
            (Some(e), _) => Err(e),
            (None, r) => r.map_err(|e| context(e).into()),
        }
    }
}

impl<V: Visitor> Visitor for Relay<'_, V> {
    type Error = Error;
    fn oddity(&mut self, o: Oddity) -> Result<()> {
        let r = self.v.oddity(o);
        self.keep(r)
    }
    fn container(&mut self, k: Container, bytes: usize) -> Result<()> {
        let r = self.v.container(k, bytes);
        self.keep(r)
    }
    fn string(&mut self, x: Str<'_>) -> Result<()> {
        let r = self.v.string(x);
        self.keep(r)
    }
    fn list_item(&mut self, x: Str<'_>) -> Result<()> {
        let r = self.v.list_item(x);
        self.keep(r)
    }
    fn set_member(&mut self, x: Str<'_>) -> Result<()> {
        let r = self.v.set_member(x);
        self.keep(r)
    }
    fn zset_member(&mut self, m: Str<'_>, score: f64) -> Result<()> {
        let r = self.v.zset_member(m, score);
        self.keep(r)
    }
    fn hash_field(&mut self, f: Str<'_>, x: Str<'_>, expire_ms: Option<i64>) -> Result<()> {
        let r = self.v.hash_field(f, x, expire_ms);
        self.keep(r)
    }
    fn stream_entry(&mut self, e: &StreamEntry<'_>) -> Result<()> {
        let r = self.v.stream_entry(e);
        self.keep(r)
    }
    fn stream_meta(&mut self, m: &StreamMeta) -> Result<()> {
        let r = self.v.stream_meta(m);
        self.keep(r)
    }
    fn stream_group(&mut self, g: &Group<'_>) -> Result<()> {
        let r = self.v.stream_group(g);
        self.keep(r)
    }
    fn stream_idmp(&mut self, i: &Idmp<'_>) -> Result<()> {
        let r = self.v.stream_idmp(i);
        self.keep(r)
    }
    fn module(&mut self, m: &ModuleValue<'_>) -> Result<()> {
        let r = self.v.module(m);
        self.keep(r)
    }
    fn array_meta(&mut self, i: Option<u64>) -> Result<()> {
        let r = self.v.array_meta(i);
        self.keep(r)
    }
    fn array_element(&mut self, i: u64, x: ArrayValue<'_>) -> Result<()> {
        let r = self.v.array_element(i, x);
        self.keep(r)
    }
}
