//! A word-count worker process (`tributary run word-count`) interrupted mid-stream and
//! restarted while input keeps arriving: stopped with SIGTERM (a graceful stop commits, so
//! the counts are exact), or killed with SIGKILL with its state directory kept or wiped.
//!
//! After a kill, at-least-once holds exactly as stated: every word's final count is at least
//! its true count, and the total excess is at most the number of records of the group's
//! input topics (the lines and the repartition topic) past its committed offsets at the
//! moment of the kill. Each line holds one word, so a line processed twice adds at most one
//! count.
//!
//! Under `exactly_once_v2` a kill changes nothing a reader of committed records sees: the
//! final counts are exact and every word's counts on the output topic only ever go up (no
//! result is written twice); and the restarted worker restores only the changelogs past its
//! stores' checkpoints, at most `CHECKPOINT_DELTA` records each.

mod support;

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use support::worker::{self, Worker};
use tributary::StreamsConfig;
use tributary::engine::internals::{CHECKPOINT_DELTA, KafkaCollector, TopicAdmin};
use tributary::engine::internals::{OutgoingRecord, RecordCollector};
use tributary::engine::partitioner::partition_for;

const PARTITIONS: i32 = 4;
const WORDS: u64 = 97;

#[derive(Clone, Copy, PartialEq)]
enum Interruption {
    Sigterm,
    SigkillKeepingState,
    SigkillWipingState,
}

/// Writes one-word lines to `topic` at about 2500 per second until `stop`; returns how
/// often each word was written.
fn produce_lines(
    config: StreamsConfig,
    topic: String,
    stop: Arc<AtomicBool>,
) -> JoinHandle<HashMap<String, i64>> {
    std::thread::spawn(move || {
        let mut producer = KafkaCollector::new(&config).unwrap();
        let mut written = HashMap::new();
        let headers = Vec::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Acquire) {
            for _ in 0..125 {
                let key = format!("line-{n}");
                let word = format!("w{}", (n * 7919) % WORDS);
                producer
                    .send(OutgoingRecord {
                        topic: &topic,
                        partition: partition_for(key.as_bytes(), PARTITIONS),
                        key: Some(key.as_bytes()),
                        value: Some(word.as_bytes()),
                        timestamp: n as i64,
                        headers: &headers,
                    })
                    .unwrap();
                *written.entry(word).or_insert(0) += 1;
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        producer.flush().unwrap();
        written
    })
}

/// What a run found: the true counts, the final counts on the output topic, the records past
/// the committed offsets at the interruption, every output record, and the restarted
/// worker's log.
struct Run {
    expected: HashMap<String, i64>,
    counts: HashMap<String, i64>,
    past: i64,
    output: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    log: String,
}

/// Runs the scenario under `guarantee` (`processing.guarantee`).
fn interrupted_run(interruption: Interruption, guarantee: &str) -> Run {
    let app = support::unique("restart");
    let config = support::config(&app);
    let (lines, out) = (format!("{app}-lines"), format!("{app}-counts"));
    let repartition = format!("{app}-words-repartition");
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&lines, PARTITIONS, &[]).unwrap();
    admin.create_topic(&out, PARTITIONS, &[]).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let bootstrap = support::bootstrap();
    let settings = |state: &str| {
        vec![
            ("application.id".to_owned(), app.clone()),
            ("bootstrap.servers".to_owned(), bootstrap.clone()),
            ("state.dir".to_owned(), state.to_owned()),
            ("commit.interval.ms".to_owned(), "300".to_owned()),
            ("consumer.session.timeout.ms".to_owned(), "6000".to_owned()),
            ("processing.guarantee".to_owned(), guarantee.to_owned()),
        ]
    };
    let start = |name: &str, state: &str| {
        let owned = settings(state);
        let settings: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Worker::start(
            dir.path(),
            name,
            "word-count",
            &["--input", &lines, "--output", &out],
            &settings,
        )
    };
    let kept_state = dir.path().join("state");
    let kept_state = kept_state.to_str().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let producer = produce_lines(config.clone(), lines.clone(), stop.clone());
    let mut first = start("first", kept_state);
    let group_topics = [
        (lines.as_str(), PARTITIONS),
        (repartition.as_str(), PARTITIONS),
    ];
    worker::await_commit_past(
        &config,
        &app,
        (&repartition, PARTITIONS),
        0,
        Duration::from_secs(90),
        || first.assert_alive(),
    );

    let past_at_interruption = match interruption {
        Interruption::Sigterm => {
            first.stop();
            0
        }
        Interruption::SigkillKeepingState | Interruption::SigkillWipingState => {
            first.kill();
            worker::records_past_committed(&config, &app, &group_topics)
        }
    };
    let wiped_state = dir.path().join("wiped");
    let restart_state = if interruption == Interruption::SigkillWipingState {
        wiped_state.to_str().unwrap()
    } else {
        kept_state
    };
    let committed_before = worker::committed_total(&config, &app, &repartition, PARTITIONS);
    let mut second = start("second", restart_state);
    worker::await_commit_past(
        &config,
        &app,
        (&repartition, PARTITIONS),
        committed_before,
        Duration::from_secs(90),
        || second.assert_alive(),
    );
    stop.store(true, Ordering::Release);
    let expected = producer.join().unwrap();
    worker::await_caught_up(
        &config,
        &app,
        &group_topics,
        Duration::from_secs(120),
        || second.assert_alive(),
    );
    if interruption == Interruption::SigkillWipingState {
        let log = second.log();
        assert!(
            log.contains("restored") && log.contains("from=0"),
            "a worker with an empty state directory restores its stores from the changelog:\n{log}"
        );
        assert!(
            log.contains("restoration finished"),
            "the thread reports how much it restored and how long it took:\n{log}"
        );
    }
    let log = second.log();
    second.stop();

    Run {
        counts: worker::read_latest(&config, &out, PARTITIONS, worker::i64_be),
        output: worker::read_all(&config, &out, PARTITIONS),
        expected,
        past: past_at_interruption,
        log,
    }
}

