//! Tributary: Kafka Streams-style stream processing in Rust.
//!
//! This facade re-exports the crates of the workspace:
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`engine`] | `tributary-engine` | the DSL, topology compiler, processors, tasks, test driver |
//! | [`state`] | `tributary-state` | RocksDB and in-memory stores, change logging, caches, checkpoints |
//! | [`topologies`] | `tributary-topologies` | topologies that ship with Tributary |
//! | [`worker`] | this crate | any topology as a worker process (`tributary::worker::run`) |
//!
//! The most used names are re-exported at the top level.
#![warn(missing_docs)]

pub use tributary_engine as engine;
pub use tributary_state as state;
pub use tributary_topologies as topologies;

pub mod worker;

pub use tributary_engine::dsl::{
    Consumed, Grouped, KStream, KTable, Materialized, Produced, StreamsBuilder,
};
pub use tributary_engine::{
    Record, StreamsConfig, StreamsError, Topology, TopologyError, TopologyTestDriver,
};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
