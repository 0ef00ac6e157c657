//! Cogrouped aggregations (KIP-150): several grouped streams, each with its own aggregator,
//! folded into one aggregate per key (and window) in one store.
//!
//! Each input gets its own aggregating node writing the shared store; a node after them
//! passes on their updates, so downstream sees one table. All inputs must be
//! co-partitioned; an input whose key may have changed is repartitioned first.

mod side;
mod stream;
mod windows;

pub use stream::CogroupedKStream;
pub use windows::CogroupedWindowedKStream;
