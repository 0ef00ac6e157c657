//! Topologies that ship with Tributary, ready to run or to describe.
//!
//! | function | what it computes |
//! |---|---|
//! | [`word_count`] | words of a text topic counted across all partitions (needs a repartition step) |
//! | [`task_list::projection`] | seed 000's task list: each user's open tasks, and how many tasks each user completed; with user profiles, both named after their people (a table-table and a foreign-key join) |
#![warn(missing_docs)]

pub mod task_list;

use tributary_engine::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use tributary_engine::serde::{I64Serde, StringSerde, nullable};
use tributary_engine::{Topology, TopologyError};

/// Word count: lines of `input` split into lowercase words, re-keyed by word through the
/// repartition topic `<application.id>-words-repartition`, counted in the store
/// `word-counts`, and every new count written to `output`.
///
/// Lines may be keyless (most text topics are): keys are read as optional and never used.
/// A null line (a tombstone) holds no words.
///
/// ```
/// let topology = tributary_topologies::word_count("lines", "word-counts-out").unwrap();
/// assert_eq!(topology.subtopologies().len(), 2);
/// ```
///
/// # Errors
/// Never for valid topic names; a [`TopologyError`] otherwise.
pub fn word_count(input: &str, output: &str) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            input,
            Consumed::with(nullable(StringSerde), nullable(StringSerde)).with_name("lines"),
        )
        .flat_map_values(|line: Option<String>| {
            line.unwrap_or_default()
                .split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .named("split-words")
        .group_by(
            |_, word| word.clone(),
            Grouped::with(StringSerde, StringSerde).with_name("words"),
        )
        .count(Materialized::named("word-counts"))
        .to_stream()
        .to(output, Produced::with(StringSerde, nullable(I64Serde)));
    builder.build()
}
