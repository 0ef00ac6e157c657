//! What every request passes: the bearer token, and the request's metrics and the
//! answering instance's header.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::query::api::Api;
use crate::query::error::ApiError;
use crate::query::forward::INSTANCE_HEADER;

/// Requires the bearer token, when one is set, on everything but the health checks.
pub(crate) async fn authorize(
    State(api): State<Arc<Api>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &api.token
        && !request.uri().path().starts_with("/health/")
    {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

/// Counts the request, times it, and names this instance on answers no other instance gave.
pub(crate) async fn observe(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if !response.headers().contains_key(INSTANCE_HEADER)
        && let Ok(value) = HeaderValue::from_str(&api.address)
    {
        response.headers_mut().insert(INSTANCE_HEADER, value);
    }
    api.metrics
        .http_request(&route, response.status().as_u16(), started.elapsed());
    response
}
