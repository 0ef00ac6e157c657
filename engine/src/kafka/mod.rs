//! Kafka I/O through rdkafka (librdkafka): client configuration, internal topics, the
//! producer-backed [`KafkaCollector`] tasks write through, and the consumer-backed
//! [`KafkaChangelogReader`] that restores stores.

mod acknowledged;
mod admin;
mod client;
mod collector;
mod global;
mod group;
mod reset;
mod restore;

pub use admin::TopicAdmin;
pub use client::ClientRole;
pub use client::client_config;
pub use collector::KafkaCollector;
pub use global::{GlobalConsumer, Polled};
pub(crate) use group::GroupView;
pub use reset::{ResetPlan, ResetTo, apply_reset, plan_reset};
pub use restore::KafkaChangelogReader;

use rdkafka::Message;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers as _};

use crate::error::{KafkaFailure, StreamsError};
use crate::record::{BorrowedRecord, Headers, RawRecord};

/// A Kafka error, with what was being done when it happened.
pub(crate) fn kafka_error(doing: &str) -> impl FnOnce(KafkaError) -> StreamsError + '_ {
    move |e| StreamsError::kafka(doing, KafkaFailure::from(&e))
}

/// A consumed message as a task's input record: no timestamp (-1) is kept as invalid, for
/// the timestamp extractor to decide.
pub(crate) fn raw_record(message: &BorrowedMessage<'_>) -> RawRecord {
    let record = borrowed_record(message);
    RawRecord {
        offset: record.offset,
        timestamp: record.timestamp,
        key: record.key.map(<[u8]>::to_vec),
        value: record.value.map(<[u8]>::to_vec),
        headers: record.headers,
    }
}

/// A consumed message's parts, borrowed from it but for the headers (see [`raw_record`]).
pub(crate) fn borrowed_record<'a>(message: &'a BorrowedMessage<'_>) -> BorrowedRecord<'a> {
    BorrowedRecord {
        offset: message.offset(),
        timestamp: message.timestamp().to_millis().unwrap_or(-1),
        key: message.key(),
        value: message.payload(),
        headers: message.headers().map_or_else(Headers::new, |h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect()
        }),
    }
}
