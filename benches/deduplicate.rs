//! Deduplication by key against a plain pass-through over the same records in the same
//! run: 100k events a batch, one in ten sent again 5 ms after the first, dropped by
//! `deduplicate_by_key` with a 10 s span; the rest forwarded. The deduplication runs
//! through a task with its RocksDB window store and change logging (into a sink that
//! discards), one commit per batch of records spaced 1 ms apart; each batch continues in
//! time where the last ended, so the ids of earlier batches have expired, as in a steady
//! stream.

mod common;

use std::cell::Cell;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use tributary::engine::dsl::Deduplicated;
use tributary::engine::internals::StreamTask;
use tributary::engine::serde::StringSerde;
use tributary::{Consumed, Produced, StreamsBuilder, Topology};

const BATCH: usize = 100_000;

fn topology(deduplicate: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let events = builder.stream("events", Consumed::with(StringSerde, StringSerde));
    let events = if deduplicate {
        events.deduplicate_by_key(
            Duration::from_secs(10),
            Deduplicated::new().with_name("seen"),
        )
    } else {
        events
    };
    events.to("out", Produced::with(StringSerde, StringSerde));
    builder.build().unwrap()
}

fn main() {
    // Record i is sent again as record i + 5 when i % 10 == 0 (keys are event ids).
    let input: Vec<_> = common::task_events(BATCH, 10_000)
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            if i % 10 == 5 {
                r.key = Some(format!("task-{}", i - 5).into_bytes());
            }
            r
        })
        .collect();
    let totals = common::Totals::default();
    let mut criterion = Criterion::default().configure_from_args().sample_size(10);
    let mut group = criterion.benchmark_group("deduplicate");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut keep = Vec::new();
    for (name, deduplicate) in [("pass_through", false), ("deduplicate_by_key", true)] {
        let (mut task, state): (StreamTask, _) = common::task(
            &topology(deduplicate),
            &[("events", 1), ("out", 1), ("bench-seen-store-changelog", 1)],
        );
        let shift = Cell::new(0i64);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                common::timed(&totals, name, iters, &input, |batch| {
                    common::run_shifted(&mut task, "events", batch, &shift)
                })
            })
        });
        let dropped = task.metrics().dropped_duplicates;
        assert!(
            !deduplicate || dropped > 0,
            "the deduplication dropped the duplicates"
        );
        keep.push(state);
    }
    group.finish();
    totals.report("deduplicate_by_key", "pass_through", BATCH);
}
