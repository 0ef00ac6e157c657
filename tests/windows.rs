//! Windowed counts through the test driver, checked against a brute-force reference that
//! replays the same out-of-order events: tumbling and hopping windows, every update and
//! final results only, late records dropped and counted, and windows closed by the wall
//! clock when no more records come.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tributary::engine::dsl::{
    BufferFull, Consumed, EmitStrategy, FinalResults, Grouped, Materialized, Produced,
    StreamsBuilder,
};
use tributary::engine::serde::{I64Serde, StringSerde, nullable};
use tributary::engine::{
    StreamsConfig, TimeWindows, TopologyTestDriver, Window, Windowed, WindowedSerde,
};

/// (key, window start, count), in the order emitted.
type Emitted = Vec<(String, i64, i64)>;

/// Events with timestamps that wander: mostly rising, some out of order within grace, some
/// far behind (late).
fn events(seed: u64, n: usize) -> Vec<(String, i64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut now = 0i64;
    (0..n)
        .map(|_| {
            now += rng.random_range(0..4);
            let behind = match rng.random_range(0..10) {
                0 => rng.random_range(10..40), // likely late
                1..=3 => rng.random_range(0..6),
                _ => 0,
            };
            let key = ["a", "b", "c"][rng.random_range(0..3)].to_owned();
            (key, (now - behind).max(0))
        })
        .collect()
}

/// What a windowed count must emit for `events`, computed the slow way.
fn reference(windows: &TimeWindows, events: &[(String, i64)], final_only: bool) -> (Emitted, u64) {
    let (size, grace) = (windows.size_ms(), windows.grace_ms());
    let mut counts: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut emitted_final: BTreeSet<(String, i64)> = BTreeSet::new();
    let mut out = Vec::new();
    let mut stream_time = i64::MIN;
    let mut dropped = 0;
    for (key, ts) in events {
        stream_time = stream_time.max(*ts);
        // Every window that holds `ts`: starts are the multiples of the advance.
        let starts: Vec<i64> = (0..=*ts)
            .filter(|start| start % windows.advance_ms() == 0 && ts - start < size)
            .collect();
        for start in starts {
            if start + size + grace <= stream_time {
                dropped += 1;
                continue;
            }
            let count = counts.entry((key.clone(), start)).or_insert(0);
            *count += 1;
            if !final_only {
                out.push((key.clone(), start, *count));
            }
        }
        if final_only {
            // Closed windows, earliest end first, then by key.
            let mut closed: Vec<(i64, String, i64)> = counts
                .iter()
                .filter(|((k, s), _)| {
                    s + size + grace <= stream_time && !emitted_final.contains(&(k.clone(), *s))
                })
                .map(|((k, s), _)| (s + size, k.clone(), *s))
                .collect();
            closed.sort();
            for (_, k, s) in closed {
                emitted_final.insert((k.clone(), s));
                out.push((k.clone(), s, counts[&(k, s)]));
            }
        }
    }
    (out, dropped)
}

/// Runs the windowed count over `events` and returns what it emitted and dropped.
fn run(windows: TimeWindows, emit: EmitStrategy, events: &[(String, i64)]) -> (Emitted, u64) {
    let builder = StreamsBuilder::new();
    let serde = WindowedSerde::new(Arc::new(StringSerde), windows.size_ms());
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by(windows)
        .emit_strategy(emit)
        .count(Materialized::named("counts"))
        .to_stream()
        .to(
            "out",
            Produced::with(
                WindowedSerde::new(Arc::new(StringSerde), windows.size_ms()),
                nullable(I64Serde),
            ),
        );
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("windows")).unwrap();
    let input = driver
        .input_topic("events", StringSerde, StringSerde)
        .unwrap();
    for (key, ts) in events {
        input.pipe(key.clone(), "x".into(), *ts).unwrap();
    }
    let emitted = driver
        .output_topic("out", serde, nullable(I64Serde))
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(k, v): (Windowed<String>, Option<i64>)| (k.key, k.window.start, v.unwrap()))
        .collect();
    (emitted, driver.metrics().dropped_late)
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
fn every_update_matches_the_reference() {
    for (name, windows) in kinds() {
        for seed in 0..5 {
            let events = events(seed, 300);
            let (want, want_dropped) = reference(&windows, &events, false);
            let (got, dropped) = run(windows, EmitStrategy::OnWindowUpdate, &events);
            assert_eq!(got, want, "{name}, seed {seed}");
            assert_eq!(dropped, want_dropped, "{name}, seed {seed}: late records");
            assert!(
                want_dropped > 0,
                "{name}, seed {seed}: the events include late ones"
            );
        }
    }
}

#[test]
fn final_results_match_the_reference() {
    for (name, windows) in kinds() {
        for seed in 0..5 {
            let events = events(seed, 300);
            let (want, want_dropped) = reference(&windows, &events, true);
            let strategy = EmitStrategy::OnWindowClose(FinalResults::unbounded());
            let (got, dropped) = run(windows, strategy, &events);
            assert_eq!(got, want, "{name}, seed {seed}");
            assert_eq!(dropped, want_dropped, "{name}, seed {seed}: late records");
        }
    }
}

#[test]
fn a_full_final_results_buffer_fails_or_emits_early() {
    let windows = TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
    let events: Vec<(String, i64)> = ["a", "b", "c"].iter().map(|k| (k.to_string(), 1)).collect();
    let early = EmitStrategy::OnWindowClose(FinalResults::max_windows(2, BufferFull::EmitEarly));
    let (emitted, _) = run(windows, early, &events);
    assert_eq!(
        emitted,
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
    let emitted = out.read_key_values().unwrap();
    let expected = Windowed {
        key: "a".to_owned(),
        window: Window {
            start: 0,
            end: 10_000,
        },
    };
    assert_eq!(
        emitted,
        vec![(expected, Some(2))],
        "closed by the wall clock alone"
    );
    input.pipe("a".into(), "x".into(), 4_000).unwrap();
    assert!(out.is_empty(), "a record for the closed window is late");
    assert_eq!(driver.metrics().dropped_late, 1);
}
