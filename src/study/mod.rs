//! Monte Carlo studies of the sample complexity of AOT (notes §4): rates, bias, the bound, and
//! the excess risk of the empirical minimiser.
//!
//! **What is measured.** For each `n` of a log-spaced grid and each of `R` replicates, a study
//! draws samples of the chosen law `U` and the rejected law `V`, evaluates the empirical
//! violation `ε̂_n` of every cost (each surrogate through the AOT objective of
//! [`crate::objective::preference_loss`], the 0-1 violation through
//! [`crate::dominance::violation`]), and compares it with the population value `ε` of
//! [`crate::population::population_violation`]:
//!
//! ```text
//! error     E|ε̂_n - ε|   fitted as C·n^{-a}           (notes §4.3: a = 1/2)
//! bias      E ε̂_n - ε     fitted as C_b·n^{-b}         (upward; b ≈ 1 for smooth laws)
//! bound     L·(J(μ_U) + J(μ_V))/√n                     (for L-Lipschitz costs)
//! ```
//!
//! Two variants are run: **unpaired** (independent `U` and `V` draws, AOT unpaired) and
//! **paired** (`n` pairs drawn through a Gaussian copula with correlation ρ, AOT paired on the
//! two coordinates). Both have the same population value, since `ε` depends only on the
//! marginals, and the bound holds for both (it bounds each marginal's `W1` separately).
//!
//! **Reproducibility.** Every `(n, replicate)` unit draws from its own `StdRng` (rand 0.9,
//! ChaCha12) seeded by SplitMix64 mixing of the study seed, `n` and the replicate index
//! ([`stream_seed`]), and does all its arithmetic alone; summaries are computed from results
//! sorted by `(n, replicate)`. So the numbers are bit-for-bit identical whatever the number of
//! rayon threads and whatever order units finish in. The bootstrap has its own derived streams.
//!
//! **Resuming.** Units append their rows to `replicates.csv` (and `excess.csv`) as they finish;
//! a rerun on the same directory reads them back, checks the configuration hash, skips finished
//! units and recomputes only the rest (the private `ledger` module). A run can be stopped cleanly
//! from the progress callback.
//!
//! **Which costs the rate covers.** The `n^{-1/2}` bound needs a Lipschitz cost (logistic,
//! hinge). The squared hinge and least squares are not Lipschitz but still show `n^{-1/2}` for
//! light tails; the 0-1 violation is discontinuous and no rate is claimed for it (in the default
//! study its fitted exponent is about 0.4). A kink inside the range of the quantile gap (the
//! hinge at its margin) slows the approach to the asymptotic rate over small `n`.
//!
//! **Known shortcomings.** Fits are ordinary least squares on the log-log points, unweighted; a
//! grid that starts at very small `n` (below about 10) lets higher-order terms bias the fitted
//! exponent. The bias fit uses only grid points with positive mean bias, so at large `n`, where
//! the bias is below the Monte Carlo noise, it rests on few points.

pub mod config;
pub mod excess;
pub mod fit;
pub(crate) mod ledger;
pub mod plots;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::Serialize;

use crate::cost::{Cost, Surrogate};
use crate::dominance::violation;
use crate::error::{Error, Result};
use crate::objective::{preference_loss, Loss, PreferenceBatch};
use crate::population::quadrature::Integral;
use crate::population::{population_violation, std_normal_levels, Population};
use crate::sample::Sample;

pub use config::{log_grid, ExcessConfig, Optimizer, Plan, RateConfig, StudyCost, Variant};
pub use excess::{ExcessPoint, ExcessReport};
pub use fit::PowerFit;

use fit::{bootstrap_power_law, mean, sd};
use ledger::{field, Ledger};

/// Which part of a study a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Population values and `J`.
    Population,
    /// Monte Carlo replicates of the empirical violation.
    MonteCarlo,
    /// Replicates of the excess-risk study.
    ExcessRisk,
}

/// A progress report: `done` of `total` units of `stage` are finished (resumed ones included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The stage.
    pub stage: Stage,
    /// Units finished.
    pub done: usize,
    /// Units in the stage.
    pub total: usize,
}

/// Progress callback: called after every unit (from worker threads); returning
/// `ControlFlow::Break(())` stops the study after the units already running.
pub type ProgressFn<'a> = &'a (dyn Fn(Progress) -> ControlFlow<()> + Sync);

