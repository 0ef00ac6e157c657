//! Instance discovery: every instance publishes its address and the store partitions it
//! hosts to the compacted topic `<application.id>-instances`, and reads everyone else's, so
//! that each one knows which instance owns which partition.
//!
//! An instance publishes whenever what it hosts changes (a rebalance, a restore finishing)
//! and every [`HEARTBEAT`] besides; a record older than [`EXPIRY`] is a dead instance's. On
//! a clean shutdown it deletes its record (a tombstone). When two instances claim one
//! partition (a dead instance's record has not expired yet), the newer claim wins.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::background::BackgroundThread;
use crate::config::StreamsConfig;
use crate::discovery::StoreRegistry;
use crate::error::StreamsError;
use crate::kafka::{ClientRole, client_config, kafka_error};
use crate::names::instances_topic;

/// How often an instance republishes its record even when nothing changed.
pub const HEARTBEAT: Duration = Duration::from_secs(3);
/// How old an instance's last record may be before the instance counts as gone.
pub const EXPIRY: Duration = Duration::from_secs(10);

/// Records of other instances read between two checks of whether to publish.
const READS_PER_ROUND: usize = 1000;

/// Which partitions of one store an instance hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedStore {
    /// Partitions it serves queries for.
    pub active: Vec<i32>,
    /// Partitions it is restoring (it will own them once restored).
    pub restoring: Vec<i32>,
    /// Partitions it keeps standby copies of (`num.standby.replicas`).
    #[serde(default)]
    pub standby: Vec<i32>,
}

/// What an instance publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// Where its HTTP server answers (`host:port`); identifies the instance.
    pub address: String,
    /// Wall-clock time (ms) its hosted partitions last changed: the newer claim wins.
    pub assigned_ms: i64,
    /// Wall-clock time (ms) of this record.
    pub heartbeat_ms: i64,
    /// Store name → the partitions it hosts.
    pub stores: BTreeMap<String, HostedStore>,
}

/// The instance that owns a store partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Its address.
    pub address: String,
    /// Whether it is still restoring the partition.
    pub restoring: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Every instance this one knows of, by address.
#[derive(Default)]
pub struct Directory {
    instances: RwLock<HashMap<String, InstanceInfo>>,
}

impl Directory {
    fn live(info: &InstanceInfo, now: i64) -> bool {
        now - info.heartbeat_ms < EXPIRY.as_millis() as i64
    }

    /// Records `info` (or forgets `address` when `info` is `None`).
    pub fn update(&self, address: &str, info: Option<InstanceInfo>) {
        let mut instances = self.instances.write().unwrap_or_else(|p| p.into_inner());
        match info {
            Some(info) => instances.insert(address.to_owned(), info),
            None => instances.remove(address),
        };
    }

    /// Every live instance, by address.
    pub fn instances(&self) -> Vec<InstanceInfo> {
        let now = now_ms();
        let instances = self.instances.read().unwrap_or_else(|p| p.into_inner());
        let mut live: Vec<InstanceInfo> = instances
            .values()
            .filter(|i| Self::live(i, now))
            .cloned()
            .collect();
        live.sort_by(|a, b| a.address.cmp(&b.address));
        live
    }

    /// The live instance with the newest claim on `partition` of `store`.
    pub fn owner(&self, store: &str, partition: i32) -> Option<Owner> {
        let now = now_ms();
        let instances = self.instances.read().unwrap_or_else(|p| p.into_inner());
        instances
            .values()
            .filter(|i| Self::live(i, now))
            .filter_map(|i| {
                let hosted = i.stores.get(store)?;
                let restoring = hosted.restoring.contains(&partition);
                (restoring || hosted.active.contains(&partition)).then_some((i, restoring))
            })
            .max_by_key(|(i, _)| i.assigned_ms)
            .map(|(i, restoring)| Owner {
                address: i.address.clone(),
                restoring,
            })
    }
}

/// This instance's record, built from what `registry` says it hosts.
fn describe(registry: &StoreRegistry, address: &str, assigned_ms: i64) -> InstanceInfo {
    let mut stores: BTreeMap<String, HostedStore> = registry
        .stores()
        .iter()
        .map(|s| (s.spec.name().to_owned(), HostedStore::default()))
        .collect();
    for (index, partition, restoring) in registry.snapshot() {
        let name = registry.stores()[index].spec.name();
        let hosted = stores.entry(name.to_owned()).or_default();
        if restoring {
            hosted.restoring.push(partition);
        } else {
            hosted.active.push(partition);
        }
    }
    for (index, partition) in registry.standby_partitions() {
        let name = registry.stores()[index].spec.name();
        stores
            .entry(name.to_owned())
            .or_default()
            .standby
            .push(partition);
    }
    InstanceInfo {
        address: address.to_owned(),
        assigned_ms,
        heartbeat_ms: now_ms(),
        stores,
    }
}

/// The thread that publishes this instance and reads the others.
pub(crate) struct DirectoryThread {
    thread: BackgroundThread,
}

