//! Two worker processes (`tributary run task-list`) share a 4-partition topic of task events;
//! one is killed with SIGKILL mid-stream. The survivor takes over all partitions, restores
//! the killed worker's stores from their changelogs and carries on. Its stores, read back
//! from the changelog topics, hold the right final values: every task's state and every
//! user's open tasks exactly (replaying an event leaves a table as it was), and every
//! user's completed count at least the truth, with the excess bounded by the records past
//! the group's committed offsets at the kill.
//!
//! The workers run without the record cache. With it, at-least-once cannot keep a
//! regrouped table exact across a kill: a change the killed worker forwarded downstream
//! (task T now under user B) may be delivered while its own state and offsets were not
//! saved; the survivor processes T's events again, the cache collapses them into one change
//! from the last saved state, and the retraction from B is never sent. Without the cache
//! every change is forwarded again in order, and the retraction follows.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::worker::{self, Worker};
use tributary::StreamsConfig;
use tributary::engine::kafka::{KafkaCollector, TopicAdmin};
use tributary::engine::partitioner::partition_for;
use tributary::engine::task::{OutgoingRecord, RecordCollector};
use tributary::topologies::task_list::{
    COMPLETED, OPEN_TASKS, OpenTask, TASKS, TaskEvent, TaskEventKind, TaskState, UNASSIGNED,
};

const PARTITIONS: i32 = 4;
const USERS: u32 = 40;

/// What the generator wrote, applied to a model: each task's state and each user's
/// completions.
#[derive(Default)]
struct Truth {
    tasks: HashMap<String, TaskState>,
    completed: HashMap<String, i64>,
}

impl Truth {
    fn apply(&mut self, event: &TaskEvent) {
        let state = self.tasks.remove(&event.task_id).unwrap_or_default();
        self.tasks.insert(event.task_id.clone(), state.apply(event));
        if let (TaskEventKind::Completed, Some(user)) = (event.kind, &event.user) {
            *self.completed.entry(user.clone()).or_insert(0) += 1;
        }
    }

    /// Each user's open tasks, as (task id, title) sets; users without any are left out.
    fn open_tasks(&self) -> HashMap<String, BTreeSet<(String, String)>> {
        let mut open: HashMap<String, BTreeSet<(String, String)>> = HashMap::new();
        for (id, task) in self.tasks.iter().filter(|(_, t)| t.open) {
            let user = task
                .assignee
                .clone()
                .unwrap_or_else(|| UNASSIGNED.to_owned());
            open.entry(user)
                .or_default()
                .insert((id.clone(), task.title.clone()));
        }
        open
    }
}

