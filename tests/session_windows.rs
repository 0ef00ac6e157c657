//! Session-windowed aggregations through the test driver, checked record by record (keys,
//! values, timestamps and order, deletes included) against a brute-force reference of the
//! rules over random out-of-order events, with the record cache off and on, for both emit
//! strategies; and the cases the rules single out: a bridging record, a record inside a
//! session, the merger, closed sessions.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use support::reference::{Caching, Out, assert_same, expected, run_indexed, wandering_times};
use tributary::engine::dsl::{
    Consumed, EmitStrategy, FinalResults, Grouped, Materialized, Produced, StreamsBuilder,
};
use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde, nullable};
use tributary::engine::{
    SessionSerde, SessionWindows, StreamsConfig, TopologyTestDriver, Window, Windowed,
};

/// A session's aggregate: the indices of its records, in the order they were folded in.
type Agg = Vec<i64>;
type Update = Out<Windowed<String>, Agg>;

struct Reference {
    updates: Vec<Vec<Update>>,
    finals: Vec<Update>,
    dropped: u64,
}

/// The rules, for an aggregation that lists its records and merges sessions by
/// concatenating them into the initializer's empty list: a record at `t` takes the key's
/// stored sessions ending no earlier than `t - gap` and starting no later than `t + gap`;
/// if one of them, or the merged session, has closed (end + gap + grace before stream
/// time) the record is late; otherwise the found sessions are deleted (unless the merged
/// session is just `[t, t]`) and the merged one written, each stamped with its end.
/// Sessions a store no longer holds (ended before its latest written end - retention) are
/// not found.
fn reference(gap: i64, grace: i64, events: &[(String, i64)]) -> Reference {
    let retention = gap + grace;
    let mut sessions: BTreeMap<(String, i64, i64), Agg> = BTreeMap::new();
    let mut emitted: BTreeSet<(String, i64, i64)> = BTreeSet::new();
    let (mut stream_time, mut store_time) = (i64::MIN, i64::MIN);
    let mut out = Reference {
        updates: Vec::new(),
        finals: Vec::new(),
        dropped: 0,
    };
    let window = |k: &str, start, end| Windowed {
        key: k.to_owned(),
        window: Window { start, end },
    };
    for (index, (key, t)) in events.iter().enumerate() {
        let t = *t;
        stream_time = stream_time.max(t);
        let closed = |end: i64| end + gap + grace < stream_time;
        let found: Vec<(String, i64, i64)> = sessions
            .keys()
            .filter(|(k, start, end)| {
                k == key
                    && *end >= t - gap
                    && *start <= t + gap
                    && *end >= store_time.saturating_sub(retention)
            })
            .cloned()
            .collect();
        let start = found.iter().map(|s| s.1).chain([t]).min().unwrap();
        let end = found.iter().map(|s| s.2).chain([t]).max().unwrap();
        let mut updates = Vec::new();
        if closed(end) || found.iter().any(|s| closed(s.2)) {
            out.dropped += 1;
        } else {
            let mut agg: Agg = Vec::new();
            for s in &found {
                agg.extend(&sessions[s]);
            }
            agg.push(index as i64);
            if (start, end) != (t, t) {
                for s in &found {
                    sessions.remove(s);
                    store_time = store_time.max(s.2);
                    updates.push((window(&s.0, s.1, s.2), None, s.2));
                }
            }
            sessions.insert((key.clone(), start, end), agg.clone());
            store_time = store_time.max(end);
            updates.push((window(key, start, end), Some(agg), end));
        }
        out.updates.push(updates);
        let mut now_closed: Vec<(i64, String, i64)> = sessions
            .keys()
            .filter(|s| closed(s.2) && !emitted.contains(*s))
            .map(|(k, s, e)| (*e, k.clone(), *s))
            .collect();
        now_closed.sort();
        for (e, k, s) in now_closed {
            let agg = sessions[&(k.clone(), s, e)].clone();
            emitted.insert((k.clone(), s, e));
            out.finals.push((window(&k, s, e), Some(agg), e));
        }
    }
    out
}

fn windows(gap: i64, grace: i64) -> SessionWindows {
    SessionWindows::with_inactivity_gap_and_grace(
        Duration::from_millis(gap as u64),
        Duration::from_millis(grace as u64),
    )
}

/// Runs a session aggregation of the indices; returns what it forwarded and dropped.
fn run(
    windows: SessionWindows,
    emit: EmitStrategy,
    caching: Caching,
    events: &[(String, i64)],
) -> (Vec<Update>, u64) {
    run_kept(windows, emit, caching, events, None)
}

