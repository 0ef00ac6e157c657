//! Kafka I/O through rdkafka (librdkafka): client configuration, internal topics, the
//! producer-backed [`KafkaCollector`] tasks write through, and the consumer-backed
//! [`KafkaChangelogReader`] that restores stores.

mod admin;
mod client;
mod collector;
mod restore;

pub use admin::TopicAdmin;
pub use client::ClientRole;
pub use client::client_config;
pub use collector::KafkaCollector;
pub use restore::KafkaChangelogReader;

use rdkafka::error::KafkaError;

use crate::error::StreamsError;

/// A Kafka error, with what was being done when it happened.
pub(crate) fn kafka_error(doing: &str) -> impl FnOnce(KafkaError) -> StreamsError + '_ {
    move |e| StreamsError::Kafka {
        doing: doing.to_owned(),
        reason: e.to_string(),
    }
}
