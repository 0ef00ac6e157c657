//! Every join kind over random out-of-order input on three partitions, checked record by
//! record (keys, values, timestamps) against a brute-force reference of Kafka Streams'
//! rules computed here with plain lists:
//!
//! - stream-stream: a record joins the other side's records of its key within its window
//!   that the other side still keeps (retention: before + after + grace past the latest
//!   time that side has written), stamped with the later time; left and outer joins hold a
//!   record without a partner until stream time (shared by both sides of a task, null
//!   values included) passes its time + the other side's reach + grace, then emit it — at
//!   once when that has already happened; records older than the retention are not kept
//!   (counted as late);
//! - stream-table: a stream record meets the table's current row of its key;
//! - table-table: each update of one side gives the key's new result from both current
//!   rows, stamped with the later time, or nothing when the join has no result either way.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::reference::{Caching, Out, assert_same, expected, wandering_times};
use tributary::engine::dsl::{Joined, StreamJoined};
use tributary::engine::partitioner::partition_for;
use tributary::engine::serde::{StringSerde, nullable};
use tributary::engine::{JoinWindows, TopologyTestDriver};
use tributary::{Consumed, KStream, Materialized, Produced, StreamsBuilder, StreamsConfig};

const PARTITIONS: i32 = 3;
const KEYS: [&str; 5] = ["a", "b", "c", "d", "e"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Inner,
    Left,
    Outer,
}

/// A random input record: whether it goes to the left input, key, value (`None`: null),
/// time.
#[derive(Clone, Debug)]
struct Event {
    left: bool,
    key: String,
    value: Option<i64>,
    ts: i64,
}

fn events(seed: u64, n: usize, late_by: i64, nulls: f64) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    wandering_times(seed, n, &KEYS, 3, 8, late_by)
        .into_iter()
        .enumerate()
        .map(|(i, (key, ts))| Event {
            left: rng.random_bool(0.5),
            key,
            value: (!rng.random_bool(nulls)).then_some(i as i64),
            ts,
        })
        .collect()
}

fn partition(key: &str) -> i32 {
    partition_for(key.as_bytes(), PARTITIONS)
}

fn text(prefix: &str, value: Option<i64>) -> String {
    value.map_or("null".into(), |v| format!("{prefix}{v}"))
}

fn result(l: Option<i64>, r: Option<i64>) -> String {
    format!("{}+{}", text("L", l), text("R", r))
}

/// One task of the stream-stream reference.
#[derive(Default)]
struct JoinTask {
    stream_time: Option<i64>,
    /// Each side's kept records: key, time, value, in arrival order.
    kept: [Vec<(String, i64, i64)>; 2],
    observed: [Option<i64>; 2],
    /// Records waiting for a partner: time, side (right 0, left 1), key, arrival, value.
    waiting: Vec<(i64, u8, String, usize, i64)>,
}

struct StreamReference {
    per_input: Vec<Vec<Out<String, String>>>,
    late: u64,
    nulls: u64,
}

