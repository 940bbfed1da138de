//! Unlinked temporary files: where a decompressed dump lives while it is read.
//!
//! The file has no name from the start where the filesystem allows it (`O_TMPFILE`), else it
//! is created under a fresh name with `O_EXCL` and unlinked at once. Either way it is mode
//! 0600, no other process can open it by name, and its space is returned when the last
//! handle or mapping of it goes, however the process ends.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Creates an unlinked, read-write file in `dir`, mode 0600.
pub fn unlinked_in(dir: &Path) -> io::Result<File> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
    {
        Ok(f) => Ok(f),
        // no O_TMPFILE on this filesystem or kernel (older kernels see a directory open)
        Err(e)
            if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)) =>
        {
            named_then_unlinked(dir)
        }
        Err(e) => Err(e),
    }
}

fn named_then_unlinked(dir: &Path) -> io::Result<File> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for attempt in 0u32..100 {
        let p = dir.join(format!(".rdbshift-{}-{nanos:x}-{attempt}.tmp", std::process::id()));
        match OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&p) {
            Ok(f) => {
                std::fs::remove_file(&p)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary file name after 100 attempts",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn leaves_no_name_and_is_private() {
        let dir = std::env::temp_dir().join(format!("rdbshift-tmpfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for mut f in [unlinked_in(&dir).unwrap(), named_then_unlinked(&dir).unwrap()] {
            let m = f.metadata().unwrap();
            assert_eq!(m.mode() & 0o777, 0o600);
            assert_eq!(m.nlink(), 0, "the file must have no name");
            f.write_all(b"kept while open").unwrap();
            f.rewind().unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            assert_eq!(s, "kept while open");
            assert_eq!(
                std::fs::read_dir(&dir).unwrap().count(),
                0,
                "nothing is left in the directory"
            );
        }
        std::fs::remove_dir(&dir).unwrap();
    }
}
