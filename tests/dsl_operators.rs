//! Operators not covered by their doc examples, on several partitions.

use std::collections::BTreeMap;

use tributary::engine::serde::{I64Serde, StringSerde, nullable};
use tributary::{
    Consumed, Grouped, Materialized, Produced, StreamsBuilder, StreamsConfig, TopologyTestDriver,
};

fn strings() -> Consumed<String, String> {
    Consumed::with(StringSerde, StringSerde)
}

#[test]
fn filter_not_drops_what_filter_keeps() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .filter_not(|_, v| v.starts_with('#'))
        .to("out", Produced::with(StringSerde, StringSerde));
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("ops")).unwrap();
    let input = driver.input_topic("in", StringSerde, StringSerde).unwrap();
    input.pipe("a".into(), "#comment".into(), 0).unwrap();
    input.pipe("b".into(), "data".into(), 1).unwrap();
    let out = driver.output_topic("out", StringSerde, StringSerde);
    assert_eq!(
        out.read_key_values().unwrap(),
        vec![("b".into(), "data".into())]
    );
}

#[test]
fn a_table_source_applies_updates_and_tombstones_to_its_store() {
    let builder = StreamsBuilder::new();
    builder.table("users", strings(), Materialized::named("users").in_memory());
    let driver = TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("ops"))
        .partitions("users", 3)
        .build()
        .unwrap();
    let input = driver
        .input_topic("users", StringSerde, StringSerde)
        .unwrap();
    input.pipe("1".into(), "Ada".into(), 0).unwrap();
    input.pipe("2".into(), "Bo".into(), 1).unwrap();
    input.pipe("1".into(), "Ada L.".into(), 2).unwrap();
    input.pipe_raw(Some(b"2"), None, 3).unwrap();
    let store = driver.key_value_store::<String, String>("users").unwrap();
    assert_eq!(store.all().unwrap(), vec![("1".into(), "Ada L.".into())]);
    assert_eq!(store.get(&"2".to_string()).unwrap(), None);
}

#[test]
fn a_grouped_table_reduce_retracts_replaced_rows() {
    let builder = StreamsBuilder::new();
    builder
        .table(
            "stock",
            Consumed::with(StringSerde, I64Serde),
            Materialized::named("stock"),
        )
        .group_by(
            |sku, qty| (sku.split('-').next().unwrap_or_default().to_owned(), *qty),
            Grouped::with(StringSerde, I64Serde),
        )
        .reduce(
            |a, b| a + b,
            |a, b| a - b,
            Materialized::named("stock-per-family"),
        );
    let driver = TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("ops"))
        .partitions("stock", 2)
        .build()
        .unwrap();
    let input = driver.input_topic("stock", StringSerde, I64Serde).unwrap();
    input.pipe("shoe-1".into(), 4, 0).unwrap();
    input.pipe("shoe-2".into(), 6, 1).unwrap();
    input.pipe("shoe-1".into(), 1, 2).unwrap();
    input.pipe("hat-1".into(), 2, 3).unwrap();
    let store = driver
        .key_value_store::<String, i64>("stock-per-family")
        .unwrap();
    assert_eq!(
        store.all().unwrap(),
        vec![("hat".into(), 2), ("shoe".into(), 7)]
    );
}

#[test]
fn branches_without_default_drop_unmatched_records_and_merge_feeds_a_count() {
    let builder = StreamsBuilder::new();
    let branches = builder
        .stream("events", strings())
        .split("ev-")
        .branch("created", |_, v| v == "created")
        .branch("completed", |_, v| v == "completed")
        .no_default_branch();
    assert_eq!(branches.len(), 2);
    branches["ev-created"]
        .merge(&branches["ev-completed"])
        .map(|user, kind| (format!("{user}/{kind}"), kind))
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .count(Materialized::named("per-user-kind"))
        .to_stream()
        .to("counts", Produced::with(StringSerde, nullable(I64Serde)));
    let driver = TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("ops"))
        .partitions("events", 4)
        .build()
        .unwrap();
    let input = driver
        .input_topic("events", StringSerde, StringSerde)
        .unwrap();
    for (user, kind) in [
        ("u1", "created"),
        ("u2", "created"),
        ("u1", "deleted"),
        ("u1", "completed"),
        ("u1", "created"),
    ] {
        input.pipe(user.into(), kind.into(), 0).unwrap();
    }
    let store = driver
        .key_value_store::<String, i64>("per-user-kind")
        .unwrap();
    let all: BTreeMap<_, _> = store.all().unwrap().into_iter().collect();
    assert_eq!(
        all,
        BTreeMap::from([
            ("u1/completed".into(), 1),
            ("u1/created".into(), 2),
            ("u2/created".into(), 1)
        ])
    );
}
