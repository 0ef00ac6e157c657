//! Joins restored from their changelogs into an empty state directory carry on exactly as
//! if nothing had happened: a left stream-stream join (its window stores and the store of
//! records waiting for a partner) and an outer table-table join are run over one input in
//! one task, and over the same input in a task replaced half-way by a new one on an empty
//! directory; the second halves of their outputs are the same.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use tributary::engine::dsl::StreamJoined;
use tributary::engine::internals::{MemoryLog, StreamTask, TaskOptions};
use tributary::engine::serde::StringSerde;
use tributary::engine::{JoinWindows, RawRecord, TaskId};
use tributary::{Consumed, Materialized, Produced, StreamsBuilder, StreamsConfig, Topology};

const APP: &str = "join-restore";

/// The committed records of `topic` from `from` on, as text.
fn read(log: &MemoryLog, topic: &str, from: usize) -> Vec<(String, Option<String>, i64)> {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    let records = log.committed(topic);
    records[from.min(records.len())..]
        .iter()
        .map(|(k, v, ts)| (text(k), v.as_deref().map(text), *ts))
        .collect()
}

fn len(log: &MemoryLog, topic: &str) -> usize {
    log.committed(topic).len()
}

fn stream_stream() -> Topology {
    let builder = StreamsBuilder::new();
    let consumed = || Consumed::with(StringSerde, StringSerde);
    let left = builder.stream("left", consumed());
    let right = builder.stream("right", consumed());
    left.left_join(
        &right,
        |l, r| format!("{l}+{}", r.map_or("null", String::as_str)),
        JoinWindows::of_time_difference_and_grace(
            Duration::from_millis(10),
            Duration::from_millis(5),
        ),
        StreamJoined::with(StringSerde, StringSerde, StringSerde).with_store_name("j"),
    )
    .to("out", Produced::with(StringSerde, StringSerde));
    builder.build().unwrap()
}

fn table_table() -> Topology {
    let builder = StreamsBuilder::new();
    let consumed = || Consumed::with(StringSerde, StringSerde);
    let left = builder.table("left", consumed(), Materialized::named("l"));
    let right = builder.table("right", consumed(), Materialized::named("r"));
    left.outer_join(
        &right,
        |l, r| {
            let side = |v: Option<&String>| v.cloned().unwrap_or_else(|| "null".into());
            format!("{}+{}", side(l), side(r))
        },
        Materialized::named("joined").with_value_serde(StringSerde),
    )
    .to_stream()
    .to(
        "out",
        Produced::with(StringSerde, tributary::engine::serde::nullable(StringSerde)),
    );
    builder.build().unwrap()
}

/// A task of `topology` (one sub-topology, one partition) on `dir`, restored from `log`.
fn open(topology: &Topology, dir: &std::path::Path, log: &MemoryLog) -> StreamTask {
    let partitions = topology
        .resolve_partitions(
            APP,
            &HashMap::from([
                ("left".to_owned(), 1),
                ("right".to_owned(), 1),
                ("out".to_owned(), 1),
            ]),
        )
        .unwrap();
    let options = TaskOptions::from_config(&StreamsConfig::new(APP), topology, partitions)
        .with_state_dir(dir.to_owned());
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };
    let mut task = StreamTask::new(topology, id, &options, Box::new(log.clone())).unwrap();
    task.initialize(&mut log.clone(), 0).unwrap();
    task
}

/// An input record: left?, key, value (`None`: a tombstone), time.
type Input = (bool, String, Option<String>, i64);

/// Inputs out of order within a few milliseconds; with `tombstones`, every ninth is one.
fn inputs(tombstones: bool) -> Vec<Input> {
    (0..200i64)
        .map(|i| {
            let left = (i * 7) % 3 != 0;
            let key = format!("k{}", (i * 5) % 4);
            let ts = 100 + i * 3 - (i % 4) * 4;
            let value =
                (!tombstones || i % 9 != 0).then(|| format!("{}{i}", if left { "L" } else { "R" }));
            (left, key, value, ts)
        })
        .collect()
}

fn feed(task: &mut StreamTask, log: &MemoryLog, inputs: &[Input], offset: i64) {
    for (i, (left, key, value, ts)) in inputs.iter().enumerate() {
        let record = RawRecord {
            offset: offset + i as i64,
            timestamp: *ts,
            key: Some(key.as_bytes().to_vec()),
            value: value.as_ref().map(|v| v.as_bytes().to_vec()),
            headers: Vec::new(),
        };
        task.add_records(if *left { "left" } else { "right" }, [record]);
        task.process(usize::MAX).unwrap();
        task.commit().unwrap();
        log.commit();
    }
}

/// Runs `topology` over the inputs with and without a restore half-way; returns the
/// second half of its output (the same both ways).
fn same_after_restore(topology: Topology, tombstones: bool) -> Vec<(String, Option<String>, i64)> {
    let inputs = inputs(tombstones);
    let (first, second) = inputs.split_at(inputs.len() / 2);

    let whole = MemoryLog::default();
    let dir = tempfile::tempdir().unwrap();
    let mut task = open(&topology, dir.path(), &whole);
    feed(&mut task, &whole, first, 0);
    let mark = len(&whole, "out");
    feed(&mut task, &whole, second, first.len() as i64);
    task.close();
    let want = read(&whole, "out", mark);

    let log = MemoryLog::default();
    let dir = tempfile::tempdir().unwrap();
    let mut task = open(&topology, dir.path(), &log);
    feed(&mut task, &log, first, 0);
    task.close();
    assert_eq!(len(&log, "out"), mark, "the same first half");
    let empty = tempfile::tempdir().unwrap();
    let mut restored = open(&topology, empty.path(), &log);
    feed(&mut restored, &log, second, first.len() as i64);
    let got = read(&log, "out", mark);
    assert!(!want.is_empty());
    assert_eq!(got, want, "after a restore into an empty state directory");
    want
}

#[test]
fn a_left_stream_stream_join_restored_into_an_empty_directory_carries_on_the_same() {
    let topology = stream_stream();
    let stores: Vec<&str> = topology.stores().iter().map(|s| s.name()).collect();
    assert_eq!(
        stores,
        [
            "j-this-join-store",
            "j-outer-other-join-store",
            "j-left-shared-join-store"
        ]
    );
    let second_half = same_after_restore(topology, false);
    assert!(
        second_half
            .iter()
            .any(|(_, v, _)| v.as_deref().is_some_and(|v| v.ends_with("+null"))),
        "records that waited across the restore are emitted without a partner"
    );
}

#[test]
fn an_outer_table_table_join_restored_into_an_empty_directory_carries_on_the_same() {
    let second_half = same_after_restore(table_table(), true);
    assert!(
        second_half
            .iter()
            .any(|(_, v, _)| v.as_deref().is_some_and(|v| v.contains("null"))),
        "rows deleted on one side"
    );
}
