//! Deduplication on the broker across a move to another machine: payments keyed by user on
//! two partitions, deduplicated by payment id (so repartitioned by id) under
//! `exactly_once_v2`. One instance processes a first batch with duplicates in it and
//! stops; its state directory is lost. A second instance, on an empty state directory,
//! restores the ids seen from the changelog and processes a second batch that sends half
//! of the first batch's payments again: every payment comes out exactly once, and the
//! duplicates are counted.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tributary::engine::KafkaStreams;
use tributary::engine::dsl::Deduplicated;
use tributary::engine::internals::{KafkaCollector, OutgoingRecord, RecordCollector, TopicAdmin};
use tributary::engine::partitioner::partition_for;
use tributary::engine::serde::StringSerde;
use tributary::{Consumed, Produced, StreamsBuilder, StreamsConfig, Topology};

const PARTITIONS: i32 = 2;

/// Payments `"<payment id>:<amount>"` keyed by user, deduplicated by payment id for an hour.
fn topology(payments: &str, out: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(payments, Consumed::with(StringSerde, StringSerde))
        .deduplicate(
            |_, payment: &String| payment.split(':').next().unwrap_or_default().to_owned(),
            Duration::from_secs(3600),
            Deduplicated::with(StringSerde).with_name("payment-ids"),
        )
        .to(out, Produced::with(StringSerde, StringSerde));
    builder.build().unwrap()
}

/// Sends payment `id` for its user, at `timestamp`.
fn send(producer: &mut KafkaCollector, topic: &str, id: usize, timestamp: i64) {
    let user = format!("user-{}", id % 7);
    let value = format!("payment-{id}:{}", id * 10);
    producer
        .send(OutgoingRecord {
            topic,
            partition: partition_for(user.as_bytes(), PARTITIONS),
            key: Some(user.as_bytes()),
            value: Some(value.as_bytes()),
            timestamp,
            headers: &Vec::new(),
        })
        .unwrap();
}

/// How often each value was written to `out`, once `expected` distinct values are there
/// (waiting up to a minute) and a further second has passed.
fn output(config: &StreamsConfig, out: &str, expected: usize) -> BTreeMap<String, usize> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let read = || {
        let mut seen = BTreeMap::new();
        for (_, value) in support::worker::read_all(config, out, PARTITIONS) {
            let value = String::from_utf8(value.unwrap_or_default()).unwrap();
            *seen.entry(value).or_insert(0) += 1;
        }
        seen
    };
    while read().len() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    read()
}

#[test]
fn payments_sent_again_come_out_once_after_the_instance_moved() {
    let app = support::unique("dedup");
    let (payments, out) = (format!("{app}-payments"), format!("{app}-unique"));
    let settings = [("processing.guarantee", "exactly_once_v2")];
    let (config, first_state) = support::streams_config(&app, &settings);
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&payments, PARTITIONS, &[]).unwrap();
    admin.create_topic(&out, PARTITIONS, &[]).unwrap();
    let mut producer = KafkaCollector::new(&config).unwrap();

    // First batch: payments 0..100, with every fifth sent twice.
    let mut time = 1_000;
    for id in 0..100 {
        for _ in 0..(1 + usize::from(id % 5 == 0)) {
            send(&mut producer, &payments, id, time);
            time += 10;
        }
    }
    producer.flush().unwrap();
    let mut streams = KafkaStreams::new(topology(&payments, &out), config.clone());
    streams.start().unwrap();
    let first = output(&config, &out, 100);
    streams.close(Duration::from_secs(30)).unwrap();
    drop(first_state);
    assert_eq!(first.len(), 100, "every payment of the first batch");
    assert!(first.values().all(|&n| n == 1), "each once: {first:?}");

    // Second batch, processed on an empty state directory: payments 50..150 — half of
    // them sent before.
    for id in 50..150 {
        send(&mut producer, &payments, id, time);
        time += 10;
    }
    producer.flush().unwrap();
    let (config, _second_state) = support::streams_config(&app, &settings);
    let mut streams = KafkaStreams::new(topology(&payments, &out), config.clone());
    streams.start().unwrap();
    let all = output(&config, &out, 150);
    let metrics = streams.metrics().render(&streams.stores());
    streams.close(Duration::from_secs(30)).unwrap();
    let twice: Vec<_> = all.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "payments written twice: {twice:?}");
    assert_eq!(all.len(), 150, "every payment once");
    let dropped: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("tributary_task_records_skipped_total{reason=\"duplicate\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(
        dropped, 50,
        "the second batch's duplicates are counted:\n{metrics}"
    );
}
