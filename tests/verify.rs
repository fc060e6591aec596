//! Sorting against the independent exact solvers of `aot::exact`, and the `aot verify` sweep.
//!
//! Every number asserted here is either derived by hand in the comment above it or is an
//! agreement between two independent computations (then only the tolerance is asserted, with the
//! reason for its size).

use std::process::Command;

use proptest::prelude::*;

use aot::cost::{Cost, Surrogate};
use aot::exact::brute_force::brute_force;
use aot::exact::dual::{certify, certify_with, FeasibilityCheck};
use aot::exact::entropic::{entropic_path, EntropicOptions};
use aot::exact::lp::lp_transport;
use aot::sample::Sample;
use aot::transport::{antitone_cost, comonotone_cost, ot_cost, ot_plan};
use aot::verify::{run_sweep, Plan, SweepConfig};

/// Agreement of two exact computations: both are sums of at most 81 terms of size <= `scale`,
/// so they differ by a few hundred ulps of `scale` at most; 1e-12 leaves a margin of 10⁴.
const AGREE: f64 = 1e-12;

/// Agreement with the LP: its simplex method decides optimality up to an internal tolerance
/// relative to the cost range, so it can return a vertex worse by about 1e-11 · scale when the
/// costs that decide the plan are tiny (the committed regression: logistic β = 7.46 with every
/// gap large and positive, costs near 1e-10, LP 2.844e-10 against the optimum 2.800e-10). This
/// is the tolerance of `aot verify`.
const AGREE_LP: f64 = aot::verify::CONVEX_TOLERANCE;

fn convex_cost() -> impl Strategy<Value = Surrogate> {
    prop_oneof![
        (0.05f64..10.0).prop_map(|beta| Surrogate::Logistic { beta }),
        (0.1f64..5.0, 0.0f64..1.0)
            .prop_map(|(beta, smoothing)| Surrogate::SmoothedLogistic { beta, smoothing }),
        (0.0f64..2.0).prop_map(|margin| Surrogate::Hinge { margin }),
        (0.0f64..2.0).prop_map(|margin| Surrogate::SquaredHinge { margin }),
        (-1.0f64..2.0).prop_map(|margin| Surrogate::LeastSquares { margin }),
        (1.0f64..4.0).prop_map(|p| Surrogate::AbsPower { p }),
    ]
}

/// Values on a grid of step 1/4 in [-3, 3] (ties are frequent) or continuous.
fn values(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        prop::collection::vec((-12i32..=12).prop_map(|k| f64::from(k) / 4.0), len.clone()),
        prop::collection::vec(-3.0f64..3.0, len),
    ]
}

fn weights(len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(prop_oneof![Just(0.0), 0.0f64..1.0], len)
}

