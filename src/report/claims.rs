//! The checks of the registry, one function per claim of notes §9, and the dominance section
//! for a pair of reward samples (built-in or the user's own).

use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use super::{ClaimSpec, Figure, Outcome, Plot, Settings, Verdict};
use crate::cost::{Cost, Surrogate};
use crate::coupling::segments;
use crate::dominance::{fsd, violation, Dominance};
use crate::error::{Error, Result};
use crate::exact::brute_force::brute_force;
use crate::exact::dual::certify;
use crate::exact::lp::lp_transport;
use crate::objective::{preference_loss, Loss, PreferenceBatch};
use crate::plot::{Chart, Series};
use crate::population::Population;
use crate::sample::Sample;
use crate::study::{ExcessConfig, RateConfig, RateReport, RunOptions, RunOutcome, Variant};
use crate::transport::{antitone_cost, comonotone_cost, ot_cost, ot_plan};

/// Tolerance for identities that hold exactly in real arithmetic and are computed by a few
/// dozen floating-point operations on values of order one.
const EXACT_TOL: f64 = 1e-12;

/// A random stream for one claim, derived from the report seed and the claim's name (FNV-1a),
/// so adding or reordering claims never changes another claim's draws.
fn stream(settings: &Settings, id: &str) -> StdRng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    StdRng::seed_from_u64(settings.seed ^ h)
}

fn normals(rng: &mut StdRng, n: usize, mean: f64, sd: f64) -> Vec<f64> {
    (0..n)
        .map(|_| mean + sd * rng.sample::<f64, _>(StandardNormal))
        .collect()
}

/// Convex costs of the paper with the parameters the report sweeps.
fn convex_costs() -> Result<Vec<Surrogate>> {
    Ok(vec![
        Surrogate::logistic(0.01)?,
        Surrogate::logistic(1.0)?,
        Surrogate::logistic(5.0)?,
        Surrogate::smoothed_logistic(1.0, 0.1)?,
        Surrogate::smoothed_logistic(1.0, 0.6)?,
        Surrogate::hinge(0.0)?,
        Surrogate::hinge(1.0)?,
        Surrogate::squared_hinge(0.5)?,
        Surrogate::least_squares(1.0)?,
        Surrogate::abs_power(1.5)?,
    ])
}

fn holds_if(ok: bool) -> Verdict {
    if ok {
        Verdict::Holds
    } else {
        Verdict::Fails
    }
}

/// Every claim of the report, in the order of notes §9.
pub fn registry() -> Vec<ClaimSpec> {
    vec![
        ClaimSpec {
            id: "sorting-is-optimal",
            title: "Sorting gives the exact optimal transport plan for convex h",
            statement: "For convex h, OT_h(U, V) = min over couplings of E h(u − v) equals \
                        ∫ h(Q_U − Q_V) dp, attained by pairing sorted values (notes §2.1–2.2).",
            source: "Santambrogio (2015), Thm 2.9 and Prop 2.17, as quoted in the co-author's \
                     slides; notes §9.1",
            run: sorting_is_optimal,
        },
        ClaimSpec {
            id: "zero-one-not-optimal",
            title: "Sorting is not optimal for the 0-1 cost",
            statement:
                "For the non-convex h(x) = 1{x < 0} the sorted pairing can cost more than the \
                        optimum: U = {0, 2}, V = {1, 3} costs 1 sorted and 1/2 crossed. So the \
                        quantile 0-1 violation is not an OT cost, and it is always >= OT_{0-1}.",
            source: "notes §2.3 and §9.2",
            run: zero_one_not_optimal,
        },
        ClaimSpec {
            id: "unequal-sizes",
            title: "Unequal sizes and weights: the merged quantile integral is the exact optimum",
            statement: "For n ≠ m atoms with any weights, merging the two step quantile functions \
                        gives the optimal cost and a plan with at most n + m − 1 entries.",
            source: "notes §2.4 and §9.3",
            run: unequal_sizes,
        },
        ClaimSpec {
            id: "batch-of-one-is-dpo",
            title: "With one pair, both AOT losses are the DPO loss",
            statement: "For n = 1 there is nothing to sort: AOT paired = AOT unpaired = DPO.",
            source: "notes §3.3 and §9.4",
            run: batch_of_one_is_dpo,
        },
        ClaimSpec {
            id: "sandwich",
            title: "h(mean gap) <= AOT <= DPO",
            statement:
                "For any batch and convex h, h(ū − v̄) <= AOT loss <= DPO loss, for the paired \
                        and the unpaired loss (Jensen below; the identity pairing is one coupling \
                        above).",
            source: "notes §3.3 and §9.5",
            run: sandwich,
        },
        ClaimSpec {
            id: "invariances",
            title: "Shift, scale and permutation laws",
            statement:
                "AOT(βu, βv; h_1) = AOT(u, v; h_β) for the β-logistic; adding a constant to \
                        both sides changes nothing; permuting u (or v) changes nothing.",
            source: "notes §9.6",
            run: invariances,
        },
        ClaimSpec {
            id: "gradient-formula",
            title: "The gradient of the sorted objective",
            statement: "Away from ties, ∂L/∂u_j = h'(u_j − v_(rank u_j))/n and \
                        ∂L/∂v_k = −h'(u_(rank v_k) − v_k)/n; the gradients of u and v sum to zero.",
            source: "notes §2.5 and §9.7",
            run: gradient_formula,
        },
        ClaimSpec {
            id: "label-smoothing-minimiser",
            title: "Label smoothing sets a target gap",
            statement:
                "The smoothed logistic (1−ε) softplus(−βx) + ε softplus(βx) is minimised at \
                        x* = log((1−ε)/ε)/β (e.g. β = 2, ε = 0.1 gives 1.0986).",
            source: "notes §3.4 and §9.8 (label smoothing is a TRL addition, not in the paper)",
            run: label_smoothing_minimiser,
        },
        ClaimSpec {
            id: "relaxation-bound",
            title: "The relaxed violation bounds the true one",
            statement: "ε_{0-1} <= ε_h / h(0) when h is nonincreasing on (−∞, 0] with h(0) > 0 \
                        (logistic: h(0) = log 2; hinge: β; squared hinge and least squares: β²).",
            source: "notes §1.5 and §9.9 (elementary; not seen stated in the sources)",
            run: relaxation_bound,
        },
        ClaimSpec {
            id: "dominance-gives-small-violation",
            title: "Under dominance the empirical violation vanishes",
            statement: "If U ≽_FSD V, the empirical 0-1 violation tends to 0 and ε_h tends to \
                        ∫ h(Q_U − Q_V) <= h(0) for nonincreasing h.",
            source: "notes §9.12",
            run: dominance_gives_small_violation,
        },
        ClaimSpec {
            id: "parametric-rate",
            title: "The empirical violation converges at the rate n^-1/2",
            statement: "For fixed laws and a Lipschitz h, E|ε̂_n − ε| = O(n^-1/2), below the bound \
                        L·(J_U + J_V)/√n with J = ∫ √(F(1 − F)) (notes §4.3; the paper proves a \
                        parametric rate through the dual of the OT problem).",
            source: "paper Sec. 4 (reconstructed, notes §4.2); fixed-θ version derived in notes \
                     §4.3; notes §9.10",
            run: parametric_rate,
        },
        ClaimSpec {
            id: "upward-bias",
            title: "The plug-in violation is biased upward",
            statement: "E ε̂_n >= ε (duality: the population-optimal potentials give a lower \
                        bound whose expectation is exact); in smooth cases the bias is O(1/n).",
            source: "notes §4.3 and §9.11",
            run: upward_bias,
        },
        ClaimSpec {
            id: "erm-excess-risk",
            title: "The minimiser of the empirical objective has vanishing excess risk",
            statement: "For a small parametric family of reward laws, the population excess risk \
                        ε_h(θ̂_n) − min ε_h of the empirical AOT minimiser decays at least as fast \
                        as n^-1/2 (the theorem's rate is an upper bound).",
            source: "paper Sec. 4 (reconstructed, notes §4.2); notes §9.13",
            run: erm_excess_risk,
        },
        ClaimSpec {
            id: "antitone-is-worst",
            title: "The anti-monotone pairing is the worst plan",
            statement:
                "For convex h, pairing ascending with descending maximises the cost over all \
                        couplings; a port that sorts one side descending maximises the violation.",
            source: "notes §7 and §9.15",
            run: antitone_is_worst,
        },
    ]
}

