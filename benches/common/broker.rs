//! What the benchmarks that need a broker share: its address and a name for the run.

use std::time::{SystemTime, UNIX_EPOCH};

/// The broker's address from `TRIBUTARY_BOOTSTRAP`, or a panic saying how to get one.
pub fn bootstrap(bench: &str) -> String {
    std::env::var("TRIBUTARY_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "TRIBUTARY_BOOTSTRAP is not set: this benchmark needs a Kafka-compatible broker. \
             Run scripts/bench.sh --bench {bench} (it starts one), or set TRIBUTARY_BOOTSTRAP \
             to a broker's address"
        )
    })
}

/// Milliseconds since the epoch: a prefix that keeps each run's topics and groups apart.
pub fn run_id() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past the epoch")
        .as_millis()
}
