//! Seed 004's data flow (see `edge.rs` and the README's "CQRS edge" section): an HTTP edge
//! takes commands, checks them against the read model and publishes events; the task-list
//! projection turns the events into the read model the edge queries. One process runs
//! both here; in production they scale apart.
//!
//! ```sh
//! cargo run --example cqrs_edge -- --config examples/cqrs_edge/app.toml
//! ```

mod edge;

use anyhow::Context;
use tributary::topologies::task_list;

fn main() -> anyhow::Result<()> {
    tributary::worker::run(|settings| {
        let events = settings.require("events")?;
        // The edge owns the events topic: it exists before the projection reads it.
        tributary::worker::create_topic(settings, events, 3)?;
        let listen = settings.require("edge")?.to_owned();
        let read_model =
            settings.streams.application_server.clone().context(
                "the edge reads the model through the query server: set application.server",
            )?;
        let bootstrap = &settings.streams.bootstrap_servers;
        let edge = edge::Edge::new(bootstrap, events, &read_model)?;
        std::thread::spawn(move || serve(edge, &listen));
        Ok(task_list::projection(events, None)?)
    })
}

/// Serves the edge's routes on `listen` until the process ends.
fn serve(edge: edge::Edge, listen: &str) {
    let served = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the edge's runtime")
        .and_then(|runtime| {
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("binding the edge to {listen}"))?;
                eprintln!("edge: http://{listen}");
                axum::serve(listener, edge.router())
                    .await
                    .context("serving the edge")
            })
        });
    if let Err(error) = served {
        eprintln!("the edge stopped: {error:#}");
        std::process::exit(1);
    }
}
