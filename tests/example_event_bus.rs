//! The event bus example (seed 001, `examples/event_bus`) on the broker: the events of 600
//! orders in one topic, written as version 1, 2 and 3 of their data, with a retrying
//! producer's second copies and one event nobody can read. Three applications read it: the
//! projection's read model holds every order as the events say; the integration consumer
//! delivers every readable event once to an endpoint that fails every third call — nothing
//! lost, nothing delivered twice; analytics counts events per type per minute exactly. The
//! unreadable event goes to each application's dead-letter topic, and consumer lag is on
//! `/metrics`.

mod support;

#[path = "../examples/event_bus/consumers.rs"]
mod consumers;
#[path = "../examples/event_bus/endpoint.rs"]
#[allow(dead_code, reason = "the example's `endpoint` command uses the rest")]
mod endpoint;
#[path = "../examples/event_bus/envelope.rs"]
#[allow(dead_code, reason = "the consumers use the rest")]
mod envelope;
#[path = "../examples/event_bus/history.rs"]
mod history;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use consumers::*;
use envelope::{Envelope, OrderEvent};
use history::{BROKEN_ORDER, Published, history};
use tributary::StreamsConfig;
use tributary::engine::KafkaStreams;
use tributary::engine::internals::{KafkaCollector, OutgoingRecord, RecordCollector, TopicAdmin};
use tributary::engine::partitioner::partition_for;

const PARTITIONS: i32 = 3;
const ORDERS: u64 = 600;

/// What the events of order `n` make of it, from how the history writes them (not through
/// the example's upcasters).
fn expected_view(n: u64) -> OrderView {
    let mut view = OrderView::default();
    if n != BROKEN_ORDER {
        view.customer_id = format!("customer-{}", n % 50);
        view.total_cents = 1_000 + (n % 37) as i64 * 125;
        view.currency = if n % 7 == 3 { "USD" } else { "EUR" }.into();
    }
    match n % 4 {
        0 => view.status = "cancelled".into(),
        1 => {
            view.status = "shipped".into();
            view.carrier = Some("dhl".into());
        }
        _ => {
            view.status = "shipped".into();
            view.carrier = Some("ups".into());
            view.tracking_id = Some(format!("1Z{n:08}"));
        }
    }
    view
}

