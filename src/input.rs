//! Opening dump files: memory-mapped, read-only, and guarded.
//!
//! - The mapping is file-backed: its pages are page cache, not anonymous memory. Sequential
//!   readers call [`Dump::release`] on what they have passed, so the resident set stays small
//!   whatever the file size.
//! - Only regular, non-empty files are mapped. Directories, FIFOs, sockets and devices are
//!   refused with a message that says what they are ([`InputError`]).
//! - A file truncated by another process while it is mapped would make the next read of a
//!   missing page raise `SIGBUS` and kill the process without a word. [`Dump::open`] installs
//!   a handler that maps a page of zeros over the faulting address instead and marks the dump
//!   as changed. Readers go on over zeros, which the format layer refuses soon enough; every
//!   place that hands a key on checks [`faulted`] first, and the CLI reports the file as
//!   changed ([`Dump::changed`]), so a key read after the fault never reaches an output.
//! - A file that starts with `VKCS` is Valkey 9.2's compression envelope ([`envelope`]): it is
//!   decompressed, reading the file front to back with buffers of [`SPILL_BUFFER`] bytes, into
//!   an unlinked temporary file in `$TMPDIR` ([`tmpfile`]), and that file is mapped instead.
//!   Everything downstream sees an ordinary dump; [`Dump::envelope`] says what it came from.
//!   A plain file pays nothing for this but a look at its first four bytes. The copy takes
//!   disk space in `$TMPDIR` (memory, if that is a tmpfs) until the [`Dump`] is dropped.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use memmap2::{Advice, Mmap, UncheckedAdvice};

pub(crate) mod beside;
pub mod envelope;
pub mod tmpfile;

use envelope::{Envelope, EnvelopeError};

/// The read and the write buffer used while decompressing an enveloped dump: with the codec's
/// own buffers (see [`envelope`]), all the memory decompression takes.
pub const SPILL_BUFFER: usize = 1 << 20;

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

/// Why a path cannot be read as a dump.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("is a directory, not a dump file")]
    Directory,
    #[error(
        "is a FIFO (named pipe): rdbshift reads dumps from regular files, copy it to a file first"
    )]
    Fifo,
    #[error("is a socket, not a dump file")]
    Socket,
    #[error("is a device ({0}): rdbshift reads dumps from regular files")]
    Device(&'static str),
    #[error("is empty (0 bytes): not an RDB file")]
    Empty,
    #[error("cannot be mapped (too many dumps open at once: at most {0})")]
    TooMany(usize),
    /// A `VKCS` file whose envelope or compressed stream is wrong (the message names the offset).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The decompressed copy of an enveloped dump could not be made in the temporary directory.
    #[error("{detail} (in {}, the temporary directory: set TMPDIR to one with room for the whole RDB)", dir.display())]
    Spill { dir: PathBuf, detail: String },
    #[error("is a VKCS envelope around nothing: its frame decompresses to 0 bytes")]
    EmptyEnvelope,
    #[error(
        "the file changed while it was being decompressed (truncated or rewritten in place by another process)"
    )]
    ChangedWhileDecompressing,
    /// A stop (SIGINT, SIGTERM) came while an envelope was being decompressed.
    #[error("decompression {}", crate::stop::error(*.0))]
    Stopped(i32),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What identifies a file's contents on disk: device, inode, size and modification time.
/// Two paths with the same `(dev, ino)` are the same file (symlinks and hard links included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i128,
}

impl Identity {
    pub fn of(m: &std::fs::Metadata) -> Identity {
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        }
    }

    /// The identity of `path` now (following symlinks).
    pub fn at(path: &Path) -> std::io::Result<Identity> {
        Ok(Identity::of(&std::fs::metadata(path)?))
    }

    pub fn same_file(&self, other: &Identity) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

pub struct Dump {
    pub path: PathBuf,
    /// The RDB's bytes: the file itself, or for an enveloped file its decompressed copy.
    map: Mmap,
    /// The file at `path` as it was when opened (for an enveloped file: the compressed file,
    /// which is what [`Dump::changed`] watches).
    pub identity: Identity,
    /// Set when the file is a `VKCS` envelope: what it held and how big each side is.
    pub envelope: Option<Envelope>,
    guard: usize,
}

