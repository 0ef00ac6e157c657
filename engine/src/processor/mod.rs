//! The Processor API and the machinery every node of a task runs on.
//!
//! A [`Processor`] needs one method, [`Processor::process`]; [`Processor::init`],
//! [`Processor::punctuate`] and [`Processor::close`] are hooks with empty defaults.
//!
//! | file | what it holds |
//! |---|---|
//! | `api.rs` | [`Processor`], [`ProcessorContext`], and the node that runs a user processor |
//! | `node.rs` | the typed node graph of a task: nodes, forwarding, factories, hooks |
//! | `task_context.rs` | the task-wide context every node shares: current record, time, stores, output, counters |
//! | `schedule.rs` | punctuation: [`PunctuationType`], [`ScheduleId`] |
//! | `collector.rs` | where a task's output goes |

mod api;
pub(crate) mod collector;
pub(crate) mod node;
mod schedule;
mod task_context;

pub use api::{Processor, ProcessorContext};
pub(crate) use api::{ProcessorHooks, ProcessorNode};
pub(crate) use collector::{OutgoingRecord, RecordCollector};
pub use schedule::{PunctuationType, ScheduleId};
pub(crate) use task_context::TaskContext;
pub use task_context::{TaskMetrics, UNKNOWN_TIME};
