//! Punctuation schedules: which clock drives one, and how a task keeps them.

/// Which clock drives a punctuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PunctuationType {
    /// Fires as stream time (the largest record timestamp the task has seen) advances.
    /// Idle input does not advance it.
    StreamTime,
    /// Fires as the wall clock advances, whether records arrive or not.
    WallClockTime,
}

/// Identifies one schedule of a processor; passed back to [`Processor::punctuate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScheduleId(pub(crate) u32);

/// A schedule of one processor of a task.
pub(crate) struct Schedule {
    pub(crate) node: usize,
    pub(crate) id: ScheduleId,
    pub(crate) interval_ms: i64,
    pub(crate) kind: PunctuationType,
    /// When it fires next; `None` for stream time that is not known yet.
    pub(crate) next: Option<i64>,
}
