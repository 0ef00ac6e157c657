//! Configuration, with Kafka Streams' names where a concept matches.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::StreamsError;
use crate::time::InvalidTimestampHandler;

/// What a task does with a record whose key or value cannot be deserialized
/// (`default.deserialization.exception.handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeserializationHandler {
    /// Stop the task with an error naming topic, partition and offset (the default).
    #[default]
    Fail,
    /// Log the record's coordinates, count it, and continue with the next record.
    LogAndContinue,
}

/// What a task does with a record whose processing fails: a processor (or a fallible DSL
/// function such as [`KStream::try_map_values`](crate::dsl::KStream::try_map_values))
/// returned an error, or a user function panicked (`processing.exception.handler`,
/// KIP-1033).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessingHandler {
    /// Stop the task with an error naming the record's topic, partition and offset (the
    /// default).
    #[default]
    Fail,
    /// Log the error with the record's coordinates, count it, and continue with the next
    /// record. What the record's processing forwarded before it failed stays forwarded.
    LogAndContinue,
}

/// What a task does with a record it cannot write to a sink or repartition topic: the
/// producer refuses it (too large for `message.max.bytes`, say) or a sink serde cannot
/// serialize it (`production.exception.handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductionHandler {
    /// Stop the task with the error (the default).
    #[default]
    Fail,
    /// Log the record's topic and the reason, count it, and go on without it.
    Continue,
}

/// Where a record whose processing failed came from: what a processing exception handler
/// set with [`KafkaStreams::set_processing_exception_handler`](crate::KafkaStreams) is
/// told besides the error.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    /// The task processing the record.
    pub task: crate::TaskId,
    /// The record's source topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp (as extracted).
    pub timestamp: i64,
    /// Its headers.
    pub headers: &'a crate::record::Headers,
    /// The processor that failed (`a user function` for a panic).
    pub processor: &'a str,
}

/// What a processing exception handler decides about a failed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingResponse {
    /// Stop the task with the error.
    Fail,
    /// Skip the record (to the dead-letter topic, when there is one) and go on.
    Continue,
}

/// A processing exception handler written in Rust: given where the record came from and
/// the error, it decides (Kafka Streams' `ProcessingExceptionHandler`).
pub type ProcessingExceptionHandler =
    std::sync::Arc<dyn Fn(&ErrorContext<'_>, &StreamsError) -> ProcessingResponse + Send + Sync>;

/// When a record's effects count as done (`processing.guarantee`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessingGuarantee {
    /// Every record's effects are written at least once: after a crash, the records past
    /// the last commit are processed again (the default).
    #[default]
    AtLeastOnce,
    /// Every record's effects are written exactly once (`exactly_once_v2`, KIP-447): each
    /// stream thread writes its outputs, changelogs and repartition records and commits its
    /// consumed offsets in one Kafka transaction per commit; consumers read committed
    /// records only.
    ExactlyOnceV2,
}

