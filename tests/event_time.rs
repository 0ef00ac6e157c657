//! Event time from timestamp extractors: the record's own timestamp, a field of its JSON
//! value, or a function; records without a valid timestamp fail the task with their
//! coordinates, or are skipped and counted.

use serde::{Deserialize, Serialize};
use tributary::engine::dsl::{Consumed, Produced, StreamsBuilder};
use tributary::engine::serde::{JsonSerde, StringSerde};
use tributary::engine::{StreamsConfig, StreamsError, TimestampExtractor, TopologyTestDriver};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    at_ms: Option<i64>,
}

fn reading(at_ms: Option<i64>) -> Reading {
    Reading {
        sensor: "s1".into(),
        at_ms,
    }
}

/// Readings copied to `out`, timed by `extractor`.
fn driver(extractor: TimestampExtractor, config: StreamsConfig) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "readings",
            Consumed::with(StringSerde, JsonSerde::<Reading>::new())
                .with_timestamp_extractor(extractor),
        )
        .to("out", Produced::with(StringSerde, JsonSerde::new()));
    TopologyTestDriver::new(builder.build().unwrap(), config).unwrap()
}

fn output_times(driver: &TopologyTestDriver) -> Vec<i64> {
    driver
        .output_topic("out", StringSerde, JsonSerde::<Reading>::new())
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| r.timestamp)
        .collect()
}

#[test]
fn a_json_field_sets_event_time() {
    let driver = driver(
        TimestampExtractor::json_field("at_ms"),
        StreamsConfig::new("event-time"),
    );
    let input = driver
        .input_topic("readings", StringSerde, JsonSerde::<Reading>::new())
        .unwrap();
    input.pipe("k".into(), reading(Some(5_000)), 1).unwrap();
    input.pipe("k".into(), reading(Some(7_000)), 2).unwrap();
    assert_eq!(output_times(&driver), vec![5_000, 7_000]);
}

#[test]
fn a_function_sets_event_time() {
    let driver = driver(
        TimestampExtractor::custom(|raw| Some(raw.timestamp + 1_000)),
        StreamsConfig::new("event-time"),
    );
    let input = driver
        .input_topic("readings", StringSerde, JsonSerde::<Reading>::new())
        .unwrap();
    input.pipe("k".into(), reading(None), 10).unwrap();
    assert_eq!(output_times(&driver), vec![1_010]);
}

#[test]
fn a_missing_timestamp_fails_with_the_records_coordinates_by_default() {
    let driver = driver(
        TimestampExtractor::json_field("at_ms"),
        StreamsConfig::new("event-time"),
    );
    let input = driver
        .input_topic("readings", StringSerde, JsonSerde::<Reading>::new())
        .unwrap();
    input.pipe("k".into(), reading(Some(1)), 0).unwrap();
    let err = input.pipe("k".into(), reading(None), 0).unwrap_err();
    assert!(
        matches!(err, StreamsError::InvalidTimestamp { ref topic, offset: 1, .. } if topic == "readings"),
        "{err}"
    );
    assert!(
        err.to_string().contains("log_and_skip"),
        "the error says how to go on: {err}"
    );
}

#[test]
fn invalid_timestamps_can_be_skipped_and_counted() {
    let mut config = StreamsConfig::new("event-time");
    config
        .set("default.invalid.timestamp.handler", "log_and_skip")
        .unwrap();
    let driver = driver(TimestampExtractor::json_field("at_ms"), config);
    let input = driver
        .input_topic("readings", StringSerde, JsonSerde::<Reading>::new())
        .unwrap();
    input.pipe("k".into(), reading(None), 0).unwrap();
    input.pipe("k".into(), reading(Some(-3)), 0).unwrap();
    input.pipe("k".into(), reading(Some(9)), 0).unwrap();
    assert_eq!(output_times(&driver), vec![9]);
    assert_eq!(driver.metrics().skipped_invalid_timestamp, 2);
}

#[test]
fn a_negative_record_timestamp_is_invalid() {
    let driver = driver(
        TimestampExtractor::RecordTimestamp,
        StreamsConfig::new("event-time"),
    );
    let input = driver
        .input_topic("readings", StringSerde, JsonSerde::<Reading>::new())
        .unwrap();
    let err = input.pipe("k".into(), reading(None), -1).unwrap_err();
    assert!(
        matches!(err, StreamsError::InvalidTimestamp { .. }),
        "{err}"
    );
}
