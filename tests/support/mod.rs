//! What tests against a real broker share.

use std::time::{SystemTime, UNIX_EPOCH};

use tributary::StreamsConfig;

/// The broker's address from `TRIBUTARY_BOOTSTRAP`. Panics with how to get one when unset:
/// a test that needs the broker never passes silently without it.
pub fn bootstrap() -> String {
    std::env::var("TRIBUTARY_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "TRIBUTARY_BOOTSTRAP is not set: this test needs a Kafka-compatible broker. \
             Run scripts/test.sh (it starts one), or start one with \
             `scripts/broker.sh start /tmp/broker` and export TRIBUTARY_BOOTSTRAP=$(cat /tmp/broker/bootstrap)"
        )
    })
}

/// A name no earlier run on the same broker has used.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    format!("{prefix}-{nanos}")
}

/// A configuration for application `app` on the test broker.
pub fn config(app: &str) -> StreamsConfig {
    let mut config = StreamsConfig::new(app);
    config
        .set("bootstrap.servers", &bootstrap())
        .expect("a valid address");
    config
}
