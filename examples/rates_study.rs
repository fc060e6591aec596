//! A rate study on skewed, non-Gaussian rewards: chosen rewards from a two-component mixture,
//! rejected rewards from a gamma law, the squared-hinge surrogate.
//!
//! Run with `cargo run --release --example rates_study [OUT_DIR]`. It prints the population
//! values, the fitted exponents with their intervals and the bound, and writes the CSV files
//! and plots of `aot rates` into `OUT_DIR` (default `rates-example`); a second run with the same
//! directory resumes instead of recomputing.

use aot::population::Population;
use aot::study::plots::write_plots;
use aot::study::{run, ExcessConfig, RateConfig, RunOptions, RunOutcome};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "rates-example".into());
    let config = RateConfig {
        chosen: "mixture:0.3:normal:-1:0.5:normal:2:1".parse()?,
        rejected: "gamma:2:2".parse()?,
        surrogates: vec!["squared_hinge:0.5".into(), "logistic:2".into()],
        n_min: 20,
        n_max: 2000,
        grid_points: 6,
        replicates: 300,
        excess: ExcessConfig {
            replicates: 40,
            ..ExcessConfig::default()
        },
        ..RateConfig::default()
    };
    let opts = RunOptions {
        out_dir: out.as_ref(),
        force: false,
        progress: None,
    };
    let RunOutcome::Complete(report) = run(&config, &opts)? else {
        return Err("the study was interrupted".into());
    };
    println!("U ~ {}, V ~ {}", config.chosen, config.rejected);
    for p in &report.population {
        println!("population {:<20} ε = {:.10}", p.cost, p.value);
    }
    for c in &report.costs {
        if let Some(f) = &c.error_fit {
            println!(
                "{:<20} {:<9} error ≈ {:.3}·n^-{:.3}, interval [{:.3}, {:.3}]",
                c.cost,
                c.variant.name(),
                f.constant,
                f.exponent,
                f.ci_low,
                f.ci_high
            );
        }
    }
    println!("{}", report.headline.verdict);
    if let Some(ex) = &report.excess {
        println!("{}", ex.verdict);
    }
    let chosen = Population::new(&config.chosen)?;
    let rejected = Population::new(&config.rejected)?;
    for f in write_plots(&report, &chosen, &rejected, out.as_ref())? {
        println!("wrote {}", f.display());
    }
    Ok(())
}
