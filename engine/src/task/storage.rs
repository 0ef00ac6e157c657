//! A task's local storage: its state directory, its checkpoint and its stores' backends
//! (RocksDB or memory), opened before the task is built on them. Opening is the slow part
//! of creating a task — RocksDB creates and syncs a handful of files for every new
//! database — so [`TaskStorage::open_all`] opens many tasks' storage at once.

use std::path::{Path, PathBuf};

use tributary_state::{
    Checkpoint, InMemoryKeyValueStore, KeyValueStore as RawStore, MemoryBudget,
    RocksDbKeyValueStore, SegmentedWindowStore, StateError, WindowKeyValueStore,
};

use crate::error::StreamsError;
use crate::names::changelog_topic;
use crate::store::{StoreBackend, StoreSpec};
use crate::task::options::TaskOptions;
use crate::task_id::TaskId;

/// Most threads [`TaskStorage::open_all`] opens storage on. Opening waits on the disk's
/// syncs more than it computes, so a few more threads than cores still help.
const OPEN_THREADS: usize = 8;

/// One task's opened storage: build the task on it with
/// [`StreamTask::with_storage`](crate::task::StreamTask::with_storage).
pub struct TaskStorage {
    pub(crate) id: TaskId,
    pub(crate) checkpoint_path: PathBuf,
    /// The checkpoint read, if the task's directory had a valid one.
    pub(crate) checkpoint: Option<Checkpoint>,
    /// Why a checkpoint was not used (it was corrupt), for the restore report.
    pub(crate) fallback: Option<String>,
    /// Each store's backend, in the order of the specs it was opened for.
    pub(crate) backends: Vec<Box<dyn RawStore + Send>>,
}

impl TaskStorage {
    /// Opens task `id`'s directory under the state directory, reads its checkpoint and
    /// opens the backend of each store in `specs`. Local RocksDB data that no checkpoint
    /// vouches for is wiped, for a full restore from the changelog.
    ///
    /// # Errors
    /// When the directory cannot be created, the checkpoint cannot be read, or a store
    /// cannot be opened.
    pub(crate) fn open(
        id: TaskId,
        specs: &[&StoreSpec],
        options: &TaskOptions,
    ) -> Result<Self, StreamsError> {
        let task_dir = options
            .state_dir
            .join(&options.application_id)
            .join(id.to_string());
        std::fs::create_dir_all(&task_dir).map_err(|e| StateError::Io {
            operation: "create the task's state directory",
            path: task_dir.clone(),
            source: e,
        })?;
        let checkpoint_path = task_dir.join(".checkpoint");
        let (checkpoint, fallback) = match Checkpoint::read(&checkpoint_path) {
            Ok(cp) => (cp, None),
            Err(err @ StateError::CorruptCheckpoint { .. }) => {
                tracing::warn!(task = %id, error = %err, "falling back to a full restore of the task's persistent stores");
                remove_file(&checkpoint_path)?;
                (None, Some(err.to_string()))
            }
            Err(err) => return Err(err.into()),
        };
        let backends = specs
            .iter()
            .map(|spec| {
                let changelog = spec
                    .logging
                    .then(|| changelog_topic(&options.application_id, &spec.name));
                // Local data of unknown freshness is rebuilt from the changelog.
                let trusted = changelog.as_ref().is_none_or(|topic| {
                    checkpoint
                        .as_ref()
                        .is_some_and(|c| c.get(topic, id.partition).is_some())
                });
                open_backend(spec, &task_dir, &options.budget, trusted)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id,
            checkpoint_path,
            checkpoint,
            fallback,
            backends,
        })
    }

    /// Opens the storage of every task in `tasks` (each with its stores' specs), on up to
    /// [`OPEN_THREADS`] threads at once; the results come in the order of `tasks`.
    pub(crate) fn open_all(
        tasks: &[(TaskId, Vec<&StoreSpec>)],
        options: &TaskOptions,
    ) -> Vec<Result<Self, StreamsError>> {
        let open = |chunk: &[(TaskId, Vec<&StoreSpec>)]| -> Vec<Result<Self, StreamsError>> {
            chunk
                .iter()
                .map(|(id, specs)| Self::open(*id, specs, options))
                .collect()
        };
        if tasks.len() <= 1 {
            return open(tasks);
        }
        // Consecutive chunks, one per thread, so that the results concatenate in order.
        let chunk = tasks.len().div_ceil(OPEN_THREADS);
        std::thread::scope(|scope| {
            let workers: Vec<_> = tasks
                .chunks(chunk)
                .map(|part| scope.spawn(move || open(part)))
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }
}

/// Opens the storage of `spec` under `dir` (RocksDB in `<dir>/rocksdb/<store>`). Local
/// RocksDB data is kept only when `trusted` (a checkpoint says what it reflects); otherwise
/// it is wiped, for a full restore.
pub(crate) fn open_backend(
    spec: &StoreSpec,
    dir: &Path,
    budget: &MemoryBudget,
    trusted: bool,
) -> Result<Box<dyn RawStore + Send>, StreamsError> {
    Ok(match (spec.backend, spec.window) {
        (StoreBackend::InMemory, Some(w)) => Box::new(WindowKeyValueStore::new(
            SegmentedWindowStore::in_memory(&spec.name, w.retention_ms, w.segment_interval_ms),
        )),
        (StoreBackend::InMemory, None) => Box::new(InMemoryKeyValueStore::new(&spec.name)),
        (StoreBackend::RocksDb, window) => {
            let dir = dir.join("rocksdb").join(&spec.name);
            if !trusted && dir.exists() {
                tracing::info!(store = %spec.name, "no checkpoint for the store; wiping it for a full restore");
                std::fs::remove_dir_all(&dir).map_err(|e| StateError::Io {
                    operation: "wipe the store directory",
                    path: dir.clone(),
                    source: e,
                })?;
            }
            match window {
                Some(w) => Box::new(WindowKeyValueStore::new(SegmentedWindowStore::rocksdb(
                    &spec.name,
                    &dir,
                    budget,
                    w.retention_ms,
                    w.segment_interval_ms,
                )?)),
                None => Box::new(RocksDbKeyValueStore::open(&spec.name, &dir, budget)?),
            }
        }
    })
}

fn remove_file(path: &Path) -> Result<(), StateError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StateError::Io {
            operation: "remove the corrupt checkpoint",
            path: path.to_owned(),
            source: e,
        }),
    }
}
