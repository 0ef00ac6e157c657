//! [`KafkaStreams`]: runs a topology on a Kafka cluster with stream threads.

use std::fs::{File, TryLockError};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{ErrorContext, ProcessingExceptionHandler, ProcessingResponse, StreamsConfig};
use crate::discovery::{Directory, DirectoryThread, StoreRegistry};
use crate::error::StreamsError;
use crate::kafka::TopicAdmin;
use crate::metrics::Metrics;
use crate::names::instances_topic;
use crate::query::{QueryServer, ServerParts};
use crate::runtime::global::{GlobalParts, GlobalThread};
use crate::runtime::standby::{StandbyControl, StandbyParts, StandbyThread};
use crate::runtime::thread::{StreamThread, ThreadEvents, ThreadFailureResponse, ThreadShared};
use crate::task::TaskOptions;
use crate::topology::Topology;

/// The lifecycle of a [`KafkaStreams`] instance, as in Kafka Streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamsState {
    /// Built, not started.
    Created,
    /// Started; threads are joining the group and restoring their tasks.
    Rebalancing,
    /// Every thread has its tasks and is processing.
    Running,
    /// `close` was called; threads are committing and stopping.
    PendingShutdown,
    /// Stopped cleanly.
    NotRunning,
    /// A thread failed and the instance shuts down (see
    /// [`KafkaStreams::set_uncaught_error_handler`]); `close` returns the error and the
    /// state stays `Error`.
    Error,
}

impl StreamsState {
    /// Whether the lifecycle allows moving from `self` to `next` (as in Kafka Streams;
    /// for example, a thread's assignment arriving during shutdown does not make the
    /// instance running again).
    pub fn can_become(self, next: StreamsState) -> bool {
        use StreamsState::*;
        matches!(
            (self, next),
            (Created, Rebalancing | PendingShutdown)
                | (Rebalancing, Running | PendingShutdown | Error)
                | (Running, Rebalancing | PendingShutdown | Error)
                | (PendingShutdown, NotRunning | Error)
                | (Error, PendingShutdown | NotRunning)
        )
    }
}

type Listener = Box<dyn Fn(StreamsState, StreamsState) + Send + Sync>;
type FailureHandler = Box<dyn Fn(&StreamsError) -> ThreadFailureResponse + Send + Sync>;

/// The current state, its listener, and which threads are processing their assignment.
struct Lifecycle {
    shutdown: Arc<AtomicBool>,
    state: Mutex<StreamsState>,
    listener: Mutex<Option<Listener>>,
    failure_handler: Mutex<Option<FailureHandler>>,
    /// Per thread: whether its current assignment has restored.
    ready: Mutex<Vec<bool>>,
}

impl Lifecycle {
    fn set(&self, new: StreamsState) {
        let old = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let old = *state;
            if !old.can_become(new) {
                return;
            }
            *state = new;
            old
        };
        tracing::info!(from = ?old, to = ?new, "state changed");
        if let Some(listener) = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            listener(old, new);
        }
    }

    fn get(&self) -> StreamsState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ThreadEvents for Lifecycle {
    /// Running → Rebalancing, as in Kafka Streams, while any thread rebalances.
    fn rebalancing(&self, thread: usize) {
        self.ready.lock().unwrap_or_else(|p| p.into_inner())[thread] = false;
        self.set(StreamsState::Rebalancing);
    }

    /// Running once every thread has restored its assignment.
    fn ready(&self, thread: usize) {
        let all = {
            let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
            ready[thread] = true;
            ready.iter().all(|r| *r)
        };
        if all {
            self.set(StreamsState::Running);
        }
    }

    /// Asks the failure handler; without one, or when it answers
    /// [`ThreadFailureResponse::ShutdownClient`], the whole instance shuts down: the other
    /// threads commit and stop, and `close` returns the error.
    fn failed(&self, _thread: usize, error: &StreamsError) -> ThreadFailureResponse {
        let response = self
            .failure_handler
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(ThreadFailureResponse::ShutdownClient, |handler| {
                handler(error)
            });
        if response == ThreadFailureResponse::ShutdownClient {
            self.set(StreamsState::Error);
            self.shutdown.store(true, Ordering::Release);
        }
        response
    }
}

