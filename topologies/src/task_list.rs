//! The task-list projection (seed 000): task events — created, assigned, completed,
//! deleted — become two read models:
//!
//! - store [`OPEN_TASKS`]: user → that user's open tasks (JSON list of [`OpenTask`], by
//!   task id),
//! - store [`COMPLETED`]: user → how many tasks that user completed (i64).
//!
//! Events are keyed by task id. The latest state of each task is kept in the store
//! [`TASKS`]; that table is regrouped by assignee, so a task that is reassigned, completed
//! or deleted is retracted from its previous assignee's list.
//!
//! Given a topic of user profiles (user id → [`UserProfile`] JSON), two more read models
//! name each task's people:
//!
//! - store [`USER_OPEN_TASKS`]: user → the user's profile and open tasks ([`UserTasks`]), a
//!   table-table join of [`OPEN_TASKS`] with the profiles (so the profiles topic must have
//!   as many partitions as the events topic);
//! - store [`TASKS_WITH_ASSIGNEE`]: task id → the task with its assignee's name and team
//!   ([`AssignedTask`]), a foreign-key join of [`TASKS`] with the profiles by assignee
//!   (any partition counts).

use serde::{Deserialize, Serialize};
use tributary_engine::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
use tributary_engine::serde::{JsonSerde, StringSerde, nullable};
use tributary_engine::{Topology, TopologyError};

/// Store: task id → the task's latest [`TaskState`].
pub const TASKS: &str = "tasks";
/// Store: user → the user's open tasks.
pub const OPEN_TASKS: &str = "open-tasks-by-user";
/// Store: user → number of tasks the user completed.
pub const COMPLETED: &str = "completed-by-user";
/// Store: user id → the user's [`UserProfile`].
pub const USERS: &str = "users";
/// Store: user → the user's profile and open tasks.
pub const USER_OPEN_TASKS: &str = "open-tasks-with-user";
/// Store: task id → the task with its assignee's profile.
pub const TASKS_WITH_ASSIGNEE: &str = "tasks-with-assignee";

/// A user's profile, keyed by user id on its topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    /// The user's name.
    pub name: String,
    /// The team the user works in.
    pub team: String,
}

/// A user's open tasks with the user's profile (`None` until one is known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTasks {
    /// The profile.
    pub user: Option<UserProfile>,
    /// The open tasks.
    pub open: Vec<OpenTask>,
}

/// A task with its assignee's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedTask {
    /// The task's latest state.
    pub task: TaskState,
    /// The assignee's profile, when the task has an assignee with a known profile.
    pub assignee: Option<UserProfile>,
}

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

/// The projection reading task events (JSON, keyed by task id) from `events`, and — when
/// given — user profiles (JSON, keyed by user id) from `users`.
///
/// An event without a key (a task id) or without a value (a tombstone) changes no task:
/// it is skipped and counted, as Kafka Streams skips null keys and values in aggregations.
/// A profile tombstone deletes the profile.
///
/// ```
/// use tributary_topologies::task_list;
/// let topology = task_list::projection("task-events", Some("users")).unwrap();
/// assert!(topology.describe().contains(task_list::TASKS_WITH_ASSIGNEE));
/// ```
///
/// # Errors
/// Never for valid topic names; a [`TopologyError`] otherwise.
pub fn projection(events: &str, users: Option<&str>) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    builder.ensure_explicit_internal_resource_naming();
    let events = builder.stream(
        events,
        Consumed::with(
            nullable(StringSerde),
            nullable(JsonSerde::<TaskEvent>::new()),
        )
        .with_name("task-events"),
    );

    let tasks = events
        .group_by_key(Grouped::named("events-by-task"))
        .aggregate(
            TaskState::default,
            |_, event, state| match event {
                Some(event) => state.apply(event),
                None => state,
            },
            Materialized::named(TASKS).with_value_serde(JsonSerde::new()),
        );
    let open_tasks = tasks
        .group_by(
            |task_id, state| {
                let user = state
                    .assignee
                    .clone()
                    .unwrap_or_else(|| UNASSIGNED.to_owned());
                (user, (task_id.clone().unwrap_or_default(), state.clone()))
            },
            Grouped::with(StringSerde, JsonSerde::<(String, TaskState)>::new())
                .with_name("tasks-by-assignee"),
        )
        .aggregate(
            Vec::<OpenTask>::new,
            |_, (task_id, state), mut open| {
                // In task id order: the order updates arrive in depends on how the input
                // partitions interleave, which a replay does not repeat.
                let at = open.binary_search_by(|t| t.task_id.cmp(task_id));
                match (at, state.open) {
                    (Ok(i), true) => open[i].title.clone_from(&state.title),
                    (Ok(i), false) => drop(open.remove(i)),
                    (Err(i), true) => open.insert(
                        i,
                        OpenTask {
                            task_id: task_id.clone(),
                            title: state.title.clone(),
                        },
                    ),
                    (Err(_), false) => {}
                }
                open
            },
            |_, (task_id, _), mut open| {
                open.retain(|t| &t.task_id != task_id);
                open
            },
            Materialized::named(OPEN_TASKS).with_value_serde(JsonSerde::new()),
        );
    if let Some(users) = users {
        let profiles = builder.table(
            users,
            Consumed::with(StringSerde, JsonSerde::<UserProfile>::new()).with_name("user-profiles"),
            Materialized::named(USERS),
        );
        open_tasks.left_join(
            &profiles,
            |open, profile| UserTasks {
                user: profile.cloned(),
                open: open.clone(),
            },
            Materialized::named(USER_OPEN_TASKS).with_value_serde(JsonSerde::new()),
        );
        tasks.left_join_on_foreign_key(
            &profiles,
            |task| task.assignee.clone(),
            |task, profile| AssignedTask {
                task: task.clone(),
                assignee: profile.cloned(),
            },
            Materialized::named(TASKS_WITH_ASSIGNEE).with_value_serde(JsonSerde::new()),
        );
    }

    events
        .filter(|_, e| {
            e.as_ref()
                .is_some_and(|e| e.kind == TaskEventKind::Completed && e.user.is_some())
        })
        .group_by(
            |_, e| e.as_ref().and_then(|e| e.user.clone()).unwrap_or_default(),
            Grouped::with(StringSerde, nullable(JsonSerde::new())).with_name("completions-by-user"),
        )
        .count(Materialized::named(COMPLETED));
    builder.build()
}
