//! The work both sides do, written once: which events the stateless pipeline keeps, what it
//! maps them to, and the engine's topologies for both pipelines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde, nullable};
use tributary::topologies::task_list::{TaskEvent, TaskEventKind};
use tributary::{Consumed, Grouped, KStream, Materialized, Produced, StreamsBuilder, Topology};

/// What the stateless pipeline writes per kept event.
#[derive(Clone, Serialize, Deserialize)]
pub struct Summary {
    task: String,
    user: Option<String>,
    done: bool,
}

/// The stateless pipeline keeps creations and completions (about two thirds of the events).
pub fn keep(event: &TaskEvent) -> bool {
    matches!(
        event.kind,
        TaskEventKind::Created | TaskEventKind::Completed
    )
}

/// The stateless pipeline's output for `event`.
pub fn summary(event: TaskEvent) -> Summary {
    Summary {
        done: event.kind == TaskEventKind::Completed,
        task: event.task_id,
        user: event.user,
    }
}

/// The task events of `input`, each counted in `seen` as it is read.
fn events(
    builder: &StreamsBuilder,
    input: &str,
    seen: Arc<AtomicU64>,
) -> KStream<String, TaskEvent> {
    builder
        .stream(
            input,
            Consumed::with(StringSerde, JsonSerde::<TaskEvent>::new()),
        )
        .peek(move |_, _| {
            seen.fetch_add(1, Ordering::Relaxed);
        })
}

/// Filter + map from `input` to `output`; `seen` counts the records read.
pub fn stateless(input: &str, output: &str, seen: Arc<AtomicU64>) -> Topology {
    let builder = StreamsBuilder::new();
    events(&builder, input, seen)
        .filter(|_, event| keep(event))
        .map_values(summary)
        .to(output, Produced::with(StringSerde, JsonSerde::new()));
    builder.build().unwrap()
}

/// Events of `input` (keyed by user) counted per user in the RocksDB store `counts` with
/// its changelog; every new count goes to `output`. `seen` counts the records read.
pub fn count_per_user(input: &str, output: &str, seen: Arc<AtomicU64>) -> Topology {
    let builder = StreamsBuilder::new();
    events(&builder, input, seen)
        .group_by_key(Grouped::new())
        .count(Materialized::named("counts"))
        .to_stream()
        .to(output, Produced::with(StringSerde, nullable(I64Serde)));
    builder.build().unwrap()
}
