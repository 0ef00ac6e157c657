//! `tributary demo`: seed 000's task list on a Kafka cluster. A generator writes task events
//! (created, assigned, completed, deleted) for many users at a steady rate while
//! `KafkaStreams` runs the task-list projection with several threads and answers queries
//! over HTTP; progress is printed as the events are produced and processed, with curl
//! commands that query the read models and subscribe to a user's changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tributary::StreamsConfig;
use tributary::engine::internals::{KafkaCollector, TopicAdmin};
use tributary::engine::internals::{OutgoingRecord, RecordCollector};
use tributary::engine::partitioner::partition_for;
use tributary::engine::{KafkaStreams, StreamsState};
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
    /// Where the query server listens (`application.server`).
    pub server: String,
    /// Set by a termination signal: stop producing, commit and stop.
    pub stop: Arc<AtomicBool>,
}

const EVENTS: &str = "task-events";
/// The topic of user profiles (user id → name and team).
const USERS: &str = "users";
/// The teams users work in.
const TEAMS: [&str; 4] = ["core", "web", "data", "infra"];

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
        // A change is visible to queries and subscribers as soon as it is applied (no record
        // cache), and an idle fetch returns after 10 ms: the local broker answers a waiting
        // fetch when its wait ends, not when records arrive. `benches/latency.rs` measures it.
        ("statestore.cache.max.bytes", "0"),
        ("consumer.fetch.wait.max.ms", "10"),
        ("application.server", options.server.as_str()),
        ("consumer.session.timeout.ms", "6000"),
    ] {
        config.set(key, value)?;
    }
    let admin = TopicAdmin::new(&config)?;
    for topic in [EVENTS, USERS] {
        admin
            .create_topic(topic, options.partitions, &[])
            .with_context(|| format!("creating `{topic}`"))?;
    }
    write_profiles(&config, options.users, options.partitions)?;

    let topology = task_list::projection(EVENTS, Some(USERS))?;
    println!("{}", topology.describe());
    let mut streams = KafkaStreams::new(topology, config.clone());
    streams.set_state_listener(|old, new| println!("projection: {old:?} -> {new:?}"));
    streams.start()?;

    let address = streams
        .server_address()
        .context("the query server did not start")?;
    print_queries(&address.to_string());

    let produced = Arc::new(AtomicU64::new(0));
    let stop = options.stop.clone();
    let generator = {
        let (config, produced, stop) = (config.clone(), produced.clone(), stop.clone());
        let (users, rate, partitions) = (options.users, options.rate, options.partitions);
        std::thread::spawn(move || generate(&config, users, rate, partitions, &produced, &stop))
    };

    let started = Instant::now();
    let mut answered = false;
    while !stop.load(Ordering::Acquire)
        && (options.duration.is_zero() || started.elapsed() < options.duration)
    {
        std::thread::sleep(Duration::from_secs(2));
        if !answered && streams.state() == StreamsState::Running {
            answered = self_query(&address.to_string());
        }
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

/// Writes a profile (name and team) for every user.
fn write_profiles(config: &StreamsConfig, users: u32, partitions: i32) -> anyhow::Result<()> {
    let mut producer = KafkaCollector::new(config)?;
    for user in 0..users {
        let key = format!("user-{user}");
        let profile = task_list::UserProfile {
            name: format!("User {user}"),
            team: TEAMS[user as usize % TEAMS.len()].to_owned(),
        };
        let value = serde_json::to_vec(&profile)?;
        producer.send(OutgoingRecord {
            topic: USERS,
            partition: partition_for(key.as_bytes(), partitions),
            key: Some(key.as_bytes()),
            value: Some(&value),
            timestamp: 0,
            headers: &Vec::new(),
        })?;
    }
    producer.flush()?;
    Ok(())
}

/// Prints curl commands that query the projection at `address`.
fn print_queries(address: &str) {
    let store = task_list::OPEN_TASKS;
    let completed = task_list::COMPLETED;
    let with_user = task_list::USER_OPEN_TASKS;
    let assigned = task_list::TASKS_WITH_ASSIGNEE;
    println!("queries: http://{address}  (for example, in another terminal:)");
    println!("  curl -s http://{address}/v1/stores/{store}/keys/user-7");
    println!("  curl -s http://{address}/v1/stores/{with_user}/keys/user-7");
    println!("  curl -s http://{address}/v1/stores/{assigned}/keys/task-1");
    println!("  curl -s 'http://{address}/v1/stores/{completed}/entries?prefix=user-1&limit=5'");
    println!("  curl -sN http://{address}/v1/stores/{store}/subscribe?key=user-7");
    println!("  curl -s http://{address}/v1/instances");
    println!("  curl -s http://{address}/metrics | grep tributary_task_records");
}

/// Asks the query server for one user's open tasks, as a client would, and prints the
/// answer; false when it could not answer yet or the list is still empty (the profile
/// joined before any task: changes are visible at once, without a record cache).
fn self_query(address: &str) -> bool {
    let url = format!(
        "http://{address}/v1/stores/{}/keys/user-7",
        task_list::USER_OPEN_TASKS
    );
    match ureq::get(&url).call() {
        Ok(mut response) => {
            let body = response.body_mut().read_to_string().unwrap_or_default();
            let shown: String = body.chars().take(300).collect();
            println!("GET {url}\n  -> {shown}…");
            body.contains("\"task_id\"")
        }
        Err(error) => {
            println!("GET {url}\n  -> not yet: {error}");
            false
        }
    }
}

/// Open tasks per user the generator keeps, so that a user's list has a handful of tasks.
const OPEN_PER_USER: usize = 5;

/// Writes task events at `rate` per second until `stop`; returns how many it wrote. It
/// first creates tasks until each user has about [`OPEN_PER_USER`] open, then creates
/// (40%), reassigns (20%), completes (30%) and deletes (10%) tasks, which keeps that
/// backlog while every user's list changes every few seconds.
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
        let backlog = users as usize * OPEN_PER_USER;
        let event = if open.len() < backlog || roll < 4 {
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
