//! What integration tests share: the broker's address, unique names, and reading a
//! task's counts.
#![allow(dead_code, reason = "each test binary uses a part of this module")]

pub mod http;
pub mod reference;
pub mod worker;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use tributary::StreamsConfig;
use tributary::engine::internals::StreamTask;

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

/// A configuration for running application `app` with `KafkaStreams` on the test broker:
/// its own state directory (returned, to keep it alive), a short session timeout (the
/// broker then settles a group in seconds), a query server on a free port, then
/// `settings`.
pub fn streams_config(app: &str, settings: &[(&str, &str)]) -> (StreamsConfig, tempfile::TempDir) {
    let mut config = config(app);
    let state = tempfile::tempdir().expect("a temporary directory");
    config
        .set("state.dir", state.path().to_str().expect("a UTF-8 path"))
        .expect("a valid path");
    config
        .set("consumer.session.timeout.ms", "6000")
        .expect("a valid timeout");
    // Instances in one test process must not share a query port.
    config
        .set("application.server", "127.0.0.1:0")
        .expect("a valid address");
    for (key, value) in settings {
        config.set(key, value).expect("a valid setting");
    }
    (config, state)
}

/// The contents of `task`'s store `store`, holding UTF-8 keys and big-endian i64 counts.
pub fn counts(task: &StreamTask, store: &str) -> HashMap<String, i64> {
    let (_, handle) = task
        .store_handles()
        .into_iter()
        .find(|(name, _)| name == store)
        .expect("the task has the store");
    handle
        .all()
        .expect("the store can be scanned")
        .map(|entry| {
            let (key, value) = entry.expect("the store can be read");
            let count: [u8; 8] = value.try_into().expect("counts are 8 bytes");
            (
                String::from_utf8(key).expect("keys are UTF-8"),
                i64::from_be_bytes(count),
            )
        })
        .collect()
}
