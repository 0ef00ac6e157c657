//! Bad input gets a clear error and loses nothing: undeserializable records, unknown
//! topics and stores, wrong store types.

use serde::{Deserialize, Serialize};
use tributary::engine::RecordPart;
use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde};
use tributary::{
    Consumed, Grouped, Materialized, StreamsBuilder, StreamsConfig, StreamsError,
    TopologyTestDriver,
};

#[derive(Clone, Serialize, Deserialize)]
struct TaskEvent {
    user: String,
    kind: String,
}

fn driver(config: StreamsConfig) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "task-events",
            Consumed::with(StringSerde, JsonSerde::<TaskEvent>::new()),
        )
        .group_by(
            |_, e| e.user.clone(),
            Grouped::with(StringSerde, JsonSerde::new()).with_name("by-user"),
        )
        .count(Materialized::named("events-per-user"));
    TopologyTestDriver::new(builder.build().unwrap(), config).unwrap()
}

const GOOD: &[u8] = br#"{"user":"ann","kind":"created"}"#;

#[test]
fn an_undeserializable_record_fails_with_topic_partition_and_offset() {
    let driver = driver(StreamsConfig::new("bad"));
    let input = driver
        .input_topic("task-events", StringSerde, StringSerde)
        .unwrap();
    input.pipe_raw(Some(b"t1"), Some(GOOD), 0).unwrap();
    let err = input
        .pipe_raw(Some(b"t2"), Some(b"{\"user\": "), 1)
        .unwrap_err();
    match &err {
        StreamsError::Deserialization {
            topic,
            partition,
            offset,
            part,
            ..
        } => {
            assert_eq!(
                (topic.as_str(), *partition, *offset, *part),
                ("task-events", 0, 1, RecordPart::Value)
            );
        }
        other => panic!("expected a deserialization error, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("value of the record at topic `task-events` partition 0 offset 1"),
        "{message}"
    );
    assert!(message.contains("json"), "{message}");
}

#[test]
fn log_and_continue_skips_counts_and_keeps_going() {
    let mut config = StreamsConfig::new("bad");
    config
        .set(
            "default.deserialization.exception.handler",
            "log_and_continue",
        )
        .unwrap();
    let driver = driver(config);
    let input = driver
        .input_topic("task-events", StringSerde, StringSerde)
        .unwrap();
    input.pipe_raw(Some(b"t1"), Some(GOOD), 0).unwrap();
    input.pipe_raw(Some(b"t2"), Some(b"not json"), 1).unwrap();
    input.pipe_raw(Some(b"t3"), None, 2).unwrap();
    input.pipe_raw(Some(b"t4"), Some(GOOD), 3).unwrap();
    assert_eq!(driver.metrics().skipped_deserialization, 2);
    let store = driver
        .key_value_store::<String, i64>("events-per-user")
        .unwrap();
    assert_eq!(store.get(&"ann".to_string()).unwrap(), Some(2));
}

#[test]
fn unknown_topics_and_stores_and_wrong_types_are_named() {
    let driver = driver(StreamsConfig::new("bad"));
    let err = driver
        .input_topic("task-event", StringSerde, StringSerde)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`task-event` is not read by this topology") && err.contains("task-events"),
        "{err}"
    );
    let err = driver
        .key_value_store::<String, i64>("events")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`events`") && err.contains("events-per-user"),
        "{err}"
    );
    let err = driver
        .key_value_store::<String, String>("events-per-user")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("holds alloc::string::String → i64") && err.contains("requested as"),
        "{err}"
    );
    // The wrong serde on the reading side is an error value, not a panic.
    let out = driver.output_topic("bad-by-user-repartition", StringSerde, I64Serde);
    driver
        .input_topic("task-events", StringSerde, StringSerde)
        .unwrap()
        .pipe_raw(Some(b"t"), Some(GOOD), 0)
        .unwrap();
    let err = out.read_records().unwrap_err().to_string();
    assert!(err.contains("expected 8 bytes"), "{err}");
}
