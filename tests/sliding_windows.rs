//! Sliding-window counts through the test driver against a brute-force reference over
//! random out-of-order events, for both emit strategies: the windows are the ones each
//! record defines (its own, ending at it, and the one right after it once a later record
//! falls in it), each counting exactly the records in its range.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tributary::engine::dsl::{
    Consumed, EmitStrategy, FinalResults, Grouped, Materialized, Produced, StreamsBuilder,
};
use tributary::engine::serde::{I64Serde, StringSerde, nullable};
use tributary::engine::{
    SlidingWindows, StreamsConfig, TopologyTestDriver, Windowed, WindowedSerde,
};

/// (key, window start, count), in the order emitted.
type Emitted = Vec<(String, i64, i64)>;

fn events(seed: u64, n: usize) -> Vec<(String, i64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut now = 100i64;
    (0..n)
        .map(|_| {
            now += rng.random_range(0..5);
            let behind = match rng.random_range(0..10) {
                0 => rng.random_range(10..40), // likely late
                1..=3 => rng.random_range(0..8),
                _ => 0,
            };
            let key = ["a", "b", "c"][rng.random_range(0..3)].to_owned();
            (key, now - behind)
        })
        .collect()
}

/// The windows of a key's record times, by start: each record's own window, and the one
/// right after it when a later record falls in it.
fn windows_of(times: &[i64], d: i64) -> BTreeMap<i64, i64> {
    let mut starts = BTreeSet::new();
    for &r in times {
        starts.insert(r - d);
        if times.iter().any(|&x| x > r && x <= r + d + 1) {
            starts.insert(r + 1);
        }
    }
    starts
        .into_iter()
        .map(|s| {
            (
                s,
                times.iter().filter(|&&x| s <= x && x <= s + d).count() as i64,
            )
        })
        .collect()
}

/// What a sliding count must emit for `events` (every change in start order after each
/// record, or each window once when it closes), computed the slow way; and how many
/// records it must drop as late.
fn reference(d: i64, grace: i64, events: &[(String, i64)], final_only: bool) -> (Emitted, u64) {
    let mut times: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut emitted: BTreeSet<(String, i64)> = BTreeSet::new();
    let mut out = Vec::new();
    let (mut stream, mut dropped) = (i64::MIN, 0);
    for (key, ts) in events {
        stream = stream.max(*ts);
        if ts + grace < stream {
            dropped += 1;
            continue;
        }
        let key_times = times.entry(key.clone()).or_default();
        let before = windows_of(key_times, d);
        key_times.push(*ts);
        let after = windows_of(key_times, d);
        if !final_only {
            for (start, count) in &after {
                if before.get(start) != Some(count) {
                    out.push((key.clone(), *start, *count));
                }
            }
            continue;
        }
        let mut closed: Vec<(i64, String, i64)> = Vec::new();
        for (k, key_times) in &times {
            for (start, count) in windows_of(key_times, d) {
                if start + d + grace < stream && !emitted.contains(&(k.clone(), start)) {
                    closed.push((start, k.clone(), count));
                }
            }
        }
        closed.sort();
        for (start, k, count) in closed {
            emitted.insert((k.clone(), start));
            out.push((k, start, count));
        }
    }
    (out, dropped)
}

fn run(
    windows: SlidingWindows,
    emit: EmitStrategy,
    materialized: Materialized<String, i64>,
    events: &[(String, i64)],
) -> (Emitted, u64) {
    let d = windows.time_difference_ms();
    let serde = || WindowedSerde::new(Arc::new(StringSerde), d);
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by_sliding(windows)
        .emit_strategy(emit)
        .count(materialized)
        .to_stream()
        .to("out", Produced::with(serde(), nullable(I64Serde)));
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("sliding")).unwrap();
    let input = driver
        .input_topic("events", StringSerde, StringSerde)
        .unwrap();
    for (key, ts) in events {
        input.pipe(key.clone(), "x".into(), *ts).unwrap();
    }
    let emitted = driver
        .output_topic("out", serde(), nullable(I64Serde))
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(w, n): (Windowed<String>, Option<i64>)| {
            assert_eq!(w.window.end, w.window.start + d);
            (w.key, w.window.start, n.unwrap())
        })
        .collect();
    (emitted, driver.metrics().dropped_late)
}

