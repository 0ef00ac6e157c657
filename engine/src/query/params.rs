//! Query parameters, typed and checked before a handler sees them: every value is strict
//! UTF-8 (never decoded lossily), a parameter given twice is refused, unknown ones are
//! refused by the handler's `deny_unknown_fields` type, and partition lists must be in
//! range and without repeats.

use std::collections::BTreeSet;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::query::error::ApiError;

/// The query parameters of a request as `T` (an `axum` extractor).
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        check_query(raw)?;
        serde_urlencoded::from_str(raw)
            .map(Params)
            .map_err(|e| ApiError::BadRequest(format!("bad query parameters: {e}")))
    }
}

/// Refuses a query string with a name or value that is not UTF-8, or a name given twice.
fn check_query(raw: &str) -> Result<(), ApiError> {
    let mut seen = BTreeSet::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name, "a parameter name")?;
        decode(value, &format!("parameter `{name}`"))?;
        if !seen.insert(name.clone()) {
            return Err(ApiError::BadRequest(format!(
                "parameter `{name}` is given twice; give it once"
            )));
        }
    }
    Ok(())
}

/// `text` percent-decoded (`+` as a space), refused unless it is UTF-8.
fn decode(text: &str, what: &str) -> Result<String, ApiError> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::BadRequest(format!("{what} is not valid UTF-8")))
}

/// The partitions of a comma-separated list, each a partition of a store with `count`
/// partitions, none repeated.
///
/// # Errors
/// 400 for a malformed, out-of-range or repeated partition number.
pub(crate) fn partition_list(list: &str, count: i32) -> Result<Vec<i32>, ApiError> {
    let mut seen = BTreeSet::new();
    list.split(',')
        .map(|p| {
            let partition = p
                .trim()
                .parse::<i32>()
                .map_err(|_| ApiError::BadRequest(format!("`{p}` is not a partition number")))?;
            if !(0..count).contains(&partition) {
                return Err(ApiError::BadRequest(format!(
                    "partition {partition} does not exist; the store has partitions 0 to {}",
                    count - 1
                )));
            }
            if !seen.insert(partition) {
                return Err(ApiError::BadRequest(format!(
                    "partition {partition} is listed twice"
                )));
            }
            Ok(partition)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_non_utf8_parameters_are_refused() {
        assert!(check_query("key=a&prefix=b").is_ok());
        assert!(check_query("").is_ok());
        let twice = check_query("key=a&key=b").unwrap_err();
        assert!(format!("{twice:?}").contains("twice"));
        let bad = check_query("key=%FF%FE").unwrap_err();
        assert!(format!("{bad:?}").contains("UTF-8"));
        assert!(check_query("key=caf%C3%A9+au+lait").is_ok());
    }

    #[test]
    fn partition_lists_are_in_range_and_unique() {
        assert_eq!(partition_list("0,2", 4).unwrap(), vec![0, 2]);
        assert!(partition_list("4", 4).is_err(), "out of range");
        assert!(partition_list("-1", 4).is_err(), "out of range");
        assert!(partition_list("0,0", 4).is_err(), "repeated");
        assert!(partition_list("x", 4).is_err());
        assert!(partition_list("", 4).is_err());
    }
}