/// [`run`] with the store keeping sessions for `retention` (default: gap + grace).
fn run_kept(
    windows: SessionWindows,
    emit: EmitStrategy,
    caching: Caching,
    events: &[(String, i64)],
    retention: Option<Duration>,
) -> (Vec<Update>, u64) {
    let serde = || SessionSerde::new(Arc::new(StringSerde));
    // In memory: the rules are the same for every backend, and RocksDB is flushed on every
    // commit.
    let mut store = Materialized::named("sessions")
        .with_value_serde(JsonSerde::<Agg>::new())
        .in_memory();
    if let Some(retention) = retention {
        store = store.with_retention(retention);
    }
    if caching == Caching::Off {
        store = store.with_caching_disabled();
    }
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::named("by-key"))
        .windowed_by_session(windows)
        .emit_strategy(emit)
        .aggregate(
            Vec::new,
            |_, index, mut agg: Agg| {
                agg.push(index);
                agg
            },
            |_, mut merged: Agg, session| {
                merged.extend(session);
                merged
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

fn events(seed: u64) -> Vec<(String, i64)> {
    wandering_times(seed, 300, &["a", "b", "c"], 5, 8, 15)
}

const KINDS: [(i64, i64); 3] = [(10, 5), (4, 0), (20, 30)];

#[test]
fn every_update_matches_the_reference_with_and_without_the_cache() {
    let (mut dropped_total, mut merges) = (0, 0);
    for (gap, grace) in KINDS {
        for seed in 0..4 {
            let events = events(seed);
            let want = reference(gap, grace, &events);
            merges += want
                .updates
                .iter()
                .flatten()
                .filter(|u| u.1.is_none())
                .count();
            for caching in Caching::ALL {
                let (got, dropped) = run(
                    windows(gap, grace),
                    EmitStrategy::OnWindowUpdate,
                    caching,
                    &events,
                );
                assert_same(
                    &got,
                    &expected(caching, &want.updates),
                    &format!("gap {gap}, grace {grace}, seed {seed}, {caching:?}"),
                );
                assert_eq!(
                    dropped, want.dropped,
                    "gap {gap}, grace {grace}, seed {seed}"
                );
                dropped_total += dropped;
            }
        }
    }
    assert!(
        dropped_total > 0 && merges > 0,
        "the events include late records and merges"
    );
}

#[test]
fn final_results_match_the_reference() {
    for (gap, grace) in KINDS {
        for seed in 0..4 {
            let events = events(seed);
            let want = reference(gap, grace, &events);
            let strategy = EmitStrategy::OnWindowClose(FinalResults::unbounded());
            for caching in [Caching::Off, Caching::CommitEvery(5)] {
                let (got, dropped) = run(windows(gap, grace), strategy, caching, &events);
                assert_same(
                    &got,
                    &want.finals,
                    &format!("gap {gap}, grace {grace}, seed {seed}"),
                );
                assert_eq!(dropped, want.dropped);
            }
        }
    }
}

fn session(start: i64, end: i64) -> Windowed<String> {
    Windowed {
        key: "user".to_owned(),
        window: Window { start, end },
    }
}

fn at(times: &[i64]) -> Vec<(String, i64)> {
    times.iter().map(|t| ("user".to_owned(), *t)).collect()
}

#[test]
fn a_bridging_record_merges_sessions_through_the_merger_and_deletes_them() {
    let (out, _) = run(
        windows(10, 100),
        EmitStrategy::OnWindowUpdate,
        Caching::Off,
        &at(&[100, 120, 110]),
    );
    assert_eq!(
        out,
        vec![
            (session(100, 100), Some(vec![0]), 100),
            (session(120, 120), Some(vec![1]), 120),
            (session(100, 100), None, 100),
            (session(120, 120), None, 120),
            // The merger folds the sessions into a fresh empty list, then the record.
            (session(100, 120), Some(vec![0, 1, 2]), 120),
        ],
        "two sessions, then the record at 110 bridges them; each stamped with its end"
    );
}

#[test]
fn a_record_inside_a_session_re_emits_it() {
    let (out, _) = run(
        windows(10, 100),
        EmitStrategy::OnWindowUpdate,
        Caching::Off,
        &at(&[100, 120, 110, 105]),
    );
    assert_eq!(
        &out[5..],
        &[
            (session(100, 120), None, 120),
            (session(100, 120), Some(vec![0, 1, 2, 3]), 120),
        ],
        "the session's delete, then its new aggregate, as Kafka Streams forwards them"
    );
    let (cached, _) = run(
        windows(10, 100),
        EmitStrategy::OnWindowUpdate,
        Caching::CommitEachInput,
        &at(&[100, 120, 110, 105]),
    );
    assert_eq!(
        cached.last(),
        Some(&(session(100, 120), Some(vec![0, 1, 2, 3]), 120)),
        "with the cache, the update alone"
    );
}

#[test]
fn a_record_that_would_change_a_closed_session_is_late() {
    // Gap 10, grace 0: the session [100, 100] closes once stream time passes 110. The
    // store keeps it for a minute (by default it would be gone as it closes).
    let kept = Some(Duration::from_secs(60));
    let (out, dropped) = run_kept(
        windows(10, 0),
        EmitStrategy::OnWindowUpdate,
        Caching::Off,
        &at(&[100, 111, 108]),
        kept,
    );
    // 108 is not late by itself (108 + 10 ≥ 111) and falls within the gap of the closed
    // session [100, 100] and of the open [111, 111]: it would merge them, changing a
    // session whose final result may have gone out. It is dropped.
    assert_eq!(
        out,
        vec![
            (session(100, 100), Some(vec![0]), 100),
            (session(111, 111), Some(vec![1]), 111),
        ]
    );
    assert_eq!(dropped, 1);
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
    let emitted: Vec<(Windowed<String>, Option<i64>, i64)> = out
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    assert_eq!(emitted, vec![(session(2_000, 3_000), Some(2), 3_000)]);
    input.pipe("user".into(), "x".into(), 3_500).unwrap();
    assert!(
        out.is_empty(),
        "a record that could only extend the closed session is late"
    );
    assert_eq!(driver.metrics().dropped_late, 1);
}
