//! Seed 004's edge server: HTTP commands in, domain events out, queries answered from the
//! read model the projection keeps.
//!
//! - `POST /tasks` `{"task_id", "title", "assignee"?}`, `POST /tasks/{id}/assign`
//!   `{"user"}`, `POST /tasks/{id}/complete` `{}`: the command's syntax is checked (400 with
//!   the reason), then the business rules against the current read model (409 with the
//!   reason); the event is published keyed by the task's id, and the reply (202) goes out
//!   once the broker has acknowledged it — before the projection has applied it.
//! - `GET /tasks/{id}`, `GET /users/{user}/open-tasks`: the read model, as the projection's
//!   query server answers it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rdkafka::ClientConfig;
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::AsyncRuntime;
use serde::Deserialize;
use serde_json::json;
use tributary::topologies::task_list::{OPEN_TASKS, TASKS, TaskEvent, TaskEventKind, TaskState};

/// Tokio, as the runtime of rdkafka's futures (the workspace builds rdkafka without its
/// own runtime feature).
pub struct Tokio;

impl AsyncRuntime for Tokio {
    type Delay = Pin<Box<tokio::time::Sleep>>;

    fn spawn<T>(task: T)
    where
        T: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(task);
    }

    fn delay_for(duration: Duration) -> Self::Delay {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// What the edge needs: a producer for the events topic, and where the read model answers.
pub struct Edge {
    producer: FutureProducer<DefaultClientContext, Tokio>,
    events: String,
    /// The projection's query server, `http://host:port`.
    read_model: String,
}

impl Edge {
    /// An edge publishing to `events` on the cluster at `bootstrap`, reading the model from
    /// the projection's query server at `read_model` (`host:port`).
    ///
    /// # Errors
    /// When the producer cannot be created.
    pub fn new(bootstrap: &str, events: &str, read_model: &str) -> anyhow::Result<Self> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            // Java's partitioner: events of one task land where Kafka Streams expects.
            .set("partitioner", "murmur2_random")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .create()?;
        Ok(Self {
            producer,
            events: events.to_owned(),
            read_model: format!("http://{read_model}"),
        })
    }

    /// The edge's routes.
    pub fn router(self) -> Router {
        Router::new()
            .route("/tasks", post(create))
            .route("/tasks/{id}", get(task))
            .route("/tasks/{id}/assign", post(assign))
            .route("/tasks/{id}/complete", post(complete))
            .route("/users/{user}/open-tasks", get(open_tasks))
            .with_state(Arc::new(self))
    }

    /// The read model's value of `key` in `store`: `Ok(None)` when it has none.
    async fn read(&self, store: &str, key: &str) -> Result<Option<serde_json::Value>, Reply> {
        let url = format!("{}/v1/stores/{store}/keys/{key}", self.read_model);
        let answer = tokio::task::spawn_blocking(move || ureq::get(&url).call())
            .await
            .map_err(|e| Reply::unavailable(format!("the read model query failed: {e}")))?;
        match answer {
            Ok(mut response) => {
                let body: serde_json::Value = response
                    .body_mut()
                    .read_to_string()
                    .map_err(|e| e.to_string())
                    .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
                    .map_err(|e| Reply::unavailable(format!("the read model answered: {e}")))?;
                Ok(Some(body["value"].clone()))
            }
            Err(ureq::Error::StatusCode(404)) => Ok(None),
            Err(e) => Err(Reply::unavailable(format!(
                "the read model cannot answer now ({e}); retry"
            ))),
        }
    }

    /// The task `id` as the read model has it.
    async fn task(&self, id: &str) -> Result<Option<TaskState>, Reply> {
        let Some(value) = self.read(TASKS, id).await? else {
            return Ok(None);
        };
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| Reply::unavailable(format!("the read model's task does not decode: {e}")))
    }

    /// Publishes `event` keyed by its task and waits for the broker's acknowledgement.
    async fn publish(&self, event: TaskEvent) -> Reply {
        let value = match serde_json::to_vec(&event) {
            Ok(value) => value,
            Err(e) => return Reply::unavailable(format!("the event does not encode: {e}")),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let record = FutureRecord::to(&self.events)
            .key(&event.task_id)
            .payload(&value)
            .timestamp(now);
        let delivery = match self.producer.send_result(record) {
            Ok(delivery) => delivery,
            Err((e, _)) => return Reply::unavailable(format!("cannot publish now ({e}); retry")),
        };
        match tokio::time::timeout(Duration::from_secs(30), delivery).await {
            Ok(Ok(Ok(_))) => Reply(
                StatusCode::ACCEPTED,
                json!({"accepted": event.kind, "task_id": event.task_id}),
            ),
            Ok(Ok(Err((e, _)))) => Reply::unavailable(format!("the broker refused the event: {e}")),
            Ok(Err(_)) | Err(_) => Reply::unavailable("the broker did not acknowledge the event"),
        }
    }
}

