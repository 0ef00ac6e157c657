//! Restore rate: a changelog of `records` count updates restored into the RocksDB stores of
//! a count topology's tasks (the engine's restore path, from an empty state directory),
//! against a plain consumer reading the same topic to its end with the same settings. The
//! changelog has `partitions` partitions (one task each) of which the first `filled` hold
//! the records: with 64 and 4, most tasks have nothing to restore.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tributary::engine::TaskId;
use tributary::engine::internals::{
    ClientRole, KafkaChangelogReader, KafkaCollector, OutgoingRecord, RecordCollector, StreamTask,
    TaskOptions, TopicAdmin, client_config,
};
use tributary::engine::partitioner::partition_for;
use tributary::engine::serde::StringSerde;
use tributary::{Consumed, Grouped, Materialized, StreamsBuilder, StreamsConfig};

use crate::cpu::{Run, process_cpu};

/// Fills the first `filled` of `partitions` partitions of store `counts`' changelog, then
/// measures (restore, plain consume).
pub fn measure(
    config: &StreamsConfig,
    records: u64,
    keys: u64,
    partitions: i32,
    filled: i32,
) -> (Run, Run) {
    let app = config.application_id.clone();
    let source = format!("{app}-source");
    let admin = TopicAdmin::new(config).unwrap();
    admin.create_topic(&source, partitions, &[]).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream(&source, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::new())
        .count(Materialized::named("counts"));
    let topology = builder.build().unwrap();
    let topic_partitions: HashMap<String, i32> = admin.prepare(&topology, &app).unwrap();
    let changelog = format!("{app}-counts-changelog");

    let mut producer = KafkaCollector::new(config).unwrap();
    let headers = Vec::new();
    for n in 0..records {
        let key = format!("user-{}", (n * 7919) % keys);
        let count = (n / keys + 1) as i64;
        producer
            .send(OutgoingRecord {
                topic: &changelog,
                partition: partition_for(key.as_bytes(), filled),
                key: Some(key.as_bytes()),
                value: Some(&count.to_be_bytes()),
                timestamp: 0,
                headers: &headers,
            })
            .unwrap();
    }
    producer.flush().unwrap();

    // The plain consumer reads the topic before and after the restore; the faster of the
    // two runs is the baseline (the first read also warms the broker up).
    let consumed_before = consume(config, &changelog, partitions);

    let state = tempfile::tempdir().unwrap();
    let options = TaskOptions::from_config(config, &topology, topic_partitions)
        .with_state_dir(state.path().to_owned());
    let mut reader = KafkaChangelogReader::new(config).unwrap();
    // One producer for every task, as a stream thread shares its own.
    let shared = KafkaCollector::new(config).unwrap();
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut restored = 0;
    // As a stream thread handed these partitions: every task's storage opened at once,
    // then the tasks restored one after another.
    let ids: Vec<TaskId> = (0..partitions)
        .map(|partition| TaskId {
            subtopology: 0,
            partition,
        })
        .collect();
    for storage in StreamTask::open_storage(&topology, &ids, &options) {
        let collector = Box::new(shared.clone());
        let storage = storage.unwrap();
        let mut task = StreamTask::with_storage(&topology, storage, &options, collector).unwrap();
        let report = task.initialize(&mut reader, 0).unwrap();
        restored += report.stores.iter().map(|s| s.records).sum::<u64>();
    }
    let restore = Run {
        records: restored,
        elapsed: started.elapsed(),
        cpu: process_cpu() - cpu_before,
    };
    assert_eq!(restored, records, "the whole changelog was restored");
    let consumed_after = consume(config, &changelog, partitions);
    let consumed = if consumed_before.rate() > consumed_after.rate() {
        consumed_before
    } else {
        consumed_after
    };
    (restore, consumed)
}

/// Reads every partition of `topic` to its end with a plain consumer, touching each
/// record's key and value.
fn consume(config: &StreamsConfig, topic: &str, partitions: i32) -> Run {
    let consumer: BaseConsumer = client_config(config, ClientRole::RestoreConsumer)
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let (mut records, mut bytes, mut ended) = (0u64, 0usize, 0);
    while ended < partitions {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(e)) => panic!("consuming `{topic}`: {e}"),
            Some(Ok(message)) => {
                records += 1;
                bytes += message.key().map_or(0, <[u8]>::len);
                bytes += message.payload().map_or(0, <[u8]>::len);
            }
        }
    }
    std::hint::black_box(bytes);
    Run {
        records,
        elapsed: started.elapsed(),
        cpu: process_cpu() - cpu_before,
    }
}
