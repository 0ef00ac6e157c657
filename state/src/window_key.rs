//! Window keys: how a window store and its changelog key a record key's window (the
//! record key, then the window's time as eight bytes ordered as time), and the
//! [`KeyWindows`] query that finds one record key's windows among them.

/// One record key's windows, as an aggregation looks them up: the window keys from `from`
/// to `to` (inclusive) that are the record key followed by exactly `suffix` bytes — a
/// window start (8), or a session's start and end (16) — and whose last eight bytes, the
/// time a window store is segmented by, lie in `times`. A window store looks only in the
/// segments of `times`; longer keys that merely start with the record key are left out.
#[derive(Debug, Clone, Copy)]
pub struct KeyWindows<'a> {
    /// The record key's bytes.
    pub key: &'a [u8],
    /// How many bytes follow the record key in each window key.
    pub suffix: usize,
    /// The first window key.
    pub from: &'a [u8],
    /// The last window key.
    pub to: &'a [u8],
    /// The earliest and latest segment time.
    pub times: (i64, i64),
}

impl KeyWindows<'_> {
    /// Whether the window key `composite` is one of these windows (its bounds aside).
    pub fn matches(&self, composite: &[u8]) -> bool {
        composite.len() == self.key.len() + self.suffix
            && composite.starts_with(self.key)
            && split_window_key(composite)
                .is_some_and(|(_, time)| (self.times.0..=self.times.1).contains(&time))
    }
}

/// The store and changelog key of `key`'s window starting at `start`: the key's bytes, then
/// the start as eight big-endian bytes with the sign bit flipped (so byte order is time
/// order, negative times included).
pub fn window_key(key: &[u8], start: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 8);
    out.extend_from_slice(key);
    push_window_time(&mut out, start);
    out
}

/// Appends `time` to `out` as [`window_key`] encodes a window start: eight big-endian bytes
/// with the sign bit flipped. For building window keys in place.
pub fn push_window_time(out: &mut Vec<u8>, time: i64) {
    out.extend_from_slice(&encode_time(time));
}

/// The record key of a window key that is the record key followed by `suffix` bytes (see
/// [`KeyWindows`]); `None` when `window_key` is shorter than that.
pub fn record_key_of(window_key: &[u8], suffix: usize) -> Option<&[u8]> {
    let split = window_key.len().checked_sub(suffix)?;
    Some(&window_key[..split])
}

/// The record key and window start of a [`window_key`]; `None` when `bytes` is shorter
/// than a timestamp.
pub fn split_window_key(bytes: &[u8]) -> Option<(&[u8], i64)> {
    let split = bytes.len().checked_sub(8)?;
    let (key, time) = bytes.split_at(split);
    Some((key, decode_time(time.try_into().ok()?)))
}

fn encode_time(time: i64) -> [u8; 8] {
    ((time as u64) ^ (1 << 63)).to_be_bytes()
}

fn decode_time(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_keys_order_by_key_then_time() {
        let keys = [
            window_key(b"a", -5),
            window_key(b"a", 0),
            window_key(b"a", 7),
            window_key(b"a", i64::MAX),
            window_key(b"b", i64::MIN),
        ];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(split_window_key(&keys[0]), Some((&b"a"[..], -5)));
        assert_eq!(split_window_key(b"short"), None);
    }
}
