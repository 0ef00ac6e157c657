//! Worker processes (`tributary run`) for the multi-process tests, and what those tests
//! read back from the broker: topic contents, end offsets and the group's lag.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tributary::StreamsConfig;
use tributary::engine::internals::ChangelogReader;
use tributary::engine::internals::{KafkaChangelogReader, TopicAdmin};
use tributary::engine::internals::{KafkaCollector, OutgoingRecord, RecordCollector};

/// A `tributary run` process. Dropping it kills the process.
pub struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    /// Starts `tributary run <topology> <args…>` with the settings `settings` written to a
    /// TOML file in `dir`; its stderr goes to `dir/<name>.log`. An earlier process's log of
    /// that name is kept as `dir/<name>.<n>.log` (n = 1, 2, …) for a failed test's reader.
    pub fn start(
        dir: &Path,
        name: &str,
        topology: &str,
        args: &[&str],
        settings: &[(&str, &str)],
    ) -> Self {
        let config = dir.join(format!("{name}.toml"));
        let mut toml = String::new();
        if !settings.iter().any(|(k, _)| *k == "application.server") {
            // Workers on one machine each need their own query port.
            writeln!(toml, "\"application.server\" = \"127.0.0.1:0\"").unwrap();
        }
        for (key, value) in settings {
            writeln!(toml, "{key:?} = {value:?}").unwrap();
        }
        std::fs::write(&config, toml).unwrap();
        let log = dir.join(format!("{name}.log"));
        if log.exists() {
            let earlier = (1..)
                .map(|n| dir.join(format!("{name}.{n}.log")))
                .find(|path| !path.exists())
                .expect("a free log name");
            std::fs::rename(&log, earlier).unwrap();
        }
        let child = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["run", topology])
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the tributary binary starts");
        Self { child, log }
    }

    /// Kills the process with SIGKILL: no commit, no flush, no cleanup.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Asks the process to stop with SIGTERM and waits for it; panics with its log unless
    /// it exits successfully within a minute.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "the worker exited with {status}:\n{}",
                    self.log()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the worker did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Panics with the worker's log if it has exited.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the worker exited with {status}:\n{}", self.log());
        }
    }

    /// The address of the worker's query server, once it has printed it (waits up to a
    /// minute; panics with the log otherwise).
    pub fn query_address(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(address) = self
                .log()
                .lines()
                .find_map(|l| l.strip_prefix("queries: http://"))
            {
                return address.trim().to_owned();
            }
            self.assert_alive();
            assert!(
                Instant::now() < deadline,
                "the worker printed no query address:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the worker wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- log of the worker ({}) ---\n{}",
                self.log.display(),
                self.log()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every record of one partition of `topic`, read to its end (committed records only).
fn read_partition(
    reader: &mut KafkaChangelogReader,
    topic: &str,
    partition: i32,
) -> Vec<tributary::engine::internals::RestoreRecord> {
    let mut records = Vec::new();
    loop {
        let from = records
            .last()
            .map_or(0, |r: &tributary::engine::internals::RestoreRecord| {
                r.offset + 1
            });
        let batch = reader.read_batch(topic, partition, from, 10_000).unwrap();
        if batch.is_empty() {
            return records;
        }
        records.extend(batch);
    }
}

/// The latest value of every key of `topic` (a key whose latest value is a tombstone is
/// absent), and each partition's end offset, read to the end of every partition.
pub fn read_topic(
    config: &StreamsConfig,
    topic: &str,
    partitions: i32,
) -> (HashMap<Vec<u8>, Vec<u8>>, Vec<i64>) {
    let mut reader = KafkaChangelogReader::new(config).unwrap();
    let mut latest = HashMap::new();
    let mut ends = Vec::new();
    for partition in 0..partitions {
        let records = read_partition(&mut reader, topic, partition);
        ends.push(records.last().map_or(0, |r| r.offset + 1));
        for record in records {
            match record.value {
                Some(value) => latest.insert(record.key, value),
                None => latest.remove(&record.key),
            };
        }
    }
    (latest, ends)
}

/// Every record of `topic` as (key, value) in each partition's order (tombstones as `None`),
/// read to the end of every partition, committed records only.
pub fn read_all(
    config: &StreamsConfig,
    topic: &str,
    partitions: i32,
) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut reader = KafkaChangelogReader::new(config).unwrap();
    (0..partitions)
        .flat_map(|partition| read_partition(&mut reader, topic, partition))
        .map(|r| (r.key, r.value))
        .collect()
}

/// The latest value of every key of `topic`, keys as UTF-8 and values decoded by `decode`.
pub fn read_latest<V>(
    config: &StreamsConfig,
    topic: &str,
    partitions: i32,
    decode: impl Fn(&[u8]) -> V,
) -> HashMap<String, V> {
    let (latest, _) = read_topic(config, topic, partitions);
    latest
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), decode(&v)))
        .collect()
}

