//! End-to-end latency on a broker: task events produced at a steady 1,000 and 10,000
//! events/s (10 s each) into the task-list projection (seed 000); a subscriber of the
//! `open-tasks-by-user` store (`/subscribe?prefix=user-`, Server-Sent Events) notes when each
//! created task shows up in its user's list — after the `tasks` table, a repartition and the
//! per-user aggregation. Each created task's title carries when it was produced; tasks
//! spread over 10,000 users, so the lists stay short. Prints p50, p99 and the
//! largest latency (produced → seen by the subscriber) with the demo's settings (no record
//! cache), with the cache flushed at a commit every second, and with the defaults
//! (`commit.interval.ms` 30 s, 10 MiB record cache: a change becomes visible when the cache
//! flushes it, at the latest at the next commit).
//!
//! The baseline, in the same run: one hop through the broker — a hand-written rdkafka loop
//! producing at the same rate with the engine's producer settings and a consumer with the
//! demo's `fetch.wait.max.ms` (10 ms) reading — whose latency the projection's path pays
//! twice (the events topic, then the repartition topic).
//!
//! Both measure the steady state: before the measured events, a warm-up record goes through
//! every partition and is seen at the end, sent by the producer that then sends the measured
//! events (the clients' first fetches, and a new producer's first records, take about half
//! a second on the test broker, which would otherwise fall on the first events measured).
//!
//! Needs a broker: `scripts/bench.sh --bench latency` starts one, or set
//! `TRIBUTARY_BOOTSTRAP`.

#[path = "common/broker.rs"]
mod broker;
#[path = "common/task_events.rs"]
mod task_events;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tributary::StreamsConfig;
use tributary::engine::internals::{KafkaCollector, OutgoingRecord, RecordCollector, TopicAdmin};
use tributary::engine::partitioner::partition_for;
use tributary::engine::{KafkaStreams, StreamsState};
use tributary::topologies::task_list::{self, OPEN_TASKS, TaskEvent, TaskEventKind};

const PARTITIONS: i32 = 4;
const USERS: u64 = 10_000;
const SECONDS: u64 = 10;

/// The demo's settings (`tributary demo`), on top of the defaults: no record cache, so each
/// change is visible and forwarded at once, and fetches that come back after 10 ms when
/// there is nothing to read (the test broker answers a waiting fetch only when its wait
/// ends, not when records arrive as Kafka does, so the default 500 ms wait adds latency).
const DEMO: &[(&str, &str)] = &[
    ("commit.interval.ms", "1000"),
    ("statestore.cache.max.bytes", "0"),
    ("consumer.fetch.wait.max.ms", "10"),
];
/// The record cache on, flushed at a commit every second.
const CACHED_1S: &[(&str, &str)] = &[("commit.interval.ms", "1000")];

fn main() {
    let bootstrap = broker::bootstrap("latency");
    let run_id = broker::run_id();
    let layouts = [
        ("the demo's settings", DEMO),
        ("cache, commit every 1 s", CACHED_1S),
        ("the defaults", &[][..]),
    ];
    for rate in [1_000, 10_000] {
        let app = format!("latency-{run_id}-{rate}-hop");
        report(
            &format!("{rate:>6} events/s, one broker hop"),
            hop(&bootstrap, &app, rate),
        );
    }
    for (index, (settings_name, settings)) in layouts.into_iter().enumerate() {
        for rate in [1_000, 10_000] {
            let app = format!("latency-{run_id}-{rate}-{index}");
            let latencies = run(&bootstrap, &app, settings, rate);
            report(&format!("{rate:>6} events/s, {settings_name}"), latencies);
        }
    }
}

