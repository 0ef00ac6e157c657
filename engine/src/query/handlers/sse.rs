//! The plumbing of subscriptions: the sources of one (partitions hosted here, streams from
//! other instances), the events they yield, and the task that drives them into a client's
//! Server-Sent Events stream — every snapshot, the marker, then every change.

use std::convert::Infallible;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, select};
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tributary_state::kv::prefix_successor;
use tributary_state::{AppliedChange, ChangeSubscriber, Delivery, FeedEnd, KeyValue};

use crate::discovery::HostedPartition;
use crate::query::SUBSCRIBER_QUEUE;
use crate::query::error::{ApiError, RETRY_AFTER_SECS};
use crate::query::format::{Format, encode_raw, render};

/// Which keys a subscription wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    Key(Vec<u8>),
    Prefix(Vec<u8>),
}

impl Filter {
    pub(crate) fn matches(&self, key: &[u8]) -> bool {
        match self {
            Self::Key(k) => k == key,
            Self::Prefix(p) => key.starts_with(p),
        }
    }

    /// The key range the filter covers.
    fn bounds(&self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        match self {
            Self::Key(k) => (Bound::Included(k.clone()), Bound::Included(k.clone())),
            Self::Prefix(p) => (
                Bound::Included(p.clone()),
                prefix_successor(p).map_or(Bound::Unbounded, Bound::Excluded),
            ),
        }
    }

    /// The query parameters of an internal subscription with this filter.
    pub(crate) fn to_query(&self) -> (&'static str, String) {
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
pub(crate) enum SourceEvent {
    Entry(String),
    Marker,
    Change(&'static str, String),
    End(String),
}

pub(crate) fn resubscribe(reason: &str, message: &str) -> String {
    json!({
        "reason": reason,
        "message": message,
        "retry_after_ms": RETRY_AFTER_SECS * 1000,
    })
    .to_string()
}

/// Snapshot entries of one partition as they are read, or why reading stopped.
type SnapshotItem = Result<KeyValue, String>;

/// A partition hosted here: its snapshot, streaming in as a blocking task reads it, and its
/// queued changes.
pub(crate) struct LocalSource {
    partition: i32,
    snapshot: mpsc::Receiver<SnapshotItem>,
    changes: mpsc::Receiver<OwnedChange>,
    ended: Arc<Mutex<Option<FeedEnd>>>,
}

/// Joins `hosted`'s change feed, taking the snapshot of the filter's keys as it joins, and
/// reads that snapshot on the blocking pool into the returned source — no lock is held
/// while it is read, so the partition's task keeps writing.
///
/// # Errors
/// [`ApiError::Unavailable`] when the partition has just left this instance.
pub(crate) async fn attach(
    hosted: HostedPartition,
    partition: i32,
    filter: Filter,
) -> Result<LocalSource, ApiError> {
    let (tx, changes) = mpsc::channel(SUBSCRIBER_QUEUE);
    let ended = Arc::new(Mutex::new(None));
    let subscriber: Box<dyn ChangeSubscriber> = Box::new(ChannelSubscriber {
        filter: filter.clone(),
        tx: Some(tx),
        ended: ended.clone(),
    });
    let (entries_tx, snapshot) = mpsc::channel::<SnapshotItem>(256);
    let (joined_tx, joined) = oneshot::channel::<Result<(), FeedEnd>>();
    tokio::task::spawn_blocking(move || {
        let (mut subscriber, mut joined_tx) = (Some(subscriber), Some(joined_tx));
        let (from, to) = filter.bounds();
        let read = hosted.reader.snapshot_scan(
            from.as_ref().map(Vec::as_slice),
            to.as_ref().map(Vec::as_slice),
            &mut |take| {
                let subscriber = subscriber.take().expect("the snapshot is taken once");
                let joined = hosted.feed.subscribe(subscriber, take);
                let ok = joined.is_ok();
                if let Some(tx) = joined_tx.take() {
                    let _ = tx.send(joined);
                }
                ok
            },
            &mut |key, value| {
                entries_tx
                    .blocking_send(Ok((key.to_vec(), value.to_vec())))
                    .is_ok()
            },
        );
        if let Err(e) = read {
            let _ = entries_tx.blocking_send(Err(e.to_string()));
        }
    });
    match joined.await {
        Ok(Ok(())) => Ok(LocalSource {
            partition,
            snapshot,
            changes,
            ended,
        }),
        Ok(Err(_)) => Err(ApiError::Unavailable(format!(
            "partition {partition} just left this instance; it is moving"
        ))),
        Err(_) => Err(ApiError::Internal(format!(
            "reading the snapshot of partition {partition} failed before it was taken"
        ))),
    }
}

/// Renders events for one store's formats.
#[derive(Clone)]
pub(crate) struct Renderer {
    pub(crate) key_format: Format,
    pub(crate) value_format: Format,
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
pub(crate) struct EventReader {
    pub(crate) body: Body,
    pub(crate) buffer: String,
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
    mut locals: Vec<LocalSource>,
    mut remotes: Vec<EventReader>,
) {
    let mut count = 0usize;
    for local in &mut locals {
        while let Some(item) = local.snapshot.recv().await {
            let data = match item {
                Ok((key, value)) => renderer.entry(local.partition, &key, &value),
                Err(reason) => {
                    let message = format!("reading the snapshot failed: {reason}");
                    emit(&out, "resubscribe", resubscribe("unavailable", &message)).await;
                    return;
                }
            };
            count += 1;
            if !emit(&out, "entry", data).await {
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

pub(crate) fn sse_response(
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
