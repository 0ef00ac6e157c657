//! Shared pieces of the micro-benchmarks: a collector that discards, input records, and
//! the ratio report.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use tributary::engine::task::{OutgoingRecord, RecordCollector};
use tributary::engine::RawRecord;
use tributary::state::{ChangelogSink, DiscardingChangelog};
use tributary::StreamsError;

/// Accepts and drops every record, as a producer with an infinitely fast broker would.
pub struct Discard;

impl RecordCollector for Discard {
    fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        std::hint::black_box(record);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamsError> {
        Ok(())
    }
    fn end_offset(&self, _: &str, _: i32) -> Option<i64> {
        None
    }
    fn changelog_sink(&self) -> Box<dyn ChangelogSink> {
        Box::new(DiscardingChangelog)
    }
}

/// `n` task events `{"user": "user-<i % users>", "amount": <i % 1000>}` keyed by task id.
pub fn task_events(n: usize, users: usize) -> Vec<RawRecord> {
    (0..n)
        .map(|i| RawRecord {
            offset: i as i64,
            timestamp: i as i64,
            key: Some(format!("task-{i}").into_bytes()),
            value: Some(format!(r#"{{"user":"user-{}","amount":{}}}"#, i % users, i % 1000).into_bytes()),
            headers: Vec::new(),
        })
        .collect()
}

/// Total time and iterations measured per benchmark, for the ratio printed at the end.
#[derive(Default)]
pub struct Totals(RefCell<HashMap<&'static str, (Duration, u64)>>);

impl Totals {
    pub fn add(&self, name: &'static str, elapsed: Duration, iters: u64) {
        let mut totals = self.0.borrow_mut();
        let entry = totals.entry(name).or_default();
        entry.0 += elapsed;
        entry.1 += iters;
    }

    fn per_iter(&self, name: &str) -> f64 {
        let totals = self.0.borrow();
        let (elapsed, iters) = totals.get(name).copied().unwrap_or_default();
        elapsed.as_secs_f64() / iters.max(1) as f64
    }

    /// Prints `engine / baseline` time per iteration, and records per second of each.
    pub fn report(&self, engine: &str, baseline: &str, records_per_iter: usize) {
        let (e, b) = (self.per_iter(engine), self.per_iter(baseline));
        println!(
            "\nRATIO {engine} / {baseline} = {:.2}  ({engine}: {:.0} records/s, {baseline}: {:.0} records/s)\n",
            e / b,
            records_per_iter as f64 / e,
            records_per_iter as f64 / b
        );
    }
}
