//! Kafka I/O against the real broker: internal topics, the producer-backed collector, and
//! restoring a task's store from its changelog on the broker.

mod support;

use std::collections::HashMap;

use tributary::engine::internals::{
    ChangelogReader, KafkaChangelogReader, KafkaCollector, OutgoingRecord, RecordCollector,
    StreamTask, TaskOptions, TopicAdmin,
};
use tributary::engine::serde::StringSerde;
use tributary::engine::{RawRecord, TaskId, TopologyError};
use tributary::state::ChangelogRecord;
use tributary::{Consumed, Grouped, Materialized, StreamsBuilder, StreamsError};

#[test]
fn internal_topics_get_the_partition_counts_of_their_inputs() {
    let app = support::unique("kio-admin");
    let config = support::config(&app);
    let admin = TopicAdmin::new(&config).unwrap();
    let (lines, out) = (format!("{app}-lines"), format!("{app}-out"));
    admin.create_topic(&lines, 4, &[]).unwrap();
    admin.create_topic(&out, 2, &[]).unwrap();

    let topology = tributary::topologies::word_count(&lines, &out).unwrap();
    let counts = admin.prepare(&topology, &app).unwrap();
    let repartition = format!("{app}-words-repartition");
    let changelog = format!("{app}-word-counts-changelog");
    assert_eq!(
        (counts[&repartition], counts[&changelog], counts[&out]),
        (4, 4, 2)
    );
    let on_broker = admin
        .partition_counts(&[repartition.clone(), changelog.clone()])
        .unwrap();
    assert_eq!(on_broker, HashMap::from([(repartition, 4), (changelog, 4)]));
    // Preparing again finds the topics in place.
    admin.prepare(&topology, &app).unwrap();
}

#[test]
fn a_missing_source_topic_stops_preparation_with_its_name() {
    let app = support::unique("kio-missing");
    let admin = TopicAdmin::new(&support::config(&app)).unwrap();
    let topology = tributary::topologies::word_count(&format!("{app}-absent"), "whatever").unwrap();
    let err = admin.prepare(&topology, &app).unwrap_err();
    assert!(
        matches!(
            err,
            StreamsError::Topology(TopologyError::UnknownTopic { .. })
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "`{app}-absent` read by the topology does not exist"
        )),
        "{text}"
    );
}

#[test]
fn the_collector_reports_delivered_offsets_and_restore_reads_them_back_in_batches() {
    let app = support::unique("kio-collector");
    let config = support::config(&app);
    let admin = TopicAdmin::new(&config).unwrap();
    let topic = format!("{app}-changelog");
    admin
        .create_topic(&topic, 2, &[("cleanup.policy", "compact")])
        .unwrap();

    let mut collector = KafkaCollector::new(&config).unwrap();
    let headers = Vec::new();
    for i in 0..25 {
        let key = format!("k{i}");
        let value = (i % 3 != 0).then(|| format!("v{i}"));
        collector
            .send(OutgoingRecord {
                topic: &topic,
                partition: 1,
                key: Some(key.as_bytes()),
                value: value.as_deref().map(str::as_bytes),
                timestamp: i,
                headers: &headers,
            })
            .unwrap();
    }
    collector.flush().unwrap();
    assert_eq!(collector.end_offset(&topic, 1), Some(25));
    assert_eq!(collector.end_offset(&topic, 0), None);
    assert_eq!(
        admin.end_offsets(&topic, 2).unwrap(),
        vec![0, 25],
        "the end of a partition written in one batch, and of an empty one"
    );

    let mut reader = KafkaChangelogReader::new(&config).unwrap();
    let mut offsets = Vec::new();
    let mut from = 0;
    loop {
        let batch = reader.read_batch(&topic, 1, from, 10).unwrap();
        let Some(last) = batch.last() else { break };
        assert!(batch.len() <= 10);
        from = last.offset + 1;
        for record in &batch {
            let i = record.offset;
            assert_eq!(record.key, format!("k{i}").into_bytes());
            assert_eq!(
                record.value,
                (i % 3 != 0).then(|| format!("v{i}").into_bytes()),
                "tombstones stay tombstones"
            );
            offsets.push(i);
        }
    }
    assert_eq!(offsets, (0..25).collect::<Vec<_>>());
    // Records written after the end was reached are read by the next pass.
    let more = OutgoingRecord {
        topic: &topic,
        partition: 1,
        key: Some(b"late"),
        value: Some(b"v"),
        timestamp: 25,
        headers: &headers,
    };
    collector.send(more).unwrap();
    collector.flush().unwrap();
    let late = reader.read_batch(&topic, 1, 25, 10).unwrap();
    assert_eq!(
        late.iter()
            .map(|r| (r.offset, r.key.as_slice()))
            .collect::<Vec<_>>(),
        vec![(25, &b"late"[..])]
    );
    assert!(
        reader.read_batch(&topic, 0, 0, 10).unwrap().is_empty(),
        "an empty partition restores nothing"
    );
}

