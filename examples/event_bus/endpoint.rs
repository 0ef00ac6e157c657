//! The external system the integration consumer forwards events to, as a deliberately
//! flaky HTTP endpoint: every third call fails with 503 before looking at the request. It
//! counts what it accepts per event id, so a run can show nothing was lost or delivered
//! twice.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::Serialize;

/// What the endpoint has seen.
#[derive(Debug, Default, Serialize)]
pub struct Received {
    /// Every call, failed ones included.
    pub calls: u64,
    /// Calls answered 503 on purpose.
    pub failed: u64,
    /// Accepted events: event id → how many times one was accepted (1 unless delivered twice).
    pub accepted: HashMap<String, u32>,
}

/// The endpoint's state, shared with whoever started it.
pub type Shared = Arc<Mutex<Received>>;

/// `POST /events` takes an event envelope (JSON with `event_id`, the same id in
/// `Idempotency-Key`); `GET /events/summary` answers calls, failures, accepted events and
/// repeats.
pub fn router(shared: Shared, fail_every: u64) -> Router {
    Router::new()
        .route(
            "/events",
            post(move |state, headers, body| receive(state, headers, body, fail_every)),
        )
        .route("/events/summary", get(summary))
        .with_state(shared)
}

async fn receive(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: String,
    fail_every: u64,
) -> (StatusCode, String) {
    let mut received = shared.lock().expect("endpoint state");
    received.calls += 1;
    if received.calls % fail_every == 0 {
        received.failed += 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "flaky on purpose: try again".into(),
        );
    }
    let event: serde_json::Value = match serde_json::from_str(&body) {
        Ok(event) => event,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not JSON: {e}")),
    };
    let Some(id) = event["event_id"].as_str() else {
        return (StatusCode::BAD_REQUEST, "no `event_id`".into());
    };
    let key = headers.get("idempotency-key").and_then(|k| k.to_str().ok());
    if key != Some(id) {
        return (
            StatusCode::BAD_REQUEST,
            format!("`Idempotency-Key` must be the event id {id}"),
        );
    }
    *received.accepted.entry(id.to_owned()).or_default() += 1;
    (StatusCode::OK, "accepted".into())
}

async fn summary(State(shared): State<Shared>) -> axum::Json<serde_json::Value> {
    let received = shared.lock().expect("endpoint state");
    axum::Json(serde_json::json!({
        "calls": received.calls,
        "failed": received.failed,
        "accepted": received.accepted.len(),
        "accepted_twice": received.accepted.values().filter(|n| **n > 1).count(),
    }))
}

/// Serves the endpoint on `address` on a thread of its own; returns the bound address and
/// the shared state.
pub fn start(address: &str, fail_every: u64) -> std::io::Result<(SocketAddr, Shared)> {
    let shared = Shared::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(address))?;
    let bound = listener.local_addr()?;
    let app = router(shared.clone(), fail_every);
    std::thread::Builder::new()
        .name("flaky-endpoint".into())
        .spawn(move || {
            runtime.block_on(async move {
                axum::serve(listener, app)
                    .await
                    .expect("the endpoint serves");
            });
        })?;
    Ok((bound, shared))
}
