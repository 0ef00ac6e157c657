//! The logical graph the DSL records, before names are final.

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::TopologyError;
use crate::processor::node::Factory;
use crate::store::StoreSpec;

/// A topic a node reads or writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TopicRef {
    /// A user topic.
    External(String),
    /// The repartition topic of slot `n` of [`GraphBuilder::repartitions`].
    Repartition(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Source { topics: Vec<TopicRef> },
    Processor,
    Sink { topic: TopicRef },
}

/// A store a node uses: one it created (named at build time) or one added by name.
#[derive(Clone, Debug)]
pub(crate) enum StoreUse {
    Owned(usize),
    Named(String),
}

pub(crate) struct NodeDraft {
    /// The operator, e.g. "filter", "count".
    pub(crate) kind: &'static str,
    pub(crate) explicit: Option<String>,
    pub(crate) role: Role,
    pub(crate) parents: Vec<usize>,
    pub(crate) stores: Vec<StoreUse>,
    pub(crate) factory: Factory,
}

pub(crate) struct StoreDraft {
    pub(crate) explicit: Option<String>,
    /// The node that created it; a generated name derives from that node's name.
    pub(crate) owner: usize,
    /// The declaration; its name is filled in at build time.
    pub(crate) spec: StoreSpec,
    /// Appended to the name, explicit or generated: a companion store of an operator's
    /// main store (say `-times`) is named after it.
    pub(crate) suffix: &'static str,
}

pub(crate) struct RepartitionDraft {
    pub(crate) explicit: Option<String>,
    /// The node that feeds the repartition topic; a generated name derives from it.
    pub(crate) upstream: usize,
}

/// What `StreamsBuilder` accumulates.
#[derive(Default)]
pub(crate) struct GraphBuilder {
    pub(crate) nodes: Vec<NodeDraft>,
    pub(crate) stores: Vec<StoreDraft>,
    /// Stores added by name for custom processors.
    pub(crate) added_stores: Vec<StoreSpec>,
    pub(crate) repartitions: Vec<RepartitionDraft>,
    /// Problems found while the DSL was called, reported by `build()`.
    pub(crate) errors: Vec<TopologyError>,
    pub(crate) require_explicit_names: bool,
}

pub(crate) type SharedGraph = Rc<RefCell<GraphBuilder>>;

impl GraphBuilder {
    pub(crate) fn add_node(&mut self, node: NodeDraft) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Adds an aggregation: a processor `kind` after `input` that owns `stores` (each a
    /// declaration and the suffix its name gets after `name`, explicit or generated), built
    /// by `factory`. Returns the node.
    pub(crate) fn add_aggregation(
        &mut self,
        kind: &'static str,
        input: usize,
        name: Option<String>,
        stores: Vec<(StoreSpec, &'static str)>,
        factory: Factory,
    ) -> usize {
        let owner = self.nodes.len();
        let mut owned = Vec::new();
        for (spec, suffix) in stores {
            self.stores.push(StoreDraft {
                explicit: name.clone(),
                owner,
                spec,
                suffix,
            });
            owned.push(StoreUse::Owned(self.stores.len() - 1));
        }
        self.add_node(NodeDraft {
            kind,
            explicit: None,
            role: Role::Processor,
            parents: vec![input],
            stores: owned,
            factory,
        })
    }
}
