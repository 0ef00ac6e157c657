//! The engine's errors: [`TopologyError`] for what `build()` refuses, [`StreamsError`] for
//! what goes wrong while running, and [`KafkaFailure`] for a Kafka client's error with what
//! it means for the caller (retry, abort the transaction, or give up).

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tributary_state::StateError;

use crate::serde::SerdeError;

/// Which part of a record failed to deserialize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordPart {
    /// The record key.
    Key,
    /// The record value.
    Value,
}

impl std::fmt::Display for RecordPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Key => "key",
            Self::Value => "value",
        })
    }
}

/// Errors of building a topology: each names the operator, store or topic and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// Two operators were given the same explicit name.
    #[error("two operators are named `{name}`; operator names must be unique, rename one of them")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// Two stores share a name.
    #[error(
        "two stores are named `{name}`; store names must be unique, rename one in its `Materialized`"
    )]
    DuplicateStore {
        /// The repeated store name.
        name: String,
    },
    /// An operator asks for a store that was never added.
    #[error(
        "operator `{operator}` uses store `{store}`, but no store has that name (stores: {known}); \
         add it with `StreamsBuilder::add_state_store` or correct the name"
    )]
    UnknownStore {
        /// The operator.
        operator: String,
        /// The missing store.
        store: String,
        /// The stores that exist.
        known: String,
    },
    /// A stateful operator or repartition topic has no explicit name while explicit naming
    /// is required.
    #[error(
        "{what} has no explicit name, and `ensure_explicit_internal_resource_naming` is on; {fix}"
    )]
    MissingName {
        /// What lacks a name, e.g. "the store of `count`".
        what: String,
        /// How to name it.
        fix: String,
    },
    /// A windowed operator's windows or store retention cannot work.
    #[error("windowed operator `{operator}`: {reason}")]
    InvalidWindows {
        /// The operator.
        operator: String,
        /// What is wrong.
        reason: String,
    },
    /// A serde needed to write bytes was not given.
    #[error("operator `{operator}` needs a {part} serde to {why}; {fix}")]
    MissingSerde {
        /// The operator.
        operator: String,
        /// "key" or "value".
        part: &'static str,
        /// Why bytes are needed there.
        why: &'static str,
        /// How to give one.
        fix: &'static str,
    },
    /// Inputs that must be co-partitioned have different partition counts.
    #[error(
        "topic `{left}` has {left_partitions} partitions but `{right}` has {right_partitions}; \
         co-partitioned inputs of {context} need equal partition counts (repartition one of them \
         or recreate it with {left_partitions} partitions)"
    )]
    CoPartitionMismatch {
        /// One topic.
        left: String,
        /// Its partition count.
        left_partitions: i32,
        /// The other topic.
        right: String,
        /// Its partition count.
        right_partitions: i32,
        /// Which sub-topology and stores require co-partitioning.
        context: String,
    },
    /// A topic the topology reads or writes has no known partition count.
    #[error(
        "topic `{topic}` {role} has no known partition count; create it before starting (or declare it to the test driver with `partitions`)"
    )]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// What the topology does with it.
        role: &'static str,
    },
    /// A name contains characters Kafka does not allow in topic names.
    #[error(
        "`{name}` cannot be used in a topic name: only ASCII letters, digits, `.`, `_` and `-` are allowed"
    )]
    InvalidName {
        /// The name.
        name: String,
    },
    /// A global table's topic is also read by a stream or table source.
    #[error(
        "topic `{topic}` is read by a global table and by a stream or table source; a global \
         table must be its topic's only reader (read the topic once, or copy it to another topic)"
    )]
    GlobalTopicReadTwice {
        /// The topic.
        topic: String,
    },
    /// The topology has no source.
    #[error("the topology reads no topic; add a source with `StreamsBuilder::stream` or `table`")]
    NoSource,
}