impl Dump {
    /// Maps a regular, non-empty file; anything else is refused with what it is. A `VKCS`
    /// envelope is decompressed first (see the module documentation).
    pub fn open(path: &Path) -> Result<Dump, InputError> {
        let m = std::fs::metadata(path)?;
        let ft = m.file_type();
        if ft.is_dir() {
            return Err(InputError::Directory);
        }
        if ft.is_fifo() {
            return Err(InputError::Fifo);
        }
        if ft.is_socket() {
            return Err(InputError::Socket);
        }
        if ft.is_char_device() {
            return Err(InputError::Device("character device"));
        }
        if ft.is_block_device() {
            return Err(InputError::Device("block device"));
        }
        let f = File::open(path)?;
        let m = f.metadata()?;
        if m.len() == 0 {
            return Err(InputError::Empty);
        }
        // SAFETY: the file is opened read-only and rdbshift never writes it. Another process
        // may truncate or rewrite it while it is mapped: a read past the new end raises
        // SIGBUS, which the guard below turns into zeros and a "changed" mark.
        let map = unsafe { Mmap::map(&f)? };
        let _ = map.advise(Advice::Sequential);
        let guard = guard::register(map.as_ptr() as usize, map.len())
            .ok_or(InputError::TooMany(guard::SLOTS))?;
        let dump = Dump {
            path: path.to_path_buf(),
            map,
            identity: Identity::of(&m),
            envelope: None,
            guard,
        };
        if !envelope::is_envelope(dump.data()) {
            return Ok(dump);
        }
        Dump::decompressed(dump, f)
    }

    /// Replaces `source`, an enveloped file mapped as it is, by a mapping of its decompressed
    /// copy; `f` is the file, still at offset 0.
    fn decompressed(source: Dump, f: File) -> Result<Dump, InputError> {
        envelope::parse_header(source.data())?;
        let (path, identity) = (source.path.clone(), source.identity);
        drop(source);
        let dir = std::env::temp_dir();
        let spill = |detail: String| InputError::Spill { dir: dir.clone(), detail };
        let tmp = tmpfile::unlinked_in(&dir)
            .map_err(|e| spill(format!("cannot create the decompressed copy: {e}")))?;
        let limit = envelope::limit_for(identity.size);
        let res = envelope::decompress(
            BufReader::with_capacity(SPILL_BUFFER, StopAware(&f)),
            BufWriter::with_capacity(SPILL_BUFFER, StopAware(&tmp)),
            identity.size,
            limit,
        );
        let env = match res {
            Ok(env) => env,
            Err(_) if crate::stop::requested().is_some() => {
                return Err(InputError::Stopped(crate::stop::requested().unwrap_or(0)));
            }
            Err(_)
                if Identity::at(&path).map_or(true, |now| {
                    now.size != identity.size || now.mtime_ns != identity.mtime_ns
                }) =>
            {
                return Err(InputError::ChangedWhileDecompressing);
            }
            Err(e @ EnvelopeError::Write { .. }) => return Err(spill(e.to_string())),
            Err(e) => return Err(e.into()),
        };
        if env.decompressed_bytes == 0 {
            return Err(InputError::EmptyEnvelope);
        }
        // SAFETY: the copy is ours alone: unlinked, mode 0600, and never written again. Only a
        // process of the same user going through /proc could truncate it; the guard covers
        // that as for any dump.
        let map = unsafe { Mmap::map(&tmp)? };
        let _ = map.advise(Advice::Sequential);
        let guard = guard::register(map.as_ptr() as usize, map.len())
            .ok_or(InputError::TooMany(guard::SLOTS))?;
        Ok(Dump { path, map, identity, envelope: Some(env), guard })
    }

    pub fn data(&self) -> &[u8] {
        &self.map
    }

    /// Whether the file changed under the mapping while it was read: a page could not be
    /// read (truncated), or its size or modification time differs from when it was opened.
    pub fn changed(&self) -> bool {
        guard::faulted_slot(self.guard)
            || Identity::at(&self.path).map_or(true, |now| {
                now.size != self.identity.size || now.mtime_ns != self.identity.mtime_ns
            })
    }

