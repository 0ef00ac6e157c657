//! Subscriptions: the matching entries of a store, then a marker, then every change to
//! matching keys, as Server-Sent Events.
//!
//! | event | data |
//! |---|---|
//! | `entry` | `{"key", "value", "partition"}`: one entry of the snapshot |
//! | `snapshot-complete` | `{"entries"}`: the snapshot is complete; changes follow |
//! | `update` | `{"key", "value", "timestamp", "partition"}` |
//! | `delete` | `{"key", "timestamp", "partition"}` |
//! | `resubscribe` | `{"reason", "message", "retry_after_ms"}`: the stream ends here; subscribe again |
//!
//! Each partition's snapshot and changes come from its [`ChangeFeed`](tributary_state::ChangeFeed),
//! atomically with the writes, so no change is missed or repeated. Partitions another
//! instance owns are read through that instance's internal subscription. A stream ends with
//! `resubscribe` when a partition moves (a rebalance), when the subscriber falls more than
//! [`SUBSCRIBER_QUEUE`] changes behind, or when an owner goes away — never by dropping
//! changes silently.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, select};
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::mpsc;
use tributary_state::{AppliedChange, ChangeSubscriber, Delivery, FeedEnd, KeyValue};

use crate::query::error::{ApiError, RETRY_AFTER_SECS};
use crate::query::format::{decode_raw, encode_raw, parse_key, parse_prefix, render};
use crate::query::routes::{blocking, owner_elsewhere};
use crate::query::scan::parse_partitions;
use crate::query::server::Api;
use crate::query::{HostedPartition, SUBSCRIBER_QUEUE};

/// Which keys a subscription wants.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    Key(Vec<u8>),
    Prefix(Vec<u8>),
}

impl Filter {
    fn matches(&self, key: &[u8]) -> bool {
        match self {
            Self::Key(k) => k == key,
            Self::Prefix(p) => key.starts_with(p),
        }
    }

    /// The query parameters of an internal subscription with this filter.
    fn to_query(&self) -> (&'static str, String) {
        match self {
            Self::Key(k) => ("key", encode_raw(k)),
            Self::Prefix(p) => ("prefix", encode_raw(p)),
        }
    }
}

/// A change as queued for a subscriber.
struct OwnedChange {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    timestamp: i64,
}

/// Queues matching changes on a bounded channel; a full channel ends the subscription.
struct ChannelSubscriber {
    filter: Filter,
    tx: Option<mpsc::Sender<OwnedChange>>,
    ended: Arc<Mutex<Option<FeedEnd>>>,
}

impl ChangeSubscriber for ChannelSubscriber {
    fn matches(&self, key: &[u8]) -> bool {
        self.filter.matches(key)
    }

    fn deliver(&mut self, change: AppliedChange<'_>) -> Delivery {
        let Some(tx) = &self.tx else {
            return Delivery::Gone;
        };
        let owned = OwnedChange {
            key: change.key.to_vec(),
            value: change.value.map(<[u8]>::to_vec),
            timestamp: change.timestamp,
        };
        match tx.try_send(owned) {
            Ok(()) => Delivery::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Delivery::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Gone,
        }
    }

    fn end(&mut self, reason: FeedEnd) {
        *self.ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        // Dropping the sender closes the channel once its queued changes are read.
        self.tx = None;
    }

    fn is_gone(&self) -> bool {
        self.tx.as_ref().is_none_or(mpsc::Sender::is_closed)
    }
}

