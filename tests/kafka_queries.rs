//! Interactive queries against worker processes (`tributary run task-list`) on the test
//! broker: lookups and scans answered from either of two workers, subscriptions that see
//! every change once and in order and say `resubscribe` when the owner dies, and every
//! kind of bad input answered with the right status and message.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::http::{self, Subscription};
use support::worker::{self, Worker};
use tributary::StreamsConfig;
use tributary::engine::internals::{KafkaCollector, TopicAdmin};
use tributary::engine::internals::{OutgoingRecord, RecordCollector};
use tributary::engine::partitioner::partition_for;
use tributary::topologies::task_list::{COMPLETED, OPEN_TASKS, TaskEvent, TaskEventKind};

const PARTITIONS: i32 = 4;
const WAIT: Duration = Duration::from_secs(90);

/// Task events and what the projection must make of them.
#[derive(Default)]
struct Events {
    sent: Vec<TaskEvent>,
    next_task: u32,
    /// user → open task ids.
    open: BTreeMap<String, BTreeSet<String>>,
    /// user → completed count.
    completed: BTreeMap<String, i64>,
}

impl Events {
    fn create(&mut self, user: &str) -> String {
        self.next_task += 1;
        let task_id = format!("task-{}", self.next_task);
        self.sent.push(TaskEvent {
            task_id: task_id.clone(),
            kind: TaskEventKind::Created,
            user: Some(user.to_owned()),
            title: Some(format!("title of {task_id}")),
        });
        self.open
            .entry(user.to_owned())
            .or_default()
            .insert(task_id.clone());
        task_id
    }

    fn complete(&mut self, user: &str, task_id: &str) {
        self.sent.push(TaskEvent {
            task_id: task_id.to_owned(),
            kind: TaskEventKind::Completed,
            user: Some(user.to_owned()),
            title: None,
        });
        if let Some(open) = self.open.get_mut(user) {
            open.remove(task_id);
        }
        *self.completed.entry(user.to_owned()).or_default() += 1;
    }

    /// Creates and completes a task of `user`.
    fn finish_one(&mut self, user: &str) {
        let task = self.create(user);
        self.complete(user, &task);
    }

    /// Writes the events not written yet, keyed by task id.
    fn flush(&mut self, config: &StreamsConfig, topic: &str, written: &mut usize) {
        let mut producer = KafkaCollector::new(config).unwrap();
        let headers = Vec::new();
        for (n, event) in self.sent.iter().enumerate().skip(*written) {
            let value = serde_json::to_vec(event).unwrap();
            producer
                .send(OutgoingRecord {
                    topic,
                    partition: partition_for(event.task_id.as_bytes(), PARTITIONS),
                    key: Some(event.task_id.as_bytes()),
                    value: Some(&value),
                    timestamp: n as i64,
                    headers: &headers,
                })
                .unwrap();
        }
        producer.flush().unwrap();
        *written = self.sent.len();
    }
}

/// An application with its events topic, and workers for it.
struct App {
    app: String,
    events: String,
    config: StreamsConfig,
    dir: tempfile::TempDir,
}

