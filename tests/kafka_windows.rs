//! Windowed, session and sliding counts on the test broker: their windows answered over
//! HTTP, then restored from the changelogs into a fresh instance with an empty state
//! directory, which answers the same.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::http;
use tributary::engine::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
use tributary::engine::internals::{KafkaCollector, TopicAdmin};
use tributary::engine::internals::{OutgoingRecord, RecordCollector};
use tributary::engine::partitioner::partition_for;
use tributary::engine::serde::StringSerde;
use tributary::engine::{KafkaStreams, SessionWindows, SlidingWindows, TimeWindows, Topology};

const PARTITIONS: i32 = 2;
const SIZE_MS: i64 = 10_000;
/// The sessions' inactivity gap and the sliding windows' time difference.
const GAP_MS: i64 = 1_000;
const STORES: [&str; 3] = ["readings-per-window", "sessions", "readings-within-1s"];

fn topology(topic: &str) -> Topology {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream(topic, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-sensor"));
    let grace = Duration::from_secs(1);
    let kept = |name| Materialized::named(name).with_retention(Duration::from_secs(3600));
    grouped
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_millis(SIZE_MS as u64),
            grace,
        ))
        .count(kept(STORES[0]));
    let gap = Duration::from_millis(GAP_MS as u64);
    grouped
        .windowed_by_session(SessionWindows::with_inactivity_gap_and_grace(gap, grace))
        .count(kept(STORES[1]));
    grouped
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(gap, grace))
        .count(kept(STORES[2]));
    builder.build().unwrap()
}

/// (start, end for sessions, count).
type Answer = Vec<(i64, Option<i64>, i64)>;

/// A sensor's windows in `store` as the instance at `address` answers them.
fn windows_of(address: &str, store: &str, sensor: &str) -> Answer {
    let url = format!("http://{address}/v1/stores/{store}/windows/{sensor}?from=0");
    let reply = http::get(&url, &[]);
    assert_eq!(reply.status, 200, "{url}: {}", reply.error());
    reply.json()["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["start"].as_i64().unwrap(),
                w["end"].as_i64(),
                w["value"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// What each store must answer for a sensor's reading times (ascending).
fn expected(times: &[i64]) -> [Answer; 3] {
    let mut tumbling: BTreeMap<i64, i64> = BTreeMap::new();
    for t in times {
        *tumbling.entry(t / SIZE_MS * SIZE_MS).or_default() += 1;
    }
    let mut sessions: Answer = Vec::new();
    for &t in times {
        match sessions.last_mut() {
            Some((_, Some(end), n)) if t - *end <= GAP_MS => (*end, *n) = (t, *n + 1),
            _ => sessions.push((t, Some(t), 1)),
        }
    }
    let mut starts: Vec<i64> = times.iter().map(|t| t - GAP_MS).collect();
    for (i, t) in times.iter().enumerate() {
        if times.get(i + 1).is_some_and(|next| next - t <= GAP_MS + 1) {
            starts.push(t + 1);
        }
    }
    starts.sort();
    starts.dedup();
    let in_window = |s: &i64| {
        times
            .iter()
            .filter(|t| (*s..=s + GAP_MS).contains(*t))
            .count()
    };
    [
        tumbling.into_iter().map(|(s, n)| (s, None, n)).collect(),
        sessions,
        starts
            .iter()
            .map(|s| (*s, None, in_window(s) as i64))
            .collect(),
    ]
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
    let mut times: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut producer = KafkaCollector::new(&config).unwrap();
    let headers = Vec::new();
    for n in 0..3_000i64 {
        let sensor = format!("sensor-{}", n % 7);
        // librdkafka sends a timestamp of 0 as "now": start later. Every 1000 readings a
        // pause of 5 s ends the sessions.
        let ts = 1_000 + n * 20 + n / 1_000 * 5_000;
        times.entry(sensor.clone()).or_default().push(ts);
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
    let truth: BTreeMap<String, [Answer; 3]> = times
        .iter()
        .map(|(s, t)| (s.clone(), expected(t)))
        .collect();
    let answers =
        |address: &str, sensor: &str| STORES.map(|store| windows_of(address, store, sensor));
    assert_eq!(truth["sensor-1"][1].len(), 3, "three sessions per sensor");
    while truth.iter().any(|(s, want)| answers(&address, s) != *want) {
        assert!(
            Instant::now() < deadline,
            "the counts never matched: sensor-1 {:?} vs {:?}",
            answers(&address, "sensor-1"),
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
    for (sensor, want) in &truth {
        assert_eq!(
            answers(&address, sensor),
            *want,
            "{sensor} after the restore"
        );
    }
    second.close(Duration::from_secs(30)).unwrap();
}
