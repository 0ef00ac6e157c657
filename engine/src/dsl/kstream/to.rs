use crate::dsl::params::Produced;
use crate::dsl::{Data, KStream};
use crate::topology::graph::{NodeDraft, Role, TopicRef};

impl<K: Data, V: Data> KStream<K, V> {
    /// Writes every record to `topic`, partitioned by the serialized key with Kafka's
    /// murmur2 partitioner (records with a null key stay on the task's partition number).
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .to("out", Produced::with(StringSerde, StringSerde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("in", StringSerde, StringSerde)?.pipe("k".into(), "v".into(), 7)?;
    /// let record = driver.output_topic("out", StringSerde, StringSerde).read_record().unwrap()?;
    /// assert_eq!((record.key.as_str(), record.value.as_str(), record.timestamp), ("k", "v", 7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to(&self, topic: &str, produced: Produced<K, V>) {
        let factory = crate::dsl::sink::factory(produced.key_serde, produced.value_serde);
        self.graph.borrow_mut().add_node(NodeDraft {
            kind: "sink",
            explicit: produced.name,
            role: Role::Sink {
                topic: TopicRef::External(topic.to_owned()),
            },
            parents: vec![self.node],
            stores: Vec::new(),
            factory,
        });
    }
}
