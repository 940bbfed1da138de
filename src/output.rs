//! Output files: written beside their destination under a temporary name and renamed into
//! place only when complete, so a failed or interrupted run never leaves a file cut in the
//! middle of a command, and never destroys what was there before.
//!
//! A destination that resolves to one of the inputs (the same path, a symlink to it, a hard
//! link) is refused before anything is created: opening it for writing would truncate the
//! dump before it is read. A destination that is not a regular file (`/dev/null`, a FIFO, a
//! terminal) is written directly.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::input::Identity;

/// An output error that names its path.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: is the input dump {input}: refusing to overwrite it")]
    IsInput { path: PathBuf, input: PathBuf },
    #[error("{path}: is a directory")]
    Directory { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl OutputError {
    pub fn io(path: &Path, source: std::io::Error) -> OutputError {
        OutputError::Io { path: path.to_path_buf(), source }
    }
}

/// A file being written; see the module doc.
pub struct OutFile {
    /// Where the output ends up.
    pub dest: PathBuf,
    /// Where it is written until [`OutFile::commit`] (`None`: written in place).
    tmp: Option<PathBuf>,
    file: Option<File>,
}

impl OutFile {
    /// Checks `dest` against the inputs (`(path, identity)` of each) and creates the
    /// temporary file beside it.
    pub fn create(dest: &Path, inputs: &[(PathBuf, Identity)]) -> Result<OutFile, OutputError> {
        let resolved = match std::fs::metadata(dest) {
            Ok(m) => {
                let id = Identity::of(&m);
                if let Some((p, _)) = inputs.iter().find(|(_, i)| i.same_file(&id)) {
                    return Err(OutputError::IsInput { path: dest.to_path_buf(), input: p.clone() });
                }
                if m.is_dir() {
                    return Err(OutputError::Directory { path: dest.to_path_buf() });
                }
                if !m.is_file() {
                    // a device, FIFO or terminal: written as it is
                    let f = std::fs::OpenOptions::new().write(true).open(dest).map_err(|e| OutputError::io(dest, e))?;
                    return Ok(OutFile { dest: dest.to_path_buf(), tmp: None, file: Some(f) });
                }
                std::fs::canonicalize(dest).map_err(|e| OutputError::io(dest, e))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => dest.to_path_buf(),
            Err(e) => return Err(OutputError::io(dest, e)),
        };
        let dir = match resolved.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = resolved.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
        let tmp = dir.join(format!(".{name}.rdbshift-{}.tmp", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| OutputError::io(&dir.join(&name), e))?;
        Ok(OutFile { dest: resolved, tmp: Some(tmp), file: Some(file) })
    }

    /// The file to write into.
    pub fn file(&self) -> &File {
        self.file.as_ref().expect("an open output")
    }

    /// A second handle on the file (for a writer thread).
    pub fn try_clone(&self) -> Result<File, OutputError> {
        self.file().try_clone().map_err(|e| OutputError::io(&self.dest, e))
    }

    /// Whether the output is a regular file (positional writes work).
    pub fn is_regular(&self) -> bool {
        self.tmp.is_some()
    }

    /// Renames the file into place. It is not fsynced first (measured: that doubles the
    /// time of a 1 GB conversion): the guarantee is against a failed or interrupted run, not
    /// against a power loss.
    pub fn commit(mut self) -> Result<(), OutputError> {
        drop(self.file.take());
        if let Some(tmp) = self.tmp.take() {
            let r = std::fs::rename(&tmp, &self.dest);
            if let Err(e) = r {
                let _ = std::fs::remove_file(&tmp);
                return Err(OutputError::io(&self.dest, e));
            }
        }
        Ok(())
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        // not committed: the unfinished output goes
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rdbshift-out-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn refuses_the_input_by_any_name() {
        let d = dir("input");
        let input = d.join("a.rdb");
        std::fs::write(&input, b"REDIS0011").unwrap();
        let id = Identity::at(&input).unwrap();
        std::os::unix::fs::symlink(&input, d.join("link")).unwrap();
        std::fs::hard_link(&input, d.join("hard")).unwrap();
        let inputs = [(input.clone(), id)];
        for name in ["a.rdb", "link", "hard"] {
            let e = OutFile::create(&d.join(name), &inputs).err().expect("refused");
            assert!(matches!(e, OutputError::IsInput { .. }), "{name}: {e}");
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"REDIS0011", "the input is intact");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn renamed_only_on_commit() {
        let d = dir("commit");
        let dest = d.join("out.resp");
        std::fs::write(&dest, b"old").unwrap();
        let o = OutFile::create(&dest, &[]).unwrap();
        o.file().write_all(b"half a comm").unwrap();
        drop(o);
        assert_eq!(std::fs::read(&dest).unwrap(), b"old", "an unfinished output leaves the old file");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1, "and no temporary file");
        let o = OutFile::create(&dest, &[]).unwrap();
        o.file().write_all(b"new").unwrap();
        o.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        let e = OutFile::create(&d.join("missing-dir/x"), &[]).err().unwrap();
        assert!(e.to_string().contains("missing-dir/x"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
