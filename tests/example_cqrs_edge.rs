//! The CQRS edge example (seed 004, `examples/cqrs_edge`) on the broker: a scripted
//! sequence of commands through the edge — malformed ones refused with 400 and the reason,
//! ones breaking a business rule with 409 — then queries of the read model; an event the
//! projection cannot read lands in the dead-letter topic; a replay with the reset tool
//! rebuilds the same read model.

mod support;

#[path = "../examples/cqrs_edge/edge.rs"]
mod edge;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tributary::engine::KafkaStreams;
use tributary::engine::internals::{KafkaCollector, OutgoingRecord, RecordCollector, TopicAdmin};
use tributary::engine::reset::{ResetTo, apply_reset, plan_reset};
use tributary::topologies::task_list;
use tributary::{StreamsConfig, Topology};

const PARTITIONS: i32 = 2;

/// An HTTP reply: status and body.
struct Answer {
    status: u16,
    body: String,
}

fn call(method: &str, url: &str, body: Option<&str>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let response = match (method, body) {
        ("POST", Some(body)) => agent
            .post(url)
            .header("content-type", "application/json")
            .send(body),
        ("POST", None) => agent.post(url).send_empty(),
        _ => agent.get(url).call(),
    };
    let mut response = response.expect("the edge answers");
    Answer {
        status: response.status().as_u16(),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// Starts the edge on a free port, publishing to `events` and reading the model at
/// `read_model`; returns its address.
fn start_edge(events: &str, read_model: SocketAddr) -> SocketAddr {
    let edge = edge::Edge::new(&support::bootstrap(), events, &read_model.to_string()).unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            sender.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, edge.router()).await.unwrap();
        });
    });
    receiver.recv().unwrap()
}