fn sliding(d: u64, grace: u64) -> SlidingWindows {
    SlidingWindows::of_time_difference_and_grace(
        Duration::from_millis(d),
        Duration::from_millis(grace),
    )
}

const KINDS: [(i64, i64); 4] = [(10, 5), (10, 0), (3, 8), (0, 2)];

#[test]
fn every_update_matches_the_reference() {
    let mut dropped_total = 0;
    for (d, grace) in KINDS {
        for seed in 0..5 {
            let events = events(seed, 250);
            let (want, want_dropped) = reference(d, grace, &events, false);
            let windows = sliding(d as u64, grace as u64);
            let store = Materialized::named("counts");
            let (got, dropped) = run(windows, EmitStrategy::OnWindowUpdate, store, &events);
            assert_eq!(got, want, "difference {d}, grace {grace}, seed {seed}");
            assert_eq!(dropped, want_dropped, "difference {d}, grace {grace}");
            dropped_total += dropped;
        }
    }
    assert!(dropped_total > 0, "the events include late records");
}

#[test]
fn final_results_match_the_reference() {
    for (d, grace) in KINDS {
        for seed in 0..5 {
            let events = events(seed, 250);
            let (want, want_dropped) = reference(d, grace, &events, true);
            let strategy = EmitStrategy::OnWindowClose(FinalResults::unbounded());
            // Without the cache every write reaches the segments at once.
            let store = Materialized::named("counts").with_caching_disabled();
            let (got, dropped) = run(sliding(d as u64, grace as u64), strategy, store, &events);
            assert_eq!(got, want, "difference {d}, grace {grace}, seed {seed}");
            assert_eq!(dropped, want_dropped);
        }
    }
}

#[test]
fn a_jump_in_stream_time_still_emits_every_closed_window() {
    let events: Vec<(String, i64)> = [(100, "a"), (104, "b"), (1_000_000, "a")]
        .iter()
        .map(|(ts, k)| (k.to_string(), *ts))
        .collect();
    let strategy = EmitStrategy::OnWindowClose(FinalResults::unbounded());
    let store = Materialized::named("counts").with_caching_disabled();
    let (got, _) = run(sliding(10, 0), strategy, store, &events);
    assert_eq!(
        got,
        vec![("a".to_owned(), 90, 1), ("b".to_owned(), 94, 1)],
        "the windows closed by the jump are emitted before its write expires them"
    );
}

#[test]
fn a_retention_shorter_than_difference_and_grace_is_refused() {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by_sliding(sliding(10_000, 5_000))
        .count(Materialized::named("counts").with_retention(Duration::from_secs(12)));
    let err = builder.build().err().unwrap().to_string();
    assert!(err.contains("15000 ms"), "{err}");
}

#[test]
fn the_record_times_live_in_a_companion_store() {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by_sliding(sliding(10, 0))
        .count(Materialized::named("counts"));
    let topology = builder.build().unwrap();
    let described = topology.describe();
    assert!(described.contains("counts-times"), "{described}");
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
    input.pipe("a".into(), "x".into(), 2_000).unwrap();
    input.pipe("a".into(), "x".into(), 3_000).unwrap();
    let out = driver.output_topic("out", serde(), nullable(I64Serde));
    let read = || -> Vec<(i64, i64)> {
        out.read_key_values()
            .unwrap()
            .into_iter()
            .map(|(w, n): (Windowed<String>, Option<i64>)| (w.window.start, n.unwrap()))
            .collect()
    };
    driver.advance_wall_clock(Duration::from_secs(1)).unwrap();
    assert!(read().is_empty(), "wall clock 2 s: every window is open");
    driver.advance_wall_clock(Duration::from_secs(4)).unwrap();
    assert_eq!(
        read(),
        vec![(-8_000, 1), (-7_000, 2)],
        "wall clock 6 s: the windows ending at 2 s and 3 s have closed"
    );
    driver.advance_wall_clock(Duration::from_secs(8)).unwrap();
    assert_eq!(
        read(),
        vec![(2_001, 1)],
        "wall clock 14 s: the window after 2 s, ending at 12.001 s, has closed"
    );
    input.pipe("a".into(), "x".into(), 5_000).unwrap();
    assert!(read().is_empty());
    assert_eq!(driver.metrics().dropped_late, 1, "its own window closed");
}
