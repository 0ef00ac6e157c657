//! Serdes: conversions between typed values and the bytes in topics and stores.
//!
//! Round-trip rule, tested for every serde here: for any value `v`,
//! `deserialize(serialize(v)) == v`, and serializing writes only to the end of the buffer
//! it is given. A payload that does not decode is a [`SerdeError`], never a panic.

mod change;
mod json;
mod primitive;

use std::sync::Arc;

pub(crate) use change::ChangeSerde;
pub use json::JsonSerde;
pub use primitive::{BytesSerde, I64Serde, StringSerde, U64Serde};

/// How a serde's bytes read as text: what a key written in a URL means and how a value
/// shows in JSON (interactive queries), Arrow's column types, and what `describe()` names.
/// A custom serde says which one its bytes are; bytes in an [`Format::Opaque`] format are
/// shown as base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// UTF-8 text.
    String,
    /// JSON text.
    Json,
    /// A signed 64-bit integer, eight bytes big-endian.
    I64,
    /// An unsigned 64-bit integer, eight bytes big-endian.
    U64,
    /// Raw bytes (base64 in URLs and JSON).
    Bytes,
    /// A format with no text form (windowed keys, table updates …), named.
    Opaque(&'static str),
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::String => "string",
            Self::Json => "json",
            Self::I64 => "i64",
            Self::U64 => "u64",
            Self::Bytes => "bytes",
            Self::Opaque(name) => name,
        })
    }
}

/// Why bytes could not become a value, or a value bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format}: {message}")]
pub struct SerdeError {
    /// The format that failed, e.g. "json", "i64".
    pub format: &'static str,
    /// What went wrong.
    pub message: String,
}

impl SerdeError {
    /// An error of `format` saying `message`.
    pub fn new(format: &'static str, message: impl Into<String>) -> Self {
        Self {
            format,
            message: message.into(),
        }
    }
}

/// Converts values of `T` to and from bytes.
pub trait Serde<T>: Send + Sync {
    /// Appends the bytes of `value` to `out`.
    ///
    /// # Errors
    /// When the value cannot be represented in this format.
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError>;

    /// Decodes a value from `bytes`.
    ///
    /// # Errors
    /// When `bytes` is not a valid encoding.
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError>;

    /// Whether `value` is written as a null payload (a tombstone) rather than as bytes.
    /// Only the `Option` serdes say yes, for `None`.
    fn is_null(&self, _value: &T) -> bool {
        false
    }

    /// The value a null payload decodes to.
    ///
    /// # Errors
    /// By default a null payload is an error; `Option` serdes decode it as `None`.
    fn deserialize_null(&self) -> Result<T, SerdeError> {
        Err(SerdeError::new(
            "null",
            "null payload; use an Option type to accept nulls",
        ))
    }

    /// What the bytes are, for interactive queries and `describe()`.
    fn format(&self) -> Format;
}

/// A shared serde, as the DSL keeps it.
pub type SerdeRef<T> = Arc<dyn Serde<T>>;

/// Decodes an optional payload with `serde`.
pub(crate) fn decode<T>(serde: &dyn Serde<T>, bytes: Option<&[u8]>) -> Result<T, SerdeError> {
    match bytes {
        Some(b) => serde.deserialize(b),
        None => serde.deserialize_null(),
    }
}

/// Encodes `value` into `out` (cleared first); returns `false` for a null payload.
pub(crate) fn encode<T>(
    serde: &dyn Serde<T>,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<bool, SerdeError> {
    out.clear();
    if serde.is_null(value) {
        return Ok(false);
    }
    serde.serialize(value, out)?;
    Ok(true)
}

/// Makes any serde of `T` a serde of `Option<T>`: `None` is a null payload (a tombstone).
pub struct OptionSerde<T> {
    inner: SerdeRef<T>,
}

impl<T> OptionSerde<T> {
    /// Wraps `inner`.
    pub fn new(inner: SerdeRef<T>) -> Self {
        Self { inner }
    }
}

/// `serde` for optional values: `None` is a null payload (a tombstone). Use it for streams
/// of table updates (`KTable::to_stream`) and for reading topics that carry tombstones.
///
/// ```
/// use tributary_engine::serde::{nullable, I64Serde, Serde};
/// let serde = nullable(I64Serde);
/// assert!(serde.is_null(&None));
/// assert_eq!(serde.deserialize_null(), Ok(None));
/// assert_eq!(serde.deserialize(&7i64.to_be_bytes()), Ok(Some(7)));
/// ```
pub fn nullable<T: 'static>(serde: impl Serde<T> + 'static) -> OptionSerde<T> {
    OptionSerde::new(std::sync::Arc::new(serde))
}

impl<T: 'static> Serde<Option<T>> for OptionSerde<T> {
    fn serialize(&self, value: &Option<T>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        match value {
            Some(v) => self.inner.serialize(v, out),
            None => Ok(()),
        }
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Option<T>, SerdeError> {
        self.inner.deserialize(bytes).map(Some)
    }

    fn is_null(&self, value: &Option<T>) -> bool {
        value.is_none()
    }

    fn deserialize_null(&self) -> Result<Option<T>, SerdeError> {
        Ok(None)
    }

    fn format(&self) -> Format {
        self.inner.format()
    }
}
