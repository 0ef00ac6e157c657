//! The dead-letter queue on the broker (KIP-1034): payments summed per user, with an
//! undecodable record, a record a fallible function fails on and a record a user function
//! panics on among good ones. With both handlers at `log_and_continue` and
//! `errors.dead.letter.queue.topic.name` set, the three bad records land in the dead-letter
//! topic as they were read, with headers naming the error and their origin, and nothing is
//! lost: records in = records summed + records in the dead-letter topic.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tributary::engine::internals::{ClientRole, KafkaCollector, TopicAdmin, client_config};
use tributary::engine::internals::{OutgoingRecord, RecordCollector};
use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde, nullable};
use tributary::engine::{KafkaStreams, StreamsState};
use tributary::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, Topology};

#[derive(Clone, Serialize, Deserialize)]
struct Payment {
    user: String,
    amount: String,
}

/// Payments (JSON) summed per user; the amount is parsed fallibly, and 666 panics.
fn topology(payments: &str, out: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            payments,
            Consumed::with(StringSerde, JsonSerde::<Payment>::new()),
        )
        .try_map_values(|p: Payment| {
            let amount = p.amount.parse::<i64>()?;
            Ok::<_, std::num::ParseIntError>((p.user, amount))
        })
        .map(|_, (user, amount): (String, i64)| {
            assert_ne!(amount, 666, "a cursed amount");
            (user, amount)
        })
        .group_by_key(Grouped::with(StringSerde, I64Serde).with_name("by-user"))
        .reduce(|a, b| a + b, Materialized::named("totals"))
        .to_stream()
        .to(out, Produced::with(StringSerde, nullable(I64Serde)));
    builder.build().unwrap()
}

const INPUTS: &[&str] = &[
    r#"{"user":"ann","amount":"10"}"#,
    r#"{"user":"#,
    r#"{"user":"bob","amount":"5"}"#,
    r#"{"user":"ann","amount":"ten"}"#,
    r#"{"user":"ann","amount":"7"}"#,
    r#"{"user":"bob","amount":"666"}"#,
    r#"{"user":"bob","amount":"1"}"#,
];

