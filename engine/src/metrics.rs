//! Prometheus metrics of one instance, served at `GET /metrics`.
//!
//! Stream threads update counters and histograms once per task per round (never per
//! record); gauges that are cheap to read on demand (store sizes) are computed when the
//! metrics are scraped.

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::discovery::StoreRegistry;
use crate::processor::TaskMetrics;
use crate::task_id::TaskId;

/// Latency buckets from 10 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// The metrics of an instance.
pub struct Metrics {
    registry: Registry,
    records: IntCounterVec,
    rate: prometheus::GaugeVec,
    skipped: IntCounterVec,
    dead_lettered: IntCounterVec,
    process: HistogramVec,
    commit: Histogram,
    lag: IntGaugeVec,
    restored: IntGaugeVec,
    restore_remaining: IntGaugeVec,
    restoring: IntGauge,
    store_entries: IntGaugeVec,
    standby_lag: IntGaugeVec,
    http_requests: IntCounterVec,
    http_latency: HistogramVec,
}

/// The metric handles of one task, looked up once when the task is created.
pub(crate) struct TaskMetricHandles {
    task: String,
    pub(crate) records: IntCounter,
    pub(crate) process: Histogram,
    /// Records counted when the rate was last computed.
    rate_mark: u64,
    /// The task's own counters when last reported.
    reported: TaskMetrics,
}

fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique and valid");
    metric
}