/// `max(1, max_ij |h(u_i − v_j)|)`: for a convex `h` the largest cost sits at an extreme gap.
fn scale(u: &Sample, v: &Sample, h: &Surrogate) -> f64 {
    let extreme = h
        .value(u.min() - v.max())
        .abs()
        .max(h.value(u.max() - v.min()).abs());
    1f64.max(extreme)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Equal sizes: sorted = LP = best permutation, anti-monotone = worst permutation.
    #[test]
    fn sorted_lp_and_brute_force_agree_on_equal_sizes(
        (u, v) in (1usize..=6).prop_flat_map(|n| (values(n..=n), values(n..=n))),
        h in convex_cost(),
    ) {
        let (u, v) = (Sample::new(&u).unwrap(), Sample::new(&v).unwrap());
        let s = scale(&u, &v, &h);
        let sorted = ot_cost(&u, &v, &h).unwrap();
        let bf = brute_force(&u, &v, &h).unwrap();
        let lp = lp_transport(&u, &v, &h).unwrap();
        prop_assert!((sorted - bf.best.cost).abs() <= AGREE * s, "{sorted} vs {}", bf.best.cost);
        prop_assert!((sorted - lp.cost).abs() <= AGREE_LP * s, "{sorted} vs LP {}", lp.cost);
        prop_assert!(lp.marginal_error <= 1e-14);
        let anti = antitone_cost(&u, &v, &h).unwrap();
        prop_assert!((anti - bf.worst.cost).abs() <= AGREE * s, "{anti} vs {}", bf.worst.cost);
    }

    /// Unequal uniform sizes with lcm(n, m) <= 9: brute force over replicated atoms.
    #[test]
    fn sorted_matches_lcm_replication(
        (n, m) in prop::sample::select(
            vec![(1, 3), (2, 3), (3, 2), (2, 4), (4, 2), (3, 9), (9, 1), (2, 6)]
        ),
        seed_u in values(9..=9),
        seed_v in values(9..=9),
        h in convex_cost(),
    ) {
        let (u, v) = (Sample::new(&seed_u[..n]).unwrap(), Sample::new(&seed_v[..m]).unwrap());
        let s = scale(&u, &v, &h);
        let sorted = ot_cost(&u, &v, &h).unwrap();
        let bf = brute_force(&u, &v, &h).unwrap();
        let lp = lp_transport(&u, &v, &h).unwrap();
        prop_assert!((sorted - bf.best.cost).abs() <= AGREE * s);
        prop_assert!((sorted - lp.cost).abs() <= AGREE_LP * s);
        prop_assert!((antitone_cost(&u, &v, &h).unwrap() - bf.worst.cost).abs() <= AGREE * s);
    }

    /// Weighted samples of any sizes (zero weights included): sorted = LP, and the dual
    /// certificate proves it without the LP.
    #[test]
    fn sorted_matches_lp_on_weighted_samples(
        (u, a) in (1usize..=8).prop_flat_map(|n| (values(n..=n), weights(n))),
        (v, b) in (1usize..=8).prop_flat_map(|m| (values(m..=m), weights(m))),
        h in convex_cost(),
    ) {
        prop_assume!(a.iter().any(|&w| w > 0.0) && b.iter().any(|&w| w > 0.0));
        let (u, v) = (Sample::weighted(&u, &a).unwrap(), Sample::weighted(&v, &b).unwrap());
        let s = scale(&u, &v, &h);
        let plan = ot_plan(&u, &v, &h).unwrap();
        let lp = lp_transport(&u, &v, &h).unwrap();
        let gap = (plan.cost - lp.cost).abs();
        prop_assert!(gap <= AGREE_LP * s, "{} vs LP {}", plan.cost, lp.cost);
        let cert = certify(&u, &v, &plan, &h).unwrap();
        prop_assert!(cert.suboptimality_bound() <= AGREE * s, "{cert:?}");
    }

    /// For the 0-1 cost the quantile violation is feasible, hence >= the OT optimum (notes §2.3).
    #[test]
    fn zero_one_quantile_violation_bounds_the_ot_optimum(
        u in values(1..=6),
        v in values(1..=6),
    ) {
        let (u, v) = (Sample::new(&u).unwrap(), Sample::new(&v).unwrap());
        let h = Surrogate::zero_one();
        let lp = lp_transport(&u, &v, &h).unwrap();
        prop_assert!(comonotone_cost(&u, &v, &h).unwrap() >= lp.cost - AGREE);
    }
}

