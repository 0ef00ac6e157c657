//! An in-memory key-value store with the same behaviour as the RocksDB one.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use crate::StateError;
use crate::kv::{KeyValueStore, KvIter, ReadOnlyKeyValueStore, WriteEntry};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// A key-value store held in a `BTreeMap`. Not persistent: after a restart it is rebuilt
/// from its changelog. Query handles share the map behind a reader-writer lock that only
/// the owning task writes through, so the lock is uncontended on the record path.
#[derive(Clone)]
pub struct InMemoryKeyValueStore {
    name: Arc<str>,
    map: Arc<RwLock<Map>>,
}

impl InMemoryKeyValueStore {
    /// An empty store called `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            map: Arc::default(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Map> {
        // A panic while holding the lock cannot leave the map half-written (every write
        // is a single map operation), so a poisoned lock is still safe to use.
        self.map
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Map> {
        self.map
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ReadOnlyKeyValueStore for InMemoryKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.read().get(key).cloned())
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StateError> {
        // `BTreeMap::range` panics on an inverted range, and on `(x, x)` with either end
        // excluded; both are simply empty here.
        let empty = match (from, to) {
            (Bound::Included(f), Bound::Included(t)) => f > t,
            (Bound::Included(f) | Bound::Excluded(f), Bound::Included(t) | Bound::Excluded(t)) => {
                f >= t
            }
            _ => false,
        };
        if empty {
            return Ok(Box::new(std::iter::empty()));
        }
        // The snapshot is copied so that the lock is not held while the caller iterates.
        let entries: Vec<_> = self
            .read()
            .range::<[u8], _>((from, to))
            .map(|(k, v)| Ok((k.clone(), v.clone())))
            .collect();
        Ok(Box::new(entries.into_iter()))
    }

    fn approximate_num_entries(&self) -> Result<u64, StateError> {
        Ok(self.read().len() as u64)
    }
}

impl KeyValueStore for InMemoryKeyValueStore {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.write().insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StateError> {
        self.write().remove(key);
        Ok(())
    }

    fn put_all(&mut self, entries: &[WriteEntry<'_>]) -> Result<(), StateError> {
        let mut map = self.write();
        for (key, value) in entries {
            match value {
                Some(v) => map.insert(key.to_vec(), v.to_vec()),
                None => map.remove(*key),
            };
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StateError> {
        Ok(())
    }

    fn persistent(&self) -> bool {
        false
    }

    fn read_only_handle(&self) -> Arc<dyn ReadOnlyKeyValueStore + Send + Sync> {
        Arc::new(self.clone())
    }
}