/// One run: the projection with `settings`, `rate` events/s for [`SECONDS`]; each created
/// task's latency.
fn run(bootstrap: &str, app: &str, settings: &[(&str, &str)], rate: u64) -> Vec<Duration> {
    let state = tempfile::tempdir().unwrap();
    let mut config = StreamsConfig::new(app);
    for (key, value) in [
        ("bootstrap.servers", bootstrap),
        ("state.dir", state.path().to_str().unwrap()),
        ("application.server", "127.0.0.1:0"),
        ("consumer.session.timeout.ms", "6000"),
    ]
    .iter()
    .chain(settings)
    {
        config.set(key, value).unwrap();
    }
    let topic = format!("{app}-events");
    TopicAdmin::new(&config)
        .unwrap()
        .create_topic(&topic, PARTITIONS, &[])
        .unwrap();
    let mut streams =
        KafkaStreams::new(task_list::projection(&topic, None).unwrap(), config.clone());
    streams.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while streams.state() != StreamsState::Running {
        assert!(Instant::now() < deadline, "the projection did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = subscribe(&format!(
        "http://{}/v1/stores/{OPEN_TASKS}/subscribe?prefix=user-",
        streams.server_address().unwrap()
    ));
    // One producer for the warm-up and the measured events, as an application keeps one: a
    // new producer's first records wait for its connection and producer id.
    let mut producer = KafkaCollector::new(&config).unwrap();
    warm_up(&mut producer, &topic, &seen);
    let base = Instant::now();
    let created = produce(&mut producer, &topic, rate, base);

    let mut latencies = Vec::with_capacity(created as usize);
    let deadline = Instant::now() + Duration::from_secs(90);
    while (latencies.len() as u64) < created && Instant::now() < deadline {
        let Ok(update) = seen.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let at = update.at.duration_since(base);
        for task in update.new {
            if let Seen::Measured { produced_us } = task {
                latencies.push(at.saturating_sub(Duration::from_micros(produced_us)));
            }
        }
    }
    assert_eq!(
        latencies.len() as u64,
        created,
        "every created task was seen"
    );
    streams.close(Duration::from_secs(30)).unwrap();
    latencies
}

/// Produces task events at `rate` per second for [`SECONDS`]: event `n` creates task `n`
/// (titled with its production time, in µs after `base`). Returns how many it created.
fn produce(producer: &mut KafkaCollector, topic: &str, rate: u64, base: Instant) -> u64 {
    paced(rate, |n| {
        let event = TaskEvent {
            task_id: format!("task-{n}"),
            kind: TaskEventKind::Created,
            user: Some(format!("user-{}", n % USERS)),
            title: Some(base.elapsed().as_micros().to_string()),
        };
        task_events::send(producer, topic, PARTITIONS, &event, 0);
    });
    producer.flush().unwrap();
    rate * SECONDS
}

/// The baseline: events produced at `rate` per second for [`SECONDS`] (each value the µs
/// of its production) and read by a consumer assigned every partition; each one's latency.
fn hop(bootstrap: &str, app: &str, rate: u64) -> Vec<Duration> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    use tributary::engine::internals::{ClientRole, client_config};
    let mut config = StreamsConfig::new(app);
    config.set("bootstrap.servers", bootstrap).unwrap();
    let topic = format!("{app}-events");
    TopicAdmin::new(&config)
        .unwrap()
        .create_topic(&topic, PARTITIONS, &[])
        .unwrap();
    let consumer: BaseConsumer = client_config(&config, ClientRole::RestoreConsumer)
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(&topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let total = rate * SECONDS;
    let base = Instant::now();
    let (warm, warmed) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        // One warm-up record per partition first (as the projection's runs, see `warm_up`).
        let mut warming = PARTITIONS;
        let mut latencies = Vec::with_capacity(total as usize);
        let deadline = Instant::now() + Duration::from_secs(SECONDS + 60);
        while (latencies.len() as u64) < total && Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                let at = base.elapsed();
                let payload = std::str::from_utf8(message.payload().unwrap()).unwrap();
                if payload == "warm-up" {
                    warming -= 1;
                    if warming == 0 {
                        warm.send(()).unwrap();
                    }
                    continue;
                }
                let produced: u64 = payload.parse().unwrap();
                latencies.push(at.saturating_sub(Duration::from_micros(produced)));
            }
        }
        latencies
    });
    let mut producer = KafkaCollector::new(&config).unwrap();
    for partition in 0..PARTITIONS {
        producer
            .send(OutgoingRecord {
                topic: &topic,
                partition,
                key: None,
                value: Some(b"warm-up"),
                timestamp: 0,
                headers: &Vec::new(),
            })
            .unwrap();
    }
    producer.flush().unwrap();
    warmed
        .recv_timeout(Duration::from_secs(60))
        .expect("the consumer read the warm-up records");
    paced(rate, |n| {
        let value = base.elapsed().as_micros().to_string();
        let key = format!("task-{n}");
        producer
            .send(OutgoingRecord {
                topic: &topic,
                partition: partition_for(key.as_bytes(), PARTITIONS),
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
                timestamp: 0,
                headers: &Vec::new(),
            })
            .unwrap();
    });
    producer.flush().unwrap();
    let latencies = reader.join().unwrap();
    assert_eq!(latencies.len() as u64, total, "every event was read");
    latencies
}