/// Writes task events (create, reassign, complete, delete) at about 1000 per second until
/// `stop`; returns the model of what it wrote.
fn produce_events(
    config: StreamsConfig,
    topic: String,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Truth> {
    std::thread::spawn(move || {
        let mut producer = KafkaCollector::new(&config).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut truth = Truth::default();
        let mut open: Vec<String> = Vec::new();
        let headers = Vec::new();
        let mut n = 0i64;
        while !stop.load(Ordering::Acquire) {
            for _ in 0..50 {
                let user = Some(format!("user-{}", rng.random_range(0..USERS)));
                let roll = rng.random_range(0..10);
                let event = if open.len() < 20 || roll < 4 {
                    let task_id = format!("task-{n}");
                    open.push(task_id.clone());
                    TaskEvent {
                        title: Some(format!("title of {task_id}")),
                        task_id,
                        kind: TaskEventKind::Created,
                        user,
                    }
                } else {
                    let index = rng.random_range(0..open.len());
                    let (kind, user) = match roll {
                        4 | 5 => (TaskEventKind::Assigned, user),
                        6..=8 => (
                            TaskEventKind::Completed,
                            truth.tasks[&open[index]].assignee.clone(),
                        ),
                        _ => (TaskEventKind::Deleted, None),
                    };
                    let task_id = if kind == TaskEventKind::Assigned {
                        open[index].clone()
                    } else {
                        open.swap_remove(index)
                    };
                    TaskEvent {
                        task_id,
                        kind,
                        user,
                        title: None,
                    }
                };
                let value = serde_json::to_vec(&event).unwrap();
                producer
                    .send(OutgoingRecord {
                        topic: &topic,
                        partition: partition_for(event.task_id.as_bytes(), PARTITIONS),
                        key: Some(event.task_id.as_bytes()),
                        value: Some(&value),
                        timestamp: n,
                        headers: &headers,
                    })
                    .unwrap();
                truth.apply(&event);
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        producer.flush().unwrap();
        truth
    })
}

/// The latest value of every key of changelog `<app>-<store>-changelog`, decoded.
fn store_contents<V>(
    config: &StreamsConfig,
    app: &str,
    store: &str,
    decode: impl Fn(&[u8]) -> V,
) -> HashMap<String, V> {
    worker::read_latest(
        config,
        &format!("{app}-{store}-changelog"),
        PARTITIONS,
        decode,
    )
}

fn json<V: serde::de::DeserializeOwned>(bytes: &[u8]) -> V {
    serde_json::from_slice(bytes).unwrap()
}

/// Waits until `worker`'s log says it created tasks.
fn await_tasks(worker: &mut Worker) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !worker.log().contains("task created") {
        worker.assert_alive();
        assert!(
            Instant::now() < deadline,
            "no tasks after 90 s:\n{}",
            worker.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_surviving_worker_takes_over_restores_and_gets_every_value_right() {
    let app = support::unique("tasklist");
    let config = support::config(&app);
    let events = format!("{app}-events");
    TopicAdmin::new(&config)
        .unwrap()
        .create_topic(&events, PARTITIONS, &[])
        .unwrap();
    let group_topics = [
        (events.clone(), PARTITIONS),
        (format!("{app}-tasks-by-assignee-repartition"), PARTITIONS),
        (format!("{app}-completions-by-user-repartition"), PARTITIONS),
    ];
    let group_topics: Vec<(&str, i32)> =
        group_topics.iter().map(|(t, p)| (t.as_str(), *p)).collect();

    let dir = tempfile::tempdir().unwrap();
    let bootstrap = support::bootstrap();
    let start = |name: &str| {
        let state = dir.path().join(format!("{name}-state"));
        let settings = [
            ("application.id", app.as_str()),
            ("bootstrap.servers", bootstrap.as_str()),
            ("state.dir", state.to_str().unwrap()),
            ("commit.interval.ms", "300"),
            ("consumer.session.timeout.ms", "6000"),
            // Every change is forwarded: see the module documentation.
            ("statestore.cache.max.bytes", "0"),
        ];
        Worker::start(dir.path(), name, "task-list", &events, "unused", &settings)
    };

    let stop = Arc::new(AtomicBool::new(false));
    let producer = produce_events(config.clone(), events.clone(), stop.clone());
    let mut doomed = start("doomed");
    let mut survivor = start("survivor");
    await_tasks(&mut doomed);
    await_tasks(&mut survivor);
    worker::await_commit_past(
        &config,
        &app,
        group_topics[2],
        0,
        Duration::from_secs(90),
        || {
            doomed.assert_alive();
            survivor.assert_alive();
        },
    );
    let restored_before = survivor.log().matches("restored").count();
    let log_before_kill = survivor.log().len();
    doomed.kill();
    let past = worker::records_past_committed(&config, &app, &group_topics);

    // Events keep arriving while the group notices the death and the survivor restores.
    let deadline = Instant::now() + Duration::from_secs(90);
    while survivor.log().matches("restored").count() == restored_before {
        survivor.assert_alive();
        assert!(
            Instant::now() < deadline,
            "the survivor restored nothing after the kill:\n{}",
            survivor.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Release);
    let truth = producer.join().unwrap();
    worker::await_caught_up(
        &config,
        &app,
        &group_topics,
        Duration::from_secs(120),
        || survivor.assert_alive(),
    );
    let log = survivor.log();
    let after_kill = &log[log_before_kill..];
    assert!(
        after_kill.contains("state: Running -> Rebalancing")
            && after_kill.contains("state: Rebalancing -> Running"),
        "the survivor rebalances while it takes over, then runs again:\n{log}"
    );
    survivor.stop();

    let tasks: HashMap<String, TaskState> = store_contents(&config, &app, TASKS, json);
    assert_eq!(tasks, truth.tasks, "every task's state");

    let open: HashMap<String, Vec<OpenTask>> = store_contents(&config, &app, OPEN_TASKS, json);
    let open: HashMap<String, BTreeSet<(String, String)>> = open
        .into_iter()
        .filter(|(_, tasks)| !tasks.is_empty())
        .map(|(user, tasks)| {
            let set: BTreeSet<_> = tasks.into_iter().map(|t| (t.task_id, t.title)).collect();
            (user, set)
        })
        .collect();
    let expected = truth.open_tasks();
    let wrong: Vec<_> = expected
        .keys()
        .chain(open.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|user| open.get(*user) != expected.get(*user))
        .map(|user| {
            let (got, want) = (open.get(user), expected.get(user));
            let missing: Vec<_> = want
                .into_iter()
                .flatten()
                .filter(|t| !got.is_some_and(|g| g.contains(t)))
                .map(|t| &t.0)
                .collect();
            let extra: Vec<_> = got
                .into_iter()
                .flatten()
                .filter(|t| !want.is_some_and(|w| w.contains(t)))
                .map(|t| &t.0)
                .collect();
            format!("{user}: missing {missing:?}, extra {extra:?}")
        })
        .collect();
    assert!(wrong.is_empty(), "open tasks differ:\n{}", wrong.join("\n"));

    // A count is not idempotent: a completion processed again after the kill counts twice.
    let completed = store_contents(&config, &app, COMPLETED, worker::i64_be);
    assert_eq!(
        completed.len(),
        truth.completed.len(),
        "every user's completions are counted"
    );
    let mut excess = 0;
    for (user, &count) in &truth.completed {
        assert!(
            completed[user] >= count,
            "`{user}` completed {count}, counted {}",
            completed[user]
        );
        excess += completed[user] - count;
    }
    eprintln!("completions counted twice: {excess} of at most {past}");
    assert!(
        excess <= past,
        "excess {excess} > {past} records past the committed offsets at the kill"
    );
}
