//! The `tributary` command line.

mod demo;

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

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
        /// Seconds to produce events for.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Stream threads of the projection.
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// Partitions of the task-events topic.
        #[arg(long, default_value_t = 4)]
        partitions: i32,
    },
}

/// The topologies that ship with Tributary.
#[derive(Clone, Copy, ValueEnum)]
enum Shipped {
    /// Word count over a topic of text lines.
    WordCount,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Describe {
            topology: Shipped::WordCount,
        } => {
            let topology = tributary::topologies::word_count("lines", "word-counts")
                .context("building word count")?;
            print!("{}", topology.describe());
        }
        Command::Demo {
            bootstrap_servers,
            users,
            rate,
            seconds,
            threads,
            partitions,
        } => {
            let options = demo::DemoOptions {
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
