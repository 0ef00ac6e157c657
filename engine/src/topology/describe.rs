//! `Topology::describe()`: a readable listing of sub-topologies, nodes, stores and topics.

use std::fmt::Write;

use super::{CompiledRole, InternalTopicKind, Topology};
use crate::store::StoreBackend;

impl Topology {
    /// Sub-topologies with their nodes (sources with topics, processors with stores, sinks
    /// with topics, and the edges between them), then stores and internal topics.
    /// Internal topic names are shown with the `<application.id>-` prefix they get at run
    /// time.
    pub fn describe(&self) -> String {
        let mut out = String::from("Topologies:\n");
        for sub in self.subtopologies() {
            let _ = writeln!(out, "  Sub-topology: {}", sub.id);
            for &n in &sub.nodes {
                let node = self.node(n);
                let name = &node.meta.name;
                let _ = match &node.role {
                    CompiledRole::Source(topics) => {
                        let topics: Vec<String> = topics.iter().map(ToString::to_string).collect();
                        writeln!(out, "    Source: {name} (topics: [{}])", topics.join(", "))
                    }
                    CompiledRole::Processor => {
                        writeln!(
                            out,
                            "    Processor: {name} ({}; stores: [{}])",
                            node.kind,
                            node.meta.stores.join(", ")
                        )
                    }
                    CompiledRole::Sink(topic) => writeln!(out, "    Sink: {name} (topic: {topic})"),
                };
                if !node.children.is_empty() {
                    let children: Vec<&str> = node
                        .children
                        .iter()
                        .map(|&c| self.node(c).meta.name.as_str())
                        .collect();
                    let _ = writeln!(out, "      --> {}", children.join(", "));
                }
                if !node.parents.is_empty() {
                    let parents: Vec<&str> = node
                        .parents
                        .iter()
                        .map(|&p| self.node(p).meta.name.as_str())
                        .collect();
                    let _ = writeln!(out, "      <-- {}", parents.join(", "));
                }
            }
            out.push('\n');
        }
        if !self.stores().is_empty() {
            out.push_str("Stores:\n");
            for store in self.stores() {
                let backend = match store.backend {
                    StoreBackend::RocksDb => "rocksdb",
                    StoreBackend::InMemory => "in-memory",
                };
                let kind = match store.window {
                    None => "key-value".to_owned(),
                    Some(w) => format!("window, retention {} ms", w.retention_ms),
                };
                let _ = writeln!(
                    out,
                    "  {} ({kind}, {backend}, key: {}, value: {}, {}, {})",
                    store.name,
                    store.key_format,
                    store.value_format,
                    if store.caching {
                        "cached"
                    } else {
                        "not cached"
                    },
                    if store.logging {
                        "logged"
                    } else {
                        "not logged"
                    },
                );
            }
        }
        if !self.global_tables().is_empty() {
            out.push_str("Global tables:\n");
            for global in self.global_tables() {
                let store = global.store();
                let _ = writeln!(
                    out,
                    "  {} (topic: {}, {}, key: {}, value: {}, restored from its topic)",
                    store.name,
                    global.topic(),
                    match store.backend {
                        StoreBackend::RocksDb => "rocksdb",
                        StoreBackend::InMemory => "in-memory",
                    },
                    store.key_format,
                    store.value_format,
                );
            }
        }
        let internal = self.internal_topics();
        if !internal.is_empty() {
            out.push_str("Internal topics:\n");
            for topic in internal {
                let kind = match topic.kind {
                    InternalTopicKind::Repartition => "repartition".to_owned(),
                    InternalTopicKind::Changelog => "changelog, cleanup.policy=compact".to_owned(),
                    InternalTopicKind::WindowChangelog { retention_ms } => format!(
                        "changelog, cleanup.policy=compact,delete, retention.ms={retention_ms}"
                    ),
                };
                let _ = writeln!(out, "  {} ({kind})", topic.name);
            }
        }
        out
    }
}