impl Metrics {
    /// Fresh metrics, all zero.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("tributary".into()), None)
            .expect("the prefix is a valid metric name");
        let latency = |name: &str, help: &str| {
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())
        };
        let r = &registry;
        Self {
            records: register(
                r,
                IntCounterVec::new(
                    Opts::new("task_records_processed_total", "Records a task processed."),
                    &["task"],
                )
                .expect("valid metric"),
            ),
            rate: register(
                r,
                prometheus::GaugeVec::new(
                    Opts::new(
                        "task_records_per_second",
                        "Records a task processed per second over its last commit interval.",
                    ),
                    &["task"],
                )
                .expect("valid metric"),
            ),
            skipped: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "task_records_skipped_total",
                        "Records a task skipped, by reason: late (once per closed window missed), null key or value, a duplicate, undeserializable, without a valid timestamp, failed processing, or refused by the producer.",
                    ),
                    &["task", "reason"],
                )
                .expect("valid metric"),
            ),
            dead_lettered: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "task_records_dead_lettered_total",
                        "Skipped records a task wrote to the dead-letter topic.",
                    ),
                    &["task"],
                )
                .expect("valid metric"),
            ),
            process: register(
                r,
                HistogramVec::new(
                    latency(
                        "task_process_batch_seconds",
                        "Time a task took to process the records it had buffered in one round.",
                    ),
                    &["task"],
                )
                .expect("valid metric"),
            ),
            commit: register(
                r,
                Histogram::with_opts(latency(
                    "commit_seconds",
                    "Time a stream thread took to commit: caches, stores, producer, checkpoints, offsets.",
                ))
                .expect("valid metric"),
            ),
            lag: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "consumer_lag_records",
                        "Records between a partition's consumed position and its end (librdkafka statistics, every 5 s).",
                    ),
                    &["topic", "partition"],
                )
                .expect("valid metric"),
            ),
            restored: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "task_restored_records",
                        "Changelog records a restoring task has applied so far.",
                    ),
                    &["task"],
                )
                .expect("valid metric"),
            ),
            restore_remaining: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "task_restore_remaining_records",
                        "Changelog records a restoring task has still to apply (as far as the changelogs' ends were known when it started).",
                    ),
                    &["task"],
                )
                .expect("valid metric"),
            ),
            restoring: register(
                r,
                IntGauge::new("restoring_tasks", "Tasks still restoring their stores.")
                    .expect("valid metric"),
            ),
            store_entries: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "store_entries",
                        "Approximate entries of a hosted store partition.",
                    ),
                    &["store", "partition"],
                )
                .expect("valid metric"),
            ),
            standby_lag: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "standby_lag_records",
                        "Changelog records a standby copy of a store partition is behind (as last measured, every 2 s).",
                    ),
                    &["store", "partition"],
                )
                .expect("valid metric"),
            ),
            http_requests: register(
                r,
                IntCounterVec::new(
                    Opts::new("http_requests_total", "HTTP requests served."),
                    &["route", "status"],
                )
                .expect("valid metric"),
            ),
            http_latency: register(
                r,
                HistogramVec::new(
                    latency("http_request_seconds", "Time to answer an HTTP request."),
                    &["route"],
                )
                .expect("valid metric"),
            ),
            registry,
        }
    }

    /// The handles of task `id`'s metrics.
    pub(crate) fn task(&self, id: TaskId) -> TaskMetricHandles {
        let task = id.to_string();
        TaskMetricHandles {
            records: self.records.with_label_values(&[&task]),
            process: self.process.with_label_values(&[&task]),
            rate_mark: 0,
            reported: TaskMetrics::default(),
            task,
        }
    }

    /// Task metrics at a commit: the processing rate over `elapsed` since the last one, and
    /// what the task's own counters (`counted`) added since.
    pub(crate) fn task_committed(
        &self,
        handles: &mut TaskMetricHandles,
        elapsed: Duration,
        counted: &TaskMetrics,
    ) {
        let total = handles.records.get();
        let rate = (total - handles.rate_mark) as f64 / elapsed.as_secs_f64().max(1e-3);
        handles.rate_mark = total;
        self.rate.with_label_values(&[&handles.task]).set(rate);
        let before = handles.reported;
        for ((reason, now), (_, then)) in skip_counts(counted).into_iter().zip(skip_counts(&before))
        {
            if now > then {
                self.skipped
                    .with_label_values(&[&handles.task, reason])
                    .inc_by(now - then);
            }
        }
        if counted.dead_lettered > before.dead_lettered {
            self.dead_lettered
                .with_label_values(&[&handles.task])
                .inc_by(counted.dead_lettered - before.dead_lettered);
        }
        handles.reported = *counted;
    }

    /// A task closed: its series go away.
    pub(crate) fn task_closed(&self, handles: &TaskMetricHandles) {
        let labels = [handles.task.as_str()];
        let _ = self.records.remove_label_values(&labels);
        let _ = self.rate.remove_label_values(&labels);
        for (reason, _) in skip_counts(&TaskMetrics::default()) {
            let _ = self
                .skipped
                .remove_label_values(&[handles.task.as_str(), reason]);
        }
        let _ = self.dead_lettered.remove_label_values(&labels);
        let _ = self.process.remove_label_values(&labels);
        let _ = self.restored.remove_label_values(&labels);
        let _ = self.restore_remaining.remove_label_values(&labels);
    }

    /// A thread committed in `elapsed`.
    pub(crate) fn committed(&self, elapsed: Duration) {
        self.commit.observe(elapsed.as_secs_f64());
    }

    /// The lag of `topic`/`partition`, from librdkafka's statistics.
    pub(crate) fn lag(&self, topic: &str, partition: i32, lag: i64) {
        self.lag
            .with_label_values(&[topic, &partition.to_string()])
            .set(lag.max(0));
    }

    /// Restoration progress of task `id`: records applied, and still to apply when known.
    pub(crate) fn restore_progress(&self, id: TaskId, restored: u64, remaining: Option<u64>) {
        let task = id.to_string();
        self.restored
            .with_label_values(&[&task])
            .set(restored as i64);
        if let Some(remaining) = remaining {
            self.restore_remaining
                .with_label_values(&[&task])
                .set(remaining as i64);
        }
    }

    /// A task started (+1) or finished (-1) restoring.
    pub(crate) fn restoring(&self, delta: i64) {
        self.restoring.add(delta);
    }

    /// An HTTP request on `route` answered with `status` after `elapsed`.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
        self.http_latency
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    /// Every metric in Prometheus' text format, store sizes read from `stores` now.
    pub fn render(&self, stores: &StoreRegistry) -> String {
        self.store_entries.reset();
        for (index, partition, _) in stores.snapshot() {
            if let Some(hosted) = stores.hosted(index, partition) {
                let entries = hosted.reader.approximate_num_entries().unwrap_or(0);
                let name = stores.stores()[index].spec.name();
                self.store_entries
                    .with_label_values(&[name, &partition.to_string()])
                    .set(entries as i64);
            }
        }
        self.standby_lag.reset();
        for (index, partition) in stores.standby_partitions() {
            if let Some(standby) = stores.standby(index, partition)
                && standby.lag() != i64::MAX
            {
                let name = stores.stores()[index].spec.name();
                self.standby_lag
                    .with_label_values(&[name, &partition.to_string()])
                    .set(standby.lag());
            }
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding of gathered metrics does not fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A task's skipped-record counters by the reason label they are reported under.
fn skip_counts(m: &TaskMetrics) -> [(&'static str, u64); 7] {
    [
        ("late", m.dropped_late),
        ("null_key_or_value", m.dropped_null),
        ("duplicate", m.dropped_duplicates),
        ("deserialization", m.skipped_deserialization),
        ("invalid_timestamp", m.skipped_invalid_timestamp),
        ("processing", m.skipped_processing),
        ("production", m.skipped_production),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_series_appear_and_go_away() {
        let metrics = Metrics::new();
        let id = TaskId {
            subtopology: 0,
            partition: 3,
        };
        let mut handles = metrics.task(id);
        handles.records.inc_by(500);
        let counted = TaskMetrics {
            dropped_late: 3,
            ..TaskMetrics::default()
        };
        metrics.task_committed(&mut handles, Duration::from_secs(2), &counted);
        let topology = crate::StreamsBuilder::new();
        topology.stream::<String, String>(
            "in",
            crate::dsl::Consumed::with(crate::serde::StringSerde, crate::serde::StringSerde),
        );
        let stores = StoreRegistry::new(&topology.build().unwrap());
        let text = metrics.render(&stores);
        assert!(
            text.contains("tributary_task_records_processed_total{task=\"0_3\"} 500"),
            "{text}"
        );
        assert!(
            text.contains("tributary_task_records_per_second{task=\"0_3\"} 250"),
            "{text}"
        );
        assert!(
            text.contains("tributary_task_records_skipped_total{reason=\"late\",task=\"0_3\"} 3"),
            "{text}"
        );
        metrics.task_closed(&handles);
        assert!(!metrics.render(&stores).contains("task=\"0_3\""));
    }
}
