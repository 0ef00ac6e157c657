//! The ERP returns example (seed 003, `examples/erp_returns`) on the broker: 10,000 refund
//! requests on one topic, four departments as applications of their own. Manufacturing
//! is stopped halfway and started again later; the others carry on meanwhile, and it
//! catches up. Every department's stores, read back from their changelogs, hold exactly
//! what the requests say. An audit log added after everything was published replays the
//! topic from the beginning.

mod support;

#[path = "../examples/erp_returns/departments.rs"]
#[allow(dead_code, reason = "the example's publisher uses the rest")]
mod departments;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use departments::*;
use tributary::StreamsConfig;
use tributary::engine::KafkaStreams;
use tributary::engine::internals::{KafkaCollector, OutgoingRecord, RecordCollector, TopicAdmin};
use tributary::engine::partitioner::partition_for;

const PARTITIONS: i32 = 3;
const REQUESTS: u64 = 10_000;

/// What a department's stores must hold: store → key → value.
type Expected = HashMap<&'static str, HashMap<String, i64>>;

/// Each department's stores, computed from `requests` with plain maps.
fn expected(requests: &[RefundRequest]) -> HashMap<&'static str, Expected> {
    let mut all: HashMap<&'static str, Expected> = HashMap::new();
    let mut add = |department, store, key: &str, by: i64| {
        *all.entry(department)
            .or_default()
            .entry(store)
            .or_default()
            .entry(key.to_owned())
            .or_insert(0) += by;
    };
    for r in requests {
        add("sales", REFUNDS_PER_ORDER, &r.order_id, 1);
        add("sales", REFUNDS_PER_CUSTOMER, &r.customer_id, 1);
        add(
            "sales",
            REFUNDED_PER_CUSTOMER,
            &r.customer_id,
            r.amount_cents,
        );
        add("inventory", SHIPMENTS_PER_MODEL, &r.device_model, 1);
        add("inventory", RESERVED_PER_WAREHOUSE, &r.warehouse, 1);
        add(
            "manufacturing",
            DISASSEMBLY_PER_LOCATION,
            &r.disassembly_location,
            1,
        );
        add(
            "accounting",
            DISPOSAL_COST_PER_CENTRE,
            &r.cost_centre,
            r.disposal_cost_cents,
        );
    }
    all
}

/// The latest value of every key of a department's store, from its changelog.
fn store(config: &StreamsConfig, app: &str, store: &str) -> HashMap<String, i64> {
    support::worker::read_latest(
        config,
        &format!("{app}-{store}-changelog"),
        PARTITIONS,
        support::worker::i64_be,
    )
}

/// Publishes requests `from..to`, one a second apart in event time.
fn publish(producer: &mut KafkaCollector, topic: &str, range: std::ops::Range<u64>) {
    for n in range {
        let request = request(n);
        let value = serde_json::to_vec(&request).unwrap();
        producer
            .send(OutgoingRecord {
                topic,
                partition: partition_for(request.refund_id.as_bytes(), PARTITIONS),
                key: Some(request.refund_id.as_bytes()),
                value: Some(&value),
                timestamp: 1_700_000_000_000 + n as i64 * 1_000,
                headers: &Vec::new(),
            })
            .unwrap();
    }
    producer.flush().unwrap();
}

/// One department's application: its name and configuration (own id and state directory).
struct Department {
    name: &'static str,
    config: StreamsConfig,
    _state: tempfile::TempDir,
}

