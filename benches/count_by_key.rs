//! Count by key into the RocksDB store (record cache on, change logging into a sink that
//! discards, one commit per batch), against a `HashMap` doing the same counting.

mod common;

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use serde::Deserialize;
use tributary::engine::serde::{JsonSerde, Serde, StringSerde};
use tributary::{Consumed, Grouped, Materialized, StreamsBuilder};

#[derive(Clone, serde::Serialize, Deserialize)]
struct Event {
    user: String,
    amount: i64,
}

const BATCH: usize = 100_000;
const USERS: usize = 10_000;

fn main() {
    // Keyed by user, so the count needs no repartition: the store is the only difference.
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
    let mut group = criterion.benchmark_group("count_by_key");
    group.throughput(Throughput::Elements(BATCH as u64));

    let builder = StreamsBuilder::new();
    builder
        .stream(
            "events",
            Consumed::with(StringSerde, JsonSerde::<Event>::new()),
        )
        .group_by_key(Grouped::new())
        .count(Materialized::named("counts"));
    let topology = builder.build().unwrap();
    let (mut task, _state) =
        common::task(&topology, &[("events", 1), ("bench-counts-changelog", 1)]);

    let commit = Cell::new(Duration::ZERO);
    group.bench_function("rocksdb_task", |b| {
        b.iter_custom(|iters| {
            common::timed(&totals, "rocksdb_task", iters, &input, |batch| {
                task.add_records("events", batch);
                task.process(usize::MAX).unwrap();
                let committing = Instant::now();
                task.commit().unwrap();
                commit.set(commit.get() + committing.elapsed());
            })
        })
    });
    totals.add("commit", commit.take(), 0);

    let key_serde = StringSerde;
    let value_serde = JsonSerde::<Event>::new();
    let mut counts: HashMap<String, i64> = HashMap::new();
    group.bench_function("hashmap", |b| {
        b.iter_custom(|iters| {
            common::timed(&totals, "hashmap", iters, &input, |batch| {
                for raw in batch {
                    let key: String = key_serde.deserialize(raw.key.as_deref().unwrap()).unwrap();
                    let event = value_serde
                        .deserialize(raw.value.as_deref().unwrap())
                        .unwrap();
                    std::hint::black_box(&event);
                    *counts.entry(key).or_insert(0) += 1;
                }
            })
        })
    });
    group.finish();
    totals.report("rocksdb_task", "hashmap", BATCH);
    totals.share("commit", "rocksdb_task");
}
