//! Metrics, liveness, readiness, and the answer for an unknown route.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::query::api::Api;
use crate::query::error::ApiError;

/// `GET /metrics`: Prometheus text.
pub(crate) async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let registry = api.registry.clone();
    let metrics = api.metrics.clone();
    match tokio::task::spawn_blocking(move || metrics.render(&registry)).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => ApiError::Internal(format!("rendering the metrics failed: {e}")).into_response(),
    }
}

/// `GET /health/live`.
pub(crate) async fn live() -> &'static str {
    "live\n"
}

/// `GET /health/ready`: 200 while the instance runs with nothing restoring, else 503.
pub(crate) async fn ready(State(api): State<Arc<Api>>) -> Response {
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

/// 404 naming the routes there are.
pub(crate) async fn not_found(uri: Uri) -> Response {
    let message = format!(
        "no route `{}`; routes: /v1/stores, /v1/stores/{{store}}/keys/{{key}}, /v1/stores/{{store}}/windows/{{key}}, /v1/stores/{{store}}/entries, /v1/stores/{{store}}/subscribe, /v1/instances, /metrics, /health/live, /health/ready",
        uri.path()
    );
    (StatusCode::NOT_FOUND, Json(json!({ "error": message }))).into_response()
}