/// Every word's count is at least its true count and the excess stays within `bound`.
fn assert_at_least_once(
    expected: &HashMap<String, i64>,
    counts: &HashMap<String, i64>,
    bound: i64,
) {
    assert_eq!(counts.len(), expected.len(), "every word is counted");
    let mut excess = 0;
    for (word, &truth) in expected {
        let count = counts[word];
        assert!(
            count >= truth,
            "`{word}` counted {count} times, written {truth}"
        );
        excess += count - truth;
    }
    eprintln!("excess {excess} of at most {bound}");
    assert!(
        excess <= bound,
        "total excess {excess} > {bound} records past the committed offsets at the kill"
    );
}

/// The records each store restored, from the worker's `restored` log lines.
fn restored_per_store(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|line| line.contains(" restored store="))
        .filter_map(|line| {
            line.split("records=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Every word's counts on the output topic strictly increase: no count was written twice
/// or taken back.
fn assert_written_once(output: &[(Vec<u8>, Option<Vec<u8>>)]) {
    let mut last: HashMap<&[u8], i64> = HashMap::new();
    for (word, count) in output {
        let count = worker::i64_be(count.as_deref().expect("counts are never deleted"));
        if let Some(before) = last.insert(word, count) {
            assert!(
                count > before,
                "`{}` went from {before} to {count}: a result written twice",
                String::from_utf8_lossy(word)
            );
        }
    }
}

#[test]
fn a_graceful_stop_and_restart_gives_exact_counts() {
    let run = interrupted_run(Interruption::Sigterm, "at_least_once");
    assert_eq!(run.counts, run.expected);
}

#[test]
fn a_killed_worker_restarted_on_its_state_counts_at_least_once() {
    let run = interrupted_run(Interruption::SigkillKeepingState, "at_least_once");
    assert!(run.past > 0, "the kill came mid-stream");
    assert_at_least_once(&run.expected, &run.counts, run.past);
}

#[test]
fn a_killed_worker_restarted_on_an_empty_state_dir_counts_at_least_once() {
    let run = interrupted_run(Interruption::SigkillWipingState, "at_least_once");
    assert!(run.past > 0, "the kill came mid-stream");
    assert_at_least_once(&run.expected, &run.counts, run.past);
}

#[test]
fn a_stopped_and_restarted_worker_under_exactly_once_writes_each_result_once() {
    let run = interrupted_run(Interruption::Sigterm, "exactly_once_v2");
    assert_eq!(run.counts, run.expected);
    assert_written_once(&run.output);
    assert!(
        !run.log.contains("from=0"),
        "a clean stop under exactly-once checkpoints the stores, so a restart restores only the changelogs' tails:\n{}",
        run.log
    );
}

#[test]
fn a_killed_worker_under_exactly_once_counts_exactly_and_writes_each_result_once() {
    let run = interrupted_run(Interruption::SigkillKeepingState, "exactly_once_v2");
    assert!(run.past > 0, "the kill came mid-stream");
    // The stores keep a checkpoint once their changelogs grew by CHECKPOINT_DELTA records
    // (tests/exactly_once_state.rs shows a crash past one restoring only the tail); this
    // run's changelogs stay below that, so the bound is all a restart can show here.
    let restored = restored_per_store(&run.log);
    assert!(
        !restored.is_empty() && restored.iter().all(|&n| n <= CHECKPOINT_DELTA as u64),
        "after a crash under exactly-once a store restores at most {CHECKPOINT_DELTA} \
         records, the changelog past its checkpoint; restored {restored:?}:\n{}",
        run.log
    );
    if worker::broker_hides_aborted_records(&support::config("probe")) {
        assert_eq!(run.counts, run.expected);
        assert_written_once(&run.output);
    } else {
        // The transaction the kill left open is aborted when the worker restarts, but this
        // broker still hands its records to read_committed readers (Tansu 0.6.0 returns no
        // aborted-transaction ranges in fetch responses), so they are counted again.
        // Written past the test harness's capture, so that every run shows it.
        let _ = writeln!(
            std::io::stderr(),
            "NOT CHECKED: exactness after a kill. The broker returns aborted records to \
             read_committed readers; checking the at-least-once bound instead."
        );
        assert_at_least_once(&run.expected, &run.counts, run.past);
    }
}
