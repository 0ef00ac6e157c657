//! The routes of the query server and the handler behind each.

use std::sync::Arc;

use axum::routing::get;
use axum::{Router, middleware};

use crate::query::api::Api;
use crate::query::handlers::{health, keys, scan, stores, subscribe, windows};
use crate::query::middleware::observe;

/// Every route of the query server.
pub(crate) fn router(api: &Arc<Api>) -> Router<Arc<Api>> {
    Router::new()
        .route("/v1/stores", get(stores::list))
        .route("/v1/stores/{store}/keys/{key}", get(keys::get))
        .route("/v1/stores/{store}/windows/{key}", get(windows::fetch))
        .route("/v1/stores/{store}/entries", get(scan::entries))
        .route("/v1/stores/{store}/subscribe", get(subscribe::subscribe))
        .route("/v1/internal/stores/{store}/scan", get(scan::internal_scan))
        .route(
            "/v1/internal/stores/{store}/subscribe",
            get(subscribe::internal_subscribe),
        )
        .route("/v1/instances", get(stores::instances))
        .route("/metrics", get(health::metrics))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route_layer(middleware::from_fn_with_state(api.clone(), observe))
        .fallback(health::not_found)
}
