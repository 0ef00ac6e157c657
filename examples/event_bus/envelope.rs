//! The event bus's envelope (seed 001): every event on the bus carries the same metadata —
//! id, type, schema version, time, correlation and causation, the aggregate it belongs to —
//! around its domain data. Producers move on to new versions of an event's data while old
//! events stay in the topic, so readers bring every version up to the current shape with
//! upcasters (backward compatibility) and ignore fields they do not know (forward
//! compatibility: an event from a newer producer still reads).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary::engine::serde::{Format, Serde, SerdeError};

/// One event as the bus carries it, its data in the current shape of its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// Unique per event; a producer that retries publishes the same id again.
    pub event_id: String,
    /// `OrderPlaced`, `OrderShipped`, `OrderCancelled`, or a type this reader does not know.
    pub event_type: String,
    /// The version of `data`'s schema the event was written with.
    pub version: u32,
    /// When it happened, in milliseconds since the epoch (the time windows count by).
    pub timestamp: i64,
    /// The request or process the event is part of.
    pub correlation_id: String,
    /// The event or command that caused it, when there is one.
    pub causation_id: Option<String>,
    /// The aggregate the event belongs to (also the record key), and its type.
    pub aggregate_id: String,
    pub aggregate_type: String,
    /// The domain data, upcast to the current version.
    pub data: OrderEvent,
}

/// The order events this reader knows, in their current shapes.
#[derive(Clone, Debug, PartialEq)]
pub enum OrderEvent {
    Placed(OrderPlaced),
    Shipped(OrderShipped),
    Cancelled(OrderCancelled),
    /// An event type added by a newer producer: carried along as it came, so consumers
    /// that do not care about it skip it and forwarders pass it on.
    Unknown(Value),
}

/// `OrderPlaced` version 2. Version 1 had `customer` and `total` in (floating) euros.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub customer_id: String,
    pub total_cents: i64,
    pub currency: String,
}

/// `OrderShipped` version 2. Version 1 had no tracking id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderShipped {
    pub carrier: String,
    #[serde(default)]
    pub tracking_id: Option<String>,
}

/// `OrderCancelled` version 1 (its only version).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub reason: String,
}

/// The envelope as it is written: the data is left as JSON until its version is known.
#[derive(Serialize, Deserialize)]
struct Wire {
    event_id: String,
    event_type: String,
    version: u32,
    timestamp: i64,
    correlation_id: String,
    // Version 1 producers did not send it.
    #[serde(default)]
    causation_id: Option<String>,
    aggregate_id: String,
    aggregate_type: String,
    data: Value,
}

/// The current version of each known event type's data.
pub fn current_version(event_type: &str) -> Option<u32> {
    match event_type {
        "OrderPlaced" | "OrderShipped" => Some(2),
        "OrderCancelled" => Some(1),
        _ => None,
    }
}

/// Brings `data` of `event_type` from `version` to `version + 1`.
fn upcast_once(event_type: &str, version: u32, mut data: Value) -> Result<Value, String> {
    let fields = data
        .as_object_mut()
        .ok_or_else(|| format!("the data of {event_type} v{version} is not a JSON object"))?;
    match (event_type, version) {
        ("OrderPlaced", 1) => {
            let customer = fields
                .remove("customer")
                .ok_or("OrderPlaced v1 has no `customer`")?;
            let total = fields
                .remove("total")
                .and_then(|t| t.as_f64())
                .ok_or("OrderPlaced v1 has no numeric `total`")?;
            fields.insert("customer_id".into(), customer);
            fields.insert(
                "total_cents".into(),
                ((total * 100.0).round() as i64).into(),
            );
            // Every v1 order was placed in euros.
            fields.insert("currency".into(), "EUR".into());
        }
        // The tracking id is new and optional: nothing to change.
        ("OrderShipped", 1) => {}
        _ => return Err(format!("no upcaster for {event_type} v{version}")),
    }
    Ok(data)
}

/// Brings `data` of `event_type` written at `version` to the current shape. A version newer
/// than this reader's is read as the current one: unknown fields are ignored.
pub fn upcast(event_type: &str, version: u32, mut data: Value) -> Result<Value, String> {
    let Some(current) = current_version(event_type) else {
        return Ok(data);
    };
    if version == 0 {
        return Err(format!("{event_type} has version 0; versions start at 1"));
    }
    for from in version..current {
        data = upcast_once(event_type, from, data)?;
    }
    Ok(data)
}

impl OrderEvent {
    /// Reads the current-shape `data` of `event_type`.
    fn read(event_type: &str, data: Value) -> Result<Self, serde_json::Error> {
        Ok(match event_type {
            "OrderPlaced" => Self::Placed(serde_json::from_value(data)?),
            "OrderShipped" => Self::Shipped(serde_json::from_value(data)?),
            "OrderCancelled" => Self::Cancelled(serde_json::from_value(data)?),
            _ => Self::Unknown(data),
        })
    }

    fn to_value(&self) -> Value {
        let value = match self {
            Self::Placed(data) => serde_json::to_value(data),
            Self::Shipped(data) => serde_json::to_value(data),
            Self::Cancelled(data) => serde_json::to_value(data),
            Self::Unknown(data) => Ok(data.clone()),
        };
        value.expect("plain structs serialize")
    }
}

impl Envelope {
    /// Reads an envelope of any version, upcasting its data to the current shape.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let mut wire: Wire =
            serde_json::from_slice(bytes).map_err(|e| format!("not an event envelope: {e}"))?;
        let raw = std::mem::take(&mut wire.data);
        let context = |e: String| {
            format!(
                "event {} ({} v{}): {e}",
                wire.event_id, wire.event_type, wire.version
            )
        };
        let data = upcast(&wire.event_type, wire.version, raw).map_err(context)?;
        let data = OrderEvent::read(&wire.event_type, data).map_err(|e| context(e.to_string()))?;
        Ok(Self {
            // Read in the current shape from here on.
            version: current_version(&wire.event_type).unwrap_or(wire.version),
            event_id: wire.event_id,
            event_type: wire.event_type,
            timestamp: wire.timestamp,
            correlation_id: wire.correlation_id,
            causation_id: wire.causation_id,
            aggregate_id: wire.aggregate_id,
            aggregate_type: wire.aggregate_type,
            data,
        })
    }

    /// The envelope as JSON, in the current version.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(Wire {
            event_id: self.event_id.clone(),
            event_type: self.event_type.clone(),
            version: self.version,
            timestamp: self.timestamp,
            correlation_id: self.correlation_id.clone(),
            causation_id: self.causation_id.clone(),
            aggregate_id: self.aggregate_id.clone(),
            aggregate_type: self.aggregate_type.clone(),
            data: self.data.to_value(),
        })
        .expect("an envelope serializes")
    }
}

/// Tributary's serde for envelopes: reads every version, writes the current one. An event
/// that cannot be read (not JSON, a missing field, no upcaster) is a deserialization error
/// naming the event, which the application's handler skips to the dead-letter topic.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvelopeSerde;

impl Serde<Envelope> for EnvelopeSerde {
    fn serialize(&self, value: &Envelope, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        serde_json::to_writer(out, &value.to_json())
            .map_err(|e| SerdeError::new("event envelope", e.to_string()))
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Envelope, SerdeError> {
        Envelope::from_json(bytes).map_err(|e| SerdeError::new("event envelope", e))
    }

    fn format(&self) -> Format {
        Format::Json
    }
}