#[test]
fn zero_one_counterexample_by_hand() {
    // u = {0, 2}, v = {1, 3}, h(x) = 1{x < 0}. Sorted pairs (0, 1), (2, 3): gaps −1, −1, cost
    // (1 + 1)/2 = 1. Crossed pairs (0, 3), (2, 1): gaps −3, +1, cost (1 + 0)/2 = 1/2, and no plan
    // does better since u = 0 is below every v. So OT = 1/2 < 1 = sorted.
    let u = Sample::new(&[0.0, 2.0]).unwrap();
    let v = Sample::new(&[1.0, 3.0]).unwrap();
    let h = Surrogate::zero_one();
    assert_eq!(comonotone_cost(&u, &v, &h).unwrap(), 1.0);
    let lp = lp_transport(&u, &v, &h).unwrap();
    assert!((lp.cost - 0.5).abs() < 1e-15, "{}", lp.cost);
    let bf = brute_force(&u, &v, &h).unwrap();
    assert_eq!((bf.best.cost, bf.worst.cost), (0.5, 1.0));
    // The certificate must fail. With c = [[1, 1], [0, 1]] (rows u, columns v) the staircase
    // sets φ_0 = 0, ψ_0 = c_00 = 1; the diagonal step's interval [c_11 − c_01, c_10 − c_00] =
    // [0, −1] is empty (Monge fails: c_00 + c_11 = 2 > c_01 + c_10 = 1), its midpoint gives
    // φ_1 = −1/2, ψ_1 = c_11 − φ_1 = 3/2, and φ_0 + ψ_1 − c_01 = φ_1 + ψ_0 − c_10 = 1/2.
    let plan = ot_plan(&u, &v, &Surrogate::abs_power(1.0).unwrap()).unwrap();
    let cert = certify(&u, &v, &plan, &h).unwrap();
    assert_eq!(cert.max_violation, 0.5);
    assert_eq!(cert.phi, vec![0.0, -0.5]);
    assert_eq!(cert.psi, vec![1.0, 1.5]);
    // The bound 0 + 1/2 is exactly the excess 1 − 1/2 of the sorted plan here.
    assert_eq!(cert.suboptimality_bound(), 0.5);
}

#[test]
fn concave_power_counterexample_by_hand() {
    // h(x) = |x|^{1/2}, u = {0, 1}, v = {1, 2}. Sorted pairs (0, 1), (1, 2): gaps −1, −1, cost
    // (1 + 1)/2 = 1. Crossed pairs (0, 2), (1, 1): cost (√2 + 0)/2 = 1/√2 = 0.70710678…: a concave
    // cost prefers one long move and one null move to two unit moves.
    let u = Sample::new(&[0.0, 1.0]).unwrap();
    let v = Sample::new(&[1.0, 2.0]).unwrap();
    let h = Surrogate::abs_power(0.5).unwrap();
    assert_eq!(comonotone_cost(&u, &v, &h).unwrap(), 1.0);
    let lp = lp_transport(&u, &v, &h).unwrap();
    assert!(
        (lp.cost - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15,
        "{}",
        lp.cost
    );
    let bf = brute_force(&u, &v, &h).unwrap();
    assert!((bf.best.cost - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15);
    // With p = 1/4 the same instance gives 2^{1/4}/2 = 0.59460355…
    let h = Surrogate::abs_power(0.25).unwrap();
    let lp = lp_transport(&u, &v, &h).unwrap();
    assert!(
        (lp.cost - 2f64.powf(0.25) / 2.0).abs() < 1e-15,
        "{}",
        lp.cost
    );
}

#[test]
fn anti_monotone_pairing_is_the_worst_plan() {
    // h(x) = x², u = {0, 2}, v = {1, 3}: the two permutations cost (1 + 1)/2 = 1 (sorted) and
    // (9 + 1)/2 = 5 (anti-monotone, the pairing of the buggy port of notes §7).
    let u = Sample::new(&[0.0, 2.0]).unwrap();
    let v = Sample::new(&[1.0, 3.0]).unwrap();
    let h = Surrogate::abs_power(2.0).unwrap();
    let bf = brute_force(&u, &v, &h).unwrap();
    assert_eq!((bf.best.cost, bf.worst.cost), (1.0, 5.0));
    assert_eq!(antitone_cost(&u, &v, &h).unwrap(), 5.0);
    // Six atoms a side, logistic: the worst of the 720 permutations is the anti-monotone one
    // (to rounding), and it is not attained by the sorted pairing.
    let u = Sample::new(&[0.3, -1.2, 2.5, 0.0, 1.1, -0.4]).unwrap();
    let v = Sample::new(&[1.0, 0.2, -0.7, 3.1, 0.5, 0.9]).unwrap();
    let h = Surrogate::logistic(1.0).unwrap();
    let bf = brute_force(&u, &v, &h).unwrap();
    assert_eq!(bf.permutations, 720);
    assert!((bf.worst.cost - antitone_cost(&u, &v, &h).unwrap()).abs() < AGREE);
    assert!(bf.worst.cost > bf.best.cost + 0.1);
}

/// Deterministic pseudo-random values (a 64-bit LCG, Knuth's MMIX constants) for large tests.
fn lcg_values(len: usize, seed: u64, shift: f64) -> Vec<f64> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            // Sum of three uniforms on [0, 1): roughly bell-shaped on [0, 3).
            let mut s = 0.0;
            for _ in 0..3 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                s += (x >> 11) as f64 / (1u64 << 53) as f64;
            }
            2.0 * s - 3.0 + shift
        })
        .collect()
}

