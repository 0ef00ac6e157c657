use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use crate::dsl::{Data, KStream};
use crate::processor::Processor;
use crate::processor::node::{NodeRef, node_factory};
use crate::processor::{ProcessorHooks, ProcessorNode};
use crate::topology::graph::{NodeDraft, Role, StoreUse};

impl<K: Data, V: Data> KStream<K, V> {
    /// Runs a custom [`Processor`] on every record. `supplier` makes one processor per
    /// task; `stores` names the stores (added with `StreamsBuilder::add_state_store`) it
    /// may use. The output has no serdes: give them where bytes are needed next.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver, Record, StreamsError};
    /// use tributary_engine::processor::{Processor, ProcessorContext};
    /// use tributary_engine::store::StoreBuilder;
    ///
    /// /// Emits how many times each key was seen so far.
    /// struct Seen;
    /// impl Processor<String, String, String, i64> for Seen {
    ///     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, i64>, r: Record<String, String>) -> Result<(), StreamsError> {
    ///         let mut store = ctx.key_value_store::<String, i64>("seen")?;
    ///         let n = store.get(&r.key)?.unwrap_or(0) + 1;
    ///         store.put(&r.key, &n)?;
    ///         ctx.forward(r.with_value(n))
    ///     }
    /// }
    ///
    /// let builder = StreamsBuilder::new();
    /// builder.add_state_store(StoreBuilder::key_value("seen", StringSerde, I64Serde));
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .process(|| Seen, &["seen"])
    ///     .to("out", Produced::with(StringSerde, I64Serde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("in", StringSerde, StringSerde)?;
    /// input.pipe("k".into(), "a".into(), 0)?;
    /// input.pipe("k".into(), "b".into(), 1)?;
    /// let out = driver.output_topic("out", StringSerde, I64Serde);
    /// assert_eq!(out.read_key_values()?, vec![("k".into(), 1), ("k".into(), 2)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn process<K2: Data, V2: Data, P: Processor<K, V, K2, V2>>(
        &self,
        supplier: impl Fn() -> P + Send + Sync + 'static,
        stores: &[&str],
    ) -> KStream<K2, V2> {
        let factory = node_factory::<K, V, K2, V2>(move |cx, forward| {
            let index = cx.hooks.len();
            let node = Rc::new(RefCell::new(ProcessorNode {
                processor: supplier(),
                forward,
                meta: cx.meta.clone(),
                index,
            }));
            let hooks = ProcessorHooks::<P, K, V, K2, V2> {
                node: node.clone(),
                _types: PhantomData,
            };
            cx.register(Rc::new(RefCell::new(hooks)));
            Ok(node as NodeRef<K, V>)
        });
        let node = self.graph.borrow_mut().add_node(NodeDraft {
            kind: "process",
            explicit: None,
            role: Role::Processor,
            parents: vec![self.node],
            stores: stores
                .iter()
                .map(|s| StoreUse::Named((*s).to_owned()))
                .collect(),
            factory,
        });
        KStream {
            graph: self.graph.clone(),
            node,
            key_serde: None,
            value_serde: None,
            repartition_required: false,
        }
    }
}
