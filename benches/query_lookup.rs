//! Point lookups on a broker: two `KafkaStreams` instances of the task-list projection share
//! 4 partitions holding 10k users' completed counts. In the same run, clients ask for
//! random users:
//!
//! - in-process: the store partition's read handle, as `KafkaStreams::stores` gives it
//!   (no HTTP, no routing);
//! - a constant: the same HTTP stack (axum on a two-thread tokio runtime, as the query
//!   server) answering every lookup with a fixed body of the same shape — the baseline;
//! - HTTP, at the owner: `GET /v1/stores/completed-by-user/keys/{user}` at the instance
//!   that owns the user;
//! - HTTP, forwarded: the same at the other instance, which forwards to the owner.
//!
//! The HTTP ones run with 1 client and with 32 concurrent clients (one keep-alive
//! connection each). Each prints lookups per second, p50 and p99 latency; then the ratios
//! of lookups per second at the owner to the constant's (target at 32 clients: ≥ 0.5).
//!
//! Needs a broker: `scripts/bench.sh --bench query_lookup` starts one, or set
//! `TRIBUTARY_BOOTSTRAP`.

#[path = "common/broker.rs"]
mod broker;
#[path = "common/task_events.rs"]
mod task_events;

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tributary::StreamsConfig;
use tributary::engine::internals::RecordCollector;
use tributary::engine::internals::{KafkaCollector, TopicAdmin};
use tributary::engine::{KafkaStreams, StreamsState};
use tributary::topologies::task_list::{self, COMPLETED, TaskEvent, TaskEventKind};

const USERS: u32 = 10_000;
const PARTITIONS: i32 = 4;
const LOOKUPS: usize = 20_000;
/// Concurrent clients of the second round.
const CLIENTS: usize = 32;

fn main() {
    let bootstrap = broker::bootstrap("query_lookup");
    let run_id = broker::run_id();
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
    let constant = constant_server();
    let url = |user: &str, at: usize| {
        format!("http://{}/v1/stores/{COMPLETED}/keys/{user}", addresses[at])
    };
    let mut ratios = Vec::new();
    for clients in [1, CLIENTS] {
        let baseline = measure_http("constant", &picks, clients, |user| {
            format!("http://{constant}/v1/stores/{COMPLETED}/keys/{user}")
        });
        let local = measure_http("HTTP, at the owner", &picks, clients, |user| {
            url(user, owner_of(user))
        });
        let forwarded = measure_http("HTTP, forwarded", &picks, clients, |user| {
            url(user, 1 - owner_of(user))
        });
        ratios.push((clients, baseline, local, forwarded));
    }
    for (clients, baseline, local, forwarded) in &ratios {
        println!(
            "{clients:>2} client(s): at the owner / constant: {:.2}x lookups/s; forwarded / constant: {:.2}x; at the owner / in-process: {:.3}x",
            local.per_second / baseline.per_second,
            forwarded.per_second / baseline.per_second,
            local.per_second / direct.per_second,
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
    let started = Instant::now();
    let latencies = timed(picks, &mut lookup, name);
    report(name, 1, latencies, started.elapsed(), picks.len())
}

/// GETs `url(pick)` for every pick, split over `clients` threads with a keep-alive
/// connection each; every answer must be 200.
fn measure_http(
    name: &str,
    picks: &[&String],
    clients: usize,
    url: impl Fn(&str) -> String + Sync,
) -> Measured {
    let get = |agent: &ureq::Agent, user: &str| {
        let mut response = agent.get(&url(user)).call().unwrap();
        let _ = response.body_mut().read_to_vec().unwrap();
        response.status() == 200
    };
    let agents: Vec<ureq::Agent> = (0..clients)
        .map(|_| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into()
        })
        .collect();
    for (agent, user) in agents.iter().cycle().zip(picks.iter().take(500)) {
        assert!(get(agent, user), "{name}: {user} not found");
    }
    let share = picks.len().div_ceil(clients);
    let started = Instant::now();
    let latencies: Vec<Duration> = std::thread::scope(|scope| {
        let running: Vec<_> = agents
            .iter()
            .zip(picks.chunks(share))
            .map(|(agent, mine)| scope.spawn(|| timed(mine, &mut |user| get(agent, user), name)))
            .collect();
        running
            .into_iter()
            .flat_map(|client| client.join().unwrap())
            .collect()
    });
    report(name, clients, latencies, started.elapsed(), picks.len())
}

/// Each lookup's latency; every lookup must succeed.
fn timed(picks: &[&String], lookup: &mut impl FnMut(&str) -> bool, name: &str) -> Vec<Duration> {
    picks
        .iter()
        .map(|user| {
            let t = Instant::now();
            assert!(lookup(user), "{name}: {user} not found");
            t.elapsed()
        })
        .collect()
}

/// Prints and returns lookups per second, p50 and p99.
fn report(
    name: &str,
    clients: usize,
    mut latencies: Vec<Duration>,
    elapsed: Duration,
    lookups: usize,
) -> Measured {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let measured = Measured {
        per_second: lookups as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    };
    println!(
        "{name:<24} {clients:>2} client(s) {:>9.0} lookups/s  p50 {:>8.1} µs  p99 {:>8.1} µs",
        measured.per_second,
        measured.p50.as_secs_f64() * 1e6,
        measured.p99.as_secs_f64() * 1e6,
    );
    measured
}

/// The baseline: the query server's HTTP stack (axum on a two-thread tokio runtime)
/// answering every key lookup with a constant body of the same shape.
fn constant_server() -> std::net::SocketAddr {
    use axum::routing::get;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let body = serde_json::json!({
        "store": COMPLETED, "key": "user-0", "value": 1, "partition": 0, "instance": address.to_string(),
    });
    let app = axum::Router::new().route(
        "/v1/stores/{store}/keys/{key}",
        get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    std::thread::spawn(move || {
        runtime.block_on(async move { axum::serve(listener, app).await.unwrap() });
    });
    address
}

/// One completed task per user.
fn preload(config: &StreamsConfig, topic: &str) {
    let mut producer = KafkaCollector::new(config).unwrap();
    for u in 0..USERS {
        let event = TaskEvent {
            task_id: format!("task-{u}"),
            kind: TaskEventKind::Completed,
            user: Some(format!("user-{u}")),
            title: None,
        };
        task_events::send(&mut producer, topic, PARTITIONS, &event, i64::from(u));
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
