//! `tributary demo`: seed 000's task list on a Kafka cluster. A generator writes task events
//! (created, assigned, completed, deleted) for many users at a steady rate while
//! `KafkaStreams` runs the task-list projection with several threads; progress is printed
//! as the events are produced and processed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tributary::StreamsConfig;
use tributary::engine::KafkaStreams;
use tributary::engine::kafka::{KafkaCollector, TopicAdmin};
use tributary::engine::partitioner::partition_for;
use tributary::engine::task::{OutgoingRecord, RecordCollector};
use tributary::topologies::task_list::{self, TaskEvent, TaskEventKind};

/// The demo's settings (the CLI's flags).
pub struct DemoOptions {
    /// The Kafka cluster.
    pub bootstrap_servers: String,
    /// How many users tasks are assigned to.
    pub users: u32,
    /// Events produced per second.
    pub rate: u32,
    /// How long to produce; the demo then waits for the projection to catch up.
    pub duration: Duration,
    /// Stream threads of the projection.
    pub threads: u32,
    /// Partitions of the events topic.
    pub partitions: i32,
}

const EVENTS: &str = "task-events";

/// Runs the demo to the end.
pub fn run(options: &DemoOptions) -> anyhow::Result<()> {
    let state = tempfile::Builder::new()
        .prefix("tributary-demo-")
        .tempdir()
        .context("creating a state directory")?;
    let mut config = StreamsConfig::new("tributary-demo");
    for (key, value) in [
        ("bootstrap.servers", options.bootstrap_servers.as_str()),
        (
            "state.dir",
            state
                .path()
                .to_str()
                .context("the state directory's path is not UTF-8")?,
        ),
        ("num.stream.threads", &options.threads.to_string()),
        ("commit.interval.ms", "1000"),
        ("consumer.session.timeout.ms", "6000"),
    ] {
        config.set(key, value)?;
    }
    let admin = TopicAdmin::new(&config)?;
    admin
        .create_topic(EVENTS, options.partitions, &[])
        .with_context(|| format!("creating `{EVENTS}`"))?;

    let topology = task_list::projection(EVENTS)?;
    println!("{}", topology.describe());
    let mut streams = KafkaStreams::new(topology, config.clone());
    streams.set_state_listener(|old, new| println!("projection: {old:?} -> {new:?}"));
    streams.start()?;

    let produced = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let generator = {
        let (config, produced, stop) = (config.clone(), produced.clone(), stop.clone());
        let (users, rate, partitions) = (options.users, options.rate, options.partitions);
        std::thread::spawn(move || generate(&config, users, rate, partitions, &produced, &stop))
    };

    let started = Instant::now();
    while started.elapsed() < options.duration {
        std::thread::sleep(Duration::from_secs(2));
        let n = produced.load(Ordering::Relaxed);
        println!(
            "{:>4.0}s  produced {n:>8} events ({:.0}/s)  projection {:?}",
            started.elapsed().as_secs_f64(),
            n as f64 / started.elapsed().as_secs_f64(),
            streams.state()
        );
    }
    stop.store(true, Ordering::Release);
    let total = generator
        .join()
        .map_err(|_| anyhow::anyhow!("the event generator panicked"))??;
    println!(
        "produced {total} task events for {} users; letting the projection commit",
        options.users
    );
    std::thread::sleep(Duration::from_secs(3));
    streams.close(Duration::from_secs(60))?;
    println!("projection closed: {:?}", streams.state());
    Ok(())
}

/// Writes task events at `rate` per second until `stop`; returns how many it wrote.
fn generate(
    config: &StreamsConfig,
    users: u32,
    rate: u32,
    partitions: i32,
    produced: &AtomicU64,
    stop: &AtomicBool,
) -> anyhow::Result<u64> {
    let mut producer = KafkaCollector::new(config)?;
    let mut rng = StdRng::seed_from_u64(0x7a5c);
    let mut open: Vec<String> = Vec::new();
    let mut next_task = 0u64;
    let mut value = Vec::new();
    let headers = Vec::new();
    let started = Instant::now();
    let mut sent = 0u64;
    let mut per_user: HashMap<u32, u64> = HashMap::new();
    while !stop.load(Ordering::Acquire) {
        // Pace the events: never ahead of `rate` per second.
        let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as u64;
        if sent >= due {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let user = rng.random_range(0..users);
        let roll = rng.random_range(0..10);
        let event = if open.is_empty() || roll < 4 {
            next_task += 1;
            let task_id = format!("task-{next_task}");
            open.push(task_id.clone());
            *per_user.entry(user).or_default() += 1;
            TaskEvent {
                task_id,
                kind: TaskEventKind::Created,
                user: Some(format!("user-{user}")),
                title: Some(format!("task number {next_task}")),
            }
        } else {
            let i = rng.random_range(0..open.len());
            let kind = match roll {
                4 | 5 => TaskEventKind::Assigned,
                6..=8 => TaskEventKind::Completed,
                _ => TaskEventKind::Deleted,
            };
            let task_id = if kind == TaskEventKind::Assigned {
                open[i].clone()
            } else {
                open.swap_remove(i)
            };
            let user = (kind != TaskEventKind::Deleted).then(|| format!("user-{user}"));
            TaskEvent {
                task_id,
                kind,
                user,
                title: None,
            }
        };
        value.clear();
        serde_json::to_writer(&mut value, &event)?;
        let key = event.task_id.as_bytes();
        producer.send(OutgoingRecord {
            topic: EVENTS,
            partition: partition_for(key, partitions),
            key: Some(key),
            value: Some(&value),
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as i64,
            headers: &headers,
        })?;
        sent += 1;
        produced.store(sent, Ordering::Relaxed);
    }
    producer.flush()?;
    Ok(sent)
}
