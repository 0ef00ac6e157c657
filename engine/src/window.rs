//! Windows: time windows of a size that advance by a step ([`TimeWindows`], tumbling when
//! the step is the size), sliding windows ([`SlidingWindows`]), sessions
//! ([`SessionWindows`]), the [`Windowed`] keys of windowed tables, and their serde.

use std::time::Duration;

use tributary_state::window::{push_window_time, split_window_key};

use crate::serde::{Format, Serde, SerdeError, SerdeRef};

/// Extra time a changelog of windows keeps them beyond the store's retention
/// (Kafka Streams' `windowstore.changelog.additional.retention.ms` default: a day).
pub const CHANGELOG_EXTRA_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// A window of time in milliseconds: `[start, end)` for [`TimeWindows`]; `[start, end]`, both
/// inclusive, for [`SlidingWindows`] and sessions (as in Kafka Streams).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// The first millisecond in the window.
    pub start: i64,
    /// The first millisecond after it.
    pub end: i64,
}

/// A key in one window: the keys of windowed tables.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Fixed-size windows that start every `advance`: hopping windows, or tumbling ones when
/// `advance` equals the size (the default). Windows are aligned to the epoch: their starts
/// are multiples of `advance`. A record belongs to every window whose `[start, end)` holds
/// its timestamp; after stream time passes a window's end + grace, the window is closed and
/// records for it are dropped as late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    pub(crate) size_ms: i64,
    pub(crate) advance_ms: i64,
    pub(crate) grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` that accept no late records.
    ///
    /// # Panics
    /// When `size` is zero.
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` that accept records up to `grace` after their end.
    ///
    /// # Panics
    /// When `size` is zero.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        assert!(!size.is_zero(), "a window has a positive size");
        Self {
            size_ms: millis(size),
            advance_ms: millis(size),
            grace_ms: millis(grace),
        }
    }

    /// Hopping windows: a new window starts every `advance`.
    ///
    /// # Panics
    /// When `advance` is zero or larger than the size.
    pub fn advance_by(mut self, advance: Duration) -> Self {
        let advance = millis(advance);
        assert!(
            advance > 0 && advance <= self.size_ms,
            "a window advances by a positive step no larger than its size"
        );
        self.advance_ms = advance;
        self
    }

    /// The window size in milliseconds.
    pub fn size_ms(&self) -> i64 {
        self.size_ms
    }

    /// How far apart window starts are, in milliseconds.
    pub fn advance_ms(&self) -> i64 {
        self.advance_ms
    }

    /// The grace period in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// The windows a record at `timestamp` belongs to, earliest first (windows start at 0
    /// or later).
    pub fn windows_for(&self, timestamp: i64) -> impl Iterator<Item = Window> + use<> {
        let (size, advance) = (self.size_ms, self.advance_ms);
        let first = (timestamp - size + advance).max(0).div_euclid(advance) * advance;
        (0..)
            .map(move |i| first + i * advance)
            .take_while(move |start| *start <= timestamp)
            .map(move |start| Window {
                start,
                end: start.saturating_add(size),
            })
    }
}

/// Sliding windows (Kafka Streams' KIP-450): windows `[start, start + time difference]`,
/// both ends inclusive, that exist where records are — each record at `t` has its window
/// `[t - difference, t]` and, once a later record falls within `difference + 1` of it, the
/// window `[t + 1, t + 1 + difference]` — so every distinct set of records no further apart
/// than the time difference is aggregated exactly once. A window closes when stream time
/// passes its end + grace; a record whose own window `[t - difference, t]` has closed
/// (stream time is beyond `t + grace`) is dropped as late.
///
/// Unlike Kafka Streams, windows are not clipped at the epoch: a record at `t < difference`
/// has the window `[t - difference, t]` like any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub(crate) difference_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SlidingWindows {
    /// Sliding windows over records at most `difference` apart, accepting no late records.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Sliding windows over records at most `difference` apart, accepting records up to
    /// `grace` late.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        Self {
            difference_ms: millis(difference),
            grace_ms: millis(grace),
        }
    }

    /// The largest time difference between two records in one window, in milliseconds.
    pub fn time_difference_ms(&self) -> i64 {
        self.difference_ms
    }

    /// The grace period in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }
}