fn stream_stream_reference(kind: Kind, w: &JoinWindows, events: &[Event]) -> StreamReference {
    let (before, after, grace) = (w.before_ms(), w.after_ms(), w.grace_ms());
    let retention = before + after + grace;
    let mut tasks: BTreeMap<i32, JoinTask> = BTreeMap::new();
    let mut out = StreamReference {
        per_input: Vec::new(),
        late: 0,
        nulls: 0,
    };
    for (arrival, e) in events.iter().enumerate() {
        let task = tasks.entry(partition(&e.key)).or_default();
        let mut results = Vec::new();
        let st = task.stream_time.map_or(e.ts, |t| t.max(e.ts));
        task.stream_time = Some(st);
        let Some(value) = e.value else {
            out.nulls += 1;
            out.per_input.push(results);
            continue;
        };
        let (this, other) = if e.left { (1, 0) } else { (0, 1) };
        let keeps_this = match kind {
            Kind::Inner => false,
            Kind::Left => e.left,
            Kind::Outer => true,
        };
        let waits = kind != Kind::Inner;
        // Waiting records whose windows have closed.
        if waits && e.ts == st {
            let mut waiting = std::mem::take(&mut task.waiting);
            waiting.sort_by(|a, b| (a.0, a.1, &a.2, a.3).cmp(&(b.0, b.1, &b.2, b.3)));
            for entry in waiting {
                let reach = if entry.1 == 1 { after } else { before };
                if entry.0 + reach + grace < st {
                    let (l, r) = if entry.1 == 1 {
                        (Some(entry.4), None)
                    } else {
                        (None, Some(entry.4))
                    };
                    results.push((entry.2.clone(), Some(result(l, r)), entry.0));
                } else {
                    task.waiting.push(entry);
                }
            }
        }
        let (back, ahead) = if e.left {
            (before, after)
        } else {
            (after, before)
        };
        let from = (e.ts - back)
            .max(0)
            .max(task.observed[other].map_or(i64::MIN, |o| o - retention + 1));
        let to = (e.ts + ahead).max(0);
        let mut partners: Vec<(i64, usize, i64)> = task.kept[other]
            .iter()
            .enumerate()
            .filter(|(_, (k, ts, _))| *k == e.key && (from..=to).contains(ts))
            .map(|(i, (_, ts, v))| (*ts, i, *v))
            .collect();
        partners.sort();
        for (ts, _, v) in &partners {
            task.waiting
                .retain(|w| !(w.0 == *ts && w.1 == other as u8 && w.2 == e.key));
            let (l, r) = if e.left { (value, *v) } else { (*v, value) };
            results.push((e.key.clone(), Some(result(Some(l), Some(r))), e.ts.max(*ts)));
        }
        if partners.is_empty() && keeps_this {
            if to < st {
                let (l, r) = if e.left {
                    (Some(value), None)
                } else {
                    (None, Some(value))
                };
                results.push((e.key.clone(), Some(result(l, r)), e.ts));
            } else {
                task.waiting
                    .push((e.ts, this as u8, e.key.clone(), arrival, value));
            }
        }
        let observed = task.observed[this].map_or(e.ts, |o| o.max(e.ts));
        if e.ts > observed - retention {
            task.kept[this].push((e.key.clone(), e.ts, value));
        } else {
            out.late += 1;
        }
        task.observed[this] = Some(observed);
        out.per_input.push(results);
    }
    out
}

fn driver_for(builder: StreamsBuilder, cache: bool) -> TopologyTestDriver {
    let mut config = StreamsConfig::new("join-reference");
    if !cache {
        config.cache_max_bytes = 0;
    }
    TopologyTestDriver::builder(builder.build().unwrap(), config)
        .partitions("left", PARTITIONS)
        .partitions("right", PARTITIONS)
        .build()
        .unwrap()
}

/// The driver's topics of a join under test.
struct Topics {
    left: tributary::engine::driver::TestInputTopic<String, Option<String>>,
    right: tributary::engine::driver::TestInputTopic<String, Option<String>>,
    out: tributary::engine::driver::TestOutputTopic<String, Option<String>>,
}

impl Topics {
    fn of(driver: &TopologyTestDriver) -> Self {
        Self {
            left: driver
                .input_topic("left", StringSerde, nullable(StringSerde))
                .unwrap(),
            right: driver
                .input_topic("right", StringSerde, nullable(StringSerde))
                .unwrap(),
            out: driver.output_topic("out", StringSerde, nullable(StringSerde)),
        }
    }

    /// Pipes `events` into `left` and `right` (values `L<i>` / `R<i>`); returns what `out`
    /// received after each.
    fn pipe_all(&self, events: &[Event]) -> Vec<Vec<Out<String, String>>> {
        events
            .iter()
            .map(|e| {
                let (topic, prefix) = if e.left {
                    (&self.left, "L")
                } else {
                    (&self.right, "R")
                };
                let value = e.value.map(|v| format!("{prefix}{v}"));
                topic.pipe(e.key.clone(), value, e.ts).unwrap();
                self.read()
            })
            .collect()
    }

    fn read(&self) -> Vec<Out<String, String>> {
        self.out
            .read_records()
            .unwrap()
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect()
    }
}

fn join_text(l: Option<&Option<String>>, r: Option<&Option<String>>) -> String {
    let side = |v: Option<&Option<String>>| v.and_then(Option::clone).unwrap_or("null".into());
    format!("{}+{}", side(l), side(r))
}

