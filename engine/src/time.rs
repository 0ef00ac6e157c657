//! Event time: where a record's timestamp comes from, and what happens to records without a
//! valid one.

use std::sync::Arc;

use crate::record::RawRecord;

/// A user function that reads a record's timestamp.
pub type ExtractFn = Arc<dyn Fn(&RawRecord) -> Option<i64> + Send + Sync>;

/// Where a source takes each record's timestamp from (Kafka Streams' `TimestampExtractor`).
/// The task orders records, advances stream time and assigns windows by this timestamp.
#[derive(Clone, Default)]
pub enum TimestampExtractor {
    /// The Kafka record's timestamp (create or log-append time; the default).
    #[default]
    RecordTimestamp,
    /// A number (milliseconds) in the JSON value, at a dotted path such as `event.at_ms`.
    JsonField(String),
    /// A function of the raw record; `None` when the record has no timestamp.
    Custom(ExtractFn),
}

impl TimestampExtractor {
    /// The timestamp at the dotted `path` of JSON values.
    pub fn json_field(path: &str) -> Self {
        Self::JsonField(path.to_owned())
    }

    /// The timestamp `extract` returns.
    pub fn custom(extract: impl Fn(&RawRecord) -> Option<i64> + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(extract))
    }

    /// `raw`'s timestamp; `None` when it is missing, negative or not a whole number.
    pub fn extract(&self, raw: &RawRecord) -> Option<i64> {
        let timestamp = match self {
            Self::RecordTimestamp => Some(raw.timestamp),
            Self::JsonField(path) => {
                let value: serde_json::Value =
                    serde_json::from_slice(raw.value.as_deref()?).ok()?;
                path.split('.')
                    .try_fold(&value, |v, field| v.get(field))
                    .and_then(serde_json::Value::as_i64)
            }
            Self::Custom(extract) => extract(raw),
        };
        timestamp.filter(|t| *t >= 0)
    }
}

/// What a task does with a record whose timestamp is missing or negative
/// (`default.invalid.timestamp.handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvalidTimestampHandler {
    /// Stop the task with an error naming topic, partition and offset (the default, as
    /// Kafka Streams' `FailOnInvalidTimestamp`).
    #[default]
    Fail,
    /// Log the record's coordinates, count it, and continue with the next record.
    LogAndSkip,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(timestamp: i64, value: &str) -> RawRecord {
        RawRecord {
            offset: 0,
            timestamp,
            key: None,
            value: Some(value.as_bytes().to_vec()),
            headers: Vec::new(),
        }
    }

    #[test]
    fn extractors_read_the_record_a_json_field_or_a_function() {
        let record = raw(5, r#"{"event": {"at": 1700}, "name": "x"}"#);
        assert_eq!(
            TimestampExtractor::RecordTimestamp.extract(&record),
            Some(5)
        );
        assert_eq!(
            TimestampExtractor::json_field("event.at").extract(&record),
            Some(1700)
        );
        assert_eq!(
            TimestampExtractor::json_field("name").extract(&record),
            None
        );
        assert_eq!(
            TimestampExtractor::json_field("missing").extract(&record),
            None
        );
        let doubled = TimestampExtractor::custom(|r| Some(r.timestamp * 2));
        assert_eq!(doubled.extract(&record), Some(10));
        assert_eq!(
            TimestampExtractor::RecordTimestamp.extract(&raw(-1, "{}")),
            None
        );
        assert_eq!(
            TimestampExtractor::json_field("a").extract(&raw(0, "not json")),
            None
        );
    }
}
