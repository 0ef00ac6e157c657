//! Kafka Streams' own join cases, record by record: the inputs of its join integration
//! tests (in order, out of order, null keys and values, tombstones) with the results —
//! values, keys and timestamps — it expects after each input, for stream-stream,
//! stream-table and table-table joins of every kind, with the record cache on and off.
//! The DSL guide's semantics tables are the in-order part of these inputs.

use std::time::Duration;

use tributary::engine::dsl::{Joined, StreamJoined};
use tributary::engine::serde::{I64Serde, StringSerde, nullable};
use tributary::engine::{JoinWindows, Topology};
use tributary::{
    Consumed, KStream, KTable, Materialized, Produced, StreamsBuilder, StreamsConfig,
    TopologyTestDriver,
};

/// The key every input record has unless it is null.
const KEY: Option<i64> = Some(0);

#[derive(Clone, Copy, Debug)]
enum Topic {
    Left,
    Right,
}

use Topic::{Left, Right};

/// An input record: topic, key, value (`None`: null) and timestamp.
type Input = (Topic, Option<i64>, Option<&'static str>, i64);

/// An expected result: key, value (`None`: a tombstone) and timestamp.
type Expect = (Option<i64>, Option<&'static str>, i64);

/// Kafka Streams' join test input, out-of-order records included.
const INPUT: [Input; 23] = [
    (Left, KEY, None, 1),
    (Right, KEY, None, 2),
    (Left, KEY, Some("A"), 3),
    (Right, KEY, Some("a"), 4),
    (Left, KEY, Some("B"), 5),
    (Right, KEY, Some("b"), 6),
    (Left, KEY, None, 7),
    (Right, KEY, None, 8),
    (Left, KEY, Some("C"), 9),
    (Right, KEY, Some("c"), 10),
    (Right, KEY, None, 11),
    (Left, KEY, None, 12),
    (Right, KEY, None, 13),
    (Right, KEY, Some("d"), 7),
    (Left, KEY, Some("D"), 6),
    (Left, KEY, None, 2),
    (Right, KEY, None, 3),
    (Right, KEY, Some("e"), 14),
    (Left, KEY, Some("E"), 15),
    (Left, KEY, None, 10),
    (Right, KEY, None, 9),
    (Left, KEY, Some("F"), 4),
    (Right, KEY, Some("f"), 3),
];

/// The in-order input (the DSL guide's tables), ending with two keyless records.
const IN_ORDER: [Input; 17] = [
    (Left, KEY, None, 1),
    (Right, KEY, None, 2),
    (Left, KEY, Some("A"), 3),
    (Right, KEY, Some("a"), 4),
    (Left, KEY, Some("B"), 5),
    (Right, KEY, Some("b"), 6),
    (Left, KEY, None, 7),
    (Right, KEY, None, 8),
    (Left, KEY, Some("C"), 9),
    (Right, KEY, Some("c"), 10),
    (Right, KEY, None, 11),
    (Left, KEY, None, 12),
    (Right, KEY, None, 13),
    (Right, KEY, Some("d"), 14),
    (Left, KEY, Some("D"), 15),
    (Left, None, Some("E"), 16),
    (Right, None, Some("e"), 17),
];

/// Timestamps are offsets from this.
const BASE: i64 = 1_700_000_000_000;

fn joined(l: Option<&Option<String>>, r: Option<&Option<String>>) -> String {
    let text = |v: Option<&Option<String>>| v.and_then(|v| v.clone()).unwrap_or("null".into());
    format!("{}-{}", text(l), text(r))
}

fn driver(topology: Topology, cache: bool) -> TopologyTestDriver {
    let mut config = StreamsConfig::new("join-cases");
    if !cache {
        config.cache_max_bytes = 0;
    }
    TopologyTestDriver::new(topology, config).unwrap()
}

/// Pipes `inputs` one by one and checks what `out` holds after each against `expected`
/// (one list per input).
fn check(driver: &TopologyTestDriver, inputs: &[Input], expected: &[Vec<Expect>], case: &str) {
    assert_eq!(
        inputs.len(),
        expected.len(),
        "{case}: one expectation per input"
    );
    let serdes = || (nullable(I64Serde), nullable(StringSerde));
    let (k, v) = serdes();
    let left = driver.input_topic("left", k, v).unwrap();
    let (k, v) = serdes();
    let right = driver.input_topic("right", k, v).unwrap();
    let (k, v) = serdes();
    let out = driver.output_topic("out", k, v);
    for (step, ((topic, key, value, ts), want)) in inputs.iter().zip(expected).enumerate() {
        let topic = match topic {
            Left => &left,
            Right => &right,
        };
        topic
            .pipe(*key, value.map(String::from), BASE + ts)
            .unwrap();
        let got: Vec<(Option<i64>, Option<String>, i64)> = out
            .read_records()
            .unwrap()
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp - BASE))
            .collect();
        let want: Vec<(Option<i64>, Option<String>, i64)> = want
            .iter()
            .map(|(k, v, ts)| (*k, v.map(String::from), *ts))
            .collect();
        assert_eq!(got, want, "{case}: after input {step} {:?}", inputs[step]);
    }
}

