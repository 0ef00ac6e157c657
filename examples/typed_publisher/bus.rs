//! A typed publishing API on Kafka (seed 002): `publish(&message)` checks a message against
//! the JSON Schema derived from its Rust type and buffers it; `flush()` sends everything
//! buffered in one Kafka transaction — all of it or none of it. The topic of each message
//! type comes from settings. [`Subscriber`] is the other side: typed handlers, one per
//! message type, fed from the types' topics.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde::ser::Serialize;

/// A message the bus can carry: any type that serializes and has a JSON Schema. Its
/// schema name (the type's name unless renamed) picks its topic in [`BusSettings::topics`].
pub trait Message: Serialize + DeserializeOwned + JsonSchema {}
impl<T: Serialize + DeserializeOwned + JsonSchema> Message for T {}

/// The bus's settings, from TOML (unknown keys are refused):
///
/// ```toml
/// "bootstrap.servers" = "localhost:9092"
/// "transactional.id" = "checkout"
/// [topics]
/// OrderPlaced = "checkout.order-placed"
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusSettings {
    #[serde(rename = "bootstrap.servers")]
    pub bootstrap_servers: String,
    /// One per publishing process: a new process with the same id fences the old one.
    #[serde(rename = "transactional.id")]
    pub transactional_id: String,
    /// Message type name → topic.
    pub topics: HashMap<String, String>,
}

impl BusSettings {
    /// The topic of message type `name`.
    fn topic(&self, name: &str) -> Result<&str, BusError> {
        self.topics
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| BusError::NoTopic(name.to_owned()))
    }
}

/// What went wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("{message_type} is invalid at `{field}`: {reason}; nothing was buffered")]
    Invalid {
        message_type: String,
        /// A JSON pointer to the offending field, such as `/lines/0/quantity`.
        field: String,
        reason: String,
    },
    #[error(
        "no topic for message type {0}: add `{0} = \"<topic>\"` under [topics] in the bus settings"
    )]
    NoTopic(String),
    #[error(
        "flushing {count} messages failed at message {failed} ({message_type}); the transaction was aborted, nothing of it is visible to read_committed consumers, and the messages stay buffered: {source}"
    )]
    Flush {
        count: usize,
        failed: usize,
        message_type: String,
        source: KafkaError,
    },
    #[error("{context}: {source}")]
    Kafka {
        context: &'static str,
        source: KafkaError,
    },
    #[error("message {topic}/{partition}@{offset} is not a valid {message_type}: {reason}")]
    Undecodable {
        topic: String,
        partition: i32,
        offset: i64,
        message_type: String,
        reason: String,
    },
    #[error("the handler of {message_type} failed on {topic}/{partition}@{offset}: {reason}")]
    Handler {
        topic: String,
        partition: i32,
        offset: i64,
        message_type: String,
        reason: String,
    },
}

fn kafka(context: &'static str) -> impl FnOnce(KafkaError) -> BusError {
    move |source| BusError::Kafka { context, source }
}

/// One buffered message, serialized and checked.
struct Pending {
    message_type: String,
    topic: String,
    key: String,
    payload: Vec<u8>,
}

/// Publishes typed messages in transactions.
pub struct EventBus {
    settings: BusSettings,
    /// Polled by a thread of its own, so delivery reports flow while a commit or an
    /// abort waits for them.
    producer: ThreadedProducer<DefaultProducerContext>,
    validators: HashMap<String, jsonschema::Validator>,
    pending: Vec<Pending>,
    timeout: Duration,
}

impl EventBus {
    /// Connects a transactional producer (fencing an older process with the same
    /// `transactional.id`).
    pub fn connect(settings: BusSettings) -> Result<Self, BusError> {
        Self::connect_with(settings, &[])
    }

