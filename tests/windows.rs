//! Time-windowed aggregations through the test driver, checked record by record (keys,
//! values and timestamps) against a brute-force reference of Kafka Streams' rules over
//! random out-of-order events: tumbling and hopping windows, with the record cache off and
//! on (committed after each record and every few records), every update and final results
//! only, late records dropped and counted, and windows closed by the wall clock when no more
//! records come.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use support::reference::{Caching, Out, assert_same, expected, run_indexed, wandering_times};
use tributary::engine::dsl::{
    BufferFull, Consumed, EmitStrategy, FinalResults, Grouped, Materialized, Produced,
    StreamsBuilder,
};
use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde, nullable};
use tributary::engine::{
    StreamsConfig, TimeWindows, TopologyTestDriver, Window, Windowed, WindowedSerde,
};

/// A window's aggregate: the indices of its records, in the order they were folded in.
type Agg = Vec<i64>;

fn events(seed: u64) -> Vec<(String, i64)> {
    wandering_times(seed, 300, &["a", "b", "c"], 3, 6, 12)
}

/// What the aggregation forwards for each input record without a cache, and its final
/// results, by Kafka Streams' rules: a record updates every window holding its timestamp
/// whose end + grace stream time has not reached, and counts as late once for each one it
/// has; an update is stamped with the largest record timestamp in its window; a window's
/// final result goes out once stream time reaches its end + grace, earliest start first,
/// then by key, stamped like its last update.
struct Reference {
    updates: Vec<Vec<Out<Windowed<String>, Agg>>>,
    finals: Vec<Out<Windowed<String>, Agg>>,
    dropped: u64,
}

fn reference(windows: &TimeWindows, events: &[(String, i64)]) -> Reference {
    let (size, grace, advance) = (windows.size_ms(), windows.grace_ms(), windows.advance_ms());
    // (start, key) → (records, largest timestamp)
    let mut state: BTreeMap<(i64, String), (Agg, i64)> = BTreeMap::new();
    let mut emitted: BTreeSet<(i64, String)> = BTreeSet::new();
    let mut stream_time = i64::MIN;
    let mut out = Reference {
        updates: Vec::new(),
        finals: Vec::new(),
        dropped: 0,
    };
    for (index, (key, ts)) in events.iter().enumerate() {
        stream_time = stream_time.max(*ts);
        let mut updates = Vec::new();
        for start in (0..=*ts).filter(|s| s % advance == 0 && ts - s < size) {
            if start + size + grace <= stream_time {
                out.dropped += 1;
                continue;
            }
            let (agg, max) = state
                .entry((start, key.clone()))
                .or_insert((Vec::new(), i64::MIN));
            agg.push(index as i64);
            *max = (*max).max(*ts);
            let window = Windowed {
                key: key.clone(),
                window: Window {
                    start,
                    end: start + size,
                },
            };
            updates.push((window, Some(agg.clone()), *max));
        }
        out.updates.push(updates);
        for ((start, key), (agg, max)) in &state {
            if start + size + grace <= stream_time && emitted.insert((*start, key.clone())) {
                let window = Windowed {
                    key: key.clone(),
                    window: Window {
                        start: *start,
                        end: start + size,
                    },
                };
                out.finals.push((window, Some(agg.clone()), *max));
            }
        }
    }
    out
}

