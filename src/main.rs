//! The `tributary` command line.

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
}

/// The topologies that ship with Tributary.
#[derive(Clone, Copy, ValueEnum)]
enum Shipped {
    /// Word count over a topic of text lines.
    WordCount,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Describe {
            topology: Shipped::WordCount,
        } => {
            let topology = tributary::topologies::word_count("lines", "word-counts")
                .context("building word count")?;
            print!("{}", topology.describe());
        }
    }
    Ok(())
}
