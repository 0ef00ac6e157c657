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
    /// What the topic carries, which names it and sizes it.
    pub(crate) purpose: TopicPurpose,
}

/// What an internal topic between sub-topologies carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TopicPurpose {
    /// Re-keyed records (`<name>-repartition`), with as many partitions as the writer's
    /// inputs.
    Repartition,
    /// A foreign-key join's subscriptions (`<name>-subscription-registration-topic`),
    /// co-partitioned with the foreign table that reads them.
    SubscriptionRegistration,
    /// A foreign-key join's responses (`<name>-subscription-response-topic`),
    /// co-partitioned with the table that reads them.
    SubscriptionResponse,
}

impl TopicPurpose {
    /// Whether the topic gets the partition count of the sub-topology reading it (rather
    /// than of the one writing it).
    pub(crate) fn sized_by_reader(self) -> bool {
        !matches!(self, Self::Repartition)
    }
}

/// A global table as the DSL declared it; its store is named at build time.
pub(crate) struct GlobalDraft {
    pub(crate) explicit: Option<String>,
    pub(crate) table: super::GlobalTable,
}

/// What `StreamsBuilder` accumulates.
#[derive(Default)]
pub(crate) struct GraphBuilder {
    pub(crate) nodes: Vec<NodeDraft>,
    pub(crate) stores: Vec<StoreDraft>,
    /// Stores added by name for custom processors.
    pub(crate) added_stores: Vec<StoreSpec>,
    pub(crate) repartitions: Vec<RepartitionDraft>,
    pub(crate) globals: Vec<GlobalDraft>,
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

    /// Declares a store named `explicit` + `suffix`, or after node `owner` (which may be
    /// added next); returns its draft index.
    pub(crate) fn add_store(
        &mut self,
        owner: usize,
        explicit: Option<String>,
        spec: StoreSpec,
        suffix: &'static str,
    ) -> usize {
        self.stores.push(StoreDraft {
            explicit,
            owner,
            spec,
            suffix,
        });
        self.stores.len() - 1
    }

    /// Adds an aggregation: a processor `kind` after `parents` that owns `stores` (each a
    /// declaration and the suffix its name gets after `name`, explicit or generated), built
    /// by `factory`. Returns the node and its stores' draft indices.
    pub(crate) fn add_aggregation(
        &mut self,
        kind: &'static str,
        parents: Vec<usize>,
        name: Option<String>,
        stores: Vec<(StoreSpec, &'static str)>,
        factory: Factory,
    ) -> (usize, Vec<usize>) {
        let owner = self.nodes.len();
        let drafts: Vec<usize> = stores
            .into_iter()
            .map(|(spec, suffix)| self.add_store(owner, name.clone(), spec, suffix))
            .collect();
        let node = self.add_node(NodeDraft {
            kind,
            explicit: None,
            role: Role::Processor,
            parents,
            stores: drafts.iter().map(|d| StoreUse::Owned(*d)).collect(),
            factory,
        });
        (node, drafts)
    }
}