/// Runs a [`Topology`] on a Kafka cluster: `num.stream.threads` threads in the consumer
/// group `application.id`, each owning a consumer, a producer and the tasks of the
/// partitions assigned to it. Start more instances with the same `application.id` to
/// spread the partitions, their tasks and their state across processes.
///
/// Processing is at-least-once: every `commit.interval.ms`, and before partitions are
/// revoked or the instance closes, each task flushes its record caches, stores and
/// producer, writes its checkpoint, and only then are the consumed offsets committed.
pub struct KafkaStreams {
    topology: Topology,
    config: StreamsConfig,
    lifecycle: Arc<Lifecycle>,
    shutdown: Arc<AtomicBool>,
    threads: Vec<StreamThread>,
    /// The stores queries may read, and which partitions of them this instance hosts.
    registry: Arc<StoreRegistry>,
    /// Every instance of the application and what it hosts.
    directory: Arc<Directory>,
    metrics: Arc<Metrics>,
    server: Option<QueryServer>,
    directory_thread: Option<DirectoryThread>,
    /// The lock on `<state.dir>/<application.id>/.lock`, held while the instance runs.
    state_lock: Option<File>,
    /// Keeps the global tables' stores up to date, when the topology has any.
    global_thread: Option<GlobalThread>,
    /// Decides about records whose processing fails, when set (instead of
    /// `processing.exception.handler`).
    processing_handler: Option<ProcessingExceptionHandler>,
    /// Hands tasks' state over between standby copies and the stream threads.
    standby_control: Arc<StandbyControl>,
    /// Keeps standby copies, when `num.standby.replicas` is above 0.
    standby_thread: Option<StandbyThread>,
}

/// Locks the application's state directory for this instance.
fn lock_state_dir(config: &StreamsConfig) -> Result<File, StreamsError> {
    let dir = config.state_dir.join(&config.application_id);
    let io = |operation, source| {
        StreamsError::State(tributary_state::StateError::Io {
            operation,
            path: dir.clone(),
            source,
        })
    };
    std::fs::create_dir_all(&dir).map_err(|e| io("create the state directory", e))?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .map_err(|e| io("open the state directory's lock file in", e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StreamsError::StateDirLocked { path: dir }),
        Err(TryLockError::Error(e)) => Err(io("lock", e)),
    }
}

