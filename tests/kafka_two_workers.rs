//! Worker processes (`tributary run task-list`) share a 6-partition topic of task events and
//! one of user profiles (which change while they run), and are killed with SIGKILL
//! mid-stream: in the first test one of two workers, once; in the chaos test one of three
//! every few seconds, restarted on its state directory or on an empty one, while a fourth
//! joins and leaves. The stores, read back from the changelog topics, hold the right final
//! values: every task's state, every user's open tasks and every task joined with its
//! assignee's profile (the foreign-key join) exactly (replaying an event leaves a table as
//! it was), and every user's completed count at least the truth, with the excess bounded by
//! the records past the group's committed offsets at the kills.
//!
//! The chaos test runs for `TRIBUTARY_CHAOS_SECONDS` (default 40); `scripts/chaos.sh
//! --minutes N` runs it longer.
//!
//! The workers run with the record cache. A change the killed worker forwarded downstream
//! (task T now under user B) may be delivered while its own state and offsets were not
//! saved; the survivor processes T's events again. A cache would collapse them into one
//! change from the last saved state and never send the retraction from B; so while a task
//! replays the records past the group's committed offsets its stores bypass their caches,
//! every change is forwarded again in order, and the retraction follows.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::worker::{self, Worker};
use tributary::StreamsConfig;
use tributary::engine::internals::{KafkaCollector, TopicAdmin};
use tributary::engine::internals::{OutgoingRecord, RecordCollector};
use tributary::engine::partitioner::partition_for;
use tributary::topologies::task_list::{
    AssignedTask, COMPLETED, OPEN_TASKS, OpenTask, TASKS, TASKS_WITH_ASSIGNEE, TaskEvent,
    TaskEventKind, TaskState, UNASSIGNED, UserProfile,
};

const PARTITIONS: i32 = 6;
const USERS: u32 = 40;

/// What the generator wrote, applied to a model: each task's state, each user's
/// completions and profile.
#[derive(Default)]
struct Truth {
    /// Task events written.
    events: u64,
    tasks: HashMap<String, TaskState>,
    completed: HashMap<String, i64>,
    profiles: HashMap<String, UserProfile>,
}