/// Errors raised while running a topology (in a task, the test driver or the runtime).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamsError {
    /// The topology is invalid.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A consumed record could not be deserialized.
    #[error(
        "cannot deserialize the {part} of the record at topic `{topic}` partition {partition} offset {offset}: {source}"
    )]
    Deserialization {
        /// The source topic.
        topic: String,
        /// The source partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// Key or value.
        part: RecordPart,
        /// The serde's error.
        source: SerdeError,
    },
    /// A record's timestamp extractor found no valid (present, non-negative) timestamp.
    #[error(
        "the record at topic `{topic}` partition {partition} offset {offset} has no valid timestamp (missing or negative); fix the producer or the timestamp extractor, or set `default.invalid.timestamp.handler = log_and_skip`"
    )]
    InvalidTimestamp {
        /// The source topic.
        topic: String,
        /// The source partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
    },
    /// A record could not be serialized for a sink, repartition topic or store.
    #[error("cannot serialize the {part} of a record for `{target}`: {source}")]
    Serialization {
        /// The topic or store written to.
        target: String,
        /// Key or value.
        part: RecordPart,
        /// The serde's error.
        source: SerdeError,
    },
    /// A state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A store was requested with types other than the ones it was declared with.
    #[error("store `{store}` holds {declared}, but was requested as {requested}")]
    StoreType {
        /// The store.
        store: String,
        /// Its declared key and value types.
        declared: String,
        /// The requested types.
        requested: String,
    },
    /// A processor asked for a store it is not connected to.
    #[error(
        "processor `{processor}` asked for store `{store}`, which is not connected to it; \
         list it in the `process` call's store names"
    )]
    StoreNotConnected {
        /// The processor.
        processor: String,
        /// The store.
        store: String,
    },
    /// The test driver was asked about a topic the topology does not read.
    #[error("topic `{topic}` is not read by this topology (it reads: {known})")]
    UnknownInputTopic {
        /// The topic.
        topic: String,
        /// The topics the topology reads.
        known: String,
    },
    /// A user processor (or an operator) failed.
    #[error("processor `{processor}` failed: {message}")]
    Processor {
        /// The processor.
        processor: String,
        /// What went wrong.
        message: String,
        /// The error behind it, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Processing a record failed (a processor's error, or a panic in a user function),
    /// with the record's coordinates; `processing.exception.handler` decides whether the
    /// task stops on it.
    #[error(
        "processing the record at topic `{topic}` partition {partition} offset {offset} failed: {source} \
         (set `processing.exception.handler = log_and_continue` to skip such records)"
    )]
    ProcessingFailed {
        /// The source topic.
        topic: String,
        /// The source partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// What failed.
        source: Box<StreamsError>,
    },
    /// The producer refused a record (too large, say, or the producer has failed).
    #[error("cannot write to topic `{topic}`: {error}{}", rejected_hint(error))]
    Produce {
        /// The topic.
        topic: String,
        /// librdkafka's error.
        error: KafkaFailure,
    },
    /// Another instance of the application holds the state directory.
    #[error(
        "state directory `{path}` is in use by another instance of this application on this \
         machine; give each instance its own `state.dir`"
    )]
    StateDirLocked {
        /// The application's state directory.
        path: std::path::PathBuf,
    },
    /// A Kafka client operation failed.
    #[error("cannot {doing}: {error}")]
    Kafka {
        /// What was being done, e.g. "create the producer".
        doing: String,
        /// librdkafka's error, with its code and classification.
        error: KafkaFailure,
    },
    /// The instance could not start, run or stop one of its parts (a thread, a runtime).
    #[error("cannot {doing}: {reason}")]
    Lifecycle {
        /// What was being done, e.g. "stop the stream threads".
        doing: String,
        /// Why it failed.
        reason: String,
    },
    /// A configuration value is invalid.
    #[error("configuration `{key}`: {reason}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

