//! End to end on a broker: 1M JSON task events over 10k users on 4 partitions, read by the
//! engine (`KafkaStreams`, one stream thread) and by a hand-written rdkafka loop doing the
//! same work on the same broker in the same run:
//!
//! - (a) stateless: filter + map to an output topic;
//! - (b) count per user: the engine in a RocksDB store with changelog and record cache,
//!   the loop in a `HashMap` without changelog; both write the changed counts at each
//!   commit;
//! - restore: a 1M-record changelog restored into RocksDB by the engine's tasks, against a
//!   plain consumer reading the same topic;
//! - (a) and (b) again under `exactly_once_v2` (transactions, commits every 100 ms),
//!   against the median of the engine's own at-least-once runs;
//! - scaling: (a) with 1, 2 and 4 stream threads in one instance, and with two instances
//!   of 2 threads each, against the one-thread run (`scaling.rs`).
//!
//! Each prints records per second and CPU time per record (user + system of this process,
//! which does all the work; the broker runs in its own process) and the ratios. The engine
//! and the loop of (a) and (b) run `TRIBUTARY_BENCH_ROUNDS` times each (default 3), taking
//! turns; their ratios are of the medians (the CPU time of one run moves by a fifth from
//! run to run on a shared machine).
//!
//! Needs a broker: `scripts/bench.sh` starts one, or set `TRIBUTARY_BOOTSTRAP`.
//! `TRIBUTARY_BENCH_EVENTS` overrides the number of events (default 1,000,000).

mod baseline;
#[path = "../common/broker.rs"]
mod broker;
mod cpu;
mod restore;
mod scaling;
mod work;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tributary::StreamsConfig;
use tributary::engine::KafkaStreams;
use tributary::engine::internals::{KafkaCollector, TopicAdmin};
use tributary::engine::internals::{OutgoingRecord, RecordCollector};
use tributary::engine::partitioner::partition_for;
use tributary::topologies::task_list::{TaskEvent, TaskEventKind};

use cpu::{Run, process_cpu};

const USERS: u64 = 10_000;

/// Builds one of the engine's pipelines: input topic, output topic, counter of records read.
type BuildTopology = fn(&str, &str, Arc<AtomicU64>) -> tributary::Topology;
const PARTITIONS: i32 = 4;

fn main() {
    // `cargo bench` passes `--bench`; this benchmark takes no arguments.
    let bootstrap = broker::bootstrap("end_to_end");
    let events: u64 = std::env::var("TRIBUTARY_BENCH_EVENTS")
        .map(|n| n.parse().expect("TRIBUTARY_BENCH_EVENTS is a number"))
        .unwrap_or(1_000_000);
    let rounds: usize = std::env::var("TRIBUTARY_BENCH_ROUNDS")
        .map(|n| n.parse().expect("TRIBUTARY_BENCH_ROUNDS is a number"))
        .unwrap_or(3)
        .max(1);
    let run_id = broker::run_id();
    let config = |app: &str| {
        let mut config = StreamsConfig::new(&format!("e2e-{run_id}-{app}"));
        for (key, value) in [
            ("bootstrap.servers", bootstrap.as_str()),
            ("commit.interval.ms", "1000"),
            ("consumer.session.timeout.ms", "6000"),
        ] {
            config.set(key, value).unwrap();
        }
        config
    };

    let setup = config("setup");
    let admin = TopicAdmin::new(&setup).unwrap();
    let input = format!("e2e-{run_id}-events");
    admin.create_topic(&input, PARTITIONS, &[]).unwrap();
    let started = Instant::now();
    preload(&setup, &input, events);
    println!(
        "preloaded {events} task events over {USERS} users on {PARTITIONS} partitions in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let pipelines: [(&str, BuildTopology, baseline::Work); 2] = [
        (
            "(a) stateless filter + map",
            work::stateless,
            baseline::Work::Stateless,
        ),
        (
            "(b) count per user (engine: RocksDB + changelog; loop: HashMap)",
            work::count_per_user,
            baseline::Work::CountPerUser,
        ),
    ];
    for (index, (name, topology, loop_work)) in pipelines.into_iter().enumerate() {
        let engine_out = format!("e2e-{run_id}-engine-out-{index}");
        let loop_out = format!("e2e-{run_id}-loop-out-{index}");
        admin.create_topic(&engine_out, PARTITIONS, &[]).unwrap();
        admin.create_topic(&loop_out, PARTITIONS, &[]).unwrap();
        // Engine and loop take turns, each round in the other order, so that a slow spell
        // of this shared machine does not fall on one side only; the medians are compared.
        let (mut engine, mut hand) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let run_engine_once = || {
                let seen = Arc::new(AtomicU64::new(0));
                run_engine(
                    vec![config(&format!("engine-{index}-{round}"))],
                    || topology(&input, &engine_out, seen.clone()),
                    &seen,
                    events,
                )
            };
            let run_loop_once = || {
                baseline::run(
                    &config(&format!("loop-{index}-{round}")),
                    &input,
                    &loop_out,
                    PARTITIONS,
                    events,
                    loop_work,
                )
            };
            if round % 2 == 0 {
                engine.push(run_engine_once());
                hand.push(run_loop_once());
            } else {
                hand.push(run_loop_once());
                engine.push(run_engine_once());
            }
        }
        let eos_out = format!("e2e-{run_id}-eos-out-{index}");
        admin.create_topic(&eos_out, PARTITIONS, &[]).unwrap();
        let mut eos_config = config(&format!("eos-{index}"));
        eos_config
            .set("processing.guarantee", "exactly_once_v2")
            .unwrap();
        eos_config.set("commit.interval.ms", "100").unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let eos = run_engine(
            vec![eos_config],
            || topology(&input, &eos_out, seen.clone()),
            &seen,
            events,
        );
        cpu::report(
            &format!("{name} under exactly_once_v2 vs at_least_once"),
            eos,
            cpu::median(&engine),
            "at_least_once",
        );
        cpu::report_rounds(name, &engine, &hand, "loop");
    }

    scaling::measure(&config, &admin, &input, &format!("e2e-{run_id}"), events);

    for (partitions, filled) in [(PARTITIONS, PARTITIONS), (64, PARTITIONS)] {
        let (restored, consumed) = restore::measure(
            &config(&format!("restore-{partitions}")),
            events,
            USERS,
            partitions,
            filled,
        );
        cpu::report(
            &format!(
                "restore of a changelog into RocksDB vs a plain consumer reading it ({partitions} tasks, {filled} with records)"
            ),
            restored,
            consumed,
            "consume",
        );
    }
}

