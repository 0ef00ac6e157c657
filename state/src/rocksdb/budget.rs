use rocksdb::{Cache, WriteBufferManager};

/// One memory budget for every RocksDB store of a process: a shared LRU block cache, and a
/// write-buffer manager that charges memtables to that same cache. Memory therefore grows
/// with the budget, not with the number of stores.
///
/// Cloning is cheap and shares the same cache.
#[derive(Clone)]
pub struct MemoryBudget {
    total_bytes: usize,
    cache: Cache,
    write_buffers: WriteBufferManager,
}

impl MemoryBudget {
    /// The default budget: 256 MiB.
    pub const DEFAULT_BYTES: usize = 256 * 1024 * 1024;

    /// A budget of `total_bytes` for block cache and memtables together. A quarter of it
    /// may be taken by memtables before RocksDB flushes them early; writers never stall.
    pub fn new(total_bytes: usize) -> Self {
        let cache = Cache::new_lru_cache(total_bytes);
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            total_bytes / 4,
            false,
            cache.clone(),
        );
        Self {
            total_bytes,
            cache,
            write_buffers,
        }
    }

    /// The configured budget in bytes.
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// Bytes the shared cache holds now (blocks and charged memtables).
    pub fn used_bytes(&self) -> usize {
        self.cache.get_usage()
    }

    pub(crate) fn cache(&self) -> &Cache {
        &self.cache
    }

    pub(crate) fn write_buffers(&self) -> &WriteBufferManager {
        &self.write_buffers
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BYTES)
    }
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("total_bytes", &self.total_bytes)
            .finish()
    }
}
