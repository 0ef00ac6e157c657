use rdkafka::ClientConfig;

use crate::config::StreamsConfig;

/// Which kind of client a configuration is for; selects the `consumer.`, `producer.` or
/// `admin.` pass-through settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRole {
    /// The main consumer of a stream thread, in the application's consumer group.
    Consumer,
    /// A consumer without a group that reads changelogs for restoration.
    RestoreConsumer,
    /// A consumer without a group that reads the global tables' topics.
    GlobalConsumer,
    /// The producer of a stream thread.
    Producer,
    /// The admin client that creates internal topics.
    Admin,
}

/// librdkafka settings for `role`: the bootstrap servers, Tributary's defaults for the role,
/// then the user's pass-through settings, which win.
pub fn client_config(config: &StreamsConfig, role: ClientRole) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.bootstrap_servers);
    client.set(
        "client.id",
        crate::names::client_id(&config.application_id, role.suffix()),
    );
    let overrides = match role {
        ClientRole::Consumer => {
            client
                .set("group.id", &config.application_id)
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest")
                .set("partition.assignment.strategy", "range")
                // Statistics feed the consumer-lag metric.
                .set("statistics.interval.ms", "5000");
            &config.consumer
        }
        ClientRole::RestoreConsumer | ClientRole::GlobalConsumer => {
            // A group id is required by librdkafka, but restoration never commits or joins.
            client
                .set(
                    "group.id",
                    crate::names::restore_group(&config.application_id),
                )
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                // Restoration reads to the end of each partition: an empty fetch at the end
                // should come back at once rather than after the default 500 ms.
                .set("fetch.wait.max.ms", "10");
            &config.consumer
        }
        ClientRole::Producer => {
            client
                .set("enable.idempotence", "true")
                .set("linger.ms", "5")
                .set("batch.num.messages", "10000")
                .set("queue.buffering.max.messages", "200000");
            &config.producer
        }
        ClientRole::Admin => &config.admin,
    };
    if config.exactly_once() {
        match role {
            ClientRole::Consumer | ClientRole::RestoreConsumer | ClientRole::GlobalConsumer => {
                client.set("isolation.level", "read_committed");
            }
            // As Kafka Streams under exactly-once: a transaction left open by a crashed
            // instance holds up its partitions' readers for at most 10 s.
            ClientRole::Producer => {
                client.set("transaction.timeout.ms", "10000");
            }
            ClientRole::Admin => {}
        }
    }
    for (key, value) in overrides {
        client.set(key, value);
    }
    client
}

impl ClientRole {
    fn suffix(self) -> &'static str {
        match self {
            Self::Consumer => "consumer",
            Self::RestoreConsumer => "restore-consumer",
            Self::GlobalConsumer => "global-consumer",
            Self::Producer => "producer",
            Self::Admin => "admin",
        }
    }
}
