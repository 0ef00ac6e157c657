//! Checkpoints and restoration of a task's RocksDB store: incremental restore from the
//! checkpointed offset, and a full restore when the checkpoint is corrupt or the local
//! state is gone.

mod support;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use tributary::engine::internals::{
    ChangelogReader, OutgoingRecord, RecordCollector, RestoreRecord, StreamTask, TaskOptions,
};
use tributary::engine::serde::StringSerde;
use tributary::engine::{RawRecord, TaskId};
use tributary::state::{ChangelogRecord, ChangelogSink, StateError};
use tributary::{
    Consumed, Grouped, Materialized, StreamsBuilder, StreamsConfig, StreamsError, Topology,
};

/// Topics in memory: what the task writes, and what restoration reads back.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Partitions>>);

/// A record as the log keeps it: key, value (`None`: a tombstone), timestamp.
type Logged = (Vec<u8>, Option<Vec<u8>>, i64);

/// Records by topic and partition.
type Partitions = HashMap<(String, i32), Vec<Logged>>;

impl Log {
    fn append(&self, topic: &str, partition: i32, key: &[u8], value: Option<&[u8]>, ts: i64) {
        self.0
            .borrow_mut()
            .entry((topic.to_owned(), partition))
            .or_default()
            .push((key.to_vec(), value.map(<[u8]>::to_vec), ts));
    }

    fn last(&self, topic: &str) -> Option<Logged> {
        self.0.borrow().get(&(topic.to_owned(), 0))?.last().cloned()
    }

    fn len(&self, topic: &str) -> usize {
        self.0
            .borrow()
            .get(&(topic.to_owned(), 0))
            .map_or(0, Vec::len)
    }
}

impl RecordCollector for Log {
    fn send(&mut self, r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        let key = r.key.unwrap_or_default();
        self.append(r.topic, r.partition, key, r.value, r.timestamp);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamsError> {
        Ok(())
    }
    fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0
            .borrow()
            .get(&(topic.to_owned(), partition))
            .map(|r| r.len() as i64)
    }
    fn changelog_sink(&self) -> Box<dyn ChangelogSink> {
        Box::new(self.clone())
    }
}

impl ChangelogSink for Log {
    fn send(&mut self, r: ChangelogRecord<'_>) -> Result<(), StateError> {
        self.append(r.topic, r.partition, r.key, r.value, r.timestamp);
        Ok(())
    }
}

impl ChangelogReader for Log {
    fn known_end(&mut self, topic: &str, partition: i32) -> Option<i64> {
        RecordCollector::end_offset(self, topic, partition)
    }

    fn read_batch(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<RestoreRecord>, StreamsError> {
        let log = self.0.borrow();
        let records = log
            .get(&(topic.to_owned(), partition))
            .cloned()
            .unwrap_or_default();
        Ok(records
            .into_iter()
            .enumerate()
            .skip(from as usize)
            .take(max)
            .map(|(offset, (key, value, timestamp))| RestoreRecord {
                offset: offset as i64,
                key,
                value,
                timestamp,
            })
            .collect())
    }
}

const CHANGELOG: &str = "restore-counts-changelog";

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::new())
        .count(Materialized::named("counts"));
    builder.build().unwrap()
}

fn options(dir: &std::path::Path) -> TaskOptions {
    let partitions = HashMap::from([("events".to_owned(), 1), (CHANGELOG.to_owned(), 1)]);
    let mut config = StreamsConfig::new("restore");
    config.set("statestore.cache.max.bytes", "1048576").unwrap();
    config.set("rocksdb.memory.bytes", "16777216").unwrap();
    TaskOptions::from_config(&config, &topology(), partitions).with_state_dir(dir.to_owned())
}

fn record(offset: i64, key: &str) -> RawRecord {
    stamped(offset, key, offset)
}

fn stamped(offset: i64, key: &str, timestamp: i64) -> RawRecord {
    RawRecord {
        offset,
        timestamp,
        key: Some(key.as_bytes().to_vec()),
        value: Some(b"x".to_vec()),
        headers: Vec::new(),
    }
}