type Stream = KStream<Option<i64>, Option<String>>;

fn streams(builder: &StreamsBuilder) -> (Stream, Stream) {
    let consumed = || Consumed::with(nullable(I64Serde), nullable(StringSerde));
    (
        builder.stream("left", consumed()),
        builder.stream("right", consumed()),
    )
}

fn sink(stream: &KStream<Option<i64>, String>) {
    stream.to("out", Produced::with(nullable(I64Serde), StringSerde));
}

fn windows() -> JoinWindows {
    JoinWindows::of_time_difference_and_grace(
        Duration::from_secs(10),
        Duration::from_secs(24 * 3600),
    )
}

/// The results all three stream-stream joins share for [`IN_ORDER`], up to its last two
/// (keyless) records.
fn stream_stream_common() -> Vec<Vec<Expect>> {
    vec![
        vec![],
        vec![],
        vec![],
        vec![(KEY, Some("A-a"), 4)],
        vec![(KEY, Some("B-a"), 5)],
        vec![(KEY, Some("A-b"), 6), (KEY, Some("B-b"), 6)],
        vec![],
        vec![],
        vec![(KEY, Some("C-a"), 9), (KEY, Some("C-b"), 9)],
        vec![
            (KEY, Some("A-c"), 10),
            (KEY, Some("B-c"), 10),
            (KEY, Some("C-c"), 10),
        ],
        vec![],
        vec![],
        vec![],
        vec![
            (KEY, Some("A-d"), 14),
            (KEY, Some("B-d"), 14),
            (KEY, Some("C-d"), 14),
        ],
        vec![
            (KEY, Some("D-a"), 15),
            (KEY, Some("D-b"), 15),
            (KEY, Some("D-c"), 15),
            (KEY, Some("D-d"), 15),
        ],
    ]
}

/// Re-keys a stream without changing its keys, so the join reads it through a
/// repartition topic.
fn rekeyed(stream: &Stream) -> Stream {
    stream.select_key(|k, _| *k)
}

#[test]
fn stream_stream_inner_join() {
    for (cache, repartition) in [(false, false), (true, false), (false, true)] {
        let builder = StreamsBuilder::new();
        let (mut left, mut right) = streams(&builder);
        if repartition {
            (left, right) = (rekeyed(&left), rekeyed(&right));
        }
        let joined = left.join(
            &right,
            |l, r| joined(Some(l), Some(r)),
            windows(),
            StreamJoined::with(
                nullable(I64Serde),
                nullable(StringSerde),
                nullable(StringSerde),
            ),
        );
        sink(&joined);
        let mut expected = stream_stream_common();
        expected.extend([vec![], vec![]]);
        let driver = driver(builder.build().unwrap(), cache);
        check(
            &driver,
            &IN_ORDER,
            &expected,
            &format!("inner, cache {cache}, repartitioned {repartition}"),
        );
        assert_eq!(
            driver.metrics().dropped_null,
            9,
            "null keys and values are skipped and counted"
        );
    }
}