/// Session windows: a key's records closer together than the inactivity `gap` form one
/// session `[first, last]` (both inclusive). A record that falls within `gap` of two
/// sessions merges them. A session closes when stream time passes its end + gap + grace,
/// and is final from then on: a record that could only form or extend a session that closes
/// by the current stream time is dropped as late, and nothing merges into a closed session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    pub(crate) gap_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SessionWindows {
    /// Sessions split by `gap` of inactivity, accepting no late records.
    ///
    /// # Panics
    /// When `gap` is zero.
    pub fn with_inactivity_gap_and_no_grace(gap: Duration) -> Self {
        Self::with_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    /// Sessions split by `gap` of inactivity, accepting records up to `grace` late.
    ///
    /// # Panics
    /// When `gap` is zero.
    pub fn with_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> Self {
        assert!(!gap.is_zero(), "a session's inactivity gap is positive");
        Self {
            gap_ms: millis(gap),
            grace_ms: millis(grace),
        }
    }

    /// The inactivity gap in milliseconds.
    pub fn gap_ms(&self) -> i64 {
        self.gap_ms
    }

    /// The grace period in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }
}

/// The windows of a stream-stream join: a record at `t` joins the other stream's records
/// of the same key at `t - before` to `t + after` (both inclusive; `before` and `after` are
/// the time difference unless set apart). Records are kept for `before + after + grace`
/// past stream time, so records up to `grace` late still find their partners, and a left
/// or outer join emits a record that found no partner once stream time passes its window's
/// end + grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    pub(crate) before_ms: i64,
    pub(crate) after_ms: i64,
    pub(crate) grace_ms: i64,
}

impl JoinWindows {
    /// Joins records at most `difference` apart, either way, accepting no late records.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Joins records at most `difference` apart, either way, accepting records up to
    /// `grace` late.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        Self {
            before_ms: millis(difference),
            after_ms: millis(difference),
            grace_ms: millis(grace),
        }
    }

    /// Joins other records at most `before` earlier (the later bound is kept).
    pub fn before(mut self, before: Duration) -> Self {
        self.before_ms = millis(before);
        self
    }

    /// Joins other records at most `after` later (the earlier bound is kept).
    pub fn after(mut self, after: Duration) -> Self {
        self.after_ms = millis(after);
        self
    }

    /// How much earlier another record may be, in milliseconds.
    pub fn before_ms(&self) -> i64 {
        self.before_ms
    }

    /// How much later another record may be, in milliseconds.
    pub fn after_ms(&self) -> i64 {
        self.after_ms
    }

    /// The grace period in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// The window size, `before + after`, in milliseconds.
    pub fn size_ms(&self) -> i64 {
        self.before_ms.saturating_add(self.after_ms)
    }

    /// How long the join's stores keep records past stream time: size + grace.
    pub fn retention_ms(&self) -> i64 {
        self.size_ms().saturating_add(self.grace_ms)
    }
}

/// Session keys as store and topic bytes: the key's bytes, the session start, then its end
/// (eight bytes each, ordered as time). Session stores are segmented by the end.
pub struct SessionSerde<K> {
    inner: SerdeRef<K>,
}

impl<K> SessionSerde<K> {
    /// Session keys of `inner` keys.
    pub fn new(inner: SerdeRef<K>) -> Self {
        Self { inner }
    }
}

