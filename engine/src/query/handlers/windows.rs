//! `GET /v1/stores/{store}/windows/{key}?from=&to=`: a window store's windows of one key.

use std::ops::Bound;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tributary_state::window::{split_window_key, window_key};

use crate::query::api::{Api, KeyAnswer, blocking};
use crate::query::error::ApiError;
use crate::query::format::{parse_key, render};
use crate::query::params::Params;

/// The window starts to fetch, in epoch milliseconds (both default to everything kept).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WindowRange {
    from: Option<i64>,
    to: Option<i64>,
}

/// `GET /v1/stores/{store}/windows/{key}?from=&to=`: the key's windows (or sessions, with
/// their end) that start in `[from, to]`.
pub(crate) async fn fetch(
    State(api): State<Arc<Api>>,
    Path((name, key)): Path<(String, String)>,
    Params(range): Params<WindowRange>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let store = api.store(&name)?;
    let spec = store.spec;
    if spec.window().is_none() {
        return Err(ApiError::BadRequest(format!(
            "store `{name}` is a key-value store; read it with /v1/stores/{name}/keys/{{key}}"
        )));
    }
    let (from, to) = (range.from.unwrap_or(0), range.to.unwrap_or(i64::MAX));
    if from > to {
        return Err(ApiError::BadRequest(format!(
            "`from` ({from}) is after `to` ({to})"
        )));
    }
    let bytes = parse_key(spec, &key).map_err(ApiError::BadRequest)?;
    let (partition, hosted) = match api.answer_key(&store, &bytes, &headers, &uri).await? {
        KeyAnswer::Here(partition, hosted) => (partition, hosted),
        KeyAnswer::Forwarded(response) => return Ok(response),
    };
    let reader = hosted.reader;
    let sessions = spec.holds_sessions();
    let found = blocking(move || {
        // Session keys end with the session's start and end; window keys with the start.
        let (low, high) = match sessions {
            true => (
                window_key(&window_key(&bytes, from), i64::MIN),
                window_key(&window_key(&bytes, to), i64::MAX),
            ),
            false => (window_key(&bytes, from), window_key(&bytes, to)),
        };
        let mut found = Vec::new();
        for entry in reader.range(Bound::Included(&low), Bound::Included(&high))? {
            let (composite, value) = entry?;
            let Some((rest, last)) = split_window_key(&composite) else {
                continue;
            };
            let (key, start, end) = match sessions {
                true => match split_window_key(rest) {
                    Some((key, start)) => (key, start, Some(last)),
                    None => continue,
                },
                false => (rest, last, None),
            };
            if key == bytes.as_slice() {
                found.push((start, end, value));
            }
        }
        Ok(found)
    })
    .await?;
    let windows: Vec<_> = found
        .iter()
        .map(|(start, end, value)| {
            let value = render(spec.value_format(), value);
            match end {
                Some(end) => json!({ "start": start, "end": end, "value": value }),
                None => json!({ "start": start, "value": value }),
            }
        })
        .collect();
    Ok(Json(json!({
        "store": name,
        "key": key,
        "windows": windows,
        "partition": partition,
        "instance": api.address,
    }))
    .into_response())
}
