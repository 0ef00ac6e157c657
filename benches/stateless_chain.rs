//! A three-operator stateless chain (filter → map_values → map) run through a stream task,
//! against the same closures, serdes and partitioner called by hand in a loop.

mod common;

use criterion::{Criterion, Throughput};
use serde::{Deserialize, Serialize};
use tributary::engine::partitioner::partition_for;
use tributary::engine::serde::{JsonSerde, Serde, StringSerde};
use tributary::{Consumed, Produced, StreamsBuilder};

#[derive(Clone, Serialize, Deserialize)]
struct Event {
    user: String,
    amount: i64,
}

const BATCH: usize = 10_000;
const PARTITIONS: i32 = 4;

fn keep(e: &Event) -> bool {
    e.amount % 10 != 0
}

fn cents(e: Event) -> Event {
    Event {
        user: e.user,
        amount: e.amount * 100,
    }
}

fn by_user(_: String, e: Event) -> (String, Event) {
    (e.user.clone(), e)
}

fn main() {
    let input = common::task_events(BATCH, 10_000);
    let totals = common::Totals::default();
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("stateless_chain");
    group.throughput(Throughput::Elements(BATCH as u64));

    let builder = StreamsBuilder::new();
    builder
        .stream(
            "events",
            Consumed::with(StringSerde, JsonSerde::<Event>::new()),
        )
        .filter(|_, e| keep(e))
        .map_values(cents)
        .map(by_user)
        .to(
            "out",
            Produced::with(StringSerde, JsonSerde::<Event>::new()),
        );
    let topology = builder.build().unwrap();
    let (mut task, _state) = common::task(&topology, &[("events", 1), ("out", PARTITIONS)]);

    group.bench_function("task", |b| {
        b.iter_custom(|iters| {
            common::timed(&totals, "task", iters, &input, |batch| {
                task.add_records("events", batch);
                task.process(usize::MAX).unwrap();
            })
        })
    });

    let key_serde = StringSerde;
    let value_serde = JsonSerde::<Event>::new();
    let (mut key_buf, mut value_buf) = (Vec::new(), Vec::new());
    group.bench_function("hand_loop", |b| {
        b.iter_custom(|iters| {
            common::timed(&totals, "hand_loop", iters, &input, |batch| {
                for raw in batch {
                    let key: String = key_serde.deserialize(raw.key.as_deref().unwrap()).unwrap();
                    let event = value_serde
                        .deserialize(raw.value.as_deref().unwrap())
                        .unwrap();
                    if !keep(&event) {
                        continue;
                    }
                    let (key, event) = by_user(key, cents(event));
                    key_buf.clear();
                    value_buf.clear();
                    key_serde.serialize(&key, &mut key_buf).unwrap();
                    value_serde.serialize(&event, &mut value_buf).unwrap();
                    let partition = partition_for(&key_buf, PARTITIONS);
                    std::hint::black_box((partition, &key_buf, &value_buf, raw.timestamp));
                }
            })
        })
    });
    group.finish();
    totals.report("task", "hand_loop", BATCH);
}
