//! An in-memory key-value store with the same behaviour as the RocksDB one.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use crate::StateError;
use crate::kv::{KeyValueStore, KvIter, ReadOnlyKeyValueStore, WriteEntry};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// A key-value store held in a `BTreeMap`. Not persistent: after a restart it is rebuilt
/// from its changelog. Query handles share the map behind a reader-writer lock that only
/// the owning task writes through, so the lock is uncontended on the record path. The map
/// is copied on write while a snapshot holds it, so taking a snapshot costs nothing.
#[derive(Clone)]
pub struct InMemoryKeyValueStore {
    name: Arc<str>,
    map: Arc<RwLock<Arc<Map>>>,
}

impl InMemoryKeyValueStore {
    /// An empty store called `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            map: Arc::default(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Arc<Map>> {
        // A panic while holding the lock cannot leave the map half-written (every write
        // is a single map operation), so a poisoned lock is still safe to use.
        self.map
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The map to write, copied first if a snapshot holds it.
    fn write(&self) -> MappedWrite<'_> {
        MappedWrite(
            self.map
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

/// The write side of the map: dereferences to a map no snapshot shares.
struct MappedWrite<'a>(std::sync::RwLockWriteGuard<'a, Arc<Map>>);

impl std::ops::Deref for MappedWrite<'_> {
    type Target = Map;

    fn deref(&self) -> &Map {
        &self.0
    }
}

impl std::ops::DerefMut for MappedWrite<'_> {
    fn deref_mut(&mut self) -> &mut Map {
        Arc::make_mut(&mut self.0)
    }
}

/// Whether `from` and `to` hold no key. `BTreeMap::range` panics on an inverted range, and
/// on `(x, x)` with either end excluded; both are simply empty here.
fn empty_range(from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    match (from, to) {
        (Bound::Included(f), Bound::Included(t)) => f > t,
        (Bound::Included(f) | Bound::Excluded(f), Bound::Included(t) | Bound::Excluded(t)) => {
            f >= t
        }
        _ => false,
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
        if empty_range(from, to) {
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

    /// Shares the map inside `at_snapshot` (constant time), then reads it outside.
    fn snapshot_scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        at_snapshot: &mut dyn FnMut(&mut dyn FnMut()) -> bool,
        each: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StateError> {
        let mut snapshot = None;
        if !at_snapshot(&mut || snapshot = Some(Arc::clone(&self.read()))) {
            return Ok(());
        }
        let snapshot = snapshot.expect("at_snapshot takes the snapshot");
        if empty_range(from, to) {
            return Ok(());
        }
        for (key, value) in snapshot.range::<[u8], _>((from, to)) {
            if !each(key, value) {
                break;
            }
        }
        Ok(())
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
