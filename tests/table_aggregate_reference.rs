//! A table regrouped and aggregated, checked record by record (values and timestamps)
//! against a brute-force reference of Kafka Streams' rules over random out-of-order updates
//! and deletes, with the record cache off and on: every update of the source table goes
//! through the regrouping as one update when the row stays in its group (KIP-904) or as a
//! retraction and an addition when it moves; an aggregate is stamped with the larger of the
//! record's timestamp and its previous timestamp.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::reference::{Caching, Out, assert_same, cached};
use tributary::engine::serde::{I64Serde, StringSerde, nullable};
use tributary::{
    Consumed, Grouped, Materialized, Produced, StreamsBuilder, StreamsConfig, TopologyTestDriver,
};

/// A row of the source table: region and amount.
type Row = (String, i64);
/// An update of the source table: user, new row (`None`: a delete), timestamp.
type Input = (String, Option<Row>, i64);

fn inputs(seed: u64, n: usize) -> Vec<Input> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let user = format!("user-{}", rng.random_range(0..6));
            let row = rng.random_bool(0.8).then(|| {
                let region = ["eu", "us", "apac"][rng.random_range(0..3)].to_owned();
                (region, rng.random_range(-50..50))
            });
            (user, row, rng.random_range(1..1000))
        })
        .collect()
}

/// The source table's changes for `writes` (one commit interval): each update with the
/// row it replaced, collapsed by the cache when `cache` is on.
fn source_changes(
    table: &mut BTreeMap<String, Row>,
    present: &mut BTreeSet<String>,
    writes: &[Input],
    cache: bool,
) -> Vec<(String, Option<Row>, Option<Row>, i64)> {
    let before = table.clone();
    let mut changes = Vec::new();
    for (user, row, ts) in writes {
        let old = match row {
            Some(row) => table.insert(user.clone(), row.clone()),
            None => table.remove(user),
        };
        changes.push((user.clone(), row.clone(), old, *ts));
    }
    if !cache {
        return changes;
    }
    let latest: Vec<Out<String, Row>> = changes
        .iter()
        .map(|(user, row, _, ts)| (user.clone(), row.clone(), *ts))
        .collect();
    cached(present, &latest)
        .into_iter()
        .map(|(user, row, ts)| {
            let old = before.get(&user).cloned();
            (user, row, old, ts)
        })
        .collect()
}

/// What the regional sums forward for `inputs`, in `caching` mode.
fn reference(inputs: &[Input], caching: Caching) -> Vec<Out<String, i64>> {
    let cache = caching != Caching::Off;
    let mut table = BTreeMap::new();
    let mut present = BTreeSet::new();
    let mut sums: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut sums_present = BTreeSet::new();
    let mut out = Vec::new();
    for range in caching.intervals(inputs.len()) {
        let changes = source_changes(&mut table, &mut present, &inputs[range], cache);
        let mut updates: Vec<Out<String, i64>> = Vec::new();
        let mut apply = |region: &str, sub: Option<i64>, add: Option<i64>, ts: i64| {
            let previous = sums.get(region).copied();
            let stamp = previous.map_or(ts, |(_, t)| t.max(ts));
            let sum = previous.map_or(0, |(s, _)| s) - sub.unwrap_or(0) + add.unwrap_or(0);
            sums.insert(region.to_owned(), (sum, stamp));
            updates.push((region.to_owned(), Some(sum), stamp));
        };
        for (_, new, old, ts) in changes {
            match (old, new) {
                (Some((old_region, old_amount)), Some((new_region, new_amount)))
                    if old_region == new_region =>
                {
                    apply(&new_region, Some(old_amount), Some(new_amount), ts)
                }
                (old, new) => {
                    if let Some((region, amount)) = old {
                        apply(&region, Some(amount), None, ts);
                    }
                    if let Some((region, amount)) = new {
                        apply(&region, None, Some(amount), ts);
                    }
                }
            }
        }
        if cache {
            out.extend(cached(&mut sums_present, &updates));
        } else {
            out.extend(updates);
        }
    }
    out
}

