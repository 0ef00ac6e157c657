//! Records whose processing fails (`processing.exception.handler`, KIP-1033): a fallible
//! DSL function's error and a panic in a user function are reported with the record's
//! coordinates and stop the task by default; with `log_and_continue` the record is
//! skipped and counted and every other record is processed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tributary::engine::serde::{I64Serde, StringSerde, nullable};

use tributary::engine::internals::{MemoryLog, StreamTask, TaskOptions};
use tributary::engine::{
    ErrorContext, ProcessingExceptionHandler, ProcessingResponse, RawRecord, TaskId,
};
use tributary::{
    Consumed, Grouped, Materialized, Produced, StreamsBuilder, StreamsConfig, StreamsError,
    Topology, TopologyTestDriver,
};

/// Parses each value as a number (fallibly), drops negative ones with a fallible filter,
/// panics on 13, and sums the numbers per key.
fn driver(handler: Option<&str>) -> TopologyTestDriver {
    driver_with(handler, &[])
}

fn driver_with(handler: Option<&str>, settings: &[(&str, &str)]) -> TopologyTestDriver {
    let mut config = StreamsConfig::new("processing-errors");
    if let Some(handler) = handler {
        config.set("processing.exception.handler", handler).unwrap();
    }
    for (key, value) in settings {
        config.set(key, value).unwrap();
    }
    TopologyTestDriver::new(topology(), config).unwrap()
}

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("numbers", Consumed::with(StringSerde, StringSerde))
        .try_map_values(|v| v.trim().parse::<i64>())
        .try_filter(|_, n| match *n {
            n if n < -1000 => Err(std::io::Error::other(format!("{n} is out of range"))),
            n => Ok(n >= 0),
        })
        .map_values(|n| {
            assert_ne!(n, 13, "unlucky number");
            n
        })
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .reduce(|a, b| a + b, Materialized::named("sums"))
        .to_stream()
        .to("sums", Produced::with(StringSerde, nullable(I64Serde)));
    builder.build().unwrap()
}

fn values(records: Vec<(String, Option<i64>)>) -> Vec<i64> {
    records.into_iter().filter_map(|(_, v)| v).collect()
}

fn failure(driver: &TopologyTestDriver, value: &str, offset_before: usize) -> String {
    let input = driver
        .input_topic("numbers", StringSerde, StringSerde)
        .unwrap();
    for i in 0..offset_before {
        input.pipe("k".into(), "1".into(), i as i64).unwrap();
    }
    let err = input
        .pipe("k".into(), value.into(), offset_before as i64)
        .unwrap_err();
    assert!(
        matches!(err, StreamsError::ProcessingFailed { .. }),
        "a processing failure: {err}"
    );
    err.to_string()
}

#[test]
fn by_default_a_failed_record_stops_the_task_naming_the_record_and_the_node() {
    let err = failure(&driver(None), "seven", 2);
    assert!(
        err.contains("record at topic `numbers` partition 0 offset 2"),
        "{err}"
    );
    assert!(
        err.contains("try-map-values") && err.contains("invalid digit"),
        "{err}"
    );
    assert!(
        err.contains("processing.exception.handler = log_and_continue"),
        "{err}"
    );

    let err = failure(&driver(None), "-5000", 0);
    assert!(
        err.contains("try-filter") && err.contains("-5000 is out of range"),
        "{err}"
    );
}

#[test]
fn a_panic_in_a_user_function_is_a_processing_error_not_a_dead_thread() {
    let driver = driver(None);
    let err = failure(&driver, "13", 1);
    assert!(
        err.contains("offset 1") && err.contains("panicked") && err.contains("unlucky number"),
        "{err}"
    );
    // The task is still usable: the next record is processed.
    driver
        .input_topic("numbers", StringSerde, StringSerde)
        .unwrap()
        .pipe("k".into(), "4".into(), 2)
        .unwrap();
    let out = driver.output_topic("sums", StringSerde, nullable(I64Serde));
    assert_eq!(
        values(out.read_key_values().unwrap()),
        vec![1, 5],
        "1, then 1 + 4: the failed record changed nothing"
    );
}

