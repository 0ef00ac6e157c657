//! The routes: store listing, key lookups, instances, metrics and health. Scans and
//! subscriptions have their own modules.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use serde_json::{Value, json};

use crate::query::error::ApiError;
use crate::query::format::{parse_key, render};
use crate::query::forward::FORWARDED_HEADER;
use crate::query::server::{Api, observe};
use crate::query::{scan, subscribe, windows};

/// Every route of the query server.
pub(crate) fn router(api: &Arc<Api>) -> Router<Arc<Api>> {
    Router::new()
        .route("/v1/stores", get(list_stores))
        .route("/v1/stores/{store}/keys/{key}", get(get_key))
        .route("/v1/stores/{store}/windows/{key}", get(windows::fetch))
        .route("/v1/stores/{store}/entries", get(scan::entries))
        .route("/v1/stores/{store}/subscribe", get(subscribe::subscribe))
        .route("/v1/internal/stores/{store}/scan", get(scan::internal_scan))
        .route(
            "/v1/internal/stores/{store}/subscribe",
            get(subscribe::internal_subscribe),
        )
        .route("/v1/instances", get(instances))
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route_layer(middleware::from_fn_with_state(api.clone(), observe))
        .fallback(not_found)
}

/// Runs a blocking store read on the runtime's blocking pool: RocksDB is synchronous FFI.
pub(crate) async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, tributary_state::StateError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| ApiError::Internal(format!("the store read did not finish: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Whether another instance sent this request (then it must not be forwarded again).
pub(crate) fn forwarded(headers: &HeaderMap) -> bool {
    headers.contains_key(FORWARDED_HEADER)
}

async fn list_stores(State(api): State<Arc<Api>>) -> Json<Value> {
    let stores: Vec<Value> = api
        .registry
        .stores()
        .iter()
        .enumerate()
        .map(|(index, store)| {
            let hosted = api.registry.hosted_partitions(index);
            let pick = |restoring: bool| -> Vec<i32> {
                hosted
                    .iter()
                    .filter(|(_, r)| *r == restoring)
                    .map(|(p, _)| *p)
                    .collect()
            };
            let spec = &store.spec;
            json!({
                "name": spec.name(),
                "kind": if spec.window().is_some() { "window" } else { "key-value" },
                "backend": format!("{:?}", spec.backend()).to_lowercase(),
                "key_format": spec.key_format(),
                "value_format": spec.value_format(),
                "partitions": api.registry.partition_count(index),
                "active": pick(false),
                "restoring": pick(true),
            })
        })
        .collect();
    Json(json!({ "instance": api.address, "stores": stores }))
}

async fn get_key(
    State(api): State<Arc<Api>>,
    Path((store, key)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let index = api.store(&store)?;
    let spec = &api.registry.stores()[index].spec;
    windows::refuse_window_store(spec, "keys")?;
    let bytes = parse_key(spec, &key).map_err(ApiError::BadRequest)?;
    let partition = api
        .registry
        .partition_of(index, &bytes)
        .ok_or_else(|| ApiError::Unavailable("the instance is starting".into()))?;
    match api.registry.hosted(index, partition) {
        Some(hosted) if !hosted.restoring => {
            let reader = hosted.reader;
            let value = blocking(move || reader.get(&bytes)).await?;
            let Some(value) = value else {
                return Err(ApiError::KeyNotFound { store, key });
            };
            let body = json!({
                "store": store,
                "key": key,
                "value": render(spec.value_format(), &value),
                "partition": partition,
                "instance": api.address,
            });
            Ok(Json(body).into_response())
        }
        Some(_) => Err(ApiError::Unavailable(format!(
            "partition {partition} of store `{store}` is restoring on this instance"
        ))),
        None => {
            let owner = owner_elsewhere(&api, &store, partition, &headers)?;
            let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
            api.peers.get(&owner, path, None).await
        }
    }
}

/// The address of the instance that owns `partition` of `store`, when it is another one
/// that can answer now.
///
/// # Errors
/// [`ApiError::Unavailable`] when the request was already forwarded (the sender's map is
/// out of date), or the owner is unknown, restoring, or (by a stale record) this instance.
pub(crate) fn owner_elsewhere(
    api: &Api,
    store: &str,
    partition: i32,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    if forwarded(headers) {
        return Err(ApiError::Unavailable(format!(
            "partition {partition} of store `{store}` is not hosted by this instance (any more); it is moving"
        )));
    }
    match api.directory.owner(store, partition) {
        None => Err(ApiError::Unavailable(format!(
            "no instance owns partition {partition} of store `{store}` yet (rebalancing)"
        ))),
        Some(owner) if owner.restoring => Err(ApiError::Unavailable(format!(
            "partition {partition} of store `{store}` is restoring on {}",
            owner.address
        ))),
        Some(owner) if owner.address == api.address => Err(ApiError::Unavailable(format!(
            "partition {partition} of store `{store}` is moving to or from this instance"
        ))),
        Some(owner) => Ok(owner.address),
    }
}

async fn instances(State(api): State<Arc<Api>>) -> Json<Value> {
    Json(json!({ "instance": api.address, "instances": api.directory.instances() }))
}

async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let registry = api.registry.clone();
    let metrics = api.metrics.clone();
    match tokio::task::spawn_blocking(move || metrics.render(&registry)).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => ApiError::Internal(format!("rendering the metrics failed: {e}")).into_response(),
    }
}

async fn live() -> &'static str {
    "live\n"
}

async fn ready(State(api): State<Arc<Api>>) -> Response {
    if (api.ready)() {
        "ready\n".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: starting, rebalancing or restoring\n",
        )
            .into_response()
    }
}

async fn not_found(uri: Uri) -> Response {
    let message = format!(
        "no route `{}`; routes: /v1/stores, /v1/stores/{{store}}/keys/{{key}}, /v1/stores/{{store}}/entries, /v1/stores/{{store}}/subscribe, /v1/instances, /metrics, /health/live, /health/ready",
        uri.path()
    );
    (StatusCode::NOT_FOUND, Json(json!({ "error": message }))).into_response()
}