/// Creates a task on every partition of the events topic and of the repartition topic
/// (its user's), and waits until the subscriber has seen each: the clients have then
/// connected and fetched once, which the first events measured would otherwise wait for
/// (about half a second on the test broker). The latencies are the steady state's.
fn warm_up(producer: &mut KafkaCollector, topic: &str, seen: &mpsc::Receiver<Update>) {
    let (mut tasks, mut users) = (HashSet::new(), HashSet::new());
    let mut waiting = HashSet::new();
    for n in 0.. {
        if tasks.len() == PARTITIONS as usize && users.len() == PARTITIONS as usize {
            break;
        }
        let (task_id, user) = (format!("warm-up-{n}"), format!("user-{n}"));
        let new_task = tasks.insert(partition_for(task_id.as_bytes(), PARTITIONS));
        let new_user = users.insert(partition_for(user.as_bytes(), PARTITIONS));
        if new_task || new_user {
            let event = TaskEvent {
                task_id: task_id.clone(),
                kind: TaskEventKind::Created,
                user: Some(user),
                title: Some("warm-up".to_owned()),
            };
            task_events::send(producer, topic, PARTITIONS, &event, 0);
            waiting.insert(task_id);
        }
    }
    producer.flush().unwrap();
    // With the defaults the cache holds them until a commit at each of the two stages.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !waiting.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the warm-up tasks were not all seen"
        );
        let Ok(update) = seen.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        for task in update.new {
            if let Seen::Other(task_id) = task {
                waiting.remove(&task_id);
            }
        }
    }
}

/// Calls `send(n)` for n in 0..rate × [`SECONDS`], `rate` per second, in 1 ms slices.
fn paced(rate: u64, mut send: impl FnMut(u64)) {
    let total = rate * SECONDS;
    let per_slice = (rate / 1_000).max(1);
    let started = Instant::now();
    let mut n = 0;
    while n < total {
        let due = started + Duration::from_micros(n * 1_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for _ in 0..per_slice.min(total - n) {
            send(n);
            n += 1;
        }
    }
}

/// The tasks an update of the subscription showed for the first time, and when it arrived.
struct Update {
    new: Vec<Seen>,
    at: Instant,
}

/// A task seen in a user's list.
enum Seen {
    /// A measured task: `task-{n}`, titled with its production time.
    Measured { produced_us: u64 },
    /// Another task (a warm-up one), by id.
    Other(String),
}

/// An update's data as the subscriber needs it: the listed tasks' ids and titles,
/// borrowed from the line.
#[derive(serde::Deserialize)]
struct UpdateData<'a> {
    #[serde(borrow)]
    value: Option<Vec<ListedTask<'a>>>,
}

#[derive(serde::Deserialize)]
struct ListedTask<'a> {
    #[serde(borrow)]
    task_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    title: std::borrow::Cow<'a, str>,
}

/// Opens a subscription; its updates arrive on the returned channel once the snapshot is
/// complete, each with only the tasks not seen before. The subscriber is kept light (typed
/// parsing, task numbers rather than strings remembered): it shares this machine's two
/// cores with the projection and the broker.
fn subscribe(url: &str) -> mpsc::Receiver<Update> {
    let response = ureq::get(url).call().unwrap();
    let reader = BufReader::new(response.into_body().into_reader());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut measured, mut others) = (HashSet::new(), HashSet::new());
        let mut name = String::new();
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(event) = line.strip_prefix("event:") {
                name = event.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:")
                && name == "update"
            {
                let at = Instant::now();
                let data: UpdateData<'_> = serde_json::from_str(data.trim_start()).unwrap();
                let mut new = Vec::new();
                for task in data.value.into_iter().flatten() {
                    let number = task
                        .task_id
                        .strip_prefix("task-")
                        .and_then(|n| n.parse::<u64>().ok());
                    match (number, task.title.parse()) {
                        (Some(n), Ok(produced_us)) => {
                            if measured.insert(n) {
                                new.push(Seen::Measured { produced_us });
                            }
                        }
                        _ => {
                            if !others.contains(task.task_id.as_ref()) {
                                others.insert(task.task_id.to_string());
                                new.push(Seen::Other(task.task_id.into_owned()));
                            }
                        }
                    }
                }
                if !new.is_empty() && tx.send(Update { new, at }).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn report(name: &str, mut latencies: Vec<Duration>) {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<36} p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms  ({} tasks)",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*latencies.last().unwrap()),
        latencies.len()
    );
}
