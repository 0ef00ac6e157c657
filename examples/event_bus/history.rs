//! The events the example's publisher sends: orders placed, shipped or cancelled, written by
//! producers of different ages — version 1 and version 2 of the data in one topic, some
//! from a newer producer (version 3, with a field nobody reads yet, and a note type nobody
//! knows) — with the duplicates a retrying producer leaves and one event nobody can read.

use serde_json::{Value, json};

/// The first event's time; each later one is a quarter of a second after the one before.
pub const FIRST_EVENT_MS: i64 = 1_700_000_000_000;

/// The order whose `OrderPlaced` is broken: version 1 without its total.
pub const BROKEN_ORDER: u64 = 13;

/// One record as published: keyed by the aggregate's id, an envelope as JSON.
#[derive(Clone, Debug)]
pub struct Published {
    pub key: String,
    pub value: Vec<u8>,
    pub timestamp: i64,
    /// The envelope's event id (a duplicate repeats it).
    pub event_id: String,
    /// Whether it is a second copy of the event before it.
    pub duplicate: bool,
    /// Whether a reader can make sense of it (one event is broken on purpose).
    pub readable: bool,
}

/// The events of `orders` orders, in the order they are published.
pub fn history(orders: u64) -> Vec<Published> {
    let mut out = Vec::new();
    let mut push = |order: u64, n: usize, event_type: &str, version: u32, data: Value| {
        let event_id = format!("evt-{order}-{n}");
        let timestamp = FIRST_EVENT_MS + out.len() as i64 * 250;
        let mut envelope = json!({
            "event_id": event_id,
            "event_type": event_type,
            "version": version,
            "timestamp": timestamp,
            "correlation_id": format!("checkout-{order}"),
            "aggregate_id": format!("order-{order}"),
            "aggregate_type": "Order",
            "data": data,
        });
        if version >= 2 && n > 0 {
            // Version 1 producers did not say what caused an event.
            envelope["causation_id"] = format!("evt-{order}-{}", n - 1).into();
        }
        let readable = order != BROKEN_ORDER || n > 0;
        let record = Published {
            key: format!("order-{order}"),
            value: serde_json::to_vec(&envelope).expect("JSON serializes"),
            timestamp,
            event_id,
            duplicate: false,
            readable,
        };
        out.push(record);
    };
    for order in 0..orders {
        let customer = format!("customer-{}", order % 50);
        let cents = 1_000 + (order % 37) as i64 * 125;
        match order % 7 {
            // A newer producer: version 3 has a `channel` this reader does not know.
            3 => push(
                order,
                0,
                "OrderPlaced",
                3,
                json!({
                    "customer_id": customer, "total_cents": cents, "currency": "USD", "channel": "web",
                }),
            ),
            // One broken event: version 1 without its total.
            _ if order == BROKEN_ORDER => {
                push(order, 0, "OrderPlaced", 1, json!({ "customer": customer }))
            }
            _ if order % 2 == 0 => push(
                order,
                0,
                "OrderPlaced",
                1,
                json!({
                    "customer": customer, "total": cents as f64 / 100.0,
                }),
            ),
            _ => push(
                order,
                0,
                "OrderPlaced",
                2,
                json!({
                    "customer_id": customer, "total_cents": cents, "currency": "EUR",
                }),
            ),
        }
        if order % 10 == 5 {
            push(
                order,
                1,
                "OrderNoteAdded",
                1,
                json!({ "note": "leave at the door" }),
            );
        }
        match order % 4 {
            0 => push(
                order,
                2,
                "OrderCancelled",
                1,
                json!({ "reason": "changed my mind" }),
            ),
            1 => push(order, 2, "OrderShipped", 1, json!({ "carrier": "dhl" })),
            _ => push(
                order,
                2,
                "OrderShipped",
                2,
                json!({
                    "carrier": "ups", "tracking_id": format!("1Z{order:08}"),
                }),
            ),
        }
    }
    // A producer that timed out waiting for an acknowledgement sent every ninth event again.
    let mut with_retries = Vec::with_capacity(out.len() + out.len() / 9);
    for (n, record) in out.into_iter().enumerate() {
        let again = n % 9 == 4;
        let copy = again.then(|| Published {
            duplicate: true,
            ..record.clone()
        });
        with_retries.push(record);
        with_retries.extend(copy);
    }
    with_retries
}
