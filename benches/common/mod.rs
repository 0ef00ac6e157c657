//! Shared pieces of the micro-benchmarks: a collector that discards, input records, and
//! the ratio report.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tributary::engine::internals::{
    ChangelogReader, OutgoingRecord, RecordCollector, RestoreRecord, StreamTask, TaskOptions,
};
use tributary::engine::{RawRecord, TaskId};
use tributary::state::{ChangelogSink, DiscardingChangelog};
use tributary::{StreamsConfig, StreamsError, Topology};

/// Accepts and drops every record, as a producer with an infinitely fast broker would.
///
/// It reports no changelog ends, so no commit writes a checkpoint (nor flushes RocksDB's
/// memtables for one). With `TRIBUTARY_BENCH_CHECKPOINT=1` it reports them 100,000 records
/// further on at each ask, so that every commit flushes the task's stores and writes a
/// checkpoint, as a running task does once 10,000 changelog records have accumulated.
pub struct Discard;

impl RecordCollector for Discard {
    fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        std::hint::black_box(record);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamsError> {
        Ok(())
    }
    fn end_offset(&self, _: &str, _: i32) -> Option<i64> {
        static CHECKPOINTS: OnceLock<bool> = OnceLock::new();
        static END: AtomicI64 = AtomicI64::new(0);
        let checkpoints = *CHECKPOINTS
            .get_or_init(|| std::env::var("TRIBUTARY_BENCH_CHECKPOINT").is_ok_and(|v| v == "1"));
        checkpoints.then(|| END.fetch_add(100_000, Ordering::Relaxed))
    }
    fn changelog_sink(&self) -> Box<dyn ChangelogSink> {
        Box::new(DiscardingChangelog)
    }
}

/// A changelog with nothing to restore.
pub struct NoChangelog;

impl ChangelogReader for NoChangelog {
    fn read_batch(
        &mut self,
        _: &str,
        _: i32,
        _: i64,
        _: usize,
    ) -> Result<Vec<RestoreRecord>, StreamsError> {
        Ok(Vec::new())
    }
}

/// Task 0_0 of `topology`, initialized, writing to [`Discard`], with a 10 MiB record cache
/// and its state in a temporary directory (returned, to keep it alive).
pub fn task(topology: &Topology, partitions: &[(&str, i32)]) -> (StreamTask, tempfile::TempDir) {
    task_with(topology, partitions, &[])
}

/// [`task`] with `settings` on top of its configuration.
pub fn task_with(
    topology: &Topology,
    partitions: &[(&str, i32)],
    settings: &[(&str, &str)],
) -> (StreamTask, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StreamsConfig::new("bench");
    config
        .set("statestore.cache.max.bytes", "10485760")
        .expect("a cache size");
    config
        .set("rocksdb.memory.bytes", "134217728")
        .expect("a memory budget");
    for (key, value) in settings {
        config.set(key, value).expect("a valid setting");
    }
    let partitions: HashMap<String, i32> = partitions
        .iter()
        .map(|(t, n)| ((*t).to_owned(), *n))
        .collect();
    let options = TaskOptions::from_config(&config, topology, partitions)
        .with_state_dir(dir.path().to_owned());
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };
    let mut task = StreamTask::new(topology, id, &options, Box::new(Discard)).unwrap();
    task.initialize(&mut NoChangelog, 0).unwrap();
    (task, dir)
}

/// `n` task events `{"user": "user-<i % users>", "amount": <i % 1000>}` keyed by task id.
pub fn task_events(n: usize, users: usize) -> Vec<RawRecord> {
    (0..n)
        .map(|i| RawRecord {
            offset: i as i64,
            timestamp: i as i64,
            key: Some(format!("task-{i}").into_bytes()),
            value: Some(
                format!(r#"{{"user":"user-{}","amount":{}}}"#, i % users, i % 1000).into_bytes(),
            ),
            headers: Vec::new(),
        })
        .collect()
}

/// Runs `work` `iters` times, each on a fresh copy of `input`, timing only `work`; adds the
/// time to `totals` under `name` and returns it (for criterion's `iter_custom`).
pub fn timed(
    totals: &Totals,
    name: &'static str,
    iters: u64,
    input: &[RawRecord],
    mut work: impl FnMut(Vec<RawRecord>),
) -> Duration {
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        let batch = input.to_vec();
        let start = Instant::now();
        work(batch);
        elapsed += start.elapsed();
    }
    totals.add(name, elapsed, iters);
    elapsed
}

/// Runs `batch` through `task` (input `topic`), one commit at the end, its timestamps moved
/// on by `shift` (which then moves on by the batch's length): each batch continues in time
/// where the last ended, so nothing is late and old windows expire as in a steady stream.
#[allow(dead_code, reason = "used by some benchmarks only")]
pub fn run_shifted(
    task: &mut StreamTask,
    topic: &str,
    mut batch: Vec<RawRecord>,
    shift: &Cell<i64>,
) {
    let base = shift.get();
    for r in &mut batch {
        r.timestamp += base;
    }
    shift.set(base + batch.len() as i64);
    task.add_records(topic, batch);
    task.process(usize::MAX).unwrap();
    task.commit().unwrap();
}

/// Total time and iterations measured per benchmark, for the ratio printed at the end.
#[derive(Default)]
pub struct Totals(RefCell<HashMap<&'static str, (Duration, u64)>>);

impl Totals {
    pub fn add(&self, name: &'static str, elapsed: Duration, iters: u64) {
        let mut totals = self.0.borrow_mut();
        let entry = totals.entry(name).or_default();
        entry.0 += elapsed;
        entry.1 += iters;
    }

    fn per_iter(&self, name: &str) -> f64 {
        let totals = self.0.borrow();
        let (elapsed, iters) = totals.get(name).copied().unwrap_or_default();
        elapsed.as_secs_f64() / iters.max(1) as f64
    }

    /// Prints which share of `whole`'s total time `part` took (both timed over the same
    /// iterations).
    #[allow(dead_code, reason = "used by some benchmarks only")]
    pub fn share(&self, part: &str, whole: &str) {
        let totals = self.0.borrow();
        let total = |name| {
            totals
                .get(name)
                .map_or(0.0, |(elapsed, _)| elapsed.as_secs_f64())
        };
        println!(
            "{part}: {:.0}% of {whole}\n",
            100.0 * total(part) / total(whole)
        );
    }

    /// Prints `engine / baseline` time per iteration, and records per second of each.
    pub fn report(&self, engine: &str, baseline: &str, records_per_iter: usize) {
        let (e, b) = (self.per_iter(engine), self.per_iter(baseline));
        if e == 0.0 || b == 0.0 {
            return; // filtered out of this run
        }
        println!(
            "\nRATIO {engine} / {baseline} = {:.2}  ({engine}: {:.0} records/s, {baseline}: {:.0} records/s)\n",
            e / b,
            records_per_iter as f64 / e,
            records_per_iter as f64 / b
        );
    }
}
