//! Interactive queries: the HTTP server every instance runs (`application.server`), which
//! answers for the stores of the whole application.
//!
//! | route | what it answers |
//! |---|---|
//! | `GET /v1/stores` | every store: kind, formats, partitions hosted here (active, restoring) |
//! | `GET /v1/stores/{store}/keys/{key}` | one value, from whichever instance owns the key |
//! | `GET /v1/stores/{store}/entries?from=&to=&prefix=&limit=&cursor=` | an ordered scan over every partition, paged; Arrow IPC when asked |
//! | `GET /v1/stores/{store}/windows/{key}?from=&to=` | a window store's windows of one key, by start time |
//! | `GET /v1/stores/{store}/subscribe?key=` or `?prefix=` | Server-Sent Events: matching entries, a marker, then every change |
//! | `GET /v1/instances` | every live instance with its address and partitions |
//! | `GET /metrics` | Prometheus text |
//! | `GET /health/live`, `GET /health/ready` | liveness; readiness (running, nothing restoring) |
//!
//! A key maps to a partition with the writes' murmur2 partitioner, and the partition to its
//! owner through the [`Directory`](crate::discovery::Directory) of instances. A request for a key another instance owns
//! is forwarded there; every answer names the instance that gave it
//! (`x-tributary-instance`). While a partition's owner is unknown or restoring, the answer
//! is 503 with `Retry-After` — never a stale value.
//!
//! The handlers live in `handlers/`, one per kind of read; what they share (finding a store,
//! where a partition is answered, typed parameters) in `api.rs` and `params.rs`; the
//! routes in `routes.rs`; the server and its middleware in `server.rs` and
//! `middleware.rs`. Handlers depend on the shared parts only.
//!
//! Queries read what the stores hold: with the record cache on, a write becomes visible when
//! the cache flushes it (at the latest on the next commit, `commit.interval.ms`).

mod api;
mod arrow;
mod error;
mod format;
mod forward;
mod handlers;
mod middleware;
mod params;
mod routes;
mod server;

pub use error::{ApiError, RETRY_AFTER_SECS};
pub use format::{parse_key, render};
pub use forward::{FORWARDED_HEADER, INSTANCE_HEADER};
pub(crate) use server::{QueryServer, ServerParts};

/// The most entries one page of a scan returns.
pub const MAX_PAGE: usize = 1000;
/// Entries per page when the request does not say.
pub const DEFAULT_PAGE: usize = 100;
/// Changes a subscriber may have queued before it counts as fallen behind.
pub const SUBSCRIBER_QUEUE: usize = 10_000;