#[test]
fn log_and_continue_skips_and_counts_failed_records_and_processes_the_rest() {
    let driver = driver(Some("log_and_continue"));
    let input = driver
        .input_topic("numbers", StringSerde, StringSerde)
        .unwrap();
    let inputs = ["1", "seven", "2", "13", "-5000", "-3", "4"];
    for (i, value) in inputs.iter().enumerate() {
        input.pipe("k".into(), (*value).into(), i as i64).unwrap();
    }
    let out = driver.output_topic("sums", StringSerde, nullable(I64Serde));
    assert_eq!(values(out.read_key_values().unwrap()), vec![1, 3, 7]);
    let metrics = driver.metrics();
    assert_eq!(
        metrics.skipped_processing, 3,
        "`seven`, 13 and -5000 are skipped; -3 is filtered out"
    );
    assert_eq!(metrics.processed, inputs.len() as u64);
}

#[test]
fn an_unknown_processing_handler_is_refused_with_the_choices() {
    let err = StreamsConfig::new("app")
        .set("processing.exception.handler", "ignore")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("processing.exception.handler")
            && err.contains("`fail` or `log_and_continue`"),
        "{err}"
    );
}

#[test]
fn with_a_dead_letter_topic_a_skipped_record_is_kept_there_with_its_error() {
    let driver = driver_with(
        Some("log_and_continue"),
        &[("errors.dead.letter.queue.topic.name", "dead-letters")],
    );
    let input = driver
        .input_topic("numbers", StringSerde, StringSerde)
        .unwrap();
    input.pipe("k".into(), "1".into(), 0).unwrap();
    input.pipe("k".into(), "seven".into(), 1).unwrap();
    let dead = driver.raw_records("dead-letters");
    assert_eq!(dead.len(), 1, "one dead letter");
    let (_, record) = &dead[0];
    assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(record.value.as_deref(), Some(&b"seven"[..]));
    let header = |name: &str| {
        record
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
            .map(|v| String::from_utf8(v).unwrap())
            .unwrap_or_default()
    };
    assert_eq!(header("__streams.errors.offset"), "1");
    assert_eq!(header("__streams.errors.topic"), "numbers");
    assert!(header("__streams.errors.exception").ends_with("ProcessingFailed"));
    assert!(header("__streams.errors.message").contains("invalid digit"));
    assert_eq!(driver.metrics().dead_lettered, 1);
}

#[test]
fn a_handler_in_rust_sees_where_the_record_came_from_and_decides() {
    let topology = topology();
    let partitions = topology
        .resolve_partitions(
            "handler",
            &HashMap::from([("numbers".to_owned(), 1), ("sums".to_owned(), 1)]),
        )
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    // Skips what the parser refuses; stops on anything else.
    let handler: ProcessingExceptionHandler =
        Arc::new(move |cx: &ErrorContext<'_>, error: &StreamsError| {
            let header = cx.headers.first().map(|(k, _)| k.clone());
            let entry = (
                cx.offset,
                cx.processor.to_owned(),
                header,
                error.to_string(),
            );
            log.lock().unwrap().push(entry);
            match cx.processor.contains("try-map-values") {
                true => ProcessingResponse::Continue,
                false => ProcessingResponse::Fail,
            }
        });
    let dir = tempfile::tempdir().unwrap();
    let options = TaskOptions::from_config(&StreamsConfig::new("handler"), &topology, partitions)
        .with_state_dir(dir.path().to_owned())
        .with_processing_handler(handler);
    let output = MemoryLog::default();
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };
    let mut task = StreamTask::new(&topology, id, &options, Box::new(output.clone())).unwrap();
    task.initialize(&mut output.clone(), 0).unwrap();
    let record = |offset: i64, value: &str| RawRecord {
        offset,
        timestamp: offset,
        key: Some(b"k".to_vec()),
        value: Some(value.as_bytes().to_vec()),
        headers: vec![("trace".to_owned(), None)],
    };
    task.add_records(
        "numbers",
        [
            record(0, "1"),
            record(1, "seven"),
            record(2, "13"),
            record(3, "2"),
        ],
    );
    let err = task.process(usize::MAX).unwrap_err().to_string();
    assert!(err.contains("offset 2") && err.contains("unlucky"), "{err}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (offset, processor, header, message) = &seen[0];
    assert_eq!((*offset, header.as_deref()), (1, Some("trace")));
    assert!(processor.contains("try-map-values"), "{processor}");
    assert!(message.contains("invalid digit"), "{message}");
    let (offset, processor, _, message) = &seen[1];
    assert_eq!((*offset, processor.as_str()), (2, "a user function"));
    assert!(message.contains("panicked"), "{message}");
    assert_eq!(
        task.metrics().skipped_processing,
        1,
        "the record it skipped"
    );
}

