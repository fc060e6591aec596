//! Flags shared by the subcommands that read two samples.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;

use aot::io::read_column;
use aot::sample::Sample;

/// Two samples read from files: the chosen (U) and the rejected (V) rewards.
#[derive(Debug, Clone, ClapArgs)]
pub struct TwoSamples {
    /// File with the chosen (positive) values U: one number per line, CSV with a header, a JSON
    /// array, a JSON object of arrays, or JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub chosen: PathBuf,
    /// File with the rejected (negative) values V; may be the same file as --chosen when it holds
    /// both columns.
    #[arg(long, value_name = "FILE")]
    pub rejected: PathBuf,
    /// Column or field holding U in --chosen [default: `chosen` when the file has named columns].
    #[arg(long, value_name = "NAME")]
    pub chosen_column: Option<String>,
    /// Column or field holding V in --rejected [default: `rejected` when the file has named
    /// columns].
    #[arg(long, value_name = "NAME")]
    pub rejected_column: Option<String>,
    /// Optional weights of U (same formats; same length as U; non-negative, positive total).
    /// They are normalised to sum to one.
    #[arg(long, value_name = "FILE")]
    pub chosen_weights: Option<PathBuf>,
    /// Optional weights of V.
    #[arg(long, value_name = "FILE")]
    pub rejected_weights: Option<PathBuf>,
}

fn read(path: &std::path::Path, column: Option<&str>, role: &str) -> anyhow::Result<Vec<f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display().to_string();
    let trimmed = text.trim_start();
    let plain = trimmed.starts_with('[')
        || trimmed
            .lines()
            .next()
            .is_some_and(|l| l.split(',').all(|t| t.trim().parse::<f64>().is_ok()));
    let column = match column {
        Some(c) => Some(c),
        None if plain => None,
        None => Some(role),
    };
    Ok(aot::io::parse_column(&text, column, &name)?)
}

impl TwoSamples {
    /// Reads and validates both samples.
    pub fn load(&self) -> anyhow::Result<(Sample, Sample)> {
        let u = read(&self.chosen, self.chosen_column.as_deref(), "chosen")?;
        let v = read(&self.rejected, self.rejected_column.as_deref(), "rejected")?;
        let u = match &self.chosen_weights {
            Some(p) => Sample::weighted(&u, &read_column(p, None)?)?,
            None => Sample::new(&u)?,
        };
        let v = match &self.rejected_weights {
            Some(p) => Sample::weighted(&v, &read_column(p, None)?)?,
            None => Sample::new(&v)?,
        };
        Ok((u, v))
    }
}
