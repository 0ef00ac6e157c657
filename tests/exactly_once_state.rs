//! Under exactly-once a task's stores only ever hold committed state: writes that leave the
//! record cache (at commit, or evicted mid-interval) are logged into the open transaction
//! but reach RocksDB only after it commits. A task that dies with a transaction open (its
//! records aborted) therefore reopens on its own state directory restoring nothing past its
//! checkpoint, with exactly the state of the last commit — no full restore. A commit writes
//! the checkpoint once the stores took more than [`CHECKPOINT_DELTA`] changelog records since
//! the last one (and a clean close always does), so the tests commit more than that first.
//!
//! The tasks here write to an in-memory log ([`MemoryLog`]) that behaves like Kafka under
//! transactions: records become readable when the transaction commits and are dropped when
//! it aborts.

mod support;

use std::collections::HashMap;

use tributary::engine::internals::{CHECKPOINT_DELTA, MemoryLog, StreamTask, TaskOptions};
use tributary::engine::serde::{I64Serde, StringSerde, nullable};
use tributary::engine::{RawRecord, TaskId};
use tributary::{
    Consumed, Grouped, Materialized, Produced, StreamsBuilder, StreamsConfig, Topology,
};

const APP: &str = "eos-state";
/// Records in the first committed batch: with the small cache nearly each one reaches the
/// changelog, so the commit is due to write the checkpoint.
const FIRST: usize = CHECKPOINT_DELTA as usize + 2_000;

fn count_per_key() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::new())
        .count(Materialized::named("counts"))
        .to_stream()
        .to("out", Produced::with(StringSerde, nullable(I64Serde)));
    builder.build().unwrap()
}

/// A task of `topology` under exactly-once with a cache small enough to evict between
/// commits, on `dir`, restored from `log`; and how many changelog records it restored.
fn open(topology: &Topology, dir: &std::path::Path, log: &MemoryLog) -> (StreamTask, u64) {
    let partitions = topology
        .resolve_partitions(
            APP,
            &HashMap::from([("in".to_owned(), 1), ("out".to_owned(), 1)]),
        )
        .unwrap();
    let mut config = StreamsConfig::new(APP);
    config
        .set("processing.guarantee", "exactly_once_v2")
        .unwrap();
    config.set("statestore.cache.max.bytes", "4096").unwrap();
    let options =
        TaskOptions::from_config(&config, topology, partitions).with_state_dir(dir.to_owned());
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };
    let mut task = StreamTask::new(topology, id, &options, Box::new(log.clone())).unwrap();
    let report = task.initialize(&mut log.clone(), 0).unwrap();
    let restored = report.stores.iter().map(|s| s.records).sum();
    (task, restored)
}

/// Records `from..to` of the input: 200 keys, each record one more for its key.
fn batch(from: usize, to: usize) -> Vec<RawRecord> {
    (from..to)
        .map(|i| RawRecord {
            offset: i as i64,
            timestamp: 1000 + i as i64,
            key: Some(format!("k{}", (i * 7) % 200).into_bytes()),
            value: Some(b"x".to_vec()),
            headers: Vec::new(),
        })
        .collect()
}

fn truth(records: usize) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for record in batch(0, records) {
        let key = String::from_utf8(record.key.unwrap()).unwrap();
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn process(task: &mut StreamTask, records: Vec<RawRecord>) {
    task.add_records("in", records);
    task.process(usize::MAX).unwrap();
}

/// Commits the task's transaction: the task flushes, the log commits, then the task
/// completes the commit (as a stream thread does).
fn commit(task: &mut StreamTask, log: &MemoryLog) {
    task.commit().unwrap();
    log.commit();
    task.complete_commit().unwrap();
}

#[test]
fn a_task_killed_with_a_transaction_open_reopens_on_its_committed_state_without_a_full_restore() {
    let topology = count_per_key();
    let dir = tempfile::tempdir().unwrap();
    let log = MemoryLog::default();

    let (mut task, restored) = open(&topology, dir.path(), &log);
    assert_eq!(restored, 0);
    process(&mut task, batch(0, FIRST));
    commit(&mut task, &log);
    assert_eq!(support::counts(&task, "counts"), truth(FIRST));

    // The next transaction: the small cache evicts into the store layer mid-way, and the
    // commit flushes the rest; then the process dies before the transaction commits.
    process(&mut task, batch(FIRST, FIRST + 3000));
    assert_eq!(
        support::counts(&task, "counts"),
        truth(FIRST),
        "readers of the store see committed state only"
    );
    task.commit().unwrap();
    log.abort();
    drop(task);

    let (mut task, restored) = open(&topology, dir.path(), &log);
    assert_eq!(
        restored, 0,
        "nothing past the checkpoint to restore: no full restore of the 200-key store"
    );
    assert_eq!(support::counts(&task, "counts"), truth(FIRST));

    // The aborted records are processed again, now committed.
    process(&mut task, batch(FIRST, FIRST + 3000));
    commit(&mut task, &log);
    assert_eq!(support::counts(&task, "counts"), truth(FIRST + 3000));

    // What readers of committed records see: every count once, in order.
    let mut last: HashMap<Vec<u8>, i64> = HashMap::new();
    for (key, value, _) in log.committed("out") {
        let count = i64::from_be_bytes(value.unwrap().try_into().unwrap());
        let before = last.insert(key, count).unwrap_or(0);
        assert!(count > before, "a count written twice or taken back");
    }
    let latest: HashMap<String, i64> = last
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), v))
        .collect();
    assert_eq!(latest, truth(FIRST + 3000));
}

#[test]
fn a_task_reopened_after_a_crash_before_it_wrote_the_committed_state_restores_the_tail() {
    let topology = count_per_key();
    let dir = tempfile::tempdir().unwrap();
    let log = MemoryLog::default();
    let (mut task, _) = open(&topology, dir.path(), &log);
    process(&mut task, batch(0, FIRST));
    commit(&mut task, &log);
    // This transaction commits, but the process dies before the task writes its state.
    process(&mut task, batch(FIRST, FIRST + 3000));
    task.commit().unwrap();
    log.commit();
    drop(task);

    let (task, restored) = open(&topology, dir.path(), &log);
    assert!(
        restored > 0,
        "the committed tail past the checkpoint is restored"
    );
    assert!(
        (restored as usize) < FIRST + 3000,
        "only the tail: {restored} changelog records"
    );
    assert_eq!(support::counts(&task, "counts"), truth(FIRST + 3000));
}

#[test]
fn a_commit_of_few_changes_leaves_the_checkpoint_and_a_clean_close_writes_it() {
    let topology = count_per_key();
    let dir = tempfile::tempdir().unwrap();
    let log = MemoryLog::default();
    let (mut task, _) = open(&topology, dir.path(), &log);
    process(&mut task, batch(0, 3000));
    commit(&mut task, &log);
    drop(task);

    let (mut task, restored) = open(&topology, dir.path(), &log);
    assert!(
        restored >= 3000 * 9 / 10,
        "{restored} records restored: a commit of fewer than CHECKPOINT_DELTA changelog \
         records writes no checkpoint, so a crash restores them"
    );
    assert_eq!(support::counts(&task, "counts"), truth(3000));
    process(&mut task, batch(3000, 4000));
    commit(&mut task, &log);
    task.checkpoint().unwrap();
    drop(task);

    let (task, restored) = open(&topology, dir.path(), &log);
    assert_eq!(
        restored, 0,
        "a task checkpointed as it closes restores nothing"
    );
    assert_eq!(support::counts(&task, "counts"), truth(4000));
}