#[test]
fn stream_stream_joins_match_the_reference() {
    let windows = [
        JoinWindows::of_time_difference_and_grace(
            Duration::from_millis(10),
            Duration::from_millis(5),
        ),
        JoinWindows::of_time_difference_with_no_grace(Duration::from_millis(15))
            .before(Duration::ZERO),
        JoinWindows::of_time_difference_and_grace(
            Duration::from_millis(20),
            Duration::from_millis(3),
        )
        .after(Duration::from_millis(4)),
    ];
    let (mut late, mut unmatched) = (0, 0);
    for kind in [Kind::Inner, Kind::Left, Kind::Outer] {
        for (w, windows) in windows.iter().enumerate() {
            for seed in 0..3u64 {
                let events = events(seed * 31 + w as u64, 400, 30, 0.05);
                let reference = stream_stream_reference(kind, windows, &events);
                let builder = StreamsBuilder::new();
                let consumed = || Consumed::with(StringSerde, nullable(StringSerde));
                let left = builder.stream("left", consumed());
                let right = builder.stream("right", consumed());
                let serdes =
                    StreamJoined::with(StringSerde, nullable(StringSerde), nullable(StringSerde))
                        .in_memory();
                let joined: KStream<String, String> = match kind {
                    Kind::Inner => {
                        left.join(&right, |l, r| join_text(Some(l), Some(r)), *windows, serdes)
                    }
                    Kind::Left => {
                        left.left_join(&right, |l, r| join_text(Some(l), r), *windows, serdes)
                    }
                    Kind::Outer => left.outer_join(&right, join_text, *windows, serdes),
                };
                joined
                    .map_values(Some)
                    .to("out", Produced::with(StringSerde, nullable(StringSerde)));
                let driver = driver_for(builder, true);
                let got = Topics::of(&driver).pipe_all(&events).concat();
                let context = format!("{kind:?} join, windows {windows:?}, seed {seed}");
                assert_same(&got, &reference.per_input.concat(), &context);
                let metrics = driver.metrics();
                assert_eq!(
                    metrics.dropped_late, reference.late,
                    "{context}: late records"
                );
                assert_eq!(
                    metrics.dropped_null, reference.nulls,
                    "{context}: null values"
                );
                late += reference.late;
                unmatched += got
                    .iter()
                    .filter(|(_, v, _)| v.as_ref().is_some_and(|v| v.contains("null")))
                    .count();
            }
        }
    }
    assert!(late > 0, "the input has records beyond retention");
    assert!(
        unmatched > 0,
        "left and outer joins emitted records without partners"
    );
}

#[test]
fn stream_table_joins_match_the_reference() {
    for kind in [Kind::Inner, Kind::Left] {
        for cache in [false, true] {
            for seed in 0..3u64 {
                // Left events are stream records, right ones table updates (`None`: a delete).
                let events = events(seed + 100, 400, 30, 0.1);
                let mut table: BTreeMap<String, i64> = BTreeMap::new();
                let mut want: Vec<Out<String, String>> = Vec::new();
                for e in &events {
                    match (e.left, e.value) {
                        (false, Some(v)) => {
                            table.insert(e.key.clone(), v);
                        }
                        (false, None) => {
                            table.remove(&e.key);
                        }
                        (true, None) => {}
                        (true, Some(v)) => {
                            let row = table.get(&e.key).copied();
                            if row.is_some() || kind == Kind::Left {
                                want.push((e.key.clone(), Some(result(Some(v), row)), e.ts));
                            }
                        }
                    }
                }
                let builder = StreamsBuilder::new();
                let stream =
                    builder.stream("left", Consumed::with(StringSerde, nullable(StringSerde)));
                let mut rows = Materialized::named("rows").in_memory();
                if !cache {
                    rows = rows.with_caching_disabled();
                }
                let table = builder.table("right", Consumed::with(StringSerde, StringSerde), rows);
                let row = |r: Option<&String>| r.map(|r| Some(r.clone()));
                let joined = match kind {
                    Kind::Inner => stream.join_table(
                        &table,
                        move |l, r| join_text(Some(l), row(Some(r)).as_ref()),
                        Joined::new(),
                    ),
                    _ => stream.left_join_table(
                        &table,
                        move |l, r| join_text(Some(l), row(r).as_ref()),
                        Joined::new(),
                    ),
                };
                joined
                    .map_values(Some)
                    .to("out", Produced::with(StringSerde, nullable(StringSerde)));
                let driver = driver_for(builder, cache);
                let got = Topics::of(&driver).pipe_all(&events).concat();
                assert_same(
                    &got,
                    &want,
                    &format!("{kind:?} stream-table join, cache {cache}, seed {seed}"),
                );
            }
        }
    }
}

