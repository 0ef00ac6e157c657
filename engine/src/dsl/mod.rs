//! The topology DSL: [`StreamsBuilder`], [`KStream`], [`KTable`] and their grouped forms,
//! with Kafka Streams' vocabulary. Each operator lives in its own file with an example.

mod builder;
mod cogroup;
mod global_table;
mod grouped_stream;
mod grouped_table;
mod join;
mod kstream;
mod ktable;
mod params;
mod repartition;
mod sink;
mod source;
mod table_changes;
mod timed_store;
mod windowed;

pub use builder::StreamsBuilder;
pub use cogroup::{CogroupedKStream, CogroupedWindowedKStream};
pub use global_table::GlobalKTable;
pub use grouped_stream::KGroupedStream;
pub use grouped_table::KGroupedTable;
pub use kstream::KStream;
pub use kstream::split::BranchedKStream;
pub use ktable::KTable;
pub use params::{Consumed, Deduplicated, Grouped, Joined, Materialized, Produced, StreamJoined};
pub use windowed::{
    BufferFull, EmitStrategy, FinalResults, MergelessWindows, SessionWindowedKStream,
    SlidingWindowedKStream, TimeWindowedKStream, WindowKind, WindowedKStream,
};

/// What records' keys and values must be: cloneable (a record sent to several downstream
/// operators is cloned) and owned.
pub trait Data: Clone + 'static {}

impl<T: Clone + 'static> Data for T {}
