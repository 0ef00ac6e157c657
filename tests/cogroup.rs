//! Cogrouped aggregations (KIP-150): Kafka Streams' own case with shared keys, inputs of
//! different value types, repartitioned inputs, and windowed cogroups — which, fed in
//! time order, equal one aggregation over the merged inputs, and otherwise keep each
//! input's own stream time, as Kafka Streams' processors do.

use std::time::Duration;

use tributary::engine::dsl::{Grouped, KStream};
use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde, nullable};
use tributary::engine::{SessionWindows, TimeWindows, Windowed, WindowedSerde};
use tributary::{
    Consumed, Materialized, Produced, StreamsBuilder, StreamsConfig, TopologyTestDriver,
};

fn concat(_: &String, value: String, agg: String) -> String {
    agg + &value
}

#[test]
fn two_streams_with_shared_keys_fold_into_one_aggregate_per_key() {
    let builder = StreamsBuilder::new();
    let one = builder.stream("one", Consumed::with(StringSerde, StringSerde));
    let two = builder.stream("two", Consumed::with(StringSerde, StringSerde));
    one.group_by_key(Grouped::new())
        .cogroup(concat)
        .cogroup(&two.group_by_key(Grouped::new()), concat)
        .aggregate(
            String::new,
            Materialized::named("customers").with_value_serde(StringSerde),
        )
        .to_stream()
        .to("out", Produced::with(StringSerde, nullable(StringSerde)));
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("cogroup")).unwrap();
    let one = driver.input_topic("one", StringSerde, StringSerde).unwrap();
    let two = driver.input_topic("two", StringSerde, StringSerde).unwrap();
    for (key, ts) in [("k1", 0), ("k2", 1), ("k1", 10), ("k2", 100)] {
        one.pipe(key.into(), "A".into(), ts).unwrap();
    }
    for (key, ts) in [
        ("k2", 100),
        ("k2", 200),
        ("k1", 1),
        ("k2", 500),
        ("k1", 500),
        ("k2", 500),
        ("k3", 500),
        ("k2", 100),
    ] {
        two.pipe(key.into(), "B".into(), ts).unwrap();
    }
    let out: Vec<(String, String, i64)> = driver
        .output_topic("out", StringSerde, nullable(StringSerde))
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value.unwrap(), r.timestamp))
        .collect();
    let want = [
        ("k1", "A", 0),
        ("k2", "A", 1),
        ("k1", "AA", 10),
        ("k2", "AA", 100),
        ("k2", "AAB", 100),
        ("k2", "AABB", 200),
        ("k1", "AAB", 10),
        ("k2", "AABBB", 500),
        ("k1", "AABB", 500),
        ("k2", "AABBBB", 500),
        ("k3", "B", 500),
        ("k2", "AABBBBB", 500),
    ];
    let want: Vec<(String, String, i64)> = want
        .iter()
        .map(|(k, v, ts)| (k.to_string(), v.to_string(), *ts))
        .collect();
    assert_eq!(out, want);
}

#[test]
fn inputs_of_different_types_and_a_rekeyed_input_meet_in_one_store() {
    let builder = StreamsBuilder::new();
    let views = builder.stream("views", Consumed::with(StringSerde, StringSerde));
    // Purchases are keyed by order; the cogroup needs them by user.
    let purchases = builder.stream("purchases", Consumed::with(StringSerde, StringSerde));
    let by_user = purchases.group_by(
        |_, value: &String| value.split(':').next().unwrap_or_default().to_owned(),
        Grouped::with(StringSerde, StringSerde).with_name("purchases-by-user"),
    );
    let amounts = builder.stream("refunds", Consumed::with(StringSerde, I64Serde));
    views
        .group_by_key(Grouped::new())
        .cogroup(|_, _view: String, (v, p, r): (i64, i64, i64)| (v + 1, p, r))
        .cogroup(&by_user, |_, purchase, (v, p, r)| {
            let amount: i64 = purchase.split(':').nth(1).unwrap().parse().unwrap();
            (v, p + amount, r)
        })
        .cogroup(
            &amounts.group_by_key(Grouped::new()),
            |_, refund, (v, p, r)| (v, p, r + refund),
        )
        .aggregate(
            || (0, 0, 0),
            Materialized::named("activity").with_value_serde(JsonSerde::<(i64, i64, i64)>::new()),
        );
    let topology = builder.build().unwrap();
    assert!(
        topology
            .describe()
            .contains("purchases-by-user-repartition"),
        "{}",
        topology.describe()
    );
    let driver = TopologyTestDriver::builder(topology, StreamsConfig::new("cogroup"))
        .partitions("views", 2)
        .partitions("purchases", 2)
        .partitions("refunds", 2)
        .build()
        .unwrap();
    let views = driver
        .input_topic("views", StringSerde, StringSerde)
        .unwrap();
    let purchases = driver
        .input_topic("purchases", StringSerde, StringSerde)
        .unwrap();
    let refunds = driver
        .input_topic("refunds", StringSerde, I64Serde)
        .unwrap();
    views.pipe("ann".into(), "/a".into(), 1).unwrap();
    views.pipe("bob".into(), "/b".into(), 2).unwrap();
    purchases
        .pipe("order-1".into(), "ann:30".into(), 3)
        .unwrap();
    purchases
        .pipe("order-2".into(), "ann:12".into(), 4)
        .unwrap();
    purchases.pipe("order-3".into(), "bob:5".into(), 5).unwrap();
    refunds.pipe("ann".into(), 12, 6).unwrap();
    views.pipe("ann".into(), "/c".into(), 7).unwrap();
    let store = driver
        .key_value_store::<String, (i64, i64, i64)>("activity")
        .unwrap();
    assert_eq!(store.get(&"ann".into()).unwrap(), Some((2, 42, 12)));
    assert_eq!(store.get(&"bob".into()).unwrap(), Some((1, 5, 0)));
}

