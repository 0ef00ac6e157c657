//! Standby replicas on the broker. Two word-count workers count distinct words on two
//! partitions; with `num.standby.replicas = 1` each keeps a warm copy of the other's count
//! partition, answers `?allow_stale=true` reads from it with its lag, and, when the other is
//! killed with SIGKILL, takes the partition over restoring only the copy's lag. Without
//! standbys the survivor restores the partition in full. Prints, both ways, the records
//! restored and the time from the kill until the survivor answers for the dead worker's
//! keys. `TRIBUTARY_FAILOVER_KEYS` sets the number of distinct words (default 20,000;
//! `scripts/failover.sh --keys N` runs it with more).

mod support;

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::http;
use support::worker::{self, Worker};
use tributary::engine::internals::{KafkaCollector, OutgoingRecord, RecordCollector, TopicAdmin};
use tributary::engine::partitioner::partition_for;

const PARTITIONS: i32 = 2;
const STORE: &str = "word-counts";

fn failover_keys() -> usize {
    std::env::var("TRIBUTARY_FAILOVER_KEYS")
        .map(|s| {
            s.parse()
                .expect("TRIBUTARY_FAILOVER_KEYS is a number of keys")
        })
        .unwrap_or(20_000)
}

/// What a failover did: records the survivor restored for the dead worker's partition, and
/// how long after the kill it answered for all of that partition's keys it was asked.
struct Failover {
    restored: u64,
    answered_after: Duration,
}

/// One word per line, `w0` … `w{keys-1}`, spread over the input's partitions.
fn produce_words(config: &tributary::StreamsConfig, topic: &str, keys: usize) {
    let mut producer = KafkaCollector::new(config).unwrap();
    let headers = Vec::new();
    for i in 0..keys {
        let (key, word) = (format!("line-{i}"), format!("w{i}"));
        producer
            .send(OutgoingRecord {
                topic,
                partition: partition_for(key.as_bytes(), PARTITIONS),
                key: Some(key.as_bytes()),
                value: Some(word.as_bytes()),
                timestamp: i as i64,
                headers: &headers,
            })
            .unwrap();
    }
    producer.flush().unwrap();
}

