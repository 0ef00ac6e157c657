//! An instance reports `Running` (and `/health/ready` 200) only while it holds its
//! assignment: when a second instance joins and the first one's partitions are revoked, the
//! first one is `Rebalancing` until it has partitions again, not `Running` with none.

mod support;

use std::time::{Duration, Instant};

use tributary::engine::internals::{KafkaCollector, OutgoingRecord, RecordCollector, TopicAdmin};
use tributary::engine::serde::StringSerde;
use tributary::engine::{KafkaStreams, StreamsState};
use tributary::{Consumed, Grouped, Materialized, StreamsBuilder, StreamsConfig};

const PARTITIONS: i32 = 4;

fn instance(config: &StreamsConfig, input: &str) -> KafkaStreams {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::new())
        .count(Materialized::named("counts"));
    KafkaStreams::new(builder.build().unwrap(), config.clone())
}

fn await_running(streams: &KafkaStreams) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while streams.state() != StreamsState::Running {
        assert!(Instant::now() < deadline, "state {:?}", streams.state());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_instance_whose_partitions_are_revoked_is_not_running_until_it_has_partitions_again() {
    let app = support::unique("ready");
    let (first_config, _first_state) = support::streams_config(&app, &[]);
    let (second_config, _second_state) = support::streams_config(&app, &[]);
    let input = format!("{app}-in");
    TopicAdmin::new(&first_config)
        .unwrap()
        .create_topic(&input, PARTITIONS, &[])
        .unwrap();
    let mut producer = KafkaCollector::new(&first_config).unwrap();
    for partition in 0..PARTITIONS {
        producer
            .send(OutgoingRecord {
                topic: &input,
                partition,
                key: Some(b"k"),
                value: Some(b"v"),
                timestamp: 1000,
                headers: &Vec::new(),
            })
            .unwrap();
    }
    producer.flush().unwrap();

    let mut first = instance(&first_config, &input);
    first.start().unwrap();
    await_running(&first);
    let stores = first.stores();
    let counts = stores.index_of("counts").unwrap();
    let active = || {
        stores
            .hosted_partitions(counts)
            .iter()
            .filter(|(_, restoring)| !*restoring)
            .count()
    };
    assert_eq!(active(), PARTITIONS as usize);

    let mut second = instance(&second_config, &input);
    second.start().unwrap();
    // Sample the first instance while the group rebalances: how long, at most, it says it
    // runs while holding nothing.
    let (mut longest, mut since) = (Duration::ZERO, None::<Instant>);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let empty_running = first.state() == StreamsState::Running && active() == 0;
        match (empty_running, since) {
            (true, None) => since = Some(Instant::now()),
            (false, Some(start)) => {
                longest = longest.max(start.elapsed());
                since = None;
            }
            _ => {}
        }
        let settled = second.state() == StreamsState::Running
            && first.state() == StreamsState::Running
            && active() == (PARTITIONS / 2) as usize;
        if settled {
            break;
        }
        assert!(Instant::now() < deadline, "the group did not settle");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        longest < Duration::from_millis(500),
        "the first instance said Running with no partitions for {longest:?}"
    );
    second.close(Duration::from_secs(60)).unwrap();
    first.close(Duration::from_secs(60)).unwrap();
}