impl Truth {
    fn apply(&mut self, event: &TaskEvent) {
        self.events += 1;
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

/// Writes `profile` (a tombstone for `None`) for `user`.
fn send_profile(
    producer: &mut KafkaCollector,
    topic: &str,
    user: &str,
    profile: Option<&UserProfile>,
    timestamp: i64,
) {
    let value = profile.map(|p| serde_json::to_vec(p).unwrap());
    producer
        .send(OutgoingRecord {
            topic,
            partition: partition_for(user.as_bytes(), PARTITIONS),
            key: Some(user.as_bytes()),
            value: value.as_deref(),
            timestamp,
            headers: &Vec::new(),
        })
        .unwrap();
}

/// Writes a profile for every user, then task events (create, reassign, complete, delete)
/// at about 1000 per second, with a profile changed or deleted in every batch, until
/// `stop`; returns the model of what it wrote.
fn produce_events(
    config: StreamsConfig,
    (topic, users): (String, String),
    stop: Arc<AtomicBool>,
) -> JoinHandle<Truth> {
    std::thread::spawn(move || {
        let mut producer = KafkaCollector::new(&config).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut truth = Truth::default();
        let profile = |user: u32, version: i64| UserProfile {
            name: format!("User {user} v{version}"),
            team: format!("team-{}", user % 5),
        };
        for user in 0..USERS {
            let p = profile(user, 0);
            send_profile(&mut producer, &users, &format!("user-{user}"), Some(&p), 0);
            truth.profiles.insert(format!("user-{user}"), p);
        }
        let mut open: Vec<String> = Vec::new();
        let headers = Vec::new();
        let mut n = 0i64;
        while !stop.load(Ordering::Acquire) {
            let user = rng.random_range(0..USERS);
            let key = format!("user-{user}");
            let changed = rng.random_bool(0.9).then(|| profile(user, n));
            send_profile(&mut producer, &users, &key, changed.as_ref(), n);
            match changed {
                Some(p) => truth.profiles.insert(key, p),
                None => truth.profiles.remove(&key),
            };
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

/// An application of the task list on fresh topics: its id, a client configuration, the
/// input topics, and every topic its group reads (for lag and the at-least-once bound).
struct App {
    id: String,
    config: StreamsConfig,
    events: String,
    users: String,
    group_topics: Vec<(String, i32)>,
    dir: tempfile::TempDir,
}

impl App {
    fn new(prefix: &str) -> Self {
        let id = support::unique(prefix);
        let config = support::config(&id);
        let (events, users) = (format!("{id}-events"), format!("{id}-users"));
        let admin = TopicAdmin::new(&config).unwrap();
        admin.create_topic(&events, PARTITIONS, &[]).unwrap();
        admin.create_topic(&users, PARTITIONS, &[]).unwrap();
        let fk = TASKS_WITH_ASSIGNEE;
        let group_topics = vec![
            (events.clone(), PARTITIONS),
            (users.clone(), PARTITIONS),
            (format!("{id}-tasks-by-assignee-repartition"), PARTITIONS),
            (format!("{id}-completions-by-user-repartition"), PARTITIONS),
            (
                format!("{id}-{fk}-subscription-registration-topic"),
                PARTITIONS,
            ),
            (format!("{id}-{fk}-subscription-response-topic"), PARTITIONS),
        ];
        Self {
            id,
            config,
            events,
            users,
            group_topics,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn group_topics(&self) -> Vec<(&str, i32)> {
        self.group_topics
            .iter()
            .map(|(t, p)| (t.as_str(), *p))
            .collect()
    }

    /// The completions repartition topic: its committed offsets advance with processing.
    fn progress_topic(&self) -> (&str, i32) {
        self.group_topics()[3]
    }

    /// Starts worker `name` on state directory `<name>-state-<state>`.
    fn start(&self, name: &str, state: usize) -> Worker {
        let dir = self.dir.path().join(format!("{name}-state-{state}"));
        let bootstrap = support::bootstrap();
        let settings = [
            ("application.id", self.id.as_str()),
            ("bootstrap.servers", bootstrap.as_str()),
            ("state.dir", dir.to_str().unwrap()),
            ("commit.interval.ms", "300"),
            ("consumer.session.timeout.ms", "6000"),
            // The rebalance timeout: how long the coordinator may wait for the members it
            // knows to rejoin — killed ones never do. librdkafka's default (5 min) once
            // held the group for two minutes after the chaos; one minute bounds that.
            ("consumer.max.poll.interval.ms", "60000"),
        ];
        let args = [
            "--input",
            self.events.as_str(),
            "--users",
            self.users.as_str(),
        ];
        Worker::start(self.dir.path(), name, "task-list", &args, &settings)
    }

    fn produce(&self, stop: Arc<AtomicBool>) -> JoinHandle<Truth> {
        produce_events(
            self.config.clone(),
            (self.events.clone(), self.users.clone()),
            stop,
        )
    }

    /// Records of the group's topics past its committed offsets now.
    fn past_committed(&self) -> i64 {
        worker::records_past_committed(&self.config, &self.id, &self.group_topics())
    }

    /// Waits until the group has processed everything, checking `alive` meanwhile.
    fn await_caught_up(&self, alive: impl FnMut()) {
        worker::await_caught_up(
            &self.config,
            &self.id,
            &self.group_topics(),
            Duration::from_secs(240),
            alive,
        );
    }

    /// Checks the stores against `truth`: tables exact, counts at least the truth with at
    /// most `past` in excess.
    fn verify(&self, truth: &Truth, past: i64) {
        let (config, app) = (&self.config, self.id.as_str());
        let tasks: HashMap<String, TaskState> = store_contents(config, app, TASKS, json);
        assert_eq!(tasks, truth.tasks, "every task's state");

        let assigned: HashMap<String, AssignedTask> =
            store_contents(config, app, TASKS_WITH_ASSIGNEE, json);
        let expected: HashMap<String, AssignedTask> = truth
            .tasks
            .iter()
            .map(|(id, task)| {
                let assignee = task.assignee.as_ref().and_then(|a| truth.profiles.get(a));
                let joined = AssignedTask {
                    task: task.clone(),
                    assignee: assignee.cloned(),
                };
                (id.clone(), joined)
            })
            .collect();
        let wrong: Vec<_> = expected
            .iter()
            .filter(|(id, want)| assigned.get(*id) != Some(*want))
            .map(|(id, want)| format!("{id}: got {:?}, want {want:?}", assigned.get(id)))
            .collect();
        assert!(
            wrong.is_empty() && assigned.len() == expected.len(),
            "{} of {} tasks joined wrong ({} joined):\n{}",
            wrong.len(),
            expected.len(),
            assigned.len(),
            wrong.join("\n")
        );

        let open: HashMap<String, Vec<OpenTask>> = store_contents(config, app, OPEN_TASKS, json);
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
        let completed = store_contents(config, app, COMPLETED, worker::i64_be);
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
}

/// A failed test keeps the application's directory — the workers' logs, every earlier
/// process's among them, and their state — and says where it is; so does every test when
/// `TRIBUTARY_KEEP_TEST_DIRS` is set.
impl Drop for App {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("TRIBUTARY_KEEP_TEST_DIRS").is_some() {
            self.dir.disable_cleanup(true);
            eprintln!(
                "kept the workers' logs and state: {}",
                self.dir.path().display()
            );
        }
    }
}

#[test]
fn the_surviving_worker_takes_over_restores_and_gets_every_value_right() {
    let app = App::new("tasklist");
    let stop = Arc::new(AtomicBool::new(false));
    let producer = app.produce(stop.clone());
    let mut doomed = app.start("doomed", 0);
    let mut survivor = app.start("survivor", 0);
    await_tasks(&mut doomed);
    await_tasks(&mut survivor);
    worker::await_commit_past(
        &app.config,
        &app.id,
        app.progress_topic(),
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
    let past = app.past_committed();

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
    app.await_caught_up(|| survivor.assert_alive());
    let log = survivor.log();
    let after_kill = &log[log_before_kill..];
    assert!(
        after_kill.contains("state: Running -> Rebalancing")
            && after_kill.contains("state: Rebalancing -> Running"),
        "the survivor rebalances while it takes over, then runs again:\n{log}"
    );
    survivor.stop();
    app.verify(&truth, past);
}

/// How long the chaos test runs: `TRIBUTARY_CHAOS_SECONDS`, default 40.
fn chaos_duration() -> Duration {
    let seconds = std::env::var("TRIBUTARY_CHAOS_SECONDS")
        .map(|s| {
            s.parse()
                .expect("TRIBUTARY_CHAOS_SECONDS is a number of seconds")
        })
        .unwrap_or(40);
    Duration::from_secs(seconds)
}

#[test]
fn workers_killed_again_and_again_keep_every_value_right() {
    let app = App::new("chaos");
    let stop = Arc::new(AtomicBool::new(false));
    let producer = app.produce(stop.clone());
    let names = ["w0", "w1", "w2"];
    let mut workers: Vec<(Worker, usize)> = names.iter().map(|n| (app.start(n, 0), 0)).collect();
    for (worker, _) in &mut workers {
        await_tasks(worker);
    }
    let (mut kills, mut past, mut longest_pause) = (0, 0, Duration::ZERO);
    let mut extra: Option<Worker> = None;
    let (mut committed, mut progressed) = (0, Instant::now());
    let started = Instant::now();
    let mut next_kill = Instant::now() + Duration::from_secs(5);
    while started.elapsed() < chaos_duration() {
        for (worker, _) in &mut workers {
            worker.assert_alive();
        }
        let now = worker::committed_total(&app.config, &app.id, app.progress_topic().0, PARTITIONS);
        if now > committed {
            longest_pause = longest_pause.max(progressed.elapsed());
            (committed, progressed) = (now, Instant::now());
        }
        if Instant::now() >= next_kill {
            let index = kills % names.len();
            let (worker, state) = &mut workers[index];
            worker.kill();
            past += app.past_committed();
            kills += 1;
            // Every other restart is on an empty state directory.
            if kills % 2 == 0 {
                *state += 1;
            }
            *worker = app.start(names[index], *state);
            match kills % 4 {
                1 if extra.is_none() => extra = Some(app.start("extra", 0)),
                3 => {
                    if let Some(worker) = extra.take() {
                        worker.stop();
                    }
                }
                _ => {}
            }
            next_kill = Instant::now() + Duration::from_secs(4);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    longest_pause = longest_pause.max(progressed.elapsed());
    stop.store(true, Ordering::Release);
    let truth = producer.join().unwrap();
    app.await_caught_up(|| {
        for (worker, _) in &mut workers {
            worker.assert_alive();
        }
    });
    for (worker, _) in workers {
        worker.stop();
    }
    if let Some(worker) = extra {
        worker.stop();
    }
    let events = truth.events;
    let _ = writeln!(
        std::io::stderr(),
        "chaos: {kills} kills survived, {events} events, at most {past} records past committed offsets at the kills, longest pause in committed progress {longest_pause:?}"
    );
    assert!(kills >= 3, "the run was long enough for several kills");
    app.verify(&truth, past);
}
