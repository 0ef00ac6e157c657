//! The answers of failed queries: a status and a JSON body that says what went wrong.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Seconds a client should wait before asking again while a partition has no owner that can
/// answer.
pub const RETRY_AFTER_SECS: u64 = 1;

/// A query that could not be answered.
#[derive(Debug)]
pub enum ApiError {
    /// No store of that name; lists the stores there are.
    UnknownStore {
        /// The name asked for.
        store: String,
        /// Every store of the application.
        stores: Vec<String>,
    },
    /// The key is not in the store.
    KeyNotFound {
        /// The store.
        store: String,
        /// The key as the client wrote it.
        key: String,
    },
    /// A parameter is malformed or out of range.
    BadRequest(String),
    /// The token is missing or wrong.
    Unauthorized,
    /// No instance can answer for now (owner unknown, restoring or unreachable).
    Unavailable(String),
    /// Reading a store failed.
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::UnknownStore { store, stores } => (
                StatusCode::NOT_FOUND,
                json!({
                    "error": format!("unknown store `{store}`; stores: {}", stores.join(", ")),
                    "stores": stores,
                }),
            ),
            Self::KeyNotFound { store, key } => (
                StatusCode::NOT_FOUND,
                json!({ "error": format!("key `{key}` is not in store `{store}`"), "key": key }),
            ),
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, json!({ "error": message })),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({ "error": "missing or wrong bearer token; send `Authorization: Bearer <query.auth.token>`" }),
            ),
            Self::Unavailable(message) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": message, "retry_after_secs": RETRY_AFTER_SECS }),
            ),
            Self::Internal(message) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": message }),
            ),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
