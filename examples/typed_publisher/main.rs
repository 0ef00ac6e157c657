//! Seed 002's typed publisher (see `bus.rs` and the README's "Typed publisher" section): a
//! checkout service publishes typed messages, checked against JSON Schemas derived from their
//! Rust types, one Kafka transaction per operation; typed consumers dispatch them to handlers.
//!
//! ```sh
//! cargo run --example typed_publisher -- --config examples/typed_publisher/bus.toml --orders 100
//! ```

mod bus;
mod messages;
#[path = "../support/publish.rs"]
#[allow(
    dead_code,
    reason = "this example publishes through its bus, not the plain producer"
)]
mod publish;

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::Context;
use bus::{BusSettings, EventBus, Subscriber};
use messages::*;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = publish::flag(&args, "--config").unwrap_or("examples/typed_publisher/bus.toml");
    let orders: u64 = publish::flag(&args, "--orders")
        .unwrap_or("100")
        .parse()
        .context("--orders is a number")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let mut settings: BusSettings =
        toml::from_str(&text).with_context(|| format!("reading {path}"))?;
    if let Ok(bootstrap) = std::env::var("TRIBUTARY_BOOTSTRAP_SERVERS") {
        settings.bootstrap_servers = bootstrap;
    }
    for topic in settings.topics.values() {
        publish::create_topic(&settings.bootstrap_servers, topic)?;
    }

    // One transaction per checkout: the order and its payment, both or neither.
    let mut bus = EventBus::connect(settings.clone())?;
    for n in 0..orders {
        let key = format!("order-{n}");
        bus.publish(&key, &order(n))?;
        bus.publish(&key, &payment(n))?;
        bus.flush()?;
    }
    println!(
        "published {orders} checkouts, each an OrderPlaced and a PaymentCaptured in one transaction"
    );

    // A message that breaks its schema is refused, naming the field; nothing is buffered.
    let mut wrong = order(orders);
    wrong.lines[1].quantity = 0;
    let refused = bus
        .publish("order-x", &wrong)
        .expect_err("quantity 0 breaks the schema");
    println!("refused: {refused}");

    // A flush that fails part-way (an invoice larger than a record may be) sends nothing.
    let key = format!("order-{orders}");
    bus.publish(&key, &order(orders))?;
    bus.publish(&key, &payment(orders))?;
    let invoice = InvoiceRendered {
        order_id: key.clone(),
        pdf_base64: "A".repeat(2 << 20),
    };
    bus.publish(&key, &invoice)?;
    let failed = bus
        .flush()
        .expect_err("a 2 MiB record is over the producer's limit");
    println!("flush failed: {failed}");
    println!("{} messages stay buffered; discarding them", bus.buffered());
    bus.discard();

    // Typed consumers: one handler per message type, committed transactions only.
    let revenue = Rc::new(RefCell::new((0_u64, 0_u64)));
    let (placed, paid) = (revenue.clone(), revenue.clone());
    let handled = Subscriber::new(settings, "checkout-reporting")
        .with("session.timeout.ms", "6000")
        .on(move |order: OrderPlaced| -> anyhow::Result<()> {
            anyhow::ensure!(!order.lines.is_empty(), "{} has no lines", order.order_id);
            placed.borrow_mut().0 += 1;
            Ok(())
        })?
        .on(move |payment: PaymentCaptured| -> anyhow::Result<()> {
            paid.borrow_mut().1 += payment.amount_cents;
            Ok(())
        })?
        .run(|handled| handled as u64 >= 2 * orders)?;
    let (orders_seen, cents) = *revenue.borrow();
    println!(
        "typed consumers handled {handled} messages: {orders_seen} orders placed, {}.{:02} EUR captured",
        cents / 100,
        cents % 100
    );
    Ok(())
}
