//! Duplicate detection in bounded memory: the server refuses a hash with two equal fields,
//! a set or sorted set with two equal members (`rdbLoadObject` in `src/rdb.c`, the
//! `dupSearchDict` of the listpack checks in `lpValidateIntegrityAndDups`), and stream
//! consumers and groups named twice. (Key names, many more and checked at the end of the
//! file, have their own 8-byte-per-key table: `keynames`.)
//!
//! [`Seen`] keeps no copy of an element: per element it keeps its 64-bit hash and where it
//! is (its position in the bytes being read), 16 bytes in a table at most 3/4 full (21 to
//! 43 bytes per element, whatever the elements' sizes). When a new element has the hash of
//! an earlier one, the earlier element is read again from its position ([`ElementAt`]) and
//! compared byte for byte, so a hash collision is never reported as a duplicate. Nothing
//! else reads elements again (a reader that releases the pages behind it keeps doing so).
//!
//! The hash is a folded 128-bit multiply keyed with per-process random keys (input written
//! without knowing the keys does not aim its collisions; and a collision only costs a
//! comparison, never correctness).

use std::sync::OnceLock;

use super::cursor::Cursor;
use super::error::Result;

/// Where the element bytes of a collection (or the key names of a file) can be read again.
pub trait ElementAt {
    /// The element whose position was recorded as `pos`: borrowed from the input, or
    /// written into `buf` (decompressed or formatted) and borrowed from there.
    fn bytes_at<'s>(&'s self, pos: u64, buf: &'s mut Vec<u8>) -> Result<&'s [u8]>;
}

/// RDB strings (length-prefixed, maybe integer- or LZF-encoded) at positions of `data`:
/// the elements of hashtable-encoded collections, and key names.
pub struct RdbStrings<'a>(pub &'a [u8]);

impl ElementAt for RdbStrings<'_> {
    fn bytes_at<'s>(&'s self, pos: u64, buf: &'s mut Vec<u8>) -> Result<&'s [u8]> {
        let mut c = Cursor::file(self.0);
        c.set_pos(pos as usize);
        c.string()?.bytes(buf)
    }
}

/// A keyed 64-bit hash over bytes.
#[derive(Clone, Copy, Debug)]
pub struct Hasher {
    k: [u64; 3],
    #[cfg(test)]
    degenerate: bool,
}

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn le32(b: &[u8]) -> u64 {
    u32::from_le_bytes(b[..4].try_into().expect("4 bytes")) as u64
}

impl Default for Hasher {
    fn default() -> Self {
        static KEYS: OnceLock<[u64; 3]> = OnceLock::new();
        let k = *KEYS.get_or_init(|| {
            use std::hash::BuildHasher;
            let s = std::collections::hash_map::RandomState::new();
            [s.hash_one(1u64) | 1, s.hash_one(2u64), s.hash_one(3u64)]
        });
        Hasher {
            k,
            #[cfg(test)]
            degenerate: false,
        }
    }
}

impl Hasher {
    /// Every input hashes alike (tests of the collision path).
    #[cfg(test)]
    pub fn degenerate() -> Self {
        Hasher { degenerate: true, ..Hasher::default() }
    }

    #[inline]
    pub fn hash(&self, b: &[u8]) -> u64 {
        #[cfg(test)]
        if self.degenerate {
            return 0x1234_5678_9abc_def0;
        }
        let [k0, k1, k2] = self.k;
        let mut h = k0 ^ (b.len() as u64).wrapping_mul(P0);
        let mut chunks = b.chunks_exact(16);
        for c in &mut chunks {
            h = fold(le64(c) ^ k1, le64(&c[8..]) ^ k2 ^ h);
        }
        let r = chunks.remainder();
        let (x, y) = match r.len() {
            8.. => (le64(r), le64(&r[r.len() - 8..])),
            4.. => (le32(r), le32(&r[r.len() - 4..])),
            1.. => {
                ((r[0] as u64) | (r[r.len() / 2] as u64) << 8 | (r[r.len() - 1] as u64) << 16, 0)
            }
            0 => (0, 0),
        };
        h = fold(x ^ k1, y ^ k2 ^ h);
        fold(h ^ P1, k0 ^ P0)
    }
}

