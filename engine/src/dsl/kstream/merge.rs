use crate::dsl::{Data, KStream};
use crate::processor::node::passthrough;
use crate::topology::graph::{NodeDraft, Role};

impl<K: Data, V: Data> KStream<K, V> {
    /// One stream of the records of both streams, each in its own order.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// let a = builder.stream("a", Consumed::with(StringSerde, StringSerde));
    /// let b = builder.stream("b", Consumed::with(StringSerde, StringSerde));
    /// a.merge(&b).to("both", Produced::with(StringSerde, StringSerde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("a", StringSerde, StringSerde)?.pipe("1".into(), "x".into(), 0)?;
    /// driver.input_topic("b", StringSerde, StringSerde)?.pipe("2".into(), "y".into(), 1)?;
    /// let out = driver.output_topic("both", StringSerde, StringSerde);
    /// assert_eq!(out.read_key_values()?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let factory = passthrough::<K, V>();
        let node = self.graph.borrow_mut().add_node(NodeDraft {
            kind: "merge",
            explicit: None,
            role: Role::Processor,
            parents: vec![self.node, other.node],
            stores: Vec::new(),
            factory,
        });
        KStream {
            graph: self.graph.clone(),
            node,
            key_serde: self.key_serde.clone().or_else(|| other.key_serde.clone()),
            value_serde: self
                .value_serde
                .clone()
                .or_else(|| other.value_serde.clone()),
            repartition_required: self.repartition_required || other.repartition_required,
        }
    }
}
