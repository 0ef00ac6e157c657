//! The topology DSL: [`StreamsBuilder`], [`KStream`], [`KTable`] and their grouped forms,
//! with Kafka Streams' vocabulary. Each operator lives in its own file with an example.

mod builder;
mod final_results;
mod grouped_stream;
mod grouped_table;
mod kstream;
mod ktable;
mod params;
mod repartition;
mod session;
mod sink;
mod sliding;
mod source;
mod table_changes;
mod window_output;
mod windowed;

pub use builder::StreamsBuilder;
pub use final_results::{BufferFull, EmitStrategy, FinalResults};
pub use grouped_stream::KGroupedStream;
pub use grouped_table::KGroupedTable;
pub use kstream::KStream;
pub use kstream::split::BranchedKStream;
pub use ktable::KTable;
pub use params::{Consumed, Grouped, Materialized, Produced};
pub use session::SessionWindowedKStream;
pub use sliding::SlidingWindowedKStream;
pub use windowed::TimeWindowedKStream;

/// What records' keys and values must be: cloneable (a record sent to several downstream
/// operators is cloned) and owned.
pub trait Data: Clone + 'static {}

impl<T: Clone + 'static> Data for T {}