    /// Like [`EventBus::connect`], with librdkafka producer settings on top (tests make the
    /// largest message small, for instance).
    pub fn connect_with(settings: BusSettings, extra: &[(&str, &str)]) -> Result<Self, BusError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &settings.bootstrap_servers)
            .set("transactional.id", &settings.transactional_id)
            // Java's partitioner, so that Kafka Streams and Tributary agree on keys' partitions.
            .set("partitioner", "murmur2_random");
        for (key, value) in extra {
            config.set(*key, *value);
        }
        let producer: ThreadedProducer<DefaultProducerContext> =
            config.create().map_err(kafka("creating the producer"))?;
        let timeout = Duration::from_secs(30);
        producer.init_transactions(timeout).map_err(kafka(
            "initializing transactions (does the broker support them?)",
        ))?;
        Ok(Self {
            settings,
            producer,
            validators: HashMap::new(),
            pending: Vec::new(),
            timeout,
        })
    }

    /// Checks `message` against its type's JSON Schema and buffers it under `key` (records
    /// with one key stay in order). Nothing is sent before [`EventBus::flush`].
    pub fn publish<M: Message>(&mut self, key: &str, message: &M) -> Result<(), BusError> {
        let name = M::schema_name().into_owned();
        let topic = self.settings.topic(&name)?.to_owned();
        let value = serde_json::to_value(message).map_err(|e| BusError::Invalid {
            message_type: name.clone(),
            field: String::new(),
            reason: e.to_string(),
        })?;
        let validator = match self.validators.entry(name.clone()) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let schema =
                    serde_json::to_value(schemars::schema_for!(M)).expect("a schema serializes");
                let validator = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("the schema derived for {name} is valid: {e}"));
                entry.insert(validator)
            }
        };
        if let Some(error) = validator.iter_errors(&value).next() {
            return Err(BusError::Invalid {
                message_type: name,
                field: error.instance_path.to_string(),
                reason: error.to_string(),
            });
        }
        self.pending.push(Pending {
            message_type: name,
            topic,
            key: key.to_owned(),
            payload: value.to_string().into_bytes(),
        });
        Ok(())
    }

    /// Messages buffered and not yet flushed.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// Drops the buffered messages.
    pub fn discard(&mut self) {
        self.pending.clear();
    }

    /// Sends every buffered message in one transaction and waits until it is committed;
    /// returns how many were sent. When any of them fails, the transaction is aborted —
    /// none of them becomes visible to read_committed consumers — and they stay buffered.
    pub fn flush(&mut self) -> Result<usize, BusError> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        self.producer
            .begin_transaction()
            .map_err(kafka("beginning a transaction"))?;
        let count = self.pending.len();
        let sent = self.send_all().and_then(|()| {
            self.producer
                .commit_transaction(self.timeout)
                .map_err(|e| (count - 1, e))
        });
        match sent {
            Ok(()) => {
                self.pending.clear();
                Ok(count)
            }
            Err((failed, source)) => {
                self.producer
                    .abort_transaction(self.timeout)
                    .map_err(kafka("aborting the failed transaction"))?;
                Err(BusError::Flush {
                    count,
                    failed,
                    message_type: self.pending[failed].message_type.clone(),
                    source,
                })
            }
        }
    }

    /// Hands every buffered message to the producer; the index of the one refused.
    fn send_all(&self) -> Result<(), (usize, KafkaError)> {
        for (index, pending) in self.pending.iter().enumerate() {
            let mut record = BaseRecord::to(&pending.topic)
                .key(&pending.key)
                .payload(&pending.payload);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((error, returned))
                        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) =>
                    {
                        // The local queue is full: let deliveries catch up.
                        record = returned;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err((error, _)) => return Err((index, error)),
                }
            }
        }
        Ok(())
    }
}

/// Why a message was not handled.
enum Unhandled {
    Undecodable(String),
    Failed(String),
}

/// A handler of one message type, behind the type's decoding.
type Dispatch = Box<dyn FnMut(&[u8]) -> Result<(), Unhandled>>;

/// Typed consumers: each message type's handler gets the messages of the type's topic,
/// decoded, from committed transactions only. A message's offset is committed only after
/// its handler succeeded (at least once).
pub struct Subscriber {
    settings: BusSettings,
    group: String,
    handlers: HashMap<String, (String, Dispatch)>,
    extra: Vec<(String, String)>,
}

impl Subscriber {
    /// A subscriber in consumer group `group`.
    pub fn new(settings: BusSettings, group: &str) -> Self {
        Self {
            settings,
            group: group.to_owned(),
            handlers: HashMap::new(),
            extra: Vec::new(),
        }
    }

    /// Sets a librdkafka consumer setting, such as `session.timeout.ms`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.extra.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Calls `handler` with every message of type `M`.
    pub fn on<M: Message, E: std::fmt::Display>(
        mut self,
        mut handler: impl FnMut(M) -> Result<(), E> + 'static,
    ) -> Result<Self, BusError> {
        let name = M::schema_name().into_owned();
        let topic = self.settings.topic(&name)?.to_owned();
        let dispatch: Dispatch = Box::new(move |payload| {
            let message: M = serde_json::from_slice(payload)
                .map_err(|e| Unhandled::Undecodable(e.to_string()))?;
            handler(message).map_err(|e| Unhandled::Failed(e.to_string()))
        });
        self.handlers.insert(topic, (name, dispatch));
        Ok(self)
    }

    /// Subscribes and dispatches messages until `done` says stop; returns how many were
    /// handled. A message that does not decode or whose handler fails stops it with an error
    /// naming the message; its offset is not stored for the commit, so it is read again
    /// next time.
    pub fn run(mut self, mut done: impl FnMut(usize) -> bool) -> Result<usize, BusError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.settings.bootstrap_servers)
            .set("group.id", &self.group)
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            // Offsets are stored once a message is handled and committed every 5 s.
            .set("enable.auto.offset.store", "false");
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        let consumer: BaseConsumer = config.create().map_err(kafka("creating the consumer"))?;
        let topics: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(kafka("subscribing to the message types' topics"))?;
        let mut handled = 0;
        while !done(handled) {
            let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = polled.map_err(kafka("consuming"))?;
            let (type_name, dispatch) = self
                .handlers
                .get_mut(message.topic())
                .expect("subscribed to the handlers' topics only");
            dispatch(message.payload().unwrap_or_default()).map_err(|unhandled| {
                let (topic, partition, offset) = (
                    message.topic().to_owned(),
                    message.partition(),
                    message.offset(),
                );
                let message_type = type_name.clone();
                match unhandled {
                    Unhandled::Undecodable(reason) => BusError::Undecodable {
                        topic,
                        partition,
                        offset,
                        message_type,
                        reason,
                    },
                    Unhandled::Failed(reason) => BusError::Handler {
                        topic,
                        partition,
                        offset,
                        message_type,
                        reason,
                    },
                }
            })?;
            consumer
                .store_offset_from_message(&message)
                .map_err(kafka("storing the handled message's offset"))?;
            handled += 1;
        }
        match consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing handled since the last automatic commit.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            committed => committed.map_err(kafka("committing the handled messages' offsets"))?,
        }
        Ok(handled)
    }
}