impl<K> Serde<Windowed<K>> for SessionSerde<K> {
    fn serialize(&self, value: &Windowed<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        self.inner.serialize(&value.key, out)?;
        push_window_time(out, value.window.start);
        push_window_time(out, value.window.end);
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let too_short = || {
            SerdeError::new(
                "session",
                format!(
                    "{} bytes are too few for a key, a start and an end",
                    bytes.len()
                ),
            )
        };
        let (rest, end) = split_window_key(bytes).ok_or_else(too_short)?;
        let (key, start) = split_window_key(rest).ok_or_else(too_short)?;
        Ok(Windowed {
            key: self.inner.deserialize(key)?,
            window: Window { start, end },
        })
    }

    fn format(&self) -> Format {
        Format::Opaque("session")
    }
}

/// Windowed keys as store and topic bytes: the key's bytes in its own serde, then the
/// window start (eight bytes, ordered as time). The end is the start plus the window size.
pub struct WindowedSerde<K> {
    inner: SerdeRef<K>,
    size_ms: i64,
}

impl<K> WindowedSerde<K> {
    /// Windowed keys of `inner` keys in windows of `size_ms`.
    pub fn new(inner: SerdeRef<K>, size_ms: i64) -> Self {
        Self { inner, size_ms }
    }
}

impl<K> Serde<Windowed<K>> for WindowedSerde<K> {
    fn serialize(&self, value: &Windowed<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        self.inner.serialize(&value.key, out)?;
        push_window_time(out, value.window.start);
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let (key, start) = split_window_key(bytes).ok_or_else(|| {
            SerdeError::new(
                "windowed",
                format!(
                    "{} bytes are too few for a key and a window start",
                    bytes.len()
                ),
            )
        })?;
        Ok(Windowed {
            key: self.inner.deserialize(key)?,
            window: Window {
                start,
                end: start.saturating_add(self.size_ms),
            },
        })
    }

    fn format(&self) -> Format {
        Format::Opaque("windowed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::StringSerde;
    use std::sync::Arc;

    fn starts(windows: &TimeWindows, ts: i64) -> Vec<i64> {
        windows.windows_for(ts).map(|w| w.start).collect()
    }

    #[test]
    fn records_fall_into_tumbling_and_hopping_windows() {
        let tumbling = TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
        assert_eq!(starts(&tumbling, 0), vec![0]);
        assert_eq!(starts(&tumbling, 19), vec![10]);
        let hopping = TimeWindows::of_size_with_no_grace(Duration::from_millis(10))
            .advance_by(Duration::from_millis(5));
        assert_eq!(starts(&hopping, 12), vec![5, 10]);
        assert_eq!(starts(&hopping, 3), vec![0], "no window starts before 0");
        let hop3 = TimeWindows::of_size_with_no_grace(Duration::from_millis(10))
            .advance_by(Duration::from_millis(3));
        assert_eq!(starts(&hop3, 10), vec![3, 6, 9]);
    }

    #[test]
    fn session_keys_round_trip_and_order_by_key_then_start() {
        let serde = SessionSerde::new(Arc::new(StringSerde));
        let key = |k: &str, start, end| Windowed {
            key: k.to_owned(),
            window: Window { start, end },
        };
        let bytes = |w: &Windowed<String>| {
            let mut out = Vec::new();
            serde.serialize(w, &mut out).unwrap();
            out
        };
        let a = key("k", 5, 90);
        assert_eq!(serde.deserialize(&bytes(&a)).unwrap(), a);
        assert!(bytes(&a) < bytes(&key("k", 6, 7)));
        assert!(serde.deserialize(b"short").is_err());
    }

    #[test]
    fn windowed_keys_round_trip() {
        let serde = WindowedSerde::new(Arc::new(StringSerde), 10);
        let key = Windowed {
            key: "k".to_owned(),
            window: Window { start: 20, end: 30 },
        };
        let mut bytes = Vec::new();
        serde.serialize(&key, &mut bytes).unwrap();
        assert_eq!(serde.deserialize(&bytes).unwrap(), key);
        assert!(serde.deserialize(b"k").is_err());
    }
}
