//! The verification sweep behind `aot verify`: sorting against independent exact solvers.
//!
//! For every cost of [`sweep_costs`] and every instance of a size plan ([`Plan::Default`] or
//! [`Plan::Quick`]), the sweep draws two samples from a seeded generator and compares the cost of
//! the comonotone (sorted) plan, [`crate::transport::comonotone_cost`], with
//!
//! * the simplex LP ([`crate::exact::lp`]) on instances with `n·m <= 3600`;
//! * brute force over permutations ([`crate::exact::brute_force`]) on uniform instances with
//!   `lcm(n, m) <= 9`, which also gives the worst plan, compared with the anti-monotone pairing;
//! * the dual certificate ([`crate::exact::dual`]) on every instance, up to `n = 10⁵`;
//! * the entropic bounds ([`crate::exact::entropic`]) on the medium instances.
//!
//! # Verdicts and tolerance
//!
//! Let `scale = max(1, |sorted cost|, |anti-monotone cost|, max_ij |h(u_i − v_j)|)` (for a
//! convex `h` the last is attained at `min u − max v` or `max u − min v`) and
//! `tol = CONVEX_TOLERANCE · scale` with [`CONVEX_TOLERANCE`] `= 1e-9`. A **convex** instance
//! agrees when every check passes:
//! `|sorted − LP| <= tol`, `|sorted − brute force| <= tol`, `|anti-monotone − worst| <= tol`, the
//! dual certificate's suboptimality bound `<= tol`, and `lower − tol <= sorted <= upper + tol`
//! for every entropic solve. The measured gaps are of order `1e-15 · scale`; the tolerance leaves
//! room for the LP, whose simplex method decides optimality with an internal tolerance relative
//! to the cost range (see the shortcoming in [`crate::exact::lp`]). A
//! **non-convex** instance is a counterexample when `sorted − optimum > tol`: sorting is then
//! provably not an optimal plan.
//!
//! # Reproducibility
//!
//! Instance `k` draws from `StdRng::seed_from_u64(mix(seed, k))`, instances are independent,
//! and rayon's ordered collect returns the records in instance order, so the records are the same
//! for every thread count. No timing enters a record. The library never prints: progress is a
//! callback called once per finished instance (from worker threads, in any order).
//!
//! # Examples
//!
//! ```
//! use aot::verify::{run_sweep, Plan, SweepConfig};
//!
//! let report = run_sweep(&SweepConfig { seed: 7, plan: Plan::Quick }, &|_| {})?;
//! assert_eq!(report.summary.disagreements, 0);
//! assert!(report.summary.max_abs_gap < 1e-9);
//! assert!(report.summary.counterexamples_found > 0); // the 0-1 and |x|^p, p < 1, costs
//! # Ok::<(), aot::Error>(())
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::Serialize;

use crate::cost::{Cost, Surrogate};
use crate::error::Result;
use crate::exact::brute_force::{brute_force, BRUTE_FORCE_MAX_ATOMS};
use crate::exact::dual::certify;
use crate::exact::entropic::{entropic_path, EntropicOptions};
use crate::exact::lp::lp_transport;
use crate::sample::Sample;
use crate::transport::{antitone_cost, comonotone_cost, comonotone_plan};

/// Relative tolerance of a convex instance: `|sorted − exact| <= CONVEX_TOLERANCE · scale`.
pub const CONVEX_TOLERANCE: f64 = 1e-9;

/// Largest `n·m` on which the sweep runs the LP.
pub const SWEEP_LP_MAX: usize = 3600;

/// Which instances to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// 862 instances up to `n = 10⁵` (under 20 s on 2 cores).
    Default,
    /// 203 instances up to `n = 2000` (under 3 s on 2 cores).
    Quick,
}

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SweepConfig {
    /// Master seed; instance `k` uses a seed derived from it and `k`.
    pub seed: u64,
    /// Size plan.
    pub plan: Plan,
}

