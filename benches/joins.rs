//! Joins against hand-written loops doing the same work with the same serdes, in one run:
//!
//! - **stream-table**: 100k events per batch (1M and more over the run) enriched with the
//!   row of a 10k-row users table, through a task with RocksDB, record cache and change
//!   logging, vs a loop looking each event's user up in a `HashMap` of serialized rows (so
//!   that both decode the row they find);
//! - **stream-stream**: two streams of 500k events each, inner-joined within one minute
//!   (RocksDB window stores, logged), vs a loop keeping each side's last minute per key in
//!   memory;
//! - **foreign key**: 100k tasks over 10k users, then rounds of 10k user updates that each
//!   re-join the user's 10 tasks (through the subscription and response topics, in the test
//!   driver), vs a loop with a `HashMap` index from user to tasks. Timed by hand over a few
//!   rounds, because the driver keeps every record it routes.

mod common;

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use serde::{Deserialize, Serialize};
use tributary::engine::JoinWindows;
use tributary::engine::dsl::{Joined, StreamJoined};
use tributary::engine::serde::{JsonSerde, Serde, StringSerde, nullable};
use tributary::engine::{RawRecord, TopologyTestDriver};
use tributary::{Consumed, Materialized, Produced, StreamsBuilder, StreamsConfig, Topology};

#[derive(Clone, Serialize, Deserialize)]
struct Event {
    user: String,
    amount: i64,
}

#[derive(Clone, Serialize, Deserialize)]
struct User {
    name: String,
    team: String,
}

#[derive(Clone, Serialize, Deserialize)]
struct Enriched {
    amount: i64,
    name: String,
    team: String,
}

#[derive(Clone, Serialize, Deserialize)]
struct Task {
    title: String,
    assignee: String,
}

const BATCH: usize = 100_000;
const USERS: usize = 10_000;
const PER_SIDE: usize = 500_000;
const TASKS: usize = 100_000;
const FK_ROUNDS: usize = 5;

fn enrich(event: &Event, user: &User) -> Enriched {
    Enriched {
        amount: event.amount,
        name: user.name.clone(),
        team: user.team.clone(),
    }
}

fn user(i: usize, round: usize) -> User {
    User {
        name: format!("User {i} v{round}"),
        team: format!("team-{}", i % 20),
    }
}

/// Events keyed by their user (so no repartition), `users` users, one per millisecond.
fn events_by_user(n: usize, users: usize) -> Vec<RawRecord> {
    common::task_events(n, users)
        .into_iter()
        .map(|mut r| {
            let event: Event = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
            r.key = Some(event.user.into_bytes());
            r
        })
        .collect()
}

fn users_table(round: usize) -> Vec<RawRecord> {
    (0..USERS)
        .map(|i| RawRecord {
            offset: i as i64,
            timestamp: 0,
            key: Some(format!("user-{i}").into_bytes()),
            value: Some(serde_json::to_vec(&user(i, round)).unwrap()),
            headers: Vec::new(),
        })
        .collect()
}

