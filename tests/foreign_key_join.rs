//! Foreign-key table joins (KIP-213) through the test driver: the DSL guide's table of
//! inner and left results, foreign keys that change or vanish, deletes on both sides, many
//! rows per foreign row, tables on different partition counts — the joined table checked
//! after every update against a reference computed from both tables — and responses for a
//! value the row no longer has dropped.

mod support;

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tributary::engine::serde::{StringSerde, nullable};
use tributary::{
    Consumed, KTable, Materialized, StreamsBuilder, StreamsConfig, TopologyTestDriver,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Inner,
    Left,
}

/// Rows are `"<foreign key>"` (or `"-"` for none) optionally followed by `/<text>`.
fn foreign_key(row: &str) -> Option<String> {
    let key = row.split('/').next().unwrap_or_default();
    (key != "-").then(|| key.to_owned())
}

fn joined(row: &String, foreign: Option<&String>) -> String {
    format!("{row},{}", foreign.map_or("null", String::as_str))
}

fn topology(kind: Kind) -> tributary::Topology {
    let builder = StreamsBuilder::new();
    let consumed = || Consumed::with(StringSerde, StringSerde);
    let rows: KTable<String, String> =
        builder.table("rows", consumed(), Materialized::named("rows").in_memory());
    let foreign = builder.table(
        "foreign",
        consumed(),
        Materialized::named("foreign").in_memory(),
    );
    let result = Materialized::named("joined")
        .with_value_serde(StringSerde)
        .with_caching_disabled()
        .in_memory();
    match kind {
        Kind::Inner => rows.join_on_foreign_key(
            &foreign,
            |r| foreign_key(r),
            |r, f| joined(r, Some(f)),
            result,
        ),
        Kind::Left => rows.left_join_on_foreign_key(&foreign, |r| foreign_key(r), joined, result),
    };
    builder.build().unwrap()
}