/// What a source of a subscription yields.
enum SourceEvent {
    Entry(String),
    Marker,
    Change(&'static str, String),
    End(String),
}

fn resubscribe(reason: &str, message: &str) -> String {
    json!({
        "reason": reason,
        "message": message,
        "retry_after_ms": RETRY_AFTER_SECS * 1000,
    })
    .to_string()
}

/// A partition hosted here: its snapshot, taken, and its queued changes.
struct LocalSource {
    partition: i32,
    snapshot: Vec<KeyValue>,
    changes: mpsc::Receiver<OwnedChange>,
    ended: Arc<Mutex<Option<FeedEnd>>>,
}

/// Takes the snapshot of `hosted` and attaches to its feed, atomically with its writes.
fn attach(
    hosted: &HostedPartition,
    partition: i32,
    filter: &Filter,
) -> Result<LocalSource, ApiError> {
    let (tx, changes) = mpsc::channel(SUBSCRIBER_QUEUE);
    let ended = Arc::new(Mutex::new(None));
    let subscriber = ChannelSubscriber {
        filter: filter.clone(),
        tx: Some(tx),
        ended: ended.clone(),
    };
    let reader = &hosted.reader;
    let snapshot = hosted
        .feed
        .subscribe(
            || -> Result<Vec<KeyValue>, tributary_state::StateError> {
                match filter {
                    Filter::Key(k) => {
                        Ok(reader.get(k)?.map(|v| (k.clone(), v)).into_iter().collect())
                    }
                    Filter::Prefix(p) => reader.prefix_scan(p)?.collect(),
                }
            },
            Box::new(subscriber),
        )
        .map_err(|_| {
            ApiError::Unavailable(format!(
                "partition {partition} just left this instance; it is moving"
            ))
        })?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(LocalSource {
        partition,
        snapshot,
        changes,
        ended,
    })
}

/// Renders events for one store's formats.
#[derive(Clone)]
struct Renderer {
    key_format: &'static str,
    value_format: &'static str,
}

impl Renderer {
    fn entry(&self, partition: i32, key: &[u8], value: &[u8]) -> String {
        json!({
            "key": render(self.key_format, key),
            "value": render(self.value_format, value),
            "partition": partition,
        })
        .to_string()
    }

    fn change(&self, partition: i32, change: &OwnedChange) -> (&'static str, String) {
        let key = render(self.key_format, &change.key);
        match &change.value {
            Some(value) => (
                "update",
                json!({
                    "key": key,
                    "value": render(self.value_format, value),
                    "timestamp": change.timestamp,
                    "partition": partition,
                })
                .to_string(),
            ),
            None => (
                "delete",
                json!({ "key": key, "timestamp": change.timestamp, "partition": partition })
                    .to_string(),
            ),
        }
    }
}

/// Splits a Server-Sent Events body from another instance into events.
struct EventReader {
    body: Body,
    buffer: String,
}

impl EventReader {
    async fn next(&mut self) -> SourceEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = ("message", String::new());
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = match n.trim() {
                            "entry" => "entry",
                            "snapshot-complete" => "snapshot-complete",
                            "update" => "update",
                            "delete" => "delete",
                            "resubscribe" => "resubscribe",
                            _ => "message",
                        };
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                match name {
                    "entry" => return SourceEvent::Entry(data),
                    "snapshot-complete" => return SourceEvent::Marker,
                    "update" | "delete" => return SourceEvent::Change(name, data),
                    "resubscribe" => return SourceEvent::End(data),
                    _ => continue, // keep-alive comments and unknown events
                }
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(bytes) = frame.into_data() {
                        self.buffer.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
                Some(Err(e)) => {
                    return SourceEvent::End(resubscribe(
                        "unavailable",
                        &format!("the owner's stream broke: {e}"),
                    ));
                }
                None => {
                    return SourceEvent::End(resubscribe(
                        "unavailable",
                        "the owner closed the stream (it may have stopped)",
                    ));
                }
            }
        }
    }
}

type Out = mpsc::Sender<Result<Event, Infallible>>;

/// Sends one event; false when the client has gone.
async fn emit(out: &Out, name: &str, data: String) -> bool {
    out.send(Ok(Event::default().event(name).data(data)))
        .await
        .is_ok()
}

