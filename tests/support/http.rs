//! An HTTP client for the query-server tests: plain requests, and Server-Sent Events read on
//! a thread of their own so that a test can wait for an event with a timeout.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// An answer: status, the instance that gave it, the body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub instance: Option<String>,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    /// How far behind a standby that answered is (`x-tributary-standby-lag`).
    pub standby_lag: Option<String>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `error` message of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .build()
        .into()
}

/// `GET url` with `headers`.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent(Some(Duration::from_secs(15))).get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request
        .call()
        .unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (instance, content_type, retry_after, standby_lag) = (
        header("x-tributary-instance"),
        header("content-type"),
        header("retry-after"),
        header("x-tributary-standby-lag"),
    );
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("reading GET {url} failed: {e}"));
    Reply {
        status: response.status().as_u16(),
        instance,
        content_type,
        retry_after,
        standby_lag,
        body,
    }
}

/// `GET url` until it answers 200 (503s and connection errors are retried), up to `timeout`.
pub fn get_ok(url: &str, timeout: Duration) -> Reply {
    let deadline = Instant::now() + timeout;
    loop {
        let reply = agent(Some(Duration::from_secs(15))).get(url).call();
        if let Ok(response) = &reply
            && response.status() == 200
        {
            return get(url, &[]);
        }
        assert!(
            Instant::now() < deadline,
            "GET {url} did not answer 200 within {timeout:?}: {:?}",
            reply.map(|r| r.status())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One Server-Sent Event: its name and data (JSON).
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub data: Value,
}

/// An open subscription: events arrive on a channel fed by a reader thread.
pub struct Subscription {
    pub status: u16,
    pub instance: Option<String>,
    /// The body of a refusal (any status but 200).
    pub error: Option<String>,
    events: mpsc::Receiver<Event>,
}

impl Subscription {
    /// Opens `url` (a `/subscribe` route).
    pub fn open(url: &str) -> Self {
        let response = agent(None)
            .get(url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
        let status = response.status().as_u16();
        let instance = response
            .headers()
            .get("x-tributary-instance")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (tx, events) = mpsc::channel();
        if status != 200 {
            let error = response.into_body().read_to_string().unwrap_or_default();
            return Self {
                status,
                instance,
                error: Some(error),
                events,
            };
        }
        let reader = BufReader::new(response.into_body().into_reader());
        std::thread::spawn(move || {
            let (mut name, mut data) = (String::new(), String::new());
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if line.is_empty() {
                    if !name.is_empty() {
                        let event = Event {
                            name: std::mem::take(&mut name),
                            data: serde_json::from_str(&data).unwrap_or(Value::Null),
                        };
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    data.clear();
                } else if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
        });
        Self {
            status,
            instance,
            error: None,
            events,
        }
    }

    /// The next event, or `None` when none came within `timeout` or the stream ended.
    pub fn next(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Events up to and including `snapshot-complete`: the snapshot's entries.
    pub fn snapshot(&self, timeout: Duration) -> Vec<Event> {
        let mut entries = Vec::new();
        loop {
            let event = self
                .next(timeout)
                .expect("the snapshot completes with a marker");
            match event.name.as_str() {
                "entry" => entries.push(event),
                "snapshot-complete" => return entries,
                other => panic!("unexpected `{other}` before the marker: {event:?}"),
            }
        }
    }
}