/// Polls `check` every half second until it returns `None`, up to two minutes; returns
/// the last complaint.
fn eventually(mut check: impl FnMut() -> Option<String>) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let complaint = check();
        if complaint.is_none() || Instant::now() > deadline {
            return complaint;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn three_consumers_of_mixed_versions_lose_nothing_and_deliver_once() {
    let prefix = support::unique("bus");
    let (events, deliveries) = (format!("{prefix}-events"), format!("{prefix}-deliveries"));
    let admin_config = support::config(&format!("{prefix}-admin"));
    let admin = TopicAdmin::new(&admin_config).unwrap();
    admin.create_topic(&events, PARTITIONS, &[]).unwrap();
    admin.create_topic(&deliveries, PARTITIONS, &[]).unwrap();

    let published = history(ORDERS);
    let mut producer = KafkaCollector::new(&admin_config).unwrap();
    for record in &published {
        producer
            .send(OutgoingRecord {
                topic: &events,
                partition: partition_for(record.key.as_bytes(), PARTITIONS),
                key: Some(record.key.as_bytes()),
                value: Some(&record.value),
                timestamp: record.timestamp,
                headers: &Vec::new(),
            })
            .unwrap();
    }
    producer.flush().unwrap();

    let (address, received) = endpoint::start("127.0.0.1:0", 3).unwrap();
    let integration = Integration {
        endpoint: format!("http://{address}/events"),
        deliveries: deliveries.clone(),
    };
    let app = |name: &str| {
        let dead_letters = format!("{prefix}-{name}-dead-letters");
        support::streams_config(
            &format!("{prefix}-{name}"),
            &[
                ("commit.interval.ms", "200"),
                (
                    "default.deserialization.exception.handler",
                    "log_and_continue",
                ),
                ("processing.exception.handler", "log_and_continue"),
                ("errors.dead.letter.queue.topic.name", &dead_letters),
            ],
        )
    };
    let apps: Vec<(StreamsConfig, tempfile::TempDir)> = CONSUMERS.iter().map(|c| app(c)).collect();
    let mut running: Vec<KafkaStreams> = CONSUMERS
        .iter()
        .zip(&apps)
        .map(|(consumer, (config, _))| {
            let topology = topology(consumer, &events, &integration).unwrap();
            let mut streams = KafkaStreams::new(topology, config.clone());
            streams.start().unwrap();
            streams
        })
        .collect();
    let config = |consumer: &str| &apps[CONSUMERS.iter().position(|c| *c == consumer).unwrap()].0;

    let readable: Vec<&Published> = published.iter().filter(|p| p.readable).collect();
    let distinct: HashSet<&str> = readable.iter().map(|p| p.event_id.as_str()).collect();
    assert!(
        published.iter().any(|p| p.duplicate),
        "the history has retried copies"
    );

    // The projection: every order's view, read back from the store's changelog.
    let projection = config("projection");
    let orders_changelog = format!("{}-{ORDERS_STORE}-changelog", projection.application_id);
    let complaint = eventually(|| {
        let views = support::worker::read_latest(projection, &orders_changelog, PARTITIONS, |v| {
            serde_json::from_slice::<OrderView>(v).unwrap()
        });
        let wrong: Vec<u64> = (0..ORDERS)
            .filter(|n| views.get(&format!("order-{n}")) != Some(&expected_view(*n)))
            .collect();
        (!wrong.is_empty()).then(|| {
            format!(
                "{} of {ORDERS} orders differ, first order-{}",
                wrong.len(),
                wrong[0]
            )
        })
    });
    assert_eq!(complaint, None, "the projection");

    // The integration: each readable event accepted once, though every third call failed.
    let complaint = eventually(|| {
        let received = received.lock().unwrap();
        let accepted: HashSet<&str> = received.accepted.keys().map(String::as_str).collect();
        (accepted != distinct).then(|| {
            format!(
                "{} of {} events accepted",
                accepted.intersection(&distinct).count(),
                distinct.len()
            )
        })
    });
    assert_eq!(complaint, None, "the integration");
    {
        let received = received.lock().unwrap();
        let twice: Vec<_> = received.accepted.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "delivered more than once: {twice:?}");
        assert!(
            received.failed >= distinct.len() as u64 / 3,
            "the endpoint failed {} of {} calls",
            received.failed,
            received.calls
        );
    }
    let receipts: Vec<Delivery> =
        support::worker::read_all(config("integration"), &deliveries, PARTITIONS)
            .into_iter()
            .map(|(_, value)| serde_json::from_slice(&value.unwrap()).unwrap())
            .collect();
    let receipted: HashSet<&str> = receipts.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(
        (receipts.len(), receipted),
        (distinct.len(), distinct.clone()),
        "one receipt per event"
    );
    assert!(
        receipts.iter().any(|d| d.attempts > 1),
        "some deliveries took a retry"
    );

    // Analytics: distinct readable events per type per minute of event time.
    let mut per_minute: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut seen = HashSet::new();
    for record in &readable {
        if seen.insert(&record.event_id) {
            let event = Envelope::from_json(&record.value).unwrap();
            let minute = event.timestamp - event.timestamp % 60_000;
            *per_minute.entry((event.event_type, minute)).or_default() += 1;
        }
    }
    let server = running[2]
        .server_address()
        .expect("analytics serves queries");
    let complaint = eventually(|| {
        let types: HashSet<&String> = per_minute.keys().map(|(t, _)| t).collect();
        let mut got = BTreeMap::new();
        for event_type in types {
            let url = format!(
                "http://{server}/v1/stores/{EVENTS_PER_TYPE_PER_MINUTE}/windows/{event_type}?from=0&to={}",
                i64::MAX
            );
            let reply = support::http::get(&url, &[]);
            if reply.status != 200 {
                return Some(format!("GET {url}: {}", reply.status));
            }
            for window in reply.json()["windows"].as_array().unwrap() {
                let start = window["start"].as_i64().unwrap();
                got.insert(
                    (event_type.clone(), start),
                    window["value"].as_i64().unwrap(),
                );
            }
        }
        (got != per_minute).then(|| format!("{} windows, {} expected", got.len(), per_minute.len()))
    });
    assert_eq!(complaint, None, "events per type per minute");

    // The unreadable event, in every application's dead-letter topic; nothing else there.
    let unreadable = published.iter().filter(|p| !p.readable).count();
    for consumer in CONSUMERS {
        let topic = format!("{prefix}-{consumer}-dead-letters");
        let complaint = eventually(|| {
            let letters = support::worker::read_all(config(consumer), &topic, 1).len();
            (letters != unreadable)
                .then(|| format!("{letters} dead letters, {unreadable} expected"))
        });
        assert_eq!(complaint, None, "{consumer}'s dead letters");
    }

    // Consumer lag per partition of the events topic, on /metrics.
    let complaint = eventually(|| {
        let metrics = support::http::get(&format!("http://{server}/metrics"), &[]);
        let text = String::from_utf8_lossy(&metrics.body).into_owned();
        let lines = text
            .lines()
            .filter(|l| l.starts_with("tributary_consumer_lag_records") && l.contains(&*events))
            .count();
        (lines < PARTITIONS as usize).then(|| format!("{lines} lag lines for `{events}`"))
    });
    assert_eq!(complaint, None, "consumer lag on /metrics");

    for mut streams in running.drain(..) {
        streams.close(Duration::from_secs(30)).unwrap();
    }
}