/// Writes strings, but refuses to serialize `"bad"`.
struct RefusesBad;

impl tributary::engine::serde::Serde<String> for RefusesBad {
    fn serialize(
        &self,
        value: &String,
        out: &mut Vec<u8>,
    ) -> Result<(), tributary::engine::serde::SerdeError> {
        if value == "bad" {
            return Err(tributary::engine::serde::SerdeError::new(
                "picky",
                "refuses bad",
            ));
        }
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<String, tributary::engine::serde::SerdeError> {
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn format(&self) -> tributary::engine::serde::Format {
        tributary::engine::serde::Format::String
    }
}

#[test]
fn a_record_whose_output_is_dropped_and_whose_processing_fails_is_dead_lettered_once() {
    // Each record is written to `copies` (which refuses "bad"), then parsed as a number.
    let builder = StreamsBuilder::new();
    let input = builder.stream("in", Consumed::with(StringSerde, StringSerde));
    input.to("copies", Produced::with(StringSerde, RefusesBad));
    input
        .try_map_values(|v| v.parse::<i64>())
        .to("numbers", Produced::with(StringSerde, I64Serde));
    let mut config = StreamsConfig::new("processing-errors");
    for (key, value) in [
        ("processing.exception.handler", "log_and_continue"),
        ("production.exception.handler", "continue"),
        ("errors.dead.letter.queue.topic.name", "dead-letters"),
    ] {
        config.set(key, value).unwrap();
    }
    let driver = TopologyTestDriver::new(builder.build().unwrap(), config).unwrap();
    let pipe = driver.input_topic("in", StringSerde, StringSerde).unwrap();
    pipe.pipe("a".into(), "bad".into(), 0).unwrap(); // dropped by `copies`, then fails
    pipe.pipe("b".into(), "7".into(), 1).unwrap();
    let dead = driver.raw_records("dead-letters");
    assert_eq!(dead.len(), 1, "one dead letter for the one bad record");
    let header = |name: &str| {
        dead[0]
            .1
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
            .map(|v| String::from_utf8(v).unwrap())
    };
    assert_eq!(
        header("__streams.errors.exception").as_deref(),
        Some("tributary::StreamsError::ProcessingFailed"),
        "the dead letter names the failure"
    );
    let metrics = driver.metrics();
    assert_eq!(
        (
            metrics.skipped_production,
            metrics.skipped_processing,
            metrics.dead_lettered
        ),
        (1, 1, 1)
    );
}

#[test]
fn an_output_value_that_does_not_serialize_stops_the_task_naming_its_topic() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .to("copies", Produced::with(StringSerde, RefusesBad));
    let driver = TopologyTestDriver::new(
        builder.build().unwrap(),
        StreamsConfig::new("processing-errors"),
    )
    .unwrap();
    let pipe = driver.input_topic("in", StringSerde, StringSerde).unwrap();
    pipe.pipe("a".into(), "good".into(), 0).unwrap();
    let err = pipe
        .pipe("b".into(), "bad".into(), 1)
        .expect_err("the sink refuses the value")
        .to_string();
    assert!(
        err.contains("topic `copies`") && err.contains("refuses bad"),
        "the error names the topic and the serializer's reason: {err}"
    );
    assert_eq!(
        driver.raw_records("copies").len(),
        1,
        "the good record went out"
    );
}