/// A big-endian i64, as Tributary's `I64Serde` writes counts.
pub fn i64_be(bytes: &[u8]) -> i64 {
    i64::from_be_bytes(bytes.try_into().expect("8 bytes"))
}

/// How many records of `topics` (name, partitions) lie past what group `group` committed.
pub fn records_past_committed(config: &StreamsConfig, group: &str, topics: &[(&str, i32)]) -> i64 {
    let admin = TopicAdmin::new(config).unwrap();
    let mut past = 0;
    for (topic, partitions) in topics {
        let committed = admin.committed_offsets(group, topic, *partitions).unwrap();
        let ends = admin.end_offsets(topic, *partitions).unwrap();
        past += ends
            .iter()
            .zip(committed)
            .map(|(end, committed)| end - committed.unwrap_or(0))
            .sum::<i64>();
    }
    past
}

/// Waits until group `group` has committed offsets at the end of every partition of
/// `topics`, checking `alive` meanwhile; panics after `timeout`.
pub fn await_caught_up(
    config: &StreamsConfig,
    group: &str,
    topics: &[(&str, i32)],
    timeout: Duration,
    mut alive: impl FnMut(),
) {
    let deadline = Instant::now() + timeout;
    loop {
        alive();
        let past = records_past_committed(config, group, topics);
        if past == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group `{group}` still has {past} records past its committed offsets"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The sum of the offsets group `group` has committed on `topic`.
pub fn committed_total(config: &StreamsConfig, group: &str, topic: &str, partitions: i32) -> i64 {
    let admin = TopicAdmin::new(config).unwrap();
    let committed = admin.committed_offsets(group, topic, partitions).unwrap();
    committed.into_iter().flatten().sum()
}

/// Waits until group `group` has committed more than `total` on `topic` (summed over its
/// partitions), checking `alive` meanwhile; panics after `timeout`.
pub fn await_commit_past(
    config: &StreamsConfig,
    group: &str,
    (topic, partitions): (&str, i32),
    total: i64,
    timeout: Duration,
    mut alive: impl FnMut(),
) {
    let deadline = Instant::now() + timeout;
    loop {
        alive();
        if committed_total(config, group, topic, partitions) > total {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group `{group}` committed no more than {total} on `{topic}` in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the broker hides the records of aborted transactions from read_committed
/// readers, as Kafka does: writes two records to a new topic, one in a transaction that is
/// aborted and one in a transaction that commits, and reads the topic back.
pub fn broker_hides_aborted_records(config: &StreamsConfig) -> bool {
    use rdkafka::consumer::BaseConsumer;
    use tributary::engine::internals::{ClientRole, client_config};
    let probe = crate::support::unique("abort-probe");
    TopicAdmin::new(config)
        .unwrap()
        .create_topic(&probe, 1, &[])
        .unwrap();
    let mut producer = KafkaCollector::transactional(config, &probe).unwrap();
    let headers = Vec::new();
    let write = |producer: &mut KafkaCollector, value: &[u8]| {
        producer
            .send(OutgoingRecord {
                topic: &probe,
                partition: 0,
                key: Some(b"k"),
                value: Some(value),
                timestamp: 1000,
                headers: &headers,
            })
            .unwrap();
        producer.flush().unwrap();
    };
    write(&mut producer, b"aborted");
    producer.abort_transaction().unwrap();
    write(&mut producer, b"committed");
    let consumer: BaseConsumer = client_config(config, ClientRole::Consumer)
        .create()
        .unwrap();
    producer
        .commit_transaction(&rdkafka::TopicPartitionList::new(), &consumer)
        .unwrap();
    let read = read_all(config, &probe, 1);
    read.iter()
        .all(|(_, value)| value.as_deref() != Some(b"aborted"))
}
