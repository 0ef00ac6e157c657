//! `KStream::deduplicate` and `deduplicate_by_key` over random out-of-order input on three
//! partitions, checked record by record against a brute-force reference of the rule; and
//! the edges of the rule one by one.
//!
//! The rule: a record passes unless a record of its id passed before with a time at most
//! `within` away that the store still keeps. The store keeps an id's first time until it
//! falls more than `within` behind the latest time the task stored (its stream time); a
//! record older than that is not kept (it passes, unchecked). Records of one id meet in
//! one task: the id's partition.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::reference::{assert_same, wandering_times};
use tributary::engine::TopologyTestDriver;
use tributary::engine::dsl::Deduplicated;
use tributary::engine::partitioner::partition_for;
use tributary::engine::serde::{I64Serde, StringSerde, nullable};
use tributary::{Consumed, Produced, StreamsBuilder, StreamsConfig};

const PARTITIONS: i32 = 3;
const WITHIN: i64 = 10;

/// A record as piped and as expected out: key, value, time.
type Out = (String, String, i64);

/// An input record: keyed by one of five keys, its value `"<id>:<n>"`.
fn inputs(seed: u64, n: usize, ids: usize) -> Vec<Out> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xd0d0);
    let keys = ["a", "b", "c", "d", "e"];
    wandering_times(seed, n, &keys, 3, 2 * WITHIN, 4 * WITHIN)
        .into_iter()
        .enumerate()
        .map(|(i, (key, ts))| {
            let id = rng.random_range(0..ids);
            (key, format!("id-{id}:{i}"), ts)
        })
        .collect()
}

fn id_of(value: &str) -> String {
    value.split(':').next().unwrap_or_default().to_owned()
}

/// What the rule lets through, in input order, with records of an id meeting in the task
/// of `id`'s partition.
fn reference(records: &[Out], id: impl Fn(&Out) -> String) -> Vec<Out> {
    // Each task's latest stored time, and each id's kept first times.
    let mut observed: HashMap<i32, i64> = HashMap::new();
    let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
    let mut out = Vec::new();
    for record in records {
        let id = id(record);
        let t = record.2;
        let partition = partition_for(id.as_bytes(), PARTITIONS);
        let oldest_kept = observed.get(&partition).map_or(i64::MIN, |o| o - WITHIN);
        let times = seen.entry(id).or_default();
        let duplicate = times
            .iter()
            .any(|&first| first >= oldest_kept && (first - t).abs() <= WITHIN);
        if duplicate {
            continue;
        }
        out.push(record.clone());
        if t >= oldest_kept {
            times.push(t);
            let latest = observed.entry(partition).or_insert(t);
            *latest = (*latest).max(t);
        }
    }
    out
}

fn config() -> StreamsConfig {
    StreamsConfig::new("dedup")
}

/// Runs `records` through a deduplication by id (`by_key`: by key) on `partitions`
/// partitions and returns what came out.
fn run(records: &[Out], by_key: bool, partitions: i32) -> Vec<Out> {
    let builder = StreamsBuilder::new();
    let stream = builder.stream("in", Consumed::with(StringSerde, StringSerde));
    let within = Duration::from_millis(WITHIN as u64);
    let deduplicated = if by_key {
        stream.deduplicate_by_key(within, Deduplicated::new())
    } else {
        stream.deduplicate(
            |_, v: &String| id_of(v),
            within,
            Deduplicated::with(StringSerde),
        )
    };
    deduplicated.to("out", Produced::with(StringSerde, StringSerde));
    let driver = TopologyTestDriver::builder(builder.build().unwrap(), config())
        .partitions("in", partitions)
        .partitions("out", partitions)
        // Nothing here is cached: commits (each a flush of RocksDB) change no output.
        .commit_after_each_input(false)
        .build()
        .unwrap();
    let input = driver.input_topic("in", StringSerde, StringSerde).unwrap();
    for (key, value, ts) in records {
        input.pipe(key.clone(), value.clone(), *ts).unwrap();
    }
    let out = driver.output_topic("out", StringSerde, StringSerde);
    let got: Vec<Out> = out
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    let dropped = driver.metrics().dropped_duplicates;
    assert_eq!(
        dropped as usize,
        records.len() - got.len(),
        "every record dropped is counted as a duplicate"
    );
    got
}

#[test]
fn random_out_of_order_input_is_deduplicated_as_the_reference_says() {
    for seed in 0..20 {
        let records = inputs(seed, 400, 40);
        let want = reference(&records, |r| id_of(&r.1));
        let got = run(&records, false, PARTITIONS);
        assert!(want.len() < records.len(), "the input has duplicates");
        assert_same(&got, &want, &format!("by id, seed {seed}"));

        let want = reference(&records, |r| r.0.clone());
        let got = run(&records, true, PARTITIONS);
        assert_same(&got, &want, &format!("by key, seed {seed}"));
    }
}

#[test]
fn duplicates_within_the_time_span_are_dropped_and_later_ones_pass() {
    let record = |value: &str, ts| ("k".to_owned(), value.to_owned(), ts);
    let records = [
        record("x:first", 100),
        record("x:just-within", 100 + WITHIN),
        record("x:just-after", 101 + WITHIN),
        record("y:first", 200),
        record("y:earlier-within", 200 - WITHIN), // out of order, still a duplicate
        record("x:again", 300),
        // Stream time is 300: a record more than WITHIN behind it is not checked.
        record("y:too-old-to-check", 200),
        record("x:out-of-order", 295),
    ];
    let got: Vec<String> = run(&records, false, 1).into_iter().map(|r| r.1).collect();
    assert_eq!(
        got,
        [
            "x:first",
            "x:just-after",
            "y:first",
            "x:again",
            "y:too-old-to-check"
        ]
    );
}

#[test]
fn deduplicating_by_key_skips_null_keys_and_keeps_values_apart() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(nullable(StringSerde), I64Serde))
        .deduplicate_by_key(Duration::from_secs(1), Deduplicated::new())
        .to("out", Produced::with(nullable(StringSerde), I64Serde));
    let driver = TopologyTestDriver::new(builder.build().unwrap(), config()).unwrap();
    let input = driver
        .input_topic("in", nullable(StringSerde), I64Serde)
        .unwrap();
    input.pipe(Some("a".into()), 1, 0).unwrap();
    input.pipe(None, 2, 1).unwrap();
    input.pipe(Some("a".into()), 3, 2).unwrap();
    input.pipe(Some("b".into()), 1, 3).unwrap();
    let out = driver.output_topic("out", nullable(StringSerde), I64Serde);
    assert_eq!(
        out.read_key_values().unwrap(),
        vec![(Some("a".into()), 1), (Some("b".into()), 1)]
    );
    let metrics = driver.metrics();
    assert_eq!((metrics.dropped_null, metrics.dropped_duplicates), (1, 1));
}

#[test]
fn an_id_without_a_serde_is_refused_when_the_topology_is_built() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .deduplicate(
            |_, v: &String| v.len(),
            Duration::from_secs(1),
            Deduplicated::new(),
        )
        .to("out", Produced::with(StringSerde, StringSerde));
    let Err(error) = builder.build() else {
        panic!("a topology without an id serde was built");
    };
    let error = error.to_string();
    assert!(
        error.contains("deduplicate") && error.contains("Deduplicated::with(id_serde)"),
        "{error}"
    );
}
