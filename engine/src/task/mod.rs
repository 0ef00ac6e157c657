//! Tasks: a sub-topology instantiated for one partition, with its stores, input queues,
//! stream time and punctuation.

mod global_store;
mod memory_log;
mod options;
mod restore;
mod spare_buffers;
mod standby;
mod state_manager;
mod storage;
mod stream_task;

pub use global_store::GlobalStore;
pub use memory_log::{LogEntry, MemoryLog};
pub use options::TaskOptions;
pub use restore::{ChangelogReader, RestoreRecord, RestoreReport, StoreRestore};
pub(crate) use spare_buffers::SpareBuffers;
pub(crate) use standby::{StandbyTask, standby_stores};
pub use state_manager::CHECKPOINT_DELTA;
pub use storage::TaskStorage;
pub use stream_task::StreamTask;
