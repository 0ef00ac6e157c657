//! The messages a checkout service publishes. Each type's JSON Schema is derived from the
//! type, constraints included (`#[schemars(...)]`); the bus checks every message against it
//! before buffering it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A customer placed an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPlaced {
    #[schemars(regex(pattern = r"^order-[0-9]+$"))]
    pub order_id: String,
    #[schemars(length(min = 1))]
    pub customer_id: String,
    /// An ISO 4217 code such as `EUR`.
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    #[schemars(length(min = 1))]
    pub lines: Vec<OrderLine>,
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    #[schemars(length(min = 1))]
    pub sku: String,
    #[schemars(range(min = 1))]
    pub quantity: u32,
    pub unit_price_cents: u64,
}

/// The payment for an order was captured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentCaptured {
    #[schemars(regex(pattern = r"^order-[0-9]+$"))]
    pub order_id: String,
    #[schemars(range(min = 1))]
    pub amount_cents: u64,
    #[schemars(length(min = 1))]
    pub payment_reference: String,
}

/// An order's invoice, rendered (a large message: the PDF travels inside).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceRendered {
    #[schemars(regex(pattern = r"^order-[0-9]+$"))]
    pub order_id: String,
    pub pdf_base64: String,
}

/// Order `n` of customer `n % 10`, with two lines.
pub fn order(n: u64) -> OrderPlaced {
    OrderPlaced {
        order_id: format!("order-{n}"),
        customer_id: format!("customer-{}", n % 10),
        currency: "EUR".into(),
        lines: vec![
            OrderLine {
                sku: "kettle".into(),
                quantity: 1,
                unit_price_cents: 3_999,
            },
            OrderLine {
                sku: "filter".into(),
                quantity: 1 + (n % 3) as u32,
                unit_price_cents: 499,
            },
        ],
    }
}

/// The payment captured for [`order`]`(n)`.
pub fn payment(n: u64) -> PaymentCaptured {
    let total: u64 = order(n)
        .lines
        .iter()
        .map(|l| u64::from(l.quantity) * l.unit_price_cents)
        .sum();
    PaymentCaptured {
        order_id: format!("order-{n}"),
        amount_cents: total,
        payment_reference: format!("psp-{n:06}"),
    }
}
