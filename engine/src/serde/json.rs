use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Format, Serde, SerdeError};

/// JSON through `serde_json`, for any `Serialize + DeserializeOwned` type.
pub struct JsonSerde<T>(PhantomData<fn() -> T>);

impl<T> JsonSerde<T> {
    /// A JSON serde for `T`.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for JsonSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Serde<T> for JsonSerde<T> {
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        serde_json::to_writer(out, value).map_err(|e| SerdeError::new("json", e.to_string()))
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        serde_json::from_slice(bytes).map_err(|e| SerdeError::new("json", e.to_string()))
    }

    fn format(&self) -> Format {
        Format::Json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Event {
        user: String,
        n: u32,
    }

    #[test]
    fn json_round_trips_and_reports_bad_payloads() {
        let serde = JsonSerde::<Event>::new();
        let mut out = Vec::new();
        serde
            .serialize(
                &Event {
                    user: "u".into(),
                    n: 3,
                },
                &mut out,
            )
            .unwrap();
        assert_eq!(out, br#"{"user":"u","n":3}"#);
        assert_eq!(
            serde.deserialize(&out).unwrap(),
            Event {
                user: "u".into(),
                n: 3
            }
        );
        let err = serde.deserialize(b"{\"user\":").unwrap_err();
        assert_eq!(err.format, "json");
        assert!(err.to_string().starts_with("json: EOF"), "{err}");
    }
}
