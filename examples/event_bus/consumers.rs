//! The bus's three kinds of consumers of one topic of order events (seed 001), each an
//! application of its own (own `application.id`, consumer group, stores and workers):
//!
//! - **projection**: a read model, the current view of every order;
//! - **integration**: forwards each event once to an external HTTP endpoint, with retries
//!   and back-off, deduplicated by event id;
//! - **analytics**: events per type per minute, in one-minute windows.

use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};
use serde::{Deserialize, Serialize};
use tributary::engine::dsl::Deduplicated;
use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde};
use tributary::engine::{TimeWindows, TimestampExtractor};
use tributary::{Consumed, Grouped, KStream, Materialized, Produced, StreamsBuilder, Topology};

use crate::envelope::{Envelope, EnvelopeSerde, OrderEvent};

/// The consumers, each an application of its own.
pub const CONSUMERS: [&str; 3] = ["projection", "integration", "analytics"];
/// The projection's store: order id → [`OrderView`].
pub const ORDERS_STORE: &str = "orders";
/// The analytics store: event type → count, per one-minute window.
pub const EVENTS_PER_TYPE_PER_MINUTE: &str = "events-per-type-per-minute";
/// How long an event id is remembered to drop a producer's retried copy.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The read model of one order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    pub customer_id: String,
    pub total_cents: i64,
    pub currency: String,
    /// `placed`, `shipped` or `cancelled`.
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_id: Option<String>,
}

impl OrderView {
    /// The view after `event`. Applying an event twice leaves the view as it was, so the
    /// projection needs no deduplication.
    pub fn apply(mut self, event: &OrderEvent) -> Self {
        match event {
            OrderEvent::Placed(placed) => {
                self.customer_id.clone_from(&placed.customer_id);
                self.total_cents = placed.total_cents;
                self.currency.clone_from(&placed.currency);
                if self.status.is_empty() {
                    self.status = "placed".into();
                }
            }
            OrderEvent::Shipped(shipped) => {
                self.status = "shipped".into();
                self.carrier = Some(shipped.carrier.clone());
                self.tracking_id.clone_from(&shipped.tracking_id);
            }
            OrderEvent::Cancelled(_) => self.status = "cancelled".into(),
            OrderEvent::Unknown(_) => {}
        }
        self
    }
}

/// What the integration consumer writes for each event the endpoint accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub event_id: String,
    /// Calls it took, the successful one included.
    pub attempts: u32,
}

/// Where the integration consumer sends events, and where it notes deliveries.
#[derive(Clone, Debug)]
pub struct Integration {
    /// The endpoint's URL, such as `http://127.0.0.1:8099/events`.
    pub endpoint: String,
    /// The topic of [`Delivery`] receipts.
    pub deliveries: String,
}

/// The topology of `consumer` (one of [`CONSUMERS`]) over the events in `events`.
pub fn topology(
    consumer: &str,
    events: &str,
    integration: &Integration,
) -> anyhow::Result<Topology> {
    let builder = StreamsBuilder::new();
    let events = builder.stream(
        events,
        Consumed::with(StringSerde, EnvelopeSerde)
            .with_timestamp_extractor(TimestampExtractor::json_field("timestamp")),
    );
    match consumer {
        "projection" => {
            events
                .filter(|_, event| event.aggregate_type == "Order")
                .group_by_key(Grouped::new())
                .aggregate(
                    OrderView::default,
                    |_, event, view| view.apply(&event.data),
                    Materialized::named(ORDERS_STORE).with_value_serde(JsonSerde::new()),
                );
        }
        "integration" => {
            let agent = http_agent();
            let endpoint = integration.endpoint.clone();
            unique(&events)
                .try_map_values(move |event| deliver(&agent, &endpoint, &event))
                .to(
                    &integration.deliveries,
                    Produced::with(StringSerde, JsonSerde::new()),
                );
        }
        "analytics" => {
            unique(&events)
                .group_by(
                    |_, event| event.event_type.clone(),
                    Grouped::with(StringSerde, EnvelopeSerde).with_name("events-by-type"),
                )
                // Partitions are read at their own pace: ten minutes of grace keeps every
                // event of a minute in its window.
                .windowed_by(TimeWindows::of_size_and_grace(
                    Duration::from_secs(60),
                    Duration::from_secs(600),
                ))
                .count(
                    Materialized::named(EVENTS_PER_TYPE_PER_MINUTE)
                        .with_value_serde(I64Serde)
                        // Dashboards read the last week's minutes.
                        .with_retention(Duration::from_secs(7 * 24 * 3600)),
                );
        }
        other => anyhow::bail!(
            "unknown consumer `{other}`: set `[app] consumer` to one of {}",
            CONSUMERS.join(", ")
        ),
    }
    Ok(builder.build()?)
}

/// `events` without the copies a retrying producer published again.
fn unique(events: &KStream<String, Envelope>) -> KStream<String, Envelope> {
    events.deduplicate(
        |_, event| event.event_id.clone(),
        DEDUP_WINDOW,
        Deduplicated::with(StringSerde).with_name("event-ids"),
    )
}

/// Why an event could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("delivering event {event_id} to {endpoint}: {reason}")]
pub struct DeliveryError {
    event_id: String,
    endpoint: String,
    reason: String,
    /// Whether trying again may help (the endpoint is down or overloaded).
    retriable: bool,
}

fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Posts `event` (in the current version) to `endpoint` until it is accepted: on a 5xx, a
/// 429 or a failed connection it waits 20 ms, 40 ms, … up to 1 s (with jitter) and tries
/// again, eight times at most. The endpoint sees the event id as `Idempotency-Key`, so it can
/// drop a repeat that a crash between a delivery and the next commit would cause.
fn deliver(
    agent: &ureq::Agent,
    endpoint: &str,
    event: &Envelope,
) -> Result<Delivery, DeliveryError> {
    let body = event.to_json().to_string();
    let mut attempts = 0;
    let post = || {
        attempts += 1;
        let failure = |reason: String, retriable| DeliveryError {
            event_id: event.event_id.clone(),
            endpoint: endpoint.to_owned(),
            reason,
            retriable,
        };
        match agent
            .post(endpoint)
            .header("content-type", "application/json")
            .header("idempotency-key", &event.event_id)
            .send(body.as_str())
        {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                let retriable = status.is_server_error() || status.as_u16() == 429;
                Err(failure(
                    format!("the endpoint answered {status}"),
                    retriable,
                ))
            }
            Err(error) => Err(failure(error.to_string(), true)),
        }
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_secs(1))
        .with_max_times(8)
        .with_jitter();
    post.retry(backoff)
        .sleep(std::thread::sleep)
        .when(|error| error.retriable)
        .notify(|error, wait| tracing::debug!("{error}; trying again in {wait:?}"))
        .call()?;
    Ok(Delivery {
        event_id: event.event_id.clone(),
        attempts,
    })
}