    /// The message for a dump that changed while it was read.
    pub fn changed_message(&self) -> String {
        "the file changed while it was being read (truncated or rewritten in place by another process); \
         what was read after the change was discarded"
            .to_string()
    }

    /// The dump's CRC-64 (Redis's) over the bytes its stored checksum covers (up to its EOF
    /// opcode; the whole file when it stores none, as before RDB 5): the reader's, when it
    /// checked it while reading to `trailer`, else computed here (one pass, pages released).
    pub fn crc64(&self, trailer: Option<&crate::format::record::Trailer>) -> u64 {
        if let Some(c) = trailer.and_then(|t| t.computed) {
            return c;
        }
        let data = self.data();
        let body = trailer.filter(|t| t.stored.is_some()).map_or(data.len(), |t| t.eof_at + 1);
        let c = crate::format::crc64(&data[..body.min(data.len())]);
        self.release(0, data.len());
        c
    }

    /// Tells the kernel the pages in `[from, to)` are no longer needed by this reader.
    pub fn release(&self, from: usize, to: usize) {
        let page = 4096;
        let start = from.div_ceil(page) * page;
        let end = (to / page) * page;
        if end > start {
            // SAFETY: the mapping is a read-only, file-backed private mapping: dropping its
            // pages only means they are read from the file again if touched.
            let _ = unsafe {
                self.map.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }
}

/// A file whose reads and writes fail once a stop (SIGINT, SIGTERM) was asked for: a big
/// envelope takes a while to decompress, and the first Ctrl-C must end that. Checked once per
/// [`SPILL_BUFFER`] on either side. (Not an `Interrupted` error: readers retry those.)
struct StopAware<'a>(&'a File);

impl StopAware<'_> {
    fn go_on(&self) -> std::io::Result<()> {
        match crate::stop::requested() {
            Some(sig) => Err(std::io::Error::other(crate::stop::error(sig).to_string())),
            None => Ok(()),
        }
    }
}

impl std::io::Read for StopAware<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.go_on()?;
        std::io::Read::read(&mut self.0, buf)
    }
}

impl std::io::Write for StopAware<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.go_on()?;
        std::io::Write::write(&mut self.0, buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut self.0)
    }
}

impl Drop for Dump {
    fn drop(&mut self) {
        guard::unregister(self.guard);
    }
}

/// The reader's error for a dump whose file shrank under the mapping, at byte offset `at`
/// (where the reader noticed; [`Dump::changed_message`] is what the user is told).
pub fn changed_error(at: usize) -> crate::format::Error {
    crate::format::Error::corrupt(
        at as u64,
        "file",
        "the file changed while it was being read (truncated or rewritten in place by another process)",
    )
}

/// Whether any open dump could not be read because its file shrank under the mapping.
/// Checked before a key is handed on: a key decoded from zero-filled pages never leaves.
pub fn faulted() -> bool {
    guard::ANY.load(Ordering::Acquire) > 0
}

/// The SIGBUS guard: a fixed table of the mapped ranges, read by the signal handler without
/// locks or allocation.
mod guard {
    use super::*;

    pub const SLOTS: usize = 256;
    static START: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static LEN: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static FAULTED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
    /// Registered dumps that faulted.
    pub static ANY: AtomicUsize = AtomicUsize::new(0);
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    static TABLE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    pub fn register(start: usize, len: usize) -> Option<usize> {
        INSTALLED.call_once(install);
        let _g = TABLE.lock().unwrap_or_else(|p| p.into_inner());
        let i = (0..SLOTS).find(|&i| LEN[i].load(Ordering::Acquire) == 0)?;
        FAULTED[i].store(false, Ordering::Release);
        START[i].store(start, Ordering::Release);
        LEN[i].store(len, Ordering::Release);
        Some(i)
    }

    pub fn unregister(i: usize) {
        let _g = TABLE.lock().unwrap_or_else(|p| p.into_inner());
        LEN[i].store(0, Ordering::Release);
        START[i].store(0, Ordering::Release);
        if FAULTED[i].swap(false, Ordering::AcqRel) {
            ANY.fetch_sub(1, Ordering::AcqRel);
        }
    }

    pub fn faulted_slot(i: usize) -> bool {
        FAULTED[i].load(Ordering::Acquire)
    }