fn joined_table(driver: &TopologyTestDriver) -> BTreeMap<String, String> {
    driver
        .key_value_store::<String, String>("joined")
        .unwrap()
        .all()
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn the_dsl_guides_table_of_foreign_key_join_results() {
    // (topic, key, value) per row of the table; the joined table after it, per kind.
    type Input = (&'static str, &'static str, &'static str);
    type Table = &'static [(&'static str, &'static str)];
    let steps: [(Input, Table, Table); 10] = [
        (("foreign", "1", "foo"), &[], &[]),
        (("rows", "k", "1"), &[("k", "1,foo")], &[("k", "1,foo")]),
        (("rows", "k", "2"), &[], &[("k", "2,null")]),
        (("rows", "k", "3"), &[], &[("k", "3,null")]),
        (
            ("foreign", "3", "bar"),
            &[("k", "3,bar")],
            &[("k", "3,bar")],
        ),
        (("rows", "k", "-"), &[], &[("k", "-,null")]),
        (("rows", "k", "1"), &[("k", "1,foo")], &[("k", "1,foo")]),
        (
            ("rows", "q", "10"),
            &[("k", "1,foo")],
            &[("k", "1,foo"), ("q", "10,null")],
        ),
        (
            ("rows", "r", "10"),
            &[("k", "1,foo")],
            &[("k", "1,foo"), ("q", "10,null"), ("r", "10,null")],
        ),
        (
            ("foreign", "10", "baz"),
            &[("k", "1,foo"), ("q", "10,baz"), ("r", "10,baz")],
            &[("k", "1,foo"), ("q", "10,baz"), ("r", "10,baz")],
        ),
    ];
    for kind in [Kind::Inner, Kind::Left] {
        let driver = TopologyTestDriver::new(topology(kind), StreamsConfig::new("fk")).unwrap();
        let rows = driver
            .input_topic("rows", StringSerde, StringSerde)
            .unwrap();
        let foreign = driver
            .input_topic("foreign", StringSerde, StringSerde)
            .unwrap();
        for (i, ((topic, key, value), inner, left)) in steps.iter().enumerate() {
            let topic = if *topic == "rows" { &rows } else { &foreign };
            topic
                .pipe(key.to_string(), value.to_string(), i as i64)
                .unwrap();
            let want = if kind == Kind::Inner { inner } else { left };
            let want: BTreeMap<String, String> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(joined_table(&driver), want, "{kind:?} join after step {i}");
        }
    }
}

/// What the joined table holds for these tables.
fn reference(
    kind: Kind,
    rows: &BTreeMap<String, String>,
    foreign: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    rows.iter()
        .filter_map(|(key, row)| {
            let found = foreign_key(row).and_then(|fk| foreign.get(&fk));
            match (kind, found) {
                (Kind::Inner, None) => None,
                (_, found) => Some((key.clone(), joined(row, found))),
            }
        })
        .collect()
}

#[test]
fn the_joined_table_always_equals_the_join_of_both_tables() {
    for kind in [Kind::Inner, Kind::Left] {
        for seed in 0..3u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let driver = TopologyTestDriver::builder(topology(kind), StreamsConfig::new("fk"))
                .partitions("rows", 3)
                .partitions("foreign", 2)
                .build()
                .unwrap();
            let rows_in = driver
                .input_topic("rows", StringSerde, nullable(StringSerde))
                .unwrap();
            let foreign_in = driver
                .input_topic("foreign", StringSerde, nullable(StringSerde))
                .unwrap();
            let (mut rows, mut foreign) = (BTreeMap::new(), BTreeMap::new());
            for step in 0..300i64 {
                if rng.random_bool(0.65) {
                    let key = format!("row-{}", rng.random_range(0..12));
                    let value = match rng.random_range(0..10) {
                        0 => None,
                        1 => Some(format!("-/{step}")),
                        n => Some(format!("f{}/{step}", n % 5)),
                    };
                    match &value {
                        Some(v) => rows.insert(key.clone(), v.clone()),
                        None => rows.remove(&key),
                    };
                    rows_in.pipe(key, value, step).unwrap();
                } else {
                    let key = format!("f{}", rng.random_range(0..5));
                    let value = rng.random_bool(0.8).then(|| format!("F{step}"));
                    match &value {
                        Some(v) => foreign.insert(key.clone(), v.clone()),
                        None => foreign.remove(&key),
                    };
                    foreign_in.pipe(key, value, step).unwrap();
                }
                assert_eq!(
                    joined_table(&driver),
                    reference(kind, &rows, &foreign),
                    "{kind:?} join, seed {seed}, after step {step}"
                );
            }
        }
    }
}

#[test]
fn topics_and_stores_are_named_after_the_join_and_sized_by_their_readers() {
    let topology = topology(Kind::Left);
    let description = topology.describe();
    for name in [
        "<application.id>-joined-subscription-registration-topic",
        "<application.id>-joined-subscription-response-topic",
        "joined-subscription-store",
    ] {
        assert!(description.contains(name), "{name} in\n{description}");
    }
    let counts = topology
        .resolve_partitions(
            "app",
            &[("rows".to_string(), 3), ("foreign".to_string(), 2)].into(),
        )
        .unwrap();
    assert_eq!(counts["app-joined-subscription-registration-topic"], 2);
    assert_eq!(counts["app-joined-subscription-response-topic"], 3);
}

#[test]
fn a_response_for_a_value_the_row_no_longer_has_is_dropped() {
    let driver = TopologyTestDriver::new(topology(Kind::Left), StreamsConfig::new("fk")).unwrap();
    driver
        .input_topic("foreign", StringSerde, StringSerde)
        .unwrap()
        .pipe("f1".into(), "F".into(), 1)
        .unwrap();
    driver
        .input_topic("rows", StringSerde, StringSerde)
        .unwrap()
        .pipe("k".into(), "f1/x".into(), 2)
        .unwrap();
    assert_eq!(joined_table(&driver)["k"], "f1/x,F");
    // Responses as the foreign side writes them: version, hash, partition, foreign value.
    let response = |hash: Option<[u8; 16]>, foreign: &str| {
        let mut bytes = vec![0];
        match hash {
            Some(hash) => {
                bytes.push(1);
                bytes.extend_from_slice(&hash);
            }
            None => bytes.push(0),
        }
        bytes.extend_from_slice(&0i32.to_be_bytes());
        bytes.push(1);
        bytes.extend_from_slice(foreign.as_bytes());
        bytes
    };
    let responses = driver
        .input_topic(
            "fk-joined-subscription-response-topic",
            StringSerde,
            StringSerde,
        )
        .unwrap();
    for stale in [response(Some([7; 16]), "STALE"), response(None, "STALE")] {
        responses.pipe_raw(Some(b"k"), Some(&stale), 3).unwrap();
        assert_eq!(
            joined_table(&driver)["k"],
            "f1/x,F",
            "a stale response changes nothing"
        );
    }
}

/// A foreign row that comes and goes between two commits, while a row looks it up in
/// between: the record cache collapses the foreign side's insert and delete into nothing
/// (its store never held the row), yet the row joined the cached value. The delete must
/// still reach the row, or the joined table keeps a foreign value that no longer exists.
#[test]
fn a_foreign_row_deleted_before_its_first_commit_leaves_no_stale_join() {
    let builder = StreamsBuilder::new();
    let consumed = || Consumed::with(StringSerde, nullable(StringSerde));
    let rows: KTable<String, Option<String>> = builder.table(
        "rows",
        consumed(),
        Materialized::named("rows").with_caching_disabled(),
    );
    // Cached: its insert and delete stay in the cache until the commit.
    let foreign: KTable<String, Option<String>> =
        builder.table("foreign", consumed(), Materialized::named("foreign"));
    rows.left_join_on_foreign_key(
        &foreign,
        |row: &Option<String>| row.as_deref().and_then(foreign_key),
        |row: &Option<String>, f: Option<&Option<String>>| {
            joined(&row.clone().unwrap_or_default(), f.and_then(Option::as_ref))
        },
        Materialized::named("joined")
            .with_value_serde(StringSerde)
            .with_caching_disabled(),
    );
    let driver = TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("fk"))
        .commit_after_each_input(false)
        .build()
        .unwrap();
    let foreign_in = driver
        .input_topic("foreign", StringSerde, nullable(StringSerde))
        .unwrap();
    let rows_in = driver
        .input_topic("rows", StringSerde, nullable(StringSerde))
        .unwrap();

    foreign_in.pipe("f1".into(), Some("F".into()), 1).unwrap();
    rows_in.pipe("k".into(), Some("f1/x".into()), 2).unwrap();
    assert_eq!(
        joined_table(&driver)["k"],
        "f1/x,F",
        "the row joins the foreign value in the cache"
    );
    foreign_in.pipe("f1".into(), None, 3).unwrap();
    driver.commit().unwrap();
    assert_eq!(
        joined_table(&driver)["k"],
        "f1/x,null",
        "the foreign row's delete reached the row that joined it"
    );
}