fn open(
    dir: &std::path::Path,
    log: &Log,
) -> (StreamTask, tributary::engine::internals::RestoreReport) {
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };
    let mut task = StreamTask::new(&topology(), id, &options(dir), Box::new(log.clone())).unwrap();
    let report = task.initialize(&mut log.clone(), 0).unwrap();
    (task, report)
}

#[test]
fn restores_from_the_checkpoint_and_falls_back_to_a_full_restore() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();

    let (mut task, report) = open(dir.path(), &log);
    assert_eq!(report.stores[0].records, 0);
    task.add_records("events", [record(0, "a"), record(1, "b"), record(2, "a")]);
    assert_eq!(task.process(usize::MAX).unwrap(), 3);
    let offsets = task.commit().unwrap();
    assert_eq!(offsets, vec![("events".to_owned(), 0, 3)]);
    assert_eq!(log.len(CHANGELOG), 2, "the cache collapsed a's two updates");
    // Closed cleanly, as a revoked task is: a checkpoint however few the changes.
    task.checkpoint().unwrap();
    task.close();
    let checkpoint = dir.path().join("restore/0_0/.checkpoint");
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    assert!(text.contains(&format!("{CHANGELOG} 0 2")), "{text}");

    // Reopened with its checkpoint: nothing to restore, local state is used.
    let (task, report) = open(dir.path(), &log);
    assert_eq!(
        (report.stores[0].from_offset, report.stores[0].records),
        (2, 0)
    );
    assert_eq!(report.checkpoint_fallback, None);
    assert_eq!(
        support::counts(&task, "counts"),
        HashMap::from([("a".into(), 2), ("b".into(), 1)])
    );
    task.close();

    // Changes written elsewhere after the checkpoint (another instance owned the task) are
    // restored incrementally.
    log.append(CHANGELOG, 0, b"c", Some(&7i64.to_be_bytes()), 0);
    let (task, report) = open(dir.path(), &log);
    assert_eq!(
        (
            report.stores[0].from_offset,
            report.stores[0].records,
            report.stores[0].next_offset
        ),
        (2, 1, 3)
    );
    assert_eq!(support::counts(&task, "counts").get("c"), Some(&7));
    task.close();

    // A corrupt checkpoint: a clear reason, the store wiped and rebuilt in full.
    std::fs::write(
        &checkpoint,
        "tributary-checkpoint 1\n1\nrestore-counts-changelog zero 2\n",
    )
    .unwrap();
    let (task, report) = open(dir.path(), &log);
    let reason = report
        .checkpoint_fallback
        .expect("the fallback is reported");
    assert!(
        reason.contains("corrupt") && reason.contains(".checkpoint"),
        "{reason}"
    );
    assert_eq!(
        (report.stores[0].from_offset, report.stores[0].records),
        (0, 3)
    );
    assert_eq!(
        support::counts(&task, "counts"),
        HashMap::from([("a".into(), 2), ("b".into(), 1), ("c".into(), 7)])
    );
    task.close();

    // Wiped local state: a full restore gives the same answers.
    std::fs::remove_dir_all(dir.path().join("restore")).unwrap();
    let (task, report) = open(dir.path(), &log);
    assert_eq!(
        (report.stores[0].from_offset, report.stores[0].records),
        (0, 3)
    );
    assert_eq!(
        support::counts(&task, "counts"),
        HashMap::from([("a".into(), 2), ("b".into(), 1), ("c".into(), 7)])
    );
}