fn sorting_is_optimal(s: &Settings) -> Result<Outcome> {
    let mut rng = stream(s, "sorting-is-optimal");
    let (instances, big_n) = if s.quick { (40, 2_000) } else { (200, 50_000) };
    let costs = convex_costs()?;
    let (mut max_bf, mut max_lp, mut max_cert, mut count) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    let mut points = Vec::new();
    for k in 0..instances {
        let n = 2 + k % 6;
        let u = Sample::new(&normals(&mut rng, n, 0.0, 1.0))?;
        let v = Sample::new(&normals(&mut rng, n, 0.3, 1.5))?;
        for h in &costs {
            let sorted = ot_cost(&u, &v, h)?;
            let bf = brute_force(&u, &v, h)?.best.cost;
            let lp = lp_transport(&u, &v, h)?.cost;
            let scale = 1.0 + sorted.abs();
            max_bf = max_bf.max((sorted - bf).abs() / scale);
            max_lp = max_lp.max((sorted - lp).abs() / scale);
            // Zero costs (hinge with margin 0 under dominance) have no place on log axes.
            if lp > 0.0 && sorted > 0.0 {
                points.push((lp, sorted));
            }
            count += 1;
        }
    }
    // Large instance: the dual certificate replaces the LP.
    let u = Sample::new(&normals(&mut rng, big_n, 0.0, 1.0))?;
    let v = Sample::weighted(
        &normals(&mut rng, big_n / 2 + 1, 0.2, 1.2),
        &(0..big_n / 2 + 1)
            .map(|_| rng.random_range(0.1..2.0))
            .collect::<Vec<_>>(),
    )?;
    for h in &costs {
        let plan = ot_plan(&u, &v, h)?;
        max_cert = max_cert.max(certify(&u, &v, &plan, h)?.suboptimality_bound());
    }
    let chart = Chart::new(
        "Sorted cost vs exact LP optimum",
        "LP optimum",
        "cost of the sorted plan",
    )
    .log_x()
    .log_y()
    .series(Series::points(
        "instances (10 convex costs)",
        points.clone(),
    ))
    .series(Series::dashed("y = x", {
        let lo = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let hi = points.iter().map(|p| p.0).fold(0.0, f64::max);
        vec![(lo, lo), (hi, hi)]
    }));
    let ok = max_bf < EXACT_TOL && max_lp < 1e-9 && max_cert < 1e-9;
    Ok(Outcome {
        check: format!(
            "{count} instances ({instances} pairs of normal samples, n = 2..7, times {} convex \
             costs: logistic β ∈ {{0.01, 1, 5}}, smoothed logistic, hinge, squared hinge, least \
             squares, |x|^1.5) solved by sorting, by brute force over all n! permutations and by \
             the simplex LP; plus a dual certificate for n = {big_n} vs a weighted sample of \
             size {}.",
            costs.len(),
            big_n / 2 + 1
        ),
        figures: vec![
            Figure::new(
                "max relative |sorted − brute force|",
                max_bf,
                "tolerance 1e-12",
            ),
            Figure::new(
                "max relative |sorted − LP|",
                max_lp,
                "tolerance 1e-9 (simplex pivots)",
            ),
            Figure::new(
                "max certified suboptimality (large n)",
                max_cert,
                "tolerance 1e-9",
            ),
        ],
        verdict: holds_if(ok),
        charts: vec![Plot {
            stem: "sorting-vs-lp".into(),
            caption: "Every instance lies on the diagonal: the sorted plan is optimal.".into(),
            chart,
        }],
    })
}