/// The costs of the sweep: every surrogate of [`crate::cost`] at several slopes, margins and
/// smoothings, and the non-convex 0-1 and `|x|^p` (`p < 1`) costs.
///
/// # Examples
///
/// ```
/// use aot::cost::Cost;
/// let costs = aot::verify::sweep_costs();
/// assert_eq!(costs.len(), 19);
/// assert_eq!(costs.iter().filter(|h| !h.is_convex()).count(), 3);
/// ```
pub fn sweep_costs() -> Vec<Surrogate> {
    vec![
        Surrogate::Logistic { beta: 0.01 },
        Surrogate::Logistic { beta: 0.1 },
        Surrogate::Logistic { beta: 1.0 },
        Surrogate::Logistic { beta: 10.0 },
        Surrogate::SmoothedLogistic {
            beta: 1.0,
            smoothing: 0.1,
        },
        Surrogate::SmoothedLogistic {
            beta: 2.0,
            smoothing: 0.6,
        },
        Surrogate::Hinge { margin: 0.0 },
        Surrogate::Hinge { margin: 1.0 },
        Surrogate::SquaredHinge { margin: 0.0 },
        Surrogate::SquaredHinge { margin: 1.0 },
        Surrogate::LeastSquares { margin: 0.0 },
        Surrogate::LeastSquares { margin: 1.0 },
        Surrogate::AbsPower { p: 1.0 },
        Surrogate::AbsPower { p: 1.5 },
        Surrogate::AbsPower { p: 2.0 },
        Surrogate::AbsPower { p: 3.0 },
        Surrogate::ZeroOne,
        Surrogate::AbsPower { p: 0.5 },
        Surrogate::AbsPower { p: 0.25 },
    ]
}

/// The family of a cost: its name without parameters, with `abs_power` split by convexity.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, verify::family};
/// assert_eq!(family(&Surrogate::logistic(0.1)?), "logistic");
/// assert_eq!(family(&Surrogate::abs_power(0.5)?), "abs_power(p<1)");
/// # Ok::<(), aot::Error>(())
/// ```
pub fn family(cost: &Surrogate) -> &'static str {
    match cost {
        Surrogate::Logistic { .. } => "logistic",
        Surrogate::SmoothedLogistic { .. } => "smoothed_logistic",
        Surrogate::Hinge { .. } => "hinge",
        Surrogate::SquaredHinge { .. } => "squared_hinge",
        Surrogate::LeastSquares { .. } => "least_squares",
        Surrogate::ZeroOne => "zero_one",
        Surrogate::AbsPower { p } if *p >= 1.0 => "abs_power(p>=1)",
        Surrogate::AbsPower { .. } => "abs_power(p<1)",
    }
}

/// One instance's outcome. Optional fields are empty when the check did not run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceRecord {
    /// Position in the sweep.
    pub id: usize,
    /// Cost family, see [`family`].
    pub family: &'static str,
    /// The cost with its parameters.
    pub cost: String,
    /// Whether the cost is convex.
    pub convex: bool,
    /// Size class: `tiny_equal`, `tiny_unequal`, `weighted`, `medium` or `large`.
    pub size_class: &'static str,
    /// Atoms of `U` (input values; zero-weight ones included).
    pub n: usize,
    /// Atoms of `V`.
    pub m: usize,
    /// Whether the weights are non-uniform.
    pub weighted: bool,
    /// Seed of this instance's generator.
    pub seed: u64,
    /// Cost of the comonotone (sorted) plan.
    pub sorted_cost: f64,
    /// Cost of the anti-monotone plan.
    pub antitone_cost: f64,
    /// LP optimum.
    pub lp_cost: Option<f64>,
    /// Brute-force optimum.
    pub brute_force_cost: Option<f64>,
    /// Brute-force worst plan.
    pub worst_cost: Option<f64>,
    /// The best exact optimum available (LP or brute force).
    pub exact_cost: Option<f64>,
    /// `|sorted − exact|` (convex) or `sorted − exact` (non-convex).
    pub abs_gap: Option<f64>,
    /// `|anti-monotone − worst|`.
    pub worst_gap: Option<f64>,
    /// Suboptimality bound of the dual certificate (duality gap plus feasibility violation).
    pub duality_gap: Option<f64>,
    /// The largest dual-feasibility violation (large for non-convex costs).
    pub dual_violation: Option<f64>,
    /// Entropic solves run.
    pub entropic_solves: usize,
    /// Entropic solves whose marginal error met the tolerance.
    pub entropic_converged: usize,
    /// Smallest entropic `ε`, relative to the cost range.
    pub entropic_relative_epsilon: Option<f64>,
    /// Entropic lower bound at the smallest `ε`.
    pub entropic_lower: Option<f64>,
    /// Entropic upper bound at the smallest `ε`.
    pub entropic_upper: Option<f64>,
    /// Termination reasons of the entropic solves, `; `-separated.
    pub entropic_terminations: String,
    /// `CONVEX_TOLERANCE · scale`.
    pub tolerance: f64,
    /// Convex cost and every check within tolerance (always true for non-convex costs).
    pub agrees: bool,
    /// Non-convex cost and `sorted − exact > tolerance`.
    pub counterexample: bool,
    /// A solver error, if one stopped a check (counts as a disagreement for convex costs).
    pub error: String,
    /// The samples as `u=[..] v=[..]` (values with their weights when weighted) for instances
    /// of at most 10 atoms a side, so a counterexample can be checked by hand; empty otherwise.
    pub samples: String,
}

