//! Session-windowed counts through the test driver against a brute-force reference over
//! random out-of-order events, for both emit strategies; and sessions merged by a bridging
//! record that arrives out of order, with the merged-away sessions retracted.

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
    SessionSerde, SessionWindows, StreamsConfig, TopologyTestDriver, Windowed,
};

/// (key, start, end).
type Session = (String, i64, i64);

fn events(seed: u64, n: usize) -> Vec<(String, i64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut now = 0i64;
    (0..n)
        .map(|_| {
            now += rng.random_range(0..6);
            let behind = match rng.random_range(0..10) {
                0 => rng.random_range(15..50),
                1..=3 => rng.random_range(0..8),
                _ => 0,
            };
            let key = ["a", "b", "c"][rng.random_range(0..3)].to_owned();
            (key, (now - behind).max(1))
        })
        .collect()
}

/// The sessions (with counts) a session count must end with, the final results it must
/// emit in order, and how many records it must drop as late.
fn reference(
    gap: i64,
    grace: i64,
    events: &[(String, i64)],
) -> (BTreeMap<Session, i64>, Vec<(Session, i64)>, u64) {
    let mut sessions: BTreeMap<Session, i64> = BTreeMap::new();
    let mut emitted: BTreeSet<Session> = BTreeSet::new();
    let mut finals = Vec::new();
    let mut stream = i64::MIN;
    let mut dropped = 0;
    let closed = |end: i64, stream: i64| end + gap + grace < stream;
    for (key, ts) in events {
        stream = stream.max(*ts);
        let overlapping: Vec<Session> = sessions
            .keys()
            .filter(|(k, start, end)| {
                k == key && *end >= ts - gap && *start <= ts + gap && !closed(*end, stream)
            })
            .cloned()
            .collect();
        let start = overlapping.iter().map(|s| s.1).chain([*ts]).min().unwrap();
        let end = overlapping.iter().map(|s| s.2).chain([*ts]).max().unwrap();
        if closed(end, stream) {
            dropped += 1;
            continue;
        }
        let count = 1 + overlapping.iter().map(|s| sessions[s]).sum::<i64>();
        for s in &overlapping {
            sessions.remove(s);
        }
        sessions.insert((key.clone(), start, end), count);
        let mut now_closed: Vec<(i64, String, i64)> = sessions
            .keys()
            .filter(|s| closed(s.2, stream) && !emitted.contains(*s))
            .map(|(k, s, e)| (*e, k.clone(), *s))
            .collect();
        now_closed.sort();
        for (e, k, s) in now_closed {
            let session = (k, s, e);
            emitted.insert(session.clone());
            finals.push((session.clone(), sessions[&session]));
        }
    }
    (sessions, finals, dropped)
}

/// Runs a session count; returns its output as (session, count or retraction) and the
/// late-record counter.
fn run(
    windows: SessionWindows,
    emit: EmitStrategy,
    events: &[(String, i64)],
) -> (Vec<(Session, Option<i64>)>, u64) {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by_session(windows)
        .emit_strategy(emit)
        .count(Materialized::named("sessions"))
        .to_stream()
        .to(
            "out",
            Produced::with(SessionSerde::new(Arc::new(StringSerde)), nullable(I64Serde)),
        );
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("sessions")).unwrap();
    let input = driver
        .input_topic("events", StringSerde, StringSerde)
        .unwrap();
    for (key, ts) in events {
        input.pipe(key.clone(), "x".into(), *ts).unwrap();
    }
    let out = driver
        .output_topic(
            "out",
            SessionSerde::new(Arc::new(StringSerde)),
            nullable(I64Serde),
        )
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(w, v): (Windowed<String>, Option<i64>)| ((w.key, w.window.start, w.window.end), v))
        .collect();
    (out, driver.metrics().dropped_late)
}