fn zero_one_not_optimal(s: &Settings) -> Result<Outcome> {
    let h = Surrogate::zero_one();
    let (u, v) = (Sample::new(&[0.0, 2.0])?, Sample::new(&[1.0, 3.0])?);
    let sorted = comonotone_cost(&u, &v, &h)?;
    let optimum = brute_force(&u, &v, &h)?.best.cost;
    let rejected = ot_cost(&u, &v, &h).is_err();
    let mut rng = stream(s, "zero-one-not-optimal");
    let trials = if s.quick { 300 } else { 2_000 };
    let (mut suboptimal, mut quantile_below_ot) = (0usize, 0usize);
    for k in 0..trials {
        let n = 2 + k % 4;
        let a = Sample::new(&normals(&mut rng, n, 0.0, 1.0))?;
        let b = Sample::new(&normals(&mut rng, n, 0.0, 1.0))?;
        let (q, ot) = (
            comonotone_cost(&a, &b, &h)?,
            brute_force(&a, &b, &h)?.best.cost,
        );
        if q > ot + EXACT_TOL {
            suboptimal += 1;
        }
        if q < ot - EXACT_TOL {
            quantile_below_ot += 1;
        }
    }
    let rate = suboptimal as f64 / trials as f64;
    let ok =
        sorted == 1.0 && (optimum - 0.5).abs() < EXACT_TOL && rejected && quantile_below_ot == 0;
    Ok(Outcome {
        check: format!(
            "the hand example by brute force; then {trials} pairs of standard normal samples, \
             n = 2..5, comparing the sorted 0-1 cost with the brute-force optimum; and the sorting \
             solver must refuse the non-convex cost."
        ),
        figures: vec![
            Figure::new("sorted 0-1 cost, U={0,2}, V={1,3}", sorted, "1 by hand"),
            Figure::new("optimal 0-1 cost", optimum, "1/2 by hand"),
            Figure::new(
                "fraction of random instances where sorting is sub-optimal",
                rate,
                "notes: about 0.39",
            ),
            Figure::new(
                "instances with quantile violation < OT_{0-1}",
                quantile_below_ot as f64,
                "must be 0",
            ),
        ],
        verdict: holds_if(ok && suboptimal > 0),
        charts: Vec::new(),
    })
}

fn unequal_sizes(s: &Settings) -> Result<Outcome> {
    let mut rng = stream(s, "unequal-sizes");
    let sizes = [(2, 3), (3, 2), (2, 4), (1, 3), (3, 1), (3, 6), (4, 6)];
    let costs = convex_costs()?;
    let reps = if s.quick { 5 } else { 25 };
    let (mut max_bf, mut max_lp, mut max_entries_excess, mut count) = (0.0f64, 0.0f64, 0i64, 0);
    for &(n, m) in &sizes {
        for _ in 0..reps {
            let u = Sample::new(&normals(&mut rng, n, 0.0, 1.0))?;
            let v = Sample::new(&normals(&mut rng, m, 0.2, 1.3))?;
            let wu: Vec<f64> = (0..n + 2).map(|_| rng.random_range(0.05..1.0)).collect();
            let uw = Sample::weighted(&normals(&mut rng, n + 2, 0.0, 1.0), &wu)?;
            for h in &costs {
                let plan = ot_plan(&u, &v, h)?;
                max_entries_excess =
                    max_entries_excess.max(plan.entries.len() as i64 - (n + m - 1) as i64);
                let scale = 1.0 + plan.cost.abs();
                if n * m / gcd(n, m) <= 9 {
                    max_bf =
                        max_bf.max((plan.cost - brute_force(&u, &v, h)?.best.cost).abs() / scale);
                }
                let weighted = ot_cost(&uw, &v, h)?;
                let lp = lp_transport(&uw, &v, h)?.cost;
                max_lp = max_lp.max((weighted - lp).abs() / (1.0 + weighted.abs()));
                count += 1;
            }
        }
    }
    let ok = max_bf < EXACT_TOL && max_lp < 1e-9 && max_entries_excess <= 0;
    Ok(Outcome {
        check: format!(
            "{count} instances: sizes (n, m) ∈ {sizes:?}, {reps} draws each, {} convex costs; \
             uniform weights against brute force over lcm(n, m)-replicated permutations, and a \
             randomly weighted sample of size n + 2 against the simplex LP.",
            costs.len()
        ),
        figures: vec![
            Figure::new(
                "max relative |merged − brute force|",
                max_bf,
                "tolerance 1e-12",
            ),
            Figure::new(
                "max relative |merged − LP| (weighted)",
                max_lp,
                "tolerance 1e-9",
            ),
            Figure::new(
                "max (plan entries − (n + m − 1))",
                max_entries_excess as f64,
                "must be <= 0",
            ),
        ],
        verdict: holds_if(ok),
        charts: Vec::new(),
    })
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn random_batch(rng: &mut StdRng, n: usize) -> [Vec<f64>; 4] {
    [
        normals(rng, n, -20.0, 3.0),
        normals(rng, n, -22.0, 3.0),
        normals(rng, n, -20.5, 3.0),
        normals(rng, n, -21.5, 3.0),
    ]
}

fn batch(b: &[Vec<f64>; 4]) -> PreferenceBatch<'_> {
    PreferenceBatch {
        policy_chosen: &b[0],
        policy_rejected: &b[1],
        reference_chosen: &b[2],
        reference_rejected: &b[3],
    }
}

fn batch_of_one_is_dpo(s: &Settings) -> Result<Outcome> {
    let mut rng = stream(s, "batch-of-one-is-dpo");
    let trials = if s.quick { 200 } else { 2_000 };
    let costs = convex_costs()?;
    let mut max_diff = 0.0f64;
    for _ in 0..trials {
        let b = random_batch(&mut rng, 1);
        for h in &costs {
            let dpo = preference_loss(&batch(&b), Loss::Dpo, h)?;
            for loss in [Loss::AotPaired, Loss::AotUnpaired] {
                let aot = preference_loss(&batch(&b), loss, h)?;
                max_diff = max_diff.max((aot.value - dpo.value).abs());
                for (g, d) in aot.grad_policy_chosen.iter().zip(&dpo.grad_policy_chosen) {
                    max_diff = max_diff.max((g - d).abs());
                }
            }
        }
    }
    Ok(Outcome {
        check: format!(
            "{trials} random single pairs of log-probabilities, {} convex costs, both AOT losses \
             and their gradients against DPO.",
            costs.len()
        ),
        figures: vec![Figure::new(
            "max |AOT − DPO| (values and gradients)",
            max_diff,
            "exactly 0 expected",
        )],
        verdict: holds_if(max_diff == 0.0),
        charts: Vec::new(),
    })
}

