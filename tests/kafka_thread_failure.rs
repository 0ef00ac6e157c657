//! A stream thread whose processor fails once, on the real broker: by default the instance
//! shuts down with the error; with a handler answering `ReplaceThread`, a new thread takes
//! over, processes the failed record again and everything after it, and the instance keeps
//! running.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tributary::engine::internals::{KafkaCollector, TopicAdmin};
use tributary::engine::internals::{OutgoingRecord, RecordCollector};
use tributary::engine::processor::{Processor, ProcessorContext};
use tributary::engine::serde::StringSerde;
use tributary::engine::{KafkaStreams, StreamsState, ThreadFailureResponse};
use tributary::{Consumed, Produced, Record, StreamsBuilder, StreamsConfig, StreamsError};

/// Forwards every record, except that it fails on the first `boom` it sees.
struct FailsOnce(Arc<AtomicBool>);

impl Processor<String, String, String, String> for FailsOnce {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> Result<(), StreamsError> {
        if record.value == "boom" && !self.0.swap(true, Ordering::AcqRel) {
            return Err(StreamsError::processor(
                "fails-once",
                "the first boom fails",
            ));
        }
        ctx.forward(record)
    }
}

/// Topics, input `a`, `boom`, `c`, and an instance of the failing topology.
fn setup() -> (StreamsConfig, KafkaStreams, String, tempfile::TempDir) {
    let app = support::unique("fails");
    let (config, state) = support::streams_config(&app, &[("commit.interval.ms", "200")]);
    let (input, out) = (format!("{app}-in"), format!("{app}-out"));
    let admin = TopicAdmin::new(&config).unwrap();
    admin.create_topic(&input, 1, &[]).unwrap();
    admin.create_topic(&out, 1, &[]).unwrap();
    let mut producer = KafkaCollector::new(&config).unwrap();
    for value in ["a", "boom", "c"] {
        producer
            .send(OutgoingRecord {
                topic: &input,
                partition: 0,
                key: Some(value.as_bytes()),
                value: Some(value.as_bytes()),
                timestamp: 0,
                headers: &Vec::new(),
            })
            .unwrap();
    }
    producer.flush().unwrap();

    let failed = Arc::new(AtomicBool::new(false));
    let builder = StreamsBuilder::new();
    builder
        .stream(&input, Consumed::with(StringSerde, StringSerde))
        .process(move || FailsOnce(failed.clone()), &[])
        .to(&out, Produced::with(StringSerde, StringSerde));
    let streams = KafkaStreams::new(builder.build().unwrap(), config.clone());
    (config, streams, out, state)
}

#[test]
fn by_default_a_failed_thread_shuts_the_instance_down() {
    let (_config, mut streams, _out, _state) = setup();
    streams.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while streams.state() != StreamsState::Error {
        assert!(Instant::now() < deadline, "state {:?}", streams.state());
        std::thread::sleep(Duration::from_millis(100));
    }
    let err = streams
        .close(Duration::from_secs(60))
        .unwrap_err()
        .to_string();
    assert!(err.contains("the first boom fails"), "{err}");
    assert_eq!(
        streams.state(),
        StreamsState::Error,
        "a failed instance stays failed"
    );
}

#[test]
fn a_replaced_thread_processes_the_failed_record_again_and_the_rest() {
    let (config, mut streams, out, _state) = setup();
    let failures = Arc::new(AtomicUsize::new(0));
    let seen = failures.clone();
    streams.set_uncaught_error_handler(move |error| {
        assert!(
            error.to_string().contains("the first boom fails"),
            "{error}"
        );
        seen.fetch_add(1, Ordering::AcqRel);
        ThreadFailureResponse::ReplaceThread
    });
    let states = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = states.clone();
    streams.set_state_listener(move |_, new| recorded.lock().unwrap().push(new));
    streams.start().unwrap();

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut values = BTreeSet::new();
    while values.len() < 3 {
        assert!(Instant::now() < deadline, "output so far: {values:?}");
        std::thread::sleep(Duration::from_millis(300));
        let (latest, _) = support::worker::read_topic(&config, &out, 1);
        values = latest
            .into_values()
            .map(|v| String::from_utf8(v).unwrap())
            .collect();
    }
    assert_eq!(
        values,
        ["a", "boom", "c"].map(String::from).into_iter().collect()
    );
    assert_eq!(failures.load(Ordering::Acquire), 1);
    assert_ne!(streams.state(), StreamsState::Error);
    streams.close(Duration::from_secs(60)).unwrap();
    assert!(!states.lock().unwrap().contains(&StreamsState::Error));
}