/// One entropic solve of the sweep, for the convergence table and plot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntropicRecord {
    /// Instance id.
    pub id: usize,
    /// Cost.
    pub cost: String,
    /// Sizes.
    pub n: usize,
    /// Sizes.
    pub m: usize,
    /// `ε` relative to the cost range.
    pub relative_epsilon: f64,
    /// Absolute `ε`.
    pub epsilon: f64,
    /// The sorted cost.
    pub sorted_cost: f64,
    /// `G_ε(ψ)`.
    pub semi_dual: f64,
    /// Lower bound on OT.
    pub lower_bound: f64,
    /// Upper bound on OT.
    pub upper_bound: f64,
    /// Column-marginal error.
    pub marginal_error: f64,
    /// L-BFGS iterations.
    pub iterations: u64,
    /// argmin's termination reason.
    pub termination: String,
    /// Whether the marginal tolerance was met.
    pub converged: bool,
}

/// Aggregates of one cost family (or of the whole sweep).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Family name (`all` for the whole sweep).
    pub family: String,
    /// Whether the family is convex.
    pub convex: bool,
    /// Instances.
    pub instances: usize,
    /// Instances with an exact optimum (LP or brute force).
    pub exact_checked: usize,
    /// Largest `|sorted − exact|` over convex instances.
    pub max_abs_gap: f64,
    /// Largest dual suboptimality bound over convex instances.
    pub max_duality_gap: f64,
    /// Largest `|anti-monotone − worst|` over convex instances.
    pub max_worst_gap: f64,
    /// Non-convex instances where sorting is not optimal.
    pub counterexamples_found: usize,
    /// Largest `sorted − optimum` over non-convex instances.
    pub max_counterexample_gap: f64,
    /// Entropic solves, and how many converged.
    pub entropic_solves: usize,
    /// Converged entropic solves.
    pub entropic_converged: usize,
    /// Convex instances failing a check.
    pub disagreements: usize,
}

/// Everything a sweep found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    /// The configuration run.
    pub config: SweepConfig,
    /// One record per instance, in instance order.
    pub records: Vec<InstanceRecord>,
    /// Every entropic solve.
    pub entropic: Vec<EntropicRecord>,
    /// One summary per family, in the order of [`sweep_costs`].
    pub families: Vec<Summary>,
    /// The whole sweep.
    pub summary: Summary,
}

/// One planned instance.
#[derive(Debug, Clone, Copy)]
struct Spec {
    id: usize,
    cost: Surrogate,
    class: &'static str,
    n: usize,
    m: usize,
    weighted: bool,
}