fn sandwich(s: &Settings) -> Result<Outcome> {
    let mut rng = stream(s, "sandwich");
    let trials = if s.quick { 100 } else { 500 };
    let costs = convex_costs()?;
    let (mut max_upper, mut max_lower) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let mut points = Vec::new();
    let h1 = Surrogate::logistic(1.0)?;
    for _ in 0..trials {
        let n = rng.random_range(2..32);
        let b = random_batch(&mut rng, n);
        let pb = batch(&b);
        let u = pb.chosen_log_ratios();
        let v = pb.rejected_log_ratios();
        let mean_gap = (u.iter().sum::<f64>() - v.iter().sum::<f64>()) / n as f64;
        for h in &costs {
            let dpo = preference_loss(&pb, Loss::Dpo, h)?.value;
            for loss in [Loss::AotPaired, Loss::AotUnpaired] {
                let aot = preference_loss(&pb, loss, h)?.value;
                let scale = 1.0 + dpo.abs();
                max_upper = max_upper.max((aot - dpo) / scale);
                max_lower = max_lower.max((h.value(mean_gap) - aot) / scale);
            }
        }
        points.push((
            preference_loss(&pb, Loss::Dpo, &h1)?.value,
            preference_loss(&pb, Loss::AotUnpaired, &h1)?.value,
        ));
    }
    let hi = points.iter().map(|p| p.0.max(p.1)).fold(0.0, f64::max);
    let chart = Chart::new(
        "AOT unpaired vs DPO (logistic, β = 1)",
        "DPO loss",
        "AOT loss",
    )
    .series(Series::points("random batches, n = 2..31", points))
    .series(Series::dashed("AOT = DPO", vec![(0.0, 0.0), (hi, hi)]));
    Ok(Outcome {
        check: format!(
            "{trials} random batches of log-probabilities, n = 2..31, {} convex costs, paired \
             and unpaired losses.",
            costs.len()
        ),
        figures: vec![
            Figure::new(
                "max (AOT − DPO)/(1 + DPO)",
                max_upper,
                "<= 1e-12 expected (notes: 1.8e-15)",
            ),
            Figure::new(
                "max (h(mean gap) − AOT)/(1 + DPO)",
                max_lower,
                "<= 1e-12 expected",
            ),
        ],
        verdict: holds_if(max_upper <= EXACT_TOL && max_lower <= EXACT_TOL),
        charts: vec![Plot {
            stem: "sandwich".into(),
            caption: "Every batch lies below the diagonal: sorting never increases the loss."
                .into(),
            chart,
        }],
    })
}

fn invariances(s: &Settings) -> Result<Outcome> {
    let mut rng = stream(s, "invariances");
    let trials = if s.quick { 100 } else { 500 };
    let (mut scale_dev, mut shift_dev, mut perm_dev) = (0.0f64, 0.0f64, 0.0f64);
    for _ in 0..trials {
        let n = rng.random_range(2..40);
        let u = normals(&mut rng, n, 0.1, 1.0);
        let v = normals(&mut rng, n, 0.0, 1.3);
        let beta = rng.random_range(0.01..10.0);
        let c = rng.random_range(-50.0..50.0);
        let (su, sv) = (Sample::new(&u)?, Sample::new(&v)?);
        let hb = Surrogate::logistic(beta)?;
        let base = ot_cost(&su, &sv, &hb)?;
        let scaled = |x: &[f64], f: &dyn Fn(f64) -> f64| {
            Sample::new(&x.iter().map(|&y| f(y)).collect::<Vec<_>>())
        };
        let one = ot_cost(
            &scaled(&u, &|y| beta * y)?,
            &scaled(&v, &|y| beta * y)?,
            &Surrogate::logistic(1.0)?,
        )?;
        scale_dev = scale_dev.max((one - base).abs() / (1.0 + base));
        let shifted = ot_cost(&scaled(&u, &|y| y + c)?, &scaled(&v, &|y| y + c)?, &hb)?;
        // Adding c rounds each value once: a relative change of about 1e-16·|c| per gap.
        shift_dev = shift_dev.max((shifted - base).abs() / (1.0 + base));
        let mut p = u.clone();
        p.reverse();
        p.rotate_left(n / 3);
        perm_dev = perm_dev.max((ot_cost(&Sample::new(&p)?, &sv, &hb)? - base).abs());
    }
    Ok(Outcome {
        check: format!(
            "{trials} random pairs of samples (n = 2..39), β uniform in (0.01, 10), shifts uniform \
             in (−50, 50), a fixed non-trivial permutation of u."
        ),
        figures: vec![
            Figure::new(
                "max relative |AOT(βu, βv; h_1) − AOT(u, v; h_β)|",
                scale_dev,
                "<= 1e-12",
            ),
            Figure::new(
                "max relative change under a common shift",
                shift_dev,
                "<= 1e-12 (rounding of u + c)",
            ),
            Figure::new("max change under a permutation of u", perm_dev, "exactly 0"),
        ],
        verdict: holds_if(scale_dev <= EXACT_TOL && shift_dev <= EXACT_TOL && perm_dev == 0.0),
        charts: Vec::new(),
    })
}

fn gradient_formula(s: &Settings) -> Result<Outcome> {
    let mut rng = stream(s, "gradient-formula");
    let trials = if s.quick { 30 } else { 200 };
    let costs = [
        Surrogate::logistic(1.0)?,
        Surrogate::smoothed_logistic(2.0, 0.2)?,
        Surrogate::squared_hinge(0.5)?,
        Surrogate::least_squares(1.0)?,
    ];
    let (mut max_err, mut max_sum) = (0.0f64, 0.0f64);
    let step = 1e-6;
    for _ in 0..trials {
        let n = rng.random_range(2..12);
        let b = random_batch(&mut rng, n);
        for h in &costs {
            for loss in Loss::ALL {
                let g = preference_loss(&batch(&b), loss, h)?;
                let grads = [
                    &g.grad_policy_chosen,
                    &g.grad_policy_rejected,
                    &g.grad_reference_chosen,
                    &g.grad_reference_rejected,
                ];
                let total: f64 = grads.iter().flat_map(|x| x.iter()).sum();
                max_sum = max_sum.max(total.abs());
                for (side, grad) in grads.iter().enumerate() {
                    for i in 0..n {
                        let (mut up, mut dn) = (b.clone(), b.clone());
                        up[side][i] += step;
                        dn[side][i] -= step;
                        let fd = (preference_loss(&batch(&up), loss, h)?.value
                            - preference_loss(&batch(&dn), loss, h)?.value)
                            / (2.0 * step);
                        max_err = max_err.max((fd - grad[i]).abs());
                    }
                }
            }
        }
    }
    // With continuous draws, ties within ±1e-6 have probability ~1e-5 per pair; the tolerance
    // 1e-6 covers the O(step²) truncation and O(1e-16/step) rounding of central differences.
    Ok(Outcome {
        check: format!(
            "{trials} random batches (n = 2..11), 4 smooth costs, 3 losses, central finite \
             differences with step 1e-6 on every one of the 4n log-probabilities."
        ),
        figures: vec![
            Figure::new(
                "max |finite difference − analytic gradient|",
                max_err,
                "<= 1e-6",
            ),
            Figure::new(
                "max |sum of all gradients|",
                max_sum,
                "0 up to rounding (shift invariance)",
            ),
        ],
        verdict: holds_if(max_err <= 1e-6 && max_sum <= 1e-12),
        charts: Vec::new(),
    })
}

