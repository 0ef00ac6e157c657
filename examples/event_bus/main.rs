//! Seed 001's event bus (see the README's "Event bus" section): one topic of order events in
//! a versioned envelope (`envelope.rs`), read by three applications of their own — a
//! projection, an integration consumer forwarding to an HTTP endpoint, and analytics
//! (`consumers.rs`).
//!
//! ```sh
//! # A flaky external system (every third call fails) on port 8099:
//! cargo run --example event_bus -- endpoint --listen 127.0.0.1:8099
//! # Producers of several ages publish the events of 2,000 orders:
//! cargo run --example event_bus -- publish --bootstrap localhost:9092 --topic order-events --orders 2000
//! # Each consumer is a worker of its own application (one TOML file each):
//! cargo run --example event_bus -- --config examples/event_bus/projection.toml
//! ```

mod consumers;
mod endpoint;
mod envelope;
mod history;
#[path = "../support/publish.rs"]
mod publish;

use anyhow::Context;
use publish::{Outgoing, flag};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("publish") => return publish(&args[1..]),
        Some("endpoint") => return endpoint(&args[1..]),
        _ => {}
    }
    // A consumer: `[app] consumer = "projection"`, `events = "order-events"` (and the
    // integration's `endpoint` and `deliveries`) in the TOML file.
    tributary::worker::run(|settings| {
        let integration = consumers::Integration {
            endpoint: settings
                .app("endpoint")
                .unwrap_or("http://127.0.0.1:8099/events")
                .to_owned(),
            deliveries: settings
                .app("deliveries")
                .unwrap_or("order-deliveries")
                .to_owned(),
        };
        let consumer = settings.require("consumer")?;
        if consumer == "integration" {
            // The integration owns its receipts topic.
            tributary::worker::create_topic(settings, &integration.deliveries, 3)?;
        }
        consumers::topology(consumer, settings.require("events")?, &integration)
    })
}

/// `publish --bootstrap HOST:PORT --topic T --orders N`: the events of N orders, keyed by
/// order id, stamped with their event time.
fn publish(args: &[String]) -> anyhow::Result<()> {
    let (bootstrap, topic) = (flag(args, "--bootstrap")?, flag(args, "--topic")?);
    let orders: u64 = flag(args, "--orders")?
        .parse()
        .context("--orders is a number")?;
    let events = history::history(orders);
    let records = events.iter().map(|event| Outgoing {
        key: &event.key,
        value: &event.value,
        timestamp: Some(event.timestamp),
    });
    publish::publish(bootstrap, topic, records)?;
    let copies = events.iter().filter(|e| e.duplicate).count();
    let unreadable = events.iter().filter(|e| !e.readable).count();
    let distinct: std::collections::HashSet<&str> =
        events.iter().map(|e| e.event_id.as_str()).collect();
    eprintln!(
        "published {} events of {orders} orders to `{topic}` ({unreadable} unreadable), and {copies} second copies a retrying producer sent",
        distinct.len()
    );
    Ok(())
}

/// `endpoint --listen HOST:PORT`: the flaky external system, until interrupted; prints
/// what it has received every five seconds.
fn endpoint(args: &[String]) -> anyhow::Result<()> {
    let listen = flag(args, "--listen")?;
    let (address, received) = endpoint::start(listen, 3).context("starting the endpoint")?;
    eprintln!("endpoint: http://{address}/events (every third call fails with 503)");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(5));
        let received = received.lock().expect("endpoint state");
        let twice = received.accepted.values().filter(|n| **n > 1).count();
        eprintln!(
            "endpoint: {} calls, {} failed on purpose, {} events accepted, {twice} accepted twice",
            received.calls,
            received.failed,
            received.accepted.len()
        );
    }
}
