//! Window fetches: the windows of one key of a window store, by start time, from whichever
//! instance owns the key.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tributary_state::window::{split_window_key, window_key};

use crate::query::error::ApiError;
use crate::query::format::{parse_key, render};
use crate::query::routes::{blocking, owner_elsewhere};
use crate::query::server::Api;
use crate::store::StoreSpec;

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

fn time(params: &HashMap<String, String>, name: &str, default: i64) -> Result<i64, ApiError> {
    params.get(name).map_or(Ok(default), |v| {
        v.parse::<i64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "`{name}` must be a time in epoch milliseconds, not `{v}`"
            ))
        })
    })
}

/// `GET /v1/stores/{store}/windows/{key}?from=&to=`: the key's windows (or sessions, with
/// their end) that start in `[from, to]` (both default to everything kept).
pub(crate) async fn fetch(
    State(api): State<Arc<Api>>,
    Path((store, key)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let index = api.store(&store)?;
    let spec = &api.registry.stores()[index].spec;
    if spec.window().is_none() {
        return Err(ApiError::BadRequest(format!(
            "store `{store}` is a key-value store; read it with /v1/stores/{store}/keys/{{key}}"
        )));
    }
    if let Some(unknown) = params.keys().find(|k| *k != "from" && *k != "to") {
        return Err(ApiError::BadRequest(format!(
            "unknown parameter `{unknown}`; parameters: from, to"
        )));
    }
    let (from, to) = (time(&params, "from", 0)?, time(&params, "to", i64::MAX)?);
    if from > to {
        return Err(ApiError::BadRequest(format!(
            "`from` ({from}) is after `to` ({to})"
        )));
    }
    let bytes = parse_key(spec, &key).map_err(ApiError::BadRequest)?;
    let partition = api
        .registry
        .partition_of(index, &bytes)
        .ok_or_else(|| ApiError::Unavailable("the instance is starting".into()))?;
    let hosted = match api.registry.hosted(index, partition) {
        Some(hosted) if !hosted.restoring => hosted,
        Some(_) => {
            return Err(ApiError::Unavailable(format!(
                "partition {partition} of store `{store}` is restoring on this instance"
            )));
        }
        None => {
            let owner = owner_elsewhere(&api, &store, partition, &headers)?;
            let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
            return api.peers.get(&owner, path, None).await;
        }
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
        "store": store,
        "key": key,
        "windows": windows,
        "partition": partition,
        "instance": api.address,
    }))
    .into_response())
}
