//! Windowed counts against the plain count over the same records in the same run: count
//! per user into a key-value store, into 1-minute tumbling windows, into 1-minute windows
//! hopping every 10 s (six windows per record), and into 1-minute sliding windows (a user
//! has a record every 10 s, so each record creates its own window, updates the six after
//! earlier records), and into sessions with a 1-minute inactivity gap (each record extends
//! its user's session: the old session is read, removed and the merged one written). Each
//! runs through a task with RocksDB, record cache and change logging (into a sink that
//! discards), one commit per batch of 100k records spaced 1 ms apart. No commit writes a
//! checkpoint unless `TRIBUTARY_BENCH_CHECKPOINT=1`; then every commit does (see
//! `common::Discard`).

mod common;

use std::cell::Cell;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use serde::Deserialize;
use tributary::engine::internals::StreamTask;
use tributary::engine::serde::{JsonSerde, StringSerde};
use tributary::engine::{SessionWindows, SlidingWindows, TimeWindows};
use tributary::{Consumed, Grouped, Materialized, StreamsBuilder, Topology};

#[derive(Clone, serde::Serialize, Deserialize)]
struct Event {
    user: String,
    amount: i64,
}

const BATCH: usize = 100_000;
const USERS: usize = 10_000;

/// What the count runs into.
#[derive(Clone, Copy)]
enum Windows {
    None,
    Time(TimeWindows),
    Sliding(SlidingWindows),
    Session(SessionWindows),
}

fn topology(windows: Windows) -> Topology {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream(
            "events",
            Consumed::with(StringSerde, JsonSerde::<Event>::new()),
        )
        .group_by_key(Grouped::new());
    let store = Materialized::named("counts");
    match windows {
        Windows::None => {
            grouped.count(store);
        }
        Windows::Time(windows) => {
            grouped.windowed_by(windows).count(store);
        }
        Windows::Sliding(windows) => {
            grouped.windowed_by_sliding(windows).count(store);
        }
        Windows::Session(windows) => {
            grouped.windowed_by_session(windows).count(store);
        }
    }
    builder.build().unwrap()
}

fn main() {
    let input: Vec<_> = common::task_events(BATCH, USERS)
        .into_iter()
        .map(|mut r| {
            let event: Event = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
            r.key = Some(event.user.into_bytes());
            r
        })
        .collect();
    let totals = common::Totals::default();
    let mut criterion = Criterion::default().configure_from_args().sample_size(10);
    let mut group = criterion.benchmark_group("windowed_count");
    group.throughput(Throughput::Elements(BATCH as u64));

    let minute = Duration::from_secs(60);
    let cases: [(&'static str, Windows); 5] = [
        ("count", Windows::None),
        (
            "tumbling_1m",
            Windows::Time(TimeWindows::of_size_with_no_grace(minute)),
        ),
        (
            "hopping_1m_every_10s",
            Windows::Time(
                TimeWindows::of_size_with_no_grace(minute).advance_by(Duration::from_secs(10)),
            ),
        ),
        (
            "sliding_1m",
            Windows::Sliding(SlidingWindows::of_time_difference_with_no_grace(minute)),
        ),
        (
            "session_1m_gap",
            Windows::Session(SessionWindows::with_inactivity_gap_and_no_grace(minute)),
        ),
    ];
    let mut keep = Vec::new();
    for (name, windows) in cases {
        let (mut task, state): (StreamTask, _) = common::task(
            &topology(windows),
            &[("events", 1), ("bench-counts-changelog", 1)],
        );
        let shift = Cell::new(0i64);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                common::timed(&totals, name, iters, &input, |batch| {
                    common::run_shifted(&mut task, "events", batch, &shift)
                })
            })
        });
        keep.push(state);
    }
    group.finish();
    totals.report("tumbling_1m", "count", BATCH);
    totals.report("hopping_1m_every_10s", "count", BATCH);
    totals.report("sliding_1m", "count", BATCH);
    totals.report("session_1m_gap", "count", BATCH);
}
