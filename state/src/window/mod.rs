//! Window stores: values per key and window start time, kept for a retention period and
//! dropped a time segment at a time.
//!
//! A window store holds `(key, window start) → value`. Its data is split into segments of
//! `segment_interval` milliseconds of window start time: in RocksDB, one database holds
//! every segment, each under its id as a key prefix; in memory, each segment is a map of
//! its own. When stream time has moved more than `retention` past a segment's end, the
//! whole segment is dropped (one range deletion, or the map), which is much cheaper than
//! deleting its keys one by one. Inside a segment, and in the changelog, an entry's key is
//! [`window_key`]: the record key followed by the window start, so the windows of one key
//! sit next to each other in time order.

mod kv;
mod segmented;
mod shared;

pub use kv::WindowKeyValueStore;
pub use segmented::{SegmentedWindowStore, WindowReader};

pub use crate::window_key::{KeyWindows, push_window_time, split_window_key, window_key};

/// One window of one key: its start time and value.
pub type WindowValue = (i64, Vec<u8>);

/// One window of any key: key, start time, value.
pub type KeyWindowValue = (Vec<u8>, i64, Vec<u8>);
