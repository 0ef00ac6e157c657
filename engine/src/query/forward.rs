//! Requests to other instances: forwarding a query to the owner of a key, and the internal
//! scans and subscriptions a fan-out across instances is made of.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, header};
use axum::response::Response;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::query::error::ApiError;

/// Marks a request one instance sent another: the receiver answers from its own state and
/// never forwards it again.
pub const FORWARDED_HEADER: &str = "x-tributary-forwarded";
/// Names the instance that answered.
pub const INSTANCE_HEADER: &str = "x-tributary-instance";

/// How long a peer may take to start answering.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client for the other instances of the application.
#[derive(Clone)]
pub struct Peers {
    client: Client<HttpConnector, Empty<Bytes>>,
    token: Option<String>,
}

impl Peers {
    /// A client that sends `token` (when set) to its peers.
    pub fn new(token: Option<String>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(PEER_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { client, token }
    }

    /// Sends `GET path_and_query` to the instance at `address`, marked as forwarded, with
    /// `accept` passed on. The body streams: the caller reads it (or hands it to its own
    /// client) as it arrives.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when the peer cannot be reached or does not answer in time.
    pub async fn get(
        &self,
        address: &str,
        path_and_query: &str,
        accept: Option<&HeaderValue>,
    ) -> Result<Response, ApiError> {
        let mut request = Request::get(format!("http://{address}{path_and_query}"))
            .header(FORWARDED_HEADER, "1")
            .body(Empty::new())
            .map_err(|e| ApiError::Internal(format!("cannot build a request to {address}: {e}")))?;
        if let Some(token) = &self.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ApiError::Internal("the token is not a valid header".into()))?;
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        if let Some(accept) = accept {
            request.headers_mut().insert(header::ACCEPT, accept.clone());
        }
        let unreachable = |e: String| {
            ApiError::Unavailable(format!(
                "the owner at {address} did not answer ({e}); it may have left the group, and its partitions are moving"
            ))
        };
        let response = tokio::time::timeout(PEER_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| unreachable("timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(response.map(Body::new))
    }

    /// Like [`Peers::get`], then reads the whole body; a status other than 200 is the
    /// peer's error, passed on as unavailable with its message.
    ///
    /// # Errors
    /// As [`Peers::get`], or when the peer answers with an error.
    pub async fn get_bytes(&self, address: &str, path_and_query: &str) -> Result<Bytes, ApiError> {
        let response = self.get(address, path_and_query, None).await?;
        let status = response.status();
        let body = tokio::time::timeout(PEER_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| ApiError::Unavailable(format!("the owner at {address} timed out")))?
            .map_err(|e| ApiError::Unavailable(format!("reading from {address} failed: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(ApiError::Unavailable(format!(
                "the owner at {address} answered {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        Ok(body)
    }
}
