//! `GET /v1/stores/{store}/keys/{key}`: one value, from whichever instance owns the key.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::query::api::{Api, KeyAnswer, blocking, refuse_window_store};
use crate::query::error::ApiError;
use crate::query::format::{parse_key, render};
use crate::query::params::Params;

/// A key lookup takes no parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoParams {}

/// `GET /v1/stores/{store}/keys/{key}`.
pub(crate) async fn get(
    State(api): State<Arc<Api>>,
    Path((name, key)): Path<(String, String)>,
    Params(NoParams {}): Params<NoParams>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let store = api.store(&name)?;
    refuse_window_store(store.spec, "keys")?;
    let bytes = parse_key(store.spec, &key).map_err(ApiError::BadRequest)?;
    let (partition, hosted) = match api.answer_key(&store, &bytes, &headers, &uri).await? {
        KeyAnswer::Here(partition, hosted) => (partition, hosted),
        KeyAnswer::Forwarded(response) => return Ok(response),
    };
    let reader = hosted.reader;
    let Some(value) = blocking(move || reader.get(&bytes)).await? else {
        return Err(ApiError::KeyNotFound { store: name, key });
    };
    let body = json!({
        "store": name,
        "key": key,
        "value": render(store.spec.value_format(), &value),
        "partition": partition,
        "instance": api.address,
    });
    Ok(Json(body).into_response())
}
