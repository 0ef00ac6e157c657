//! Ordered scans over every partition of a store, across instances, with paging.
//!
//! The instance that receives a scan reads the partitions it hosts and asks each other owner
//! for its partitions (`/v1/internal/stores/{store}/scan`), each source returning at most one
//! page in key order. Keys live in exactly one partition, so the merged page is the first
//! `limit` keys of all sources, and the next page starts after its last key (the cursor).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tributary_state::KeyValue;
use tributary_state::kv::prefix_successor;
use tributary_state::window::{split_window_key, window_key};

use crate::store::StoreReader;

use crate::query::api::{Api, Location, blocking};
use crate::query::arrow::{ARROW_STREAM, to_ipc};
use crate::query::error::ApiError;
use crate::query::format::{
    decode_cursor, decode_raw, encode_cursor, encode_raw, parse_key, parse_prefix, render,
};
use crate::query::params::{Params, partition_list};
use crate::query::{DEFAULT_PAGE, MAX_PAGE};

/// The key range of one page: a lower and an upper bound, each inclusive or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct KeyRange {
    lower: Option<(Vec<u8>, bool)>,
    upper: Option<(Vec<u8>, bool)>,
}

impl KeyRange {
    /// Raises the lower bound to `key` if that is higher.
    fn at_least(&mut self, key: Vec<u8>, inclusive: bool) {
        let higher = match &self.lower {
            None => true,
            Some((current, current_inclusive)) => {
                key > *current || (key == *current && *current_inclusive && !inclusive)
            }
        };
        if higher {
            self.lower = Some((key, inclusive));
        }
    }

    /// Lowers the upper bound to `key` if that is lower.
    fn at_most(&mut self, key: Vec<u8>, inclusive: bool) {
        let lower = match &self.upper {
            None => true,
            Some((current, current_inclusive)) => {
                key < *current || (key == *current && *current_inclusive && !inclusive)
            }
        };
        if lower {
            self.upper = Some((key, inclusive));
        }
    }

    fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        fn bound(b: &Option<(Vec<u8>, bool)>) -> Bound<&[u8]> {
            match b {
                None => Bound::Unbounded,
                Some((key, true)) => Bound::Included(key.as_slice()),
                Some((key, false)) => Bound::Excluded(key.as_slice()),
            }
        }
        (bound(&self.lower), bound(&self.upper))
    }
}

/// Reads up to `limit` entries of `range` from `reader`.
fn read_page(
    reader: &StoreReader,
    range: &KeyRange,
    limit: usize,
) -> Result<Vec<KeyValue>, tributary_state::StateError> {
    let (from, to) = range.bounds();
    reader.range(from, to)?.take(limit).collect()
}

/// `limit` checked: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when not given.
fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(limit) if (1..=MAX_PAGE).contains(&limit) => Ok(limit),
        Some(limit) => Err(ApiError::BadRequest(format!(
            "limit {limit} is out of range; use 1 to {MAX_PAGE}"
        ))),
    }
}