/// Options of [`run`].
#[derive(Clone, Copy)]
pub struct RunOptions<'a> {
    /// Directory for `replicates.csv` and `excess.csv` (created if missing).
    pub out_dir: &'a Path,
    /// Discard results of a different configuration instead of refusing to run.
    pub force: bool,
    /// Progress callback.
    pub progress: Option<ProgressFn<'a>>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    /// Every unit is done; the report summarises them.
    Complete(Box<RateReport>),
    /// Stopped by the progress callback; finished units are saved for a resume.
    Interrupted {
        /// Units finished, in all stages.
        done: usize,
        /// Units in all stages.
        total: usize,
    },
}

/// Population values of one cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PopulationValue {
    /// Cost name.
    pub cost: String,
    /// `ε_h(U, V)` by quadrature.
    pub value: f64,
    /// The quadrature's error estimate.
    pub error_estimate: f64,
    /// Lipschitz constant of the cost, when it has one.
    pub lipschitz: Option<f64>,
    /// `L·(J_U + J_V)`, the constant of the bound, when `L` and both `J` are finite.
    pub bound_constant: Option<f64>,
}

/// Statistics of one cost and variant at one `n`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointStats {
    /// Sample size.
    pub n: usize,
    /// Replicates.
    pub replicates: usize,
    /// Mean of `ε̂_n`.
    pub mean_estimate: f64,
    /// `mean(ε̂_n) - ε`.
    pub bias: f64,
    /// Standard error of the bias (`sd(ε̂_n)/√R`).
    pub bias_se: f64,
    /// Standard deviation of `ε̂_n` over replicates.
    pub sd_estimate: f64,
    /// `mean |ε̂_n - ε|`.
    pub mean_abs_error: f64,
    /// Its standard error.
    pub abs_error_se: f64,
    /// `√n · mean |ε̂_n - ε|`.
    pub sqrt_n_error: f64,
    /// `n · bias`.
    pub n_bias: f64,
    /// `L(J_U + J_V)/√n`, when defined.
    pub bound: Option<f64>,
}

/// Everything measured for one cost and variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostReport {
    /// Variant.
    pub variant: Variant,
    /// Cost name.
    pub cost: String,
    /// Population value `ε`.
    pub population: f64,
    /// Per-`n` statistics.
    pub points: Vec<PointStats>,
    /// Fit of the mean absolute error.
    pub error_fit: Option<PowerFit>,
    /// Whether the error exponent's interval contains 1/2.
    pub consistent_with_half: Option<bool>,
    /// Fit of the (positive) bias.
    pub bias_fit: Option<PowerFit>,
    /// Whether every mean absolute error is below the bound.
    pub within_bound: Option<bool>,
    /// `mean_k √n_k · mean|ε̂ - ε|`, the constant at exponent 1/2.
    pub sqrt_n_error_mean: f64,
}

/// The headline numbers: the first surrogate, unpaired variant (or the first variant run).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    /// Variant.
    pub variant: Variant,
    /// Cost.
    pub cost: String,
    /// Fitted error exponent `a`.
    pub exponent: Option<f64>,
    /// Its interval.
    pub exponent_ci: Option<(f64, f64)>,
    /// Fitted constant `C`.
    pub constant: Option<f64>,
    /// Fitted bias exponent `b`.
    pub bias_exponent: Option<f64>,
    /// Its interval.
    pub bias_exponent_ci: Option<(f64, f64)>,
    /// `L(J_U + J_V)`.
    pub bound_constant: Option<f64>,
    /// `mean √n · error`, comparable with the bound constant.
    pub sqrt_n_error_mean: f64,
    /// Whether the error exponent's interval contains 1/2.
    pub consistent_with_half: Option<bool>,
    /// One sentence for a reader.
    pub verdict: String,
}

