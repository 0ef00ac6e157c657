//! The node behind every materialized table: it keeps one value per key in a store and
//! forwards each update as a [`Change`] — at once, or when the record cache lets it go.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use tributary_state::FlushedEntry;

use super::ktable::view::TableView;
use super::params::Materialized;
use super::repartition::require;
use super::{Data, KTable};
use crate::error::StreamsError;
use crate::processor::TaskContext;
use crate::processor::node::{Forward, Node, NodeHooks, NodeRef, node_factory};
use crate::record::{Change, Headers, Record};
use crate::serde::SerdeRef;
use crate::store::{KeyValueStore, StoreSpec};
use crate::topology::graph::SharedGraph;

/// Computes a key's new stored value from an input value and the stored one; `None`
/// deletes the key.
pub(crate) type Update<K, Vin, VS> = dyn Fn(&K, Vin, Option<VS>) -> Option<VS> + Send + Sync;

/// Whether a value is null (a `None` of an `Option` serde).
pub(crate) type IsNull<V> = Arc<dyn Fn(&V) -> bool + Send + Sync>;

/// How a materialized table stamps a key's new value, as Kafka Streams does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// With the record's timestamp: a table read from a topic.
    Record,
    /// With the larger of the record's and the previous value's: aggregations, whose
    /// result is as recent as the latest record folded into it.
    Latest,
}

impl Stamp {
    /// The timestamp of a value computed from a record at `record` and a previous value
    /// stamped `previous` (`None`: there was none).
    pub(crate) fn of(self, record: i64, previous: Option<i64>) -> i64 {
        match (self, previous) {
            (Self::Latest, Some(previous)) => record.max(previous),
            _ => record,
        }
    }
}

struct Materializer<K, Vin, VS> {
    kind: &'static str,
    store: KeyValueStore<K, VS>,
    update: Arc<Update<K, Vin, VS>>,
    stamp: Stamp,
    /// For stream aggregations: records with a null value are skipped.
    null_value: Option<IsNull<Vin>>,
    forward: Forward<K, Change<VS>>,
    _input: PhantomData<fn(Vin)>,
}

/// Forwards the entries `store` wrote through (its cache let them go, or it has none) as
/// changes, each with the timestamp stored with it. An entry with neither a new nor an old
/// value (a delete of an absent key) is forwarded by a store not caching now, as in Kafka
/// Streams without a cache. A task replaying records an earlier owner processed bypasses
/// its caches and so forwards it: the earlier owner may have stored the delete and died
/// before what it sent downstream for it (a foreign-key join's answers to the rows
/// subscribed to the key) was delivered. A caching store forwards it when a join looked up
/// a value the cache held for the key before the delete (Kafka Streams drops it): the
/// join's results built on that value would otherwise outlive it.
pub(crate) fn forward_flushed<K: Data, VS: Data>(
    store: &KeyValueStore<K, VS>,
    forward: &Forward<K, Change<VS>>,
    cx: &mut TaskContext,
    flushed: Vec<FlushedEntry>,
) -> Result<(), StreamsError> {
    // A table nothing reads from (a terminal aggregation) forwards nothing, so there is
    // nothing to decode either.
    if forward.children.is_empty() {
        return Ok(());
    }
    let caching = store.is_caching();
    for entry in &flushed {
        if caching && entry.1.deletes_nothing() && !entry.1.seen {
            continue;
        }
        let (key, change, timestamp) = store.decode_flushed(entry)?;
        forward.send(
            cx,
            Record {
                key,
                value: change,
                timestamp,
                headers: Headers::new(),
            },
        )?;
    }
    Ok(())
}

