//! `StreamsBuilder::build()`: final names, validation, sub-topologies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::graph::{GraphBuilder, Role, StoreUse, TopicPurpose, TopicRef};
use super::{CompiledNode, CompiledRole, SubTopology, TopicName, Topology, TopologyInner};
use crate::error::TopologyError;
use crate::processor::node::NodeMeta;

/// FNV-1a, 32 bits: a stable hash for generated names (the same on every platform and
/// release, unlike `std`'s hasher).
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn valid_topic_part(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

struct Names {
    nodes: Vec<String>,
    repartitions: Vec<String>,
}

/// Generated names depend only on a node's kind, its parents' names and its rank among
/// siblings of the same kind, so they stay the same when unrelated operators are added.
fn name_nodes(g: &GraphBuilder) -> Names {
    let mut nodes: Vec<String> = Vec::with_capacity(g.nodes.len());
    let mut repartitions: Vec<Option<String>> = vec![None; g.repartitions.len()];
    let mut seen: HashMap<String, usize> = HashMap::new();
    for node in &g.nodes {
        let parents: Vec<&str> = node.parents.iter().map(|&p| nodes[p].as_str()).collect();
        let mut topic_names = |t: &TopicRef, nodes: &[String]| match t {
            TopicRef::External(name) => name.clone(),
            TopicRef::Repartition(r) => repartitions[*r]
                .get_or_insert_with(|| {
                    let draft = &g.repartitions[*r];
                    draft
                        .explicit
                        .clone()
                        .unwrap_or_else(|| nodes[draft.upstream].clone())
                })
                .clone(),
        };
        let identity = match &node.role {
            Role::Source { topics } => {
                format!(
                    "source|{}",
                    topics
                        .iter()
                        .map(|t| topic_names(t, &nodes))
                        .collect::<Vec<_>>()
                        .join("+")
                )
            }
            Role::Sink { topic } => {
                format!("sink|{}|{}", topic_names(topic, &nodes), parents.join(","))
            }
            Role::Processor => format!("{}|{}", node.kind, parents.join(",")),
        };
        let ordinal = seen
            .entry(identity.clone())
            .and_modify(|n| *n += 1)
            .or_insert(0);
        let name = match (&node.explicit, &node.role) {
            (Some(name), _) => name.clone(),
            (None, Role::Source { topics }) => {
                let base = format!(
                    "source-{}",
                    topics
                        .iter()
                        .map(|t| topic_names(t, &nodes))
                        .collect::<Vec<_>>()
                        .join("+")
                );
                if *ordinal == 0 {
                    base
                } else {
                    format!("{base}-{ordinal}")
                }
            }
            (None, _) => format!(
                "{}-{:08x}",
                node.kind,
                fnv1a(&format!("{identity}|{ordinal}"))
            ),
        };
        nodes.push(name);
    }
    let repartitions = repartitions
        .into_iter()
        .enumerate()
        .map(|(r, name)| {
            name.unwrap_or_else(|| {
                g.repartitions[r]
                    .explicit
                    .clone()
                    .unwrap_or_else(|| nodes[g.repartitions[r].upstream].clone())
            })
        })
        .collect();
    Names {
        nodes,
        repartitions,
    }
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn find(&mut self, x: usize) -> usize {
        if self.0[x] != x {
            let root = self.find(self.0[x]);
            self.0[x] = root;
        }
        self.0[x]
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// Compiles the recorded graph into a [`Topology`].
pub(crate) fn compile(mut g: GraphBuilder) -> Result<Topology, TopologyError> {
    if let Some(err) = g.errors.first() {
        return Err(err.clone());
    }
    if !g
        .nodes
        .iter()
        .any(|n| matches!(n.role, Role::Source { .. }))
    {
        return Err(TopologyError::NoSource);
    }
    let names = name_nodes(&g);

    let mut unique = HashSet::new();
    for name in &names.nodes {
        if !unique.insert(name.as_str()) {
            return Err(TopologyError::DuplicateName { name: name.clone() });
        }
    }

    // Store names: owned stores first (in creation order), then stores added by name.
    let mut stores = Vec::new();
    for draft in &mut g.stores {
        let suffix = draft.suffix;
        let name = match &draft.explicit {
            Some(name) => format!("{name}{suffix}"),
            None if g.require_explicit_names => {
                return Err(TopologyError::MissingName {
                    what: format!("the store of `{}`", names.nodes[draft.owner]),
                    fix: "name it with `Materialized::named(\"...\")`".into(),
                });
            }
            None => format!("{}-store{suffix}", names.nodes[draft.owner]),
        };
        draft.spec.name = name;
        stores.push(draft.spec.clone());
    }
    stores.extend(g.added_stores.iter().cloned());
    let mut globals = Vec::new();
    for draft in &g.globals {
        let mut table = draft.table.clone();
        table.store.name = match &draft.explicit {
            Some(name) => name.clone(),
            None if g.require_explicit_names => {
                return Err(TopologyError::MissingName {
                    what: format!("the store of the global table of `{}`", table.topic),
                    fix: "name it with `Materialized::named(\"...\")`".into(),
                });
            }
            None => format!("{}-global-store", table.topic),
        };
        let streamed = g.nodes.iter().any(|n| match &n.role {
            Role::Source { topics } => topics.contains(&TopicRef::External(table.topic.clone())),
            _ => false,
        });
        if streamed {
            return Err(TopologyError::GlobalTopicReadTwice {
                topic: table.topic.clone(),
            });
        }
        globals.push(table);
    }
    let mut global_names = HashSet::new();
    for global in &globals {
        let name = &global.store.name;
        if !global_names.insert(name.clone()) || stores.iter().any(|s| s.name == *name) {
            return Err(TopologyError::DuplicateStore { name: name.clone() });
        }
    }
    let mut store_names = HashSet::new();
    for spec in &stores {
        if !store_names.insert(spec.name.clone()) {
            return Err(TopologyError::DuplicateStore {
                name: spec.name.clone(),
            });
        }
        if spec.logging && !valid_topic_part(&spec.name) {
            return Err(TopologyError::InvalidName {
                name: spec.name.clone(),
            });
        }
    }
    for (r, draft) in g.repartitions.iter().enumerate() {
        if draft.explicit.is_none() && g.require_explicit_names {
            let (what, fix) = match draft.purpose {
                TopicPurpose::Repartition => ("repartition topic", "`Grouped::named(\"...\")`"),
                _ => (
                    "foreign-key join's topics",
                    "the join's `Materialized::named(\"...\")`",
                ),
            };
            return Err(TopologyError::MissingName {
                what: format!("the {what} after `{}`", names.nodes[draft.upstream]),
                fix: format!("name it with {fix}"),
            });
        }
        if !valid_topic_part(&names.repartitions[r]) {
            return Err(TopologyError::InvalidName {
                name: names.repartitions[r].clone(),
            });
        }
    }

    let internal_name = |r: usize| {
        let name = &names.repartitions[r];
        match g.repartitions[r].purpose {
            TopicPurpose::Repartition => crate::names::repartition_suffix(name),
            TopicPurpose::SubscriptionRegistration => {
                crate::names::subscription_registration_suffix(name)
            }
            TopicPurpose::SubscriptionResponse => crate::names::subscription_response_suffix(name),
        }
    };
    let reader_sized: HashSet<String> = (0..g.repartitions.len())
        .filter(|&r| g.repartitions[r].purpose.sized_by_reader())
        .map(internal_name)
        .collect();
    let topic = |t: &TopicRef| match t {
        TopicRef::External(name) => TopicName::External(name.clone()),
        TopicRef::Repartition(r) => TopicName::Internal(internal_name(*r)),
    };
    let mut nodes: Vec<CompiledNode> = Vec::with_capacity(g.nodes.len());
    for (i, draft) in g.nodes.iter().enumerate() {
        let mut node_stores = Vec::new();
        for used in &draft.stores {
            let name = match used {
                StoreUse::Owned(s) => g.stores[*s].spec.name.clone(),
                StoreUse::Named(name) => name.clone(),
            };
            if !store_names.contains(&name) {
                let mut known: Vec<_> = store_names.iter().cloned().collect();
                known.sort();
                return Err(TopologyError::UnknownStore {
                    operator: names.nodes[i].clone(),
                    store: name,
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            }
            node_stores.push(name);
        }
        let role = match &draft.role {
            Role::Source { topics } => CompiledRole::Source(topics.iter().map(topic).collect()),
            Role::Processor => CompiledRole::Processor,
            Role::Sink { topic: t } => CompiledRole::Sink(topic(t)),
        };
        nodes.push(CompiledNode {
            meta: NodeMeta {
                name: names.nodes[i].clone(),
                stores: node_stores,
            },
            kind: draft.kind,
            role,
            parents: draft.parents.clone(),
            children: Vec::new(),
            factory: draft.factory.clone(),
        });
    }
    for i in 0..nodes.len() {
        for p in nodes[i].parents.clone() {
            nodes[p].children.push(i);
        }
    }

    // Sub-topologies: nodes joined by edges or by a shared store.
    let mut uf = UnionFind((0..nodes.len()).collect());
    let mut store_owner: HashMap<&str, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for &p in &node.parents {
            uf.union(i, p);
        }
        for store in &node.meta.stores {
            if let Some(&other) = store_owner.get(store.as_str()) {
                uf.union(i, other);
            } else {
                store_owner.insert(store, i);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..nodes.len() {
        groups.entry(uf.find(i)).or_default().push(i);
    }
    let subtopologies = groups
        .into_values()
        .enumerate()
        .map(|(id, members)| {
            let mut sources = Vec::new();
            let mut sinks = Vec::new();
            let mut sub_stores: Vec<String> = Vec::new();
            for &n in &members {
                match &nodes[n].role {
                    CompiledRole::Source(topics) => sources.extend(topics.iter().cloned()),
                    CompiledRole::Sink(t) => sinks.push(t.clone()),
                    CompiledRole::Processor => {}
                }
                for s in &nodes[n].meta.stores {
                    if !sub_stores.contains(s) {
                        sub_stores.push(s.clone());
                    }
                }
            }
            SubTopology {
                id: id as u32,
                nodes: members,
                stores: sub_stores,
                sources,
                sinks,
            }
        })
        .collect();
    // Stores added for processors but never connected belong to no task.
    let connected: HashSet<&String> = nodes.iter().flat_map(|n| &n.meta.stores).collect();
    let stores = stores
        .into_iter()
        .filter(|s| connected.contains(&s.name))
        .collect();
    Ok(Topology {
        inner: Arc::new(TopologyInner {
            nodes,
            stores,
            subtopologies,
            globals,
            reader_sized,
        }),
    })
}