/// Tagged events of two inputs, in time order: (input one?, key, value, time).
fn in_order_events() -> Vec<(bool, &'static str, &'static str, i64)> {
    let mut events = Vec::new();
    let keys = ["a", "b", "c"];
    let values = ["p", "q", "r", "s", "t"];
    for i in 0..120i64 {
        let one = (i * 7) % 3 != 0;
        let key = keys[((i * 5) % 3) as usize];
        let value = values[((i * 3) % 5) as usize];
        events.push((one, key, value, i * 4 + (i % 3)));
    }
    events
}

fn windowed_out(
    driver: &TopologyTestDriver,
    size: i64,
) -> Vec<(Windowed<String>, Option<String>, i64)> {
    driver
        .output_topic(
            "out",
            WindowedSerde::new(std::sync::Arc::new(StringSerde), size),
            nullable(StringSerde),
        )
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

fn run_windowed(
    events: &[(bool, &str, &str, i64)],
    build: impl Fn(&StreamsBuilder, KStream<String, String>, KStream<String, String>),
    size: i64,
) -> Vec<(Windowed<String>, Option<String>, i64)> {
    let builder = StreamsBuilder::new();
    let one = builder.stream("one", Consumed::with(StringSerde, StringSerde));
    let two = builder.stream("two", Consumed::with(StringSerde, StringSerde));
    build(&builder, one, two);
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("windows")).unwrap();
    let one = driver.input_topic("one", StringSerde, StringSerde).unwrap();
    let two = driver.input_topic("two", StringSerde, StringSerde).unwrap();
    for (first, key, value, ts) in events {
        let topic = if *first { &one } else { &two };
        topic.pipe(key.to_string(), value.to_string(), *ts).unwrap();
    }
    windowed_out(&driver, size)
}

fn sink(table: tributary::KTable<Windowed<String>, String>, size: i64) {
    table.to_stream().to(
        "out",
        Produced::with(
            WindowedSerde::new(std::sync::Arc::new(StringSerde), size),
            nullable(StringSerde),
        ),
    );
}

#[test]
fn in_time_order_a_windowed_cogroup_equals_one_aggregation_of_the_merged_inputs() {
    let events = in_order_events();
    let windows =
        TimeWindows::of_size_and_grace(Duration::from_millis(20), Duration::from_millis(5))
            .advance_by(Duration::from_millis(10));
    let store = || Materialized::named("windows").with_value_serde(StringSerde);
    let cogrouped = run_windowed(
        &events,
        |_, one, two| {
            let table = one
                .group_by_key(Grouped::new())
                .cogroup(concat)
                .cogroup(&two.group_by_key(Grouped::new()), concat)
                .windowed_by(windows)
                .aggregate(String::new, store());
            sink(table, 20);
        },
        20,
    );
    let merged = run_windowed(
        &events,
        |_, one, two| {
            let table = one
                .merge(&two)
                .group_by_key(Grouped::new())
                .windowed_by(windows)
                .aggregate(String::new, concat, store());
            sink(table, 20);
        },
        20,
    );
    assert!(!merged.is_empty());
    assert_eq!(cogrouped, merged);

    let sessions = SessionWindows::with_inactivity_gap_and_grace(
        Duration::from_millis(15),
        Duration::from_millis(2),
    );
    let merge = |_: &String, a: String, b: String| a + &b;
    let cogrouped = run_windowed(
        &events,
        |_, one, two| {
            let table = one
                .group_by_key(Grouped::new())
                .cogroup(concat)
                .cogroup(&two.group_by_key(Grouped::new()), concat)
                .windowed_by_session(sessions)
                .aggregate(String::new, merge, store());
            sink(table, 0);
        },
        0,
    );
    let merged = run_windowed(
        &events,
        |_, one, two| {
            let table = one
                .merge(&two)
                .group_by_key(Grouped::new())
                .windowed_by_session(sessions)
                .aggregate(String::new, concat, merge, store());
            sink(table, 0);
        },
        0,
    );
    assert!(
        merged.iter().any(|(_, v, _)| v.is_none()),
        "sessions merged"
    );
    assert_eq!(cogrouped, merged);
}

#[test]
fn each_input_of_a_windowed_cogroup_keeps_its_own_stream_time() {
    let events = [
        (true, "k", "A", 1),
        (false, "k", "B", 5),
        (true, "k", "C", 12),
        // Input two has only seen time 5: its window [0, 10) is still open.
        (false, "k", "D", 8),
        // Input one has seen 12: the same window is closed for it.
        (true, "k", "E", 9),
    ];
    let windows = TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
    let out = run_windowed(
        &events,
        |_, one, two| {
            let table = one
                .group_by_key(Grouped::new())
                .cogroup(concat)
                .cogroup(&two.group_by_key(Grouped::new()), concat)
                .windowed_by(windows)
                .aggregate(
                    String::new,
                    Materialized::named("w").with_value_serde(StringSerde),
                );
            sink(table, 10);
        },
        10,
    );
    let got: Vec<(i64, String, i64)> = out
        .into_iter()
        .map(|(k, v, ts)| (k.window.start, v.unwrap(), ts))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "A".to_string(), 1),
            (0, "AB".to_string(), 5),
            (10, "C".to_string(), 12),
            (0, "ABD".to_string(), 8),
        ]
    );
}
