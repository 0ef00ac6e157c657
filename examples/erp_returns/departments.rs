//! Seed 003's ERP returns, event-sourced: User Support publishes one `RefundRequest` per
//! returned device to one topic, and each department is its own application (its own
//! `application.id`, stores and workers) that reads the topic and keeps what matters to
//! it. A department that stops catches up when it starts again; the others never notice.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tributary::engine::TimeWindows;
use tributary::engine::serde::{I64Serde, JsonSerde, StringSerde};
use tributary::{Consumed, Grouped, KStream, Materialized, Produced, StreamsBuilder, Topology};

/// What User Support publishes when a customer returns a device: just enough to identify
/// each part of the return; each department reads the part it cares about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// The request's id (also the record key).
    pub refund_id: String,
    /// Sales: the order refunded, its customer and the amount.
    pub order_id: String,
    pub customer_id: String,
    pub amount_cents: i64,
    /// Inventory: the model to ship as a replacement, from which warehouse.
    pub device_model: String,
    pub warehouse: String,
    /// Manufacturing: where the defective device goes to be disassembled, and what failed.
    pub disassembly_location: String,
    pub defect: String,
    /// Accounting: who carries the cost of disposing of the device.
    pub cost_centre: String,
    pub disposal_cost_cents: i64,
}

/// The departments, each an application of its own.
pub const DEPARTMENTS: [&str; 5] = ["sales", "inventory", "manufacturing", "accounting", "audit"];

/// Sales' stores: refunds per order and per customer, refunded cents per customer.
pub const REFUNDS_PER_ORDER: &str = "refunds-per-order";
pub const REFUNDS_PER_CUSTOMER: &str = "refunds-per-customer";
pub const REFUNDED_PER_CUSTOMER: &str = "refunded-cents-per-customer";
/// Inventory's stores: replacement shipments per device model, stock reserved per warehouse.
pub const SHIPMENTS_PER_MODEL: &str = "shipments-per-model";
pub const RESERVED_PER_WAREHOUSE: &str = "reserved-per-warehouse";
/// Manufacturing's stores: disassembly orders per location, defects per model per hour.
pub const DISASSEMBLY_PER_LOCATION: &str = "disassembly-orders-per-location";
pub const DEFECTS_PER_MODEL_HOURLY: &str = "defects-per-model-hourly";
/// Accounting's store: asset-disposal cost per cost centre, in cents.
pub const DISPOSAL_COST_PER_CENTRE: &str = "disposal-cents-per-cost-centre";

/// The topology of `department` over the refund requests in `refunds`; the audit log
/// writes to `audit`.
pub fn topology(department: &str, refunds: &str, audit: &str) -> anyhow::Result<Topology> {
    let builder = StreamsBuilder::new();
    let requests = builder.stream(
        refunds,
        Consumed::with(StringSerde, JsonSerde::<RefundRequest>::new()),
    );
    match department {
        "sales" => {
            count_by(&requests, REFUNDS_PER_ORDER, |r| r.order_id.clone());
            count_by(&requests, REFUNDS_PER_CUSTOMER, |r| r.customer_id.clone());
            sum_by(&requests, REFUNDED_PER_CUSTOMER, |r| {
                (r.customer_id.clone(), r.amount_cents)
            });
        }
        "inventory" => {
            count_by(&requests, SHIPMENTS_PER_MODEL, |r| r.device_model.clone());
            count_by(&requests, RESERVED_PER_WAREHOUSE, |r| r.warehouse.clone());
        }
        "manufacturing" => {
            count_by(&requests, DISASSEMBLY_PER_LOCATION, |r| {
                r.disassembly_location.clone()
            });
            requests
                .group_by(
                    |_, r| r.device_model.clone(),
                    Grouped::with(StringSerde, JsonSerde::new()).with_name("defects-by-model"),
                )
                // Returns are reported up to a day late, and the request topic's
                // partitions are read at their own pace: a day of grace keeps them all.
                .windowed_by(TimeWindows::of_size_and_grace(
                    Duration::from_secs(3600),
                    Duration::from_secs(24 * 3600),
                ))
                .count(Materialized::named(DEFECTS_PER_MODEL_HOURLY));
        }
        "accounting" => {
            sum_by(&requests, DISPOSAL_COST_PER_CENTRE, |r| {
                (r.cost_centre.clone(), r.disposal_cost_cents)
            });
        }
        "audit" => {
            requests
                .map_values(|r| {
                    format!(
                        "refund {} of order {} for customer {}: {} cents",
                        r.refund_id, r.order_id, r.customer_id, r.amount_cents
                    )
                })
                .to(audit, Produced::with(StringSerde, StringSerde));
        }
        other => anyhow::bail!(
            "unknown department `{other}`; one of: {}",
            DEPARTMENTS.join(", ")
        ),
    }
    Ok(builder.build()?)
}

/// Counts the requests per `key` into store `store`.
fn count_by(
    requests: &KStream<String, RefundRequest>,
    store: &str,
    key: impl Fn(&RefundRequest) -> String + Send + Sync + 'static,
) {
    requests
        .group_by(
            move |_, r| key(r),
            Grouped::with(StringSerde, JsonSerde::new()).with_name(store),
        )
        .count(Materialized::named(store));
}

/// Sums an amount of the requests per key (`pick` gives both) into store `store`.
fn sum_by(
    requests: &KStream<String, RefundRequest>,
    store: &str,
    pick: impl Fn(&RefundRequest) -> (String, i64) + Send + Sync + 'static,
) {
    requests
        .map(move |_, r| pick(&r))
        .group_by_key(Grouped::with(StringSerde, I64Serde).with_name(store))
        .reduce(|a, b| a + b, Materialized::named(store));
}

/// Refund request `n` of a made-up but steady business: 500 orders' customers, a few device
/// models, warehouses, disassembly sites and cost centres.
pub fn request(n: u64) -> RefundRequest {
    let pick = |options: &[&str], salt: u64| {
        options[((n.wrapping_mul(2_654_435_761) ^ salt) % options.len() as u64) as usize].to_owned()
    };
    RefundRequest {
        refund_id: format!("refund-{n}"),
        order_id: format!("order-{}", n % 3_000),
        customer_id: format!("customer-{}", n % 500),
        amount_cents: 1_000 + (n % 97) as i64 * 100,
        device_model: pick(&["phone-x", "phone-y", "tablet-s", "watch-2"], 1),
        warehouse: pick(&["rotterdam", "memphis", "shenzhen"], 2),
        disassembly_location: pick(&["eindhoven", "austin"], 3),
        defect: pick(&["battery", "screen", "charging port", "speaker"], 4),
        cost_centre: pick(&["cc-emea", "cc-americas", "cc-apac"], 5),
        disposal_cost_cents: 250 + (n % 13) as i64 * 10,
    }
}