fn label_smoothing_minimiser(_s: &Settings) -> Result<Outcome> {
    let mut max_dev = 0.0f64;
    let mut count = 0;
    for &beta in &[0.01, 0.1, 1.0, 2.0, 10.0] {
        for &eps in &[0.01, 0.1, 0.25, 0.4, 0.6] {
            let h = Surrogate::smoothed_logistic(beta, eps)?;
            let formula = ((1.0 - eps) / eps).ln() / beta;
            // Golden-section search on the convex h over a bracket of ±60/β around 0.
            let (mut a, mut b) = (-60.0 / beta, 60.0 / beta);
            let r = (5f64.sqrt() - 1.0) / 2.0;
            for _ in 0..200 {
                let (x1, x2) = (b - r * (b - a), a + r * (b - a));
                if h.value(x1) < h.value(x2) {
                    b = x2;
                } else {
                    a = x1;
                }
            }
            let numeric = 0.5 * (a + b);
            // The flat bottom makes the argmin accurate to about sqrt(ε_mach)·scale = 1e-8/β.
            max_dev = max_dev.max((numeric - formula).abs() * beta);
            max_dev = max_dev.max(h.derivative(formula).abs() / beta);
            count += 1;
        }
    }
    let example = Surrogate::smoothed_logistic(2.0, 0.1)?;
    let x_star = 9f64.ln() / 2.0;
    Ok(Outcome {
        check: format!(
            "{count} (β, ε) pairs, β ∈ {{0.01, 0.1, 1, 2, 10}}, ε ∈ {{0.01, 0.1, 0.25, 0.4, 0.6}}: \
             golden-section minimisation of h against the formula, and h'(x*) = 0."
        ),
        figures: vec![
            Figure::new("x* for β = 2, ε = 0.1", x_star, "ln 9 / 2 = 1.0986"),
            Figure::new("h'(x*) there", example.derivative(x_star), "0"),
            Figure::new(
                "max β·|x*_numeric − x*_formula| and |h'(x*)|/β",
                max_dev,
                "<= 1e-6",
            ),
        ],
        verdict: holds_if(max_dev <= 1e-6),
        charts: Vec::new(),
    })
}

fn relaxation_bound(s: &Settings) -> Result<Outcome> {
    let mut rng = stream(s, "relaxation-bound");
    let trials = if s.quick { 200 } else { 1_000 };
    let costs = [
        Surrogate::logistic(0.01)?,
        Surrogate::logistic(1.0)?,
        Surrogate::hinge(0.5)?,
        Surrogate::squared_hinge(0.5)?,
        Surrogate::least_squares(1.0)?,
        Surrogate::smoothed_logistic(1.0, 0.2)?,
    ];
    let mut min_slack = f64::INFINITY;
    for _ in 0..trials {
        let n = rng.random_range(1..50);
        let m = rng.random_range(1..50);
        let shift = rng.random_range(-1.0..1.0);
        let (u, v) = (
            Sample::new(&normals(&mut rng, n, shift, 1.0))?,
            Sample::new(&normals(&mut rng, m, 0.0, 1.0))?,
        );
        let eps01 = violation(&u, &v).zero_one;
        for h in &costs {
            min_slack = min_slack.min(ot_cost(&u, &v, h)? / h.at_zero() - eps01);
        }
    }
    // Margin 0: the squared hinge gives no control. V = U + δ: every level fails (ε_{0-1} = 1)
    // while ε_h = δ² is as small as one likes.
    let u = Sample::new(&[0.0, 1.0, 2.0])?;
    let v = Sample::new(&[0.001, 1.001, 2.001])?;
    let h0 = Surrogate::squared_hinge(0.0)?;
    let (eps01, eps_h) = (violation(&u, &v).zero_one, ot_cost(&u, &v, &h0)?);
    Ok(Outcome {
        check: format!(
            "{trials} random pairs of normal samples (sizes 1..49, shifts in (−1, 1)), 6 costs \
             nonincreasing below 0 with h(0) > 0; and the margin-0 squared hinge on V = U + 0.001."
        ),
        figures: vec![
            Figure::new(
                "min (ε_h / h(0) − ε_{0-1})",
                min_slack,
                ">= 0: the bound holds",
            ),
            Figure::new("ε_{0-1} with V = U + 0.001", eps01, "1: every level fails"),
            Figure::new(
                "ε_h, squared hinge, margin 0",
                eps_h,
                "1e-6: no control of ε_{0-1}",
            ),
        ],
        verdict: if min_slack >= -EXACT_TOL {
            Verdict::Conditional("h nonincreasing on (−∞, 0] and h(0) > 0 (margin β > 0)".into())
        } else {
            Verdict::Fails
        },
        charts: Vec::new(),
    })
}