/// Every record of partition 0 of `topic` (value and headers), waiting up to a minute for
/// `count` of them.
fn read_with_headers(
    config: &tributary::StreamsConfig,
    topic: &str,
    count: usize,
) -> Vec<(Vec<u8>, HashMap<String, String>)> {
    let consumer: BaseConsumer = client_config(config, ClientRole::RestoreConsumer)
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut records = Vec::new();
    while records.len() < count && Instant::now() < deadline {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                        (h.key.to_owned(), value.into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push((message.payload().unwrap_or_default().to_vec(), headers));
    }
    records
}

#[test]
fn skipped_records_land_in_the_dead_letter_topic_with_their_error_and_nothing_is_lost() {
    let app = support::unique("dlq");
    let dead_letters = format!("{app}-dead-letters");
    let (config, _state) = support::streams_config(
        &app,
        &[
            ("commit.interval.ms", "200"),
            (
                "default.deserialization.exception.handler",
                "log_and_continue",
            ),
            ("processing.exception.handler", "log_and_continue"),
            ("errors.dead.letter.queue.topic.name", &dead_letters),
        ],
    );
    let (payments, out) = (format!("{app}-payments"), format!("{app}-totals"));
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&payments, 1, &[]).unwrap();
    admin.create_topic(&out, 1, &[]).unwrap();
    let mut producer = KafkaCollector::new(&config).unwrap();
    let headers = vec![("trace".to_owned(), Some(b"t-1".to_vec()))];
    for (i, value) in INPUTS.iter().enumerate() {
        let key = format!("payment-{i}");
        producer
            .send(OutgoingRecord {
                topic: &payments,
                partition: 0,
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
                timestamp: i as i64,
                headers: &headers,
            })
            .unwrap();
    }
    producer.flush().unwrap();

    let mut streams = KafkaStreams::new(topology(&payments, &out), config.clone());
    streams.start().unwrap();
    let dead = read_with_headers(&config, &dead_letters, 3);
    let deadline = Instant::now() + Duration::from_secs(60);
    let totals = loop {
        let totals: BTreeMap<String, i64> =
            support::worker::read_latest(&config, &out, 1, support::worker::i64_be)
                .into_iter()
                .collect();
        if totals.get("bob") == Some(&6) || Instant::now() > deadline {
            break totals;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(streams.state(), StreamsState::Running);
    // Counters are reported when the task commits, right after its output is flushed.
    let counted = |m: &str| {
        m.contains("reason=\"processing\",task=\"0_0\"} 2")
            && m.contains("reason=\"deserialization\",task=\"0_0\"} 1")
            && m.contains("tributary_task_records_dead_lettered_total{task=\"0_0\"} 3")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let metrics = streams.metrics().render(&streams.stores());
        if counted(&metrics) || Instant::now() > deadline {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    streams.close(Duration::from_secs(30)).unwrap();

    let expected: BTreeMap<String, i64> = [("ann".to_owned(), 17), ("bob".to_owned(), 6)].into();
    assert_eq!(totals, expected, "the good payments are summed");
    let values: Vec<&[u8]> = dead.iter().map(|(v, _)| v.as_slice()).collect();
    assert_eq!(
        values,
        vec![
            INPUTS[1].as_bytes(),
            INPUTS[3].as_bytes(),
            INPUTS[5].as_bytes()
        ],
        "the three bad records, as they were read"
    );
    assert_eq!(
        4 + dead.len(),
        INPUTS.len(),
        "records in = records summed + dead letters"
    );
    for ((_, headers), (offset, exception, message)) in dead.iter().zip([
        (1, "Deserialization", "cannot deserialize the value"),
        (3, "ProcessingFailed", "invalid digit"),
        (5, "ProcessingFailed", "a cursed amount"),
    ]) {
        let header = |name: &str| headers.get(name).map(String::as_str).unwrap_or_default();
        assert_eq!(header("__streams.errors.topic"), payments, "{headers:?}");
        assert_eq!(header("__streams.errors.partition"), "0", "{headers:?}");
        assert_eq!(
            header("__streams.errors.offset"),
            offset.to_string(),
            "{headers:?}"
        );
        assert!(
            header("__streams.errors.exception").ends_with(exception),
            "{headers:?}"
        );
        assert!(
            header("__streams.errors.message").contains(message),
            "{headers:?}"
        );
        assert_eq!(header("trace"), "t-1", "the record's own headers are kept");
    }
    assert!(
        dead[1].1["__streams.errors.stacktrace"].contains("invalid digit"),
        "the cause chain: {:?}",
        dead[1].1
    );
    assert!(
        counted(&metrics),
        "skips are counted by reason, dead letters too:\n{metrics}"
    );
}

/// Writes strings, but refuses to serialize `"poison"`.
struct Picky;

impl tributary::engine::serde::Serde<String> for Picky {
    fn serialize(
        &self,
        value: &String,
        out: &mut Vec<u8>,
    ) -> Result<(), tributary::engine::serde::SerdeError> {
        if value == "poison" {
            return Err(tributary::engine::serde::SerdeError::new(
                "picky",
                "refuses poison",
            ));
        }
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<String, tributary::engine::serde::SerdeError> {
        StringSerde.deserialize(bytes)
    }

    fn format(&self) -> tributary::engine::serde::Format {
        tributary::engine::serde::Format::String
    }
}

#[test]
fn an_output_record_the_sink_cannot_write_sends_its_input_record_to_the_dead_letter_topic() {
    let app = support::unique("dlq-sink");
    let dead_letters = format!("{app}-dead-letters");
    let (config, _state) = support::streams_config(
        &app,
        &[
            ("commit.interval.ms", "200"),
            ("production.exception.handler", "continue"),
            ("errors.dead.letter.queue.topic.name", &dead_letters),
        ],
    );
    let (input, out) = (format!("{app}-in"), format!("{app}-out"));
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&input, 1, &[]).unwrap();
    admin.create_topic(&out, 1, &[]).unwrap();
    let mut producer = KafkaCollector::new(&config).unwrap();
    for (i, value) in ["fine", "poison", "also fine"].iter().enumerate() {
        producer
            .send(OutgoingRecord {
                topic: &input,
                partition: 0,
                key: Some(b"k"),
                value: Some(value.as_bytes()),
                timestamp: i as i64,
                headers: &Vec::new(),
            })
            .unwrap();
    }
    producer.flush().unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream(&input, Consumed::with(StringSerde, StringSerde))
        .to(&out, Produced::with(StringSerde, Picky));
    let mut streams = KafkaStreams::new(builder.build().unwrap(), config.clone());
    streams.start().unwrap();
    let dead = read_with_headers(&config, &dead_letters, 1);
    let written = read_with_headers(&config, &out, 2);
    assert_eq!(streams.state(), StreamsState::Running);
    streams.close(Duration::from_secs(30)).unwrap();

    let values: Vec<&[u8]> = written.iter().map(|(v, _)| v.as_slice()).collect();
    assert_eq!(values, vec![&b"fine"[..], b"also fine"]);
    assert_eq!(dead.len(), 1, "the poison record, once");
    let (value, headers) = &dead[0];
    assert_eq!(value.as_slice(), b"poison");
    let header = |name: &str| headers.get(name).map(String::as_str).unwrap_or_default();
    assert!(
        header("__streams.errors.exception").ends_with("Serialization"),
        "{headers:?}"
    );
    assert!(
        header("__streams.errors.message").contains(&out),
        "{headers:?}"
    );
    assert_eq!(header("__streams.errors.offset"), "1", "{headers:?}");
}
