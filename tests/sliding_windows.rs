//! Sliding-window aggregations through the test driver, checked record by record (keys,
//! values, timestamps and order) against a brute-force reference of Kafka Streams' rules
//! (KIP-450) over random out-of-order events, with the record cache off and on, for both
//! emit strategies.
//!
//! The reference states the rules, not the algorithm: a key's windows are each record's
//! left window `[t - d, t]` (`[0, d]` for records earlier than `d`) and, once a later record
//! falls into it, its right window `[t + 1, t + 1 + d]`; each holds exactly its records, in
//! the order they arrived, and is stamped with the largest of their timestamps. A record
//! updates (or creates) every window that holds it and is forwarded in Kafka Streams'
//! order. Random input is either within grace of stream time (every window it falls into
//! is open) or late altogether; records late for some windows only are covered by a test of
//! their own.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::reference::{Caching, Out, assert_same, expected, run_indexed};
use tributary::engine::dsl::{
    Consumed, EmitStrategy, FinalResults, Grouped, Materialized, Produced, StreamsBuilder,
};
use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde, nullable};
use tributary::engine::{
    SlidingWindows, StreamsConfig, TopologyTestDriver, Window, Windowed, WindowedSerde,
};

/// A window's aggregate: the indices of its records, in the order they were folded in.
type Agg = Vec<i64>;
type Update = Out<Windowed<String>, Agg>;

/// Events within grace of stream time or late altogether (beyond difference + grace), with
/// some near the epoch, where windows share `[0, d]`.
fn events(seed: u64, n: usize, d: i64, grace: i64) -> Vec<(String, i64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut now = rng.random_range(0..=d);
    let mut stream_time = 0;
    (0..n)
        .map(|_| {
            now += rng.random_range(0..5);
            let ts = match rng.random_range(0..10) {
                0 => stream_time - d - grace - rng.random_range(1..20),
                1..=4 => now.min(stream_time) - rng.random_range(0..=grace),
                _ => now,
            }
            .max(0);
            stream_time = stream_time.max(ts);
            let key = ["a", "b", "c"][rng.random_range(0..3)].to_owned();
            (key, ts)
        })
        .collect()
}

struct Reference {
    updates: Vec<Vec<Update>>,
    finals: Vec<Update>,
    dropped: u64,
}

/// The starts of the windows a key's `records` (time, index) define.
fn window_starts(records: &[(i64, i64)], d: i64) -> BTreeSet<i64> {
    let mut starts = BTreeSet::new();
    for &(r, _) in records {
        starts.insert(if r < d { 0 } else { r - d });
        if records.iter().any(|&(x, _)| x > r && x <= r + 1 + d) {
            starts.insert(r + 1);
        }
    }
    starts
}

fn reference(d: i64, grace: i64, events: &[(String, i64)]) -> Reference {
    let mut records: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    let mut emitted: BTreeSet<(i64, String)> = BTreeSet::new();
    let mut stream_time = i64::MIN;
    let mut out = Reference {
        updates: Vec::new(),
        finals: Vec::new(),
        dropped: 0,
    };
    let window = |key: &str, start: i64| Windowed {
        key: key.to_owned(),
        window: Window {
            start,
            end: start + d,
        },
    };
    let contents = |records: &[(i64, i64)], start: i64| -> (Agg, i64) {
        let held: Vec<&(i64, i64)> = records
            .iter()
            .filter(|(x, _)| start <= *x && *x <= start + d)
            .collect();
        let max = held.iter().map(|(x, _)| *x).max().unwrap_or(i64::MIN);
        (held.into_iter().map(|(_, i)| *i).collect(), max)
    };
    for (index, (key, t)) in events.iter().enumerate() {
        let t = *t;
        stream_time = stream_time.max(t);
        if t + d + grace < stream_time {
            out.dropped += 1;
            out.updates.push(Vec::new());
            continue;
        }
        let mine = records.entry(key.clone()).or_default();
        let before = window_starts(mine, d);
        mine.push((t, index as i64));
        let after = window_starts(mine, d);
        let created: BTreeSet<i64> = after.difference(&before).copied().collect();
        // Kafka Streams' order: existing windows holding the record, then the new ones.
        let mut order: Vec<i64> = Vec::new();
        let holds = |s: i64| s <= t && t <= s + d;
        if t >= d {
            order.extend(before.iter().rev().filter(|&&s| s > t - d && s <= t));
            order.extend(before.contains(&(t - d)).then_some(t - d));
            order.extend(created.iter().filter(|&&s| s > t - d && s <= t));
            order.extend(created.contains(&(t - d)).then_some(t - d));
            order.extend(created.contains(&(t + 1)).then_some(t + 1));
        } else {
            order.extend(before.iter().filter(|&&s| s > 0 && s <= t));
            order.extend(created.contains(&(t + 1)).then_some(t + 1));
            order.extend(created.iter().filter(|&&s| s > 0 && s <= t));
            order.push(0);
        }
        let unexplained: Vec<i64> = created
            .iter()
            .chain(before.iter().filter(|&&s| holds(s)))
            .filter(|s| !order.contains(s))
            .copied()
            .collect();
        assert!(
            unexplained.is_empty(),
            "reference: windows {unexplained:?} at {t}"
        );
        let updates = order
            .into_iter()
            .map(|start| {
                let (agg, max) = contents(mine, start);
                (window(key, start), Some(agg), max)
            })
            .collect();
        out.updates.push(updates);
        // Windows closed by now, earliest start first, then by key.
        let mut closed: Vec<(i64, String)> = Vec::new();
        for (k, recs) in &records {
            for start in window_starts(recs, d) {
                if start + d + grace < stream_time && !emitted.contains(&(start, k.clone())) {
                    closed.push((start, k.clone()));
                }
            }
        }
        closed.sort();
        for (start, k) in closed {
            emitted.insert((start, k.clone()));
            let (agg, max) = contents(&records[&k], start);
            out.finals.push((window(&k, start), Some(agg), max));
        }
    }
    out
}

