//! Subcommands of the `aot` binary. Each module parses its flags, calls the library and prints.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod input;
mod dominance;
mod ot;

/// Numerical checks of Alignment via Optimal Transport (AOT): stochastic dominance of chosen
/// over rejected rewards, optimal transport by sorting, convergence rates, and reports.
#[derive(Debug, Parser)]
#[command(name = "aot", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decide whether chosen rewards first-order stochastically dominate rejected rewards, and
    /// measure the violation.
    Dominance(dominance::Args),
    /// Optimal transport between two samples by sorting: cost, plan and Wasserstein distances.
    Ot(ot::Args),
}

/// Runs the parsed command; the exit code is non-zero when a check fails.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Dominance(args) => dominance::run(args),
        Command::Ot(args) => ot::run(args),
    }
}