#[test]
fn restores_a_step_at_a_time_and_keeps_a_partial_restore_when_revoked() {
    let log = Log::default();
    for i in 0..25i64 {
        let key = format!("k{}", i % 10);
        log.append(CHANGELOG, 0, key.as_bytes(), Some(&i.to_be_bytes()), i);
    }
    let dir = tempfile::tempdir().unwrap();
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };
    // The task writes elsewhere: what it reports as written must not mask the restore.
    let new_task = || {
        StreamTask::new(
            &topology(),
            id,
            &options(dir.path()),
            Box::new(Log::default()),
        )
    };

    // Ten records per step: the end is reached on the third.
    let mut task = new_task().unwrap();
    assert_eq!(task.remaining_records(), None, "not started");
    assert!(!task.restore_step(&mut log.clone(), 10).unwrap());
    assert_eq!(task.restored_records(), 10);
    assert_eq!(
        task.remaining_records(),
        Some(15),
        "what the progress report shows"
    );
    // Revoked while restoring: the checkpoint keeps what was restored so far.
    assert_eq!(task.commit().unwrap(), vec![]);
    task.checkpoint().unwrap();
    task.close();
    let checkpoint = dir.path().join("restore/0_0/.checkpoint");
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    assert!(text.contains(&format!("{CHANGELOG} 0 10")), "{text}");

    // Assigned again: restoration continues from there.
    let mut task = new_task().unwrap();
    assert!(!task.restore_step(&mut log.clone(), 10).unwrap());
    assert!(task.restore_step(&mut log.clone(), 10).unwrap());
    let report = task.initialize(&mut log.clone(), 0).unwrap();
    assert_eq!(
        (
            report.stores[0].from_offset,
            report.stores[0].records,
            report.stores[0].next_offset
        ),
        (10, 15, 25)
    );
    let counts = support::counts(&task, "counts");
    assert_eq!(counts.len(), 10);
    assert_eq!(counts["k4"], 24, "the latest value of each key wins");
    assert_eq!(counts["k5"], 15);
}

#[test]
fn a_restored_store_stamps_results_as_the_original_did() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let (mut task, _) = open(dir.path(), &log);
    // The count of `a` is stamped with its latest record: 10, not 5.
    task.add_records("events", [stamped(0, "a", 10), stamped(1, "a", 5)]);
    task.process(usize::MAX).unwrap();
    task.commit().unwrap();
    task.close();
    let (key, value, ts) = log.last(CHANGELOG).unwrap();
    assert_eq!((key.as_slice(), ts), (&b"a"[..], 10), "{value:?}");

    // Rebuilt from the changelog alone, the store still knows the count's timestamp: an
    // older record leaves it at 10.
    std::fs::remove_dir_all(dir.path().join("restore")).unwrap();
    let (mut task, report) = open(dir.path(), &log);
    assert_eq!(report.stores[0].records, 1);
    task.add_records("events", [stamped(2, "a", 3)]);
    task.process(usize::MAX).unwrap();
    task.commit().unwrap();
    let (_, value, ts) = log.last(CHANGELOG).unwrap();
    assert_eq!(value, Some(3i64.to_be_bytes().to_vec()));
    assert_eq!(ts, 10, "stamped with the restored count's timestamp");
}

/// A table read from `users`, its updates written to `user-updates`.
fn users_topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .table(
            "users",
            Consumed::with(StringSerde, StringSerde),
            Materialized::named("users"),
        )
        .to_stream()
        .to(
            "user-updates",
            tributary::Produced::with(StringSerde, tributary::engine::serde::nullable(StringSerde)),
        );
    builder.build().unwrap()
}

#[test]
fn a_replayed_delete_of_an_absent_key_goes_downstream_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let topics = ["users", "user-updates", "restore-users-changelog"];
    let partitions = topics.iter().map(|t| ((*t).to_owned(), 1)).collect();
    let mut config = StreamsConfig::new("restore");
    config.set("statestore.cache.max.bytes", "1048576").unwrap();
    let options = TaskOptions::from_config(&config, &users_topology(), partitions)
        .with_state_dir(dir.path().to_owned());
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };
    let tombstone = |offset| RawRecord {
        offset,
        timestamp: offset,
        key: Some(b"u".to_vec()),
        value: None,
        headers: Vec::new(),
    };
    let open = || {
        let mut task =
            StreamTask::new(&users_topology(), id, &options, Box::new(log.clone())).unwrap();
        task.initialize(&mut log.clone(), 0).unwrap();
        task
    };

    // Caching, a delete of a key the table does not have changes nothing and is not sent.
    let mut task = open();
    task.add_records("users", [tombstone(0)]);
    task.process(usize::MAX).unwrap();
    task.commit().unwrap();
    assert_eq!(log.len("user-updates"), 0);
    task.close();

    // Replaying records an earlier owner processed past its last commit, the task sends it:
    // the earlier owner stored the delete, but what it sent for it may never have arrived.
    let mut task = open();
    task.replay_until(&[("users".to_owned(), 2)]);
    task.add_records("users", [tombstone(1)]);
    task.process(usize::MAX).unwrap();
    task.commit().unwrap();
    assert_eq!(log.last("user-updates"), Some((b"u".to_vec(), None, 1)));
}