#[test]
fn a_task_restores_its_store_from_the_changelog_on_the_broker() {
    let app = support::unique("kio-restore");
    let config = support::config(&app);
    let admin = TopicAdmin::new(&config).unwrap();
    let events = format!("{app}-events");
    admin.create_topic(&events, 1, &[]).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream(&events, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::new())
        .count(Materialized::named("counts"));
    let topology = builder.build().unwrap();
    let partitions = admin.prepare(&topology, &app).unwrap();
    let options = |dir: &std::path::Path| {
        TaskOptions::from_config(&config, &topology, partitions.clone())
            .with_state_dir(dir.to_owned())
    };
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };

    let first = tempfile::tempdir().unwrap();
    let mut task = StreamTask::new(
        &topology,
        id,
        &options(first.path()),
        Box::new(KafkaCollector::new(&config).unwrap()),
    )
    .unwrap();
    task.initialize(&mut KafkaChangelogReader::new(&config).unwrap(), 0)
        .unwrap();
    let records = ["a", "b", "a", "c", "a"]
        .iter()
        .enumerate()
        .map(|(i, k)| RawRecord {
            offset: i as i64,
            timestamp: i as i64,
            key: Some(k.as_bytes().to_vec()),
            value: Some(b"x".to_vec()),
            headers: Vec::new(),
        });
    task.add_records(&events, records);
    task.process(usize::MAX).unwrap();
    task.commit().unwrap();
    let want = HashMap::from([
        ("a".to_owned(), 3),
        ("b".to_owned(), 1),
        ("c".to_owned(), 1),
    ]);
    assert_eq!(support::counts(&task, "counts"), want);
    task.close();

    // Another instance, with no local state, rebuilds the store from the broker.
    let second = tempfile::tempdir().unwrap();
    let mut task = StreamTask::new(
        &topology,
        id,
        &options(second.path()),
        Box::new(KafkaCollector::new(&config).unwrap()),
    )
    .unwrap();
    let report = task
        .initialize(&mut KafkaChangelogReader::new(&config).unwrap(), 0)
        .unwrap();
    assert_eq!(
        (report.stores[0].from_offset, report.stores[0].records),
        (0, 3)
    );
    assert_eq!(support::counts(&task, "counts"), want);
}

/// A collector on a fresh application with a one-partition changelog and output topic:
/// (collector, admin, changelog, output).
fn collector_with_topics(prefix: &str) -> (KafkaCollector, TopicAdmin, String, String) {
    let app = support::unique(prefix);
    let config = support::config(&app);
    let admin = TopicAdmin::new(&config).unwrap();
    let (changelog, out) = (format!("{app}-changelog"), format!("{app}-out"));
    admin.create_topic(&changelog, 1, &[]).unwrap();
    admin.create_topic(&out, 1, &[]).unwrap();
    (KafkaCollector::new(&config).unwrap(), admin, changelog, out)
}

/// Sends `value` to `out`, then logs it to `changelog` through `collector`'s changelog sink.
fn send_then_log(collector: &mut KafkaCollector, out: &str, changelog: &str, value: &[u8]) {
    collector
        .send(OutgoingRecord {
            topic: out,
            partition: 0,
            key: Some(b"k"),
            value: Some(value),
            timestamp: 0,
            headers: &Vec::new(),
        })
        .unwrap();
    collector
        .changelog_sink()
        .send(ChangelogRecord {
            store: "counts",
            topic: changelog,
            partition: 0,
            key: b"k",
            value: Some(value),
            timestamp: 0,
        })
        .unwrap();
}

#[test]
fn changelog_records_wait_until_what_was_sent_before_them_is_delivered() {
    let (mut collector, admin, changelog, out) = collector_with_topics("kio-held");
    send_then_log(&mut collector, &out, &changelog, b"downstream");
    assert_eq!(
        admin.end_offsets(&changelog, 1).unwrap(),
        vec![0],
        "the change is held while the downstream record may be in flight"
    );
    collector.flush().unwrap();
    assert_eq!(admin.end_offsets(&out, 1).unwrap(), vec![1]);
    assert_eq!(admin.end_offsets(&changelog, 1).unwrap(), vec![1]);
    assert_eq!(collector.end_offset(&changelog, 0), Some(1));
}

#[test]
fn held_changelog_records_go_out_once_what_was_sent_before_them_is_acknowledged() {
    let (mut collector, admin, changelog, out) = collector_with_topics("kio-release");
    for n in 0..3u8 {
        send_then_log(&mut collector, &out, &changelog, &[n]);
    }
    // Without a flush: each release sends the changelog records whose earlier records
    // are acknowledged, and the changelog is never ahead of the output.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        collector.release_acknowledged().unwrap();
        // The output first: what the changelog holds was released before this read.
        let written = admin.end_offsets(&out, 1).unwrap()[0];
        let logged = admin.end_offsets(&changelog, 1).unwrap()[0];
        assert!(
            logged <= written,
            "{logged} changelog records but {written} output records"
        );
        if logged == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the held changelog records were not released: {logged} of 3 logged"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    collector.flush().unwrap();
    assert_eq!(admin.end_offsets(&changelog, 1).unwrap(), vec![3]);
}
