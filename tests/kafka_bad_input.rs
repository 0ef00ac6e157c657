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
    let (config, events, out, state) = application(
        "bad",
        &[("default.deserialization.exception.handler", handler)],
    );
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

/// The latest count per key written to partition 0 of `out`, read until `done` says so
/// (or a minute passes); and whether it did.
fn counts_until(
    config: &StreamsConfig,
    out: &str,
    done: impl Fn(&BTreeMap<String, i64>) -> bool,
) -> (bool, BTreeMap<String, i64>) {
    let mut reader = KafkaChangelogReader::new(config).unwrap();
    let mut counts = BTreeMap::new();
    let mut from = 0;
    let counted = wait_for(Duration::from_secs(60), || {
        for record in reader.read_batch(out, 0, from, 100).unwrap() {
            from = record.offset + 1;
            counts.insert(
                String::from_utf8(record.key).unwrap(),
                i64::from_be_bytes(record.value.unwrap().try_into().unwrap()),
            );
        }
        done(&counts)
    });
    (counted, counts)
}

/// A fresh application with `settings`, and its input and output topics (one partition
/// each).
fn application(
    prefix: &str,
    settings: &[(&str, &str)],
) -> (StreamsConfig, String, String, tempfile::TempDir) {
    let app = support::unique(prefix);
    let mut all = vec![("commit.interval.ms", "200")];
    all.extend_from_slice(settings);
    let (config, state) = support::streams_config(&app, &all);
    let (input, out) = (format!("{app}-input"), format!("{app}-output"));
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&input, 1, &[]).unwrap();
    admin.create_topic(&out, 1, &[]).unwrap();
    (config, input, out, state)
}

/// Starts `streams`, waits until it fails, closes it and returns the error it closed with.
fn failure_of(streams: &mut KafkaStreams) -> String {
    streams.start().unwrap();
    assert!(
        wait_for(Duration::from_secs(60), || streams.state()
            == StreamsState::Error),
        "the instance must fail"
    );
    streams
        .close(Duration::from_secs(30))
        .unwrap_err()
        .to_string()
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
    let err = failure_of(&mut streams);
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
    let (counted, counts) = counts_until(&config, &out, |c| c.get("ann") == Some(&2));
    assert!(counted, "ann's two good events are counted: {counts:?}");
    assert_eq!(streams.state(), StreamsState::Running);
    streams.close(Duration::from_secs(30)).unwrap();
}

/// The word count over three lines, the middle one a single 5 MB word: too large for the
/// repartition topic's producer (`message.max.bytes` 1 MB by default). With `dead_letters`,
/// records the handler skips go to the topic of that name.
fn huge_line_setup(
    handler: &str,
    dead_letters: Option<&str>,
) -> (StreamsConfig, String, String, tempfile::TempDir) {
    let mut settings = vec![("production.exception.handler", handler)];
    settings.extend(dead_letters.map(|t| ("errors.dead.letter.queue.topic.name", t)));
    let (config, lines, out, state) = application("huge", &settings);
    let mut big = config.clone();
    big.set("producer.message.max.bytes", "10000000").unwrap();
    let mut producer = KafkaCollector::new(&big).unwrap();
    let huge = "x".repeat(5 << 20);
    for (i, line) in ["alpha beta", huge.as_str(), "beta gamma"]
        .iter()
        .enumerate()
    {
        producer
            .send(OutgoingRecord {
                topic: &lines,
                partition: 0,
                key: None,
                value: Some(line.as_bytes()),
                timestamp: i as i64,
                headers: &Vec::new(),
            })
            .unwrap();
    }
    producer.flush().unwrap();
    (config, lines, out, state)
}

#[test]
fn a_record_too_large_to_write_stops_the_instance_by_default_and_is_dropped_with_continue() {
    let (config, lines, out, _state) = huge_line_setup("fail", None);
    let topology = tributary::topologies::word_count(&lines, &out).unwrap();
    let mut streams = KafkaStreams::new(topology, config);
    let err = failure_of(&mut streams);
    assert!(
        err.contains("repartition") && err.contains("production.exception.handler"),
        "the error names the topic and the handler: {err}"
    );

    // The dead-letter topic refuses the huge line as well: it is dropped all the same.
    let dead_letters = support::unique("huge-dead-letters");
    let (config, lines, out, _state) = huge_line_setup("continue", Some(&dead_letters));
    let topology = tributary::topologies::word_count(&lines, &out).unwrap();
    let mut streams = KafkaStreams::new(topology, config.clone());
    streams.start().unwrap();
    let (counted, counts) = counts_until(&config, &out, |c| c.get("gamma") == Some(&1));
    assert!(
        counted,
        "the lines around the huge one are counted: {counts:?}"
    );
    let expected: BTreeMap<String, i64> = [("alpha", 1), ("beta", 2), ("gamma", 1)]
        .map(|(w, n)| (w.to_owned(), n))
        .into();
    assert_eq!(counts, expected, "the huge word is dropped, nothing else");
    assert_eq!(streams.state(), StreamsState::Running);
    let skipped = "tributary_task_records_skipped_total{reason=\"production\",task=\"0_0\"} 1";
    assert!(
        wait_for(Duration::from_secs(10), || streams
            .metrics()
            .render(&streams.stores())
            .contains(skipped)),
        "the dropped record is counted:\n{}",
        streams.metrics().render(&streams.stores())
    );
    streams.close(Duration::from_secs(30)).unwrap();
}