fn stream_table(criterion: &mut Criterion, totals: &common::Totals) {
    let input = events_by_user(BATCH, USERS);
    let events = || Consumed::with(StringSerde, JsonSerde::<Event>::new());
    let builder = StreamsBuilder::new();
    let users = builder.table(
        "users",
        Consumed::with(StringSerde, JsonSerde::<User>::new()),
        Materialized::named("users"),
    );
    builder
        .stream("events", events())
        .join_table(&users, enrich, Joined::new())
        .to(
            "enriched",
            Produced::with(StringSerde, JsonSerde::<Enriched>::new()),
        );
    let topology = builder.build().unwrap();
    let (mut task, _state) =
        common::task(&topology, &[("events", 1), ("users", 1), ("enriched", 1)]);
    task.add_records("users", users_table(0));
    task.process(usize::MAX).unwrap();
    task.commit().unwrap();

    let mut group = criterion.benchmark_group("stream_table_join");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("task", |b| {
        b.iter_custom(|iters| {
            common::timed(totals, "stream_table_task", iters, &input, |batch| {
                task.add_records("events", batch);
                task.process(usize::MAX).unwrap();
                task.commit().unwrap();
            })
        })
    });

    let (key_serde, event_serde) = (StringSerde, JsonSerde::<Event>::new());
    let (user_serde, out_serde) = (JsonSerde::<User>::new(), JsonSerde::<Enriched>::new());
    let (mut key_buf, mut value_buf) = (Vec::new(), Vec::new());
    // The table's rows as serialized, as the engine's store holds them: both sides decode
    // the row they find, so both do the same serde work.
    let table: HashMap<String, Vec<u8>> = users_table(0)
        .into_iter()
        .map(|r| {
            (
                key_serde.deserialize(&r.key.unwrap()).unwrap(),
                r.value.unwrap(),
            )
        })
        .collect();
    group.bench_function("hashmap", |b| {
        b.iter_custom(|iters| {
            common::timed(totals, "stream_table_hashmap", iters, &input, |batch| {
                for raw in batch {
                    let key: String = key_serde.deserialize(raw.key.as_deref().unwrap()).unwrap();
                    let event = event_serde
                        .deserialize(raw.value.as_deref().unwrap())
                        .unwrap();
                    if let Some(row) = table.get(&key) {
                        let user = user_serde.deserialize(row).unwrap();
                        write(&key_serde, &key, &mut key_buf);
                        write(&out_serde, &enrich(&event, &user), &mut value_buf);
                        std::hint::black_box((&key_buf, &value_buf));
                    }
                }
            })
        })
    });
    group.finish();
}

/// Both sides' events in time order, alternating: left `i` and right `i` at `i` ms, users
/// repeating every 50 s, so each record meets two or three of the other side's.
fn two_streams() -> Vec<(bool, RawRecord)> {
    let side = events_by_user(PER_SIDE, 50_000);
    side.iter()
        .flat_map(|r| [(true, r.clone()), (false, r.clone())])
        .collect()
}

fn stream_stream(criterion: &mut Criterion, totals: &common::Totals) {
    let input = two_streams();
    let window = Duration::from_secs(60);
    let events = || Consumed::with(StringSerde, JsonSerde::<Event>::new());
    let builder = StreamsBuilder::new();
    let right = builder.stream("right", events());
    builder
        .stream("left", events())
        .join(
            &right,
            |l: &Event, r: &Event| l.amount + r.amount,
            JoinWindows::of_time_difference_with_no_grace(window),
            StreamJoined::new().with_store_name("pairs"),
        )
        .to(
            "pairs",
            Produced::with(StringSerde, JsonSerde::<i64>::new()),
        );
    let topology = builder.build().unwrap();
    let (mut task, _state) = common::task(&topology, &[("left", 1), ("right", 1), ("pairs", 1)]);

    let mut group = criterion.benchmark_group("stream_stream_join");
    group.sample_size(10);
    group.throughput(Throughput::Elements(input.len() as u64));
    let shift = Cell::new(0i64);
    group.bench_function("task", |b| {
        b.iter_custom(|iters| {
            shifted(
                &input,
                &shift,
                totals,
                "stream_stream_task",
                iters,
                &mut |batch| {
                    let (left, right): (Vec<_>, Vec<_>) = batch.into_iter().partition(|(l, _)| *l);
                    task.add_records("left", left.into_iter().map(|(_, r)| r));
                    task.add_records("right", right.into_iter().map(|(_, r)| r));
                    task.process(usize::MAX).unwrap();
                    task.commit().unwrap();
                },
            )
        })
    });

    let (key_serde, event_serde, out_serde) = (
        StringSerde,
        JsonSerde::<Event>::new(),
        JsonSerde::<i64>::new(),
    );
    let (mut key_buf, mut value_buf) = (Vec::new(), Vec::new());
    let reach = i64::try_from(window.as_millis()).unwrap();
    // Per side, per key: the records of the last `reach` ms, oldest first.
    let mut buffers: [HashMap<String, VecDeque<(i64, Event)>>; 2] = Default::default();
    group.bench_function("hashmap", |b| {
        b.iter_custom(|iters| {
            shifted(
                &input,
                &shift,
                totals,
                "stream_stream_hashmap",
                iters,
                &mut |batch| {
                    for (left, raw) in batch {
                        let key: String =
                            key_serde.deserialize(raw.key.as_deref().unwrap()).unwrap();
                        let event = event_serde
                            .deserialize(raw.value.as_deref().unwrap())
                            .unwrap();
                        let ts = raw.timestamp;
                        let (this, other) = if left { (0, 1) } else { (1, 0) };
                        if let Some(partners) = buffers[other].get_mut(&key) {
                            while partners.front().is_some_and(|(t, _)| *t < ts - reach) {
                                partners.pop_front();
                            }
                            for (_, partner) in partners.iter() {
                                let sum = event.amount + partner.amount;
                                write(&key_serde, &key, &mut key_buf);
                                write(&out_serde, &sum, &mut value_buf);
                                std::hint::black_box((&key_buf, &value_buf));
                            }
                        }
                        buffers[this].entry(key).or_default().push_back((ts, event));
                    }
                },
            )
        })
    });
    group.finish();
}