/// Runs the windowed aggregation over `events`; returns what it forwarded and dropped.
fn run(
    windows: TimeWindows,
    emit: EmitStrategy,
    caching: Caching,
    events: &[(String, i64)],
) -> (Vec<Out<Windowed<String>, Agg>>, u64) {
    let builder = StreamsBuilder::new();
    let serde = || WindowedSerde::new(Arc::new(StringSerde), windows.size_ms());
    // In memory: the rules are the same for every backend, and RocksDB is flushed on every
    // commit.
    let mut store = Materialized::named("aggs")
        .with_value_serde(JsonSerde::<Agg>::new())
        .in_memory();
    if caching == Caching::Off {
        store = store.with_caching_disabled();
    }
    builder
        .stream("events", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by(windows)
        .emit_strategy(emit)
        .aggregate(
            Vec::new,
            |_, index, mut agg: Agg| {
                agg.push(index);
                agg
            },
            store,
        )
        .to_stream()
        .to(
            "out",
            Produced::with(serde(), nullable(JsonSerde::<Agg>::new())),
        );
    let (out, metrics) = run_indexed(builder.build().unwrap(), caching, events, serde());
    (out, metrics.dropped_late)
}

fn kinds() -> Vec<(&'static str, TimeWindows)> {
    vec![
        (
            "tumbling",
            TimeWindows::of_size_and_grace(Duration::from_millis(10), Duration::from_millis(5)),
        ),
        (
            "hopping",
            TimeWindows::of_size_and_grace(Duration::from_millis(10), Duration::from_millis(3))
                .advance_by(Duration::from_millis(4)),
        ),
        (
            "tumbling without grace",
            TimeWindows::of_size_with_no_grace(Duration::from_millis(7)),
        ),
    ]
}

#[test]
fn every_update_matches_the_reference_with_and_without_the_cache() {
    for (name, windows) in kinds() {
        for seed in 0..4 {
            let events = events(seed);
            let want = reference(&windows, &events);
            assert!(
                want.dropped > 0,
                "{name}, seed {seed}: the events include late ones"
            );
            for caching in Caching::ALL {
                let (got, dropped) = run(windows, EmitStrategy::OnWindowUpdate, caching, &events);
                assert_same(
                    &got,
                    &expected(caching, &want.updates),
                    &format!("{name}, seed {seed}, {caching:?}"),
                );
                assert_eq!(dropped, want.dropped, "{name}, seed {seed}: late records");
            }
        }
    }
}

#[test]
fn final_results_match_the_reference_with_and_without_the_cache() {
    for (name, windows) in kinds() {
        for seed in 0..4 {
            let events = events(seed);
            let want = reference(&windows, &events);
            let strategy = EmitStrategy::OnWindowClose(FinalResults::unbounded());
            for caching in Caching::ALL {
                let (got, dropped) = run(windows, strategy, caching, &events);
                assert_same(
                    &got,
                    &want.finals,
                    &format!("{name}, seed {seed}, {caching:?}"),
                );
                assert_eq!(dropped, want.dropped, "{name}, seed {seed}: late records");
            }
        }
    }
}

/// The counts of `emitted` windows by key and start.
fn counts(emitted: &[Out<Windowed<String>, Agg>]) -> Vec<(String, i64, usize)> {
    emitted
        .iter()
        .map(|(w, agg, _)| {
            (
                w.key.clone(),
                w.window.start,
                agg.as_ref().map_or(0, Vec::len),
            )
        })
        .collect()
}

#[test]
fn a_full_final_results_buffer_fails_or_emits_early() {
    let windows = TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
    let events: Vec<(String, i64)> = ["a", "b", "c"].iter().map(|k| (k.to_string(), 1)).collect();
    let early = EmitStrategy::OnWindowClose(FinalResults::max_windows(2, BufferFull::EmitEarly));
    let (emitted, _) = run(windows, early, Caching::CommitEachInput, &events);
    assert_eq!(
        counts(&emitted),
        vec![("a".to_owned(), 0, 1)],
        "the first window goes out early"
    );

    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by(windows)
        .emit_strategy(EmitStrategy::OnWindowClose(FinalResults::max_windows(
            2,
            BufferFull::Fail,
        )))
        .count(Materialized::named("counts"));
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("windows")).unwrap();
    let input = driver
        .input_topic("events", StringSerde, StringSerde)
        .unwrap();
    input.pipe("a".into(), "x".into(), 1).unwrap();
    input.pipe("b".into(), "x".into(), 1).unwrap();
    let err = input
        .pipe("c".into(), "x".into(), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_windows"), "{err}");
}

#[test]
fn the_wall_clock_closes_windows_of_a_quiet_partition() {
    let windows = TimeWindows::of_size_and_grace(Duration::from_secs(10), Duration::from_secs(1));
    let builder = StreamsBuilder::new();
    let serde = WindowedSerde::new(Arc::new(StringSerde), windows.size_ms());
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by(windows)
        .emit_strategy(EmitStrategy::OnWindowClose(FinalResults::unbounded()))
        .close_on_wall_clock(Duration::from_millis(500))
        .count(Materialized::named("counts"))
        .to_stream()
        .to(
            "out",
            Produced::with(
                WindowedSerde::new(Arc::new(StringSerde), windows.size_ms()),
                nullable(I64Serde),
            ),
        );
    let driver = TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("wall"))
        .wall_clock_start(1_000)
        .build()
        .unwrap();
    let input = driver
        .input_topic("events", StringSerde, StringSerde)
        .unwrap();
    input.pipe("a".into(), "x".into(), 2_000).unwrap();
    input.pipe("a".into(), "x".into(), 3_000).unwrap();
    let out = driver.output_topic("out", serde, nullable(I64Serde));
    assert!(out.is_empty(), "the window is open");
    driver.advance_wall_clock(Duration::from_secs(5)).unwrap();
    assert!(
        out.is_empty(),
        "wall clock 6 s: still before end + grace (11 s)"
    );
    driver.advance_wall_clock(Duration::from_secs(6)).unwrap();
    let emitted = out.read_records().unwrap();
    let expected = Windowed {
        key: "a".to_owned(),
        window: Window {
            start: 0,
            end: 10_000,
        },
    };
    assert_eq!(emitted.len(), 1, "closed by the wall clock alone");
    assert_eq!(
        (&emitted[0].key, emitted[0].value, emitted[0].timestamp),
        (&expected, Some(2), 3_000),
        "stamped with the window's latest record"
    );
    input.pipe("a".into(), "x".into(), 4_000).unwrap();
    assert!(out.is_empty(), "a record for the closed window is late");
    assert_eq!(driver.metrics().dropped_late, 1);
}

#[test]
fn updates_and_final_results_carry_the_largest_record_timestamp() {
    let windows = TimeWindows::of_size_with_no_grace(Duration::from_millis(500));
    // 2@550 then 2@500: the second update of [500, 1000) is stamped 550, not 500.
    let events = [("k".to_owned(), 550), ("k".to_owned(), 500)];
    let (got, _) = run(windows, EmitStrategy::OnWindowUpdate, Caching::Off, &events);
    let stamps: Vec<i64> = got.iter().map(|(_, _, ts)| *ts).collect();
    assert_eq!(stamps, vec![550, 550]);
    // Records at 0 and 15 in [0, 500): the final result, emitted once 600 closes the
    // window, is stamped 15 (the window's latest record), not 499.
    let events = [
        ("k".to_owned(), 0),
        ("k".to_owned(), 15),
        ("k".to_owned(), 600),
    ];
    let strategy = EmitStrategy::OnWindowClose(FinalResults::unbounded());
    let (got, _) = run(windows, strategy, Caching::Off, &events);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0.window.start, got[0].2), (0, 15));
}
