//! Malformed records on the real broker: the default handler stops the instance with an
//! error naming topic, partition and offset; log-and-continue skips them and keeps counting.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tributary::engine::internals::{ChangelogReader, OutgoingRecord, RecordCollector};
use tributary::engine::internals::{KafkaChangelogReader, KafkaCollector, TopicAdmin};
use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde, nullable};
use tributary::engine::{KafkaStreams, StreamsState};
use tributary::{
    Consumed, Grouped, Materialized, Produced, StreamsBuilder, StreamsConfig, Topology,
};

#[derive(Clone, Serialize, Deserialize)]
struct TaskEvent {
    user: String,
}

/// Task events (JSON, keyed by task id) counted per user, counts written to `out`.
fn topology(events: &str, out: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            events,
            Consumed::with(StringSerde, JsonSerde::<TaskEvent>::new()),
        )
        .group_by(
            |_, e| e.user.clone(),
            Grouped::with(StringSerde, JsonSerde::new()).with_name("by-user"),
        )
        .count(Materialized::named("per-user"))
        .to_stream()
        .to(out, Produced::with(StringSerde, nullable(I64Serde)));
    builder.build().unwrap()
}

/// Creates the topics and writes: a good event, a malformed one (offset 1), a good event.
fn setup(handler: &str) -> (StreamsConfig, String, String, tempfile::TempDir) {
    let app = support::unique("bad");
    let (config, state) = support::streams_config(
        &app,
        &[
            ("commit.interval.ms", "200"),
            ("default.deserialization.exception.handler", handler),
        ],
    );
    let (events, out) = (format!("{app}-events"), format!("{app}-per-user"));
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&events, 1, &[]).unwrap();
    admin.create_topic(&out, 1, &[]).unwrap();
    let mut producer = KafkaCollector::new(&config).unwrap();
    for (i, value) in [
        &br#"{"user":"ann"}"#[..],
        b"{\"user\": ",
        br#"{"user":"ann"}"#,
    ]
    .iter()
    .enumerate()
    {
        let key = format!("task-{i}");
        let record = OutgoingRecord {
            topic: &events,
            partition: 0,
            key: Some(key.as_bytes()),
            value: Some(value),
            timestamp: 0,
            headers: &Vec::new(),
        };
        producer.send(record).unwrap();
    }
    producer.flush().unwrap();
    (config, events, out, state)
}

fn wait_for(deadline: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn the_default_handler_stops_the_instance_naming_the_record() {
    let (config, events, out, _state) = setup("fail");
    let mut streams = KafkaStreams::new(topology(&events, &out), config.clone());
    streams.start().unwrap();
    assert!(
        wait_for(Duration::from_secs(60), || streams.state()
            == StreamsState::Error),
        "the instance must fail"
    );
    let err = streams
        .close(Duration::from_secs(30))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("record at topic `{events}` partition 0 offset 1")),
        "{err}"
    );
    assert_eq!(
        streams.state(),
        StreamsState::Error,
        "a failed instance stays failed"
    );
    // Nothing at or after the failed record is committed: a restart reads it again.
    let admin = TopicAdmin::new(&config).unwrap();
    let committed = admin
        .committed_offsets(&config.application_id, &events, 1)
        .unwrap();
    assert!(
        committed[0].is_none_or(|o| o <= 1),
        "committed {committed:?}"
    );
}

#[test]
fn log_and_continue_skips_the_record_and_keeps_counting() {
    let (config, events, out, _state) = setup("log_and_continue");
    let mut streams = KafkaStreams::new(topology(&events, &out), config.clone());
    streams.start().unwrap();
    let mut reader = KafkaChangelogReader::new(&config).unwrap();
    let mut counts = BTreeMap::new();
    let mut from = 0;
    let counted = wait_for(Duration::from_secs(60), || {
        for record in reader.read_batch(&out, 0, from, 100).unwrap() {
            from = record.offset + 1;
            counts.insert(
                String::from_utf8(record.key).unwrap(),
                i64::from_be_bytes(record.value.unwrap().try_into().unwrap()),
            );
        }
        counts.get("ann") == Some(&2)
    });
    assert!(counted, "ann's two good events are counted: {counts:?}");
    assert_eq!(streams.state(), StreamsState::Running);
    streams.close(Duration::from_secs(30)).unwrap();
}
