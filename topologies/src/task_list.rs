//! The task-list projection (seed 000): task events — created, assigned, completed,
//! deleted — become two read models:
//!
//! - store [`OPEN_TASKS`]: user → that user's open tasks (JSON list of [`OpenTask`]),
//! - store [`COMPLETED`]: user → how many tasks that user completed (i64).
//!
//! Events are keyed by task id. The latest state of each task is kept in the store
//! [`TASKS`]; that table is regrouped by assignee, so a task that is reassigned, completed
//! or deleted is retracted from its previous assignee's list.

use serde::{Deserialize, Serialize};
use tributary_engine::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
use tributary_engine::serde::{JsonSerde, StringSerde};
use tributary_engine::{Topology, TopologyError};

/// Store: task id → the task's latest [`TaskState`].
pub const TASKS: &str = "tasks";
/// Store: user → the user's open tasks.
pub const OPEN_TASKS: &str = "open-tasks-by-user";
/// Store: user → number of tasks the user completed.
pub const COMPLETED: &str = "completed-by-user";

/// What happened to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskEventKind {
    /// The task was created, assigned to `user`.
    Created,
    /// The task was (re)assigned to `user`.
    Assigned,
    /// `user` completed the task.
    Completed,
    /// The task was deleted.
    Deleted,
}

/// A task event, keyed by `task_id` on its topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// The task.
    pub task_id: String,
    /// What happened.
    pub kind: TaskEventKind,
    /// The assignee (created, assigned) or the user who completed the task.
    #[serde(default)]
    pub user: Option<String>,
    /// The task's title (created).
    #[serde(default)]
    pub title: Option<String>,
}

/// A task's latest state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState {
    /// The title.
    pub title: String,
    /// Who it is assigned to.
    pub assignee: Option<String>,
    /// Whether it is still open (not completed or deleted).
    pub open: bool,
}

impl TaskState {
    /// The state after `event`.
    pub fn apply(mut self, event: &TaskEvent) -> Self {
        match event.kind {
            TaskEventKind::Created => {
                self.title = event.title.clone().unwrap_or_default();
                self.assignee = event.user.clone();
                self.open = true;
            }
            TaskEventKind::Assigned => self.assignee = event.user.clone(),
            TaskEventKind::Completed | TaskEventKind::Deleted => self.open = false,
        }
        self
    }
}

/// An entry of a user's open-task list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTask {
    /// The task.
    pub task_id: String,
    /// Its title.
    pub title: String,
}

/// The key under which tasks without an assignee are listed.
pub const UNASSIGNED: &str = "(unassigned)";

/// The projection reading task events (JSON, keyed by task id) from `events`.
///
/// ```
/// let topology = tributary_topologies::task_list::projection("task-events").unwrap();
/// assert!(topology.describe().contains("open-tasks-by-user"));
/// ```
///
/// # Errors
/// Never for a valid topic name; a [`TopologyError`] otherwise.
pub fn projection(events: &str) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    builder.ensure_explicit_internal_resource_naming();
    let events = builder.stream(
        events,
        Consumed::with(StringSerde, JsonSerde::<TaskEvent>::new()).with_name("task-events"),
    );

    events
        .group_by_key(Grouped::named("events-by-task"))
        .aggregate(
            TaskState::default,
            |_, event, state| state.apply(event),
            Materialized::named(TASKS).with_value_serde(JsonSerde::new()),
        )
        .group_by(
            |task_id, state| {
                let user = state
                    .assignee
                    .clone()
                    .unwrap_or_else(|| UNASSIGNED.to_owned());
                (user, (task_id.clone(), state.clone()))
            },
            Grouped::with(StringSerde, JsonSerde::<(String, TaskState)>::new())
                .with_name("tasks-by-assignee"),
        )
        .aggregate(
            Vec::<OpenTask>::new,
            |_, (task_id, state), mut open| {
                open.retain(|t| &t.task_id != task_id);
                if state.open {
                    open.push(OpenTask {
                        task_id: task_id.clone(),
                        title: state.title.clone(),
                    });
                }
                open
            },
            |_, (task_id, _), mut open| {
                open.retain(|t| &t.task_id != task_id);
                open
            },
            Materialized::named(OPEN_TASKS).with_value_serde(JsonSerde::new()),
        );

    events
        .filter(|_, e| e.kind == TaskEventKind::Completed && e.user.is_some())
        .group_by(
            |_, e| e.user.clone().unwrap_or_default(),
            Grouped::with(StringSerde, JsonSerde::new()).with_name("completions-by-user"),
        )
        .count(Materialized::named(COMPLETED));
    builder.build()
}