/// Runs `work` `iters` times on copies of `input` moved `shift` further in time each round
/// (so nothing is late), timing only `work`; adds the time to `totals` under `name`.
fn shifted(
    input: &[(bool, RawRecord)],
    shift: &Cell<i64>,
    totals: &common::Totals,
    name: &'static str,
    iters: u64,
    work: &mut dyn FnMut(Vec<(bool, RawRecord)>),
) -> Duration {
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        let base = shift.get();
        let batch: Vec<_> = input
            .iter()
            .map(|(left, r)| {
                let mut r = r.clone();
                r.timestamp += base;
                (*left, r)
            })
            .collect();
        shift.set(base + PER_SIDE as i64);
        let start = Instant::now();
        work(batch);
        elapsed += start.elapsed();
    }
    totals.add(name, elapsed, iters);
    elapsed
}

/// Serializes `value` into `buf`, reused from record to record as the engine reuses its own.
fn write<T>(serde: &impl Serde<T>, value: &T, buf: &mut Vec<u8>) {
    buf.clear();
    serde.serialize(value, buf).unwrap();
}

fn task_record(i: usize) -> (String, Task) {
    let task = Task {
        title: format!("task {i}"),
        assignee: format!("user-{}", i % USERS),
    };
    (format!("task-{i}"), task)
}

/// Seconds per round of the engine and of the loop, and results per round.
struct ForeignKeyTimes {
    load: Duration,
    engine: Duration,
    baseline: Duration,
    results_per_round: usize,
}