/// The instances of a plan, in order.
fn specs(plan: Plan) -> Vec<Spec> {
    let quick = plan == Plan::Quick;
    let mut out = Vec::new();
    for cost in sweep_costs() {
        let convex = cost.is_convex();
        let mut push = |class, n, m, weighted| {
            out.push(Spec {
                id: 0,
                cost,
                class,
                n,
                m,
                weighted,
            });
        };
        let equal: &[usize] = if quick {
            &[2, 3, 5, 7]
        } else {
            &[1, 2, 3, 4, 5, 6, 7, 8]
        };
        let reps = if quick { 1 } else { 3 };
        for &n in equal {
            for _ in 0..reps {
                push("tiny_equal", n, n, false);
            }
        }
        let unequal: &[(usize, usize)] = if quick {
            &[(2, 3), (3, 9)]
        } else {
            &[
                (2, 3),
                (3, 2),
                (1, 5),
                (4, 2),
                (2, 8),
                (3, 9),
                (9, 1),
                (6, 3),
            ]
        };
        for &(n, m) in unequal {
            push("tiny_unequal", n, m, false);
        }
        for k in 0..(if quick { 3 } else { 10 }) {
            push("weighted", 2 + k % 9, 3 + (5 * k) % 10, true);
        }
        if convex {
            let medium: &[(usize, usize)] = if quick {
                &[(20, 15)]
            } else {
                &[(40, 30), (25, 60)]
            };
            for &(n, m) in medium {
                push("medium", n, m, n != m);
            }
            let large: &[(usize, usize)] = if quick {
                &[(2000, 1500)]
            } else {
                &[(2000, 1500), (100_000, 80_000)]
            };
            for &(n, m) in large {
                push("large", n, m, true);
            }
        }
    }
    for (id, s) in out.iter_mut().enumerate() {
        s.id = id;
    }
    out
}

