//! What brute-force references of Kafka Streams' rules share: random out-of-order input,
//! the record cache's effect on a sequence of updates, and how a topology under test is
//! driven and committed.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One result as a topology forwards it: key, value (`None`: a delete) and timestamp.
pub type Out<K, V> = (K, Option<V>, i64);

/// How the record cache and commits are set up for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// No record cache: every update is forwarded.
    Off,
    /// A cache, committed after every input record (the test driver's default).
    CommitEachInput,
    /// A cache, committed after every `n` input records (and at the end).
    CommitEvery(usize),
}

impl Caching {
    /// Every mode the references are checked in.
    pub const ALL: [Caching; 3] = [
        Caching::Off,
        Caching::CommitEachInput,
        Caching::CommitEvery(7),
    ];

    /// The input records each commit covers, in order, for `inputs` records.
    pub fn intervals(self, inputs: usize) -> Vec<std::ops::Range<usize>> {
        let size = match self {
            Caching::Off | Caching::CommitEachInput => 1,
            Caching::CommitEvery(n) => n,
        };
        (0..inputs)
            .step_by(size)
            .map(|start| start..(start + size).min(inputs))
            .collect()
    }
}

/// What the record cache forwards for the updates written between two commits: the latest
/// value of each key, in the order of each key's latest write; a key deleted without
/// having been in the store before the interval is not forwarded. `present` tracks which
/// keys the store holds across intervals.
pub fn cached<K: Ord + Clone, V: Clone>(
    present: &mut BTreeSet<K>,
    writes: &[Out<K, V>],
) -> Vec<Out<K, V>> {
    let mut latest: Vec<Out<K, V>> = Vec::new();
    for write in writes {
        latest.retain(|(k, _, _)| *k != write.0);
        latest.push(write.clone());
    }
    latest
        .into_iter()
        .filter(|(key, value, _)| {
            let was = present.contains(key);
            match value {
                Some(_) => {
                    present.insert(key.clone());
                    true
                }
                None => {
                    present.remove(key);
                    was
                }
            }
        })
        .collect()
}

/// What a topology must forward in `caching` mode, given the updates it writes for each
/// input record (`per_input[i]`, in order, as forwarded without a cache).
pub fn expected<K: Ord + Clone, V: Clone>(
    caching: Caching,
    per_input: &[Vec<Out<K, V>>],
) -> Vec<Out<K, V>> {
    match caching {
        Caching::Off => per_input.concat(),
        _ => {
            let mut present = BTreeSet::new();
            caching
                .intervals(per_input.len())
                .into_iter()
                .flat_map(|range| cached(&mut present, &per_input[range].concat()))
                .collect()
        }
    }
}

/// Event times that wander for `n` records over `keys`: mostly rising, some out of order
/// within `within` of the latest, some far behind (by `late_by` and up to twice that).
pub fn wandering_times(
    seed: u64,
    n: usize,
    keys: &[&str],
    step: i64,
    within: i64,
    late_by: i64,
) -> Vec<(String, i64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut now = 100i64;
    (0..n)
        .map(|_| {
            now += rng.random_range(0..=step);
            let behind = match rng.random_range(0..10) {
                0 => rng.random_range(late_by..=2 * late_by),
                1..=3 => rng.random_range(0..=within),
                _ => 0,
            };
            let key = keys[rng.random_range(0..keys.len())].to_owned();
            (key, (now - behind).max(0))
        })
        .collect()
}

/// Asserts `got == want`, reporting the first difference and what surrounds it rather than
/// both lists in full.
#[track_caller]
pub fn assert_same<T: PartialEq + std::fmt::Debug>(got: &[T], want: &[T], context: &str) {
    let first = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .or_else(|| (got.len() != want.len()).then(|| got.len().min(want.len())));
    if let Some(at) = first {
        let from = at.saturating_sub(3);
        let show = |list: &[T]| -> String {
            list.iter()
                .enumerate()
                .skip(from)
                .take(7)
                .map(|(i, item)| format!("  {i}: {item:?}\n"))
                .collect()
        };
        panic!(
            "{context}: results differ at {at} (got {} results, want {})\n got:\n{}want:\n{}",
            got.len(),
            want.len(),
            show(got),
            show(want),
        );
    }
}

/// Runs `topology` over `events`, piping each into its topic `events` as (key, its index,
/// its time) and committing as `caching` says; returns what the topology wrote to its topic
/// `out` (keys read with `key_serde`, values as lists of indices), and the driver's
/// counters.
pub fn run_indexed<K: 'static>(
    topology: tributary::Topology,
    caching: Caching,
    events: &[(String, i64)],
    key_serde: impl tributary::engine::serde::Serde<K> + 'static,
) -> (Vec<Out<K, Vec<i64>>>, tributary::engine::TaskMetrics) {
    use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde, nullable};
    let driver = tributary::TopologyTestDriver::builder(
        topology,
        tributary::StreamsConfig::new("reference"),
    )
    .commit_after_each_input(!matches!(caching, Caching::CommitEvery(_)))
    .build()
    .unwrap();
    let input = driver.input_topic("events", StringSerde, I64Serde).unwrap();
    for range in caching.intervals(events.len()) {
        for index in range {
            let (key, ts) = &events[index];
            input.pipe(key.clone(), index as i64, *ts).unwrap();
        }
        driver.commit().unwrap();
    }
    let out = driver
        .output_topic("out", key_serde, nullable(JsonSerde::<Vec<i64>>::new()))
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    (out, driver.metrics())
}