fn sliding(d: i64, grace: i64) -> SlidingWindows {
    SlidingWindows::of_time_difference_and_grace(
        Duration::from_millis(d as u64),
        Duration::from_millis(grace as u64),
    )
}

/// Runs a sliding-window aggregation of the indices over `events` (stores kept long
/// enough that no window the reference needs has expired); returns what it forwarded and
/// dropped.
fn run(
    windows: SlidingWindows,
    emit: EmitStrategy,
    caching: Caching,
    events: &[(String, i64)],
) -> (Vec<Update>, u64) {
    let d = windows.time_difference_ms();
    let serde = || WindowedSerde::new(Arc::new(StringSerde), d);
    // In memory: the rules are the same for every backend, and RocksDB is flushed on every
    // commit.
    let mut store = Materialized::named("aggs")
        .with_value_serde(JsonSerde::<Agg>::new())
        .in_memory()
        .with_retention(Duration::from_secs(3600));
    if caching == Caching::Off {
        store = store.with_caching_disabled();
    }
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by_sliding(windows)
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

const KINDS: [(i64, i64); 4] = [(10, 5), (10, 0), (3, 8), (0, 2)];

#[test]
fn every_update_matches_the_reference_with_and_without_the_cache() {
    let mut dropped_total = 0;
    for (d, grace) in KINDS {
        for seed in 0..4 {
            let events = events(seed, 250, d, grace);
            let want = reference(d, grace, &events);
            for caching in Caching::ALL {
                let (got, dropped) = run(
                    sliding(d, grace),
                    EmitStrategy::OnWindowUpdate,
                    caching,
                    &events,
                );
                assert_same(
                    &got,
                    &expected(caching, &want.updates),
                    &format!("difference {d}, grace {grace}, seed {seed}, {caching:?}"),
                );
                assert_eq!(dropped, want.dropped, "difference {d}, grace {grace}");
                dropped_total += dropped;
            }
        }
    }
    assert!(dropped_total > 0, "the events include late records");
}

#[test]
fn final_results_match_the_reference() {
    for (d, grace) in KINDS {
        for seed in 0..4 {
            let events = events(seed, 250, d, grace);
            let want = reference(d, grace, &events);
            let strategy = EmitStrategy::OnWindowClose(FinalResults::unbounded());
            for caching in [Caching::Off, Caching::CommitEvery(5)] {
                let (got, dropped) = run(sliding(d, grace), strategy, caching, &events);
                let context = format!("difference {d}, grace {grace}, seed {seed}");
                assert_same(&got, &want.finals, &context);
                assert_eq!(dropped, want.dropped);
            }
        }
    }
}

/// (start, records) of each update in `updates`.
fn starts_and_records(updates: &[Update]) -> Vec<(i64, Agg)> {
    updates
        .iter()
        .map(|(w, agg, _)| (w.window.start, agg.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn a_record_late_for_some_windows_still_updates_the_open_ones() {
    // Difference 10, grace 0: records at 100 and 120 make the windows [90, 100] and
    // [110, 120]; stream time is 120.
    let events: Vec<(String, i64)> = [100, 120, 112, 105]
        .iter()
        .map(|t| ("a".to_owned(), *t))
        .collect();
    let (got, dropped) = run(
        sliding(10, 0),
        EmitStrategy::OnWindowUpdate,
        Caching::Off,
        &events,
    );
    let stamped: Vec<(i64, Agg, i64)> = got
        .iter()
        .map(|(w, agg, ts)| (w.window.start, agg.clone().unwrap_or_default(), *ts))
        .collect();
    // 112 is not late (112 + 10 ≥ 120): it joins the open window [110, 120] and creates its
    // right window [113, 123] holding 120; its own window [102, 112] has closed and counts
    // it as late. 105 is late altogether (105 + 10 < 120).
    assert_eq!(
        stamped,
        vec![
            (90, vec![0], 100),
            (110, vec![1], 120),
            (110, vec![1, 2], 120),
            (113, vec![1], 120),
        ]
    );
    assert_eq!(dropped, 2, "112's closed window, and 105");
}

#[test]
fn a_jump_in_stream_time_still_emits_every_closed_window() {
    let events: Vec<(String, i64)> = [(100, "a"), (104, "b"), (1_000_000, "a")]
        .iter()
        .map(|(ts, k)| (k.to_string(), *ts))
        .collect();
    let strategy = EmitStrategy::OnWindowClose(FinalResults::unbounded());
    let (got, _) = run(sliding(10, 0), strategy, Caching::Off, &events);
    assert_eq!(
        starts_and_records(&got),
        vec![(90, vec![0]), (94, vec![1])],
        "the windows closed by the jump are emitted before its write expires them"
    );
    assert_eq!(got[1].2, 104, "stamped with the window's latest record");
}

#[test]
fn a_retention_shorter_than_twice_the_difference_and_grace_is_refused() {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by_sliding(sliding(10_000, 5_000))
        .count(Materialized::named("counts").with_retention(Duration::from_secs(20)));
    let err = builder.build().err().unwrap().to_string();
    assert!(err.contains("25000 ms"), "{err}");
}

#[test]
fn the_wall_clock_closes_windows_of_a_quiet_partition() {
    let serde = || WindowedSerde::new(Arc::new(StringSerde), 10_000);
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by_sliding(sliding(10_000, 1_000))
        .emit_strategy(EmitStrategy::OnWindowClose(FinalResults::unbounded()))
        .close_on_wall_clock(Duration::from_millis(500))
        .count(Materialized::named("counts"))
        .to_stream()
        .to("out", Produced::with(serde(), nullable(I64Serde)));
    let driver = TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("wall"))
        .wall_clock_start(1_000)
        .build()
        .unwrap();
    let input = driver
        .input_topic("events", StringSerde, StringSerde)
        .unwrap();
    input.pipe("a".into(), "x".into(), 12_000).unwrap();
    input.pipe("a".into(), "x".into(), 13_000).unwrap();
    let out = driver.output_topic("out", serde(), nullable(I64Serde));
    let read = || -> Vec<(i64, i64, i64)> {
        out.read_records()
            .unwrap()
            .into_iter()
            .map(|r| (r.key.window.start, r.value.unwrap(), r.timestamp))
            .collect()
    };
    driver.advance_wall_clock(Duration::from_secs(11)).unwrap();
    assert!(read().is_empty(), "wall clock 12 s: every window is open");
    driver.advance_wall_clock(Duration::from_secs(4)).unwrap();
    assert_eq!(
        read(),
        vec![(2_000, 1, 12_000), (3_000, 2, 13_000)],
        "wall clock 16 s: the windows ending at 12 s and 13 s have closed"
    );
    driver.advance_wall_clock(Duration::from_secs(8)).unwrap();
    assert_eq!(
        read(),
        vec![(12_001, 1, 13_000)],
        "wall clock 24 s: the window after 12 s, ending at 22.001 s, has closed"
    );
    input.pipe("a".into(), "x".into(), 5_000).unwrap();
    assert!(read().is_empty());
    assert_eq!(
        driver.metrics().dropped_late,
        1,
        "every window of it has closed"
    );
}