/// Settings of a Tributary application.
///
/// | key | field | default |
/// |---|---|---|
/// | `application.id` | [`StreamsConfig::application_id`] | (required) |
/// | `bootstrap.servers` | [`StreamsConfig::bootstrap_servers`] | `localhost:9092` |
/// | `buffered.records.per.partition` | [`StreamsConfig::buffered_records_per_partition`] | 1000 |
/// | `num.stream.threads` | [`StreamsConfig::num_stream_threads`] | 1 |
/// | `state.dir` | [`StreamsConfig::state_dir`] | `<tmp>/tributary` |
/// | `statestore.cache.max.bytes` | [`StreamsConfig::cache_max_bytes`] | 10 MiB |
/// | `rocksdb.memory.bytes` | [`StreamsConfig::memory_budget_bytes`] | 256 MiB |
/// | `commit.interval.ms` | [`StreamsConfig::commit_interval_ms`] | 30000 (100 under `exactly_once_v2`) |
/// | `processing.guarantee` | [`StreamsConfig::processing_guarantee`] | `at_least_once` |
/// | `num.standby.replicas` | [`StreamsConfig::num_standby_replicas`] | 0 |
/// | `acceptable.recovery.lag` | [`StreamsConfig::acceptable_recovery_lag`] | 10000 |
/// | `query.isolation` | (only `read_committed`) | `read_committed` |
/// | `application.server` | [`StreamsConfig::application_server`] | `127.0.0.1:8080` |
/// | `query.auth.token` | [`StreamsConfig::query_auth_token`] | none |
/// | `default.deserialization.exception.handler` | [`StreamsConfig::deserialization_handler`] | `fail` (or `log_and_continue`) |
/// | `default.invalid.timestamp.handler` | [`StreamsConfig::invalid_timestamp_handler`] | `fail` (or `log_and_skip`) |
/// | `processing.exception.handler` | [`StreamsConfig::processing_handler`] | `fail` (or `log_and_continue`) |
/// | `production.exception.handler` | [`StreamsConfig::production_handler`] | `fail` (or `continue`) |
/// | `errors.dead.letter.queue.topic.name` | [`StreamsConfig::dead_letter_topic`] | none |
/// | `consumer.<key>`, `producer.<key>`, `admin.<key>` | passed to librdkafka for that client | |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsConfig {
    /// Identifies the application: prefixes internal topics, names the consumer group and
    /// the state directory.
    pub application_id: String,
    /// The Kafka cluster: `host:port[,host:port…]`.
    pub bootstrap_servers: String,
    /// Stream threads per instance.
    pub num_stream_threads: usize,
    /// Records a task may buffer per input partition before the partition is paused.
    pub buffered_records_per_partition: usize,
    /// Where tasks keep local state.
    pub state_dir: PathBuf,
    /// Record cache bytes for all tasks of a process; 0 turns caching off.
    pub cache_max_bytes: usize,
    /// The memory budget of all RocksDB stores of a process (block cache and memtables).
    pub memory_budget_bytes: usize,
    /// How often progress is committed (by default 30 s, or 100 ms under exactly-once, as
    /// in Kafka Streams).
    pub commit_interval_ms: u64,
    /// At-least-once (the default) or exactly-once.
    pub processing_guarantee: ProcessingGuarantee,
    /// Whether `commit.interval.ms` was set, so that the guarantee's default does not
    /// override it.
    commit_interval_set: bool,
    /// Warm copies of each task's persistent stores kept on other instances (standby
    /// tasks), which take over with only their lag to restore. Needs `application.server`
    /// (standbys are placed by the instance directory).
    pub num_standby_replicas: usize,
    /// The most changelog records a standby may be behind and still answer queries that
    /// allow stale answers (`?allow_stale=true`); a standby further behind answers 503.
    pub acceptable_recovery_lag: u64,
    /// What to do with undeserializable records.
    pub deserialization_handler: DeserializationHandler,
    /// What to do with records without a valid timestamp.
    pub invalid_timestamp_handler: InvalidTimestampHandler,
    /// What to do with records whose processing fails.
    pub processing_handler: ProcessingHandler,
    /// What to do with output records the producer refuses or a sink cannot serialize.
    pub production_handler: ProductionHandler,
    /// Where records a handler skips go, with the error in their headers (KIP-1034's
    /// `errors.dead.letter.queue.topic.name`); none by default.
    pub dead_letter_topic: Option<String>,
    /// Where this instance serves interactive queries, `host:port`, as the other instances
    /// reach it (port 0 picks a free port; `none` turns the server off).
    pub application_server: Option<String>,
    /// A bearer token every query request must carry (`Authorization: Bearer <token>`);
    /// health checks are exempt.
    pub query_auth_token: Option<String>,
    /// librdkafka settings for the consumers (`consumer.` keys without the prefix).
    pub consumer: BTreeMap<String, String>,
    /// librdkafka settings for the producers.
    pub producer: BTreeMap<String, String>,
    /// librdkafka settings for the admin client.
    pub admin: BTreeMap<String, String>,
}

impl StreamsConfig {
    /// The defaults, for application `application_id`.
    pub fn new(application_id: &str) -> Self {
        Self {
            application_id: application_id.to_owned(),
            bootstrap_servers: "localhost:9092".to_owned(),
            num_stream_threads: 1,
            buffered_records_per_partition: 1000,
            state_dir: std::env::temp_dir().join("tributary"),
            cache_max_bytes: 10 * 1024 * 1024,
            memory_budget_bytes: tributary_state::MemoryBudget::DEFAULT_BYTES,
            commit_interval_ms: 30_000,
            processing_guarantee: ProcessingGuarantee::AtLeastOnce,
            commit_interval_set: false,
            num_standby_replicas: 0,
            acceptable_recovery_lag: 10_000,
            deserialization_handler: DeserializationHandler::Fail,
            invalid_timestamp_handler: InvalidTimestampHandler::Fail,
            processing_handler: ProcessingHandler::Fail,
            production_handler: ProductionHandler::Fail,
            dead_letter_topic: None,
            application_server: Some("127.0.0.1:8080".to_owned()),
            query_auth_token: None,
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
            admin: BTreeMap::new(),
        }
    }

