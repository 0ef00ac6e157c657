use std::collections::HashMap;
use std::sync::Arc;

use crate::dsl::{Data, KStream};
use crate::processor::node::{Forward, stateless};
use crate::record::Record;
use crate::topology::graph::{NodeDraft, Role};

type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// A stream being split into named branches (Kafka Streams' `BranchedKStream`): each
/// record goes to the first branch whose predicate it matches, or to the default branch.
pub struct BranchedKStream<K, V> {
    stream: KStream<K, V>,
    prefix: String,
    branches: Vec<(String, Predicate<K, V>)>,
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Splits the stream into branches; branch names are `prefix` followed by each
    /// branch's name.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// let branches = builder
    ///     .stream("amounts", Consumed::with(StringSerde, I64Serde))
    ///     .split("amounts-")
    ///     .branch("negative", |_, v| *v < 0)
    ///     .default_branch("other");
    /// branches["amounts-negative"].to("refunds", Produced::with(StringSerde, I64Serde));
    /// branches["amounts-other"].to("payments", Produced::with(StringSerde, I64Serde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("amounts", StringSerde, I64Serde)?;
    /// input.pipe("a".into(), -5, 0)?;
    /// input.pipe("b".into(), 7, 0)?;
    /// assert_eq!(driver.output_topic("refunds", StringSerde, I64Serde).read_key_values()?, vec![("a".into(), -5)]);
    /// assert_eq!(driver.output_topic("payments", StringSerde, I64Serde).read_key_values()?, vec![("b".into(), 7)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split(&self, prefix: &str) -> BranchedKStream<K, V> {
        BranchedKStream {
            stream: self.clone(),
            prefix: prefix.to_owned(),
            branches: Vec::new(),
        }
    }
}

impl<K: Data, V: Data> BranchedKStream<K, V> {
    /// Adds a branch for the records matching `predicate` (and no earlier branch).
    pub fn branch(
        mut self,
        name: &str,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.branches.push((name.to_owned(), Arc::new(predicate)));
        self
    }

    /// Finishes with a branch for the records no predicate matched; returns every branch by
    /// its full name.
    pub fn default_branch(self, name: &str) -> HashMap<String, KStream<K, V>> {
        self.finish(Some(name.to_owned()))
    }

    /// Finishes, dropping the records no predicate matched.
    pub fn no_default_branch(self) -> HashMap<String, KStream<K, V>> {
        self.finish(None)
    }

    fn finish(self, default: Option<String>) -> HashMap<String, KStream<K, V>> {
        let predicates: Vec<Predicate<K, V>> =
            self.branches.iter().map(|(_, p)| p.clone()).collect();
        let with_default = default.is_some();
        // Children are wired in creation order, so child `i` is branch `i`.
        let factory = stateless(move |cx, forward: &Forward<K, V>, record: Record<K, V>| {
            let chosen = predicates
                .iter()
                .position(|p| p(&record.key, &record.value));
            match chosen.or(with_default.then_some(predicates.len())) {
                Some(i) => forward.children[i].borrow_mut().process(cx, record),
                None => Ok(()),
            }
        });
        let split = self
            .stream
            .derive::<K, V>("split", factory, None, None, false);
        let split = split.named(&format!("{}split", self.prefix));
        let names = self.branches.into_iter().map(|(n, _)| n).chain(default);
        names
            .map(|name| {
                let full = format!("{}{name}", self.prefix);
                let pass = stateless(|cx, forward: &Forward<K, V>, record: Record<K, V>| {
                    forward.send(cx, record)
                });
                let node = self.stream.graph.borrow_mut().add_node(NodeDraft {
                    kind: "branch",
                    explicit: Some(full.clone()),
                    role: Role::Processor,
                    parents: vec![split.node],
                    stores: Vec::new(),
                    factory: pass,
                });
                let branch = KStream {
                    graph: self.stream.graph.clone(),
                    node,
                    key_serde: self.stream.key_serde.clone(),
                    value_serde: self.stream.value_serde.clone(),
                    repartition_required: self.stream.repartition_required,
                };
                (full, branch)
            })
            .collect()
    }
}
