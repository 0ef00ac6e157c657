//! What every handler shares: the instance's stores, directory, metrics and peers; finding a
//! store; where a partition is answered; and store reads off the async runtime.

use std::sync::Arc;

use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use crate::discovery::{Directory, HostedPartition, StandbyPartition, StoreRegistry};
use crate::metrics::Metrics;
use crate::query::error::ApiError;
use crate::query::forward::{FORWARDED_HEADER, Peers};
use crate::store::StoreSpec;

/// What the handlers share.
pub(crate) struct Api {
    pub(crate) registry: Arc<StoreRegistry>,
    pub(crate) directory: Arc<Directory>,
    pub(crate) metrics: Arc<Metrics>,
    /// This instance's address, as the others reach it.
    pub(crate) address: String,
    pub(crate) token: Option<String>,
    pub(crate) peers: Peers,
    /// Whether the instance is running with nothing restoring.
    pub(crate) ready: Box<dyn Fn() -> bool + Send + Sync>,
    /// `acceptable.recovery.lag`: how far behind a standby may answer stale reads.
    pub(crate) acceptable_recovery_lag: u64,
}

/// A store of the application, as a request names it.
pub(crate) struct Store<'a> {
    /// Its index in the registry.
    pub(crate) index: usize,
    /// Its declaration.
    pub(crate) spec: &'a StoreSpec,
}

/// Where a request for one key is answered.
pub(crate) enum KeyAnswer {
    /// Here, from this partition hosted active here.
    Here(i32, HostedPartition),
    /// By the owner of the key's partition: its answer to the same request.
    Forwarded(Response),
}

/// Where a partition of a store is answered from.
pub(crate) enum Location {
    /// This instance hosts it, active.
    Here(HostedPartition),
    /// Another instance owns it and can answer: its address.
    Owner(String),
}

