//! `aot rates`: the sample-complexity study (notes §4) on laws the user chooses.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use aot::study::plots::write_plots;
use aot::study::{
    run as run_study, Optimizer, Progress, RateConfig, RunOptions, RunOutcome, Stage, Variant,
};

/// Flags of `aot rates`. Flags override the values of `--config`; unset values take the
/// defaults, which reproduce the simulation of the paper notes (§4.3).
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// TOML file describing the study: the `config.toml` every run writes into its output
    /// directory is a complete example. Keys are the flags with `_` for `-`, except
    /// `surrogates` (a list); laws are strings or tables; the excess-risk flags go in an
    /// `[excess]` table (`enabled`, `replicates`, `ridge`, `optimizer`, `max_iters`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Law of the chosen rewards U, e.g. `normal:0.3:1.5`, `gamma:2:1`,
    /// `mixture:0.3:normal:0:1:normal:3:1`, `empirical:FILE@COLUMN`
    /// [default: normal:0.3:1.5].
    #[arg(long, value_name = "LAW")]
    chosen: Option<String>,
    /// Law of the rejected rewards V [default: normal:0:1].
    #[arg(long, value_name = "LAW")]
    rejected: Option<String>,
    /// Surrogates, comma-separated (`logistic`, `hinge:0.5`, `squared_hinge`, `least_squares`,
    /// `smoothed_logistic:1:0.1`, …); bare names take --beta; the first is the headline and the
    /// 0-1 violation is always added [default: logistic,hinge,squared_hinge,least_squares].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    surrogate: Option<Vec<String>>,
    /// Slope (logistic) or margin (hinge family) for bare surrogate names [default: 1].
    #[arg(long)]
    beta: Option<f64>,
    /// Smallest sample size of the log-spaced grid [default: 16].
    #[arg(long)]
    n_min: Option<usize>,
    /// Largest sample size [default: 1024].
    #[arg(long)]
    n_max: Option<usize>,
    /// Number of grid points [default: 7].
    #[arg(long)]
    grid_points: Option<usize>,
    /// Explicit grid of sample sizes, comma-separated (overrides --n-min/--n-max/--grid-points).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    grid: Option<Vec<usize>>,
    /// Replicates per sample size, at least 2 [default: 1000].
    #[arg(long)]
    replicates: Option<usize>,
    /// Seed of every random stream [default: 20240609].
    #[arg(long)]
    seed: Option<u64>,
    /// Variants, comma-separated: unpaired, paired [default: both].
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_variant)]
    variants: Option<Vec<Variant>>,
    /// Gaussian-copula correlation of the paired draws, in (-1, 1) [default: 0.5].
    #[arg(long)]
    correlation: Option<f64>,
    /// Bootstrap resamples for the intervals [default: 2000].
    #[arg(long)]
    bootstrap: Option<usize>,
    /// Confidence level of the intervals [default: 0.95].
    #[arg(long)]
    confidence: Option<f64>,
    /// Skip the excess-risk study.
    #[arg(long)]
    no_excess: bool,
    /// Replicates per sample size of the excess-risk study [default: 100].
    #[arg(long)]
    excess_replicates: Option<usize>,
    /// Ridge weight of the excess-risk objective [default: 0.1].
    #[arg(long)]
    ridge: Option<f64>,
    /// Optimiser of the excess-risk study: lbfgs or nelder_mead [default: lbfgs].
    #[arg(long, value_parser = parse_optimizer)]
    optimizer: Option<Optimizer>,
    /// Worker threads (results do not depend on it) [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Output directory. A directory holding an interrupted run of the same study is resumed;
    /// one holding another study is refused unless --force is given.
    #[arg(long, value_name = "DIR", default_value = "rates-out")]
    out: PathBuf,
    /// Discard the results of a different study in --out.
    #[arg(long)]
    force: bool,
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    match s.trim() {
        "unpaired" => Ok(Variant::Unpaired),
        "paired" => Ok(Variant::Paired),
        other => Err(format!(
            "unknown variant `{other}`; expected unpaired or paired"
        )),
    }
}

fn parse_optimizer(s: &str) -> Result<Optimizer, String> {
    match s.trim() {
        "lbfgs" => Ok(Optimizer::Lbfgs),
        "nelder_mead" => Ok(Optimizer::NelderMead),
        other => Err(format!(
            "unknown optimizer `{other}`; expected lbfgs or nelder_mead"
        )),
    }
}

impl Args {
    fn config(&self) -> anyhow::Result<RateConfig> {
        let mut c = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str::<RateConfig>(&text)
                    .with_context(|| format!("invalid study description in {}", path.display()))?
            }
            None => RateConfig::default(),
        };
        if let Some(s) = &self.chosen {
            c.chosen = s.parse()?;
        }
        if let Some(s) = &self.rejected {
            c.rejected = s.parse()?;
        }
        if let Some(s) = &self.surrogate {
            c.surrogates = s.clone();
        }
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field {
                    c.$field = v.clone();
                }
            )*};
        }
        set!(
            beta,
            n_min,
            n_max,
            grid_points,
            grid,
            replicates,
            seed,
            variants
        );
        set!(correlation, bootstrap, confidence);
        if self.no_excess {
            c.excess.enabled = false;
        }
        if let Some(r) = self.excess_replicates {
            c.excess.replicates = r;
        }
        if let Some(r) = self.ridge {
            c.excess.ridge = r;
        }
        if let Some(o) = self.optimizer {
            c.excess.optimizer = o;
        }
        Ok(c)
    }
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Population => "population values",
        Stage::MonteCarlo => "Monte Carlo replicates",
        Stage::ExcessRisk => "excess-risk replicates",
    }
}

