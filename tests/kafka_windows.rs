//! A windowed count on the test broker: its windows answered over HTTP, then restored from
//! the changelog into a fresh instance with an empty state directory, which answers the
//! same.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::http;
use tributary::engine::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
use tributary::engine::kafka::{KafkaCollector, TopicAdmin};
use tributary::engine::partitioner::partition_for;
use tributary::engine::serde::StringSerde;
use tributary::engine::task::{OutgoingRecord, RecordCollector};
use tributary::engine::{KafkaStreams, TimeWindows, Topology};

const PARTITIONS: i32 = 2;
const SIZE_MS: i64 = 10_000;

fn topology(topic: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(topic, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-sensor"))
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_millis(SIZE_MS as u64),
            Duration::from_secs(1),
        ))
        .count(
            Materialized::named("readings-per-window").with_retention(Duration::from_secs(3600)),
        );
    builder.build().unwrap()
}

/// Every sensor's windows as the instance at `address` answers them: start → count.
fn windows_of(address: &str, sensor: &str) -> BTreeMap<i64, i64> {
    let url = format!("http://{address}/v1/stores/readings-per-window/windows/{sensor}?from=0");
    let reply = http::get(&url, &[]);
    assert_eq!(reply.status, 200, "{url}: {}", reply.error());
    reply.json()["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["start"].as_i64().unwrap(), w["value"].as_i64().unwrap()))
        .collect()
}

/// Waits until the instance at `address` is ready (running, nothing restoring).
fn await_ready(address: &str) {
    http::get_ok(
        &format!("http://{address}/health/ready"),
        Duration::from_secs(90),
    );
}

#[test]
fn windows_are_queryable_and_restore_from_the_changelog() {
    let app = support::unique("windows");
    let topic = format!("{app}-readings");
    let (config, _state) = support::streams_config(&app, &[("commit.interval.ms", "200")]);
    let describe = topology(&topic).describe();
    assert!(
        describe.contains("cleanup.policy=compact,delete, retention.ms=90000000"),
        "window changelogs expire: {describe}"
    );
    TopicAdmin::new(&config)
        .unwrap()
        .create_topic(&topic, PARTITIONS, &[])
        .unwrap();
    let mut truth: BTreeMap<String, BTreeMap<i64, i64>> = BTreeMap::new();
    let mut producer = KafkaCollector::new(&config).unwrap();
    let headers = Vec::new();
    for n in 0..3_000i64 {
        let sensor = format!("sensor-{}", n % 7);
        // librdkafka sends a timestamp of 0 as "now": start later.
        let ts = 1_000 + n * 20;
        *truth
            .entry(sensor.clone())
            .or_default()
            .entry(ts / SIZE_MS * SIZE_MS)
            .or_default() += 1;
        producer
            .send(OutgoingRecord {
                topic: &topic,
                partition: partition_for(sensor.as_bytes(), PARTITIONS),
                key: Some(sensor.as_bytes()),
                value: Some(b"reading"),
                timestamp: ts,
                headers: &headers,
            })
            .unwrap();
    }
    producer.flush().unwrap();

    let mut first = KafkaStreams::new(topology(&topic), config.clone());
    first.start().unwrap();
    let address = first.server_address().unwrap().to_string();
    await_ready(&address);
    let deadline = Instant::now() + Duration::from_secs(90);
    while truth.iter().any(|(s, w)| windows_of(&address, s) != *w) {
        assert!(
            Instant::now() < deadline,
            "the counts never matched: sensor-1 {:?} vs {:?}",
            windows_of(&address, "sensor-1"),
            truth["sensor-1"]
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let reply = http::get(
        &format!(
            "http://{address}/v1/stores/readings-per-window/windows/sensor-1?from=10000&to=19999"
        ),
        &[],
    );
    assert_eq!(
        reply.json()["windows"].as_array().unwrap().len(),
        1,
        "one window starts in the range"
    );
    let reply = http::get(
        &format!("http://{address}/v1/stores/readings-per-window/keys/sensor-1"),
        &[],
    );
    assert_eq!(reply.status, 400);
    assert!(
        reply.error().contains("is a window store"),
        "{}",
        reply.error()
    );
    let reply = http::get(
        &format!("http://{address}/v1/stores/readings-per-window/windows/sensor-1?from=9&to=1"),
        &[],
    );
    assert_eq!(reply.status, 400);
    let stores = http::get(&format!("http://{address}/v1/stores"), &[]).json();
    assert_eq!(stores["stores"][0]["kind"], "window");
    first.close(Duration::from_secs(30)).unwrap();

    // A new instance with an empty state directory restores every window.
    let (config, _fresh) = support::streams_config(&app, &[("commit.interval.ms", "200")]);
    let mut second = KafkaStreams::new(topology(&topic), config);
    second.start().unwrap();
    let address = second.server_address().unwrap().to_string();
    await_ready(&address);
    for (sensor, windows) in &truth {
        assert_eq!(
            windows_of(&address, sensor),
            *windows,
            "{sensor} after the restore"
        );
    }
    second.close(Duration::from_secs(30)).unwrap();
}