/// Waits until `department`'s stores hold `expected` (up to two minutes); returns what
/// differs then, if anything.
fn await_stores(department: &Department, expected: &Expected) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let app = &department.config.application_id;
        let wrong: Vec<String> = expected
            .iter()
            .filter_map(|(name, want)| {
                let got = store(&department.config, app, name);
                (got != *want).then(|| {
                    let differing = want.iter().filter(|(k, v)| got.get(*k) != Some(v)).count();
                    format!("{name}: {differing} of {} keys differ", want.len())
                })
            })
            .collect();
        if wrong.is_empty() || Instant::now() > deadline {
            return wrong;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn every_department_keeps_exact_stores_and_one_stopped_catches_up() {
    let prefix = support::unique("erp");
    let (refunds, audit) = (
        format!("{prefix}-refund-requests"),
        format!("{prefix}-audit"),
    );
    let admin_config = support::config(&format!("{prefix}-admin"));
    let admin = TopicAdmin::new(&admin_config).unwrap();
    admin.create_topic(&refunds, PARTITIONS, &[]).unwrap();
    admin.create_topic(&audit, PARTITIONS, &[]).unwrap();
    let mut producer = KafkaCollector::new(&admin_config).unwrap();

    let department = |name: &'static str| {
        let app = format!("{prefix}-{name}");
        let mut settings = vec![("commit.interval.ms", "200")];
        if name == "accounting" {
            settings.push(("processing.guarantee", "exactly_once_v2"));
        }
        let (config, state) = support::streams_config(&app, &settings);
        Department {
            name,
            config,
            _state: state,
        }
    };
    let departments = ["sales", "inventory", "manufacturing", "accounting"].map(department);
    let start = |d: &Department| {
        // The example's own topology for the department.
        let topology = topology(d.name, &refunds, &audit).unwrap();
        let mut streams = KafkaStreams::new(topology, d.config.clone());
        streams.start().unwrap();
        streams
    };

    publish(&mut producer, &refunds, 0..REQUESTS / 2);
    let mut running: Vec<KafkaStreams> = departments.iter().map(start).collect();
    let requests: Vec<RefundRequest> = (0..REQUESTS).map(request).collect();
    let half = expected(&requests[..(REQUESTS / 2) as usize]);
    let manufacturing = &departments[2];
    let wrong = await_stores(manufacturing, &half["manufacturing"]);
    assert!(wrong.is_empty(), "manufacturing after half: {wrong:?}");
    // Manufacturing stops for a while; the rest of the requests arrive meanwhile.
    running[2].close(Duration::from_secs(30)).unwrap();
    publish(&mut producer, &refunds, REQUESTS / 2..REQUESTS);
    let all = expected(&requests);
    for d in departments.iter().filter(|d| d.name != "manufacturing") {
        let wrong = await_stores(d, &all[d.name]);
        assert!(
            wrong.is_empty(),
            "{} while manufacturing is stopped: {wrong:?}",
            d.name
        );
    }
    let behind = store(
        &manufacturing.config,
        &manufacturing.config.application_id,
        DISASSEMBLY_PER_LOCATION,
    );
    assert_eq!(
        behind, half["manufacturing"][DISASSEMBLY_PER_LOCATION],
        "a stopped department does not move"
    );
    // Started again on its state directory, it catches up.
    running[2] = start(manufacturing);
    let wrong = await_stores(manufacturing, &all["manufacturing"]);
    assert!(
        wrong.is_empty(),
        "manufacturing after its restart: {wrong:?}"
    );

    // Defects per model per hour: every request in exactly one hour's window.
    let app = &manufacturing.config.application_id;
    let hourly = support::worker::read_topic(
        &manufacturing.config,
        &format!("{app}-{DEFECTS_PER_MODEL_HOURLY}-changelog"),
        PARTITIONS,
    )
    .0;
    let counted: i64 = hourly.values().map(|v| support::worker::i64_be(v)).sum();
    assert_eq!(
        counted, REQUESTS as i64,
        "each request counted in one hourly window"
    );

    // An audit log added now reads the topic from the beginning.
    let auditor = department("audit");
    let mut audit_streams = start(&auditor);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut logged = 0;
    while Instant::now() < deadline {
        logged = support::worker::read_all(&auditor.config, &audit, PARTITIONS).len();
        if logged as u64 >= REQUESTS {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    audit_streams.close(Duration::from_secs(30)).unwrap();
    for mut streams in running {
        streams.close(Duration::from_secs(30)).unwrap();
    }
    assert_eq!(
        logged as u64, REQUESTS,
        "the audit log replays every request"
    );
}