/// Waits until `GET url` answers with `want` in its body (up to a minute); returns the
/// last answer.
fn await_answer(url: &str, want: &str) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = call("GET", url, None);
        if answer.body.contains(want) || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until the read model behind the edge at `edge` answers (404 for a task nobody
/// created, not 503 while the projection starts).
fn await_read_model(edge: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("http://{edge}/tasks/nobody-created-this");
    while call("GET", &url, None).status != 404 {
        assert!(Instant::now() < deadline, "the read model never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn projection(events: &str) -> Topology {
    task_list::projection(events, None).unwrap()
}

#[test]
fn commands_are_checked_published_projected_and_replayed_to_the_same_read_model() {
    let app = support::unique("cqrs");
    let (events, dead_letters) = (format!("{app}-events"), format!("{app}-dead-letters"));
    let settings = [
        ("commit.interval.ms", "200"),
        ("application.server", "127.0.0.1:0"),
        (
            "default.deserialization.exception.handler",
            "log_and_continue",
        ),
        ("errors.dead.letter.queue.topic.name", dead_letters.as_str()),
    ];
    let (config, _state) = support::streams_config(&app, &settings);
    TopicAdmin::new(&config)
        .unwrap()
        .create_topic(&events, PARTITIONS, &[])
        .unwrap();
    let mut streams = KafkaStreams::new(projection(&events), config.clone());
    streams.start().unwrap();
    let read_model = streams.server_address().unwrap();
    let edge = start_edge(&events, read_model);
    let url = |path: &str| format!("http://{edge}{path}");
    let post = |path: &str, body: Option<&str>| call("POST", &url(path), body);
    await_read_model(edge);

    // Syntax: 400 with the reason.
    for (path, body, reason) in [
        ("/tasks", Some("{"), "malformed command"),
        ("/tasks", Some(r#"{"title":"no id"}"#), "task_id"),
        (
            "/tasks",
            Some(r#"{"task_id":"a b","title":"x"}"#),
            "`task_id` must be",
        ),
        (
            "/tasks",
            Some(r#"{"task_id":"t-1","title":" "}"#),
            "`title` must be",
        ),
        (
            "/tasks/t-1/assign",
            Some(r#"{"user":""}"#),
            "`user` must be",
        ),
    ] {
        let answer = post(path, body);
        assert_eq!(answer.status, 400, "{path} {body:?}: {}", answer.body);
        assert!(
            answer.body.contains(reason),
            "{path} {body:?}: {}",
            answer.body
        );
    }

    // A task's life; each command waits for the read model to show the one before it (the
    // edge answers once the event is stored, before the projection applies it).
    let created = post(
        "/tasks",
        Some(r#"{"task_id":"t-1","title":"Write the docs"}"#),
    );
    assert_eq!(created.status, 202, "{}", created.body);
    await_answer(&url("/tasks/t-1"), "Write the docs");
    let again = post("/tasks", Some(r#"{"task_id":"t-1","title":"Again"}"#));
    assert_eq!(
        (again.status, again.body.contains("already exists")),
        (409, true)
    );
    let missing = post("/tasks/t-2/assign", Some(r#"{"user":"ann"}"#));
    assert_eq!(
        (missing.status, missing.body.contains("no task `t-2`")),
        (409, true)
    );
    let unassigned = post("/tasks/t-1/complete", None);
    assert_eq!(
        (
            unassigned.status,
            unassigned.body.contains("nobody assigned")
        ),
        (409, true),
        "{}",
        unassigned.body
    );
    assert_eq!(
        post("/tasks/t-1/assign", Some(r#"{"user":"ann"}"#)).status,
        202
    );
    await_answer(&url("/tasks/t-1"), "\"ann\"");
    assert_eq!(post("/tasks/t-1/complete", None).status, 202);
    await_answer(&url("/tasks/t-1"), "\"open\":false");
    let closed = post("/tasks/t-1/complete", None);
    assert_eq!(
        (closed.status, closed.body.contains("closed already")),
        (409, true)
    );

    // More tasks, for ann and bob.
    for n in 2..=6 {
        let user = if n % 2 == 0 { "ann" } else { "bob" };
        let body = format!(r#"{{"task_id":"t-{n}","title":"Task {n}","assignee":"{user}"}}"#);
        assert_eq!(post("/tasks", Some(&body)).status, 202);
    }
    await_answer(&url("/users/bob/open-tasks"), "t-5");
    await_answer(&url("/users/ann/open-tasks"), "t-6");

    // An event nobody can read: the projection sends it to the dead-letter topic and goes on.
    let mut producer = KafkaCollector::new(&config).unwrap();
    producer
        .send(OutgoingRecord {
            topic: &events,
            partition: 0,
            key: Some(b"t-x"),
            value: Some(b"not an event"),
            timestamp: 0,
            headers: &Vec::new(),
        })
        .unwrap();
    producer.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut dead = Vec::new();
    while dead.is_empty() && Instant::now() < deadline {
        dead = support::worker::read_all(&config, &dead_letters, 1);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        dead.iter().map(|(_, v)| v.as_deref()).collect::<Vec<_>>(),
        vec![Some(&b"not an event"[..])],
        "the unreadable event is dead-lettered"
    );

    let read_all = || -> BTreeMap<String, String> {
        let mut answers = BTreeMap::new();
        for path in (1..=6).map(|n| format!("/tasks/t-{n}")).chain([
            "/users/ann/open-tasks".into(),
            "/users/bob/open-tasks".into(),
        ]) {
            answers.insert(path.clone(), call("GET", &url(&path), None).body);
        }
        answers
    };
    let before = read_all();
    assert!(
        before["/users/ann/open-tasks"].contains("t-2"),
        "{before:?}"
    );

    // Replay: the projection stops, its application is reset to the beginning of the
    // events, and a fresh start rebuilds the same read model.
    streams.close(Duration::from_secs(30)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let plan = loop {
        match plan_reset(&config, std::slice::from_ref(&events), ResetTo::Earliest) {
            Ok(plan) => break plan,
            // The group may still list the closed instance for a moment.
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("cannot reset: {e}"),
        }
    };
    apply_reset(&config, &plan).unwrap();
    let mut rebuilt = KafkaStreams::new(projection(&events), rebuilt_config(&config, read_model));
    rebuilt.start().unwrap();
    await_read_model(edge);
    await_answer(&url("/users/bob/open-tasks"), "t-5");
    await_answer(&url("/tasks/t-6"), "Task 6");
    let after = read_all();
    rebuilt.close(Duration::from_secs(30)).unwrap();
    assert_eq!(after, before, "the replay rebuilds the same read model");
}

/// `config` with the query server on `address` again, so the running edge finds it.
fn rebuilt_config(config: &StreamsConfig, address: SocketAddr) -> StreamsConfig {
    let mut config = config.clone();
    config
        .set("application.server", &address.to_string())
        .unwrap();
    config
}