/// The partitions of the count store that the instance at `address` owns, by its directory.
fn owned_partitions(address: &str) -> Vec<i32> {
    let reply = http::get_ok(
        &format!("http://{address}/v1/instances"),
        Duration::from_secs(30),
    );
    let instances = reply.json()["instances"].clone();
    instances
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["address"] == address)
        .flat_map(|i| {
            i["stores"][STORE]["active"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p.as_i64().map(|p| p as i32))
        .collect()
}

/// Words whose count lives in `partition`: up to `n` of them.
fn words_in(partition: i32, keys: usize, n: usize) -> Vec<String> {
    (0..keys)
        .map(|i| format!("w{i}"))
        .filter(|w| partition_for(w.as_bytes(), PARTITIONS) == partition)
        .take(n)
        .collect()
}

/// The sum of `restored=N` over the "task created" lines of `log` for the count tasks of
/// `partitions` (sub-topology 1 holds the count store).
fn restored_in(log: &str, partitions: &[i32]) -> u64 {
    log.lines()
        .filter(|l| l.contains("task created"))
        .filter(|l| {
            partitions
                .iter()
                .any(|p| l.contains(&format!("task=1_{p} ")))
        })
        .filter_map(|l| {
            l.split("restored=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn run(standbys: usize, keys: usize) -> Failover {
    let app = support::unique(if standbys > 0 {
        "standby"
    } else {
        "no-standby"
    });
    let config = support::config(&app);
    let (lines, out) = (format!("{app}-lines"), format!("{app}-counts"));
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&lines, PARTITIONS, &[]).unwrap();
    admin.create_topic(&out, PARTITIONS, &[]).unwrap();
    produce_words(&config, &lines, keys);

    let dir = tempfile::tempdir().unwrap();
    let bootstrap = support::bootstrap();
    let replicas = standbys.to_string();
    let start = |name: &str| {
        let state = dir.path().join(format!("{name}-state"));
        let settings = [
            ("application.id", app.as_str()),
            ("bootstrap.servers", bootstrap.as_str()),
            ("state.dir", state.to_str().unwrap()),
            ("commit.interval.ms", "1000"),
            ("consumer.session.timeout.ms", "6000"),
            ("num.standby.replicas", replicas.as_str()),
            // Stale reads only from a copy that has caught up completely.
            ("acceptable.recovery.lag", "0"),
        ];
        let args = ["--input", lines.as_str(), "--output", out.as_str()];
        Worker::start(dir.path(), name, "word-count", &args, &settings)
    };
    let mut doomed = start("doomed");
    let mut survivor = start("survivor");
    let group_topics = [
        (lines.as_str(), PARTITIONS),
        (&*format!("{app}-words-repartition"), PARTITIONS),
    ];
    worker::await_caught_up(
        &config,
        &app,
        &group_topics,
        Duration::from_secs(300),
        || {
            doomed.assert_alive();
            survivor.assert_alive();
        },
    );
    let (doomed_at, survivor_at) = (doomed.query_address(), survivor.query_address());

    // Both own a partition once the group has settled and both have restored.
    let deadline = Instant::now() + Duration::from_secs(60);
    let taken = loop {
        let taken = owned_partitions(&doomed_at);
        if !taken.is_empty() && !owned_partitions(&survivor_at).is_empty() {
            break taken;
        }
        doomed.assert_alive();
        survivor.assert_alive();
        assert!(
            Instant::now() < deadline,
            "the two workers did not each own a partition:\n{}",
            survivor.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let sample: Vec<String> = taken.iter().flat_map(|p| words_in(*p, keys, 20)).collect();

    if standbys > 0 {
        // The survivor's copy catches up and answers stale reads with its lag.
        for word in &sample {
            let url =
                format!("http://{survivor_at}/v1/stores/{STORE}/keys/{word}?allow_stale=true");
            let reply = http::get_ok(&url, Duration::from_secs(60));
            let body: Value = reply.json();
            assert_eq!(
                body["value"], 1,
                "{word} is counted once in the copy: {body}"
            );
            assert_eq!(body["standby"], true, "the copy answered: {body}");
            assert_eq!(
                reply.standby_lag.as_deref(),
                Some("0"),
                "the lag header: {body}"
            );
        }
        let metrics = http::get(&format!("http://{survivor_at}/metrics"), &[]);
        let metrics = String::from_utf8_lossy(&metrics.body);
        assert!(
            metrics.contains(&format!(
                "tributary_standby_lag_records{{partition=\"{}\",store=\"{STORE}\"}} 0",
                taken[0]
            )),
            "the copy's lag is a metric:\n{metrics}"
        );
        let bad = http::get(
            &format!("http://{survivor_at}/v1/stores/{STORE}/keys/w0?allow_stale=maybe"),
            &[],
        );
        assert_eq!(
            bad.status,
            400,
            "a malformed allow_stale is refused: {}",
            bad.error()
        );
    } else {
        // Without a copy, a stale read is answered by the owner, as any other read.
        let url = format!(
            "http://{survivor_at}/v1/stores/{STORE}/keys/{}?allow_stale=true",
            sample[0]
        );
        let reply = http::get_ok(&url, Duration::from_secs(30));
        assert_eq!(reply.standby_lag, None, "no copy answered");
    }

    let log_before_kill = survivor.log().len();
    doomed.kill();
    let killed = Instant::now();
    for word in &sample {
        let url = format!("http://{survivor_at}/v1/stores/{STORE}/keys/{word}");
        loop {
            survivor.assert_alive();
            let reply = http::get(&url, &[]);
            if reply.status == 200 && reply.instance.as_deref() == Some(survivor_at.as_str()) {
                assert_eq!(reply.json()["value"], 1, "{word} after the failover");
                break;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(180),
                "the survivor did not answer for {word} after the kill: {} {}\n{}",
                reply.status,
                String::from_utf8_lossy(&reply.body),
                survivor.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let answered_after = killed.elapsed();
    let restored = restored_in(&survivor.log()[log_before_kill..], &taken);
    if standbys > 0 {
        assert!(
            survivor.log()[log_before_kill..].contains("standby hands its state over"),
            "the survivor's standby handed its state over:\n{}",
            survivor.log()
        );
    }
    survivor.stop();
    Failover {
        restored,
        answered_after,
    }
}

#[test]
fn a_standby_takes_over_restoring_only_its_lag() {
    let keys = failover_keys();
    let with = run(1, keys);
    let without = run(0, keys);
    let _ = writeln!(
        std::io::stderr(),
        "failover of a {keys}-key store over {PARTITIONS} partitions: with a standby {} records restored, answering {:?} after the kill; without {} records restored, answering {:?} after the kill",
        with.restored,
        with.answered_after,
        without.restored,
        without.answered_after
    );
    assert!(
        without.restored as usize >= keys / (2 * PARTITIONS as usize),
        "without a standby the partition is restored in full ({} records)",
        without.restored
    );
    assert!(
        with.restored * 10 <= without.restored,
        "a standby restores only its lag: {} records vs {} without",
        with.restored,
        without.restored
    );
}
