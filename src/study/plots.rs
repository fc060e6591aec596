//! Charts of a rate study: error and bias against `n`, the quantile functions, the excess risk.
//!
//! Error bars are ±2 standard errors over replicates. In the labels `ε_n` is the empirical
//! violation of `n` draws, `θ_n` the empirical minimiser and `F_n` the empirical objective.
//! On a logarithmic axis a lower end at or below zero cannot be drawn, so it is shown at a
//! tenth of the point's value.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::plot::{Chart, Series};
use crate::population::Population;

use super::{RateReport, Variant};

fn log_bar(x: f64, y: f64, se: f64) -> (f64, f64, f64, f64) {
    let lo = y - 2.0 * se;
    (x, y, if lo > 0.0 { lo } else { 0.1 * y }, y + 2.0 * se)
}

fn curve(grid: &[usize], f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    let (a, b) = (grid[0] as f64, grid[grid.len() - 1] as f64);
    (0..=40)
        .map(|k| {
            let n = a * (b / a).powf(f64::from(k) / 40.0);
            (n, f(n))
        })
        .collect()
}

/// Writes `error_vs_n`, `bias_vs_n`, `quantiles` and (when the excess-risk study ran)
/// `excess_vs_n`, each as PNG and SVG, into `dir`; returns the files written.
///
/// # Errors
///
/// [`crate::Error::Output`] when a file cannot be written; quantile failures.
pub fn write_plots(
    report: &RateReport,
    chosen: &Population,
    rejected: &Population,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (stem, chart) in charts(report, chosen, rejected)? {
        files.extend(chart.save(&dir.join(stem))?);
    }
    Ok(files)
}

/// The charts of [`write_plots`] with their file stems, for callers that embed them elsewhere
/// (the report).
///
/// # Errors
///
/// Quantile failures of the populations.
pub fn charts(
    report: &RateReport,
    chosen: &Population,
    rejected: &Population,
) -> Result<Vec<(&'static str, Chart)>> {
    let mut files = Vec::new();
    let head = &report.headline;
    let grid = &report.grid;

    // Error against n.
    let mut chart = Chart::new(
        format!(
            "Mean absolute error of the empirical violation, {}",
            head.cost
        ),
        "sample size n (log scale)",
        "E|ε_n − ε|, ε_n the empirical violation (log scale)",
    )
    .log_x()
    .log_y();
    let mut bias_chart = Chart::new(
        format!("Signed bias of the empirical violation, {}", head.cost),
        "sample size n (log scale)",
        "E ε_n − ε",
    )
    .log_x();
    for (k, c) in report
        .costs
        .iter()
        .filter(|c| c.cost == head.cost)
        .enumerate()
    {
        let name = c.variant.name();
        let bars = c
            .points
            .iter()
            .map(|p| log_bar(p.n as f64, p.mean_abs_error, p.abs_error_se))
            .collect();
        chart = chart
            .series(Series::error_bars(format!("{name}: measured ± 2 s.e."), bars).with_color(k));
        if let Some(f) = &c.error_fit {
            let fitted = curve(grid, |n| f.constant * n.powf(-f.exponent));
            let label = format!("{name}: fit {:.3}·n^-{:.3}", f.constant, f.exponent);
            chart = chart.series(Series::line(label, fitted).with_color(k));
        }
        let bias_bars = c
            .points
            .iter()
            .map(|p| {
                (
                    p.n as f64,
                    p.bias,
                    p.bias - 2.0 * p.bias_se,
                    p.bias + 2.0 * p.bias_se,
                )
            })
            .collect();
        bias_chart = bias_chart
            .series(Series::error_bars(format!("{name}: bias ± 2 s.e."), bias_bars).with_color(k));
        if let (Some(f), Variant::Unpaired) = (&c.bias_fit, c.variant) {
            let fitted = curve(grid, |n| f.constant * n.powf(-f.exponent));
            let label = format!("{name}: fit {:.3}·n^-{:.3}", f.constant, f.exponent);
            bias_chart = bias_chart.series(Series::line(label, fitted).with_color(k));
        }
    }
    let c_half = head.sqrt_n_error_mean;
    chart = chart.series(
        Series::dashed(
            format!("reference {c_half:.3}·n^-1/2"),
            curve(grid, |n| c_half / n.sqrt()),
        )
        .with_color(3),
    );
    if let Some(b) = head.bound_constant {
        let label = format!("bound L(J_U+J_V)/√n = {b:.3}/√n");
        chart = chart.series(Series::dashed(label, curve(grid, |n| b / n.sqrt())).with_color(4));
    }
    files.push(("error_vs_n", chart));
    bias_chart = bias_chart.series(Series::dashed("zero", curve(grid, |_| 0.0)).with_color(5));
    files.push(("bias_vs_n", bias_chart));

    // Quantile functions.
    let levels: Vec<f64> = (1..200).map(|k| f64::from(k) / 200.0).collect();
    let qu = levels
        .iter()
        .map(|&p| Ok((p, chosen.quantile(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let qv = levels
        .iter()
        .map(|&p| Ok((p, rejected.quantile(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let q_chart = Chart::new("Population quantile functions", "level p", "quantile Q(p)")
        .series(Series::line(format!("Q_U, U ~ {chosen}"), qu))
        .series(Series::line(format!("Q_V, V ~ {rejected}"), qv));
    files.push(("quantiles", q_chart));

    // Excess risk.
    if let Some(ex) = &report.excess {
        let mut chart = Chart::new(
            format!("Excess risk of the empirical minimiser, {}", ex.cost),
            "sample size n (log scale)",
            "population objective (log scale)",
        )
        .log_x()
        .log_y();
        let bars = ex
            .points
            .iter()
            .map(|p| log_bar(p.n as f64, p.mean_excess, p.excess_se));
        chart = chart.series(
            Series::error_bars("excess F(θ_n) − F(θ*) ± 2 s.e.", bars.collect()).with_color(0),
        );
        let gaps = ex
            .points
            .iter()
            .map(|p| log_bar(p.n as f64, p.mean_abs_gap, p.gap_se));
        chart = chart.series(
            Series::error_bars("gap |F_n(θ_n) − F(θ_n)| ± 2 s.e.", gaps.collect()).with_color(1),
        );
        for (k, (name, fit)) in [("excess", &ex.excess_fit), ("gap", &ex.gap_fit)]
            .iter()
            .enumerate()
        {
            if let Some(f) = fit {
                let label = format!("{name}: fit {:.3}·n^-{:.3}", f.constant, f.exponent);
                let pts = curve(grid, |n| f.constant * n.powf(-f.exponent));
                chart = chart.series(Series::line(label, pts).with_color(k));
            }
        }
        if let Some(first) = ex.points.first().filter(|p| p.mean_excess > 0.0) {
            let c = first.mean_excess * (first.n as f64).sqrt();
            let pts = curve(grid, |n| c / n.sqrt());
            chart = chart.series(Series::dashed("reference ∝ n^-1/2", pts).with_color(3));
        }
        files.push(("excess_vs_n", chart));
    }
    Ok(files)
}
