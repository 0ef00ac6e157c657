//! What the examples' publishers share: reading `--name value` flags, creating the topic
//! and producing records until the broker has acknowledged them all.

use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

/// The value after `--name` in `args`.
pub fn flag<'a>(args: &'a [String], name: &str) -> anyhow::Result<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .with_context(|| format!("publish needs {name}"))
}

/// One record to publish.
pub struct Outgoing<'a> {
    pub key: &'a str,
    pub value: &'a [u8],
    /// Milliseconds since the epoch; `None` lets the producer stamp it.
    pub timestamp: Option<i64>,
}

/// Produces every record to `topic` (created with three partitions unless it exists),
/// keyed with Java's partitioner so that Kafka Streams and Tributary agree on keys'
/// partitions, and waits until the broker has acknowledged them all.
pub fn publish<'a>(
    bootstrap: &str,
    topic: &str,
    records: impl IntoIterator<Item = Outgoing<'a>>,
) -> anyhow::Result<()> {
    create_topic(bootstrap, topic)?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "20")
        .create()
        .context("creating the producer")?;
    for outgoing in records {
        let mut record = BaseRecord::to(topic)
            .key(outgoing.key)
            .payload(outgoing.value);
        if let Some(timestamp) = outgoing.timestamp {
            record = record.timestamp(timestamp);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((error, returned)) => {
                    // The local queue is full: let deliveries catch up.
                    if error.rdkafka_error_code() != Some(RDKafkaErrorCode::QueueFull) {
                        return Err(error).with_context(|| format!("publishing to `{topic}`"));
                    }
                    record = returned;
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .with_context(|| format!("waiting for the broker to acknowledge the records to `{topic}`"))
}

/// Creates `topic` with three partitions unless it exists.
pub fn create_topic(bootstrap: &str, topic: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("creating the admin client")?;
    let new = NewTopic::new(topic, 3, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting an async runtime for the admin client")?;
    let results = runtime
        .block_on(admin.create_topics([&new], &options))
        .with_context(|| format!("creating the topic `{topic}`"))?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("cannot create the topic `{name}`: {code}"),
        }
    }
    Ok(())
}
