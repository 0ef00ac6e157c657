//! Tasks: a sub-topology instantiated for one partition, with its stores, input queues,
//! stream time and punctuation.

pub(crate) mod collector;
pub(crate) mod context;
mod restore;
mod state_manager;
mod stream_task;

pub use collector::{OutgoingRecord, RecordCollector};
pub use context::{TaskContext, TaskId, TaskMetrics, UNKNOWN_TIME};
pub use restore::{ChangelogReader, RestoreRecord, RestoreReport, StoreRestore};
pub use stream_task::{StreamTask, TaskOptions};
