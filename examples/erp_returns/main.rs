//! Seed 003's ERP returns as five applications over one topic of refund requests (see
//! `departments.rs` and the README's "ERP returns" section).
//!
//! ```sh
//! # User Support publishes 10,000 refund requests:
//! cargo run --example erp_returns -- publish --bootstrap localhost:9092 --topic refund-requests --count 10000
//! # Each department is a worker of its own application (one TOML file each):
//! cargo run --example erp_returns -- --config examples/erp_returns/sales.toml
//! ```

mod departments;
#[path = "../support/publish.rs"]
mod publish;

use anyhow::Context;
use publish::{Outgoing, flag};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("publish") {
        return publish(&args[1..]);
    }
    // A department: `[app] department = "sales"`, `refunds = "refund-requests"` (and
    // `audit` for the audit log) in the TOML file.
    tributary::worker::run(|settings| {
        departments::topology(
            settings.require("department")?,
            settings.require("refunds")?,
            settings.app("audit").unwrap_or("refund-audit"),
        )
    })
}

/// `publish --bootstrap HOST:PORT --topic T --count N [--from K]`: publishes refund
/// requests K..K+N keyed by refund id, as User Support would (creating the topic, with
/// three partitions, when it does not exist).
fn publish(args: &[String]) -> anyhow::Result<()> {
    let (bootstrap, topic) = (flag(args, "--bootstrap")?, flag(args, "--topic")?);
    let count: u64 = flag(args, "--count")?
        .parse()
        .context("--count is a number")?;
    let from: u64 = match flag(args, "--from") {
        Ok(from) => from.parse().context("--from is a number")?,
        Err(_) => 0,
    };
    let requests: Vec<(String, Vec<u8>)> = (from..from + count)
        .map(|n| {
            let request = departments::request(n);
            let value = serde_json::to_vec(&request).expect("a request serializes");
            (request.refund_id, value)
        })
        .collect();
    let records = requests.iter().map(|(key, value)| Outgoing {
        key,
        value,
        timestamp: None,
    });
    publish::publish(bootstrap, topic, records)?;
    eprintln!(
        "published refund requests {from}..{} to `{topic}`",
        from + count
    );
    Ok(())
}
