//! Tributary's engine: the topology DSL, its compiler, processors, tasks and the
//! topology test driver.
//!
//! | module | what it holds |
//! |---|---|
//! | [`dsl`] | [`StreamsBuilder`], `KStream`, `KTable`, grouped streams and tables, and the `Consumed` / `Produced` / `Grouped` / `Materialized` parameters |
//! | [`topology`] | the compiled [`Topology`]: sub-topologies, internal topics, partition counts, `describe()` |
//! | [`processor`] | the Processor API: [`processor::Processor`], its context, punctuation |
//! | [`store`] | typed store handles and store declarations |
//! | [`task`] | [`task::StreamTask`]: a sub-topology for one partition, with restore and commit |
//! | [`driver`] | [`TopologyTestDriver`]: run a topology in-process without a broker |
//! | [`kafka`] | Kafka I/O through rdkafka: internal topics, the producer-backed collector, the restore reader |
//! | [`serde`] | serdes for bytes, strings, big-endian integers and JSON |
//! | [`partitioner`] | Kafka's Java-compatible murmur2 partitioner |
//! | [`window`] | [`TimeWindows`], [`SlidingWindows`], [`SessionWindows`], [`Windowed`] keys and their serde |
//! | [`time`] | event time: [`TimestampExtractor`] and the invalid-timestamp handler |
//! | [`config`] | [`StreamsConfig`] |
//! | [`query`] | interactive queries over HTTP: store registry, instance directory, routing, subscriptions |
//! | [`metrics`] | the Prometheus metrics an instance serves |
//! | `streams`, `thread` | [`KafkaStreams`] and its stream threads: run a topology on a Kafka cluster |
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

pub mod config;
pub mod driver;
pub mod dsl;
mod error;
pub mod kafka;
pub mod metrics;
pub mod partitioner;
pub mod processor;
pub mod query;
mod record;
pub mod serde;
pub mod store;
mod streams;
pub mod task;
mod thread;
pub mod time;
pub mod topology;
pub mod window;

pub use config::{DeserializationHandler, ProcessingGuarantee, StreamsConfig};
pub use driver::TopologyTestDriver;
pub use dsl::StreamsBuilder;
pub use error::{RecordPart, StreamsError, TopologyError};
pub use record::{Change, Headers, RawRecord, Record};
pub use streams::{KafkaStreams, StreamsState};
pub use thread::ThreadFailureResponse;
pub use time::{InvalidTimestampHandler, TimestampExtractor};
pub use topology::Topology;
pub use window::{
    SessionSerde, SessionWindows, SlidingWindows, TimeWindows, Window, Windowed, WindowedSerde,
};