impl StreamsError {
    /// The failure to serialize the `part` of a record written to `topic`, for
    /// `map_err`: the topic's name is copied only when a record fails.
    pub(crate) fn topic_serialization(
        topic: &str,
        part: RecordPart,
    ) -> impl FnOnce(SerdeError) -> Self + '_ {
        move |source| Self::Serialization {
            target: format!("topic `{topic}`"),
            part,
            source,
        }
    }

    /// A processor's failure, without an underlying error.
    pub fn processor(processor: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Processor {
            processor: processor.into(),
            message: message.into(),
            source: None,
        }
    }

    /// A Kafka failure while `doing` something, with no librdkafka error behind it (the
    /// engine gave up waiting, say).
    pub(crate) fn kafka(doing: impl Into<String>, failure: KafkaFailure) -> Self {
        Self::Kafka {
            doing: doing.into(),
            error: failure,
        }
    }

    /// Whether trying the same operation again may succeed (a Kafka error librdkafka or the
    /// broker calls transient).
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Kafka { error, .. } if error.retriable)
    }

    /// Whether the client that failed cannot be used any more (a fenced or fatally failed
    /// producer).
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Kafka { error, .. } if error.fatal)
    }

    /// Whether this failure ends a stream thread's transaction but not its work (under
    /// exactly-once): the transaction must be aborted, or the producer was fenced by a
    /// newer one with its transactional id, or the consumer group moved on (the thread's
    /// generation is stale). The thread then starts again from the last commit.
    pub fn ends_transaction(&self) -> bool {
        use RDKafkaErrorCode::*;
        let Some(failure) = self.kafka_failure() else {
            return false;
        };
        failure.abortable
            || self.is_task_migrated()
            || matches!(
                failure.code,
                Some(Fenced | ProducerFenced | InvalidProducerEpoch | TransactionCoordinatorFenced)
            )
    }

    /// Whether the consumer group moved on without this thread (Kafka Streams'
    /// `TaskMigratedException`): its generation is stale, its member id unknown, or a
    /// rebalance is under way, so it cannot commit for the partitions it held. Its tasks
    /// close without committing and the thread rejoins; the new owners process the records
    /// since the last commit again.
    pub fn is_task_migrated(&self) -> bool {
        use RDKafkaErrorCode::*;
        self.kafka_failure().is_some_and(|failure| {
            matches!(
                failure.code,
                Some(IllegalGeneration | UnknownMemberId | RebalanceInProgress | FencedInstanceId)
            )
        })
    }

    /// The error's kind: its variant's name (`"Deserialization"`, `"ProcessingFailed"`,
    /// …), as dead-letter records name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Topology(_) => "Topology",
            Self::Deserialization { .. } => "Deserialization",
            Self::InvalidTimestamp { .. } => "InvalidTimestamp",
            Self::Serialization { .. } => "Serialization",
            Self::State(_) => "State",
            Self::StoreType { .. } => "StoreType",
            Self::StoreNotConnected { .. } => "StoreNotConnected",
            Self::UnknownInputTopic { .. } => "UnknownInputTopic",
            Self::Processor { .. } => "Processor",
            Self::ProcessingFailed { .. } => "ProcessingFailed",
            Self::Produce { .. } => "Produce",
            Self::StateDirLocked { .. } => "StateDirLocked",
            Self::Kafka { .. } => "Kafka",
            Self::Lifecycle { .. } => "Lifecycle",
            Self::Config { .. } => "Config",
        }
    }

    /// Whether this is an output record that can never be written as it is: the producer
    /// refused it (too large, invalid) or a sink could not serialize it. The production
    /// handler may skip it; retrying would fail the same way.
    pub fn is_record_rejected(&self) -> bool {
        match self {
            Self::Serialization { .. } => true,
            Self::Produce { error, .. } => !rejected_hint(error).is_empty(),
            _ => false,
        }
    }

    fn kafka_failure(&self) -> Option<&KafkaFailure> {
        match self {
            Self::Kafka { error, .. } | Self::Produce { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// What to do about a record the producer refuses for good (see
/// [`StreamsError::is_record_rejected`]); nothing for other failures.
fn rejected_hint(error: &KafkaFailure) -> &'static str {
    use RDKafkaErrorCode::*;
    match error.code {
        Some(MessageSizeTooLarge | MessageBatchTooLarge | InvalidRecord | InvalidMessage) => {
            " (the record can never be written as it is; raise `producer.message.max.bytes` \
             and the topic's `max.message.bytes`, or set `production.exception.handler = \
             continue` to drop such records from sink and repartition topics)"
        }
        _ => "",
    }
}

/// A Kafka client's error: librdkafka's code (when there is one), its message, and what it
/// means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaFailure {
    /// librdkafka's error code; `None` for conditions the engine detects itself.
    pub code: Option<RDKafkaErrorCode>,
    /// What librdkafka or the broker said.
    pub message: String,
    /// Trying again may succeed.
    pub retriable: bool,
    /// The client cannot be used any more (for example, a fenced producer).
    pub fatal: bool,
    /// The open transaction must be aborted (it can then be retried).
    pub abortable: bool,
}

impl std::fmt::Display for KafkaFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl KafkaFailure {
    /// A condition the engine detected itself (no librdkafka code), such as waiting too
    /// long for a broker: `retriable` says whether trying again may help.
    pub fn detected(message: impl Into<String>, retriable: bool) -> Self {
        Self {
            code: None,
            message: message.into(),
            retriable,
            fatal: false,
            abortable: false,
        }
    }

    /// A failure with librdkafka's `code`, classified by it.
    pub fn with_code(code: RDKafkaErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            message: message.into(),
            retriable: retriable_code(code),
            fatal: fatal_code(code),
            abortable: false,
        }
    }
}

impl From<&KafkaError> for KafkaFailure {
    fn from(error: &KafkaError) -> Self {
        if let KafkaError::Transaction(e) = error {
            return Self {
                code: Some(e.code()),
                message: error.to_string(),
                retriable: e.is_retriable(),
                fatal: e.is_fatal(),
                abortable: e.txn_requires_abort(),
            };
        }
        match error.rdkafka_error_code() {
            Some(code) => Self::with_code(code, error.to_string()),
            None => Self::detected(error.to_string(), false),
        }
    }
}