impl App {
    fn new(name: &str) -> Self {
        let app = support::unique(name);
        let config = support::config(&app);
        let events = format!("{app}-events");
        TopicAdmin::new(&config)
            .unwrap()
            .create_topic(&events, PARTITIONS, &[])
            .unwrap();
        Self {
            app,
            events,
            config,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn worker(&self, name: &str, settings: &[(&str, &str)]) -> Worker {
        let state = self.dir.path().join(format!("{name}-state"));
        let bootstrap = support::bootstrap();
        let mut all = vec![
            ("application.id", self.app.as_str()),
            ("bootstrap.servers", bootstrap.as_str()),
            ("state.dir", state.to_str().unwrap()),
            ("consumer.session.timeout.ms", "6000"),
        ];
        all.extend_from_slice(settings);
        Worker::start(
            self.dir.path(),
            name,
            "task-list",
            &["--input", &self.events],
            &all,
        )
    }

    fn group_topics(&self) -> Vec<(String, i32)> {
        vec![
            (self.events.clone(), PARTITIONS),
            (
                format!("{}-tasks-by-assignee-repartition", self.app),
                PARTITIONS,
            ),
            (
                format!("{}-completions-by-user-repartition", self.app),
                PARTITIONS,
            ),
        ]
    }

    /// Waits until the group has committed everything written so far.
    fn await_caught_up(&self, workers: &mut [&mut Worker]) {
        let topics = self.group_topics();
        let topics: Vec<(&str, i32)> = topics.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        worker::await_caught_up(&self.config, &self.app, &topics, WAIT, || {
            for w in workers.iter_mut() {
                w.assert_alive();
            }
        });
    }
}

/// Waits until the instance at `address` knows `instances` live instances that together
/// own every partition of the completed-count store, none of them restoring.
fn await_directory(address: &str, instances: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = http::get(&format!("http://{address}/v1/instances"), &[]);
        let listed = reply.json()["instances"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut active = BTreeSet::new();
        let mut restoring = 0;
        for instance in &listed {
            let store = &instance["stores"][COMPLETED];
            active.extend(
                store["active"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_i64),
            );
            restoring += store["restoring"].as_array().map_or(0, Vec::len);
        }
        if listed.len() == instances && active.len() == PARTITIONS as usize && restoring == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the directory at {address} never settled: {}",
            reply.json()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn key_url(address: &str, store: &str, key: &str) -> String {
    format!("http://{address}/v1/stores/{store}/keys/{key}")
}

#[test]
fn either_worker_answers_every_key_and_scans_cover_both_in_order() {
    let app = App::new("queries");
    let mut events = Events::default();
    for u in 0..60 {
        let user = format!("user-{u:02}");
        let tasks: Vec<String> = (0..=u % 4).map(|_| events.create(&user)).collect();
        for task in tasks.iter().take(u % 3) {
            events.complete(&user, task);
        }
    }
    let mut written = 0;
    events.flush(&app.config, &app.events, &mut written);
    let settings = [("commit.interval.ms", "300")];
    let mut a = app.worker("a", &settings);
    let mut b = app.worker("b", &settings);
    let (addr_a, addr_b) = (a.query_address(), b.query_address());
    app.await_caught_up(&mut [&mut a, &mut b]);
    await_directory(&addr_a, 2);
    await_directory(&addr_b, 2);

    // Every key, from either worker; each worker forwards some of them.
    let mut forwarded = HashMap::new();
    for address in [&addr_a, &addr_b] {
        for u in 0..60 {
            let user = format!("user-{u:02}");
            let reply = http::get(&key_url(address, COMPLETED, &user), &[]);
            match events.completed.get(&user) {
                Some(count) => {
                    assert_eq!(reply.status, 200, "{user} at {address}: {}", reply.error());
                    assert_eq!(reply.json()["value"], *count, "{user}'s count at {address}");
                }
                None => {
                    assert_eq!(reply.status, 404, "{user} completed nothing");
                    assert!(
                        reply.error().contains("is not in store"),
                        "{}",
                        reply.error()
                    );
                }
            }
            let answered_by = reply.instance.clone().expect("answers name their instance");
            if answered_by != *address {
                *forwarded.entry(address.clone()).or_insert(0) += 1;
            }
            let reply = http::get(&key_url(address, OPEN_TASKS, &user), &[]);
            let expected = events.open.get(&user).cloned().unwrap_or_default();
            let got: BTreeSet<String> = if reply.status == 404 {
                BTreeSet::new()
            } else {
                assert_eq!(reply.status, 200, "{}", reply.error());
                reply.json()["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["task_id"].as_str().unwrap().to_owned())
                    .collect()
            };
            assert_eq!(got, expected, "{user}'s open tasks at {address}");
        }
    }
    assert_eq!(forwarded.len(), 2, "both workers forward: {forwarded:?}");

    // A paged scan from one worker covers both, in key order, every entry once.
    let mut scanned: Vec<(String, i64)> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("http://{addr_b}/v1/stores/{COMPLETED}/entries?limit=7");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = http::get(&url, &[]).json();
        pages += 1;
        for entry in page["entries"].as_array().unwrap() {
            scanned.push((
                entry["key"].as_str().unwrap().to_owned(),
                entry["value"].as_i64().unwrap(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 100, "paging does not end");
    }
    let keys: Vec<&String> = scanned.iter().map(|(k, _)| k).collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "keys in order, once each: {keys:?}"
    );
    let scanned_map: BTreeMap<String, i64> = scanned.into_iter().collect();
    assert_eq!(scanned_map, events.completed, "the scan is the whole store");
    assert!(pages >= events.completed.len() / 7, "pages of at most 7");

    // A prefix and a range.
    let page = http::get(
        &format!("http://{addr_a}/v1/stores/{COMPLETED}/entries?prefix=user-1&limit=1000"),
        &[],
    )
    .json();
    let prefixed: BTreeSet<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = events
        .completed
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with("user-1"))
        .collect();
    assert_eq!(prefixed, expected);
    let page = http::get(
        &format!("http://{addr_a}/v1/stores/{COMPLETED}/entries?from=user-10&to=user-19"),
        &[],
    )
    .json();
    assert_eq!(page["entries"].as_array().unwrap().len(), expected.len());

    // Arrow IPC: one row per entry, typed columns.
    let reply = http::get(
        &format!("http://{addr_a}/v1/stores/{COMPLETED}/entries?limit=1000"),
        &[("accept", "application/vnd.apache.arrow.stream")],
    );
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/vnd.apache.arrow.stream")
    );
    let mut reader = arrow_ipc::reader::StreamReader::try_new(reply.body.as_slice(), None).unwrap();
    let batch = reader.next().unwrap().unwrap();
    assert_eq!(batch.num_rows(), events.completed.len());
    assert_eq!(
        batch.schema().field(1).data_type(),
        &arrow_schema::DataType::Int64
    );

    // What each worker hosts, what it counts, whether it is ready.
    let mut active = BTreeSet::new();
    for address in [&addr_a, &addr_b] {
        let stores = http::get(&format!("http://{address}/v1/stores"), &[]).json();
        let completed = stores["stores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == COMPLETED)
            .unwrap()
            .clone();
        assert_eq!(completed["key_format"], "string");
        assert_eq!(completed["value_format"], "i64");
        assert_eq!(completed["partitions"], PARTITIONS);
        active.extend(
            completed["active"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_i64),
        );
        // Consumer lag comes with librdkafka's statistics, every 5 s: the first may not have
        // come yet.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let metrics =
                String::from_utf8(http::get(&format!("http://{address}/metrics"), &[]).body)
                    .unwrap();
            let missing = [
                "tributary_task_records_processed_total",
                "tributary_commit_seconds",
                "tributary_store_entries",
                "tributary_http_requests_total",
                "tributary_consumer_lag_records",
            ]
            .into_iter()
            .find(|metric| !metrics.contains(metric));
            let Some(metric) = missing else { break };
            assert!(Instant::now() < deadline, "{metric} missing:\n{metrics}");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(
            http::get(&format!("http://{address}/health/ready"), &[]).status,
            200
        );
        assert_eq!(
            http::get(&format!("http://{address}/health/live"), &[]).status,
            200
        );
    }
    assert_eq!(
        active.len(),
        PARTITIONS as usize,
        "the workers share the partitions"
    );
    a.stop();
    b.stop();
}

/// The `update` values of `user` among `events`.
fn values_of(events: &[http::Event], user: &str) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e.name == "update" && e.data["key"] == user)
        .map(|e| e.data["value"].as_i64().unwrap())
        .collect()
}

/// Reads events until `done` says enough, or panics after `WAIT`.
fn read_until(
    subscription: &Subscription,
    mut done: impl FnMut(&[http::Event]) -> bool,
) -> Vec<http::Event> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while !done(&seen) {
        assert!(Instant::now() < deadline, "events so far: {seen:?}");
        if let Some(event) = subscription.next(Duration::from_millis(500)) {
            seen.push(event);
        }
    }
    seen
}

#[test]
fn subscriptions_see_every_change_once_in_order_and_resubscribe_after_the_owner_dies() {
    let app = App::new("subscribe");
    let watched: Vec<String> = (0..4).map(|i| format!("watched-{i}")).collect();
    let mut events = Events::default();
    for user in &watched {
        events.finish_one(user);
        events.create(user);
    }
    for u in 0..20 {
        events.finish_one(&format!("other-{u}"));
    }
    let mut written = 0;
    events.flush(&app.config, &app.events, &mut written);
    let settings = [
        ("commit.interval.ms", "200"),
        ("statestore.cache.max.bytes", "0"),
    ];
    let mut a = app.worker("a", &settings);
    let mut b = app.worker("b", &settings);
    let (addr_a, addr_b) = (a.query_address(), b.query_address());
    app.await_caught_up(&mut [&mut a, &mut b]);
    await_directory(&addr_a, 2);
    await_directory(&addr_b, 2);

    // Subscribe through the worker that does not own watched-0, so that its death can be
    // reported by the one that stays.
    let owner = http::get(&key_url(&addr_a, COMPLETED, &watched[0]), &[])
        .instance
        .unwrap();
    let (front, mut doomed, mut survivor) = if owner == addr_a {
        (addr_b.clone(), a, b)
    } else {
        (addr_a.clone(), b, a)
    };
    let by_key = Subscription::open(&format!(
        "http://{front}/v1/stores/{COMPLETED}/subscribe?key={}",
        watched[0]
    ));
    let by_prefix = Subscription::open(&format!(
        "http://{front}/v1/stores/{COMPLETED}/subscribe?prefix=watched-"
    ));
    assert_eq!(
        (by_key.status, by_prefix.status),
        (200, 200),
        "{:?} {:?}",
        by_key.error,
        by_prefix.error
    );
    let snapshot = by_key.snapshot(WAIT);
    assert_eq!(snapshot.len(), 1);
    assert_eq!(
        snapshot[0].data["value"], 1,
        "the snapshot is the store: {snapshot:?}"
    );
    let snapshot = by_prefix.snapshot(WAIT);
    let snapshot: BTreeMap<String, i64> = snapshot
        .iter()
        .map(|e| {
            (
                e.data["key"].as_str().unwrap().to_owned(),
                e.data["value"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeMap<String, i64> = watched.iter().map(|u| (u.clone(), 1)).collect();
    assert_eq!(snapshot, expected, "the prefix snapshot spans both workers");

    // Changes after the snapshot: each count goes up by one per completion, in order.
    for round in 0..12 {
        events.finish_one(&watched[round % watched.len()]);
    }
    events.flush(&app.config, &app.events, &mut written);
    let want = |user: &String| -> Vec<i64> { (2..=events.completed[user]).collect() };
    let seen = read_until(&by_key, |seen| {
        values_of(seen, &watched[0]).len() >= want(&watched[0]).len()
    });
    assert_eq!(values_of(&seen, &watched[0]), want(&watched[0]), "{seen:?}");
    let seen = read_until(&by_prefix, |seen| {
        watched
            .iter()
            .all(|u| values_of(seen, u).len() >= want(u).len())
    });
    for user in &watched {
        assert_eq!(values_of(&seen, user), want(user), "{user}: {seen:?}");
    }
    assert!(
        seen.iter()
            .all(|e| e.data["key"].as_str().unwrap().starts_with("watched-")),
        "only matching keys"
    );

    // The owner dies once everything is committed: the subscriptions say so.
    app.await_caught_up(&mut [&mut doomed, &mut survivor]);
    doomed.kill();
    for subscription in [&by_key, &by_prefix] {
        let seen = read_until(subscription, |seen| {
            seen.iter().any(|e| e.name == "resubscribe")
        });
        let end = seen.iter().find(|e| e.name == "resubscribe").unwrap();
        assert!(end.data["reason"].is_string(), "{end:?}");
        assert!(end.data["retry_after_ms"].as_u64().is_some(), "{end:?}");
    }

    // Resubscribing reaches the new owner once it has restored: 503 with Retry-After until
    // then, never a stale snapshot.
    let deadline = Instant::now() + WAIT;
    let url = format!(
        "http://{front}/v1/stores/{COMPLETED}/subscribe?key={}",
        watched[0]
    );
    let again = loop {
        let reply = http::get(&key_url(&front, COMPLETED, &watched[0]), &[]);
        if reply.status == 200 {
            let subscription = Subscription::open(&url);
            if subscription.status == 200 {
                break subscription;
            }
        } else {
            assert_eq!(reply.status, 503, "{}", reply.error());
            assert_eq!(reply.retry_after.as_deref(), Some("1"));
        }
        assert!(
            Instant::now() < deadline,
            "no owner for {} after the kill",
            watched[0]
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(again.instance.as_deref(), Some(front.as_str()));
    let snapshot = again.snapshot(WAIT);
    assert_eq!(
        snapshot[0].data["value"], events.completed[&watched[0]],
        "restored exactly"
    );
    let before = events.completed[&watched[0]];
    for _ in 0..5 {
        events.finish_one(&watched[0]);
    }
    events.flush(&app.config, &app.events, &mut written);
    let seen = read_until(&again, |seen| values_of(seen, &watched[0]).len() >= 5);
    assert_eq!(
        values_of(&seen, &watched[0]),
        ((before + 1)..=(before + 5)).collect::<Vec<_>>()
    );
    survivor.stop();
}

#[test]
fn bad_requests_get_the_right_status_and_say_why() {
    use tributary::engine::KafkaStreams;
    use tributary::engine::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    use tributary::engine::serde::{I64Serde, StringSerde};

    let app = support::unique("query-errors");
    let (config, _state) = support::streams_config(&app, &[("query.auth.token", "s3cret")]);
    let numbers = format!("{app}-numbers");
    TopicAdmin::new(&config)
        .unwrap()
        .create_topic(&numbers, 2, &[])
        .unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream(&numbers, Consumed::with(I64Serde, StringSerde))
        .group_by_key(Grouped::named("by-number"))
        .count(Materialized::named("counts"));
    let mut streams = KafkaStreams::new(builder.build().unwrap(), config.clone());
    streams.start().unwrap();
    let address = streams.server_address().unwrap().to_string();
    let mut producer = KafkaCollector::new(&config).unwrap();
    let headers = Vec::new();
    for n in [1i64, 1, 2] {
        let key = n.to_be_bytes();
        producer
            .send(OutgoingRecord {
                topic: &numbers,
                partition: partition_for(&key, 2),
                key: Some(&key),
                value: Some(b"x"),
                timestamp: 0,
                headers: &headers,
            })
            .unwrap();
    }
    producer.flush().unwrap();

    let auth = [("authorization", "Bearer s3cret")];
    let get = |path: &str| http::get(&format!("http://{address}{path}"), &auth);
    let deadline = Instant::now() + WAIT;
    while get("/v1/stores/counts/keys/1").status != 200 {
        assert!(Instant::now() < deadline, "key 1 never became readable");
        std::thread::sleep(Duration::from_millis(200));
    }
    let reply = get("/v1/stores/counts/keys/1");
    assert_eq!(reply.json()["value"], 2);

    let cases: &[(&str, u16, &str)] = &[
        (
            "/v1/stores/nope/keys/1",
            404,
            "unknown store `nope`; stores: counts",
        ),
        ("/v1/stores/counts/keys/abc", 400, "`abc` is not an i64"),
        (
            "/v1/stores/counts/keys/99",
            404,
            "key `99` is not in store `counts`",
        ),
        (
            "/v1/stores/counts/entries?limit=0",
            400,
            "limit 0 is out of range",
        ),
        ("/v1/stores/counts/entries?limit=1001", 400, "use 1 to 1000"),
        (
            "/v1/stores/counts/entries?limit=many",
            400,
            "bad query parameters",
        ),
        (
            "/v1/stores/counts/entries?limit=5&limit=6",
            400,
            "parameter `limit` is given twice",
        ),
        (
            "/v1/stores/counts/entries?cursor=%21%21",
            400,
            "is not a cursor",
        ),
        ("/v1/stores/counts/entries?from=x", 400, "`x` is not an i64"),
        (
            "/v1/stores/counts/entries?prefix=1",
            400,
            "prefixes apply to string, json and bytes keys",
        ),
        (
            "/v1/stores/counts/entries?page=2",
            400,
            "unknown field `page`",
        ),
        ("/v1/stores/counts/windows/1", 400, "is a key-value store"),
        (
            "/v1/internal/stores/counts/subscribe?partitions=7&key=AQ%3D%3D",
            400,
            "partition 7 does not exist; the store has partitions 0 to 1",
        ),
        (
            "/v1/internal/stores/counts/subscribe?partitions=0,0&key=AQ%3D%3D",
            400,
            "partition 0 is listed twice",
        ),
        (
            "/v1/internal/stores/counts/scan?partitions=-1&limit=5",
            400,
            "partition -1 does not exist",
        ),
        (
            "/v1/stores/counts/subscribe?key=%FF",
            400,
            "parameter `key` is not valid UTF-8",
        ),
        (
            "/v1/stores/counts/subscribe",
            400,
            "exactly one of `key` or `prefix`",
        ),
        (
            "/v1/stores/counts/subscribe?key=1&prefix=1",
            400,
            "exactly one of `key` or `prefix`",
        ),
        (
            "/v1/stores/counts/subscribe?key=one",
            400,
            "`one` is not an i64",
        ),
        ("/v1/nothing", 404, "no route `/v1/nothing`"),
    ];
    for (path, status, message) in cases {
        let reply = get(path);
        assert_eq!(reply.status, *status, "{path}: {}", reply.error());
        assert!(
            reply.error().contains(message),
            "{path}: `{}` lacks `{message}`",
            reply.error()
        );
    }
    let entries = get("/v1/stores/counts/entries?from=1&to=2").json();
    assert_eq!(entries["entries"].as_array().unwrap().len(), 2);

    // The token guards everything but the health checks.
    let url = format!("http://{address}/v1/stores");
    assert_eq!(http::get(&url, &[]).status, 401);
    assert_eq!(
        http::get(&url, &[("authorization", "Bearer wrong")]).status,
        401
    );
    assert_eq!(http::get(&url, &auth).status, 200);
    assert_eq!(
        http::get(&format!("http://{address}/health/live"), &[]).status,
        200
    );

    streams.close(Duration::from_secs(30)).unwrap();
}