#[test]
fn every_version_reads_into_the_current_shape() {
    let by_order = |n: u64| -> Vec<Envelope> {
        history(n + 1)
            .iter()
            .filter(|p| p.key == format!("order-{n}") && p.readable && !p.duplicate)
            .map(|p| Envelope::from_json(&p.value).unwrap())
            .collect()
    };
    // Version 1: euros as a float and `customer`, upcast to cents and `customer_id`.
    let OrderEvent::Placed(placed) = &by_order(2)[0].data else {
        panic!("order 2 starts with OrderPlaced")
    };
    assert_eq!(
        (
            placed.customer_id.as_str(),
            placed.total_cents,
            placed.currency.as_str()
        ),
        ("customer-2", 1_250, "EUR")
    );
    // Version 3 from a newer producer: its unknown `channel` is ignored.
    let placed_v3 = &by_order(3)[0];
    assert!(matches!(&placed_v3.data, OrderEvent::Placed(p) if p.currency == "USD"));
    assert_eq!(placed_v3.version, 2, "read in the current shape");
    // A type this reader does not know is carried along as it came.
    let noted = by_order(5);
    assert!(
        matches!(&noted[1].data, OrderEvent::Unknown(data) if data["note"] == "leave at the door")
    );
    // Written back, every event is the current version and reads the same again.
    for event in by_order(6).iter().chain(&noted) {
        let again = Envelope::from_json(event.to_json().to_string().as_bytes()).unwrap();
        assert_eq!(&again, event);
    }
    // The broken one says which event and what is missing.
    let broken = history(BROKEN_ORDER + 1)
        .into_iter()
        .find(|p| !p.readable)
        .unwrap();
    let error = Envelope::from_json(&broken.value).unwrap_err();
    assert!(
        error.contains(&format!("evt-{BROKEN_ORDER}-0")) && error.contains("total"),
        "{error}"
    );
}