/// Runs `aot rates`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let config = args.config()?;
    let plan = config.validate()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if args.force {
        // Outputs of the discarded study that this run might not rewrite.
        let mut stale = vec![
            "summary.json".to_string(),
            "config.toml".into(),
            "excess.csv".into(),
        ];
        for stem in ["error_vs_n", "bias_vs_n", "quantiles", "excess_vs_n"] {
            stale.push(format!("{stem}.png"));
            stale.push(format!("{stem}.svg"));
        }
        for name in stale {
            let p = args.out.join(name);
            if p.exists() {
                std::fs::remove_file(&p)
                    .with_context(|| format!("cannot remove {}", p.display()))?;
            }
        }
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} ({eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let progress = |p: Progress| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        bar.set_message(stage_name(p.stage));
        ControlFlow::Continue(())
    };
    let opts = RunOptions {
        out_dir: &args.out,
        force: args.force,
        progress: Some(&progress),
    };
    let threads = args.threads.unwrap_or_else(rayon::current_num_threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start the worker threads")?;
    let outcome = pool.install(|| run_study(&config, &opts))?;
    bar.finish_and_clear();
    let report = match outcome {
        RunOutcome::Complete(r) => r,
        RunOutcome::Interrupted { done, total } => {
            println!("stopped after {done} of {total} units; rerun the same command to resume");
            return Ok(ExitCode::from(1));
        }
    };
    let toml_text = toml::to_string(&config).context("cannot describe the configuration")?;
    std::fs::write(args.out.join("config.toml"), toml_text)
        .with_context(|| format!("cannot write {}", args.out.join("config.toml").display()))?;
    let plots = write_plots(&report, &plan.chosen, &plan.rejected, &args.out)?;
    let wall = start.elapsed().as_secs_f64();
    let summary = json!({
        "seed": report.seed,
        "config_hash": report.config_hash,
        "headline": report.headline,
        "threads": threads,
        "wall_seconds": wall,
        "report": *report,
        "plots": plots,
    });
    let summary_path = args.out.join("summary.json");
    std::fs::write(&summary_path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", summary_path.display()))?;

    let h = &report.headline;
    println!("U ~ {}   V ~ {}", plan.chosen, plan.rejected);
    println!(
        "grid n = {:?}, {} replicates, seed {}, {} units computed, {} resumed",
        report.grid, config.replicates, report.seed, report.units_computed, report.units_resumed
    );
    if let (Some(ju), Some(jv)) = (report.j_chosen, report.j_rejected) {
        println!("J(U) = {ju:.6}, J(V) = {jv:.6}");
    }
    println!(
        "\n{:<32} {:>12} {:>10} {:>20} {:>10}",
        "cost / variant", "population", "exponent", "interval", "bias exp"
    );
    for c in &report.costs {
        let (a, ci) = match &c.error_fit {
            Some(f) => (
                format!("{:.3}", f.exponent),
                format!("[{:.3}, {:.3}]", f.ci_low, f.ci_high),
            ),
            None => ("-".into(), "-".into()),
        };
        let b = c
            .bias_fit
            .as_ref()
            .map_or("-".into(), |f| format!("{:.3}", f.exponent));
        let name = format!("{} / {}", c.cost, c.variant.name());
        println!("{name:<32} {:>12.6} {a:>10} {ci:>20} {b:>10}", c.population);
    }
    println!(
        "\nheadline ({} / {}): {}",
        h.cost,
        h.variant.name(),
        h.verdict
    );
    if let Some(b) = h.bound_constant {
        println!(
            "bound constant L(J_U + J_V) = {b:.4}; measured √n·E|ε̂ − ε| ≈ {:.4} (ratio {:.2})",
            h.sqrt_n_error_mean,
            h.sqrt_n_error_mean / b
        );
    }
    if let Some(b) = h.bias_exponent {
        println!("bias ≈ C·n^-{b:.3} (upward, as duality predicts when positive)");
    }
    if let Some(ex) = &report.excess {
        println!("excess risk: {}", ex.verdict);
        if let Some(g) = &ex.gap_fit {
            println!(
                "generalisation gap ≈ {:.3}·n^-{:.3} (interval [{:.3}, {:.3}])",
                g.constant, g.exponent, g.ci_low, g.ci_high
            );
        }
        let reasons: Vec<String> = ex
            .terminations
            .iter()
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect();
        println!("optimiser terminations: {}", reasons.join("; "));
    }
    println!(
        "\nwrote {} and {} plot files to {} in {wall:.1} s",
        summary_path.display(),
        plots.len(),
        args.out.display()
    );
    Ok(if h.consistent_with_half == Some(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
