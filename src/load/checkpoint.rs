//! `--checkpoint FILE`: how far each dump has been loaded, so that a rerun after a crash
//! continues where the last one stopped. One line per dump: size, offset, path. "Offset"
//! means every key whose record starts before it was acknowledged, or failed for good and
//! was reported; a dump is matched by its path and size.
//!
//! The file is rewritten at most once a second, by writing a temporary file and renaming
//! it over the old one, so a crash leaves the old or the new version, never half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Checkpoint {
    path: PathBuf,
    entries: BTreeMap<String, (u64, u64)>,
    written: Option<Instant>,
}

impl Checkpoint {
    /// Reads `path` if it exists.
    pub fn open(path: &Path) -> std::io::Result<Checkpoint> {
        let mut entries = BTreeMap::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines() {
                    let mut f = line.splitn(3, '\t');
                    if let (Some(size), Some(off), Some(name)) = (f.next(), f.next(), f.next()) {
                        if let (Ok(size), Ok(off)) = (size.parse(), off.parse()) {
                            entries.insert(name.to_string(), (size, off));
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Checkpoint { path: path.to_path_buf(), entries, written: None })
    }

    /// The name a dump is recorded under (its canonical path).
    pub fn name(dump: &Path) -> String {
        std::fs::canonicalize(dump).unwrap_or_else(|_| dump.to_path_buf()).display().to_string()
    }

    /// Where to start in `name` (0 unless a previous run recorded progress on the same file).
    pub fn resume_at(&self, name: &str, size: u64) -> u64 {
        match self.entries.get(name) {
            Some(&(s, off)) if s == size => off,
            _ => 0,
        }
    }

    /// Records progress; written now if `force`, else at most once a second.
    pub fn record(&mut self, name: &str, size: u64, offset: u64, force: bool) -> std::io::Result<()> {
        self.entries.insert(name.to_string(), (size, offset));
        if !force && self.written.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return Ok(());
        }
        let mut text = String::new();
        for (n, (s, o)) in &self.entries {
            text.push_str(&format!("{s}\t{o}\t{n}\n"));
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)?;
        self.written = Some(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("rdbshift-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("ck");
        let mut c = Checkpoint::open(&p).unwrap();
        assert_eq!(c.resume_at("/a.rdb", 10), 0);
        c.record("/a.rdb", 10, 7, true).unwrap();
        c.record("/b c.rdb", 20, 3, true).unwrap();
        let c = Checkpoint::open(&p).unwrap();
        assert_eq!((c.resume_at("/a.rdb", 10), c.resume_at("/b c.rdb", 20)), (7, 3));
        assert_eq!(c.resume_at("/a.rdb", 11), 0, "a different file under the same name");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
