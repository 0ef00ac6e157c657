//! Which instance hosts what: the [`StoreRegistry`] of the store partitions this process
//! hosts (with read handles and change feeds), and the [`Directory`] of every instance of
//! the application, kept by publishing to and reading an internal compacted topic.
//!
//! Stream threads register their tasks' stores here; the query server and the metrics read
//! it; nothing here is on the record path.

mod directory;
mod registry;

pub(crate) use directory::DirectoryThread;
pub use directory::{Directory, EXPIRY, HEARTBEAT, HostedStore, InstanceInfo, Owner};
pub use registry::{HostedPartition, QueryableStore, StandbyPartition, StoreRegistry};
