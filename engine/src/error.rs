//! The engine's error type.

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
    /// The topology has no source.
    #[error("the topology reads no topic; add a source with `StreamsBuilder::stream` or `table`")]
    NoSource,
}

/// Errors raised while running a topology (in a task, the test driver or the runtime).
#[derive(Debug, thiserror::Error)]
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
    /// A user processor failed.
    #[error("processor `{processor}` failed: {message}")]
    Processor {
        /// The processor.
        processor: String,
        /// What went wrong.
        message: String,
    },
    /// Output could not be written.
    #[error("cannot write to topic `{topic}`: {reason}")]
    Produce {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
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
    #[error("cannot {doing}: {reason}")]
    Kafka {
        /// What was being done, e.g. "create the producer".
        doing: String,
        /// librdkafka's or the broker's reason.
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
