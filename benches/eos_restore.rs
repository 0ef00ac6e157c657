//! What a crash costs under exactly-once: a task counting 1M distinct keys into RocksDB
//! (cache on, changelog into an in-memory log that keeps transactions) commits in batches
//! of 100k, then dies with a transaction open. Reopened on its own state directory it
//! restores only the committed changelog tail past its checkpoint; the baseline, in the same
//! run, is what Kafka Streams does by default after a crash under exactly-once: a full
//! restore into an empty directory. Prints records restored and time for both.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tributary::engine::internals::{MemoryLog, StreamTask, TaskOptions};
use tributary::engine::serde::StringSerde;
use tributary::engine::{RawRecord, TaskId};
use tributary::{Consumed, Grouped, Materialized, StreamsBuilder, StreamsConfig, Topology};

const KEYS: usize = 1_000_000;
const BATCH: usize = 100_000;

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::new())
        .count(Materialized::named("counts"));
    builder.build().unwrap()
}

/// The task on `dir`, restored from `log`: the task, records restored, time to restore.
fn open(topology: &Topology, dir: &Path, log: &MemoryLog) -> (StreamTask, u64, Duration) {
    let partitions = topology
        .resolve_partitions("bench", &HashMap::from([("events".to_owned(), 1)]))
        .unwrap();
    let mut config = StreamsConfig::new("bench");
    config
        .set("processing.guarantee", "exactly_once_v2")
        .unwrap();
    let options =
        TaskOptions::from_config(&config, topology, partitions).with_state_dir(dir.to_owned());
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };
    let started = Instant::now();
    let mut task = StreamTask::new(topology, id, &options, Box::new(log.clone())).unwrap();
    let report = task.initialize(&mut log.clone(), 0).unwrap();
    let restored = report.stores.iter().map(|s| s.records).sum();
    (task, restored, started.elapsed())
}

fn batch(from: usize) -> Vec<RawRecord> {
    (from..from + BATCH)
        .map(|i| RawRecord {
            offset: i as i64,
            timestamp: i as i64,
            key: Some(format!("key-{:07}", i % KEYS).into_bytes()),
            value: Some(b"x".to_vec()),
            headers: Vec::new(),
        })
        .collect()
}

fn main() {
    let topology = topology();
    let log = MemoryLog::default();
    let dir = tempfile::tempdir().unwrap();
    let (mut task, _, _) = open(&topology, dir.path(), &log);
    let loading = Instant::now();
    for from in (0..KEYS).step_by(BATCH) {
        task.add_records("events", batch(from));
        task.process(usize::MAX).unwrap();
        task.commit().unwrap();
        log.commit();
        task.complete_commit().unwrap();
    }
    println!(
        "loaded {KEYS} keys in {:.2} s",
        loading.elapsed().as_secs_f64()
    );
    // The next transaction is under way when the process dies.
    task.add_records("events", batch(KEYS));
    task.process(usize::MAX).unwrap();
    task.commit().unwrap();
    log.abort();
    drop(task);

    let (_, tail, tail_time) = open(&topology, dir.path(), &log);
    let empty = tempfile::tempdir().unwrap();
    let (_, full, full_time) = open(&topology, empty.path(), &log);
    println!(
        "after a kill: {tail} records restored in {:.3} s on the task's own state (full restore: {full} records in {:.3} s)",
        tail_time.as_secs_f64(),
        full_time.as_secs_f64()
    );
    println!(
        "\nRATIO kill_recovery / full_restore = {:.3}\n",
        tail_time.as_secs_f64() / full_time.as_secs_f64()
    );
}