fn dominance_gives_small_violation(s: &Settings) -> Result<Outcome> {
    let mut rng = stream(s, "dominance-gives-small-violation");
    let h = Surrogate::logistic(1.0)?;
    // U ~ N(0.5, 1) ≽ V ~ N(0, 1): Q_U − Q_V = 0.5 at every level, so the population
    // ε_h = log(1 + e^{−0.5}) = 0.4740769841801067 < h(0) = log 2 and ε_{0-1} = 0.
    let population = (1.0 + (-0.5f64).exp()).ln();
    let sizes: &[usize] = if s.quick {
        &[30, 300, 3_000]
    } else {
        &[30, 300, 3_000, 30_000]
    };
    let reps = if s.quick { 20 } else { 50 };
    let mut figures = Vec::new();
    let mut zero_one = Vec::new();
    let mut last_eps_err = 0.0;
    for &n in sizes {
        let (mut z, mut e) = (0.0, 0.0);
        for _ in 0..reps {
            let u = Sample::new(&normals(&mut rng, n, 0.5, 1.0))?;
            let v = Sample::new(&normals(&mut rng, n, 0.0, 1.0))?;
            z += violation(&u, &v).zero_one / reps as f64;
            e += ot_cost(&u, &v, &h)? / reps as f64;
        }
        zero_one.push((n as f64, z.max(1e-6)));
        last_eps_err = (e - population).abs();
        figures.push(Figure::new(format!("mean ε_{{0-1}} at n = {n}"), z, "→ 0"));
    }
    figures.push(Figure::new(
        "|mean ε_h − population ε_h| at the largest n",
        last_eps_err,
        format!("population ε_h = log(1 + e^-0.5) = {population:.6} < log 2"),
    ));
    let decreasing = zero_one.windows(2).all(|w| w[1].1 < w[0].1);
    let chart = Chart::new(
        "Empirical 0-1 violation when U ≽ V",
        "n (per side)",
        "mean ε_{0-1}",
    )
    .log_x()
    .log_y()
    .series(Series::line("U ~ N(0.5, 1), V ~ N(0, 1)", zero_one));
    Ok(Outcome {
        check: format!(
            "{reps} replicates at each n ∈ {sizes:?} of U ~ N(0.5, 1) and V ~ N(0, 1), logistic \
             β = 1."
        ),
        figures,
        verdict: holds_if(decreasing && last_eps_err < 0.01),
        charts: vec![Plot {
            stem: "violation-under-dominance".into(),
            caption: "Sampling noise alone creates violations; they vanish as n grows.".into(),
            chart,
        }],
    })
}

fn antitone_is_worst(s: &Settings) -> Result<Outcome> {
    let mut rng = stream(s, "antitone-is-worst");
    let trials = if s.quick { 40 } else { 200 };
    let costs = convex_costs()?;
    let (mut max_dev, mut min_excess) = (0.0f64, f64::INFINITY);
    for k in 0..trials {
        let n = 2 + k % 6;
        let u = Sample::new(&normals(&mut rng, n, 0.0, 1.0))?;
        let v = Sample::new(&normals(&mut rng, n, 0.0, 1.0))?;
        for h in &costs {
            let worst = brute_force(&u, &v, h)?.worst.cost;
            let anti = antitone_cost(&u, &v, h)?;
            max_dev = max_dev.max((worst - anti).abs() / (1.0 + worst.abs()));
            let sorted = ot_cost(&u, &v, h)?;
            min_excess = min_excess.min((anti - sorted) / (1.0 + sorted.abs()));
        }
    }
    Ok(Outcome {
        check: format!(
            "{trials} pairs of standard normal samples, n = 2..7, {} convex costs: the \
             anti-monotone pairing against the most expensive of all n! permutations.",
            costs.len()
        ),
        figures: vec![
            Figure::new(
                "max relative |antitone − worst permutation|",
                max_dev,
                "<= 1e-12",
            ),
            Figure::new(
                "min relative (antitone − sorted)",
                min_excess,
                ">= −1e-12 (rounding)",
            ),
        ],
        verdict: holds_if(max_dev <= EXACT_TOL && min_excess >= -EXACT_TOL),
        charts: Vec::new(),
    })
}

/// The rate study shared by the three statistical claims: run once per settings, then reused.
fn rate_study(s: &Settings) -> Result<RateStudy> {
    static CACHE: Mutex<Option<(Settings, RateStudy)>> = Mutex::new(None);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((key, study)) = cache.as_ref() {
        if key == s {
            return Ok(Arc::clone(study));
        }
    }
    let config = RateConfig {
        surrogates: vec!["logistic".into()],
        variants: vec![Variant::Unpaired],
        grid: if s.quick {
            vec![16, 64, 256]
        } else {
            Vec::new()
        },
        replicates: if s.quick { 200 } else { 1000 },
        bootstrap: if s.quick { 400 } else { 2000 },
        seed: s.seed,
        excess: ExcessConfig {
            replicates: if s.quick { 30 } else { 100 },
            ..ExcessConfig::default()
        },
        ..RateConfig::default()
    };
    // The study appends its replicates to a ledger in a directory; the report keeps only the
    // summary, so a private temporary directory is used and removed.
    let dir = std::env::temp_dir().join(format!(
        "aot-report-rates-{}-{}-{}",
        std::process::id(),
        s.seed,
        s.quick
    ));
    let opts = RunOptions {
        out_dir: &dir,
        force: true,
        progress: None,
    };
    let outcome = crate::study::run(&config, &opts);
    let _ = std::fs::remove_dir_all(&dir);
    let report = match outcome? {
        RunOutcome::Complete(report) => *report,
        RunOutcome::Interrupted { done, total } => {
            return Err(Error::Input {
                source_name: "rate study".into(),
                message: format!("interrupted after {done} of {total} units"),
            })
        }
    };
    let chosen = Population::new(&config.chosen)?;
    let rejected = Population::new(&config.rejected)?;
    let charts = crate::study::plots::charts(&report, &chosen, &rejected)?;
    let study: RateStudy = Arc::new((report, charts));
    *cache = Some((*s, Arc::clone(&study)));
    Ok(study)
}