impl Api {
    /// Store `name`, or the 404 that lists the stores.
    pub(crate) fn store(&self, name: &str) -> Result<Store<'_>, ApiError> {
        let index = self
            .registry
            .index_of(name)
            .ok_or_else(|| ApiError::UnknownStore {
                store: name.to_owned(),
                stores: self
                    .registry
                    .names()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            })?;
        Ok(Store {
            index,
            spec: &self.registry.stores()[index].spec,
        })
    }

    /// How many partitions `store` has, once the instance knows.
    pub(crate) fn partition_count(&self, store: &Store<'_>) -> Result<i32, ApiError> {
        self.registry
            .partition_count(store.index)
            .ok_or_else(|| ApiError::Unavailable("the instance is starting".into()))
    }

    /// The partition that holds `key` (store bytes) of `store`.
    pub(crate) fn partition_of(&self, store: &Store<'_>, key: &[u8]) -> Result<i32, ApiError> {
        self.registry
            .partition_of(store.index, key)
            .ok_or_else(|| ApiError::Unavailable("the instance is starting".into()))
    }

    /// Where `partition` of `store` is answered: here when this instance hosts it active,
    /// else at its owner — unless this request was already forwarded.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] while the partition restores here, or its owner is unknown,
    /// restoring, or (by a stale record) this instance.
    pub(crate) fn locate(
        &self,
        store: &Store<'_>,
        partition: i32,
        headers: &HeaderMap,
    ) -> Result<Location, ApiError> {
        let name = store.spec.name();
        match self.registry.hosted(store.index, partition) {
            Some(hosted) if !hosted.restoring => Ok(Location::Here(hosted)),
            Some(_) => Err(ApiError::Unavailable(format!(
                "partition {partition} of store `{name}` is restoring on this instance"
            ))),
            None => self
                .owner_elsewhere(name, partition, headers)
                .map(Location::Owner),
        }
    }

    /// Where the request `uri` for the key `key` (store bytes) of `store` is answered: here,
    /// or — when another instance owns the key's partition — by that instance, to which the
    /// request is forwarded as it is.
    ///
    /// # Errors
    /// As [`Api::locate`], and [`ApiError::Unavailable`] when the owner cannot be reached.
    pub(crate) async fn answer_key(
        &self,
        store: &Store<'_>,
        key: &[u8],
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<KeyAnswer, ApiError> {
        let partition = self.partition_of(store, key)?;
        match self.locate(store, partition, headers)? {
            Location::Here(hosted) => Ok(KeyAnswer::Here(partition, hosted)),
            Location::Owner(owner) => {
                let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
                Ok(KeyAnswer::Forwarded(
                    self.peers.get(&owner, path, None).await?,
                ))
            }
        }
    }

    /// The standby copy of `partition` of `store` kept here, for a read that accepts a
    /// stale answer (`?allow_stale=true`) where this instance does not host the partition
    /// active; `None` when it keeps no copy.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when the copy is further behind than
    /// `acceptable.recovery.lag` (or its lag is not known yet).
    pub(crate) fn standby_here(
        &self,
        store: &Store<'_>,
        partition: i32,
    ) -> Result<Option<StandbyPartition>, ApiError> {
        if self
            .registry
            .hosted(store.index, partition)
            .is_some_and(|h| !h.restoring)
        {
            return Ok(None);
        }
        let Some(standby) = self.registry.standby(store.index, partition) else {
            return Ok(None);
        };
        match standby.lag() {
            i64::MAX => Err(ApiError::Unavailable(format!(
                "the standby of partition {partition} of store `{}` on {} has not measured its lag yet",
                store.spec.name(),
                self.address
            ))),
            lag if lag as u64 > self.acceptable_recovery_lag => {
                Err(ApiError::Unavailable(format!(
                    "the standby of partition {partition} of store `{}` on {} is {lag} records behind (acceptable.recovery.lag = {})",
                    store.spec.name(),
                    self.address,
                    self.acceptable_recovery_lag
                )))
            }
            _ => Ok(Some(standby)),
        }
    }

    /// `partition` of `store` hosted active here, for an internal request another instance
    /// sent because its directory says this one owns it.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when it is not (any more).
    pub(crate) fn active_here(
        &self,
        store: &Store<'_>,
        partition: i32,
    ) -> Result<HostedPartition, ApiError> {
        match self.registry.hosted(store.index, partition) {
            Some(hosted) if !hosted.restoring => Ok(hosted),
            Some(_) => Err(ApiError::Unavailable(format!(
                "partition {partition} of store `{}` is restoring on {}",
                store.spec.name(),
                self.address
            ))),
            None => Err(ApiError::Unavailable(format!(
                "partition {partition} of store `{}` is not hosted by {}; it is moving",
                store.spec.name(),
                self.address
            ))),
        }
    }

    /// The address of the instance that owns `partition` of `store`, when it is another one
    /// that can answer now.
    fn owner_elsewhere(
        &self,
        store: &str,
        partition: i32,
        headers: &HeaderMap,
    ) -> Result<String, ApiError> {
        if headers.contains_key(FORWARDED_HEADER) {
            return Err(ApiError::Unavailable(format!(
                "partition {partition} of store `{store}` is not hosted by this instance (any more); it is moving"
            )));
        }
        match self.directory.owner(store, partition) {
            None => Err(ApiError::Unavailable(format!(
                "no instance owns partition {partition} of store `{store}` yet (rebalancing)"
            ))),
            Some(owner) if owner.restoring => Err(ApiError::Unavailable(format!(
                "partition {partition} of store `{store}` is restoring on {}",
                owner.address
            ))),
            Some(owner) if owner.address == self.address => Err(ApiError::Unavailable(format!(
                "partition {partition} of store `{store}` is moving to or from this instance"
            ))),
            Some(owner) => Ok(owner.address),
        }
    }
}

/// Runs a point read (one key) right on the server's thread: a RocksDB get takes
/// microseconds, less than a hop to the blocking pool and back.
pub(crate) fn point_read<T>(
    read: impl FnOnce() -> Result<T, tributary_state::StateError>,
) -> Result<T, ApiError> {
    read().map_err(|e| ApiError::Internal(e.to_string()))
}

/// Runs a blocking store read on the runtime's blocking pool: range reads can take long,
/// and RocksDB is synchronous FFI.
pub(crate) async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, tributary_state::StateError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| ApiError::Internal(format!("the store read did not finish: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// 400 for a key-value route on a window store: its keys carry a window start.
pub(crate) fn refuse_window_store(spec: &StoreSpec, route: &str) -> Result<(), ApiError> {
    match spec.window() {
        Some(_) => Err(ApiError::BadRequest(format!(
            "store `{}` is a window store; `{route}` reads key-value stores: fetch windows with /v1/stores/{}/windows/{{key}}?from=&to=",
            spec.name(),
            spec.name()
        ))),
        None => Ok(()),
    }
}