    /// A configuration from `key = value` settings, as a configuration file gives them;
    /// `application.id` is required, everything else has its default.
    ///
    /// # Errors
    /// [`StreamsError::Config`] for a missing `application.id`, an unknown key or a bad
    /// value.
    pub fn from_settings<'a>(
        settings: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, StreamsError> {
        let settings: Vec<_> = settings.into_iter().collect();
        let app = settings
            .iter()
            .find(|(k, _)| *k == "application.id")
            .map(|(_, v)| *v)
            .ok_or_else(|| StreamsError::Config {
                key: "application.id".into(),
                reason: "is required; it names the application".into(),
            })?;
        let mut config = Self::new(app);
        for (key, value) in settings {
            config.set(key, value)?;
        }
        Ok(config)
    }

    /// Sets one setting by its key, as the CLI's configuration file does.
    ///
    /// # Errors
    /// [`StreamsError::Config`] for an unknown key or a value that does not parse.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), StreamsError> {
        let bad = |reason: String| StreamsError::Config {
            key: key.to_owned(),
            reason,
        };
        let number = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|e| bad(format!("`{v}` is not a non-negative integer ({e})")))
        };
        match key {
            "application.id" => {
                if value.is_empty()
                    || !value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                {
                    return Err(bad(format!(
                        "`{value}` must be non-empty ASCII letters, digits, `.`, `_` or `-`"
                    )));
                }
                self.application_id = value.to_owned();
            }
            "bootstrap.servers" => {
                if value.trim().is_empty() {
                    return Err(bad("must list at least one `host:port`".into()));
                }
                self.bootstrap_servers = value.to_owned();
            }
            "buffered.records.per.partition" => {
                let limit = number(value)?;
                if limit == 0 {
                    return Err(bad("must be at least 1".into()));
                }
                self.buffered_records_per_partition = limit as usize;
            }
            "num.stream.threads" => {
                let threads = number(value)?;
                if threads == 0 {
                    return Err(bad("must be at least 1".into()));
                }
                self.num_stream_threads = threads as usize;
            }
            "state.dir" => self.state_dir = PathBuf::from(value),
            "statestore.cache.max.bytes" => self.cache_max_bytes = number(value)? as usize,
            "rocksdb.memory.bytes" => self.memory_budget_bytes = number(value)? as usize,
            "commit.interval.ms" => {
                self.commit_interval_ms = number(value)?;
                self.commit_interval_set = true;
            }
            "query.isolation" => match value {
                "read_committed" => {}
                "read_uncommitted" => {
                    return Err(bad(
                        "`read_uncommitted` is not supported: queries read what the stores hold, \
                         and under `exactly_once_v2` writes reach the stores only once their \
                         transaction commits; use `read_committed` (the default)"
                            .into(),
                    ));
                }
                other => {
                    return Err(bad(format!(
                        "`{other}` is not an isolation level; use `read_committed`"
                    )));
                }
            },
            "num.standby.replicas" => self.num_standby_replicas = number(value)? as usize,
            "acceptable.recovery.lag" => self.acceptable_recovery_lag = number(value)?,
            "default.invalid.timestamp.handler" => {
                self.invalid_timestamp_handler = match value {
                    "fail" => InvalidTimestampHandler::Fail,
                    "log_and_skip" => InvalidTimestampHandler::LogAndSkip,
                    other => {
                        return Err(bad(format!(
                            "`{other}` is not a handler; use `fail` or `log_and_skip`"
                        )));
                    }
                }
            }
            "application.server" => {
                let value = value.trim();
                self.application_server = match value {
                    "none" => None,
                    _ if value.rsplit_once(':').is_some_and(|(host, port)| {
                        !host.is_empty() && port.parse::<u16>().is_ok()
                    }) =>
                    {
                        Some(value.to_owned())
                    }
                    _ => {
                        return Err(bad(format!(
                            "`{value}` is not `host:port` (or `none` to serve no queries)"
                        )));
                    }
                }
            }
            "query.auth.token" => {
                if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(bad("must be non-empty, without spaces".into()));
                }
                self.query_auth_token = Some(value.to_owned());
            }
            "processing.guarantee" => {
                self.processing_guarantee = match value {
                    "at_least_once" => ProcessingGuarantee::AtLeastOnce,
                    "exactly_once_v2" => ProcessingGuarantee::ExactlyOnceV2,
                    "exactly_once" | "exactly_once_beta" => {
                        return Err(bad(format!(
                            "`{value}` was removed in Kafka Streams 4.0; use `exactly_once_v2`"
                        )));
                    }
                    other => {
                        return Err(bad(format!(
                            "`{other}` is not a guarantee; use `at_least_once` or `exactly_once_v2`"
                        )));
                    }
                };
                if !self.commit_interval_set {
                    self.commit_interval_ms = match self.processing_guarantee {
                        ProcessingGuarantee::AtLeastOnce => 30_000,
                        ProcessingGuarantee::ExactlyOnceV2 => 100,
                    };
                }
            }
            "processing.exception.handler" => {
                self.processing_handler = match value {
                    "fail" => ProcessingHandler::Fail,
                    "log_and_continue" => ProcessingHandler::LogAndContinue,
                    other => {
                        return Err(bad(format!(
                            "`{other}` is not a handler; use `fail` or `log_and_continue`"
                        )));
                    }
                }
            }
            "errors.dead.letter.queue.topic.name" => {
                if value.is_empty()
                    || !value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                {
                    return Err(bad(format!(
                        "`{value}` is not a topic name: use ASCII letters, digits, `.`, `_` or `-`"
                    )));
                }
                self.dead_letter_topic = Some(value.to_owned());
            }
            "production.exception.handler" => {
                self.production_handler = match value {
                    "fail" => ProductionHandler::Fail,
                    "continue" => ProductionHandler::Continue,
                    other => {
                        return Err(bad(format!(
                            "`{other}` is not a handler; use `fail` or `continue`"
                        )));
                    }
                }
            }
            "default.deserialization.exception.handler" => {
                self.deserialization_handler = match value {
                    "fail" => DeserializationHandler::Fail,
                    "log_and_continue" => DeserializationHandler::LogAndContinue,
                    other => {
                        return Err(bad(format!(
                            "`{other}` is not a handler; use `fail` or `log_and_continue`"
                        )));
                    }
                }
            }
            _ => {
                for (prefix, settings) in [
                    ("consumer.", &mut self.consumer),
                    ("producer.", &mut self.producer),
                    ("admin.", &mut self.admin),
                ] {
                    if let Some(client_key) = key.strip_prefix(prefix).filter(|k| !k.is_empty()) {
                        settings.insert(client_key.to_owned(), value.to_owned());
                        return Ok(());
                    }
                }
                return Err(bad(format!(
                    "unknown setting; known settings: {}, and `consumer.`, `producer.` or `admin.` followed by a librdkafka setting",
                    Self::KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Whether `processing.guarantee` is `exactly_once_v2`.
    pub fn exactly_once(&self) -> bool {
        self.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2
    }

    /// Every key [`StreamsConfig::set`] accepts.
    pub const KEYS: &'static [&'static str] = &[
        "application.id",
        "bootstrap.servers",
        "num.stream.threads",
        "buffered.records.per.partition",
        "state.dir",
        "statestore.cache.max.bytes",
        "rocksdb.memory.bytes",
        "commit.interval.ms",
        "processing.guarantee",
        "num.standby.replicas",
        "acceptable.recovery.lag",
        "query.isolation",
        "application.server",
        "query.auth.token",
        "default.deserialization.exception.handler",
        "default.invalid.timestamp.handler",
        "processing.exception.handler",
        "production.exception.handler",
        "errors.dead.letter.queue.topic.name",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_set_typed_fields() {
        let mut c = StreamsConfig::new("app");
        c.set("statestore.cache.max.bytes", "0").unwrap();
        c.set(
            "default.deserialization.exception.handler",
            "log_and_continue",
        )
        .unwrap();
        assert_eq!(c.cache_max_bytes, 0);
        assert_eq!(
            c.deserialization_handler,
            DeserializationHandler::LogAndContinue
        );
    }

    #[test]
    fn standby_settings_are_numbers() {
        let mut c = StreamsConfig::new("app");
        assert_eq!(
            (c.num_standby_replicas, c.acceptable_recovery_lag),
            (0, 10_000)
        );
        c.set("num.standby.replicas", "1").unwrap();
        c.set("acceptable.recovery.lag", "500").unwrap();
        assert_eq!(
            (c.num_standby_replicas, c.acceptable_recovery_lag),
            (1, 500)
        );
        let err = c
            .set("num.standby.replicas", "one")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("num.standby.replicas") && err.contains("not a non-negative integer"),
            "{err}"
        );
    }

    #[test]
    fn the_dead_letter_topic_must_be_a_topic_name() {
        let mut c = StreamsConfig::new("app");
        assert_eq!(c.dead_letter_topic, None);
        c.set("errors.dead.letter.queue.topic.name", "app-dlq")
            .unwrap();
        assert_eq!(c.dead_letter_topic.as_deref(), Some("app-dlq"));
        let err = c
            .set("errors.dead.letter.queue.topic.name", "dead letters")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a topic name"), "{err}");
    }

    #[test]
    fn queries_read_committed_state_only() {
        let mut c = StreamsConfig::new("app");
        c.set("query.isolation", "read_committed").unwrap();
        let err = c
            .set("query.isolation", "read_uncommitted")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not supported") && err.contains("read_committed"),
            "{err}"
        );
        let err = c.set("query.isolation", "dirty").unwrap_err().to_string();
        assert!(err.contains("not an isolation level"), "{err}");
    }

    #[test]
    fn the_query_server_address_is_checked() {
        let mut c = StreamsConfig::new("app");
        assert_eq!(c.application_server.as_deref(), Some("127.0.0.1:8080"));
        c.set("application.server", "10.0.0.5:0").unwrap();
        assert_eq!(c.application_server.as_deref(), Some("10.0.0.5:0"));
        c.set("application.server", "none").unwrap();
        assert_eq!(c.application_server, None);
        let err = c
            .set("application.server", "localhost")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not `host:port`"), "{err}");
        let err = c
            .set("query.auth.token", "two words")
            .unwrap_err()
            .to_string();
        assert!(err.contains("without spaces"), "{err}");
    }

    #[test]
    fn exactly_once_v2_commits_every_100_ms_unless_told_otherwise() {
        let mut c = StreamsConfig::new("app");
        c.set("processing.guarantee", "exactly_once_v2").unwrap();
        assert_eq!(c.processing_guarantee, ProcessingGuarantee::ExactlyOnceV2);
        assert_eq!(c.commit_interval_ms, 100);
        c.set("processing.guarantee", "at_least_once").unwrap();
        assert_eq!(c.commit_interval_ms, 30_000);
        let c = StreamsConfig::from_settings([
            ("application.id", "app"),
            ("commit.interval.ms", "250"),
            ("processing.guarantee", "exactly_once_v2"),
        ])
        .unwrap();
        assert_eq!(c.commit_interval_ms, 250);
        let err = StreamsConfig::new("app")
            .set("processing.guarantee", "exactly_once")
            .unwrap_err()
            .to_string();
        assert!(err.contains("use `exactly_once_v2`"), "{err}");
    }

    #[test]
    fn the_guarantee_says_whether_it_is_exactly_once() {
        assert!(!StreamsConfig::new("app").exactly_once());
        let mut c = StreamsConfig::new("app");
        c.set("processing.guarantee", "exactly_once_v2").unwrap();
        assert!(c.exactly_once());
    }

    #[test]
    fn settings_need_an_application_id() {
        let err = StreamsConfig::from_settings([("state.dir", "/tmp/x")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`application.id`") && err.contains("required"),
            "{err}"
        );
        let c =
            StreamsConfig::from_settings([("application.id", "app"), ("num.stream.threads", "3")])
                .unwrap();
        assert_eq!(
            (c.application_id.as_str(), c.num_stream_threads),
            ("app", 3)
        );
    }

    #[test]
    fn client_prefixes_pass_through() {
        let mut c = StreamsConfig::new("app");
        c.set("consumer.session.timeout.ms", "6000").unwrap();
        c.set("producer.linger.ms", "20").unwrap();
        c.set("admin.request.timeout.ms", "1000").unwrap();
        assert_eq!(
            c.consumer.get("session.timeout.ms").map(String::as_str),
            Some("6000")
        );
        assert_eq!(c.producer.get("linger.ms").map(String::as_str), Some("20"));
        assert_eq!(
            c.admin.get("request.timeout.ms").map(String::as_str),
            Some("1000")
        );
        assert!(
            c.set("consumer.", "x").is_err(),
            "a prefix alone is not a setting"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected_with_the_reason() {
        let mut c = StreamsConfig::new("app");
        let err = c.set("state.dri", "/tmp").unwrap_err().to_string();
        assert!(
            err.contains("`state.dri`")
                && err.contains("unknown setting")
                && err.contains("state.dir"),
            "{err}"
        );
        let err = c.set("commit.interval.ms", "soon").unwrap_err().to_string();
        assert!(
            err.contains("`soon` is not a non-negative integer"),
            "{err}"
        );
        let err = c.set("application.id", "my app").unwrap_err().to_string();
        assert!(err.contains("must be non-empty ASCII"), "{err}");
        assert_eq!(
            c,
            StreamsConfig::new("app"),
            "a rejected value changes nothing"
        );
    }
}