#[test]
fn a_record_deduplicated_again_after_a_crash_passes_and_its_duplicates_do_not() {
    let topology = || {
        let builder = StreamsBuilder::new();
        builder
            .stream("payments", Consumed::with(StringSerde, StringSerde))
            .deduplicate_by_key(
                std::time::Duration::from_secs(60),
                tributary::engine::dsl::Deduplicated::new().with_name("seen"),
            )
            .to(
                "unique",
                tributary::Produced::with(StringSerde, StringSerde),
            );
        builder.build().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let topics = ["payments", "unique", "restore-seen-store-changelog"];
    let partitions = topics.iter().map(|t| ((*t).to_owned(), 1)).collect();
    let options = TaskOptions::from_config(&StreamsConfig::new("restore"), &topology(), partitions)
        .with_state_dir(dir.path().to_owned());
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };
    let open = |state: &std::path::Path| {
        let options = options.clone().with_state_dir(state.to_owned());
        let mut task = StreamTask::new(&topology(), id, &options, Box::new(log.clone())).unwrap();
        task.initialize(&mut log.clone(), 0).unwrap();
        task
    };

    // The first owner processes payment p-1 and logs that it has seen it; it dies before
    // the group commits the offset past it.
    let mut task = open(dir.path());
    task.add_records("payments", [stamped(0, "p-1", 1_000)]);
    task.process(usize::MAX).unwrap();
    task.commit().unwrap();
    task.close();
    assert_eq!(log.len("unique"), 1);

    // The next owner, on another machine, restores what was seen, reads p-1 again (the same
    // record: it passes again, as its output may have been lost), then p-1 sent a second
    // time (a duplicate: dropped).
    let elsewhere = tempfile::tempdir().unwrap();
    let mut task = open(elsewhere.path());
    task.add_records(
        "payments",
        [stamped(0, "p-1", 1_000), stamped(1, "p-1", 2_000)],
    );
    task.process(usize::MAX).unwrap();
    task.commit().unwrap();
    assert_eq!(log.len("unique"), 2);
    assert_eq!(task.metrics().dropped_duplicates, 1);
}

#[test]
fn storage_opened_for_many_tasks_at_once_serves_each_its_own_partition() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    for partition in 0..6 {
        let count = 10 + i64::from(partition);
        log.append(CHANGELOG, partition, b"k", Some(&count.to_be_bytes()), 0);
    }
    let partitions = HashMap::from([("events".to_owned(), 6), (CHANGELOG.to_owned(), 6)]);
    let mut config = StreamsConfig::new("restore");
    config.set("rocksdb.memory.bytes", "16777216").unwrap();
    let options = TaskOptions::from_config(&config, &topology(), partitions)
        .with_state_dir(dir.path().into());
    // Task 0_2's directory cannot be created: a file stands in its place.
    std::fs::create_dir_all(dir.path().join("restore")).unwrap();
    std::fs::write(dir.path().join("restore/0_2"), "not a directory").unwrap();

    let ids: Vec<TaskId> = [4, 0, 3, 2, 1, 5]
        .into_iter()
        .map(|partition| TaskId {
            subtopology: 0,
            partition,
        })
        .collect();
    let opened = StreamTask::open_storage(&topology(), &ids, &options);
    assert_eq!(opened.len(), ids.len(), "one result per task");
    for (id, storage) in ids.iter().zip(opened) {
        if id.partition == 2 {
            let error = storage.err().expect("task 0_2 cannot open its directory");
            assert!(error.to_string().contains("0_2"), "{error}");
            continue;
        }
        let storage = storage.unwrap();
        let mut task =
            StreamTask::with_storage(&topology(), storage, &options, Box::new(log.clone()))
                .unwrap();
        assert_eq!(task.id(), *id, "results come in the order of the ids");
        let report = task.initialize(&mut log.clone(), 0).unwrap();
        assert_eq!(report.stores[0].records, 1);
        assert_eq!(
            support::counts(&task, "counts"),
            HashMap::from([("k".into(), 10 + i64::from(id.partition))]),
            "task {id} holds its own partition's changelog"
        );
    }
}
