//! The `tributary` command line.

mod demo;
mod reset;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tributary::worker::{self, Worker};

/// Tributary: Kafka Streams-style stream processing.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a shipped topology: sub-topologies, nodes, stores and internal topics.
    Describe {
        /// Which topology.
        topology: Shipped,
    },
    /// Run a shipped topology as a worker until SIGINT or SIGTERM, then commit and stop.
    /// Start several workers with the same `application.id` to share the partitions.
    Run {
        /// Which topology.
        topology: Shipped,
        /// The TOML configuration file (Kafka Streams' setting names).
        #[arg(long)]
        config: PathBuf,
        /// The input topic (lines of text, or task events).
        #[arg(long)]
        input: String,
        /// The output topic (word count only).
        #[arg(long, default_value = "word-counts")]
        output: String,
        /// The topic of user profiles (task list only): with it, the task list also names
        /// each user's tasks and each task's assignee. It needs as many partitions as the
        /// input.
        #[arg(long)]
        users: Option<String>,
    },
    /// Replay an application from its inputs: move its consumer group's offsets on the
    /// input topics back (to the beginning by default), delete its internal changelog,
    /// repartition and foreign-key topics and its local state on this machine. The next
    /// start rebuilds every store. Refused while any instance of the application runs.
    Reset {
        /// The application's TOML configuration file (the one its workers use).
        #[arg(long)]
        config: PathBuf,
        /// The application's input topics (repeat the flag or separate with commas).
        #[arg(long, required = true, value_delimiter = ',')]
        input: Vec<String>,
        /// Resume from the beginning of each input (the default).
        #[arg(long, conflicts_with_all = ["to_datetime", "by_duration"])]
        to_earliest: bool,
        /// Resume from the first record at or after this time (RFC 3339, UTC).
        #[arg(long, value_name = "TIME")]
        to_datetime: Option<String>,
        /// Resume from this long ago (e.g. `2h`, `30m`).
        #[arg(long, value_name = "DURATION", conflicts_with = "to_datetime")]
        by_duration: Option<String>,
        /// Print what would be done, and do nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show what an application is doing: its consumer group's members, each live
    /// instance's store partitions (active, restoring, standby), and the committed offset,
    /// end and lag of every partition it reads (inputs and repartition topics).
    Status {
        /// The application's TOML configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The application's input topics (repeat the flag or separate with commas).
        #[arg(long, required = true, value_delimiter = ',')]
        input: Vec<String>,
    },
    /// Run seed 000's task list: generate task events for many users and project each
    /// user's open tasks and completed count with several stream threads.
    Demo {
        /// The Kafka cluster (scripts/demo.sh starts a local broker and passes it here).
        #[arg(long, default_value = "localhost:9092")]
        bootstrap_servers: String,
        /// Users tasks are assigned to.
        #[arg(long, default_value_t = 1000)]
        users: u32,
        /// Task events produced per second.
        #[arg(long, default_value_t = 2000)]
        rate: u32,
        /// Seconds to produce events for; 0 runs until Ctrl-C.
        #[arg(long, default_value_t = 0)]
        seconds: u64,
        /// Stream threads of the projection.
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// Partitions of the task-events topic.
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        /// Where the projection answers queries (`application.server`).
        #[arg(long, default_value = "127.0.0.1:8080")]
        server: String,
    },
}

/// The topologies that ship with Tributary.
#[derive(Clone, Copy, ValueEnum)]
enum Shipped {
    /// Word count over a topic of text lines.
    WordCount,
    /// Seed 000's task-list projection over a topic of task events.
    TaskList,
}

impl Shipped {
    fn build(
        self,
        input: &str,
        output: &str,
        users: Option<&str>,
    ) -> anyhow::Result<tributary::Topology> {
        Ok(match self {
            Self::WordCount => tributary::topologies::word_count(input, output)?,
            Self::TaskList => tributary::topologies::task_list::projection(input, users)?,
        })
    }
}

fn main() -> anyhow::Result<()> {
    worker::init_logging();
    match Cli::parse().command {
        Command::Describe { topology } => {
            let topology = topology
                .build("lines", "word-counts", Some("users"))
                .context("building the topology")?;
            print!("{}", topology.describe());
        }
        Command::Run {
            topology,
            config,
            input,
            output,
            users,
        } => run(topology, &config, (&input, &output, users.as_deref()))?,
        Command::Reset {
            config,
            input,
            to_earliest: _,
            to_datetime,
            by_duration,
            dry_run,
        } => {
            let target = reset::Target {
                datetime: to_datetime.as_deref(),
                duration: by_duration.as_deref(),
            };
            reset::run(&config, &input, &target, dry_run)?;
        }
        Command::Status { config, input } => {
            let config = worker::load(&config)?;
            print!(
                "{}",
                tributary::engine::status::application_status(&config, &input)?
            );
        }
        Command::Demo {
            bootstrap_servers,
            users,
            rate,
            seconds,
            threads,
            partitions,
            server,
        } => {
            let options = demo::DemoOptions {
                server,
                stop: stop_on_signal()?,
                bootstrap_servers,
                users,
                rate,
                duration: Duration::from_secs(seconds),
                threads,
                partitions,
            };
            demo::run(&options)?;
        }
    }
    Ok(())
}

/// Runs `topology` as a worker until a termination signal or a failure, then closes it.
fn run(
    topology: Shipped,
    config: &Path,
    (input, output, users): (&str, &str, Option<&str>),
) -> anyhow::Result<()> {
    Worker::new(worker::load_settings(config)?)
        .stopped_by_signals()?
        .run(|_| topology.build(input, output, users))
}

/// A flag that SIGINT and SIGTERM set.
fn stop_on_signal() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let signalled = stop.clone();
    ctrlc::set_handler(move || signalled.store(true, Ordering::Release))
        .context("installing the signal handler")?;
    Ok(stop)
}
