//! Running a topology on a Kafka cluster: [`KafkaStreams`] and its lifecycle, and the
//! stream threads that each own a consumer, a producer and their tasks.

mod global;
mod standby;
pub(crate) mod status;
mod streams;
mod thread;

pub use streams::{KafkaStreams, StreamsState};
pub use thread::ThreadFailureResponse;
