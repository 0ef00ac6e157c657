//! One side of a stream-stream join (Kafka Streams' `KStreamKStreamJoin` processors, with
//! the KIP-633 / KAFKA-10847 handling of records that find no partner).

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use super::stores::{JoinStore, Pending, PendingKey, PendingStore};
use crate::dsl::Data;
use crate::dsl::join::Joiner;
use crate::dsl::kstream::Nulls;
use crate::error::StreamsError;
use crate::processor::TaskContext;
use crate::processor::node::{Forward, Node, NodeHooks};
use crate::record::{Headers, Record};
use crate::window::JoinWindows;

/// What both sides of one join share in a task: stream time over both inputs, and a lower
/// bound of the times of the records waiting for a partner (`None`: unknown).
#[derive(Default)]
pub(crate) struct JoinTime {
    stream_time: Option<i64>,
    pending_min: Option<i64>,
}

/// Which input a node reads: the left stream (`L`) or the right one (`R`).
pub(crate) trait Side<L, R>: 'static {
    /// This side's values.
    type This: Data;
    /// The other side's values.
    type Other: Data;
    /// Whether this is the left side.
    const LEFT: bool;

    /// The join's result for this side's value and the other's.
    fn join<VR>(
        joiner: &Joiner<L, R, VR>,
        this: Option<&Self::This>,
        other: Option<&Self::Other>,
    ) -> Option<VR>;

    /// Whether a record of this side without a partner has a result.
    fn keeps_unmatched<VR>(joiner: &Joiner<L, R, VR>) -> bool;

    /// Adds a record of this side to the waiting ones.
    fn wait<K: Data>(
        store: &mut PendingStore<K, L, R>,
        key: PendingKey<K>,
        value: &Self::This,
    ) -> Result<(), StreamsError>;
}

/// The left stream's side.
pub(crate) struct LeftSide;

/// The right stream's side.
pub(crate) struct RightSide;

impl<L: Data, R: Data> Side<L, R> for LeftSide {
    type This = L;
    type Other = R;
    const LEFT: bool = true;

    fn join<VR>(joiner: &Joiner<L, R, VR>, this: Option<&L>, other: Option<&R>) -> Option<VR> {
        joiner.join(this, other)
    }

    fn keeps_unmatched<VR>(joiner: &Joiner<L, R, VR>) -> bool {
        joiner.keeps_left()
    }

    fn wait<K: Data>(
        store: &mut PendingStore<K, L, R>,
        key: PendingKey<K>,
        value: &L,
    ) -> Result<(), StreamsError> {
        store.add_left(key, value)
    }
}

impl<L: Data, R: Data> Side<L, R> for RightSide {
    type This = R;
    type Other = L;
    const LEFT: bool = false;

    fn join<VR>(joiner: &Joiner<L, R, VR>, this: Option<&R>, other: Option<&L>) -> Option<VR> {
        joiner.join(other, this)
    }

    fn keeps_unmatched<VR>(joiner: &Joiner<L, R, VR>) -> bool {
        joiner.keeps_right()
    }

    fn wait<K: Data>(
        store: &mut PendingStore<K, L, R>,
        key: PendingKey<K>,
        value: &R,
    ) -> Result<(), StreamsError> {
        store.add_right(key, value)
    }
}

/// The node of side `S` of a join of `L` and `R` values into `VR`.
pub(crate) struct JoinSide<K, L, R, VR, S: Side<L, R>> {
    pub(crate) kind: &'static str,
    pub(crate) windows: JoinWindows,
    pub(crate) joiner: Joiner<L, R, VR>,
    pub(crate) time: Rc<RefCell<JoinTime>>,
    pub(crate) own: JoinStore<K, S::This>,
    pub(crate) other: JoinStore<K, S::Other>,
    /// For left and outer joins: the records waiting for a partner.
    pub(crate) pending: Option<PendingStore<K, L, R>>,
    pub(crate) nulls: Nulls<K, S::This>,
    pub(crate) forward: Forward<K, VR>,
    pub(crate) side: PhantomData<S>,
}