/// Drives a subscription: snapshots, the marker, then every change, into `out`.
async fn drive(
    out: Out,
    renderer: Renderer,
    locals: Vec<LocalSource>,
    mut remotes: Vec<EventReader>,
) {
    let mut count = 0usize;
    for local in &locals {
        for (key, value) in &local.snapshot {
            count += 1;
            if !emit(&out, "entry", renderer.entry(local.partition, key, value)).await {
                return;
            }
        }
    }
    for remote in &mut remotes {
        loop {
            match remote.next().await {
                SourceEvent::Entry(data) => {
                    count += 1;
                    if !emit(&out, "entry", data).await {
                        return;
                    }
                }
                SourceEvent::Marker => break,
                SourceEvent::Change(..) => {}
                SourceEvent::End(data) => {
                    emit(&out, "resubscribe", data).await;
                    return;
                }
            }
        }
    }
    if !emit(
        &out,
        "snapshot-complete",
        json!({ "entries": count }).to_string(),
    )
    .await
    {
        return;
    }

    // Every source forwards its changes into one channel; per key, order is its source's.
    let (merged_tx, mut merged) = mpsc::channel::<SourceEvent>(1024);
    for mut local in locals {
        let tx = merged_tx.clone();
        let renderer = renderer.clone();
        tokio::spawn(async move {
            loop {
                // Stop as soon as the subscription has gone, so that the feed drops this
                // subscriber on its next write even if no change matches.
                let next = match select(Box::pin(tx.closed()), Box::pin(local.changes.recv())).await
                {
                    Either::Left(_) => return,
                    Either::Right((next, _)) => next,
                };
                let Some(change) = next else { break };
                let (name, data) = renderer.change(local.partition, &change);
                if tx.send(SourceEvent::Change(name, data)).await.is_err() {
                    return;
                }
            }
            let reason = *local.ended.lock().unwrap_or_else(|p| p.into_inner());
            let data = match reason {
                Some(FeedEnd::Lagging) => resubscribe(
                    "lagging",
                    &format!("the subscriber fell more than {SUBSCRIBER_QUEUE} changes behind"),
                ),
                _ => resubscribe(
                    "moved",
                    &format!(
                        "partition {} moved to another instance (rebalance)",
                        local.partition
                    ),
                ),
            };
            let _ = tx.send(SourceEvent::End(data)).await;
        });
    }
    for mut remote in remotes {
        let tx = merged_tx.clone();
        tokio::spawn(async move {
            loop {
                let event = remote.next().await;
                let last = matches!(event, SourceEvent::End(_));
                if tx.send(event).await.is_err() || last {
                    return;
                }
            }
        });
    }
    drop(merged_tx);
    loop {
        let next = match select(Box::pin(out.closed()), Box::pin(merged.recv())).await {
            Either::Left(_) => return, // the client disconnected
            Either::Right((next, _)) => next,
        };
        match next {
            Some(SourceEvent::Change(name, data)) => {
                if !emit(&out, name, data).await {
                    return;
                }
            }
            Some(SourceEvent::End(data)) => {
                emit(&out, "resubscribe", data).await;
                return;
            }
            Some(SourceEvent::Entry(_) | SourceEvent::Marker) => {}
            None => return,
        }
    }
}

fn sse_response(
    renderer: Renderer,
    locals: Vec<LocalSource>,
    remotes: Vec<EventReader>,
) -> Response {
    let (out, rx) = mpsc::channel(256);
    tokio::spawn(drive(out, renderer, locals, remotes));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (event, rx))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Attaches to the partitions hosted here (all must be active), in a blocking section.
async fn attach_all(
    api: &Api,
    store: &str,
    index: usize,
    partitions: Vec<i32>,
    filter: &Filter,
) -> Result<Vec<LocalSource>, ApiError> {
    let mut hosted = Vec::new();
    for partition in partitions {
        match api.registry.hosted(index, partition) {
            Some(h) if !h.restoring => hosted.push((partition, h)),
            Some(_) => {
                return Err(ApiError::Unavailable(format!(
                    "partition {partition} of store `{store}` is restoring on {}",
                    api.address
                )));
            }
            None => {
                return Err(ApiError::Unavailable(format!(
                    "partition {partition} of store `{store}` is not hosted by {}; it is moving",
                    api.address
                )));
            }
        }
    }
    let filter = filter.clone();
    blocking(move || {
        Ok(hosted
            .iter()
            .map(|(partition, h)| attach(h, *partition, &filter))
            .collect::<Vec<_>>())
    })
    .await?
    .into_iter()
    .collect()
}

