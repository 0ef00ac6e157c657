//! A global table on the test broker: two instances each restore every partition of its
//! topic into an empty state directory before processing, join a stream with it, keep it
//! up to date while running, and answer every key themselves over HTTP; an instance
//! restarted on its state directory reads only what it missed, and one restarted on an
//! empty directory restores it all again.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::http;
use tributary::engine::internals::{KafkaCollector, OutgoingRecord, RecordCollector, TopicAdmin};
use tributary::engine::partitioner::partition_for;
use tributary::engine::serde::StringSerde;
use tributary::engine::{KafkaStreams, StreamsState};
use tributary::{Consumed, Materialized, Produced, StreamsBuilder, StreamsConfig};

const WAIT: Duration = Duration::from_secs(60);

struct Topics {
    countries: String,
    orders: String,
    placed: String,
}

fn send(config: &StreamsConfig, topic: &str, partitions: i32, records: &[(String, String)]) {
    let mut producer = KafkaCollector::new(config).unwrap();
    for (key, value) in records {
        producer
            .send(OutgoingRecord {
                topic,
                partition: partition_for(key.as_bytes(), partitions),
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
                timestamp: 1,
                headers: &Vec::new(),
            })
            .unwrap();
    }
    producer.flush().unwrap();
}

fn instance(
    app: &str,
    topics: &Topics,
    state: Option<&std::path::Path>,
) -> (KafkaStreams, tempfile::TempDir) {
    let (mut config, dir) = support::streams_config(app, &[("commit.interval.ms", "200")]);
    if let Some(state) = state {
        config.set("state.dir", state.to_str().unwrap()).unwrap();
    }
    let builder = StreamsBuilder::new();
    let countries = builder.global_table(
        &topics.countries,
        Consumed::with(StringSerde, StringSerde),
        Materialized::named("countries"),
    );
    builder
        .stream(&topics.orders, Consumed::with(StringSerde, StringSerde))
        .join_global(
            &countries,
            |_, order: &String| order.split(':').next().unwrap_or_default().to_owned(),
            |order, country| format!("{order} in {country}"),
        )
        .to(&topics.placed, Produced::with(StringSerde, StringSerde));
    let streams = KafkaStreams::new(builder.build().unwrap(), config);
    (streams, dir)
}

fn await_running(streams: &KafkaStreams) {
    let deadline = Instant::now() + WAIT;
    while streams.state() != StreamsState::Running {
        assert!(Instant::now() < deadline, "state {:?}", streams.state());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asserts that `streams` answers every key of `want` itself, with its value.
fn answers_every_key(streams: &KafkaStreams, want: &BTreeMap<String, String>) {
    let address = streams.server_address().unwrap().to_string();
    let deadline = Instant::now() + WAIT;
    for (key, value) in want {
        loop {
            let reply = http::get(
                &format!("http://{address}/v1/stores/countries/keys/{key}"),
                &[],
            );
            if reply.status == 200 && reply.json()["value"] == value.as_str() {
                assert_eq!(
                    reply.json()["instance"],
                    address.as_str(),
                    "answered locally"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{address} answers {key}: {} {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn every_instance_holds_and_answers_the_whole_global_table() {
    let app = support::unique("global");
    let config = support::config(&app);
    let topics = Topics {
        countries: format!("{app}-countries"),
        orders: format!("{app}-orders"),
        placed: format!("{app}-placed"),
    };
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&topics.countries, 3, &[]).unwrap();
    admin.create_topic(&topics.orders, 2, &[]).unwrap();
    admin.create_topic(&topics.placed, 2, &[]).unwrap();
    let mut countries: BTreeMap<String, String> = (0..40)
        .map(|i| (format!("c{i}"), format!("country {i}")))
        .collect();
    let rows: Vec<(String, String)> = countries.clone().into_iter().collect();
    send(&config, &topics.countries, 3, &rows);

    let (mut a, a_dir) = instance(&app, &topics, None);
    let (mut b, _b_dir) = instance(&app, &topics, None);
    a.start().unwrap();
    b.start().unwrap();
    answers_every_key(&a, &countries);
    answers_every_key(&b, &countries);

    // Updates while running reach both instances, and the joins see them.
    countries.insert("c1".into(), "renamed 1".into());
    send(
        &config,
        &topics.countries,
        3,
        &[("c1".into(), "renamed 1".into())],
    );
    answers_every_key(&a, &countries);
    answers_every_key(&b, &countries);
    await_running(&a);
    await_running(&b);
    let orders: Vec<(String, String)> = (0..20)
        .map(|i| (format!("o{i}"), format!("c{}:item {i}", i % 3)))
        .collect();
    send(&config, &topics.orders, 2, &orders);
    let deadline = Instant::now() + WAIT;
    let placed = loop {
        let placed = support::worker::read_latest(&config, &topics.placed, 2, |v| {
            String::from_utf8(v.to_vec()).unwrap()
        });
        if placed.len() == orders.len() {
            break placed;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} orders placed",
            placed.len(),
            orders.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for (key, order) in &orders {
        let country = &countries[order.split(':').next().unwrap()];
        assert_eq!(placed[key], format!("{order} in {country}"));
    }

    // A restart on its own state directory reads only what it missed; one on an empty
    // directory restores everything.
    a.close(WAIT).unwrap();
    let checkpoint = a_dir.path().join(&app).join("global/countries/.checkpoint");
    let offsets = std::fs::read_to_string(&checkpoint).unwrap();
    assert!(
        offsets.contains(&topics.countries),
        "the store's checkpoint records the offsets it reflects: {offsets}"
    );
    countries.insert("c2".into(), "renamed 2".into());
    send(
        &config,
        &topics.countries,
        3,
        &[("c2".into(), "renamed 2".into())],
    );
    let (mut again, _) = instance(&app, &topics, Some(a_dir.path()));
    again.start().unwrap();
    answers_every_key(&again, &countries);
    again.close(WAIT).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let (mut fresh, _) = instance(&app, &topics, Some(empty.path()));
    fresh.start().unwrap();
    answers_every_key(&fresh, &countries);
    fresh.close(WAIT).unwrap();
    b.close(WAIT).unwrap();
}