/// Up to this many elements, hashes are kept in a list and compared one by one.
const SMALL: usize = 16;
/// In table mode, an element's slot is fetched from memory this many elements before it
/// is inserted: a big table misses the cache on nearly every insert, and overlapping the
/// misses is most of the speed (measured: 3x on a 5M-field hash).
const AHEAD: usize = 16;

/// Two equal elements: where the first and the second are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dup {
    pub first: u64,
    pub second: u64,
}

#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A table slot: an element's hash and its position plus one (0: empty).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Slot {
    h: u64,
    p: u64,
}

/// Tables of this many bytes and more live in their own anonymous mapping with
/// transparent huge pages asked for: a big table is read at random, once per element, and
/// with 4 KiB pages nearly every read also misses the TLB (measured: 2M keys, 30% less
/// time in the check).
const MAPPED_BYTES: usize = 4 << 20;

/// The slots, on the heap or (big tables) in a mapping of zeroed pages.
enum Slots {
    Heap(Vec<Slot>),
    Mapped(memmap2::MmapMut, usize),
}

impl Default for Slots {
    fn default() -> Self {
        Slots::Heap(Vec::new())
    }
}

impl Slots {
    /// `n` empty slots.
    fn zeroed(n: usize) -> Slots {
        let bytes = n * std::mem::size_of::<Slot>();
        if bytes >= MAPPED_BYTES
            && let Ok(m) = memmap2::MmapMut::map_anon(bytes)
        {
            #[cfg(target_os = "linux")]
            let _ = m.advise(memmap2::Advice::HugePage);
            return Slots::Mapped(m, n);
        }
        Slots::Heap(vec![Slot::default(); n])
    }
    /// `n` empty slots, reusing a heap table's allocation when it is small.
    fn reset(&mut self, n: usize) {
        match self {
            Slots::Heap(v) if n * std::mem::size_of::<Slot>() < MAPPED_BYTES => {
                v.clear();
                v.resize(n, Slot::default());
            }
            s => *s = Slots::zeroed(n),
        }
    }
    fn get(&self) -> &[Slot] {
        match self {
            Slots::Heap(v) => v,
            // SAFETY: the mapping is page-aligned, `n` slots long, and every bit pattern
            // is a valid `Slot` (two integers).
            Slots::Mapped(m, n) => unsafe {
                std::slice::from_raw_parts(m.as_ptr() as *const Slot, *n)
            },
        }
    }
    fn get_mut(&mut self) -> &mut [Slot] {
        match self {
            Slots::Heap(v) => v,
            // SAFETY: as in `get`, and the mapping is borrowed mutably.
            Slots::Mapped(m, n) => unsafe {
                std::slice::from_raw_parts_mut(m.as_mut_ptr() as *mut Slot, *n)
            },
        }
    }
    fn len(&self) -> usize {
        self.get().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The set of elements seen so far in one collection (or one database's key names).
///
/// Use: [`Seen::clear`], then [`Seen::check`] per element, then [`Seen::finish`]. A
/// duplicate may be reported by a later `check` than the one of its second element (up to
/// 16 elements later (`AHEAD`), unless the set is [`Seen::eager`]), or by `finish`, always
/// with both positions.
#[derive(Default)]
pub struct Seen {
    hasher: Hasher,
    /// (hash, position) while there are at most [`SMALL`] elements.
    small: Vec<(u64, u64)>,
    /// Open addressing, linear probing, at most 3/4 full.
    slots: Slots,
    /// Elements hashed, their slot prefetched, not inserted yet: (hash, position).
    pending: std::collections::VecDeque<(u64, u64)>,
    /// How many elements may be pending ([`AHEAD`], or 0 to report at once).
    ahead: Option<usize>,
    len: usize,
    /// Where elements read again are decompressed or formatted.
    buf: Vec<u8>,
    buf2: Vec<u8>,
}

/// Tables larger than this (slots) are released by [`Seen::clear`] rather than kept.
const KEEP_SLOTS: usize = 1 << 14;

impl Seen {
    #[cfg(test)]
    pub fn with_hasher(hasher: Hasher) -> Self {
        Seen { hasher, ..Seen::default() }
    }

    /// A set that reports a duplicate at the `check` of its second element, never later
    /// (slower on big tables: no overlapping of cache misses).
    pub fn eager() -> Self {
        Seen { ahead: Some(0), ..Seen::default() }
    }

    /// Forgets every element (a new collection starts).
    pub fn clear(&mut self) {
        self.small.clear();
        self.pending.clear();
        self.len = 0;
        match &mut self.slots {
            Slots::Heap(v) if v.capacity() <= KEEP_SLOTS => v.clear(),
            s => *s = Slots::default(),
        }
        for b in [&mut self.buf, &mut self.buf2] {
            if b.capacity() > KEEP_SLOTS {
                *b = Vec::new();
            }
        }
    }

    /// Elements recorded (those still pending included).
    #[allow(dead_code, reason = "part of the container API; used by tests")]
    pub fn len(&self) -> usize {
        self.len + self.pending.len()
    }

    #[allow(dead_code, reason = "part of the container API; used by tests")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sizes the table for `n` elements up front, so that it need not grow. The caller
    /// bounds `n` by the bytes that remain, so the table stays within about the size of
    /// the input it describes.
    pub fn reserve(&mut self, n: u64) {
        if n as usize <= SMALL || !self.slots.is_empty() || self.len > 0 {
            return;
        }
        let want = ((n as usize).saturating_mul(4) / 3 + 1).next_power_of_two();
        self.slots.reset(want);
    }

    /// Records `bytes`, found at `pos`; `src` reads earlier elements again. Returns a
    /// duplicate found so far (this element's or a pending one's).
    pub fn check(&mut self, bytes: &[u8], pos: u64, src: &dyn ElementAt) -> Result<Option<Dup>> {
        let h = self.hasher.hash(bytes);
        if self.slots.is_empty() {
            for &(eh, ep) in &self.small {
                if eh == h && src.bytes_at(ep, &mut self.buf)? == bytes {
                    return Ok(Some(Dup { first: ep, second: pos }));
                }
            }
            if self.small.len() < SMALL {
                self.small.push((h, pos));
                self.len += 1;
                return Ok(None);
            }
            self.slots.reset(4 * SMALL);
            for &(eh, ep) in &self.small {
                Self::place(self.slots.get_mut(), eh, ep);
            }
            self.small.clear();
        }
        if self.ahead == Some(0) {
            return self.insert(h, pos, Some(bytes), src);
        }
        let slots = self.slots.get();
        prefetch(&slots[h as usize & (slots.len() - 1)]);
        self.pending.push_back((h, pos));
        if self.pending.len() > self.ahead.unwrap_or(AHEAD) {
            let (h, pos) = self.pending.pop_front().expect("pending");
            return self.insert(h, pos, None, src);
        }
        Ok(None)
    }

    /// Inserts the pending elements; returns a duplicate among them.
    pub fn finish(&mut self, src: &dyn ElementAt) -> Result<Option<Dup>> {
        while let Some((h, pos)) = self.pending.pop_front() {
            if let Some(d) = self.insert(h, pos, None, src)? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// Inserts one element (`bytes`: its bytes when at hand, else read again at `pos`).
    fn insert(
        &mut self,
        h: u64,
        pos: u64,
        bytes: Option<&[u8]>,
        src: &dyn ElementAt,
    ) -> Result<Option<Dup>> {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let Slot { h: sh, p: sp } = self.slots.get()[i];
            if sp == 0 {
                break;
            }
            if sh == h {
                let ep = sp - 1;
                let earlier = src.bytes_at(ep, &mut self.buf)?;
                let same = match bytes {
                    Some(b) => earlier == b,
                    None => earlier == src.bytes_at(pos, &mut self.buf2)?,
                };
                if same {
                    return Ok(Some(Dup { first: ep, second: pos }));
                }
            }
            i = (i + 1) & mask;
        }
        self.slots.get_mut()[i] = Slot { h, p: pos + 1 };
        self.len += 1;
        if self.len * 4 >= self.slots.len() * 3 {
            let mut new = Slots::zeroed(self.slots.len() * 2);
            for s in self.slots.get() {
                if s.p != 0 {
                    Self::place(new.get_mut(), s.h, s.p - 1);
                }
            }
            self.slots = new;
        }
        Ok(None)
    }

    fn place(slots: &mut [Slot], h: u64, pos: u64) {
        let mask = slots.len() - 1;
        let mut i = h as usize & mask;
        while slots[i].p != 0 {
            i = (i + 1) & mask;
        }
        slots[i] = Slot { h, p: pos + 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Elements are numbers written in decimal; a position is an index into `items`.
    struct Items(Vec<Vec<u8>>);
    impl ElementAt for Items {
        fn bytes_at<'s>(&'s self, pos: u64, _buf: &'s mut Vec<u8>) -> Result<&'s [u8]> {
            Ok(&self.0[pos as usize])
        }
    }

    /// Every duplicate, as (second, first): after a duplicate the walk goes on (a
    /// collection stops at its first one; this checks none is missed or invented).
    fn run(seen: &mut Seen, items: &Items) -> Vec<(usize, u64)> {
        let mut dups = Vec::new();
        for (i, b) in items.0.iter().enumerate() {
            if let Some(d) = seen.check(b, i as u64, items).unwrap() {
                dups.push((d.second as usize, d.first));
            }
        }
        while let Some(d) = seen.finish(items).unwrap() {
            dups.push((d.second as usize, d.first));
        }
        dups.sort();
        dups
    }

    #[test]
    fn finds_exactly_the_duplicates() {
        for hasher in [Hasher::default(), Hasher::degenerate()] {
            let n = if cfg!(debug_assertions) { 3000 } else { 20000 };
            let n = if matches!(hasher, Hasher { degenerate: true, .. }) { 600 } else { n };
            let mut v: Vec<Vec<u8>> = (0..n).map(|i: u64| i.to_string().into_bytes()).collect();
            v.push(b"17".to_vec());
            v.push(b"".to_vec());
            v.push(b"".to_vec());
            v.push(format!("{}", n - 1).into_bytes());
            let items = Items(v);
            let mut seen = Seen::with_hasher(hasher);
            let dups = run(&mut seen, &items);
            let n = n as usize;
            assert_eq!(dups, vec![(n, 17), (n + 2, n as u64 + 1), (n + 3, n as u64 - 1)]);
            assert_eq!(seen.len(), n + 1);
            seen.clear();
            assert!(seen.is_empty());
            assert_eq!(run(&mut seen, &Items(vec![b"a".to_vec(), b"a".to_vec()])), vec![(1, 0)]);
        }
    }

    #[test]
    fn hash_depends_on_every_byte_and_the_length() {
        let h = Hasher::default();
        let base = b"0123456789abcdefghijklmnopqrstuvwxyz".to_vec();
        for len in 0..base.len() {
            let a = h.hash(&base[..len]);
            assert_ne!(a, h.hash(&base[..len + 1]), "length {len}");
            for i in 0..len {
                let mut b = base[..len].to_vec();
                b[i] ^= 1;
                assert_ne!(a, h.hash(&b), "byte {i} of {len}");
            }
        }
    }
}