fn run(inputs: &[Input], caching: Caching) -> Vec<Out<String, i64>> {
    let builder = StreamsBuilder::new();
    // In memory: the rules are the same for every backend, and RocksDB is flushed on every
    // commit.
    let mut source = Materialized::named("accounts").in_memory();
    let mut sums = Materialized::named("region-sums")
        .with_value_serde(I64Serde)
        .in_memory();
    if caching == Caching::Off {
        source = source.with_caching_disabled();
        sums = sums.with_caching_disabled();
    }
    builder
        .table("accounts", Consumed::with(StringSerde, StringSerde), source)
        .group_by(
            |_, row| {
                let (region, amount) = row.split_once(':').expect("rows are region:amount");
                (region.to_owned(), amount.parse::<i64>().expect("an amount"))
            },
            Grouped::with(StringSerde, I64Serde).with_name("by-region"),
        )
        .aggregate(
            || 0,
            |_, amount, sum| sum + amount,
            |_, amount, sum| sum - amount,
            sums,
        )
        .to_stream()
        .to("out", Produced::with(StringSerde, nullable(I64Serde)));
    let driver = TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("sums"))
        .commit_after_each_input(!matches!(caching, Caching::CommitEvery(_)))
        .build()
        .unwrap();
    let input = driver
        .input_topic("accounts", StringSerde, StringSerde)
        .unwrap();
    for range in caching.intervals(inputs.len()) {
        for (user, row, ts) in &inputs[range] {
            match row {
                Some((region, amount)) => input
                    .pipe(user.clone(), format!("{region}:{amount}"), *ts)
                    .unwrap(),
                None => input.pipe_raw(Some(user.as_bytes()), None, *ts).unwrap(),
            }
        }
        driver.commit().unwrap();
    }
    driver
        .output_topic("out", StringSerde, nullable(I64Serde))
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

#[test]
fn regrouped_sums_match_the_reference_with_and_without_the_cache() {
    for seed in 0..6 {
        let inputs = inputs(seed, 120);
        for caching in Caching::ALL {
            let context = format!("seed {seed}, {caching:?}");
            assert_same(
                &run(&inputs, caching),
                &reference(&inputs, caching),
                &context,
            );
        }
    }
}

#[test]
fn an_aggregate_keeps_the_later_timestamp() {
    // A→green at 10, then B→green at 9: green's count is 2, stamped 10.
    let builder = StreamsBuilder::new();
    builder
        .table(
            "colors",
            Consumed::with(StringSerde, StringSerde),
            Materialized::named("colors"),
        )
        .group_by(
            |k, color| (color.clone(), k.clone()),
            Grouped::with(StringSerde, StringSerde),
        )
        .count(Materialized::named("per-color"))
        .to_stream()
        .to("out", Produced::with(StringSerde, nullable(I64Serde)));
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("colors")).unwrap();
    let input = driver
        .input_topic("colors", StringSerde, StringSerde)
        .unwrap();
    input.pipe("A".into(), "green".into(), 10).unwrap();
    input.pipe("B".into(), "green".into(), 9).unwrap();
    let out: Vec<(String, Option<i64>, i64)> = driver
        .output_topic("out", StringSerde, nullable(I64Serde))
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    assert_eq!(
        out,
        vec![("green".into(), Some(1), 10), ("green".into(), Some(2), 10)]
    );
}

#[test]
fn an_update_within_its_group_is_one_update_also_without_the_cache() {
    let builder = StreamsBuilder::new();
    builder
        .table(
            "accounts",
            Consumed::with(StringSerde, StringSerde),
            Materialized::named("accounts").with_caching_disabled(),
        )
        .group_by(
            |_, row| {
                let (region, amount) = row.split_once(':').expect("region:amount");
                (region.to_owned(), amount.parse::<i64>().expect("an amount"))
            },
            Grouped::with(StringSerde, I64Serde).with_name("by-region"),
        )
        .aggregate(
            || 0,
            |_, amount, sum| sum + amount,
            |_, amount, sum| sum - amount,
            Materialized::named("sums")
                .with_value_serde(I64Serde)
                .with_caching_disabled(),
        )
        .to_stream()
        .to("out", Produced::with(StringSerde, nullable(I64Serde)));
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("kip904")).unwrap();
    let input = driver
        .input_topic("accounts", StringSerde, StringSerde)
        .unwrap();
    input.pipe("ann".into(), "eu:10".into(), 1).unwrap();
    input.pipe("ann".into(), "eu:15".into(), 2).unwrap();
    input.pipe("ann".into(), "us:15".into(), 3).unwrap();
    let out = driver
        .output_topic("out", StringSerde, nullable(I64Serde))
        .read_key_values()
        .unwrap();
    assert_eq!(
        out,
        vec![
            ("eu".into(), Some(10)),
            // Not eu=0 then eu=15: the row stayed in its group.
            ("eu".into(), Some(15)),
            // Moving to us: a retraction from eu, then an addition to us.
            ("eu".into(), Some(0)),
            ("us".into(), Some(15)),
        ]
    );
    let repartitioned = driver.raw_records("kip904-by-region-repartition");
    assert_eq!(
        repartitioned.len(),
        4,
        "one record for the update within eu"
    );
}
