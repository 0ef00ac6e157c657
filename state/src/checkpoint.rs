//! The checkpoint file: which changelog offset the local state of a task reflects.
//!
//! Format (text, one entry a line):
//! ```text
//! tributary-checkpoint 1
//! <number of entries>
//! <topic> <partition> <offset>
//! ```
//! `offset` is the offset of the next changelog record to restore. The file is written to a
//! temporary name, synced and renamed, so a crash leaves the old or the new file, never a
//! mix.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::StateError;

const HEADER: &str = "tributary-checkpoint 1";

/// Changelog partitions mapped to the offset from which restoration continues.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    offsets: BTreeMap<(String, i32), i64>,
}

impl Checkpoint {
    /// An empty checkpoint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that restoration of `topic`/`partition` continues at `next_offset`.
    pub fn set(&mut self, topic: &str, partition: i32, next_offset: i64) {
        self.offsets
            .insert((topic.to_owned(), partition), next_offset);
    }

    /// The offset restoration of `topic`/`partition` continues at, if recorded.
    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.offsets.get(&(topic.to_owned(), partition)).copied()
    }

    /// Every entry, ordered by topic and partition.
    pub fn entries(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.offsets.iter().map(|((t, p), o)| (t.as_str(), *p, *o))
    }

    /// Reads the checkpoint at `path`; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// [`StateError::CorruptCheckpoint`] when the file is not a valid checkpoint, and
    /// [`StateError::Io`] when it cannot be read.
    pub fn read(path: &Path) -> Result<Option<Self>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(corrupt(path, "it is not UTF-8 text"));
            }
            Err(e) => return Err(StateError::io("read the checkpoint", path, e)),
        };
        Self::parse(&text)
            .map(Some)
            .map_err(|reason| corrupt(path, &reason))
    }

    fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        match lines.next() {
            Some(HEADER) => {}
            Some(other) => return Err(format!("the first line is `{other}`, expected `{HEADER}`")),
            None => return Err("the file is empty".into()),
        }
        let count: usize = lines
            .next()
            .ok_or("the entry count is missing")?
            .trim()
            .parse()
            .map_err(|e| format!("the entry count is not a number: {e}"))?;
        let mut checkpoint = Self::new();
        for n in 0..count {
            let line = lines
                .next()
                .ok_or_else(|| format!("it declares {count} entries but has {n}"))?;
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [topic, partition, offset] = fields[..] else {
                return Err(format!(
                    "entry `{line}` is not `<topic> <partition> <offset>`"
                ));
            };
            let partition = partition
                .parse()
                .map_err(|e| format!("bad partition in `{line}`: {e}"))?;
            let offset = offset
                .parse()
                .map_err(|e| format!("bad offset in `{line}`: {e}"))?;
            checkpoint.set(topic, partition, offset);
        }
        if let Some(extra) = lines.find(|l| !l.trim().is_empty()) {
            return Err(format!("unexpected line after {count} entries: `{extra}`"));
        }
        Ok(checkpoint)
    }

    /// Writes the checkpoint to `path` atomically (temporary file, sync, rename).
    ///
    /// # Errors
    /// When the file cannot be written or renamed.
    pub fn write(&self, path: &Path) -> Result<(), StateError> {
        let mut text = format!("{HEADER}\n{}\n", self.offsets.len());
        for ((topic, partition), offset) in &self.offsets {
            text.push_str(&format!("{topic} {partition} {offset}\n"));
        }
        let tmp = path.with_extension("tmp");
        let mut file =
            std::fs::File::create(&tmp).map_err(|e| StateError::io("create", &tmp, e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| StateError::io("write", &tmp, e))?;
        file.sync_all()
            .map_err(|e| StateError::io("sync", &tmp, e))?;
        std::fs::rename(&tmp, path)
            .map_err(|e| StateError::io("rename the checkpoint into", path, e))
    }
}

fn corrupt(path: &Path, reason: &str) -> StateError {
    StateError::CorruptCheckpoint {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".checkpoint");
        let mut cp = Checkpoint::new();
        cp.set("app-counts-changelog", 3, 1200);
        cp.set("app-other-changelog", 0, 7);
        cp.write(&path).unwrap();
        assert_eq!(Checkpoint::read(&path).unwrap(), Some(cp));
        assert!(!path.with_extension("tmp").exists());
    }

    #[test]
    fn a_missing_file_is_no_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Checkpoint::read(&dir.path().join("none")).unwrap(), None);
    }

    #[test]
    fn corrupt_files_name_the_file_and_the_fault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".checkpoint");
        for (content, expect) in [
            ("garbage\n", "first line"),
            ("tributary-checkpoint 1\nx\n", "entry count"),
            (
                "tributary-checkpoint 1\n2\nt 0 5\n",
                "declares 2 entries but has 1",
            ),
            ("tributary-checkpoint 1\n1\nt zero 5\n", "bad partition"),
            ("", "empty"),
        ] {
            std::fs::write(&path, content).unwrap();
            let err = Checkpoint::read(&path).unwrap_err().to_string();
            assert!(err.contains(expect), "{err}");
            assert!(err.contains(".checkpoint"), "{err}");
        }
        std::fs::write(&path, [0xFF, 0xFE]).unwrap();
        assert!(
            Checkpoint::read(&path)
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
    }
}