/// The id of the process that runs the application from this state directory: read from
/// `<state.dir>/<application.id>/.process-id`, or created there (a random UUID) on the
/// first start. As in Kafka Streams, a restart on the same state directory keeps its id,
/// so that its stream threads' transactional ids fence the producers of the run before it
/// (aborting what they left open) instead of waiting for their transactions to time out.
fn process_id(config: &StreamsConfig) -> Result<String, StreamsError> {
    let path = config
        .state_dir
        .join(&config.application_id)
        .join(".process-id");
    let io = |operation, source| {
        StreamsError::State(tributary_state::StateError::Io {
            operation,
            path: path.clone(),
            source,
        })
    };
    match std::fs::read_to_string(&path) {
        Ok(id) if uuid::Uuid::parse_str(id.trim()).is_ok() => return Ok(id.trim().to_owned()),
        Ok(_) => tracing::warn!(path = %path.display(), "replacing an unreadable process id"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("read the process id", e)),
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(&path, &id).map_err(|e| io("write the process id", e))?;
    Ok(id)
}

impl KafkaStreams {
    /// An instance of `topology` configured by `config`, not yet started.
    pub fn new(topology: Topology, config: StreamsConfig) -> Self {
        let shutdown = Arc::new(AtomicBool::new(false));
        let lifecycle = Lifecycle {
            shutdown: shutdown.clone(),
            state: Mutex::new(StreamsState::Created),
            listener: Mutex::new(None),
            failure_handler: Mutex::new(None),
            ready: Mutex::new(vec![false; config.num_stream_threads.max(1)]),
        };
        Self {
            registry: Arc::new(StoreRegistry::new(&topology)),
            directory: Arc::new(Directory::default()),
            metrics: Arc::new(Metrics::new()),
            server: None,
            directory_thread: None,
            topology,
            config,
            lifecycle: Arc::new(lifecycle),
            shutdown,
            threads: Vec::new(),
            state_lock: None,
            global_thread: None,
            processing_handler: None,
            standby_control: Arc::default(),
            standby_thread: None,
        }
    }

    /// Calls `listener(old, new)` on every state change.
    pub fn set_state_listener(
        &self,
        listener: impl Fn(StreamsState, StreamsState) + Send + Sync + 'static,
    ) {
        *self
            .lifecycle
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Box::new(listener));
    }

    /// Decides what happens when a stream thread fails (Kafka Streams'
    /// `setUncaughtExceptionHandler`): `handler(error)` answers
    /// [`ThreadFailureResponse::ReplaceThread`] or [`ThreadFailureResponse::ShutdownClient`].
    /// Without a handler, a failed thread shuts the instance down.
    pub fn set_uncaught_error_handler(
        &self,
        handler: impl Fn(&StreamsError) -> ThreadFailureResponse + Send + Sync + 'static,
    ) {
        *self
            .lifecycle
            .failure_handler
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Box::new(handler));
    }

    /// Decides about records whose processing fails (a processor's error, a fallible DSL
    /// function's `Err`, a panic in a user function), instead of
    /// `processing.exception.handler` (Kafka Streams' `ProcessingExceptionHandler`): `handler`
    /// is told where the record came from and the error, and answers
    /// [`ProcessingResponse::Fail`] or [`ProcessingResponse::Continue`] (skip it, to the
    /// dead-letter topic when there is one). Set it before [`KafkaStreams::start`]; it runs
    /// on the stream threads.
    pub fn set_processing_exception_handler(
        &mut self,
        handler: impl Fn(&ErrorContext<'_>, &StreamsError) -> ProcessingResponse + Send + Sync + 'static,
    ) {
        self.processing_handler = Some(Arc::new(handler));
    }

    /// The current state.
    pub fn state(&self) -> StreamsState {
        self.lifecycle.get()
    }

    /// Where the query server listens, once started (`application.server`, with the port
    /// filled in when it was 0); `None` before `start` or when the server is off.
    pub fn server_address(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(QueryServer::address)
    }

    /// The stores of this instance, for in-process queries: which partitions it hosts,
    /// with read handles and change feeds (what the HTTP server reads).
    pub fn stores(&self) -> Arc<StoreRegistry> {
        self.registry.clone()
    }

    /// Every instance of the application this one knows of.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.clone()
    }

    /// This instance's metrics (what `GET /metrics` serves).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Starts the query server and the instance directory, when `application.server` is
    /// set.
    fn start_queries(&mut self, admin: &TopicAdmin) -> Result<(), StreamsError> {
        let Some(bind) = self.config.application_server.clone() else {
            return Ok(());
        };
        let topic = instances_topic(&self.config.application_id);
        admin.create_topic(&topic, 1, &[("cleanup.policy", "compact")])?;
        let lifecycle = self.lifecycle.clone();
        let registry = self.registry.clone();
        let server = QueryServer::start(
            &bind,
            ServerParts {
                registry: self.registry.clone(),
                directory: self.directory.clone(),
                metrics: self.metrics.clone(),
                token: self.config.query_auth_token.clone(),
                acceptable_recovery_lag: self.config.acceptable_recovery_lag,
                ready: Box::new(move || {
                    lifecycle.get() == StreamsState::Running && !registry.any_restoring()
                }),
            },
        )?;
        let address = server.address().to_string();
        self.server = Some(server);
        self.directory_thread = Some(DirectoryThread::start(
            &self.config,
            address,
            self.registry.clone(),
            self.directory.clone(),
        )?);
        Ok(())
    }

    /// Checks the topics, creates the internal ones, and starts the stream threads.
    ///
    /// # Errors
    /// [`StreamsError::StateDirLocked`] when another instance on this machine uses the same
    /// `state.dir`; a missing source topic or a co-partitioning mismatch (naming the topics
    /// and their partition counts); or a Kafka error. The instance then stays created.
    pub fn start(&mut self) -> Result<(), StreamsError> {
        if self.state() != StreamsState::Created {
            return Err(StreamsError::Config {
                key: "KafkaStreams::start".into(),
                reason: format!(
                    "the instance is {:?}; only a created instance can start",
                    self.state()
                ),
            });
        }
        if self.config.num_standby_replicas > 0 && self.config.application_server.is_none() {
            return Err(StreamsError::Config {
                key: "num.standby.replicas".into(),
                reason: "standby replicas are placed through the instance directory, which \
                         needs `application.server`; set it, or set `num.standby.replicas = 0`"
                    .into(),
            });
        }
        let state_lock = lock_state_dir(&self.config)?;
        let app = self.config.application_id.clone();
        let admin = TopicAdmin::new(&self.config)?;
        let mut partitions = admin.prepare(&self.topology, &app)?;
        if let Some(topic) = &self.config.dead_letter_topic {
            admin
                .create_topic(topic, 1, &[])
                .map_err(|e| StreamsError::Config {
                    key: "errors.dead.letter.queue.topic.name".into(),
                    reason: format!("cannot create the dead-letter topic `{topic}`: {e}"),
                })?;
            partitions.extend(admin.partition_counts(std::slice::from_ref(topic))?);
        }
        self.registry
            .set_partitions(&self.topology, &app, &partitions);
        self.start_queries(&admin)?;
        let mut options = TaskOptions::from_config(&self.config, &self.topology, partitions);
        if let Some(handler) = &self.processing_handler {
            options = options.with_processing_handler(handler.clone());
        }
        if !self.topology.global_tables().is_empty() {
            let lifecycle = self.lifecycle.clone();
            let (thread, readers) = GlobalThread::start(GlobalParts {
                topology: self.topology.clone(),
                config: self.config.clone(),
                options: options.clone(),
                registry: self.registry.clone(),
                shutdown: self.shutdown.clone(),
                on_failure: Arc::new(move |_| {
                    lifecycle.set(StreamsState::Error);
                    lifecycle.shutdown.store(true, Ordering::Release);
                }),
            })?;
            self.global_thread = Some(thread);
            options = options.with_globals(readers);
        }
        self.state_lock = Some(state_lock);
        self.lifecycle.set(StreamsState::Rebalancing);
        let events: Arc<dyn ThreadEvents> = self.lifecycle.clone();
        let shared = ThreadShared {
            shutdown: self.shutdown.clone(),
            events,
            registry: self.registry.clone(),
            metrics: self.metrics.clone(),
            process_id: process_id(&self.config)?,
            standbys: self.standby_control.clone(),
        };
        for index in 0..self.config.num_stream_threads.max(1) {
            let thread = StreamThread::spawn(
                index,
                self.topology.clone(),
                self.config.clone(),
                options.clone(),
                shared.clone(),
            )?;
            self.threads.push(thread);
        }
        if let Some(address) = self.server_address()
            && self.config.num_standby_replicas > 0
        {
            self.standby_thread = Some(StandbyThread::start(StandbyParts {
                topology: self.topology.clone(),
                config: self.config.clone(),
                options,
                registry: self.registry.clone(),
                directory: self.directory.clone(),
                control: self.standby_control.clone(),
                address: address.to_string(),
            })?);
        }
        Ok(())
    }

    /// Stops the threads: each commits its progress and closes its tasks. Waits up to
    /// `timeout` for them.
    ///
    /// # Errors
    /// The first error a thread stopped with, or a timeout.
    pub fn close(&mut self, timeout: Duration) -> Result<(), StreamsError> {
        self.lifecycle.set(StreamsState::PendingShutdown);
        self.shutdown.store(true, Ordering::Release);
        let deadline = Instant::now() + timeout;
        let running = |s: &Self| {
            s.threads.iter().any(|t| !t.is_finished())
                || s.global_thread.as_ref().is_some_and(|g| !g.is_finished())
        };
        while running(self) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if running(self) {
            return Err(StreamsError::Lifecycle {
                doing: "close the stream threads".into(),
                reason: format!("they did not stop within {timeout:?}"),
            });
        }
        let mut result = Ok(());
        for thread in self.threads.drain(..) {
            if let Err(e) = thread.join() {
                self.lifecycle.set(StreamsState::Error);
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        if let Some(global) = self.global_thread.take()
            && let Err(e) = global.join()
        {
            self.lifecycle.set(StreamsState::Error);
            if result.is_ok() {
                result = Err(e);
            }
        }
        if let Some(mut standbys) = self.standby_thread.take() {
            standbys.stop();
        }
        // The threads released their stores (subscriptions ended with `moved`); now leave
        // the directory and stop answering.
        if let Some(mut directory) = self.directory_thread.take() {
            directory.stop();
        }
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        self.state_lock = None;
        // As Kafka Streams (PENDING_ERROR -> ERROR): an instance that failed stays failed.
        self.lifecycle.set(match result {
            Ok(()) => StreamsState::NotRunning,
            Err(_) => StreamsState::Error,
        });
        result
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        if !self.threads.is_empty() || self.global_thread.is_some() {
            let _ = self.close(Duration::from_secs(30));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StreamsState::*;

    #[test]
    fn shutdown_is_one_way() {
        assert!(Rebalancing.can_become(Running));
        assert!(
            !PendingShutdown.can_become(Running),
            "a late assignment must not revive a closing instance"
        );
        assert!(!NotRunning.can_become(Rebalancing));
        assert!(Error.can_become(NotRunning));
        assert!(!Running.can_become(Running));
    }
}
