use std::path::PathBuf;

/// Errors raised by state stores, change logging and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// RocksDB refused an operation on a store.
    #[error("RocksDB store `{store}` failed to {operation}: {source}")]
    RocksDb {
        /// The store's name.
        store: String,
        /// What was being done, e.g. "open", "write a batch".
        operation: &'static str,
        /// RocksDB's own error.
        source: ::rocksdb::Error,
    },
    /// A file operation on local state failed.
    #[error("cannot {operation} `{path}`: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A checkpoint file exists but cannot be read as a checkpoint.
    #[error(
        "checkpoint file `{path}` is corrupt ({reason}); delete it (the task then restores its \
         stores from the changelog in full)"
    )]
    CorruptCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A key written to a window store does not end in a window start.
    #[error(
        "window store `{store}` cannot take a key of {len} bytes: window keys are the record key followed by the 8-byte window start"
    )]
    BadWindowKey {
        /// The store.
        store: String,
        /// The key's length.
        len: usize,
    },
    /// A stored value is too short to hold the timestamp every stored value starts with:
    /// the store's files were written by something else, or are damaged.
    #[error(
        "store `{store}` holds a value of {len} bytes, too short for its 8-byte timestamp; wipe the \
         task's state directory (it is rebuilt from the changelog)"
    )]
    CorruptValue {
        /// The store.
        store: String,
        /// The value's length.
        len: usize,
    },
    /// The changelog sink refused a record (for example, the producer's queue is closed).
    #[error("cannot log a change of store `{store}` to `{topic}`: {reason}")]
    Changelog {
        /// The store whose change was logged.
        store: String,
        /// The changelog topic.
        topic: String,
        /// Why the sink refused it.
        reason: String,
    },
}

impl StateError {
    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            operation,
            path: path.into(),
            source,
        }
    }
}
