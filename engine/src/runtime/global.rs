//! The global thread (Kafka Streams' `GlobalStreamThread`): restores the global tables'
//! stores from their topics before the stream threads start, then keeps applying what is
//! written to those topics.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tributary_state::ValueReader;

use crate::config::StreamsConfig;
use crate::discovery::StoreRegistry;
use crate::error::StreamsError;
use crate::kafka::{GlobalConsumer, Polled};
use crate::task::{GlobalStore, RestoreRecord, TaskOptions};
use crate::topology::Topology;

/// Records applied per store write while restoring.
const RESTORE_BATCH: usize = 10_000;

/// Called when the global thread fails after its stores were restored.
pub(crate) type OnFailure = Arc<dyn Fn(&StreamsError) + Send + Sync>;

/// The running global thread.
pub(crate) struct GlobalThread {
    handle: JoinHandle<Result<(), StreamsError>>,
}

/// What the global thread needs.
pub(crate) struct GlobalParts {
    pub(crate) topology: Topology,
    pub(crate) config: StreamsConfig,
    pub(crate) options: TaskOptions,
    pub(crate) registry: Arc<StoreRegistry>,
    pub(crate) shutdown: Arc<AtomicBool>,
    pub(crate) on_failure: OnFailure,
}

impl GlobalThread {
    /// Starts the thread and waits until every global store has caught up with its topic
    /// (as of the start); returns the stores' read handles for the tasks.
    ///
    /// # Errors
    /// When a store cannot be opened, the topics cannot be read, or shutdown was asked
    /// for before the stores caught up.
    pub(crate) fn start(parts: GlobalParts) -> Result<(Self, Vec<Arc<ValueReader>>), StreamsError> {
        let (ready, restored) = mpsc::sync_channel(1);
        let shutdown = parts.shutdown.clone();
        let name = format!("{}-global", parts.config.application_id);
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(parts, ready))
            .map_err(|e| StreamsError::Lifecycle {
                doing: "start the global thread".into(),
                reason: e.to_string(),
            })?;
        let thread = Self { handle };
        loop {
            match restored.recv_timeout(Duration::from_millis(100)) {
                Ok(readers) => return Ok((thread, readers)),
                Err(RecvTimeoutError::Timeout) if !shutdown.load(Ordering::Acquire) => {}
                Err(_) => {
                    return Err(thread.join().err().unwrap_or(StreamsError::Lifecycle {
                        doing: "restore the global tables".into(),
                        reason: "the instance was closed before they caught up".into(),
                    }));
                }
            }
        }
    }

    /// Whether the thread has stopped.
    pub(crate) fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the thread; its error, if it failed.
    pub(crate) fn join(self) -> Result<(), StreamsError> {
        self.handle.join().unwrap_or_else(|_| {
            Err(StreamsError::Lifecycle {
                doing: "run the global thread".into(),
                reason: "it panicked".into(),
            })
        })
    }
}

fn run(parts: GlobalParts, ready: SyncSender<Vec<Arc<ValueReader>>>) -> Result<(), StreamsError> {
    let result = run_stores(&parts, ready);
    // The stores close with their last reader: the registry must not keep them open.
    parts.registry.release_globals();
    result
}

fn run_stores(
    parts: &GlobalParts,
    ready: SyncSender<Vec<Arc<ValueReader>>>,
) -> Result<(), StreamsError> {
    let mut stores = parts
        .topology
        .global_tables()
        .iter()
        .map(|table| GlobalStore::open(table, &parts.options))
        .collect::<Result<Vec<_>, _>>()?;
    for store in &stores {
        parts
            .registry
            .host_global(store.spec().name(), store.reader(), store.feed());
    }
    let by_topic: HashMap<String, usize> = stores
        .iter()
        .enumerate()
        .map(|(i, s)| (s.topic().to_owned(), i))
        .collect();
    let mut assignment = Vec::new();
    for store in &stores {
        let partitions = parts.options.partitions().get(store.topic()).copied();
        let partitions = partitions.ok_or_else(|| StreamsError::Lifecycle {
            doing: format!("read global table topic `{}`", store.topic()),
            reason: "its partition count is unknown".into(),
        })?;
        for partition in 0..partitions {
            assignment.push((
                store.topic().to_owned(),
                partition,
                store.next_offset(partition),
            ));
        }
    }
    let mut consumer = GlobalConsumer::new(&parts.config, &assignment)?;
    restore(&mut consumer, &mut stores, &by_topic, &parts.shutdown)?;
    parts.registry.activate_globals();
    tracing::info!(stores = stores.len(), "global tables restored");
    if ready
        .send(stores.iter().map(GlobalStore::reader).collect())
        .is_err()
    {
        return Ok(());
    }
    let result = keep_up(parts, &mut consumer, &mut stores, &by_topic);
    if let Err(e) = &result {
        tracing::error!(error = %e, "the global thread failed");
        (parts.on_failure)(e);
    }
    result
}

/// Reads every partition up to where it ended at the start, applying records as they are.
fn restore(
    consumer: &mut GlobalConsumer,
    stores: &mut [GlobalStore],
    by_topic: &HashMap<String, usize>,
    shutdown: &AtomicBool,
) -> Result<(), StreamsError> {
    let mut batches: HashMap<(usize, i32), Vec<RestoreRecord>> = HashMap::new();
    while !consumer.caught_up() {
        if shutdown.load(Ordering::Acquire) {
            return Err(StreamsError::Lifecycle {
                doing: "restore the global tables".into(),
                reason: "the instance was closed before they caught up".into(),
            });
        }
        let Polled::Record {
            topic,
            partition,
            record,
        } = consumer.poll(Duration::from_millis(100))?
        else {
            continue;
        };
        let (Some(&store), Some(key)) = (by_topic.get(&topic), record.key) else {
            continue;
        };
        let batch = batches.entry((store, partition)).or_default();
        batch.push(RestoreRecord {
            offset: record.offset,
            key,
            value: record.value,
            timestamp: record.timestamp,
        });
        if batch.len() >= RESTORE_BATCH {
            stores[store].restore_batch(partition, batch)?;
            batch.clear();
        }
    }
    for ((store, partition), batch) in batches {
        stores[store].restore_batch(partition, &batch)?;
    }
    stores.iter_mut().try_for_each(GlobalStore::checkpoint)
}

/// Applies new records until shutdown, checkpointing every commit interval.
fn keep_up(
    parts: &GlobalParts,
    consumer: &mut GlobalConsumer,
    stores: &mut [GlobalStore],
    by_topic: &HashMap<String, usize>,
) -> Result<(), StreamsError> {
    let interval = Duration::from_millis(parts.config.commit_interval_ms);
    let mut last_checkpoint = Instant::now();
    while !parts.shutdown.load(Ordering::Acquire) {
        if let Polled::Record {
            topic,
            partition,
            record,
        } = consumer.poll(Duration::from_millis(100))?
            && let Some(&store) = by_topic.get(&topic)
        {
            stores[store].apply(partition, &record)?;
        }
        if last_checkpoint.elapsed() >= interval {
            stores.iter_mut().try_for_each(GlobalStore::checkpoint)?;
            last_checkpoint = Instant::now();
        }
    }
    stores.iter_mut().try_for_each(GlobalStore::checkpoint)
}