#[test]
fn stream_stream_left_join() {
    for (cache, repartition) in [(false, false), (true, false), (false, true)] {
        let builder = StreamsBuilder::new();
        let (mut left, mut right) = streams(&builder);
        if repartition {
            (left, right) = (rekeyed(&left), rekeyed(&right));
        }
        let joined = left.left_join(
            &right,
            |l, r| joined(Some(l), r),
            windows(),
            StreamJoined::with(
                nullable(I64Serde),
                nullable(StringSerde),
                nullable(StringSerde),
            ),
        );
        sink(&joined);
        let mut expected = stream_stream_common();
        expected.extend([vec![(None, Some("E-null"), 16)], vec![]]);
        check(
            &driver(builder.build().unwrap(), cache),
            &IN_ORDER,
            &expected,
            &format!("left, cache {cache}, repartitioned {repartition}"),
        );
    }
}

#[test]
fn stream_stream_outer_join() {
    for (cache, repartition) in [(false, false), (true, false), (false, true)] {
        let builder = StreamsBuilder::new();
        let (mut left, mut right) = streams(&builder);
        if repartition {
            (left, right) = (rekeyed(&left), rekeyed(&right));
        }
        let joined = left.outer_join(
            &right,
            joined,
            windows(),
            StreamJoined::with(
                nullable(I64Serde),
                nullable(StringSerde),
                nullable(StringSerde),
            ),
        );
        sink(&joined);
        let mut expected = stream_stream_common();
        expected.extend([
            vec![(None, Some("E-null"), 16)],
            vec![(None, Some("null-e"), 17)],
        ]);
        check(
            &driver(builder.build().unwrap(), cache),
            &IN_ORDER,
            &expected,
            &format!("outer, cache {cache}, repartitioned {repartition}"),
        );
    }
}

#[test]
fn a_join_of_a_join_meets_every_combination_in_store_order() {
    let builder = StreamsBuilder::new();
    let (left, right) = streams(&builder);
    let serdes = || {
        StreamJoined::with(
            nullable(I64Serde),
            nullable(StringSerde),
            nullable(StringSerde),
        )
    };
    let first = left
        .join(&right, |l, r| joined(Some(l), Some(r)), windows(), serdes())
        .map_values(Some);
    let second = first.join(&right, |l, r| joined(Some(l), Some(r)), windows(), serdes());
    sink(&second);
    let e = |v: &'static str, ts| (KEY, Some(v), ts);
    let expected: Vec<Vec<Expect>> = vec![
        vec![],
        vec![],
        vec![],
        vec![e("A-a-a", 4)],
        vec![e("B-a-a", 5)],
        vec![
            e("A-b-a", 6),
            e("B-b-a", 6),
            e("A-a-b", 6),
            e("B-a-b", 6),
            e("A-b-b", 6),
            e("B-b-b", 6),
        ],
        vec![],
        vec![],
        vec![e("C-a-a", 9), e("C-a-b", 9), e("C-b-a", 9), e("C-b-b", 9)],
        vec![
            e("A-c-a", 10),
            e("A-c-b", 10),
            e("B-c-a", 10),
            e("B-c-b", 10),
            e("C-c-a", 10),
            e("C-c-b", 10),
            e("A-a-c", 10),
            e("B-a-c", 10),
            e("A-b-c", 10),
            e("B-b-c", 10),
            e("C-a-c", 10),
            e("C-b-c", 10),
            e("A-c-c", 10),
            e("B-c-c", 10),
            e("C-c-c", 10),
        ],
        vec![],
        vec![],
        vec![],
        vec![
            e("A-d-a", 14),
            e("A-d-b", 14),
            e("A-d-c", 14),
            e("B-d-a", 14),
            e("B-d-b", 14),
            e("B-d-c", 14),
            e("C-d-a", 14),
            e("C-d-b", 14),
            e("C-d-c", 14),
            e("A-a-d", 14),
            e("B-a-d", 14),
            e("A-b-d", 14),
            e("B-b-d", 14),
            e("C-a-d", 14),
            e("C-b-d", 14),
            e("A-c-d", 14),
            e("B-c-d", 14),
            e("C-c-d", 14),
            e("A-d-d", 14),
            e("B-d-d", 14),
            e("C-d-d", 14),
        ],
        vec![
            e("D-a-a", 15),
            e("D-a-b", 15),
            e("D-a-c", 15),
            e("D-a-d", 15),
            e("D-b-a", 15),
            e("D-b-b", 15),
            e("D-b-c", 15),
            e("D-b-d", 15),
            e("D-c-a", 15),
            e("D-c-b", 15),
            e("D-c-c", 15),
            e("D-c-d", 15),
            e("D-d-a", 15),
            e("D-d-b", 15),
            e("D-d-c", 15),
            e("D-d-d", 15),
        ],
        vec![],
        vec![],
    ];
    check(
        &driver(builder.build().unwrap(), true),
        &IN_ORDER,
        &expected,
        "join of a join",
    );
}

