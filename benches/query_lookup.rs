//! Point lookups on a broker: two `KafkaStreams` instances of the task-list projection share
//! 4 partitions holding 10k users' completed counts. In the same run, one client asks for
//! random users:
//!
//! - in-process: the store partition's read handle, as `KafkaStreams::stores` gives it
//!   (the baseline: no HTTP, no routing);
//! - HTTP, local: `GET /v1/stores/completed-by-user/keys/{user}` at the instance that owns
//!   the user;
//! - HTTP, forwarded: the same at the other instance, which forwards to the owner.
//!
//! Each prints lookups per second (one client, sequential requests on a keep-alive
//! connection), p50 and p99 latency, and the ratio of HTTP throughput to in-process.
//!
//! Needs a broker: `scripts/bench.sh --bench query_lookup` starts one, or set
//! `TRIBUTARY_BOOTSTRAP`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tributary::StreamsConfig;
use tributary::engine::internals::{KafkaCollector, TopicAdmin};
use tributary::engine::internals::{OutgoingRecord, RecordCollector};
use tributary::engine::partitioner::partition_for;
use tributary::engine::{KafkaStreams, StreamsState};
use tributary::topologies::task_list::{self, COMPLETED, TaskEvent, TaskEventKind};

const USERS: u32 = 10_000;
const PARTITIONS: i32 = 4;
const LOOKUPS: usize = 20_000;

fn main() {
    let bootstrap = std::env::var("TRIBUTARY_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "TRIBUTARY_BOOTSTRAP is not set: this benchmark needs a Kafka-compatible broker. \
             Run scripts/bench.sh --bench query_lookup (it starts one)"
        )
    });
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let app = format!("lookup-{run_id}");
    let topic = format!("{app}-events");
    let states: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let config = |state: &tempfile::TempDir| {
        let mut config = StreamsConfig::new(&app);
        for (key, value) in [
            ("bootstrap.servers", bootstrap.as_str()),
            ("commit.interval.ms", "500"),
            ("consumer.session.timeout.ms", "6000"),
            ("application.server", "127.0.0.1:0"),
            ("state.dir", state.path().to_str().unwrap()),
        ] {
            config.set(key, value).unwrap();
        }
        config
    };
    TopicAdmin::new(&config(&states[0]))
        .unwrap()
        .create_topic(&topic, PARTITIONS, &[])
        .unwrap();
    preload(&config(&states[0]), &topic);

    let mut instances: Vec<KafkaStreams> = states
        .iter()
        .map(|state| {
            let topology = task_list::projection(&topic, None).unwrap();
            let mut streams = KafkaStreams::new(topology, config(state));
            streams.start().unwrap();
            streams
        })
        .collect();
    let users: Vec<String> = (0..USERS).map(|u| format!("user-{u}")).collect();
    await_ready(&instances, &users);
    let addresses: Vec<String> = instances
        .iter()
        .map(|s| s.server_address().unwrap().to_string())
        .collect();

    // Which instance owns each user's partition.
    let stores: Vec<_> = instances.iter().map(KafkaStreams::stores).collect();
    let index = stores[0].index_of(COMPLETED).unwrap();
    let owner_of = |user: &str| -> usize {
        let partition = stores[0].partition_of(index, user.as_bytes()).unwrap();
        stores
            .iter()
            .position(|s| s.hosted(index, partition).is_some_and(|h| !h.restoring))
            .expect("every partition is hosted")
    };
    let mut rng = StdRng::seed_from_u64(11);
    let picks: Vec<&String> = (0..LOOKUPS)
        .map(|_| &users[rng.random_range(0..users.len())])
        .collect();

    let direct = measure("in-process store get", &picks, |user| {
        let owner = &stores[owner_of(user)];
        let partition = owner.partition_of(index, user.as_bytes()).unwrap();
        let hosted = owner.hosted(index, partition).unwrap();
        hosted.reader.get(user.as_bytes()).unwrap().is_some()
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let http = |user: &str, at: usize| {
        let url = format!("http://{}/v1/stores/{COMPLETED}/keys/{user}", addresses[at]);
        let mut response = agent.get(&url).call().unwrap();
        let ok = response.status() == 200;
        let _ = response.body_mut().read_to_vec().unwrap();
        ok
    };
    let local = measure("HTTP, at the owner", &picks, |user| {
        http(user, owner_of(user))
    });
    let forwarded = measure("HTTP, forwarded", &picks, |user| {
        http(user, 1 - owner_of(user))
    });
    for (name, run) in [("local", &local), ("forwarded", &forwarded)] {
        println!(
            "HTTP {name} / in-process: throughput {:.4}x, p50 {:.0}x, p99 {:.0}x",
            run.per_second / direct.per_second,
            run.p50.as_secs_f64() / direct.p50.as_secs_f64(),
            run.p99.as_secs_f64() / direct.p99.as_secs_f64(),
        );
    }
    for streams in &mut instances {
        streams.close(Duration::from_secs(30)).unwrap();
    }
}

struct Measured {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `lookup` for every pick, one after another; every lookup must find its key.
fn measure(name: &str, picks: &[&String], mut lookup: impl FnMut(&str) -> bool) -> Measured {
    for user in picks.iter().take(500) {
        assert!(lookup(user), "{name}: {user} not found");
    }
    let mut latencies = Vec::with_capacity(picks.len());
    let started = Instant::now();
    for user in picks {
        let t = Instant::now();
        assert!(lookup(user), "{name}: {user} not found");
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let measured = Measured {
        per_second: picks.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    };
    println!(
        "{name:<24} {:>9.0} lookups/s  p50 {:>8.1} µs  p99 {:>8.1} µs",
        measured.per_second,
        measured.p50.as_secs_f64() * 1e6,
        measured.p99.as_secs_f64() * 1e6,
    );
    measured
}

/// One completed task per user.
fn preload(config: &StreamsConfig, topic: &str) {
    let mut producer = KafkaCollector::new(config).unwrap();
    let headers = Vec::new();
    for u in 0..USERS {
        let event = TaskEvent {
            task_id: format!("task-{u}"),
            kind: TaskEventKind::Completed,
            user: Some(format!("user-{u}")),
            title: None,
        };
        let value = serde_json::to_vec(&event).unwrap();
        producer
            .send(OutgoingRecord {
                topic,
                partition: partition_for(event.task_id.as_bytes(), PARTITIONS),
                key: Some(event.task_id.as_bytes()),
                value: Some(&value),
                timestamp: i64::from(u),
                headers: &headers,
            })
            .unwrap();
    }
    producer.flush().unwrap();
}

/// Waits until both instances run, know each other, and every user is readable.
fn await_ready(instances: &[KafkaStreams], users: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let running = instances.iter().all(|s| s.state() == StreamsState::Running);
        let known = instances
            .iter()
            .all(|s| s.directory().instances().len() == 2);
        let stores: Vec<_> = instances.iter().map(KafkaStreams::stores).collect();
        let index = stores[0].index_of(COMPLETED).unwrap();
        let found = running
            && known
            && users.iter().all(|user| {
                let partition = stores[0].partition_of(index, user.as_bytes()).unwrap();
                stores.iter().any(|s| {
                    s.hosted(index, partition).is_some_and(|h| {
                        !h.restoring && h.reader.get(user.as_bytes()).ok().flatten().is_some()
                    })
                })
            });
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the instances did not settle with every user readable"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
