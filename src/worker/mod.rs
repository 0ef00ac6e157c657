//! Any topology as a worker process, as `tributary run` runs the shipped ones: settings
//! from a TOML file with `TRIBUTARY_*` overrides, logs on standard error, the query server
//! and `/metrics` when `application.server` is set, and a clean stop (commit, close) on
//! SIGINT or SIGTERM. A user's `main` is a few lines:
//!
//! ```no_run
//! use tributary::{Consumed, Grouped, Materialized, StreamsBuilder};
//! use tributary::engine::serde::StringSerde;
//!
//! fn main() -> anyhow::Result<()> {
//!     // `my-worker --config app.toml`, the file holding `[app] input = "events"`.
//!     tributary::worker::run(|settings| {
//!         let builder = StreamsBuilder::new();
//!         builder
//!             .stream(settings.require("input")?, Consumed::with(StringSerde, StringSerde))
//!             .group_by_key(Grouped::new())
//!             .count(Materialized::named("counts"));
//!         Ok(builder.build()?)
//!     })
//! }
//! ```
//!
//! Start several processes with the same `application.id` to share the partitions.

mod settings;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
pub use settings::{Settings, load, load_settings};
use tributary_engine::{KafkaStreams, StreamsState};

use crate::Topology;

/// How long a stopping worker waits for its threads to commit and close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the topology `build` makes from the settings as a worker, until SIGINT, SIGTERM or
/// a failure: reads `--config PATH` (or `TRIBUTARY_CONFIG`) from the command line, sets up
/// logging (`RUST_LOG`, default `warn`), and runs [`Worker::run`].
///
/// # Errors
/// When the command line or the settings are wrong, the topology cannot be built, or the
/// instance fails.
pub fn run(build: impl FnOnce(&Settings) -> anyhow::Result<Topology>) -> anyhow::Result<()> {
    init_logging();
    Worker::from_command_line()?.run(build)
}

/// Creates `topic` with `partitions` partitions on the cluster of `settings` unless it
/// exists: for the topics an application owns, such as the events it publishes.
///
/// # Errors
/// When the cluster cannot be reached or refuses to create the topic.
pub fn create_topic(settings: &Settings, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin = tributary_engine::internals::TopicAdmin::new(&settings.streams)?;
    admin
        .create_topic(topic, partitions, &[])
        .with_context(|| format!("creating the topic `{topic}`"))?;
    Ok(())
}

/// Logs to standard error, filtered by `RUST_LOG` (default `warn`); nothing when logging
/// is already set up.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
}

/// A worker process: its settings, and a flag that stops it.
pub struct Worker {
    settings: Settings,
    stop: Arc<AtomicBool>,
}

impl Worker {
    /// A worker configured by `--config PATH` on the command line (or the
    /// `TRIBUTARY_CONFIG` environment variable), stopped by SIGINT and SIGTERM.
    ///
    /// # Errors
    /// When no configuration is given, it cannot be read, or the signal handler cannot be
    /// installed.
    pub fn from_command_line() -> anyhow::Result<Self> {
        let mut args = std::env::args().skip(1);
        let mut path = std::env::var_os("TRIBUTARY_CONFIG").map(PathBuf::from);
        while let Some(arg) = args.next() {
            match arg.strip_prefix("--config") {
                Some("") => path = args.next().map(PathBuf::from),
                Some(rest) if rest.starts_with('=') => path = Some(PathBuf::from(&rest[1..])),
                _ => bail!("unknown argument `{arg}`; a worker takes `--config PATH` only"),
            }
        }
        let Some(path) = path else {
            bail!("no configuration: pass `--config PATH` (a TOML file) or set TRIBUTARY_CONFIG");
        };
        Self::new(load_settings(&path)?).stopped_by_signals()
    }

    /// The same worker, stopped by SIGINT and SIGTERM too (one worker per process).
    ///
    /// # Errors
    /// When the signal handler cannot be installed (another is installed already).
    pub fn stopped_by_signals(self) -> anyhow::Result<Self> {
        let stop = self.stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::Release))
            .context("installing the signal handler")?;
        Ok(self)
    }

    /// A worker with `settings`, stopped by [`Worker::stop_flag`] only.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            stop: Arc::default(),
        }
    }

    /// The worker's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The flag that stops the worker when set (signals set it too, for a worker from the
    /// command line).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Builds the topology from the settings, starts it, prints state changes and the
    /// query address on standard error, and runs until stopped or failed; then commits and
    /// closes.
    ///
    /// # Errors
    /// When the topology cannot be built, the instance cannot start, or it fails.
    pub fn run(
        self,
        build: impl FnOnce(&Settings) -> anyhow::Result<Topology>,
    ) -> anyhow::Result<()> {
        let topology = build(&self.settings).context("building the topology")?;
        let mut streams = KafkaStreams::new(topology, self.settings.streams.clone());
        streams.set_state_listener(|old, new| eprintln!("state: {old:?} -> {new:?}"));
        streams.start()?;
        if let Some(address) = streams.server_address() {
            eprintln!("queries: http://{address}");
        }
        while !self.stop.load(Ordering::Acquire) && streams.state() != StreamsState::Error {
            std::thread::sleep(Duration::from_millis(100));
        }
        streams.close(CLOSE_TIMEOUT)?;
        Ok(())
    }
}