#[test]
fn a_stream_joined_with_itself_meets_its_own_records() {
    let builder = StreamsBuilder::new();
    let (left, _) = streams(&builder);
    let joined = left.join(
        &left,
        |l, r| joined(Some(l), Some(r)),
        windows(),
        StreamJoined::with(
            nullable(I64Serde),
            nullable(StringSerde),
            nullable(StringSerde),
        ),
    );
    sink(&joined);
    let inputs: Vec<Input> = [None, Some("A"), Some("B"), None, Some("C"), None, Some("D")]
        .into_iter()
        .zip(1..)
        .map(|(v, ts)| (Left, KEY, v, ts))
        .collect();
    let e = |v: &'static str, ts| (KEY, Some(v), ts);
    let expected: Vec<Vec<Expect>> = vec![
        vec![],
        vec![e("A-A", 2)],
        vec![e("B-A", 3), e("A-B", 3), e("B-B", 3)],
        vec![],
        vec![
            e("C-A", 5),
            e("C-B", 5),
            e("A-C", 5),
            e("B-C", 5),
            e("C-C", 5),
        ],
        vec![],
        vec![
            e("D-A", 7),
            e("D-B", 7),
            e("D-C", 7),
            e("A-D", 7),
            e("B-D", 7),
            e("C-D", 7),
            e("D-D", 7),
        ],
    ];
    check(
        &driver(builder.build().unwrap(), true),
        &inputs,
        &expected,
        "self join",
    );
}

fn stream_and_table(
    builder: &StreamsBuilder,
    cache: bool,
) -> (Stream, KTable<Option<i64>, String>) {
    let mut table = Materialized::named("right-table").with_logging_disabled();
    if !cache {
        table = table.with_caching_disabled();
    }
    let stream = builder.stream(
        "left",
        Consumed::with(nullable(I64Serde), nullable(StringSerde)),
    );
    let table = builder.table(
        "right",
        Consumed::with(nullable(I64Serde), StringSerde),
        table,
    );
    (stream, table)
}

fn with_row(l: &Option<String>, r: Option<&String>) -> String {
    format!(
        "{}-{}",
        l.as_deref().unwrap_or("null"),
        r.map_or("null", String::as_str)
    )
}

#[test]
fn stream_table_inner_join() {
    for cache in [false, true] {
        let builder = StreamsBuilder::new();
        let (stream, table) = stream_and_table(&builder, cache);
        let joined = stream.join_table(&table, |l, r| with_row(l, Some(r)), Joined::new());
        sink(&joined);
        let b = |v: &'static str, ts| vec![(KEY, Some(v), ts)];
        let expected: Vec<Vec<Expect>> = vec![
            vec![],
            vec![],
            vec![],
            vec![],
            b("B-a", 5),
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            b("D-d", 6),
            vec![],
            vec![],
            vec![],
            b("E-e", 15),
            vec![],
            vec![],
            vec![],
            vec![],
        ];
        check(
            &driver(builder.build().unwrap(), cache),
            &INPUT,
            &expected,
            &format!("stream-table inner, cache {cache}"),
        );
    }
}

#[test]
fn stream_table_left_join() {
    for cache in [false, true] {
        let builder = StreamsBuilder::new();
        let (stream, table) = stream_and_table(&builder, cache);
        let joined = stream.left_join_table(&table, with_row, Joined::new());
        sink(&joined);
        let b = |v: &'static str, ts| vec![(KEY, Some(v), ts)];
        let expected: Vec<Vec<Expect>> = vec![
            vec![],
            vec![],
            b("A-null", 3),
            vec![],
            b("B-a", 5),
            vec![],
            vec![],
            vec![],
            b("C-null", 9),
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            b("D-d", 6),
            vec![],
            vec![],
            vec![],
            b("E-e", 15),
            vec![],
            vec![],
            b("F-null", 4),
            vec![],
        ];
        check(
            &driver(builder.build().unwrap(), cache),
            &INPUT,
            &expected,
            &format!("stream-table left, cache {cache}"),
        );
    }
}

