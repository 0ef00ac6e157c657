//! The record cache collapses repeated updates of a key between commits: one downstream
//! update and one changelog record per key and commit, carrying the latest value.

use tributary::engine::serde::{I64Serde, StringSerde, nullable};
use tributary::{
    Consumed, Grouped, Materialized, Produced, StreamsBuilder, StreamsConfig, TopologyTestDriver,
};

fn counting(caching: bool) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    let store = if caching {
        Materialized::named("counts")
    } else {
        Materialized::named("counts").with_caching_disabled()
    };
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::new())
        .count(store)
        .to_stream()
        .to(
            "counts-out",
            Produced::with(StringSerde, nullable(I64Serde)),
        );
    TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("cache"))
        .commit_after_each_input(false)
        .build()
        .unwrap()
}

fn pipe_three(driver: &TopologyTestDriver) {
    let input = driver
        .input_topic("events", StringSerde, StringSerde)
        .unwrap();
    for t in 0..3 {
        input.pipe("k".into(), "v".into(), t).unwrap();
    }
}

#[test]
fn cached_updates_reach_downstream_and_changelog_once_per_commit() {
    let driver = counting(true);
    pipe_three(&driver);
    let out = driver.output_topic("counts-out", StringSerde, nullable(I64Serde));
    assert!(out.is_empty(), "nothing leaves the cache before commit");
    driver.commit().unwrap();
    assert_eq!(out.read_key_values().unwrap(), vec![("k".into(), Some(3))]);
    let changelog = driver.raw_records("cache-counts-changelog");
    assert_eq!(changelog.len(), 1);
    assert_eq!(
        changelog[0].1.value.as_deref(),
        Some(&3i64.to_be_bytes()[..])
    );
    assert_eq!(changelog[0].1.timestamp, 2, "the latest update's timestamp");
}

#[test]
fn without_the_cache_every_update_goes_through() {
    let driver = counting(false);
    pipe_three(&driver);
    let out = driver.output_topic("counts-out", StringSerde, nullable(I64Serde));
    assert_eq!(
        out.read_key_values().unwrap(),
        vec![
            ("k".into(), Some(1)),
            ("k".into(), Some(2)),
            ("k".into(), Some(3))
        ]
    );
    assert_eq!(driver.raw_records("cache-counts-changelog").len(), 3);
}

#[test]
fn a_cache_of_zero_bytes_is_no_cache() {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::new())
        .count(Materialized::named("counts"));
    let mut config = StreamsConfig::new("cache");
    config.set("statestore.cache.max.bytes", "0").unwrap();
    let driver = TopologyTestDriver::builder(builder.build().unwrap(), config)
        .commit_after_each_input(false)
        .build()
        .unwrap();
    pipe_three(&driver);
    assert_eq!(driver.raw_records("cache-counts-changelog").len(), 3);
}