/// The table-table reference: the results each update forwards (without a cache).
fn table_table_reference(kind: Kind, events: &[Event]) -> Vec<Vec<Out<String, String>>> {
    // Each side's rows: key → (value, time).
    let mut rows: [BTreeMap<String, (i64, i64)>; 2] = [BTreeMap::new(), BTreeMap::new()];
    events
        .iter()
        .map(|e| {
            let (this, other) = if e.left { (1, 0) } else { (0, 1) };
            let old = match e.value {
                Some(v) => rows[this].insert(e.key.clone(), (v, e.ts)),
                None => rows[this].remove(&e.key),
            };
            let other_row = rows[other].get(&e.key).copied();
            let other_required = match kind {
                Kind::Inner => true,
                // A left join's result needs the left row, not the right one.
                Kind::Left => !e.left,
                Kind::Outer => false,
            };
            if other_row.is_none() && (other_required || (e.value.is_none() && old.is_none())) {
                return Vec::new();
            }
            let ts = other_row.map_or(e.ts, |(_, t)| t.max(e.ts));
            let (l, r) = if e.left {
                (e.value, other_row.map(|o| o.0))
            } else {
                (other_row.map(|o| o.0), e.value)
            };
            let exists = match kind {
                Kind::Inner => l.is_some() && r.is_some(),
                Kind::Left => l.is_some(),
                Kind::Outer => l.is_some() || r.is_some(),
            };
            vec![(e.key.clone(), exists.then(|| result(l, r)), ts)]
        })
        .collect()
}

#[test]
fn table_table_joins_match_the_reference() {
    for kind in [Kind::Inner, Kind::Left, Kind::Outer] {
        for caching in Caching::ALL {
            for seed in 0..3u64 {
                let events = events(seed + 200, 300, 30, 0.25);
                let want = expected(caching, &table_table_reference(kind, &events));
                let builder = StreamsBuilder::new();
                let consumed = || Consumed::with(StringSerde, StringSerde);
                let source = |name: &str| {
                    Materialized::named(name)
                        .with_caching_disabled()
                        .in_memory()
                };
                let left = builder.table("left", consumed(), source("left-rows"));
                let right = builder.table("right", consumed(), source("right-rows"));
                let mut store = Materialized::named("joined")
                    .with_value_serde(StringSerde)
                    .in_memory();
                if caching == Caching::Off {
                    store = store.with_caching_disabled();
                }
                let some = |v: Option<&String>| v.map(|v| Some(v.clone()));
                let joined = match kind {
                    Kind::Inner => left.join(
                        &right,
                        move |l, r| join_text(some(Some(l)).as_ref(), some(Some(r)).as_ref()),
                        store,
                    ),
                    Kind::Left => left.left_join(
                        &right,
                        move |l, r| join_text(some(Some(l)).as_ref(), some(r).as_ref()),
                        store,
                    ),
                    Kind::Outer => left.outer_join(
                        &right,
                        move |l, r| join_text(some(l).as_ref(), some(r).as_ref()),
                        store,
                    ),
                };
                joined
                    .to_stream()
                    .to("out", Produced::with(StringSerde, nullable(StringSerde)));
                let mut config = StreamsConfig::new("join-reference");
                if caching == Caching::Off {
                    config.cache_max_bytes = 0;
                }
                let driver = TopologyTestDriver::builder(builder.build().unwrap(), config)
                    .partitions("left", PARTITIONS)
                    .partitions("right", PARTITIONS)
                    .commit_after_each_input(!matches!(caching, Caching::CommitEvery(_)))
                    .build()
                    .unwrap();
                let topics = Topics::of(&driver);
                let mut got = Vec::new();
                for range in caching.intervals(events.len()) {
                    got.extend(topics.pipe_all(&events[range]).concat());
                    driver.commit().unwrap();
                    got.extend(topics.read());
                }
                let context = format!("{kind:?} table-table join, {caching:?}, seed {seed}");
                // Across partitions, a commit flushes task by task: compare per key.
                let by_key = |list: &[Out<String, String>]| {
                    let mut map: BTreeMap<String, Vec<Out<String, String>>> = BTreeMap::new();
                    for out in list {
                        map.entry(out.0.clone()).or_default().push(out.clone());
                    }
                    map
                };
                let (got, want) = (by_key(&got), by_key(&want));
                let keys: BTreeSet<&String> = got.keys().chain(want.keys()).collect();
                for key in keys {
                    let none = Vec::new();
                    assert_same(
                        got.get(key).unwrap_or(&none),
                        want.get(key).unwrap_or(&none),
                        &format!("{context}, key {key}"),
                    );
                }
                let store = driver.key_value_store::<String, String>("joined").unwrap();
                let mut final_rows = BTreeMap::new();
                for outs in table_table_reference(kind, &events) {
                    for (k, v, _) in outs {
                        match v {
                            Some(v) => final_rows.insert(k, v),
                            None => final_rows.remove(&k),
                        };
                    }
                }
                assert_eq!(
                    store.all().unwrap().into_iter().collect::<BTreeMap<_, _>>(),
                    final_rows,
                    "{context}: the joined table"
                );
            }
        }
    }
}
