//! The node behind every materialized table: it keeps one value per key in a store and
//! forwards each update as a [`Change`] — at once, or when the record cache lets it go.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use tributary_state::FlushedEntry;

use super::params::Materialized;
use super::repartition::require;
use super::{Data, KTable};
use crate::error::StreamsError;
use crate::processor::node::{Forward, Node, NodeHooks, NodeRef, node_factory};
use crate::record::{Change, Headers, Record};
use crate::serde::SerdeRef;
use crate::store::{KeyValueStore, StoreSpec};
use crate::task::TaskContext;
use crate::topology::graph::SharedGraph;

/// Computes a key's new stored value from an input value and the stored one; `None`
/// deletes the key.
pub(crate) type Update<K, Vin, VS> = dyn Fn(&K, Vin, Option<VS>) -> Option<VS> + Send + Sync;

struct Materializer<K, Vin, VS> {
    store: KeyValueStore<K, VS>,
    update: Arc<Update<K, Vin, VS>>,
    forward: Forward<K, Change<VS>>,
    _input: PhantomData<fn(Vin)>,
}

/// Forwards the entries `store` wrote through (its cache let them go) as changes.
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
    for entry in &flushed {
        let (key, change, timestamp) = store.decode_flushed(entry)?;
        if change.new.is_none() && change.old.is_none() {
            continue;
        }
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
        let old = self.store.get(&record.key)?;
        let new = (self.update)(&record.key, record.value, old);
        let flushed = self.store.write(&record.key, new.as_ref())?;
        forward_flushed(&self.store, &self.forward, cx, flushed)
    }
}

impl<K: Data, Vin, VS: Data> NodeHooks for Materializer<K, Vin, VS> {
    fn flush(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        let flushed = self.store.flush_cache()?;
        forward_flushed(&self.store, &self.forward, cx, flushed)
    }
}

/// Adds a materializing node after `input`, storing what `update` computes in a store
/// declared by `materialized` (serdes default to `key_serde` / `value_serde`).
pub(crate) fn materialize<K: Data, Vin: 'static, VS: Data>(
    graph: &SharedGraph,
    kind: &'static str,
    input: usize,
    update: Arc<Update<K, Vin, VS>>,
    materialized: Materialized<K, VS>,
    key_serde: Option<SerdeRef<K>>,
    value_serde: Option<SerdeRef<VS>>,
) -> KTable<K, VS> {
    let fix = "give it in `Materialized` (with_key_serde / with_value_serde) or upstream";
    let key_serde = require(
        graph,
        materialized.key_serde.or(key_serde),
        kind,
        "key",
        "store keys",
        fix,
    );
    let value_serde = require(
        graph,
        materialized.value_serde.or(value_serde),
        kind,
        "value",
        "store values",
        fix,
    );
    let spec = StoreSpec::new(
        String::new(),
        key_serde.clone(),
        value_serde.clone(),
        materialized.backend,
        materialized.logging,
        materialized.caching,
    );
    let factory = node_factory::<K, Vin, K, Change<VS>>(move |cx, forward| {
        let node = Rc::new(RefCell::new(Materializer {
            store: cx.store::<K, VS>(0)?,
            update: update.clone(),
            forward,
            _input: PhantomData,
        }));
        cx.register(node.clone());
        Ok(node as NodeRef<K, Vin>)
    });
    let node = graph.borrow_mut().add_aggregation(
        kind,
        input,
        materialized.name,
        vec![(spec, "")],
        factory,
    );
    KTable {
        graph: graph.clone(),
        node,
        key_serde: Some(key_serde),
        value_serde: Some(value_serde),
    }
}
