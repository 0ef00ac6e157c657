//! Memory under a budget. A count per key through a task with RocksDB, a 10 MiB record
//! cache and change logging (into a sink that discards), with `rocksdb.memory.bytes` =
//! 256 MiB:
//!
//! - over 10M distinct keys (`--keys N` to change it), each key seen once — every record
//!   misses the cache and the block cache — against the same count over 10k keys in the same
//!   run (the baseline); prints records/s of both and their ratio (target ≥ 0.7×) and the
//!   peak RSS against budget + cache + 150 MiB;
//! - the same for a one-minute tumbling window count over 1M distinct keys.
//!
//! Peak RSS is the process's high-water mark (`VmHWM`), reset before each phase.
//! `cargo bench --bench memory [-- --keys N]`.

#[allow(dead_code, reason = "this benchmark runs its own batches")]
mod common;

use std::time::{Duration, Instant};

use tributary::engine::RawRecord;
use tributary::engine::TimeWindows;
use tributary::engine::internals::StreamTask;
use tributary::engine::serde::StringSerde;
use tributary::{Consumed, Grouped, Materialized, StreamsBuilder, Topology};

const BUDGET: u64 = 256 << 20;
const CACHE: u64 = 10 << 20;
const SLACK: u64 = 150 << 20;
const BATCH: usize = 100_000;

fn topology(windowed: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::new());
    if windowed {
        grouped
            .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
            .count(Materialized::named("counts"));
    } else {
        grouped.count(Materialized::named("counts"));
    }
    builder.build().unwrap()
}

fn task(windowed: bool) -> (StreamTask, tempfile::TempDir) {
    let budget = BUDGET.to_string();
    common::task_with(
        &topology(windowed),
        &[("events", 1), ("bench-counts-changelog", 1)],
        &[("rocksdb.memory.bytes", &budget)],
    )
}

/// `records` records, the `i`-th keyed `key-<i % keys>`, 1 ms apart, in batches.
fn run(task: &mut StreamTask, records: u64, keys: u64) -> Duration {
    let started = Instant::now();
    let mut next = 0;
    while next < records {
        let batch: Vec<RawRecord> = (next..(next + BATCH as u64).min(records))
            .map(|i| RawRecord {
                offset: i as i64,
                timestamp: i as i64,
                key: Some(format!("key-{}", i % keys).into_bytes()),
                value: Some(b"1".to_vec()),
                headers: Vec::new(),
            })
            .collect();
        next += batch.len() as u64;
        task.add_records("events", batch);
        task.process(usize::MAX).unwrap();
        task.commit().unwrap();
    }
    started.elapsed()
}

/// The process's peak resident set since the last reset, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb << 10
}

/// Resets the peak resident set to the current one (Linux: `5` to `clear_refs`).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("writing /proc/self/clear_refs");
}

fn phase(name: &str, windowed: bool, keys: u64) {
    let baseline_records = 2_000_000;
    let (mut small, _small_dir) = task(windowed);
    let small_time = run(&mut small, baseline_records, 10_000);
    drop(small);
    let (mut big, _big_dir) = task(windowed);
    reset_peak();
    let big_time = run(&mut big, keys, keys);
    let peak = peak_rss();
    let (small_rate, big_rate) = (
        baseline_records as f64 / small_time.as_secs_f64(),
        keys as f64 / big_time.as_secs_f64(),
    );
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    println!(
        "{name}: {keys} distinct keys {big_rate:.0} records/s, 10k keys {small_rate:.0} records/s: RATIO {:.2}",
        big_rate / small_rate
    );
    println!(
        "{name}: peak RSS {:.0} MiB; budget {:.0} + cache {:.0} + 150 MiB = {:.0} MiB: {}",
        mib(peak),
        mib(BUDGET),
        mib(CACHE),
        mib(BUDGET + CACHE + SLACK),
        if peak <= BUDGET + CACHE + SLACK {
            "within"
        } else {
            "OVER"
        }
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys: u64 = args
        .iter()
        .position(|a| a == "--keys")
        .and_then(|i| args.get(i + 1))
        .map_or(10_000_000, |k| k.parse().expect("--keys is a number"));
    phase("count", false, keys);
    phase("tumbling window count", true, (keys / 10).max(1));
}
