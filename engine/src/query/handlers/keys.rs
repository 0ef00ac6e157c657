//! `GET /v1/stores/{store}/keys/{key}`: one value, from whichever instance owns the key,
//! or, with `?allow_stale=true`, from a standby copy on this instance.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::query::api::{Api, KeyAnswer, Store, point_read, refuse_window_store};
use crate::query::error::ApiError;
use crate::query::format::{parse_key, render};
use crate::query::params::Params;

/// The response header that gives a stale answer's lag, in changelog records.
pub(crate) const STANDBY_LAG_HEADER: &str = "x-tributary-standby-lag";

/// A key lookup's parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyParams {
    /// Whether a standby copy on this instance may answer (Kafka Streams'
    /// `enableStaleStores`); its lag is reported in the `x-tributary-standby-lag` header.
    #[serde(default)]
    allow_stale: bool,
}

/// `GET /v1/stores/{store}/keys/{key}`.
pub(crate) async fn get(
    State(api): State<Arc<Api>>,
    Path((name, key)): Path<(String, String)>,
    Params(params): Params<KeyParams>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let store = api.store(&name)?;
    refuse_window_store(store.spec, "keys")?;
    let bytes = parse_key(store.spec, &key).map_err(ApiError::BadRequest)?;
    if params.allow_stale {
        let partition = api.partition_of(&store, &bytes)?;
        if let Some(standby) = api.standby_here(&store, partition)? {
            let lag = standby.lag();
            let Some(value) = point_read(|| standby.reader.get(&bytes))? else {
                return Err(ApiError::KeyNotFound { store: name, key });
            };
            let mut body = answer(&api, &store, &name, &key, &value, partition);
            body["standby"] = json!(true);
            body["lag"] = json!(lag);
            return Ok(([(STANDBY_LAG_HEADER, lag.to_string())], Json(body)).into_response());
        }
    }
    let (partition, hosted) = match api.answer_key(&store, &bytes, &headers, &uri).await? {
        KeyAnswer::Here(partition, hosted) => (partition, hosted),
        KeyAnswer::Forwarded(response) => return Ok(response),
    };
    let Some(value) = point_read(|| hosted.reader.get(&bytes))? else {
        return Err(ApiError::KeyNotFound { store: name, key });
    };
    let body = answer(&api, &store, &name, &key, &value, partition);
    Ok(Json(body).into_response())
}

/// The body of a found key: store, key, rendered value, partition and answering instance.
fn answer(
    api: &Api,
    store: &Store<'_>,
    name: &str,
    key: &str,
    value: &[u8],
    partition: i32,
) -> Value {
    json!({
        "store": name,
        "key": key,
        "value": render(store.spec.value_format(), value),
        "partition": partition,
        "instance": api.address,
    })
}
