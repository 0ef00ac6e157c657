//! The RocksDB key-value store and the memory budget all RocksDB stores of a process share.

mod budget;
mod store;

pub use budget::MemoryBudget;
pub use store::RocksDbKeyValueStore;
pub(crate) use store::RocksDbReader;