/// `GET /v1/stores/{store}/subscribe?key=` or `?prefix=`.
pub(crate) async fn subscribe(
    State(api): State<Arc<Api>>,
    Path(store): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let index = api.store(&store)?;
    let spec = &api.registry.stores()[index].spec;
    crate::query::windows::refuse_window_store(spec, "subscribe")?;
    if let Some(unknown) = params.keys().find(|k| *k != "key" && *k != "prefix") {
        return Err(ApiError::BadRequest(format!(
            "unknown parameter `{unknown}`; subscribe with `key` or `prefix`"
        )));
    }
    let filter = match (params.get("key"), params.get("prefix")) {
        (Some(key), None) => Filter::Key(parse_key(spec, key).map_err(ApiError::BadRequest)?),
        (None, Some(prefix)) => {
            Filter::Prefix(parse_prefix(spec, prefix).map_err(ApiError::BadRequest)?)
        }
        _ => {
            return Err(ApiError::BadRequest(
                "subscribe with exactly one of `key` or `prefix`".into(),
            ));
        }
    };
    let partitions: Vec<i32> = match &filter {
        Filter::Key(k) => api.registry.partition_of(index, k).into_iter().collect(),
        Filter::Prefix(_) => (0..api.registry.partition_count(index).unwrap_or(0)).collect(),
    };
    if partitions.is_empty() {
        return Err(ApiError::Unavailable("the instance is starting".into()));
    }
    let mut local = Vec::new();
    let mut remote: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for partition in partitions {
        if api.registry.hosted(index, partition).is_some() {
            local.push(partition);
        } else {
            let owner = owner_elsewhere(&api, &store, partition, &headers)?;
            remote.entry(owner).or_default().push(partition);
        }
    }
    let mut remotes = Vec::new();
    for (owner, parts) in &remote {
        let list: Vec<String> = parts.iter().map(i32::to_string).collect();
        let (name, value) = filter.to_query();
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("partitions", &list.join(","))
            .append_pair(name, &value)
            .finish();
        let path = format!("/v1/internal/stores/{store}/subscribe?{query}");
        let response = api.peers.get(owner, &path, None).await?;
        if response.status() != StatusCode::OK {
            let body = response.into_body().collect().await.map(|b| b.to_bytes());
            let detail = body
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            return Err(ApiError::Unavailable(format!(
                "the owner at {owner} cannot serve the subscription now: {detail}"
            )));
        }
        remotes.push(EventReader {
            body: response.into_body(),
            buffer: String::new(),
        });
    }
    let locals = attach_all(&api, &store, index, local, &filter).await?;
    let renderer = Renderer {
        key_format: spec.key_format(),
        value_format: spec.value_format(),
    };
    Ok(sse_response(renderer, locals, remotes))
}

/// `GET /v1/internal/stores/{store}/subscribe?partitions=&key=|prefix=` (raw base64): the
/// listed partitions, all of which must be active here.
pub(crate) async fn internal_subscribe(
    State(api): State<Arc<Api>>,
    Path(store): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let index = api.store(&store)?;
    let spec = &api.registry.stores()[index].spec;
    let raw = |name: &str| {
        params.get(name).map(|v| {
            decode_raw(v).ok_or_else(|| ApiError::BadRequest(format!("`{name}` is not base64")))
        })
    };
    let filter = match (raw("key"), raw("prefix")) {
        (Some(key), None) => Filter::Key(key?),
        (None, Some(prefix)) => Filter::Prefix(prefix?),
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of `key` or `prefix`".into(),
            ));
        }
    };
    let partitions = parse_partitions(params.get("partitions").map_or("", String::as_str))?;
    let locals = attach_all(&api, &store, index, partitions, &filter).await?;
    let renderer = Renderer {
        key_format: spec.key_format(),
        value_format: spec.value_format(),
    };
    Ok(sse_response(renderer, locals, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_back_from_a_stream_body() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(read_events());
    }

    async fn read_events() {
        let text = ": keep-alive\n\nevent: entry\ndata: {\"key\":\"a\"}\n\nevent: snapshot-complete\ndata: {}\n\nevent: update\ndata: {\"key\":\"a\",\"value\":1}\n\n";
        let mut reader = EventReader {
            body: Body::from(text),
            buffer: String::new(),
        };
        assert!(matches!(reader.next().await, SourceEvent::Entry(d) if d == "{\"key\":\"a\"}"));
        assert!(matches!(reader.next().await, SourceEvent::Marker));
        assert!(matches!(
            reader.next().await,
            SourceEvent::Change("update", _)
        ));
        assert!(matches!(reader.next().await, SourceEvent::End(d) if d.contains("unavailable")));
    }

    #[test]
    fn filters_match_keys_and_prefixes() {
        assert!(Filter::Key(b"u1".to_vec()).matches(b"u1"));
        assert!(!Filter::Key(b"u1".to_vec()).matches(b"u10"));
        assert!(Filter::Prefix(b"u1".to_vec()).matches(b"u10"));
    }
}