type RateStudy = Arc<(RateReport, Vec<(&'static str, Chart)>)>;

fn study_chart(study: &RateStudy, stem: &str, caption: &str) -> Vec<Plot> {
    study
        .1
        .iter()
        .filter(|(s, _)| *s == stem)
        .map(|(s, chart)| Plot {
            stem: format!("rates-{s}"),
            caption: caption.to_string(),
            chart: chart.clone(),
        })
        .collect()
}

fn study_setup(r: &RateReport) -> String {
    format!(
        "Monte Carlo with U ~ N(0.3, 1.5²) and V ~ N(0, 1) (notes §4.3), logistic β = 1, \
         unpaired, n ∈ {:?}, {} replicates per n (seed {}); population ε by adaptive quadrature; \
         exponent intervals by bootstrap over replicates.",
        r.grid, r.config.replicates, r.seed
    )
}

fn parametric_rate(s: &Settings) -> Result<Outcome> {
    let study = rate_study(s)?;
    let r = &study.0;
    let h = &r.headline;
    let c = r.costs.iter().find(|c| c.cost == h.cost);
    let (lo, hi) = h.exponent_ci.unwrap_or((f64::NAN, f64::NAN));
    let within = c.and_then(|c| c.within_bound).unwrap_or(false);
    let mut figures = vec![
        Figure::new(
            "fitted exponent a of E|ε̂ − ε| = C n^-a",
            h.exponent.unwrap_or(f64::NAN),
            "1/2 expected",
        ),
        Figure::new("interval for a, low", lo, "bootstrap, 95%"),
        Figure::new("interval for a, high", hi, "bootstrap, 95%"),
        Figure::new(
            "mean √n·E|ε̂ − ε|",
            h.sqrt_n_error_mean,
            "notes §4.3: 0.61–0.67",
        ),
        Figure::new(
            "bound constant L(J_U + J_V)",
            h.bound_constant.unwrap_or(f64::NAN),
            "notes: 4.04",
        ),
    ];
    if let Some(p) = r.population.first() {
        figures.push(Figure::new("population ε", p.value, "notes §4.3: 0.58408"));
    }
    Ok(Outcome {
        check: study_setup(r),
        figures,
        verdict: holds_if(h.consistent_with_half == Some(true) && within),
        charts: study_chart(
            &study,
            "error_vs_n",
            "Error of the empirical violation against n, with \
            the fitted power law, the n^-1/2 reference and the bound.",
        ),
    })
}

fn upward_bias(s: &Settings) -> Result<Outcome> {
    let study = rate_study(s)?;
    let r = &study.0;
    let Some(c) = r.costs.iter().find(|c| c.cost == r.headline.cost) else {
        return Err(Error::Input {
            source_name: "rate study".into(),
            message: "no cost".into(),
        });
    };
    let mut figures: Vec<Figure> = c
        .points
        .iter()
        .map(|p| {
            Figure::new(
                format!("bias E ε̂ − ε at n = {}", p.n),
                p.bias,
                format!(
                    "± {:.1e} (2 s.e.); n·bias = {:.2}",
                    2.0 * p.bias_se,
                    p.n_bias
                ),
            )
        })
        .collect();
    if let Some(f) = &c.bias_fit {
        figures.push(Figure::new(
            "bias exponent",
            f.exponent,
            format!(
                "interval [{:.2}, {:.2}]; notes: bias ≈ 0.9/n",
                f.ci_low, f.ci_high
            ),
        ));
    }
    // Upward: no point significantly negative, and the smallest n significantly positive.
    let none_negative = c.points.iter().all(|p| p.bias > -2.0 * p.bias_se);
    let first_positive = c.points.first().is_some_and(|p| p.bias > 2.0 * p.bias_se);
    Ok(Outcome {
        check: study_setup(r),
        figures,
        verdict: holds_if(none_negative && first_positive),
        charts: study_chart(
            &study,
            "bias_vs_n",
            "Signed bias against n: positive, shrinking \
            roughly like 1/n.",
        ),
    })
}

fn erm_excess_risk(s: &Settings) -> Result<Outcome> {
    let study = rate_study(s)?;
    let Some(ex) = &study.0.excess else {
        return Err(Error::Input {
            source_name: "rate study".into(),
            message: "no excess-risk study".into(),
        });
    };
    let mut figures = Vec::new();
    let mut ok = false;
    if let Some(f) = &ex.excess_fit {
        figures.push(Figure::new(
            "excess-risk exponent",
            f.exponent,
            format!(
                "interval [{:.2}, {:.2}]; >= 1/2 required, ≈ 1 expected for a smooth strongly \
             convex objective",
                f.ci_low, f.ci_high
            ),
        ));
        ok = f.ci_high >= 0.5;
    }
    if let Some(f) = &ex.gap_fit {
        figures.push(Figure::new(
            "generalisation-gap exponent",
            f.exponent,
            format!(
                "interval [{:.2}, {:.2}]; the n^-1/2 term of the bound",
                f.ci_low, f.ci_high
            ),
        ));
    }
    let total: usize = ex.terminations.values().sum();
    figures.push(Figure::new(
        "optimiser runs",
        total as f64,
        format!("terminations: {:?}", ex.terminations),
    ));
    Ok(Outcome {
        check: format!(
            "{} Family u = a + e^ℓ z⁺, v = −a + e^ℓ z⁻ with ridge λ = {}; each empirical objective \
             minimised with argmin ({:?}); excess risk F(θ̂_n) − F(θ*) by quadrature. {}",
            study_setup(&study.0), ex.ridge, ex.optimizer, ex.verdict
        ),
        figures,
        verdict: holds_if(ok),
        charts: study_chart(
            &study,
            "excess_vs_n",
            "Excess risk and generalisation gap of the \
            empirical minimiser against n.",
        ),
    })
}

/// Two reward samples for the dominance section of a report.
#[derive(Debug, Clone)]
pub struct DominanceInput {
    /// Where they come from (shown in the report).
    pub description: String,
    /// The values that should dominate (chosen rewards, or policy margins).
    pub chosen: Vec<f64>,
    /// The values that should be dominated (rejected rewards, or reference margins).
    pub rejected: Vec<f64>,
    /// Legend name of `chosen`.
    pub chosen_label: String,
    /// Legend name of `rejected`.
    pub rejected_label: String,
}

impl DominanceInput {
    /// The built-in example of notes §4.3: chosen ~ N(0.3, 1.5²), rejected ~ N(0, 1), n = 500
    /// each, seeded. In the population Q_U − Q_V = 0.3 + 0.5·z_p is negative for
    /// p < Φ(−0.6) = 0.274: dominance fails on the lower quarter of the levels.
    pub fn synthetic(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        Self {
            description: format!(
                "built-in example: 500 chosen rewards ~ N(0.3, 1.5²) and 500 rejected rewards \
                 ~ N(0, 1), seed {seed}"
            ),
            chosen: normals(&mut rng, 500, 0.3, 1.5),
            rejected: normals(&mut rng, 500, 0.0, 1.0),
            chosen_label: "chosen rewards".into(),
            rejected_label: "rejected rewards".into(),
        }
    }
}

/// The dominance section of a report: exact decision with witness, violation measures, ε_h for
/// the surrogates, the relaxation bound on these data, and a quantile plot in the style of the
/// paper's Figure 1 with the levels where dominance fails shaded.
///
/// # Errors
///
/// As [`Sample::new`] for the two samples.
pub fn dominance_report(input: &DominanceInput) -> Result<Outcome> {
    let u = Sample::new(&input.chosen)?;
    let v = Sample::new(&input.rejected)?;
    let verdict = fsd(&u, &v);
    let m = violation(&u, &v);
    let mut figures = vec![
        Figure::new("n chosen", u.len() as f64, input.chosen_label.clone()),
        Figure::new("n rejected", v.len() as f64, input.rejected_label.clone()),
        Figure::new(
            "ε_{0-1}: measure of levels with Q_U < Q_V",
            m.zero_one,
            "0 iff dominance",
        ),
        Figure::new(
            "shortfall area ∫(Q_V − Q_U)_+",
            m.shortfall_area,
            "same units as rewards",
        ),
        Figure::new(
            "signed area ∫(Q_U − Q_V) = mean U − mean V",
            m.signed_area,
            "",
        ),
        Figure::new(
            "ε_W2 almost-dominance ratio",
            m.eps_w2,
            "in [0, 1]; 0 iff dominance",
        ),
    ];
    let mut bound_ok = true;
    for h in [
        Surrogate::logistic(0.01)?,
        Surrogate::logistic(1.0)?,
        Surrogate::hinge(1.0)?,
        Surrogate::squared_hinge(1.0)?,
    ] {
        let e = ot_cost(&u, &v, &h)?;
        bound_ok &= m.zero_one <= e / h.at_zero() + EXACT_TOL;
        figures.push(Figure::new(
            format!("ε_h, {h}"),
            e,
            format!("bound ε_h/h(0) = {:.4}", e / h.at_zero()),
        ));
    }
    let check = match &verdict {
        Dominance::Strict => format!("{}: chosen strictly dominates rejected.", input.description),
        Dominance::EqualInLaw => {
            format!("{}: the two samples have the same law.", input.description)
        }
        Dominance::Violated(w) => format!(
            "{}: dominance FAILS. Witness: at level p = {:.4}, Q_U = {:.4} < Q_V = {:.4}; at \
             t = {:.4}, F_U = {:.4} > F_V = {:.4}.",
            input.description, w.level, w.u_quantile, w.v_quantile, w.point, w.u_cdf, w.v_cdf
        ),
    };
    Ok(Outcome {
        check,
        figures,
        verdict: if bound_ok {
            Verdict::Conditional("the relaxation bound holds on these data".into())
        } else {
            Verdict::Fails
        },
        charts: vec![Plot {
            stem: "quantiles".into(),
            caption: format!(
                "Quantile functions of {} (U) and {} (V); shaded: levels where Q_U < Q_V, \
                 i.e. where dominance fails ({:.1}% of levels).",
                input.chosen_label,
                input.rejected_label,
                100.0 * m.zero_one
            ),
            chart: quantile_chart(&u, &v, &input.chosen_label, &input.rejected_label),
        }],
    })
}

/// A quantile plot in the style of the paper's Figure 1: both step quantile functions against
/// the level p, and a band between them where Q_U < Q_V.
pub fn quantile_chart(u: &Sample, v: &Sample, u_label: &str, v_label: &str) -> Chart {
    let (mut qu, mut qv, mut band) = (Vec::new(), Vec::new(), Vec::new());
    let mut in_band = false;
    for s in segments(u, v) {
        qu.extend([(s.level_start, s.u), (s.level_end, s.u)]);
        qv.extend([(s.level_start, s.v), (s.level_end, s.v)]);
        if s.u < s.v {
            band.extend([(s.level_start, s.u, s.v), (s.level_end, s.u, s.v)]);
            in_band = true;
        } else if in_band {
            band.push((f64::NAN, f64::NAN, f64::NAN));
            in_band = false;
        }
    }
    let mut chart = Chart::new(
        "Quantiles of chosen vs rejected rewards",
        "quantile level p",
        "reward quantile",
    );
    if !band.is_empty() {
        chart = chart.series(Series::band("dominance fails (Q_U < Q_V)", band).with_color(1));
    }
    chart
        .series(Series::line(format!("Q_U: {u_label}"), qu).with_color(0))
        .series(Series::line(format!("Q_V: {v_label}"), qv).with_color(6))
}

/// The dominance claims for a user's file: reads `chosen`/`rejected` columns (or
/// `policy_margin`/`reference_margin` for the paired view, or `margin` alone against 0).
///
/// # Errors
///
/// [`Error::Input`] when the file has none of these columns, naming the file.
pub fn input_claims(path: &std::path::Path) -> Result<DominanceInput> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Input {
        source_name: name.clone(),
        message: e.to_string(),
    })?;
    let col = |c: &str| crate::io::parse_column(&text, Some(c), &name);
    if let (Ok(chosen), Ok(rejected)) = (col("chosen"), col("rejected")) {
        return Ok(DominanceInput {
            description: format!(
                "{name}: {} chosen and {} rejected rewards",
                chosen.len(),
                rejected.len()
            ),
            chosen,
            rejected,
            chosen_label: "chosen rewards".into(),
            rejected_label: "rejected rewards".into(),
        });
    }
    if let (Ok(chosen), Ok(rejected)) = (col("policy_margin"), col("reference_margin")) {
        return Ok(DominanceInput {
            description: format!(
                "{name}: {} policy margins against {} reference margins (paired AOT)",
                chosen.len(),
                rejected.len()
            ),
            chosen,
            rejected,
            chosen_label: "policy margins".into(),
            rejected_label: "reference margins".into(),
        });
    }
    if let Ok(margins) = col("margin") {
        return Ok(DominanceInput {
            description: format!("{name}: {} paired margins against 0", margins.len()),
            rejected: vec![0.0],
            chosen: margins,
            chosen_label: "margins".into(),
            rejected_label: "zero".into(),
        });
    }
    // Report the reason for the most likely layout.
    let reason = col("chosen").err().or_else(|| col("rejected").err());
    Err(Error::Input {
        source_name: name,
        message: format!(
            "expected columns or fields `chosen` and `rejected` (or `policy_margin` and \
             `reference_margin`, or `margin`) holding numbers{}",
            reason
                .map(|e| format!("; reading `chosen`/`rejected` said: {e}"))
                .unwrap_or_default()
        ),
    })
}