/// Writes `events` JSON task events keyed by user to `topic`.
fn preload(config: &StreamsConfig, topic: &str, events: u64) {
    let mut producer = KafkaCollector::new(config).unwrap();
    let headers = Vec::new();
    let mut value = Vec::new();
    for n in 0..events {
        let user = format!("user-{}", (n * 7919) % USERS);
        let kind = match n % 10 {
            0..=3 => TaskEventKind::Created,
            4..=6 => TaskEventKind::Assigned,
            _ => TaskEventKind::Completed,
        };
        let event = TaskEvent {
            task_id: format!("task-{}", n / 3),
            kind,
            user: Some(user.clone()),
            title: (kind == TaskEventKind::Created).then(|| format!("task number {}", n / 3)),
        };
        value.clear();
        serde_json::to_writer(&mut value, &event).unwrap();
        producer
            .send(OutgoingRecord {
                topic,
                partition: partition_for(user.as_bytes(), PARTITIONS),
                key: Some(user.as_bytes()),
                value: Some(&value),
                timestamp: n as i64,
                headers: &headers,
            })
            .unwrap();
    }
    producer.flush().unwrap();
}

/// Runs one instance of `topology()` per configuration (each with a state directory of its
/// own) until `seen` counts `events` records, then closes them (the last commit included).
fn run_engine(
    configs: Vec<StreamsConfig>,
    topology: impl Fn() -> tributary::Topology,
    seen: &AtomicU64,
    events: u64,
) -> Run {
    let cpu_before = process_cpu();
    let (mut instances, _states) = start_instances(configs, topology, "127.0.0.1:0");
    let mut first = None;
    loop {
        let n = seen.load(Ordering::Relaxed);
        if n > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if n >= events {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for streams in &mut instances {
        streams.close(Duration::from_secs(120)).unwrap();
    }
    Run {
        records: seen.load(Ordering::Relaxed),
        elapsed: first.expect("records were read").elapsed(),
        cpu: process_cpu() - cpu_before,
    }
}

/// Starts one instance of `topology()` per configuration, each with a state directory of
/// its own (returned, to keep them alive) and `application.server` = `server`.
fn start_instances(
    configs: Vec<StreamsConfig>,
    topology: impl Fn() -> tributary::Topology,
    server: &str,
) -> (Vec<KafkaStreams>, Vec<tempfile::TempDir>) {
    let states: Vec<tempfile::TempDir> = configs
        .iter()
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let instances = configs
        .into_iter()
        .zip(&states)
        .map(|(mut config, state)| {
            config
                .set("state.dir", state.path().to_str().unwrap())
                .unwrap();
            config.set("application.server", server).unwrap();
            let mut streams = KafkaStreams::new(topology(), config);
            streams.start().unwrap();
            streams
        })
        .collect();
    (instances, states)
}
