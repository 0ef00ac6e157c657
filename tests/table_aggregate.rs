//! A KTable regrouped and aggregated with adder and subtractor: rows that move between
//! groups, change value or are deleted must retract their old contribution.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tributary::engine::serde::{I64Serde, StringSerde};
use tributary::{
    Consumed, Grouped, Materialized, StreamsBuilder, StreamsConfig, TopologyTestDriver,
};

/// user → "region:amount"; the table sums amounts per region.
fn driver(partitions: i32) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .table(
            "accounts",
            Consumed::with(StringSerde, StringSerde),
            Materialized::named("accounts"),
        )
        .group_by(
            |_, row| {
                let (region, amount) = row.split_once(':').expect("rows are region:amount");
                (
                    region.to_owned(),
                    amount.parse::<i64>().expect("amounts are integers"),
                )
            },
            Grouped::with(StringSerde, I64Serde).with_name("by-region"),
        )
        .aggregate(
            || 0,
            |_, amount, sum| sum + amount,
            |_, amount, sum| sum - amount,
            Materialized::named("region-totals").with_value_serde(I64Serde),
        );
    TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("totals"))
        .partitions("accounts", partitions)
        .build()
        .unwrap()
}

#[test]
fn a_row_moving_region_is_subtracted_from_the_old_one() {
    let driver = driver(2);
    let input = driver
        .input_topic("accounts", StringSerde, StringSerde)
        .unwrap();
    input.pipe("ann".into(), "eu:10".into(), 0).unwrap();
    input.pipe("bob".into(), "eu:5".into(), 1).unwrap();
    input.pipe("ann".into(), "us:7".into(), 2).unwrap();
    input.pipe_raw(Some(b"bob"), None, 3).unwrap();
    let totals = driver
        .key_value_store::<String, i64>("region-totals")
        .unwrap();
    assert_eq!(totals.get(&"eu".to_string()).unwrap(), Some(0));
    assert_eq!(totals.get(&"us".to_string()).unwrap(), Some(7));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn totals_match_a_model_under_random_updates_and_deletes(
        ops in prop::collection::vec((0..6usize, prop::option::weighted(0.8, (0..3usize, -50..50i64))), 1..40)
    ) {
        let driver = driver(3);
        let input = driver.input_topic("accounts", StringSerde, StringSerde).unwrap();
        let regions = ["eu", "us", "apac"];
        let mut rows: BTreeMap<String, (usize, i64)> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for (t, (user, row)) in ops.iter().enumerate() {
            let user = format!("user-{user}");
            match row {
                Some((region, amount)) => {
                    input.pipe(user.clone(), format!("{}:{amount}", regions[*region]), t as i64).unwrap();
                    seen.insert(*region);
                    rows.insert(user, (*region, *amount));
                }
                None => {
                    input.pipe_raw(Some(user.as_bytes()), None, t as i64).unwrap();
                    rows.remove(&user);
                }
            }
        }
        let totals = driver.key_value_store::<String, i64>("region-totals").unwrap();
        for region in seen {
            let want: i64 = rows.values().filter(|(r, _)| *r == region).map(|(_, a)| a).sum();
            prop_assert_eq!(totals.get(&regions[region].to_string()).unwrap(), Some(want), "region {}", regions[region]);
        }
    }
}
