//! Subcommands of the `aot` binary. Each module parses its flags, calls the library and prints.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod dominance;
mod input;
mod ot;
mod rates;
mod report;
mod verify;

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
    /// The main job: check every claim of the theory of AOT and write a report (HTML, Markdown,
    /// JSON, plots); with --input, check the dominance of your own chosen/rejected rewards.
    Report(report::Args),
    /// Decide whether chosen rewards first-order stochastically dominate rejected rewards, and
    /// measure the violation.
    Dominance(dominance::Args),
    /// Optimal transport between two samples by sorting: cost, plan and Wasserstein distances.
    Ot(ot::Args),
    /// Sample-complexity study: Monte Carlo error, bias and excess risk of the empirical
    /// violation against n, fitted rates with bootstrap intervals, and the bound.
    Rates(rates::Args),
    /// Check that sorting is the optimal plan for convex costs, against an LP, brute force, a
    /// dual certificate and entropic bounds, and find counterexamples for non-convex costs.
    /// Exit status 1 when a convex instance disagrees by more than 1e-9 times its cost scale.
    Verify(verify::Args),
}

/// Runs the parsed command; the exit code is non-zero when a check fails.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Report(args) => report::run(args),
        Command::Dominance(args) => dominance::run(args),
        Command::Ot(args) => ot::run(args),
        Command::Rates(args) => rates::run(args),
        Command::Verify(args) => verify::run(args),
    }
}