#[test]
fn every_update_builds_the_reference_sessions() {
    let (mut total_dropped, mut merged) = (0, 0);
    for (gap, grace) in [(10, 5), (4, 0), (20, 30)] {
        for seed in 0..5 {
            let events = events(seed, 300);
            let (want, _, want_dropped) = reference(gap, grace, &events);
            let windows = SessionWindows::with_inactivity_gap_and_grace(
                Duration::from_millis(gap as u64),
                Duration::from_millis(grace as u64),
            );
            let (out, dropped) = run(windows, EmitStrategy::OnWindowUpdate, &events);
            // Downstream, the changes applied as a table give exactly the sessions.
            let mut table = BTreeMap::new();
            for (session, count) in out {
                match count {
                    Some(c) => table.insert(session, c),
                    None => table.remove(&session),
                };
            }
            assert_eq!(table, want, "gap {gap}, grace {grace}, seed {seed}");
            assert_eq!(
                dropped, want_dropped,
                "gap {gap}, grace {grace}, seed {seed}"
            );
            total_dropped += dropped;
            merged += want.values().filter(|c| **c > 1).count();
        }
    }
    assert!(
        total_dropped > 0 && merged > 0,
        "the events include late records and merges"
    );
}

#[test]
fn final_results_are_each_closed_session_once() {
    for (gap, grace) in [(10, 5), (4, 0)] {
        for seed in 0..5 {
            let events = events(seed, 300);
            let (_, want, want_dropped) = reference(gap, grace, &events);
            let windows = SessionWindows::with_inactivity_gap_and_grace(
                Duration::from_millis(gap as u64),
                Duration::from_millis(grace as u64),
            );
            let strategy = EmitStrategy::OnWindowClose(FinalResults::unbounded());
            let (out, dropped) = run(windows, strategy, &events);
            let out: Vec<(Session, i64)> = out.into_iter().map(|(s, c)| (s, c.unwrap())).collect();
            assert_eq!(out, want, "gap {gap}, grace {grace}, seed {seed}");
            assert_eq!(dropped, want_dropped);
        }
    }
}

#[test]
fn a_late_bridging_record_merges_two_sessions_and_retracts_them() {
    let windows = SessionWindows::with_inactivity_gap_and_grace(
        Duration::from_millis(10),
        Duration::from_millis(100),
    );
    let events: Vec<(String, i64)> = [100, 120, 110]
        .iter()
        .map(|ts| ("user".to_owned(), *ts))
        .collect();
    let (out, _) = run(windows, EmitStrategy::OnWindowUpdate, &events);
    let session = |s, e| ("user".to_owned(), s, e);
    assert_eq!(
        out,
        vec![
            (session(100, 100), Some(1)),
            (session(120, 120), Some(1)),
            (session(100, 100), None),
            (session(120, 120), None),
            (session(100, 120), Some(3)),
        ],
        "two sessions, then the record at 110 bridges them"
    );
}

#[test]
fn the_wall_clock_closes_sessions_of_a_quiet_partition() {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by_session(SessionWindows::with_inactivity_gap_and_grace(
            Duration::from_secs(2),
            Duration::from_secs(1),
        ))
        .emit_strategy(EmitStrategy::OnWindowClose(FinalResults::unbounded()))
        .close_on_wall_clock(Duration::from_millis(500))
        .count(Materialized::named("sessions"))
        .to_stream()
        .to(
            "out",
            Produced::with(SessionSerde::new(Arc::new(StringSerde)), nullable(I64Serde)),
        );
    let driver = TopologyTestDriver::builder(builder.build().unwrap(), StreamsConfig::new("wall"))
        .wall_clock_start(1_000)
        .build()
        .unwrap();
    let input = driver
        .input_topic("events", StringSerde, StringSerde)
        .unwrap();
    input.pipe("user".into(), "x".into(), 2_000).unwrap();
    input.pipe("user".into(), "x".into(), 3_000).unwrap();
    let out = driver.output_topic(
        "out",
        SessionSerde::new(Arc::new(StringSerde)),
        nullable(I64Serde),
    );
    driver.advance_wall_clock(Duration::from_secs(4)).unwrap();
    assert!(
        out.is_empty(),
        "wall clock 5 s: the session [2 s, 3 s] is open until 6 s"
    );
    driver.advance_wall_clock(Duration::from_secs(2)).unwrap();
    let emitted: Vec<(Session, Option<i64>)> = out
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(w, n): (Windowed<String>, Option<i64>)| ((w.key, w.window.start, w.window.end), n))
        .collect();
    assert_eq!(emitted, vec![(("user".to_owned(), 2_000, 3_000), Some(2))]);
    input.pipe("user".into(), "x".into(), 3_500).unwrap();
    assert!(
        out.is_empty(),
        "a record that could only extend the closed session is late"
    );
    assert_eq!(driver.metrics().dropped_late, 1);
}