fn foreign_key() -> ForeignKeyTimes {
    let builder = StreamsBuilder::new();
    let tasks = builder.table(
        "tasks",
        Consumed::with(StringSerde, JsonSerde::<Task>::new()),
        Materialized::named("tasks"),
    );
    let users = builder.table(
        "users",
        Consumed::with(StringSerde, JsonSerde::<User>::new()),
        Materialized::named("users"),
    );
    tasks
        .join_on_foreign_key(
            &users,
            |t: &Task| Some(t.assignee.clone()),
            |t: &Task, u: &User| format!("{} ({}, {})", t.title, u.name, u.team),
            Materialized::named("assigned").with_value_serde(StringSerde),
        )
        .to_stream()
        .to(
            "assigned",
            Produced::with(StringSerde, nullable(StringSerde)),
        );
    let topology: Topology = builder.build().unwrap();
    let mut config = StreamsConfig::new("bench");
    config
        .set("statestore.cache.max.bytes", "10485760")
        .expect("a cache size");
    let driver = TopologyTestDriver::builder(topology, config)
        .commit_after_each_input(false)
        .build()
        .unwrap();
    let users_in = driver
        .input_topic("users", StringSerde, JsonSerde::<User>::new())
        .unwrap();
    let tasks_in = driver
        .input_topic("tasks", StringSerde, JsonSerde::<Task>::new())
        .unwrap();
    let out = driver.output_topic("assigned", StringSerde, nullable(StringSerde));
    for i in 0..USERS {
        users_in.pipe(format!("user-{i}"), user(i, 0), 0).unwrap();
    }
    driver.commit().unwrap();
    let start = Instant::now();
    for i in 0..TASKS {
        let (key, task) = task_record(i);
        tasks_in.pipe(key, task, 1).unwrap();
    }
    driver.commit().unwrap();
    let load = start.elapsed();
    assert_eq!(out.read_records().unwrap().len(), TASKS);

    let mut engine = Duration::ZERO;
    for round in 1..=FK_ROUNDS {
        let updates: Vec<_> = (0..USERS)
            .map(|i| (format!("user-{i}"), user(i, round)))
            .collect();
        let start = Instant::now();
        for (key, user) in updates {
            users_in.pipe(key, user, round as i64 + 1).unwrap();
        }
        driver.commit().unwrap();
        engine += start.elapsed();
        let results = out.read_records().unwrap();
        assert_eq!(results.len(), TASKS, "round {round}");
    }

    let (key_serde, user_serde) = (StringSerde, JsonSerde::<User>::new());
    let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
    let mut rows: HashMap<String, Task> = HashMap::new();
    for i in 0..TASKS {
        let (key, task) = task_record(i);
        by_user
            .entry(task.assignee.clone())
            .or_default()
            .push(key.clone());
        rows.insert(key, task);
    }
    let (mut key_buf, mut value_buf) = (Vec::new(), Vec::new());
    let mut baseline = Duration::ZERO;
    for round in 1..=FK_ROUNDS {
        let updates = users_table(round);
        let start = Instant::now();
        for raw in updates {
            let key: String = key_serde.deserialize(raw.key.as_deref().unwrap()).unwrap();
            let user: User = user_serde
                .deserialize(raw.value.as_deref().unwrap())
                .unwrap();
            for task_key in by_user.get(&key).into_iter().flatten() {
                let task = &rows[task_key];
                let joined = format!("{} ({}, {})", task.title, user.name, user.team);
                write(&key_serde, task_key, &mut key_buf);
                write(&key_serde, &joined, &mut value_buf);
                std::hint::black_box((&key_buf, &value_buf));
            }
        }
        baseline += start.elapsed();
    }
    ForeignKeyTimes {
        load,
        engine: engine / FK_ROUNDS as u32,
        baseline: baseline / FK_ROUNDS as u32,
        results_per_round: TASKS,
    }
}

fn main() {
    let totals = common::Totals::default();
    let mut criterion = Criterion::default().configure_from_args().sample_size(10);
    stream_table(&mut criterion, &totals);
    stream_stream(&mut criterion, &totals);
    totals.report("stream_table_task", "stream_table_hashmap", BATCH);
    totals.report("stream_stream_task", "stream_stream_hashmap", 2 * PER_SIDE);

    // Criterion filters the benchmarks above by the first free argument; so does this one.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !"foreign_key".contains(&f)) {
        return;
    }
    let fk = foreign_key();
    println!(
        "foreign key: {TASKS} tasks over {USERS} users loaded in {:.2} s ({:.0} tasks/s)",
        fk.load.as_secs_f64(),
        TASKS as f64 / fk.load.as_secs_f64()
    );
    println!(
        "\nRATIO foreign_key_updates / hashmap = {:.2}  (engine: {:.0} updates/s, {:.0} results/s; hashmap: {:.0} updates/s)\n",
        fk.engine.as_secs_f64() / fk.baseline.as_secs_f64(),
        USERS as f64 / fk.engine.as_secs_f64(),
        fk.results_per_round as f64 / fk.engine.as_secs_f64(),
        USERS as f64 / fk.baseline.as_secs_f64(),
    );
}
