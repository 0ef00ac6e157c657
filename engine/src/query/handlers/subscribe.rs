//! Subscriptions: the matching entries of a store, then a marker, then every change to
//! matching keys, as Server-Sent Events.
//!
//! | event | data |
//! |---|---|
//! | `entry` | `{"key", "value", "partition"}`: one entry of the snapshot |
//! | `snapshot-complete` | `{"entries"}`: the snapshot is complete; changes follow |
//! | `update` | `{"key", "value", "timestamp", "partition"}` |
//! | `delete` | `{"key", "timestamp", "partition"}` |
//! | `resubscribe` | `{"reason", "message", "retry_after_ms"}`: the stream ends here; subscribe again |
//!
//! Each partition's snapshot is taken as the subscription joins its change feed, so no
//! change is missed or repeated (see [`tributary_state::ChangeFeed`]). Partitions another
//! instance owns are read through that instance's internal subscription. A stream ends with
//! `resubscribe` when a partition moves (a rebalance), when the subscriber falls more than
//! [`SUBSCRIBER_QUEUE`](crate::query::SUBSCRIBER_QUEUE) changes behind, or when an owner
//! goes away — never by dropping changes silently.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use serde::Deserialize;

use super::sse::{EventReader, Filter, LocalSource, Renderer, attach, sse_response};
use crate::query::api::{Api, Location, Store, refuse_window_store};
use crate::query::error::ApiError;
use crate::query::format::{decode_raw, parse_key, parse_prefix};
use crate::query::params::{Params, partition_list};

/// Which keys a subscription wants: exactly one of a key or a prefix, in the store's key
/// format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscribeParams {
    key: Option<String>,
    prefix: Option<String>,
}

/// An internal subscription: the partitions, and a raw (base64) key or prefix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InternalSubscribeParams {
    partitions: String,
    key: Option<String>,
    prefix: Option<String>,
}

/// Attaches to the listed partitions of `store`, all of which must be hosted here, active.
async fn attach_all(
    api: &Api,
    store: &Store<'_>,
    partitions: Vec<i32>,
    filter: &Filter,
) -> Result<Vec<LocalSource>, ApiError> {
    let mut locals = Vec::new();
    for partition in partitions {
        let hosted = api.active_here(store, partition)?;
        locals.push(attach(hosted, partition, filter.clone()).await?);
    }
    Ok(locals)
}

fn renderer(store: &Store<'_>) -> Renderer {
    Renderer {
        key_format: store.spec.key_format(),
        value_format: store.spec.value_format(),
    }
}

/// `GET /v1/stores/{store}/subscribe?key=` or `?prefix=`.
pub(crate) async fn subscribe(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Params(params): Params<SubscribeParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let store = api.store(&name)?;
    let spec = store.spec;
    refuse_window_store(spec, "subscribe")?;
    let filter = match (&params.key, &params.prefix) {
        (Some(key), None) => Filter::Key(parse_key(spec, key).map_err(ApiError::BadRequest)?),
        (None, Some(prefix)) => {
            Filter::Prefix(parse_prefix(spec, prefix).map_err(ApiError::BadRequest)?)
        }
        _ => {
            return Err(ApiError::BadRequest(
                "subscribe with exactly one of `key` or `prefix`".into(),
            ));
        }
    };
    let partitions: Vec<i32> = match &filter {
        Filter::Key(k) => vec![api.partition_of(&store, k)?],
        Filter::Prefix(_) => (0..api.partition_count(&store)?).collect(),
    };
    let mut local = Vec::new();
    let mut remote: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for partition in partitions {
        match api.locate(&store, partition, &headers)? {
            Location::Here(_) => local.push(partition),
            Location::Owner(owner) => remote.entry(owner).or_default().push(partition),
        }
    }
    let mut remotes = Vec::new();
    for (owner, parts) in &remote {
        let list: Vec<String> = parts.iter().map(i32::to_string).collect();
        let (parameter, value) = filter.to_query();
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("partitions", &list.join(","))
            .append_pair(parameter, &value)
            .finish();
        let path = format!("/v1/internal/stores/{name}/subscribe?{query}");
        let response = api.peers.get(owner, &path, None).await?;
        if response.status() != StatusCode::OK {
            let body = response.into_body().collect().await.map(|b| b.to_bytes());
            let detail = body
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            return Err(ApiError::Unavailable(format!(
                "the owner at {owner} cannot serve the subscription now: {detail}"
            )));
        }
        remotes.push(EventReader {
            body: response.into_body(),
            buffer: String::new(),
        });
    }
    let locals = attach_all(&api, &store, local, &filter).await?;
    Ok(sse_response(renderer(&store), locals, remotes))
}

/// `GET /v1/internal/stores/{store}/subscribe?partitions=&key=|prefix=` (raw base64): the
/// listed partitions, all of which must be active here.
pub(crate) async fn internal_subscribe(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Params(params): Params<InternalSubscribeParams>,
) -> Result<Response, ApiError> {
    let store = api.store(&name)?;
    let raw = |name: &str, value: &Option<String>| {
        value.as_ref().map(|v| {
            decode_raw(v).ok_or_else(|| ApiError::BadRequest(format!("`{name}` is not base64")))
        })
    };
    let filter = match (raw("key", &params.key), raw("prefix", &params.prefix)) {
        (Some(key), None) => Filter::Key(key?),
        (None, Some(prefix)) => Filter::Prefix(prefix?),
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of `key` or `prefix`".into(),
            ));
        }
    };
    let partitions = partition_list(&params.partitions, api.partition_count(&store)?)?;
    let locals = attach_all(&api, &store, partitions, &filter).await?;
    Ok(sse_response(renderer(&store), locals, Vec::new()))
}