    fn install() {
        // SAFETY: installs a handler with SA_SIGINFO; the struct is zeroed then filled.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigbus as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
        }
    }

    /// Runs in the faulting thread. Only async-signal-safe work: atomics and `mmap`.
    extern "C" fn on_sigbus(
        _sig: libc::c_int,
        info: *mut libc::siginfo_t,
        _ctx: *mut libc::c_void,
    ) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
        let addr = unsafe { (*info).si_addr() } as usize;
        for i in 0..SLOTS {
            let (s, l) = (START[i].load(Ordering::Acquire), LEN[i].load(Ordering::Acquire));
            if l != 0 && addr >= s && addr < s + l {
                let page = addr & !4095;
                // SAFETY: replaces one page inside our own read-only mapping with zeros; the
                // mapping stays owned by its `Dump`, which unmaps the whole range on drop.
                let p = unsafe {
                    libc::mmap(
                        page as *mut libc::c_void,
                        4096,
                        libc::PROT_READ,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
                if p != libc::MAP_FAILED {
                    if !FAULTED[i].swap(true, Ordering::AcqRel) {
                        ANY.fetch_add(1, Ordering::AcqRel);
                    }
                    return;
                }
            }
        }
        // not ours: the default action (the fault repeats once the handler returns)
        // SAFETY: resetting a signal's disposition is async-signal-safe.
        unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rdbshift-input-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&d);
        d
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        assert!(matches!(Dump::open(Path::new("/")), Err(InputError::Directory)));
        assert!(matches!(Dump::open(Path::new("/dev/null")), Err(InputError::Device(_))));
        let e = tmp("empty");
        std::fs::write(&e, b"").unwrap();
        assert!(matches!(Dump::open(&e), Err(InputError::Empty)));
        std::fs::remove_file(&e).unwrap();
        let fifo = tmp("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a plain mkfifo on a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(Dump::open(&fifo), Err(InputError::Fifo)));
        std::fs::remove_file(&fifo).unwrap();
    }

    #[test]
    fn an_enveloped_file_reads_as_its_content_and_is_watched_as_itself() {
        use std::io::Write;
        let content: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let mut e = lz4_flex::frame::FrameEncoder::new(b"VKCS\x01\x01\x00\x00".to_vec());
        e.write_all(&content).unwrap();
        let file = e.finish().unwrap();
        let p = tmp("enveloped");
        std::fs::write(&p, &file).unwrap();
        let d = Dump::open(&p).unwrap();
        assert!(d.data() == &content[..]);
        let env = d.envelope.as_ref().unwrap();
        assert_eq!(
            (env.compressed_bytes, env.decompressed_bytes),
            (file.len() as u64, content.len() as u64)
        );
        assert_eq!(d.identity.size, file.len() as u64, "the identity is the compressed file's");
        assert!(!d.changed());
        d.release(0, d.data().len());
        assert!(d.data()[..1000] == content[..1000], "released pages read back from the copy");
        // the copy does not change with the file, but the dump says the file changed
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"more").unwrap();
        assert!(d.changed());
        assert!(d.data() == &content[..]);
        // a plain file has no envelope
        std::fs::write(&p, b"REDIS0011").unwrap();
        assert!(Dump::open(&p).unwrap().envelope.is_none());
        // a damaged one names the offset
        let mut bad = file.clone();
        bad.truncate(file.len() - 10);
        std::fs::write(&p, &bad).unwrap();
        let e = Dump::open(&p).err().unwrap().to_string();
        assert!(e.ends_with(&format!("at compressed byte offset {}", bad.len())), "{e}");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn truncation_under_the_mapping_reads_zeros_and_is_reported() {
        let p = tmp("trunc");
        std::fs::write(&p, vec![7u8; 64 << 10]).unwrap();
        let d = Dump::open(&p).unwrap();
        assert_eq!(d.data()[100], 7);
        assert!(!d.changed());
        std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(4096).unwrap();
        d.release(0, d.data().len());
        // past the new end: without the guard this read kills the process with SIGBUS
        let tail: u64 = d.data()[8192..].iter().map(|&b| b as u64).sum();
        assert_eq!(tail, 0);
        assert!(d.changed() && faulted());
        assert!(d.changed_message().contains("changed while it was being read"));
        std::fs::remove_file(&p).unwrap();
    }
}
