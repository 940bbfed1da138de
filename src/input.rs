//! Opening dump files: memory-mapped, read-only.
//!
//! The mapping is file-backed: its pages are page cache, not anonymous memory. Sequential
//! readers call [`Dump::release`] on what they have passed, so the resident set stays
//! small whatever the file size.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{Advice, Mmap, UncheckedAdvice};

/// How much a sequential reader keeps mapped behind it before releasing (see [`Dump::release`]).
pub const RELEASE_STEP: usize = 16 << 20;

/// Releases what a sequential reader has passed, [`RELEASE_STEP`] bytes at a time:
/// `release(from, to)` is called for each finished range (for a [`Dump`],
/// [`Dump::release`]).
pub struct Behind<F: Fn(usize, usize)> {
    release: F,
    done: usize,
}

impl<F: Fn(usize, usize)> Behind<F> {
    pub fn new(release: F) -> Self {
        Behind { release, done: 0 }
    }

    /// The reader is finished with everything before `pos`.
    pub fn passed(&mut self, pos: usize) {
        if pos >= self.done + RELEASE_STEP {
            (self.release)(self.done, pos);
            self.done = pos;
        }
    }
}

pub struct Dump {
    pub path: PathBuf,
    map: Option<Mmap>,
}

impl Dump {
    pub fn open(path: &Path) -> std::io::Result<Dump> {
        let f = File::open(path)?;
        let len = f.metadata()?.len();
        // An empty file cannot be mapped; it is simply no data.
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the file is opened read-only; rdbshift never writes it. If another
            // process truncates it while mapped, reads may fault: documented in the README.
            let m = unsafe { Mmap::map(&f)? };
            let _ = m.advise(Advice::Sequential);
            Some(m)
        };
        Ok(Dump { path: path.to_path_buf(), map })
    }

    pub fn data(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Tells the kernel the pages in `[from, to)` are no longer needed by this reader.
    pub fn release(&self, from: usize, to: usize) {
        let Some(m) = &self.map else { return };
        let page = 4096;
        let start = from.div_ceil(page) * page;
        let end = (to / page) * page;
        if end > start {
            // SAFETY: the mapping is a read-only, file-backed private mapping: dropping its
            // pages only means they are read from the file again if touched.
            let _ = unsafe { m.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start) };
        }
    }
}