/// The result of a complete study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateReport {
    /// Configuration hash (also in the CSV header).
    pub config_hash: String,
    /// Seed.
    pub seed: u64,
    /// The configuration.
    pub config: RateConfig,
    /// Sample sizes.
    pub grid: Vec<usize>,
    /// `J(μ_U)` (`None` when infinite or not computable).
    pub j_chosen: Option<f64>,
    /// `J(μ_V)`.
    pub j_rejected: Option<f64>,
    /// Population values per cost.
    pub population: Vec<PopulationValue>,
    /// The headline.
    pub headline: Headline,
    /// Per cost and variant.
    pub costs: Vec<CostReport>,
    /// The excess-risk study, when enabled.
    pub excess: Option<ExcessReport>,
    /// Units read back from an earlier run.
    pub units_resumed: usize,
    /// Units computed by this run.
    pub units_computed: usize,
}

/// SplitMix64's finaliser: a bijective mixer of 64-bit words.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of the random stream of a unit: `seed` mixed with each of `parts` in turn.
///
/// # Examples
///
/// ```
/// use aot::study::stream_seed;
/// assert_eq!(stream_seed(7, &[16, 0]), stream_seed(7, &[16, 0]));
/// assert_ne!(stream_seed(7, &[16, 0]), stream_seed(7, &[0, 16]));
/// ```
pub fn stream_seed(seed: u64, parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(splitmix(seed), |s, &p| splitmix(s ^ splitmix(p)))
}

/// Stream tags, so that the Monte Carlo, bootstrap and excess-risk streams never coincide.
pub(crate) const TAG_MONTE_CARLO: u64 = 1;
pub(crate) const TAG_BOOTSTRAP: u64 = 2;
pub(crate) const TAG_EXCESS: u64 = 3;

