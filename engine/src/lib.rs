//! Tributary's engine: the topology DSL, its compiler, processors, stores, the topology
//! test driver, and the runtime that runs topologies on Kafka.
//!
//! The public modules are what a user needs:
//!
//! | module | what it holds |
//! |---|---|
//! | [`dsl`] | [`StreamsBuilder`], `KStream`, `KTable`, grouped and windowed streams, and the `Consumed` / `Produced` / `Grouped` / `Materialized` parameters |
//! | [`topology`] | the compiled [`Topology`]: sub-topologies, internal topics, partition counts, `describe()` |
//! | [`processor`] | the Processor API: [`processor::Processor`], its context, punctuation |
//! | [`store`] | typed store handles and store declarations |
//! | [`driver`] | [`TopologyTestDriver`]: run a topology in-process without a broker |
//! | [`serde`] | serdes for bytes, strings, big-endian integers and JSON, and their [`serde::Format`] |
//! | [`partitioner`] | Kafka's Java-compatible murmur2 partitioner |
//! | [`window`] | [`TimeWindows`], [`SlidingWindows`], [`SessionWindows`], [`JoinWindows`], [`Windowed`] keys and their serde |
//! | [`time`] | event time: [`TimestampExtractor`] and the invalid-timestamp handler |
//! | [`config`] | [`StreamsConfig`] |
//! | [`discovery`] | the stores this instance hosts and the directory of instances (what [`KafkaStreams::stores`] and [`KafkaStreams::directory`] give) |
//! | [`query`] | interactive queries over HTTP: routes, formats, errors |
//! | [`metrics`] | the Prometheus metrics an instance serves |
//!
//! Inside, in layers (a module uses only those above it; `tests/module_layers.rs` checks
//! that no module uses one that uses it back): `record`, `error`, `names`, `task_id`,
//! `serde`, `window`, `time`, `config` → `store` → `processor` (node graph, task context,
//! collector) → `topology`, `dsl` → `task` (a sub-topology for one partition: stores,
//! restore, commit) → `driver`, `kafka` (rdkafka clients) → `discovery`, `metrics` →
//! `query` → `runtime` ([`KafkaStreams`] and its stream threads). Benchmarks and tests reach
//! `task` and `kafka` through the hidden [`internals`] module.
//!
//! ```
//! use tributary_engine::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
//! use tributary_engine::serde::StringSerde;
//! use tributary_engine::{StreamsConfig, TopologyTestDriver};
//!
//! // Word count: split lines into words, re-key by word, count.
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream("lines", Consumed::with(StringSerde, StringSerde))
//!     .flat_map_values(|line| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
//!     .group_by(|_, word| word.clone(), Grouped::with(StringSerde, StringSerde).with_name("words"))
//!     .count(Materialized::named("word-counts"));
//! let topology = builder.build()?;
//! assert_eq!(topology.subtopologies().len(), 2);
//!
//! let driver = TopologyTestDriver::new(topology, StreamsConfig::new("wordcount"))?;
//! driver.input_topic("lines", StringSerde, StringSerde)?.pipe("1".into(), "to be or not to be".into(), 0)?;
//! let counts = driver.key_value_store::<String, i64>("word-counts")?;
//! assert_eq!(counts.get(&"be".to_string())?, Some(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod background;
pub mod config;
pub mod discovery;
pub mod driver;
pub mod dsl;
mod error;
mod kafka;
pub mod metrics;
mod names;
pub mod partitioner;
pub mod processor;
pub mod query;
mod record;
mod runtime;
pub mod serde;
pub mod store;
mod task;
mod task_id;
pub mod time;
pub mod topology;
pub mod window;

pub use config::{
    DeserializationHandler, ErrorContext, ProcessingExceptionHandler, ProcessingGuarantee,
    ProcessingHandler, ProcessingResponse, ProductionHandler, StreamsConfig,
};
pub use driver::TopologyTestDriver;
pub use dsl::StreamsBuilder;
pub use error::{KafkaFailure, RecordPart, StreamsError, TopologyError};
pub use processor::TaskMetrics;
pub use record::{Change, Headers, RawRecord, Record};
pub use runtime::{KafkaStreams, StreamsState, ThreadFailureResponse};
pub use task_id::TaskId;
pub use time::{InvalidTimestampHandler, TimestampExtractor};
pub use topology::Topology;
pub use window::{
    JoinWindows, SessionSerde, SessionWindows, SlidingWindows, TimeWindows, Window, Windowed,
    WindowedSerde,
};

/// Replaying an application from its inputs, as `tributary reset` does: the group's input
/// offsets move back, the internal topics holding derived data and the local state are
/// deleted, and the next start rebuilds every store.
pub mod reset {
    pub use crate::kafka::{ResetPlan, ResetTo, apply_reset, plan_reset};
}

/// What an application is doing, as `tributary status` prints it: its group's members,
/// its instances' partitions, and the lag of every partition it reads.
pub mod status {
    pub use crate::runtime::status::{ApplicationStatus, PartitionLag, application_status};
}

/// Parts of the engine that benchmarks and integration tests drive directly: tasks, the
/// Kafka clients, internal names. Not part of the documented API; it may change at any time.
#[doc(hidden)]
pub mod internals {
    pub use crate::kafka::{
        ClientRole, KafkaChangelogReader, KafkaCollector, TopicAdmin, client_config,
    };
    pub use crate::names::{changelog_topic, instances_topic};
    pub use crate::processor::collector::{OutgoingRecord, RecordCollector};
    pub use crate::task::{
        CHECKPOINT_DELTA, ChangelogReader, LogEntry, MemoryLog, RestoreRecord, RestoreReport,
        StoreRestore, StreamTask, TaskOptions, TaskStorage,
    };
}
