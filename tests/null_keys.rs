//! Keyless records and null values, as Kafka Streams treats them: they pass through
//! stateless operators and re-keying; operators that need a key (aggregations, tables) skip
//! them, counting each; stream aggregations also skip null values.

use std::sync::Arc;
use std::time::Duration;

use tributary::engine::serde::{I64Serde, StringSerde, nullable};
use tributary::engine::{TimeWindows, Windowed, WindowedSerde};
use tributary::{
    Consumed, Grouped, Materialized, Produced, StreamsBuilder, StreamsConfig, TopologyTestDriver,
};

#[test]
fn the_shipped_word_count_reads_keyless_lines_and_null_values() {
    let topology = tributary::topologies::word_count("lines", "counts").unwrap();
    let driver = TopologyTestDriver::builder(topology, StreamsConfig::new("wc"))
        .partitions("lines", 3)
        .build()
        .unwrap();
    let lines = driver
        .input_topic("lines", nullable(StringSerde), nullable(StringSerde))
        .unwrap();
    lines
        .pipe(None, Some("to be or not to be".into()), 1)
        .unwrap();
    lines.pipe(None, None, 2).unwrap();
    lines
        .pipe(Some("doc".into()), Some("be quick".into()), 3)
        .unwrap();
    let counts = driver
        .key_value_store::<String, i64>("word-counts")
        .unwrap();
    assert_eq!(counts.get(&"be".to_string()).unwrap(), Some(3));
    assert_eq!(counts.get(&"quick".to_string()).unwrap(), Some(1));
    assert_eq!(
        driver.metrics().dropped_null,
        0,
        "word count uses no input key"
    );
    assert_eq!(driver.metrics().skipped_deserialization, 0);
}

#[test]
fn null_keys_pass_stateless_operators_to_a_sink() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(nullable(StringSerde), StringSerde))
        .filter(|_, v| !v.is_empty())
        .map_values(|v| v.to_uppercase())
        .to("out", Produced::with(nullable(StringSerde), StringSerde));
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("pass")).unwrap();
    let input = driver
        .input_topic("in", nullable(StringSerde), StringSerde)
        .unwrap();
    input.pipe(None, "a".into(), 1).unwrap();
    input.pipe(Some("k".into()), "b".into(), 2).unwrap();
    let out = driver
        .output_topic("out", nullable(StringSerde), StringSerde)
        .read_key_values()
        .unwrap();
    assert_eq!(
        out,
        vec![(None, "A".to_string()), (Some("k".into()), "B".to_string())]
    );
}

#[test]
fn aggregations_skip_and_count_null_keys_and_stream_aggregations_null_values() {
    let builder = StreamsBuilder::new();
    let stream = builder.stream(
        "in",
        Consumed::with(nullable(StringSerde), nullable(I64Serde)),
    );
    let grouped = stream.group_by_key(Grouped::new());
    grouped.reduce(
        |a, b| Some(a.unwrap_or(0) + b.unwrap_or(0)),
        Materialized::named("sums"),
    );
    grouped
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
            100,
        )))
        .count(Materialized::named("windowed"))
        .to_stream()
        .to(
            "windowed-out",
            Produced::with(
                WindowedSerde::new(Arc::new(nullable(StringSerde)), 100),
                nullable(I64Serde),
            ),
        );
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("nulls")).unwrap();
    let input = driver
        .input_topic("in", nullable(StringSerde), nullable(I64Serde))
        .unwrap();
    input.pipe(Some("a".into()), Some(1), 1).unwrap();
    input.pipe(None, Some(5), 2).unwrap(); // no key: skipped by both
    input.pipe(Some("a".into()), None, 3).unwrap(); // no value: skipped by the reduce only
    input.pipe(Some("a".into()), Some(2), 4).unwrap();
    let sums = driver
        .key_value_store::<Option<String>, Option<i64>>("sums")
        .unwrap();
    assert_eq!(sums.get(&Some("a".into())).unwrap(), Some(Some(3)));
    let windowed: Vec<(Windowed<Option<String>>, Option<i64>)> = driver
        .output_topic(
            "windowed-out",
            WindowedSerde::new(Arc::new(nullable(StringSerde)), 100),
            nullable(I64Serde),
        )
        .read_key_values()
        .unwrap();
    let counts: Vec<Option<i64>> = windowed.into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        counts,
        vec![Some(1), Some(2), Some(3)],
        "windowed counts count null values"
    );
    assert_eq!(
        driver.metrics().dropped_null,
        3,
        "two null keys, one null value"
    );
}

#[test]
fn tables_skip_and_count_null_keys() {
    let builder = StreamsBuilder::new();
    builder.table(
        "users",
        Consumed::with(nullable(StringSerde), StringSerde),
        Materialized::named("users"),
    );
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("tables")).unwrap();
    let input = driver
        .input_topic("users", nullable(StringSerde), StringSerde)
        .unwrap();
    input.pipe(None, "ghost".into(), 1).unwrap();
    input.pipe(Some("1".into()), "Ada".into(), 2).unwrap();
    let users = driver
        .key_value_store::<Option<String>, String>("users")
        .unwrap();
    assert_eq!(users.all().unwrap(), vec![(Some("1".into()), "Ada".into())]);
    assert_eq!(driver.metrics().dropped_null, 1);
}