#[test]
fn dual_certificate_on_large_samples() {
    // 200 000 against 150 000 weighted atoms: 3·10¹⁰ pairs, far beyond any LP; the Monge
    // column-minima check evaluates O((n + m) log m) of them. The potentials are sums of up to
    // n + m terms of size <= max h, so rounding leaves a bound of order 1e-16·(n + m)·max h;
    // 1e-9 is the sweep's tolerance.
    let (n, m) = (200_000, 150_000);
    let u = lcg_values(n, 1, 0.3);
    let v = lcg_values(m, 2, 0.0);
    let a: Vec<f64> = lcg_values(n, 3, 3.0)
        .iter()
        .map(|x| x.abs() + 0.01)
        .collect();
    let (u, v) = (Sample::weighted(&u, &a).unwrap(), Sample::new(&v).unwrap());
    for h in [
        Surrogate::logistic(2.0).unwrap(),
        Surrogate::squared_hinge(0.5).unwrap(),
    ] {
        let plan = ot_plan(&u, &v, &h).unwrap();
        let cert = certify(&u, &v, &plan, &h).unwrap();
        assert_eq!(cert.check, FeasibilityCheck::MongeColumnMinima);
        assert!(
            cert.pairs_checked < 20 * (n + m) as u64,
            "{}",
            cert.pairs_checked
        );
        assert!(
            cert.suboptimality_bound() < 1e-9,
            "{h}: {}",
            cert.suboptimality_bound()
        );
        assert!(cert.marginal_error < 1e-12);
    }
    // 3000 × 2000 checked on all 6·10⁶ pairs, with no Monge assumption.
    let (u, v) = (
        Sample::new(&lcg_values(3000, 4, 0.5)).unwrap(),
        Sample::new(&lcg_values(2000, 5, 0.0)).unwrap(),
    );
    let h = Surrogate::smoothed_logistic(1.0, 0.1).unwrap();
    let plan = ot_plan(&u, &v, &h).unwrap();
    let all = certify_with(&u, &v, &plan, &h, FeasibilityCheck::AllPairs).unwrap();
    let monge = certify_with(&u, &v, &plan, &h, FeasibilityCheck::MongeColumnMinima).unwrap();
    assert_eq!(all.pairs_checked, 6_000_000);
    assert!(
        all.suboptimality_bound() < 1e-12,
        "{}",
        all.suboptimality_bound()
    );
    // Both checks find the same most negative reduced cost (0 or a rounding residue).
    assert!((all.max_violation - monge.max_violation).abs() < 1e-15);
}

#[test]
fn entropic_bounds_close_on_the_sorted_cost() {
    // Bounds hold at any ψ by weak duality (lower) and feasibility of the rounded plan (upper);
    // as ε/range goes 1e-1 → 1e-3 the bracket must shrink, and OT_ε − OT <= ε·min(H(a), H(b))
    // with H(a) = log 30 for 30 uniform atoms.
    let u = Sample::new(&lcg_values(30, 7, 0.4)).unwrap();
    let v = Sample::new(&lcg_values(40, 8, 0.0)).unwrap();
    let h = Surrogate::logistic(1.0).unwrap();
    let sorted = ot_cost(&u, &v, &h).unwrap();
    let path = entropic_path(&u, &v, &h, &EntropicOptions::default()).unwrap();
    for s in &path {
        assert!(s.converged, "ε = {}: {}", s.epsilon, s.termination);
        assert!(
            s.lower_bound <= sorted + AGREE && sorted <= s.upper_bound + AGREE,
            "{s:?}"
        );
        assert!(s.semi_dual >= sorted - AGREE, "OT_ε >= OT: {s:?}");
        assert!(
            s.semi_dual - sorted <= s.epsilon * 30f64.ln() + 1e-9,
            "{s:?}"
        );
    }
    let width = |k: usize| path[k].upper_bound - path[k].lower_bound;
    assert!(width(2) < width(0));
    assert!(width(2) < 1e-2 * sorted, "{}", width(2));
}