impl<K: Data, Vin, VS: Data> Node<K, Vin> for Materializer<K, Vin, VS> {
    fn process(
        &mut self,
        cx: &mut TaskContext,
        record: Record<K, Vin>,
    ) -> Result<(), StreamsError> {
        let null_value = self.null_value.as_ref().is_some_and(|n| n(&record.value));
        if cx.skips_null(self.kind, self.store.is_null_key(&record.key), null_value) {
            return Ok(());
        }
        let old = self.store.get_timestamped(&record.key)?;
        let previous = old.as_ref().map(|o| o.timestamp);
        let new = (self.update)(&record.key, record.value, old.map(|o| o.value));
        let timestamp = self.stamp.of(record.timestamp, previous);
        let flushed = self.store.write(&record.key, new.as_ref(), timestamp)?;
        forward_flushed(&self.store, &self.forward, cx, flushed)
    }
}

impl<K: Data, Vin, VS: Data> NodeHooks for Materializer<K, Vin, VS> {
    fn flush(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        let flushed = self.store.flush_cache()?;
        forward_flushed(&self.store, &self.forward, cx, flushed)
    }
}

/// What a materializing node computes: the update of a key's value, how the new value is
/// stamped, and (for stream aggregations) which input values are null and skipped.
pub(crate) struct Materialize<K, Vin, VS> {
    pub(crate) kind: &'static str,
    pub(crate) update: Arc<Update<K, Vin, VS>>,
    pub(crate) stamp: Stamp,
    pub(crate) null_value: Option<IsNull<Vin>>,
}

/// The store a materializing node `kind` keeps its table in, declared by `materialized`
/// (serdes default to `key_serde` / `value_serde`), with the serdes it uses.
pub(crate) fn table_store<K: Data, VS: Data>(
    graph: &SharedGraph,
    kind: &'static str,
    materialized: &Materialized<K, VS>,
    key_serde: Option<SerdeRef<K>>,
    value_serde: Option<SerdeRef<VS>>,
) -> (StoreSpec, SerdeRef<K>, SerdeRef<VS>) {
    let fix = "give it in `Materialized` (with_key_serde / with_value_serde) or upstream";
    let key_serde = materialized.key_serde.clone().or(key_serde);
    let key_serde = require(graph, key_serde, kind, "key", "store keys", fix);
    let value_serde = materialized.value_serde.clone().or(value_serde);
    let value_serde = require(graph, value_serde, kind, "value", "store values", fix);
    let spec = StoreSpec::new(
        String::new(),
        key_serde.clone(),
        value_serde.clone(),
        materialized.backend,
        materialized.logging,
        materialized.caching,
    );
    (spec, key_serde, value_serde)
}

/// Builds the node that computes what `what` says into the node's first store.
pub(crate) fn materializer<K: Data, Vin: 'static, VS: Data>(
    what: Materialize<K, Vin, VS>,
) -> crate::processor::node::Factory {
    node_factory::<K, Vin, K, Change<VS>>(move |cx, forward| {
        let node = Rc::new(RefCell::new(Materializer {
            kind: what.kind,
            store: cx.store::<K, VS>(0)?,
            update: what.update.clone(),
            stamp: what.stamp,
            null_value: what.null_value.clone(),
            forward,
            _input: PhantomData,
        }));
        cx.register(node.clone());
        Ok(node as NodeRef<K, Vin>)
    })
}

/// Adds a materializing node after `inputs`, storing what `what` computes in a store
/// declared by `materialized` (serdes default to `key_serde` / `value_serde`).
pub(crate) fn materialize<K: Data, Vin: 'static, VS: Data>(
    graph: &SharedGraph,
    inputs: Vec<usize>,
    what: Materialize<K, Vin, VS>,
    materialized: Materialized<K, VS>,
    key_serde: Option<SerdeRef<K>>,
    value_serde: Option<SerdeRef<VS>>,
) -> KTable<K, VS> {
    let kind = what.kind;
    let (spec, key_serde, value_serde) =
        table_store(graph, kind, &materialized, key_serde, value_serde);
    let (node, stores) = graph.borrow_mut().add_aggregation(
        kind,
        inputs,
        materialized.name,
        vec![(spec, "")],
        materializer(what),
    );
    KTable {
        graph: graph.clone(),
        node,
        key_serde: Some(key_serde),
        value_serde: Some(value_serde),
        view: TableView::of_store(stores[0]),
    }
}