/// The parameters of a scan: a key range (`from`, `to`, `prefix`, in the store's key
/// format), the page size and the cursor of the page before.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScanParams {
    from: Option<String>,
    to: Option<String>,
    prefix: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /v1/stores/{store}/entries`.
pub(crate) async fn entries(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Params(params): Params<ScanParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let store = api.store(&name)?;
    let spec = store.spec;
    let limit = page_limit(params.limit)?;
    let mut range = KeyRange::default();
    // In a window store, `from` and `to` bound record keys: all of their windows count.
    let windowed = spec.window().is_some();
    if let Some(from) = &params.from {
        let key = parse_key(spec, from).map_err(ApiError::BadRequest)?;
        let key = if windowed {
            window_key(&key, i64::MIN)
        } else {
            key
        };
        range.at_least(key, true);
    }
    if let Some(to) = &params.to {
        let key = parse_key(spec, to).map_err(ApiError::BadRequest)?;
        let key = if windowed {
            window_key(&key, i64::MAX)
        } else {
            key
        };
        range.at_most(key, true);
    }
    if let Some(prefix) = &params.prefix {
        let prefix = parse_prefix(spec, prefix).map_err(ApiError::BadRequest)?;
        if let Some(end) = prefix_successor(&prefix) {
            range.at_most(end, false);
        }
        range.at_least(prefix, true);
    }
    if let Some(cursor) = &params.cursor {
        range.at_least(decode_cursor(cursor).map_err(ApiError::BadRequest)?, false);
    }
    let partitions = api.partition_count(&store)?;

    // Partitions hosted here, and the others grouped by owner.
    let mut local = Vec::new();
    let mut remote: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for partition in 0..partitions {
        match api.locate(&store, partition, &headers)? {
            Location::Here(hosted) => local.push(hosted.reader),
            Location::Owner(owner) => remote.entry(owner).or_default().push(partition),
        }
    }
    let local_range = range.clone();
    let local_pages = blocking(move || {
        local
            .iter()
            .map(|reader| read_page(reader, &local_range, limit))
            .collect::<Result<Vec<_>, _>>()
    });
    let remote_pages = futures_util::future::try_join_all(remote.iter().map(|(owner, parts)| {
        let query = InternalScan::new(parts, &range, limit).to_query();
        let api = api.clone();
        async move {
            let path = format!(
                "/v1/internal/stores/{name}/scan?{query}",
                name = spec.name()
            );
            let body = api.peers.get_bytes(owner, &path).await?;
            let page: InternalPage = serde_json::from_slice(&body).map_err(|e| {
                ApiError::Unavailable(format!("{owner} answered an unreadable scan page: {e}"))
            })?;
            page.decode()
        }
    }));
    let (local_pages, remote_pages) =
        futures_util::future::try_join(local_pages, remote_pages).await?;
    let pages: Vec<Vec<KeyValue>> = local_pages
        .into_iter()
        .chain(remote_pages.into_iter().flatten())
        .collect();
    let source_full = pages.iter().any(|p| p.len() == limit);
    let mut merged: Vec<KeyValue> = pages.into_iter().flatten().collect();
    merged.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let more = merged.len() > limit || source_full;
    merged.truncate(limit);
    let next_cursor = more
        .then(|| merged.last().map(|(k, _)| encode_cursor(k)))
        .flatten();

    let wants_arrow = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(ARROW_STREAM));
    if wants_arrow {
        let ipc = to_ipc(spec.key_format(), spec.value_format(), &merged)
            .map_err(|e| ApiError::Internal(format!("encoding Arrow IPC failed: {e}")))?;
        let mut response = ([(header::CONTENT_TYPE, ARROW_STREAM)], ipc).into_response();
        if let Some(cursor) = next_cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert("x-tributary-next-cursor", cursor);
        }
        return Ok(response);
    }
    let entries: Vec<_> = merged
        .iter()
        .map(|(k, v)| {
            let key = match split_window_key(k).filter(|_| windowed) {
                Some((key, start)) => {
                    json!({ "key": render(spec.key_format(), key), "window_start": start })
                }
                None => render(spec.key_format(), k),
            };
            json!({ "key": key, "value": render(spec.value_format(), v) })
        })
        .collect();
    Ok(Json(json!({
        "store": spec.name(),
        "entries": entries,
        "next_cursor": next_cursor,
        "instance": api.address,
    }))
    .into_response())
}

/// The parameters of an internal scan: which partitions, the raw key range, the page size.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InternalScan {
    partitions: String,
    lower: Option<String>,
    lower_inclusive: Option<bool>,
    upper: Option<String>,
    upper_inclusive: Option<bool>,
    limit: usize,
}

impl InternalScan {
    fn new(partitions: &[i32], range: &KeyRange, limit: usize) -> Self {
        let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
        Self {
            partitions: list.join(","),
            lower: range.lower.as_ref().map(|(k, _)| encode_raw(k)),
            lower_inclusive: range.lower.as_ref().map(|(_, i)| *i),
            upper: range.upper.as_ref().map(|(k, _)| encode_raw(k)),
            upper_inclusive: range.upper.as_ref().map(|(_, i)| *i),
            limit,
        }
    }

    fn to_query(&self) -> String {
        let mut pairs = form_urlencoded_pairs();
        pairs.append_pair("partitions", &self.partitions);
        pairs.append_pair("limit", &self.limit.to_string());
        for (name, key, inclusive) in [
            ("lower", &self.lower, self.lower_inclusive),
            ("upper", &self.upper, self.upper_inclusive),
        ] {
            if let (Some(key), Some(inclusive)) = (key, inclusive) {
                pairs.append_pair(name, key);
                pairs.append_pair(&format!("{name}_inclusive"), &inclusive.to_string());
            }
        }
        pairs.finish()
    }

    fn range(&self) -> Result<KeyRange, ApiError> {
        let bound = |key: &Option<String>, inclusive: Option<bool>| match key {
            None => Ok(None),
            Some(k) => decode_raw(k)
                .map(|k| Some((k, inclusive.unwrap_or(true))))
                .ok_or_else(|| ApiError::BadRequest(format!("`{k}` is not base64"))),
        };
        Ok(KeyRange {
            lower: bound(&self.lower, self.lower_inclusive)?,
            upper: bound(&self.upper, self.upper_inclusive)?,
        })
    }
}

fn form_urlencoded_pairs() -> form_urlencoded::Serializer<'static, String> {
    form_urlencoded::Serializer::new(String::new())
}

/// A page of an internal scan: raw keys and values in base64.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InternalPage {
    entries: Vec<(String, String)>,
}

impl InternalPage {
    fn decode(self) -> Result<Vec<Vec<KeyValue>>, ApiError> {
        let entries = self
            .entries
            .into_iter()
            .map(|(k, v)| match (decode_raw(&k), decode_raw(&v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(ApiError::Unavailable(
                    "a peer sent an undecodable entry".into(),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(vec![entries])
    }
}

/// `GET /v1/internal/stores/{store}/scan`: one page of the partitions listed, all of which
/// must be active here.
pub(crate) async fn internal_scan(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Params(scan): Params<InternalScan>,
) -> Result<Json<InternalPage>, ApiError> {
    let store = api.store(&name)?;
    let range = scan.range()?;
    let limit = page_limit(Some(scan.limit))?;
    let count = api.partition_count(&store)?;
    let readers = partition_list(&scan.partitions, count)?
        .into_iter()
        .map(|partition| api.active_here(&store, partition).map(|h| h.reader))
        .collect::<Result<Vec<_>, _>>()?;
    let pages = blocking(move || {
        readers
            .iter()
            .map(|reader| read_page(reader, &range, limit))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut merged: Vec<KeyValue> = pages.into_iter().flatten().collect();
    merged.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    merged.truncate(limit);
    entries.extend(merged.iter().map(|(k, v)| (encode_raw(k), encode_raw(v))));
    Ok(Json(InternalPage { entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_tighten_and_never_loosen() {
        let mut range = KeyRange::default();
        range.at_least(b"b".to_vec(), true);
        range.at_least(b"a".to_vec(), true);
        range.at_least(b"b".to_vec(), false);
        range.at_most(b"x".to_vec(), true);
        range.at_most(b"y".to_vec(), false);
        assert_eq!(range.lower, Some((b"b".to_vec(), false)));
        assert_eq!(range.upper, Some((b"x".to_vec(), true)));
    }

    #[test]
    fn internal_scans_round_trip_through_the_query_string() {
        let mut range = KeyRange::default();
        range.at_least(b"k\x00\xff".to_vec(), false);
        let scan = InternalScan::new(&[1, 3], &range, 50);
        let parsed: InternalScan = serde_urlencoded::from_str(&scan.to_query()).unwrap();
        assert_eq!(parsed.range().unwrap(), range);
        assert_eq!(partition_list(&parsed.partitions, 4).unwrap(), vec![1, 3]);
        assert_eq!(parsed.limit, 50);
    }
}