/// SplitMix64 finaliser: decorrelates the seeds of consecutive instances.
fn mix(seed: u64, id: u64) -> u64 {
    let mut z = seed ^ id.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Two samples: `U ~ N(μ, σ²)` with `μ ∈ [−1, 1]`, `σ ∈ [0.5, 2]`, `V ~ N(0, 1)`; in one
/// instance out of four both are rounded to multiples of 1/2 (ties); weights uniform on
/// `[0, 1]` with one in ten set to zero when `weighted`.
fn draw(spec: &Spec, rng: &mut StdRng) -> Result<(Sample, Sample)> {
    let mu: f64 = rng.random_range(-1.0..1.0);
    let sigma: f64 = rng.random_range(0.5..2.0);
    let ties = rng.random_bool(0.25);
    let mut values = |len: usize, mu: f64, sigma: f64| -> Vec<f64> {
        (0..len)
            .map(|_| {
                let z: f64 = rng.sample(StandardNormal);
                let x = mu + sigma * z;
                if ties {
                    (2.0 * x).round() / 2.0
                } else {
                    x
                }
            })
            .collect()
    };
    let (u, v) = (values(spec.n, mu, sigma), values(spec.m, 0.0, 1.0));
    if !spec.weighted {
        return Ok((Sample::new(&u)?, Sample::new(&v)?));
    }
    let mut weights = |len: usize| -> Vec<f64> {
        let mut w: Vec<f64> = (0..len)
            .map(|_| {
                if rng.random_bool(0.1) {
                    0.0
                } else {
                    rng.random::<f64>()
                }
            })
            .collect();
        // Keep at least one atom.
        if w.iter().all(|&x| x == 0.0) {
            w[0] = 1.0;
        }
        w
    };
    let (a, b) = (weights(spec.n), weights(spec.m));
    Ok((Sample::weighted(&u, &a)?, Sample::weighted(&v, &b)?))
}

/// Runs one instance.
fn run_instance(spec: &Spec, seed: u64) -> Result<(InstanceRecord, Vec<EntropicRecord>)> {
    let instance_seed = mix(seed, spec.id as u64);
    let mut rng = StdRng::seed_from_u64(instance_seed);
    let (u, v) = draw(spec, &mut rng)?;
    let h = &spec.cost;
    let convex = h.is_convex();
    let sorted = comonotone_cost(&u, &v, h)?;
    let antitone = antitone_cost(&u, &v, h)?;
    // For a convex h the largest |c_ij| sits at an extreme gap, min u − max v or max u − min v.
    let extreme = h
        .value(u.min() - v.max())
        .abs()
        .max(h.value(u.max() - v.min()).abs());
    let scale = 1f64.max(sorted.abs()).max(antitone.abs()).max(extreme);
    let tol = CONVEX_TOLERANCE * scale;
    let mut errors = Vec::new();

    let lp = if u.len() * v.len() <= SWEEP_LP_MAX {
        match lp_transport(&u, &v, h) {
            Ok(s) => Some(s.cost),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        }
    } else {
        None
    };
    let uniform = u.is_uniform() && v.is_uniform();
    let brute = if uniform && lcm(u.len(), v.len()) <= BRUTE_FORCE_MAX_ATOMS {
        Some(brute_force(&u, &v, h)?)
    } else {
        None
    };
    let brute_cost = brute.as_ref().map(|b| b.best.cost);
    let worst = brute.as_ref().map(|b| b.worst.cost);
    let exact = match (lp, brute_cost) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    // The sorted plan, for convex and non-convex costs alike (for the latter the certificate
    // is expected to fail).
    let plan = comonotone_plan(&u, &v, h)?;
    let cert = certify(&u, &v, &plan, h)?;

    let mut entropic = Vec::new();
    if spec.class == "medium" {
        let opts = EntropicOptions {
            relative_epsilons: vec![1e-1, 3e-2, 1e-2, 3e-3, 1e-3],
            ..EntropicOptions::default()
        };
        let path = entropic_path(&u, &v, h, &opts)?;
        for (s, &rel) in path.iter().zip(&opts.relative_epsilons) {
            entropic.push(EntropicRecord {
                id: spec.id,
                cost: h.to_string(),
                n: u.input_len(),
                m: v.input_len(),
                relative_epsilon: rel,
                epsilon: s.epsilon,
                sorted_cost: sorted,
                semi_dual: s.semi_dual,
                lower_bound: s.lower_bound,
                upper_bound: s.upper_bound,
                marginal_error: s.marginal_error,
                iterations: s.iterations,
                termination: s.termination.clone(),
                converged: s.converged,
            });
        }
    }

    let abs_gap = exact.map(|e| {
        if convex {
            (sorted - e).abs()
        } else {
            sorted - e
        }
    });
    let worst_gap = worst.map(|w| (antitone - w).abs());
    let within = |x: Option<f64>| x.is_none_or(|g| g <= tol);
    let entropic_ok = entropic
        .iter()
        .all(|e| e.lower_bound - tol <= sorted && sorted <= e.upper_bound + tol);
    let agrees = !convex
        || (errors.is_empty()
            && within(abs_gap)
            && within(worst_gap)
            && cert.suboptimality_bound() <= tol
            && entropic_ok);
    let counterexample = !convex && abs_gap.is_some_and(|g| g > tol);
    let last = entropic.last();
    let record = InstanceRecord {
        id: spec.id,
        family: family(h),
        cost: h.to_string(),
        convex,
        size_class: spec.class,
        n: u.input_len(),
        m: v.input_len(),
        weighted: spec.weighted,
        seed: instance_seed,
        sorted_cost: sorted,
        antitone_cost: antitone,
        lp_cost: lp,
        brute_force_cost: brute_cost,
        worst_cost: worst,
        exact_cost: exact,
        abs_gap,
        worst_gap,
        duality_gap: Some(cert.suboptimality_bound()),
        dual_violation: Some(cert.max_violation),
        entropic_solves: entropic.len(),
        entropic_converged: entropic.iter().filter(|e| e.converged).count(),
        entropic_relative_epsilon: last.map(|e| e.relative_epsilon),
        entropic_lower: last.map(|e| e.lower_bound),
        entropic_upper: last.map(|e| e.upper_bound),
        entropic_terminations: entropic
            .iter()
            .map(|e| e.termination.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        tolerance: tol,
        agrees,
        counterexample,
        error: errors.join("; "),
        samples: describe_samples(&u, &v),
    };
    Ok((record, entropic))
}

/// `u=[x, ..] v=[y, ..]` by input order, with `x@w` for weighted samples; empty above 10 atoms.
fn describe_samples(u: &Sample, v: &Sample) -> String {
    if u.len() > 10 || v.len() > 10 {
        return String::new();
    }
    let one = |s: &Sample| {
        let mut atoms: Vec<(usize, f64, f64)> = (0..s.len())
            .map(|k| (s.original_index(k), s.sorted_values()[k], s.mass(k)))
            .collect();
        atoms.sort_by_key(|a| a.0);
        let items: Vec<String> = atoms
            .iter()
            .map(|&(_, x, w)| {
                if s.is_uniform() {
                    format!("{x:.4}")
                } else {
                    format!("{x:.4}@{w:.4}")
                }
            })
            .collect();
        format!("[{}]", items.join(", "))
    };
    format!("u={} v={}", one(u), one(v))
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

/// Runs the sweep in parallel (rayon) and aggregates it; `progress` is called once per finished
/// instance with its record.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use aot::verify::{run_sweep, Plan, SweepConfig};
///
/// let done = AtomicUsize::new(0);
/// let report = run_sweep(&SweepConfig { seed: 1, plan: Plan::Quick }, &|_| {
///     done.fetch_add(1, Ordering::Relaxed);
/// })?;
/// assert_eq!(done.into_inner(), report.records.len());
/// # Ok::<(), aot::Error>(())
/// ```
///
/// # Errors
///
/// Only an error that no instance should produce (a sample rejected, a non-finite cost): a
/// failing exact solver is recorded in [`InstanceRecord::error`] and counted as a disagreement
/// instead.
pub fn run_sweep(
    config: &SweepConfig,
    progress: &(dyn Fn(&InstanceRecord) + Sync),
) -> Result<SweepReport> {
    let specs = specs(config.plan);
    let results: Vec<(InstanceRecord, Vec<EntropicRecord>)> = specs
        .par_iter()
        .map(|spec| {
            let out = run_instance(spec, config.seed)?;
            progress(&out.0);
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let (records, entropic): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    let entropic: Vec<EntropicRecord> = entropic.into_iter().flatten().collect();
    let mut families = Vec::new();
    for cost in sweep_costs() {
        let name = family(&cost);
        if families.iter().any(|f: &Summary| f.family == name) {
            continue;
        }
        let members: Vec<&InstanceRecord> = records.iter().filter(|r| r.family == name).collect();
        families.push(summarise(name, cost.is_convex(), &members));
    }
    let all: Vec<&InstanceRecord> = records.iter().collect();
    let summary = summarise("all", false, &all);
    Ok(SweepReport {
        config: *config,
        records,
        entropic,
        families,
        summary,
    })
}

/// Number of instances a plan runs.
///
/// # Examples
///
/// ```
/// use aot::verify::{instance_count, Plan};
/// assert_eq!(instance_count(Plan::Quick), 203);
/// ```
pub fn instance_count(plan: Plan) -> usize {
    specs(plan).len()
}

fn summarise(name: &str, convex: bool, records: &[&InstanceRecord]) -> Summary {
    let max = |it: &mut dyn Iterator<Item = f64>| it.fold(0.0f64, f64::max);
    let convex_records = || records.iter().filter(|r| r.convex);
    Summary {
        family: name.to_string(),
        convex,
        instances: records.len(),
        exact_checked: records.iter().filter(|r| r.exact_cost.is_some()).count(),
        max_abs_gap: max(&mut convex_records().filter_map(|r| r.abs_gap)),
        max_duality_gap: max(&mut convex_records().filter_map(|r| r.duality_gap)),
        max_worst_gap: max(&mut convex_records().filter_map(|r| r.worst_gap)),
        counterexamples_found: records.iter().filter(|r| r.counterexample).count(),
        max_counterexample_gap: max(&mut records
            .iter()
            .filter(|r| !r.convex)
            .filter_map(|r| r.abs_gap)),
        entropic_solves: records.iter().map(|r| r.entropic_solves).sum(),
        entropic_converged: records.iter().map(|r| r.entropic_converged).sum(),
        disagreements: records.iter().filter(|r| !r.agrees).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_have_the_documented_sizes() {
        // 16 convex costs × (8·3 + 8 + 10 + 2 + 2) + 3 non-convex × (8·3 + 8 + 10) = 736 + 126.
        assert_eq!(instance_count(Plan::Default), 862);
        // 16 × (4 + 2 + 3 + 1 + 1) + 3 × (4 + 2 + 3) = 176 + 27.
        assert_eq!(instance_count(Plan::Quick), 203);
    }

    #[test]
    fn seeds_differ_between_instances() {
        assert_ne!(mix(0, 0), mix(0, 1));
        assert_ne!(mix(0, 0), mix(1, 0));
    }
}