/// Draws the samples of one unit and evaluates every cost on both variants.
///
/// Returns, per variant in `plan.config.variants` order and per cost in `plan.costs` order,
/// the empirical violation.
///
/// # Errors
///
/// Errors of the objective (an overflowing cost) or of a numerical quantile.
pub fn unit_estimates(plan: &Plan, n: usize, replicate: usize) -> Result<Vec<Vec<f64>>> {
    let seed = stream_seed(
        plan.config.seed,
        &[TAG_MONTE_CARLO, n as u64, replicate as u64],
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let zeros = vec![0.0; n];
    let mut out = Vec::with_capacity(plan.config.variants.len());
    for &variant in &plan.config.variants {
        let (a, b, loss) = match variant {
            Variant::Unpaired => {
                let u = plan.chosen.sample(&mut rng, n)?;
                let v = plan.rejected.sample(&mut rng, n)?;
                (u, v, Loss::AotUnpaired)
            }
            Variant::Paired => {
                let rho = plan.config.correlation;
                let mut m = Vec::with_capacity(n);
                let mut m_ref = Vec::with_capacity(n);
                for _ in 0..n {
                    let z1: f64 = StandardNormal.sample(&mut rng);
                    let z2: f64 = StandardNormal.sample(&mut rng);
                    let w = rho * z1 + (1.0 - rho * rho).sqrt() * z2;
                    m.push(copula_quantile(&plan.chosen, z1)?);
                    m_ref.push(copula_quantile(&plan.rejected, w)?);
                }
                (m, m_ref, Loss::AotPaired)
            }
        };
        let batch = match loss {
            // u_i = c_i - ĉ_i and v_i = r_i - r̂_i with zero reference log-probabilities.
            Loss::AotUnpaired => PreferenceBatch {
                policy_chosen: &a,
                policy_rejected: &b,
                reference_chosen: &zeros,
                reference_rejected: &zeros,
            },
            // m_i = c_i - r_i = a_i and m̂_i = ĉ_i - r̂_i = b_i.
            _ => PreferenceBatch {
                policy_chosen: &a,
                policy_rejected: &zeros,
                reference_chosen: &b,
                reference_rejected: &zeros,
            },
        };
        let mut values = Vec::with_capacity(plan.costs.len());
        for c in &plan.costs {
            values.push(if c.surrogate == Surrogate::ZeroOne {
                violation(&Sample::new(&a)?, &Sample::new(&b)?).zero_one
            } else {
                preference_loss(&batch, loss, &c.surrogate)?.value
            });
        }
        out.push(values);
    }
    Ok(out)
}

/// `Q(Φ(z))`, with `Φ(z)` and `1 - Φ(z)` each accurate in its tail.
fn copula_quantile(pop: &Population, z: f64) -> Result<f64> {
    let (p, q) = std_normal_levels(z);
    let p = p.clamp(f64::MIN_POSITIVE, 1.0);
    let q = q.clamp(f64::MIN_POSITIVE, 1.0);
    pop.quantile_pq(p, q)
}

const MC_COLUMNS: [&str; 7] = [
    "n",
    "replicate",
    "variant",
    "cost",
    "estimate",
    "population",
    "error",
];

fn num(x: f64) -> String {
    format!("{x}")
}

fn parse_num(text: &str, path: &Path) -> Result<f64> {
    text.parse().map_err(|_| Error::Input {
        source_name: path.display().to_string(),
        message: format!("`{text}` is not a number"),
    })
}

/// Runs (or resumes) a study and summarises it.
///
/// # Errors
///
/// Configuration errors of [`RateConfig::validate`]; [`Error::Input`] when the output directory
/// holds results of another configuration and `force` is false; [`Error::Output`] when files
/// cannot be written; numerical failures of the population values.
///
/// # Examples
///
/// ```
/// use aot::study::{run, RateConfig, RunOptions, RunOutcome};
///
/// let cfg = RateConfig {
///     grid: vec![16, 64, 256],
///     replicates: 40,
///     bootstrap: 200,
///     surrogates: vec!["logistic".into()],
///     excess: aot::study::ExcessConfig { enabled: false, ..Default::default() },
///     ..RateConfig::default()
/// };
/// let dir = tempfile::tempdir().unwrap();
/// let opts = RunOptions { out_dir: dir.path(), force: false, progress: None };
/// let RunOutcome::Complete(report) = run(&cfg, &opts)? else { unreachable!() };
/// let a = report.headline.exponent.unwrap();
/// assert!((a - 0.5).abs() < 0.2, "{a}");
/// # Ok::<(), aot::Error>(())
/// ```
pub fn run(config: &RateConfig, opts: &RunOptions<'_>) -> Result<RunOutcome> {
    let plan = config.validate()?;
    std::fs::create_dir_all(opts.out_dir).map_err(|e| Error::Output {
        target: opts.out_dir.display().to_string(),
        message: e.to_string(),
    })?;
    let report_progress = |p: Progress| match opts.progress {
        Some(f) => f(p),
        None => ControlFlow::Continue(()),
    };
    let _ = report_progress(Progress {
        stage: Stage::Population,
        done: 0,
        total: 1,
    });

    // Population values and J.
    let mut population = Vec::with_capacity(plan.costs.len());
    let j_chosen = plan.chosen.j_functional().ok().map(|j| j.value);
    let j_rejected = plan.rejected.j_functional().ok().map(|j| j.value);
    for c in &plan.costs {
        let Integral {
            value,
            error_estimate,
            ..
        } = population_violation(&plan.chosen, &plan.rejected, &c.surrogate)?;
        let lipschitz = c.surrogate.lipschitz();
        let bound_constant = match (lipschitz, j_chosen, j_rejected) {
            (Some(l), Some(a), Some(b)) => Some(l * (a + b)),
            _ => None,
        };
        population.push(PopulationValue {
            cost: c.name.clone(),
            value,
            error_estimate,
            lipschitz,
            bound_constant,
        });
    }
    let _ = report_progress(Progress {
        stage: Stage::Population,
        done: 1,
        total: 1,
    });

    // Monte Carlo units.
    let rows_per_unit = plan.config.variants.len() * plan.costs.len();
    let (ledger, done_units) = Ledger::open(
        &opts.out_dir.join("replicates.csv"),
        &plan.config_hash,
        &MC_COLUMNS,
        rows_per_unit,
        opts.force,
    )?;
    let path = opts.out_dir.join("replicates.csv");
    let mut results: BTreeMap<(usize, usize), Vec<Vec<f64>>> = BTreeMap::new();
    for (key, rows) in &done_units {
        if !plan.grid.contains(&key.0) || key.1 >= plan.config.replicates {
            continue;
        }
        let mut per_variant = vec![vec![f64::NAN; plan.costs.len()]; plan.config.variants.len()];
        for row in rows {
            let vi = plan.config.variants.iter().position(|v| v.name() == row[0]);
            let ci = plan.costs.iter().position(|c| c.name == row[1]);
            if let (Some(vi), Some(ci)) = (vi, ci) {
                per_variant[vi][ci] = parse_num(&row[2], &path)?;
            }
        }
        if per_variant.iter().flatten().all(|x| !x.is_nan()) {
            results.insert(*key, per_variant);
        }
    }
    let units_resumed = results.len();
    let pending: Vec<(usize, usize)> = plan
        .grid
        .iter()
        .flat_map(|&n| (0..plan.config.replicates).map(move |r| (n, r)))
        .filter(|k| !results.contains_key(k))
        .collect();
    let mc_total = plan.grid.len() * plan.config.replicates;
    let excess_total = if plan.config.excess.enabled {
        plan.grid.len() * plan.config.excess.replicates
    } else {
        0
    };
    let done = AtomicUsize::new(units_resumed);
    let stop = AtomicBool::new(false);
    let _ = report_progress(Progress {
        stage: Stage::MonteCarlo,
        done: units_resumed,
        total: mc_total,
    });
    type Finished = Option<((usize, usize), Vec<Vec<f64>>)>;
    let computed: Vec<Result<Finished>> = pending
        .par_iter()
        .map(|&(n, r)| {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let est = unit_estimates(&plan, n, r)?;
            let mut rows = Vec::with_capacity(rows_per_unit);
            for (vi, variant) in plan.config.variants.iter().enumerate() {
                for (ci, c) in plan.costs.iter().enumerate() {
                    let pop = population[ci].value;
                    rows.push(vec![
                        variant.name().to_string(),
                        field(&c.name),
                        num(est[vi][ci]),
                        num(pop),
                        num(est[vi][ci] - pop),
                    ]);
                }
            }
            ledger.append(n, r, &rows)?;
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            let p = Progress {
                stage: Stage::MonteCarlo,
                done: d,
                total: mc_total,
            };
            if report_progress(p).is_break() {
                stop.store(true, Ordering::Relaxed);
            }
            Ok(Some(((n, r), est)))
        })
        .collect();
    let mut units_computed = 0;
    for c in computed {
        if let Some((k, v)) = c? {
            results.insert(k, v);
            units_computed += 1;
        }
    }
    if results.len() < mc_total {
        return Ok(RunOutcome::Interrupted {
            done: results.len(),
            total: mc_total + excess_total,
        });
    }

    let excess = if plan.config.excess.enabled {
        match excess::run_excess(&plan, opts, &report_progress)? {
            Ok(e) => Some(e),
            Err(done) => {
                let done = mc_total + done;
                return Ok(RunOutcome::Interrupted {
                    done,
                    total: mc_total + excess_total,
                });
            }
        }
    } else {
        None
    };

    let report = summarise(&plan, &population, j_chosen, j_rejected, &results, excess);
    Ok(RunOutcome::Complete(Box::new(RateReport {
        units_resumed,
        units_computed,
        ..report
    })))
}

/// Statistics, fits and bound check of one (variant, cost) pair of the Monte Carlo study.
fn cost_report(
    plan: &Plan,
    population: &[PopulationValue],
    results: &BTreeMap<(usize, usize), Vec<Vec<f64>>>,
    vi: usize,
    ci: usize,
) -> CostReport {
    let cfg = &plan.config;
    let variant = cfg.variants[vi];
    let c = &plan.costs[ci];
    let pop = population[ci].value;
    let groups: Vec<(usize, Vec<f64>)> = plan
        .grid
        .iter()
        .map(|&n| {
            let errs = (0..cfg.replicates).map(|r| results[&(n, r)][vi][ci] - pop);
            (n, errs.collect())
        })
        .collect();
    let bound_constant = population[ci].bound_constant;
    let points: Vec<PointStats> = groups
        .iter()
        .map(|(n, errs)| {
            let abs: Vec<f64> = errs.iter().map(|e| e.abs()).collect();
            let r = errs.len() as f64;
            let nf = *n as f64;
            let bias = mean(errs);
            let mae = mean(&abs);
            PointStats {
                n: *n,
                replicates: errs.len(),
                mean_estimate: pop + bias,
                bias,
                bias_se: sd(errs) / r.sqrt(),
                sd_estimate: sd(errs),
                mean_abs_error: mae,
                abs_error_se: sd(&abs) / r.sqrt(),
                sqrt_n_error: nf.sqrt() * mae,
                n_bias: nf * bias,
                bound: bound_constant.map(|b| b / nf.sqrt()),
            }
        })
        .collect();
    let abs_groups: Vec<(usize, Vec<f64>)> = groups
        .iter()
        .map(|(n, e)| (*n, e.iter().map(|x| x.abs()).collect()))
        .collect();
    let boot_seed = |what: u64| stream_seed(cfg.seed, &[TAG_BOOTSTRAP, what, vi as u64, ci as u64]);
    let error_fit = bootstrap_power_law(
        &abs_groups,
        mean,
        cfg.bootstrap,
        cfg.confidence,
        boot_seed(0),
    );
    let bias_fit = bootstrap_power_law(&groups, mean, cfg.bootstrap, cfg.confidence, boot_seed(1));
    let within_bound = bound_constant.map(|_| {
        points
            .iter()
            .all(|p| p.bound.is_some_and(|b| p.mean_abs_error <= b))
    });
    CostReport {
        variant,
        cost: c.name.clone(),
        population: pop,
        consistent_with_half: error_fit.as_ref().map(|f| f.contains(0.5)),
        sqrt_n_error_mean: mean(&points.iter().map(|p| p.sqrt_n_error).collect::<Vec<_>>()),
        points,
        error_fit,
        bias_fit,
        within_bound,
    }
}

fn summarise(
    plan: &Plan,
    population: &[PopulationValue],
    j_chosen: Option<f64>,
    j_rejected: Option<f64>,
    results: &BTreeMap<(usize, usize), Vec<Vec<f64>>>,
    excess: Option<ExcessReport>,
) -> RateReport {
    let cfg = &plan.config;
    // The bootstrap fits dominate this step; they are independent per (variant, cost) and each
    // has its own seeded stream, so they run in parallel with results that do not depend on
    // the number of threads.
    let pairs: Vec<(usize, usize)> = (0..cfg.variants.len())
        .flat_map(|vi| (0..plan.costs.len()).map(move |ci| (vi, ci)))
        .collect();
    let costs: Vec<CostReport> = pairs
        .par_iter()
        .map(|&(vi, ci)| cost_report(plan, population, results, vi, ci))
        .collect();
    let head_variant = if cfg.variants.contains(&Variant::Unpaired) {
        Variant::Unpaired
    } else {
        cfg.variants[0]
    };
    let head = costs
        .iter()
        .find(|c| c.variant == head_variant && c.cost == plan.costs[0].name)
        .expect("the headline cost and variant are part of the study");
    let bound_constant = population[0].bound_constant;
    let verdict = match (&head.error_fit, head.consistent_with_half) {
        (Some(f), Some(true)) => format!(
            "error ≈ {:.3}·n^-{:.3}; the {:.0}% interval [{:.3}, {:.3}] contains 1/2: consistent \
             with the parametric rate",
            f.constant,
            f.exponent,
            100.0 * cfg.confidence,
            f.ci_low,
            f.ci_high
        ),
        (Some(f), _) => format!(
            "error ≈ {:.3}·n^-{:.3}; the {:.0}% interval [{:.3}, {:.3}] excludes 1/2",
            f.constant,
            f.exponent,
            100.0 * cfg.confidence,
            f.ci_low,
            f.ci_high
        ),
        (None, _) => "the error could not be fitted (fewer than two positive points)".into(),
    };
    let headline = Headline {
        variant: head.variant,
        cost: head.cost.clone(),
        exponent: head.error_fit.as_ref().map(|f| f.exponent),
        exponent_ci: head.error_fit.as_ref().map(|f| (f.ci_low, f.ci_high)),
        constant: head.error_fit.as_ref().map(|f| f.constant),
        bias_exponent: head.bias_fit.as_ref().map(|f| f.exponent),
        bias_exponent_ci: head.bias_fit.as_ref().map(|f| (f.ci_low, f.ci_high)),
        bound_constant,
        sqrt_n_error_mean: head.sqrt_n_error_mean,
        consistent_with_half: head.consistent_with_half,
        verdict,
    };
    RateReport {
        config_hash: plan.config_hash.clone(),
        seed: cfg.seed,
        config: cfg.clone(),
        grid: plan.grid.clone(),
        j_chosen,
        j_rejected,
        population: population.to_vec(),
        headline,
        costs,
        excess,
        units_resumed: 0,
        units_computed: 0,
    }
}
