//! How joins read a table: its current value for a key, from the store that holds it and
//! through the operators between that store and the table (filters, value mappers), as
//! Kafka Streams' value getters do. A table only filtered or mapped needs no store of its
//! own.

use std::sync::Arc;

use crate::dsl::Data;
use crate::error::StreamsError;
use crate::processor::node::InstantiateCx;
use crate::store::ValueAndTimestamp;

/// A table's current value of a key, with its timestamp, in a running task.
pub(crate) type Getter<K, V> =
    Box<dyn Fn(&K) -> Result<Option<ValueAndTimestamp<V>>, StreamsError>>;

/// Builds a getter for a node of a task, given the position of the view's store among the
/// node's stores.
type MakeGetter<K, V> =
    dyn Fn(&InstantiateCx<'_>, usize) -> Result<Getter<K, V>, StreamsError> + Send + Sync;

/// A table's row computed from its parent's (`None`: the row is hidden).
pub(crate) type RowFn<K, V, V2> = Arc<dyn Fn(&K, V) -> Option<V2> + Send + Sync>;

/// How to look a table up.
pub(crate) struct TableView<K, V> {
    /// The store behind the table: an index into the graph's store drafts.
    pub(crate) store: usize,
    make: Arc<MakeGetter<K, V>>,
}

impl<K, V> Clone for TableView<K, V> {
    fn clone(&self) -> Self {
        Self {
            store: self.store,
            make: self.make.clone(),
        }
    }
}

impl<K: Data, V: Data> TableView<K, V> {
    /// The table that store draft `store` holds.
    pub(crate) fn of_store(store: usize) -> Self {
        Self {
            store,
            make: Arc::new(|cx, i| {
                let store = cx.store::<K, V>(i)?;
                Ok(Box::new(move |key: &K| store.lookup_timestamped(key)) as Getter<K, V>)
            }),
        }
    }

    /// The getter of a node whose `i`th store is this view's store.
    pub(crate) fn getter(
        &self,
        cx: &InstantiateCx<'_>,
        i: usize,
    ) -> Result<Getter<K, V>, StreamsError> {
        (self.make)(cx, i)
    }

    /// This table with each value replaced by `f(key, value)`: `None` hides the row (a
    /// filter), `Some` is the new value (a value mapper).
    pub(crate) fn derive<V2: Data>(&self, f: RowFn<K, V, V2>) -> TableView<K, V2> {
        let parent = self.make.clone();
        TableView {
            store: self.store,
            make: Arc::new(move |cx, i| {
                let parent = parent(cx, i)?;
                let f = f.clone();
                Ok(Box::new(move |key: &K| {
                    Ok(parent(key)?.and_then(|found| {
                        f(key, found.value).map(|value| ValueAndTimestamp {
                            value,
                            timestamp: found.timestamp,
                        })
                    }))
                }) as Getter<K, V2>)
            }),
        }
    }
}