#[test]
fn a_keyless_record_joins_no_row_in_an_inner_join_and_none_in_a_left_join() {
    let builder = StreamsBuilder::new();
    let (stream, table) = {
        let stream = builder.stream("left", Consumed::with(nullable(I64Serde), StringSerde));
        let table = builder.table(
            "right",
            Consumed::with(nullable(I64Serde), StringSerde),
            Materialized::named("rows"),
        );
        (stream, table)
    };
    stream
        .join_table(&table, |l, r| format!("{l}-{r}"), Joined::new())
        .to("inner", Produced::with(nullable(I64Serde), StringSerde));
    stream
        .left_join_table(
            &table,
            |l, r| format!("{l}-{}", r.map_or("null", String::as_str)),
            Joined::new(),
        )
        .to("left-out", Produced::with(nullable(I64Serde), StringSerde));
    let driver = driver(builder.build().unwrap(), true);
    driver
        .input_topic("right", nullable(I64Serde), StringSerde)
        .unwrap()
        .pipe(Some(1), "row".into(), 1)
        .unwrap();
    let left = driver
        .input_topic("left", nullable(I64Serde), StringSerde)
        .unwrap();
    left.pipe(None, "keyless".into(), 2).unwrap();
    left.pipe(Some(1), "keyed".into(), 3).unwrap();
    let inner = driver.output_topic("inner", nullable(I64Serde), StringSerde);
    assert_eq!(
        inner.read_key_values().unwrap(),
        vec![(Some(1), "keyed-row".to_string())]
    );
    let left_out = driver.output_topic("left-out", nullable(I64Serde), StringSerde);
    assert_eq!(
        left_out.read_key_values().unwrap(),
        vec![
            (None, "keyless-null".to_string()),
            (Some(1), "keyed-row".to_string())
        ]
    );
    assert_eq!(
        driver.metrics().dropped_null,
        1,
        "the inner join skips the keyless record; the table skipped none"
    );
}

type Table = KTable<i64, String>;

fn tables(builder: &StreamsBuilder, cache: bool) -> (Table, Table) {
    let materialized = |name: &str| {
        let m = Materialized::named(name).with_logging_disabled();
        if cache { m } else { m.with_caching_disabled() }
    };
    let consumed = || Consumed::with(I64Serde, StringSerde);
    (
        builder.table("left", consumed(), materialized("left-table")),
        builder.table("right", consumed(), materialized("right-table")),
    )
}

/// The join result store: uncached, as in Kafka Streams' cases.
fn result_store() -> Materialized<i64, String> {
    Materialized::named("joined")
        .with_value_serde(StringSerde)
        .with_caching_disabled()
        .with_logging_disabled()
}

fn table_sink(table: &KTable<i64, String>) {
    table.to_stream().map(|k, v| (Some(k), v)).to(
        "out",
        Produced::with(nullable(I64Serde), nullable(StringSerde)),
    );
}

/// With the cache on, only the final row is compared, as Kafka Streams' cases do.
fn check_final(driver: &TopologyTestDriver, case: &str) {
    let (k, v) = (nullable(I64Serde), nullable(StringSerde));
    let left = driver.input_topic("left", k, v).unwrap();
    let (k, v) = (nullable(I64Serde), nullable(StringSerde));
    let right = driver.input_topic("right", k, v).unwrap();
    for (topic, key, value, ts) in INPUT {
        let topic = match topic {
            Left => &left,
            Right => &right,
        };
        topic.pipe(key, value.map(String::from), BASE + ts).unwrap();
    }
    let out = driver.output_topic("out", nullable(I64Serde), nullable(StringSerde));
    let last = out.read_records().unwrap().pop().expect("some output");
    assert_eq!(
        (last.key, last.value, last.timestamp - BASE),
        (KEY, Some("F-f".to_string()), 4),
        "{case}"
    );
    let store = driver.key_value_store::<i64, String>("joined").unwrap();
    assert_eq!(store.all().unwrap(), vec![(0, "F-f".to_string())], "{case}");
}