impl<K, L, R, VR, S> JoinSide<K, L, R, VR, S>
where
    K: Data + PartialEq,
    L: Data,
    R: Data,
    VR: Data,
    S: Side<L, R>,
{
    /// How far this side's records look back and ahead for partners.
    fn reach(&self) -> (i64, i64) {
        if S::LEFT {
            (self.windows.before_ms, self.windows.after_ms)
        } else {
            (self.windows.after_ms, self.windows.before_ms)
        }
    }

    /// How long past its own time a waiting record of the left (`true`) or right side can
    /// still find a partner, before grace.
    fn lookahead(&self, left: bool) -> i64 {
        if left {
            self.windows.after_ms
        } else {
            self.windows.before_ms
        }
    }

    /// Emits the waiting records whose windows have closed by `stream_time` (their time +
    /// lookahead + grace is before it), in time order, and forgets them. `trigger` is the
    /// record being processed: its headers go with them, as in Kafka Streams.
    fn emit_closed(
        &mut self,
        cx: &mut TaskContext,
        stream_time: i64,
        trigger: &Headers,
    ) -> Result<(), StreamsError> {
        let grace = self.windows.grace_ms;
        let nearest = self.lookahead(true).min(self.lookahead(false));
        // Every waiting record before `limit` may have closed; none after it has.
        let limit = stream_time.saturating_sub(grace).saturating_sub(nearest);
        let lower = self.time.borrow().pending_min;
        if lower.is_some_and(|min| min >= limit) {
            return Ok(());
        }
        let waiting = match &self.pending {
            Some(pending) => pending.before(limit)?,
            None => return Ok(()),
        };
        let lookahead = (self.lookahead(false), self.lookahead(true));
        let mut still_waiting: Option<i64> = None;
        for (key, values) in waiting {
            let ahead = if key.left { lookahead.1 } else { lookahead.0 };
            let closes = key.timestamp.saturating_add(ahead).saturating_add(grace);
            if closes >= stream_time {
                still_waiting = Some(still_waiting.map_or(key.timestamp, |m| m.min(key.timestamp)));
                continue;
            }
            let results: Vec<VR> = match &values {
                Pending::Left(values) => values
                    .iter()
                    .filter_map(|v| self.joiner.join(Some(v), None))
                    .collect(),
                Pending::Right(values) => values
                    .iter()
                    .filter_map(|v| self.joiner.join(None, Some(v)))
                    .collect(),
            };
            for value in results {
                self.forward.send(
                    cx,
                    Record {
                        key: key.key.clone(),
                        value,
                        timestamp: key.timestamp,
                        headers: trigger.clone(),
                    },
                )?;
            }
            if let Some(pending) = &mut self.pending {
                pending.remove(&key)?;
            }
        }
        self.time.borrow_mut().pending_min = Some(still_waiting.map_or(limit, |m| m.min(limit)));
        Ok(())
    }
}

impl<K, L, R, VR, S> Node<K, S::This> for JoinSide<K, L, R, VR, S>
where
    K: Data + PartialEq,
    L: Data,
    R: Data,
    VR: Data,
    S: Side<L, R>,
{
    fn process(
        &mut self,
        cx: &mut TaskContext,
        record: Record<K, S::This>,
    ) -> Result<(), StreamsError> {
        let timestamp = record.timestamp;
        let stream_time = {
            let mut time = self.time.borrow_mut();
            let now = time.stream_time.map_or(timestamp, |t| t.max(timestamp));
            time.stream_time = Some(now);
            now
        };
        let (null_key, null_value) = (self.nulls.key(&record.key), self.nulls.value(&record.value));
        let keeps_unmatched = S::keeps_unmatched(&self.joiner);
        if keeps_unmatched && null_key && !null_value {
            // A keyless record can meet no partner: its result is due at once.
            return match S::join(&self.joiner, Some(&record.value), None) {
                Some(value) => self.forward.send(cx, record.with_value(value)),
                None => Ok(()),
            };
        }
        if cx.skips_null(self.kind, null_key, null_value) {
            return Ok(());
        }
        if timestamp == stream_time {
            self.emit_closed(cx, stream_time, &record.headers)?;
        }
        let (before, after) = self.reach();
        let from = timestamp.saturating_sub(before).max(0);
        let to = timestamp.saturating_add(after).max(0);
        let partners = self.other.fetch(&record.key, from, to)?;
        let matched = !partners.is_empty();
        for (time, values) in partners {
            if let Some(pending) = &mut self.pending {
                pending.remove(&PendingKey {
                    timestamp: time,
                    left: !S::LEFT,
                    key: record.key.clone(),
                })?;
            }
            for other in &values {
                if let Some(value) = S::join(&self.joiner, Some(&record.value), Some(other)) {
                    self.forward.send(
                        cx,
                        Record {
                            key: record.key.clone(),
                            value,
                            timestamp: timestamp.max(time),
                            headers: record.headers.clone(),
                        },
                    )?;
                }
            }
        }
        if !matched && keeps_unmatched {
            match &mut self.pending {
                // Its window has closed already (a late record): the result is due now.
                Some(_) if to < stream_time => {
                    if let Some(value) = S::join(&self.joiner, Some(&record.value), None) {
                        self.forward.send(cx, record.clone().with_value(value))?;
                    }
                }
                Some(pending) => {
                    let key = PendingKey {
                        timestamp,
                        left: S::LEFT,
                        key: record.key.clone(),
                    };
                    S::wait(pending, key, &record.value)?;
                    let mut time = self.time.borrow_mut();
                    time.pending_min = time.pending_min.map(|m| m.min(timestamp));
                }
                None => {}
            }
        }
        if !self.own.append(&record.key, &record.value, timestamp)? {
            cx.metrics.dropped_late += 1;
        }
        Ok(())
    }
}

impl<K, L, R, VR, S> NodeHooks for JoinSide<K, L, R, VR, S>
where
    K: Data + PartialEq,
    L: Data,
    R: Data,
    VR: Data,
    S: Side<L, R>,
{
    /// Stream time resumes from the latest record either store holds, so that a restored
    /// join decides as the one before it did.
    fn init(&mut self, _cx: &mut TaskContext) -> Result<(), StreamsError> {
        let restored = self.own.observed_time().max(self.other.observed_time());
        let mut time = self.time.borrow_mut();
        time.stream_time = time.stream_time.max(restored);
        Ok(())
    }
}