/// A reply: status and JSON body.
pub struct Reply(StatusCode, serde_json::Value);

impl Reply {
    fn error(status: StatusCode, reason: impl Into<String>) -> Self {
        Self(status, json!({ "error": reason.into() }))
    }

    /// 400: the command is malformed.
    fn invalid(reason: impl Into<String>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, reason)
    }

    /// 409: the command breaks a business rule.
    fn conflict(reason: impl Into<String>) -> Self {
        Self::error(StatusCode::CONFLICT, reason)
    }

    /// 503: try again later.
    fn unavailable(reason: impl Into<String>) -> Self {
        Self::error(StatusCode::SERVICE_UNAVAILABLE, reason)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

/// Parses a command's JSON body, or says what is wrong with it.
fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| Reply::invalid(format!("malformed command: {e}")))
}

/// Checks that `value` (field `field`) is a valid identifier: 1–64 of `A-Z a-z 0-9 - _`.
fn identifier(field: &str, value: &str) -> Result<(), Reply> {
    let valid = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match valid {
        true => Ok(()),
        false => Err(Reply::invalid(format!(
            "`{field}` must be 1 to 64 letters, digits, `-` or `_`; got {value:?}"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTask {
    task_id: String,
    title: String,
    #[serde(default)]
    assignee: Option<String>,
}

async fn create(State(edge): State<Arc<Edge>>, body: Bytes) -> Reply {
    let result = async {
        let command: CreateTask = parse(&body)?;
        identifier("task_id", &command.task_id)?;
        if command.title.trim().is_empty() || command.title.len() > 200 {
            return Err(Reply::invalid("`title` must be 1 to 200 characters"));
        }
        if let Some(user) = &command.assignee {
            identifier("assignee", user)?;
        }
        if edge.task(&command.task_id).await?.is_some() {
            return Err(Reply::conflict(format!(
                "task `{}` already exists",
                command.task_id
            )));
        }
        Ok(TaskEvent {
            task_id: command.task_id,
            kind: TaskEventKind::Created,
            user: command.assignee,
            title: Some(command.title),
        })
    };
    match result.await {
        Ok(event) => edge.publish(event).await,
        Err(reply) => reply,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignTask {
    user: String,
}

/// The open task `id`, or the conflict that it is missing or closed.
async fn open_task(edge: &Edge, id: &str) -> Result<TaskState, Reply> {
    match edge.task(id).await? {
        None => Err(Reply::conflict(format!("there is no task `{id}`"))),
        Some(task) if !task.open => Err(Reply::conflict(format!("task `{id}` is closed already"))),
        Some(task) => Ok(task),
    }
}

async fn assign(State(edge): State<Arc<Edge>>, Path(id): Path<String>, body: Bytes) -> Reply {
    let result = async {
        identifier("task id", &id)?;
        let command: AssignTask = parse(&body)?;
        identifier("user", &command.user)?;
        let task = open_task(&edge, &id).await?;
        if task.assignee.as_deref() == Some(command.user.as_str()) {
            return Err(Reply::conflict(format!(
                "task `{id}` is assigned to `{}` already",
                command.user
            )));
        }
        Ok(TaskEvent {
            task_id: id.clone(),
            kind: TaskEventKind::Assigned,
            user: Some(command.user),
            title: None,
        })
    };
    match result.await {
        Ok(event) => edge.publish(event).await,
        Err(reply) => reply,
    }
}

async fn complete(State(edge): State<Arc<Edge>>, Path(id): Path<String>) -> Reply {
    let result = async {
        identifier("task id", &id)?;
        let task = open_task(&edge, &id).await?;
        let Some(user) = task.assignee else {
            return Err(Reply::conflict(format!(
                "task `{id}` has nobody assigned to complete it"
            )));
        };
        Ok(TaskEvent {
            task_id: id.clone(),
            kind: TaskEventKind::Completed,
            user: Some(user),
            title: None,
        })
    };
    match result.await {
        Ok(event) => edge.publish(event).await,
        Err(reply) => reply,
    }
}

async fn task(State(edge): State<Arc<Edge>>, Path(id): Path<String>) -> Reply {
    match edge.read(TASKS, &id).await {
        Ok(Some(value)) => Reply(StatusCode::OK, value),
        Ok(None) => Reply::error(StatusCode::NOT_FOUND, format!("there is no task `{id}`")),
        Err(reply) => reply,
    }
}

async fn open_tasks(State(edge): State<Arc<Edge>>, Path(user): Path<String>) -> Reply {
    match edge.read(OPEN_TASKS, &user).await {
        Ok(Some(value)) => Reply(StatusCode::OK, value),
        Ok(None) => Reply(StatusCode::OK, json!([])),
        Err(reply) => reply,
    }
}