#[test]
fn table_table_inner_join() {
    for cache in [false, true] {
        let builder = StreamsBuilder::new();
        let (left, right) = tables(&builder, cache);
        table_sink(&left.join(&right, |l, r| format!("{l}-{r}"), result_store()));
        let driver = driver(builder.build().unwrap(), cache);
        if cache {
            check_final(&driver, "table-table inner, cached");
            continue;
        }
        let b = |v: Option<&'static str>, ts| vec![(KEY, v, ts)];
        let expected: Vec<Vec<Expect>> = vec![
            vec![],
            vec![],
            vec![],
            b(Some("A-a"), 4),
            b(Some("B-a"), 5),
            b(Some("B-b"), 6),
            b(None, 7),
            vec![],
            vec![],
            b(Some("C-c"), 10),
            b(None, 11),
            vec![],
            vec![],
            vec![],
            b(Some("D-d"), 7),
            b(None, 7),
            vec![],
            vec![],
            b(Some("E-e"), 15),
            b(None, 14),
            vec![],
            vec![],
            b(Some("F-f"), 4),
        ];
        check(&driver, &INPUT, &expected, "table-table inner");
    }
}

#[test]
fn table_table_left_join() {
    for cache in [false, true] {
        let builder = StreamsBuilder::new();
        let (left, right) = tables(&builder, cache);
        table_sink(&left.left_join(
            &right,
            |l, r| format!("{l}-{}", r.map_or("null", String::as_str)),
            result_store(),
        ));
        let driver = driver(builder.build().unwrap(), cache);
        if cache {
            check_final(&driver, "table-table left, cached");
            continue;
        }
        let b = |v: Option<&'static str>, ts| vec![(KEY, v, ts)];
        let expected: Vec<Vec<Expect>> = vec![
            vec![],
            vec![],
            b(Some("A-null"), 3),
            b(Some("A-a"), 4),
            b(Some("B-a"), 5),
            b(Some("B-b"), 6),
            b(None, 7),
            vec![],
            b(Some("C-null"), 9),
            b(Some("C-c"), 10),
            b(Some("C-null"), 11),
            b(None, 12),
            vec![],
            vec![],
            b(Some("D-d"), 7),
            b(None, 7),
            vec![],
            vec![],
            b(Some("E-e"), 15),
            b(None, 14),
            vec![],
            b(Some("F-null"), 4),
            b(Some("F-f"), 4),
        ];
        check(&driver, &INPUT, &expected, "table-table left");
    }
}

#[test]
fn table_table_outer_join() {
    for cache in [false, true] {
        let builder = StreamsBuilder::new();
        let (left, right) = tables(&builder, cache);
        table_sink(&left.outer_join(
            &right,
            |l, r| {
                format!(
                    "{}-{}",
                    l.map_or("null", String::as_str),
                    r.map_or("null", String::as_str)
                )
            },
            result_store(),
        ));
        let driver = driver(builder.build().unwrap(), cache);
        if cache {
            check_final(&driver, "table-table outer, cached");
            continue;
        }
        let b = |v: Option<&'static str>, ts| vec![(KEY, v, ts)];
        let expected: Vec<Vec<Expect>> = vec![
            vec![],
            vec![],
            b(Some("A-null"), 3),
            b(Some("A-a"), 4),
            b(Some("B-a"), 5),
            b(Some("B-b"), 6),
            b(Some("null-b"), 7),
            b(None, 8),
            b(Some("C-null"), 9),
            b(Some("C-c"), 10),
            b(Some("C-null"), 11),
            b(None, 12),
            vec![],
            b(Some("null-d"), 7),
            b(Some("D-d"), 7),
            b(Some("null-d"), 7),
            b(None, 3),
            b(Some("null-e"), 14),
            b(Some("E-e"), 15),
            b(Some("null-e"), 14),
            b(None, 9),
            b(Some("F-null"), 4),
            b(Some("F-f"), 4),
        ];
        check(&driver, &INPUT, &expected, "table-table outer");
    }
}
