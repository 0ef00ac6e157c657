//! Seed 003's ERP returns as five applications over one topic of refund requests (see
//! `departments.rs` and the README's "ERP returns" section).
//!
//! ```sh
//! # User Support publishes 10,000 refund requests:
//! cargo run --example erp_returns -- publish --bootstrap localhost:9092 --topic refund-requests --count 10000
//! # Each department is a worker of its own application (one TOML file each):
//! cargo run --example erp_returns -- --config examples/erp_returns/sales.toml
//! ```

mod departments;

use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("publish") {
        return publish(&args[1..]);
    }
    // A department: `[app] department = "sales"`, `refunds = "refund-requests"` (and
    // `audit` for the audit log) in the TOML file.
    tributary::worker::run(|settings| {
        departments::topology(
            settings.require("department")?,
            settings.require("refunds")?,
            settings.app("audit").unwrap_or("refund-audit"),
        )
    })
}

/// `publish --bootstrap HOST:PORT --topic T --count N [--from K]`: publishes refund
/// requests K..K+N keyed by refund id, as User Support would (creating the topic, with
/// three partitions, when it does not exist).
fn publish(args: &[String]) -> anyhow::Result<()> {
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .with_context(|| format!("publish needs {name}"))
    };
    let (bootstrap, topic) = (arg("--bootstrap")?, arg("--topic")?);
    let count: u64 = arg("--count")?.parse().context("--count is a number")?;
    let from: u64 = match arg("--from") {
        Ok(from) => from.parse().context("--from is a number")?,
        Err(_) => 0,
    };
    create_topic(bootstrap, topic)?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // Java's partitioner, so that Kafka Streams and Tributary agree on keys' partitions.
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "20")
        .create()
        .context("creating the producer")?;
    for n in from..from + count {
        let request = departments::request(n);
        let value = serde_json::to_vec(&request)?;
        let mut record = BaseRecord::to(topic)
            .key(&request.refund_id)
            .payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((error, returned)) => {
                    // The local queue is full: let deliveries catch up.
                    if error.rdkafka_error_code() != Some(RDKafkaErrorCode::QueueFull) {
                        return Err(error).context("publishing a refund request");
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
        .context("waiting for the broker to acknowledge the refund requests")?;
    eprintln!(
        "published refund requests {from}..{} to `{topic}`",
        from + count
    );
    Ok(())
}

/// Creates `topic` with three partitions unless it exists.
fn create_topic(bootstrap: &str, topic: &str) -> anyhow::Result<()> {
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