#[test]
fn entropic_rejects_bad_regularisation_by_name() {
    let s = Sample::new(&[0.0, 1.0]).unwrap();
    let opts = EntropicOptions {
        relative_epsilons: vec![f64::NAN],
        ..EntropicOptions::default()
    };
    let e = entropic_path(&s, &s, &Surrogate::hinge(0.0).unwrap(), &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "entropic_path: parameter `relative_epsilons` = NaN is invalid: finite and > 0"
    );
    // 1001 × 1000 pairs exceed the limit of 10⁶: an error before any allocation of the plan.
    let (a, b) = (
        Sample::new(&[0.0; 1001]).unwrap(),
        Sample::new(&[0.0; 1000]).unwrap(),
    );
    let e = entropic_path(
        &a,
        &b,
        &Surrogate::hinge(0.0).unwrap(),
        &EntropicOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "entropic_path: `u.len() * v.len()` = 1001000 exceeds the limit 1000000 of this solver"
    );
}

#[test]
fn quick_sweep_passes_and_is_reproducible_across_thread_counts() {
    let config = SweepConfig {
        seed: 11,
        plan: Plan::Quick,
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run_sweep(&config, &|_| {})).unwrap()
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one, two);
    let s = &one.summary;
    assert_eq!(s.instances, 203);
    assert_eq!(
        s.disagreements,
        0,
        "{:?}",
        one.records.iter().find(|r| !r.agrees)
    );
    assert!(s.max_abs_gap < 1e-12 && s.max_duality_gap < 1e-10, "{s:?}");
    assert!(s.counterexamples_found > 0);
    assert_eq!(s.entropic_converged, s.entropic_solves);
    // Every convex family is checked against an exact solver somewhere.
    for f in one.families.iter().filter(|f| f.convex) {
        assert!(f.exact_checked > 0 && f.counterexamples_found == 0, "{f:?}");
    }
}

#[test]
fn cli_quick_json_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aot"))
        .args(["verify", "--quick", "--json", "--seed", "3", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "instances",
        "max_abs_gap",
        "max_duality_gap",
        "counterexamples_found",
        "seed",
    ] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
    assert_eq!(json["seed"], 3);
    assert_eq!(json["instances"], 203);
    for f in [
        "instances.csv",
        "entropic.csv",
        "gaps.png",
        "gaps.svg",
        "entropic.png",
    ] {
        assert!(dir.path().join(f).exists(), "{f} not written");
    }
    let csv = std::fs::read_to_string(dir.path().join("instances.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 203);
    assert!(csv.starts_with("id,family,cost,convex,"));
}

#[test]
fn cost_trait_objects_work_with_every_solver() {
    // The exact solvers take `&dyn Cost` as well as concrete costs.
    let u = Sample::new(&[0.0, 1.0, 2.0]).unwrap();
    let v = Sample::new(&[0.5, 0.5, 3.0]).unwrap();
    let h: &dyn Cost = &Surrogate::hinge(0.5).unwrap();
    let lp = lp_transport(&u, &v, h).unwrap();
    let bf = brute_force(&u, &v, h).unwrap();
    // Sorted pairs (0, 0.5), (1, 0.5), (2, 3): hinge margins (0.5 − x)_+ = 1, 0, 1.5; mean 5/6.
    assert!((lp.cost - 5.0 / 6.0).abs() < 1e-15 && (bf.best.cost - 5.0 / 6.0).abs() < 1e-15);
}
