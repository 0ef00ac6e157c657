//! Worker processes (`tributary run`) for the multi-process tests, and what those tests
//! read back from the broker: topic contents, end offsets and the group's lag.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tributary::StreamsConfig;
use tributary::engine::kafka::{KafkaChangelogReader, TopicAdmin};
use tributary::engine::task::ChangelogReader;

/// A `tributary run` process. Dropping it kills the process.
pub struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    /// Starts `tributary run <topology> --input <input> --output <output>` with the settings
    /// `settings` written to a TOML file in `dir`; its stderr goes to `dir/<name>.log`.
    pub fn start(
        dir: &Path,
        name: &str,
        topology: &str,
        input: &str,
        output: &str,
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
        let child = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["run", topology, "--input", input, "--output", output])
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
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        let mut end = 0;
        loop {
            let batch = reader.read_batch(topic, partition, end, 10_000).unwrap();
            let Some(last) = batch.last() else { break };
            end = last.offset + 1;
            for record in batch {
                match record.value {
                    Some(value) => latest.insert(record.key, value),
                    None => latest.remove(&record.key),
                };
            }
        }
        ends.push(end);
    }
    (latest, ends)
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
