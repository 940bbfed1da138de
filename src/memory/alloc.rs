//! Allocator size classes: what `zmalloc_size` reports for a request of `n` bytes.
//!
//! Redis and Valkey count a value by its allocations' usable sizes, so the allocator the
//! server was built with shows in every `MEMORY USAGE` answer:
//! - jemalloc as upstream builds it (`deps/Makefile`: `--with-lg-quantum=3`, an 8-byte
//!   quantum);
//! - jemalloc as Debian and Ubuntu ship it (the system `libjemalloc2`, a 16-byte quantum:
//!   no 24, 40 or 56-byte classes);
//! - glibc's malloc (`MALLOC=libc`), whose `malloc_usable_size` is the chunk size less its
//!   8-byte header.

use std::fmt;

/// An allocator a server may be built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Allocator {
    /// jemalloc with an 8-byte quantum (upstream builds).
    Jemalloc,
    /// jemalloc with a 16-byte quantum (distribution packages).
    Jemalloc16,
    /// glibc malloc.
    Libc,
}

/// glibc's default mmap threshold: larger requests are mapped pages of their own. The
/// threshold rises to the size of a freed mapped chunk, so a server that has run a while
/// may round such sizes differently (by less than a page).
const MMAP_THRESHOLD: usize = 128 << 10;

impl Allocator {
    /// Names as `--allocator` takes them.
    pub const NAMES: &'static [&'static str] = &["jemalloc", "jemalloc-16", "libc"];

    pub fn from_name(s: &str) -> Option<Allocator> {
        match s {
            "jemalloc" | "jemalloc-8" => Some(Allocator::Jemalloc),
            "jemalloc-16" => Some(Allocator::Jemalloc16),
            "libc" | "glibc" => Some(Allocator::Libc),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Allocator::Jemalloc => "jemalloc",
            Allocator::Jemalloc16 => "jemalloc-16",
            Allocator::Libc => "libc",
        }
    }

    /// The usable size of an allocation of `n` bytes (`n` ≥ 1).
    pub fn usable(self, n: usize) -> usize {
        match self {
            Allocator::Jemalloc => jemalloc(n, 8),
            Allocator::Jemalloc16 => jemalloc(n, 16),
            Allocator::Libc => libc(n),
        }
    }
}

impl fmt::Display for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Allocator::Jemalloc => "jemalloc (8-byte quantum, as upstream builds it)",
            Allocator::Jemalloc16 => "jemalloc (16-byte quantum, as distributions ship it)",
            Allocator::Libc => "glibc malloc",
        })
    }
}

/// jemalloc 5's size classes: multiples of the quantum up to four quanta, then four classes
/// per power of two (`sc.c`: `lg_delta = lg_base - 2`), for small and large sizes alike.
fn jemalloc(n: usize, quantum: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 4 * quantum {
        return n.div_ceil(quantum) * quantum;
    }
    let lg = usize::BITS - 1 - (n - 1).leading_zeros();
    let step = 1usize << (lg - 2);
    n.div_ceil(step) * step
}

/// glibc: chunks are the request plus an 8-byte header rounded up to 16 (at least 32);
/// usable is the chunk less the header. Above the mmap threshold a chunk is whole pages.
fn libc(n: usize) -> usize {
    if n >= MMAP_THRESHOLD {
        let chunk = (n + 8).div_ceil(16) * 16;
        return (chunk + 8).div_ceil(4096) * 4096 - 16;
    }
    ((n + 8).div_ceil(16) * 16).max(32) - 8
}

#[cfg(test)]
mod tests {
    use super::Allocator::*;

    #[test]
    fn jemalloc_classes() {
        let q8: Vec<usize> = (1..=70).map(|n| Jemalloc.usable(n)).collect();
        for (n, want) in [(1, 8), (9, 16), (17, 24), (25, 32), (33, 40), (41, 48), (57, 64)] {
            assert_eq!(q8[n - 1], want, "q8 {n}");
        }
        assert_eq!(Jemalloc.usable(65), 80);
        assert_eq!(Jemalloc.usable(129), 160);
        assert_eq!(Jemalloc.usable(1048), 1280);
        assert_eq!(Jemalloc.usable(14337), 16384);
        assert_eq!(Jemalloc.usable(16385), 20480);
        assert_eq!(Jemalloc.usable(1_048_577), 1_310_720);
        // the 16-byte quantum has no 24, 40 or 56
        assert_eq!(Jemalloc16.usable(17), 32);
        assert_eq!(Jemalloc16.usable(33), 48);
        assert_eq!(Jemalloc16.usable(49), 64);
        assert_eq!(Jemalloc16.usable(65), 80);
        assert_eq!(Jemalloc16.usable(536), 640);
    }

    #[test]
    fn glibc_chunks() {
        for (n, want) in [(1, 24), (24, 24), (25, 40), (40, 40), (41, 56), (100, 104)] {
            assert_eq!(Libc.usable(n), want, "{n}");
        }
        assert_eq!(Libc.usable(1000), 1000);
        assert_eq!(Libc.usable(4096), 4104);
        assert_eq!(Libc.usable(131072), 135152);
    }

    #[test]
    fn names_round_trip() {
        for n in super::Allocator::NAMES {
            assert_eq!(super::Allocator::from_name(n).unwrap().name(), *n);
        }
    }
}
