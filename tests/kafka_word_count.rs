//! Word count end to end on the real broker: input produced to a 2-partition topic, the
//! topology run by `KafkaStreams` with two stream threads and tiny buffers (so partitions
//! are paused and resumed), exact counts read back from the output topic, and the state
//! listener's transitions.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tributary::engine::internals::{KafkaCollector, TopicAdmin};
use tributary::engine::internals::{OutgoingRecord, RecordCollector};
use tributary::engine::partitioner::partition_for;
use tributary::engine::{KafkaStreams, StreamsState};

const LINES: &[&str] = &[
    "the quick brown fox",
    "jumps over the lazy dog",
    "the dog barks",
    "quick quick",
];

/// The latest count per word written to `topic` so far.
fn read_counts(
    config: &tributary::StreamsConfig,
    topic: &str,
    partitions: i32,
) -> BTreeMap<String, i64> {
    support::worker::read_latest(config, topic, partitions, support::worker::i64_be)
        .into_iter()
        .collect()
}

#[test]
fn word_count_runs_on_the_broker_with_two_threads() {
    let app = support::unique("wc");
    let (config, _state) = support::streams_config(
        &app,
        &[
            ("num.stream.threads", "2"),
            ("commit.interval.ms", "200"),
            // Tiny buffers, so that partitions are paused and resumed many times.
            ("buffered.records.per.partition", "3"),
        ],
    );
    let (lines, out) = (format!("{app}-lines"), format!("{app}-counts"));
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&lines, 2, &[]).unwrap();
    admin.create_topic(&out, 2, &[]).unwrap();

    let mut producer = KafkaCollector::new(&config).unwrap();
    let mut expected = BTreeMap::new();
    for (i, line) in LINES.iter().cycle().take(30 * LINES.len()).enumerate() {
        let key = format!("doc-{i}");
        producer
            .send(OutgoingRecord {
                topic: &lines,
                partition: partition_for(key.as_bytes(), 2),
                key: Some(key.as_bytes()),
                value: Some(line.as_bytes()),
                timestamp: i as i64,
                headers: &Vec::new(),
            })
            .unwrap();
        for word in line.split_whitespace() {
            *expected.entry(word.to_owned()).or_insert(0) += 1;
        }
    }
    producer.flush().unwrap();

    let topology = tributary::topologies::word_count(&lines, &out).unwrap();
    let mut streams = KafkaStreams::new(topology, config.clone());
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let seen = transitions.clone();
    streams.set_state_listener(move |old, new| seen.lock().unwrap().push((old, new)));
    streams.start().unwrap();

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut counts = BTreeMap::new();
    while Instant::now() < deadline {
        counts = read_counts(&config, &out, 2);
        if counts == expected {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(counts, expected, "final counts on `{out}`");
    assert_eq!(streams.state(), StreamsState::Running);
    streams.close(Duration::from_secs(60)).unwrap();

    let transitions = transitions.lock().unwrap().clone();
    assert_eq!(
        transitions,
        vec![
            (StreamsState::Created, StreamsState::Rebalancing),
            (StreamsState::Rebalancing, StreamsState::Running),
            (StreamsState::Running, StreamsState::PendingShutdown),
            (StreamsState::PendingShutdown, StreamsState::NotRunning),
        ]
    );
}

#[test]
fn a_second_instance_with_the_same_state_dir_is_refused() {
    let app = support::unique("locked");
    let (config, _state) = support::streams_config(&app, &[]);
    let (lines, out) = (format!("{app}-lines"), format!("{app}-counts"));
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&lines, 1, &[]).unwrap();
    admin.create_topic(&out, 1, &[]).unwrap();
    let topology = tributary::topologies::word_count(&lines, &out).unwrap();

    let mut first = KafkaStreams::new(topology.clone(), config.clone());
    first.start().unwrap();
    let mut second = KafkaStreams::new(topology.clone(), config.clone());
    let err = second.start().unwrap_err().to_string();
    assert!(
        err.contains("is in use by another instance") && err.contains("state.dir"),
        "{err}"
    );
    assert_eq!(second.state(), StreamsState::Created);
    first.close(Duration::from_secs(60)).unwrap();

    // Once the first instance is closed, the directory is free again.
    let mut third = KafkaStreams::new(topology, config);
    third.start().unwrap();
    third.close(Duration::from_secs(60)).unwrap();
}