impl DirectoryThread {
    /// Starts publishing `address` with what `registry` hosts to the instances topic, and
    /// reading that topic into `directory`.
    pub(crate) fn start(
        config: &StreamsConfig,
        address: String,
        registry: Arc<StoreRegistry>,
        directory: Arc<Directory>,
    ) -> Result<Self, StreamsError> {
        let topic = instances_topic(&config.application_id);
        let mut consumer_config = client_config(config, ClientRole::RestoreConsumer);
        consumer_config
            .set(
                "client.id",
                crate::names::client_id(&config.application_id, "directory-consumer"),
            )
            .set("fetch.wait.max.ms", "100");
        let consumer: BaseConsumer = consumer_config
            .create()
            .map_err(kafka_error("create the instance directory's consumer"))?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, 0, Offset::Beginning)
            .map_err(kafka_error("list the instances topic"))?;
        consumer
            .assign(&assignment)
            .map_err(kafka_error("read the instances topic"))?;
        let mut producer_config = client_config(config, ClientRole::Producer);
        producer_config
            .set(
                "client.id",
                crate::names::client_id(&config.application_id, "directory-producer"),
            )
            .set("linger.ms", "0");
        let producer: BaseProducer = producer_config
            .create()
            .map_err(kafka_error("create the instance directory's producer"))?;
        let publisher = Publisher {
            topic,
            address,
            registry,
            directory,
            producer,
            published_version: None,
            assigned_ms: now_ms(),
            last_publish: Instant::now(),
        };
        let thread = BackgroundThread::spawn(
            crate::names::client_id(&config.application_id, "directory"),
            "the instance directory thread",
            move |stop| publisher.run(&consumer, stop),
        )?;
        Ok(Self { thread })
    }

    /// Deletes this instance's record and stops.
    pub(crate) fn stop(&mut self) {
        self.thread.stop();
    }
}

struct Publisher {
    topic: String,
    address: String,
    registry: Arc<StoreRegistry>,
    directory: Arc<Directory>,
    producer: BaseProducer,
    published_version: Option<u64>,
    assigned_ms: i64,
    last_publish: Instant,
}

impl Publisher {
    fn run(mut self, consumer: &BaseConsumer, stop: &AtomicBool) {
        while !stop.load(Ordering::Acquire) {
            self.publish_if_due();
            self.producer.poll(Duration::ZERO);
            // A bounded number per round, so that publishing keeps its rhythm however many
            // instances there are.
            for _ in 0..READS_PER_ROUND {
                match consumer.poll(Duration::from_millis(100)) {
                    None => break,
                    Some(Ok(message)) => self.read(&message),
                    Some(Err(error)) => {
                        tracing::warn!(%error, "reading the instances topic failed; retrying");
                        break;
                    }
                }
            }
        }
        // A clean stop: the others forget this instance at once.
        self.directory.update(&self.address, None);
        let tombstone = BaseRecord::<str, [u8]>::to(&self.topic).key(self.address.as_str());
        if self.producer.send(tombstone).is_ok() {
            let _ = self.producer.flush(Duration::from_secs(2));
        }
    }

    fn read(&self, message: &rdkafka::message::BorrowedMessage<'_>) {
        let Some(Ok(address)) = message.key().map(std::str::from_utf8) else {
            return;
        };
        if address == self.address {
            // This instance knows itself first-hand.
            return;
        }
        match message
            .payload()
            .map(serde_json::from_slice::<InstanceInfo>)
        {
            None => self.directory.update(address, None),
            Some(Ok(info)) => self.directory.update(address, Some(info)),
            Some(Err(error)) => {
                tracing::warn!(%address, %error, "ignoring an unreadable record on the instances topic");
            }
        }
    }

    fn publish_if_due(&mut self) {
        let version = self.registry.version();
        let changed = self.published_version != Some(version);
        if !changed && self.last_publish.elapsed() < HEARTBEAT {
            return;
        }
        if changed {
            self.assigned_ms = now_ms();
        }
        let info = describe(&self.registry, &self.address, self.assigned_ms);
        let payload = serde_json::to_vec(&info).expect("instance records serialize");
        self.directory.update(&self.address, Some(info));
        let record = BaseRecord::<str, [u8]>::to(&self.topic)
            .key(self.address.as_str())
            .payload(&payload);
        match self.producer.send(record) {
            Ok(()) => {
                self.published_version = Some(version);
                self.last_publish = Instant::now();
            }
            Err((error, _)) => {
                tracing::warn!(%error, "publishing this instance failed; retrying");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(address: &str, assigned_ms: i64, active: &[i32], restoring: &[i32]) -> InstanceInfo {
        let hosted = HostedStore {
            active: active.to_vec(),
            restoring: restoring.to_vec(),
            standby: Vec::new(),
        };
        InstanceInfo {
            address: address.into(),
            assigned_ms,
            heartbeat_ms: now_ms(),
            stores: [("s".to_owned(), hosted)].into(),
        }
    }

    #[test]
    fn the_newest_claim_owns_a_partition() {
        let directory = Directory::default();
        directory.update("a", Some(info("a", 100, &[0, 1], &[])));
        directory.update("b", Some(info("b", 200, &[2], &[1])));
        let owner = |p| directory.owner("s", p).map(|o| (o.address, o.restoring));
        assert_eq!(owner(0), Some(("a".into(), false)));
        assert_eq!(owner(1), Some(("b".into(), true)));
        assert_eq!(owner(3), None);
        assert_eq!(directory.owner("other", 0), None);
    }

    #[test]
    fn expired_and_deleted_instances_own_nothing() {
        let directory = Directory::default();
        let mut stale = info("a", 100, &[0], &[]);
        stale.heartbeat_ms -= EXPIRY.as_millis() as i64 + 1;
        directory.update("a", Some(stale));
        directory.update("b", Some(info("b", 50, &[1], &[])));
        assert_eq!(directory.owner("s", 0), None);
        assert_eq!(directory.instances().len(), 1);
        directory.update("b", None);
        assert_eq!(directory.owner("s", 1), None);
    }
}