/// Codes librdkafka or the broker use for conditions that pass: a leader or coordinator
/// moving, a broker unreachable for now, timeouts, full queues.
fn retriable_code(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        BrokerTransportFailure
            | AllBrokersDown
            | MessageTimedOut
            | OperationTimedOut
            | TimedOutQueue
            | QueueFull
            | Retry
            | RequestTimedOut
            | NetworkException
            | LeaderNotAvailable
            | NotLeaderForPartition
            | BrokerNotAvailable
            | ReplicaNotAvailable
            | NotEnoughReplicas
            | NotEnoughReplicasAfterAppend
            | CoordinatorLoadInProgress
            | CoordinatorNotAvailable
            | NotCoordinator
            | RebalanceInProgress
            | ConcurrentTransactions
            | KafkaStorageError
            | OffsetNotAvailable
            | UnknownTopicOrPartition
            | FencedLeaderEpoch
            | UnknownLeaderEpoch
            | PreferredLeaderNotAvailable
            | ThrottlingQuotaExceeded
            | UnstableOffsetCommit
    )
}

/// Codes after which the client is of no more use: it was fenced by a newer instance, or
/// failed fatally, or is not allowed to do what it must.
fn fatal_code(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        Fatal
            | Fenced
            | ProducerFenced
            | InvalidProducerEpoch
            | TransactionCoordinatorFenced
            | TransactionalIdAuthorizationFailed
            | ClusterAuthorizationFailed
            | Authentication
            | SaslAuthenticationFailed
            | FencedInstanceId
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_keep_their_code_and_classification() {
        let timeout = KafkaFailure::from(&KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageTimedOut,
        ));
        assert_eq!(timeout.code, Some(RDKafkaErrorCode::MessageTimedOut));
        assert!(timeout.retriable && !timeout.fatal);
        let fenced = StreamsError::kafka(
            "commit the transaction",
            KafkaFailure::with_code(RDKafkaErrorCode::ProducerFenced, "fenced"),
        );
        assert!(fenced.is_fatal() && !fenced.is_retriable());
        assert!(
            fenced
                .to_string()
                .contains("commit the transaction: fenced")
        );
        let too_large = KafkaFailure::with_code(RDKafkaErrorCode::MessageSizeTooLarge, "too large");
        assert!(!too_large.retriable && !too_large.fatal);
    }

    #[test]
    fn fencing_and_abortable_failures_end_a_transaction_but_not_the_thread() {
        let failure = |code| {
            StreamsError::kafka("commit the transaction", KafkaFailure::with_code(code, "x"))
        };
        assert!(failure(RDKafkaErrorCode::ProducerFenced).ends_transaction());
        assert!(failure(RDKafkaErrorCode::IllegalGeneration).ends_transaction());
        let mut abortable = KafkaFailure::detected("delivery failed", false);
        abortable.abortable = true;
        assert!(StreamsError::kafka("commit the transaction", abortable).ends_transaction());
        assert!(!failure(RDKafkaErrorCode::TransactionalIdAuthorizationFailed).ends_transaction());
        assert!(!failure(RDKafkaErrorCode::MessageSizeTooLarge).ends_transaction());
    }

    #[test]
    fn a_commit_refused_for_a_stale_generation_means_the_tasks_migrated() {
        let failure = |code| {
            StreamsError::kafka(
                "commit consumed offsets",
                KafkaFailure::with_code(code, "x"),
            )
        };
        assert!(failure(RDKafkaErrorCode::IllegalGeneration).is_task_migrated());
        assert!(failure(RDKafkaErrorCode::UnknownMemberId).is_task_migrated());
        assert!(failure(RDKafkaErrorCode::RebalanceInProgress).is_task_migrated());
        assert!(!failure(RDKafkaErrorCode::ProducerFenced).is_task_migrated());
        assert!(!failure(RDKafkaErrorCode::BrokerTransportFailure).is_task_migrated());
        let processor = StreamsError::processor("count", "IllegalGeneration");
        assert!(!processor.is_task_migrated());
    }

    #[test]
    fn processor_errors_keep_their_source() {
        let cause = std::io::Error::other("disk gone");
        let error = StreamsError::Processor {
            processor: "enrich".into(),
            message: "lookup failed".into(),
            source: Some(Box::new(cause)),
        };
        let source = std::error::Error::source(&error).expect("a source");
        assert_eq!(source.to_string(), "disk gone");
    }
}
