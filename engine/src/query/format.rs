//! Keys and values between a store's bytes and what HTTP clients read and write.
//!
//! In URLs, keys are written in the store's key format: strings as they are, JSON as JSON
//! text, integers in decimal, bytes in base64. Values come back as JSON: JSON values as
//! they are, strings as strings, integers as numbers, bytes as base64 strings.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use serde_json::value::RawValue;

pub use crate::serde::Format;
use crate::store::StoreSpec;

/// How a value (or key) is shown in JSON.
pub fn render(format: Format, bytes: &[u8]) -> Value {
    match format {
        Format::Json => serde_json::from_slice::<&RawValue>(bytes)
            .ok()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_else(|| Value::String(STANDARD.encode(bytes))),
        Format::String => match std::str::from_utf8(bytes) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => Value::String(STANDARD.encode(bytes)),
        },
        Format::I64 => match <[u8; 8]>::try_from(bytes) {
            Ok(b) => Value::from(i64::from_be_bytes(b)),
            Err(_) => Value::String(STANDARD.encode(bytes)),
        },
        Format::U64 => match <[u8; 8]>::try_from(bytes) {
            Ok(b) => Value::from(u64::from_be_bytes(b)),
            Err(_) => Value::String(STANDARD.encode(bytes)),
        },
        _ => Value::String(STANDARD.encode(bytes)),
    }
}

/// The store bytes of `text`, a key written in `spec`'s key format.
///
/// # Errors
/// Why the text is not a key of that format, for a 400 answer.
pub fn parse_key(spec: &StoreSpec, text: &str) -> Result<Vec<u8>, String> {
    let raw = match spec.key_format() {
        Format::I64 => text
            .parse::<i64>()
            .map(|n| n.to_be_bytes().to_vec())
            .map_err(|e| format!("`{text}` is not an i64 ({e})"))?,
        Format::U64 => text
            .parse::<u64>()
            .map(|n| n.to_be_bytes().to_vec())
            .map_err(|e| format!("`{text}` is not a u64 ({e})"))?,
        Format::Bytes | Format::Opaque(_) => STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|e| format!("`{text}` is not base64 ({e})"))?,
        _ => text.as_bytes().to_vec(),
    };
    (spec.canonical_key)(&raw)
        .map_err(|e| format!("`{text}` is not a key of store `{}` ({e})", spec.name()))
}

/// The store bytes a key prefix stands for: the text's bytes for string and JSON keys
/// (a prefix of the JSON text), decoded base64 for bytes keys.
///
/// # Errors
/// For integer keys, whose big-endian bytes have no useful text prefix.
pub fn parse_prefix(spec: &StoreSpec, text: &str) -> Result<Vec<u8>, String> {
    match spec.key_format() {
        Format::String | Format::Json => Ok(text.as_bytes().to_vec()),
        Format::Bytes | Format::Opaque(_) => STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|e| format!("prefix `{text}` is not base64 ({e})")),
        other => Err(format!(
            "store `{}` has {other} keys; prefixes apply to string, json and bytes keys (use from/to)",
            spec.name()
        )),
    }
}

/// A paging cursor: the last key of a page, opaque to clients.
pub fn encode_cursor(key: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// The key a cursor stands for.
///
/// # Errors
/// When the cursor was not made by [`encode_cursor`].
pub fn decode_cursor(cursor: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| format!("`{cursor}` is not a cursor; pass back a page's `next_cursor`"))
}

/// Raw bytes for the internal peer protocol.
pub(crate) fn encode_raw(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Raw bytes from the internal peer protocol.
pub(crate) fn decode_raw(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_by_format() {
        assert_eq!(
            render(Format::Json, br#"{"a":[1,2]}"#),
            serde_json::json!({"a": [1, 2]})
        );
        assert_eq!(render(Format::String, b"hi"), Value::from("hi"));
        assert_eq!(render(Format::I64, &(-5i64).to_be_bytes()), Value::from(-5));
        assert_eq!(render(Format::Bytes, &[0, 255]), Value::from("AP8="));
        assert_eq!(
            render(Format::I64, b"short"),
            Value::from("c2hvcnQ="),
            "bad bytes stay visible"
        );
    }

    #[test]
    fn cursors_round_trip() {
        let key = b"user-17\x00\xff";
        assert_eq!(decode_cursor(&encode_cursor(key)).unwrap(), key);
        assert!(decode_cursor("not a cursor!").is_err());
    }
}
