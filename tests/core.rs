//! Property tests of the core: samples, the quantile merge, dominance, OT by sorting and the
//! AOT objectives. Each property is a theorem of notes §1–3 (or a definition) and is stated
//! above its test.

use aot::cost::{Cost, Surrogate};
use aot::coupling::segments;
use aot::dominance::{fsd, fsd_cdf, violation};
use aot::objective::{preference_loss, relaxed_violation, Loss, PreferenceBatch};
use aot::sample::Sample;
use aot::transport::{
    antitone_cost, comonotone_cost, comonotone_plan, ot_cost, ot_plan, wasserstein,
};
use proptest::prelude::*;

/// Values on a coarse grid so that ties occur often (ties are where conventions matter).
fn values(max_len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((-20i32..20).prop_map(|k| f64::from(k) * 0.25), 1..max_len)
}

/// Continuous values (ties have probability zero), for gradient checks.
fn smooth_values(len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-3.0f64..3.0, len)
}

fn weights(len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(prop_oneof![Just(0.0), 0.01f64..5.0], len)
        .prop_filter("positive total", |w| w.iter().sum::<f64>() > 0.0)
}

fn weighted_sample(max_len: usize) -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    values(max_len).prop_flat_map(|v| {
        let n = v.len();
        (Just(v), weights(n))
    })
}

fn convex_costs() -> impl Strategy<Value = Surrogate> {
    prop_oneof![
        (0.1f64..3.0).prop_map(|b| Surrogate::logistic(b).unwrap()),
        (0.1f64..3.0, 0.0f64..1.0).prop_map(|(b, e)| Surrogate::smoothed_logistic(b, e).unwrap()),
        (0.0f64..2.0).prop_map(|m| Surrogate::hinge(m).unwrap()),
        (0.0f64..2.0).prop_map(|m| Surrogate::squared_hinge(m).unwrap()),
        (-1.0f64..2.0).prop_map(|m| Surrogate::least_squares(m).unwrap()),
        (1.0f64..4.0).prop_map(|p| Surrogate::abs_power(p).unwrap()),
    ]
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// A permutation of 0..n from a seed list (Fisher–Yates driven by the proptest input).
fn permutation(n: usize, keys: &[u32]) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = keys[i % keys.len()] as usize % (i + 1);
        p.swap(i, j);
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The law of a sample, hence every derived quantity, is invariant under a joint permutation
    /// of its values and weights.
    #[test]
    fn joint_permutation_invariance(
        (u, wu) in weighted_sample(12),
        (v, wv) in weighted_sample(12),
        keys in prop::collection::vec(any::<u32>(), 1..8),
        h in convex_costs(),
    ) {
        let p = permutation(u.len(), &keys);
        let (u2, wu2): (Vec<f64>, Vec<f64>) = p.iter().map(|&i| (u[i], wu[i])).unzip();
        let (a, a2, b) = (
            Sample::weighted(&u, &wu).unwrap(),
            Sample::weighted(&u2, &wu2).unwrap(),
            Sample::weighted(&v, &wv).unwrap(),
        );
        for p in [0.0, 0.1, 0.3333, 0.5, 0.77, 1.0] {
            prop_assert_eq!(a.quantile(p).unwrap(), a2.quantile(p).unwrap());
        }
        prop_assert!(close(ot_cost(&a, &b, &h).unwrap(), ot_cost(&a2, &b, &h).unwrap(), 1e-12));
        let (x, y) = (violation(&a, &b), violation(&a2, &b));
        prop_assert!(close(x.zero_one, y.zero_one, 1e-12));
        prop_assert!(close(x.w2, y.w2, 1e-12));
        prop_assert_eq!(fsd(&a, &b).holds(), fsd(&a2, &b).holds());
    }

    /// Shift law: ε_h(U + s, V + s) = ε_h(U, V); scale law: W_p(cU, cV) = c W_p(U, V), and the
    /// β-logistic satisfies ε_{h_β}(U, V) = ε_{h_1}(βU, βV) (notes §9.6).
    #[test]
    fn shift_and_scale_laws(
        u in values(10), v in values(10), s in -5.0f64..5.0, c in 0.1f64..10.0,
        beta in 0.1f64..4.0, h in convex_costs(), p in 1.0f64..6.0,
    ) {
        let (a, b) = (Sample::new(&u).unwrap(), Sample::new(&v).unwrap());
        let map = |x: &[f64], f: &dyn Fn(f64) -> f64| {
            Sample::new(&x.iter().map(|&y| f(y)).collect::<Vec<_>>()).unwrap()
        };
        let shift = |x: &[f64], t: f64| map(x, &|y| y + t);
        let scale = |x: &[f64], t: f64| map(x, &|y| y * t);
        let base = ot_cost(&a, &b, &h).unwrap();
        prop_assert!(close(ot_cost(&shift(&u, s), &shift(&v, s), &h).unwrap(), base, 1e-9));
        prop_assert!(close(
            wasserstein(&scale(&u, c), &scale(&v, c), p).unwrap(),
            c * wasserstein(&a, &b, p).unwrap(),
            1e-12,
        ));
        let lb = ot_cost(&a, &b, &Surrogate::logistic(beta).unwrap()).unwrap();
        let unit = Surrogate::logistic(1.0).unwrap();
        let l1 = ot_cost(&scale(&u, beta), &scale(&v, beta), &unit).unwrap();
        prop_assert!(close(lb, l1, 1e-12));
        // The 0-1 violation only sees signs of gaps: invariant under positive scaling.
        let scaled = violation(&scale(&u, c), &scale(&v, c));
        prop_assert_eq!(violation(&a, &b).zero_one, scaled.zero_one);
    }

    /// W_p of a pure shift by s equals |s| for every p >= 1, including p = ∞.
    #[test]
    fn wasserstein_of_a_shift(
        (u, w) in weighted_sample(15),
        s in -1e3f64..1e3,
        p in 1.0f64..200.0,
    ) {
        let a = Sample::weighted(&u, &w).unwrap();
        let b = Sample::weighted(&u.iter().map(|x| x + s).collect::<Vec<_>>(), &w).unwrap();
        // Shifting by s moves each value by s up to one rounding: |(x + s) - x - s| <= ulp.
        let tol = 1e-12 * (1.0 + s.abs()) + 1e-12;
        for q in [1.0, 2.0, p, f64::INFINITY] {
            let d = wasserstein(&a, &b, q).unwrap();
            prop_assert!((d - s.abs()).abs() <= tol, "W_{} = {} vs |s| = {}", q, d, s.abs());
        }
    }

    /// Quantile/CDF duality (a Galois connection): Q(p) <= t  ⇔  p <= F(t), for p ∈ (0, 1].
    #[test]
    fn quantile_cdf_duality(
        (u, w) in weighted_sample(15),
        p in 0.0001f64..=1.0,
        t in -6.0f64..6.0,
    ) {
        let a = Sample::weighted(&u, &w).unwrap();
        prop_assert_eq!(a.quantile(p).unwrap() <= t, p <= a.cdf(t) * (1.0 + 1e-15));
        // F(Q(p)) >= p and Q(F(x)) <= x for every atom x.
        prop_assert!(a.cdf(a.quantile(p).unwrap()) >= p * (1.0 - 1e-15));
        for &x in a.sorted_values() {
            prop_assert!(a.quantile(a.cdf(x).min(1.0)).unwrap() <= x);
        }
    }

    /// The quantile form and the CDF form of dominance give the same verdict, on any sizes,
    /// weights and ties; the witness really witnesses.
    #[test]
    fn quantile_and_cdf_forms_agree(
        (u, wu) in weighted_sample(10),
        (v, wv) in weighted_sample(10),
    ) {
        let (a, b) = (Sample::weighted(&u, &wu).unwrap(), Sample::weighted(&v, &wv).unwrap());
        let (q, c) = (fsd(&a, &b), fsd_cdf(&a, &b));
        prop_assert_eq!(q.holds(), c.holds());
        prop_assert_eq!(q.is_strict(), c.is_strict());
        for w in [q.witness(), c.witness()].into_iter().flatten() {
            prop_assert!(w.u_quantile < w.v_quantile);
            prop_assert!(w.u_cdf > w.v_cdf);
            prop_assert_eq!(a.cdf(w.point), w.u_cdf);
        }
        // ε_{0-1} = 0 exactly when dominance holds.
        prop_assert_eq!(violation(&a, &b).zero_one == 0.0, q.holds());
        prop_assert_eq!(violation(&a, &b).eps_w2 == 0.0, q.holds());
    }

    /// Dominance is reflexive and transitive. Triples with U ≽ V ≽ W are built by adding
    /// nonnegative amounts rank by rank (which preserves the order of quantiles).
    #[test]
    fn dominance_reflexive_and_transitive(
        w in smooth_values(8),
        d1 in prop::collection::vec(0.0f64..1.0, 8),
        d2 in prop::collection::vec(0.0f64..1.0, 8),
        keys in prop::collection::vec(any::<u32>(), 1..8),
    ) {
        let mut ws = w.clone();
        ws.sort_by(f64::total_cmp);
        let vs: Vec<f64> = ws.iter().zip(&d1).map(|(x, d)| x + d).collect();
        let us: Vec<f64> = vs.iter().zip(&d2).map(|(x, d)| x + d).collect();
        let p = permutation(8, &keys);
        let shuffled = |x: &[f64]| p.iter().map(|&i| x[i]).collect::<Vec<_>>();
        let (a, b, c) = (
            Sample::new(&shuffled(&us)).unwrap(),
            Sample::new(&vs).unwrap(),
            Sample::new(&ws).unwrap(),
        );
        prop_assert!(fsd(&a, &a).holds() && !fsd(&a, &a).is_strict());
        prop_assert!(fsd(&a, &b).holds());
        prop_assert!(fsd(&b, &c).holds());
        prop_assert!(fsd(&a, &c).holds());
        // A doubled copy of V (different size, same law) keeps every verdict.
        let b2 = Sample::new(&[vs.clone(), vs.clone()].concat()).unwrap();
        prop_assert!(fsd(&a, &b2).holds() && fsd(&b2, &c).holds());
        prop_assert!(fsd_cdf(&b2, &b).holds() && fsd_cdf(&b, &b2).holds());
    }

    /// For convex h the sorted pairing costs no more than any permutation, and the anti-monotone
    /// pairing costs no less (notes §2.2 and §9.15).
    #[test]
    fn sorting_is_optimal_and_antitone_is_worst(
        u in smooth_values(7), v in smooth_values(7), h in convex_costs(),
        keys in prop::collection::vec(any::<u32>(), 1..8),
    ) {
        let (a, b) = (Sample::new(&u).unwrap(), Sample::new(&v).unwrap());
        let p = permutation(7, &keys);
        let pairing: f64 = (0..7).map(|i| h.value(u[i] - v[p[i]])).sum::<f64>() / 7.0;
        let sorted = ot_cost(&a, &b, &h).unwrap();
        let worst = antitone_cost(&a, &b, &h).unwrap();
        prop_assert!(sorted <= pairing * (1.0 + 1e-12) + 1e-12);
        prop_assert!(pairing <= worst * (1.0 + 1e-12) + 1e-12);
    }

    /// The sorted plan is a coupling: its marginals are the two weight vectors; it has at most
    /// n + m − 1 entries; and its support is monotone.
    #[test]
    fn plan_is_a_monotone_coupling((u, wu) in weighted_sample(10), (v, wv) in weighted_sample(10)) {
        let (a, b) = (Sample::weighted(&u, &wu).unwrap(), Sample::weighted(&v, &wv).unwrap());
        let plan = ot_plan(&a, &b, &Surrogate::abs_power(2.0).unwrap()).unwrap();
        prop_assert!(plan.entries.len() < a.len() + b.len());
        let (tu, tv) = (wu.iter().sum::<f64>(), wv.iter().sum::<f64>());
        let mut row = vec![0.0; u.len()];
        let mut col = vec![0.0; v.len()];
        for e in &plan.entries {
            row[e.i] += e.mass;
            col[e.j] += e.mass;
        }
        for i in 0..u.len() {
            let want = wu[i] / tu;
            prop_assert!((row[i] - want).abs() < 1e-12, "row {}: {} vs {}", i, row[i], want);
        }
        for j in 0..v.len() {
            prop_assert!((col[j] - wv[j] / tv).abs() < 1e-12);
        }
        for w in plan.entries.windows(2) {
            prop_assert!(w[0].u <= w[1].u && w[0].v <= w[1].v);
        }
    }

    /// Analytic gradients of ε_h match central finite differences away from ties, for weighted
    /// samples of unequal sizes. Step 1e-6 on values in [-3, 3]: truncation error O(h² h''') and
    /// rounding O(ε/1e-6) ≈ 1e-10, so a tolerance of 1e-6 is ample.
    #[test]
    fn gradients_match_finite_differences(
        u in smooth_values(5), v in smooth_values(3), wu in weights(5), wv in weights(3),
        h in prop_oneof![
            (0.2f64..3.0).prop_map(|b| Surrogate::logistic(b).unwrap()),
            (0.2f64..3.0, 0.0f64..1.0)
                .prop_map(|(b, e)| Surrogate::smoothed_logistic(b, e).unwrap()),
            (-1.0f64..2.0).prop_map(|m| Surrogate::least_squares(m).unwrap()),
            (0.0f64..2.0).prop_map(|m| Surrogate::squared_hinge(m).unwrap()),
        ],
    ) {
        let eval = |u: &[f64], v: &[f64]| {
            let (a, b) = (Sample::weighted(u, &wu).unwrap(), Sample::weighted(v, &wv).unwrap());
            relaxed_violation(&a, &b, &h).unwrap()
        };
        let g = eval(&u, &v);
        let step = 1e-6;
        // Skip draws with near-ties, where the sort order could flip inside the step.
        let all: Vec<f64> = u.iter().chain(&v).copied().collect();
        let min_sep = all.iter().enumerate()
            .flat_map(|(i, x)| all[i + 1..].iter().map(move |y| (x - y).abs()))
            .fold(f64::INFINITY, f64::min);
        prop_assume!(min_sep > 1e-3);
        for i in 0..u.len() {
            let (mut up, mut dn) = (u.clone(), u.clone());
            up[i] += step;
            dn[i] -= step;
            let fd = (eval(&up, &v).value - eval(&dn, &v).value) / (2.0 * step);
            prop_assert!((fd - g.grad_u[i]).abs() < 1e-6, "u[{}]: fd {} vs {}", i, fd, g.grad_u[i]);
        }
        for j in 0..v.len() {
            let (mut up, mut dn) = (v.clone(), v.clone());
            up[j] += step;
            dn[j] -= step;
            let fd = (eval(&u, &up).value - eval(&u, &dn).value) / (2.0 * step);
            prop_assert!((fd - g.grad_v[j]).abs() < 1e-6, "v[{}]: fd {} vs {}", j, fd, g.grad_v[j]);
        }
        // Invariance under a common shift: the gradients sum to zero (notes §2.5).
        let total: f64 = g.grad_u.iter().chain(&g.grad_v).sum();
        prop_assert!(total.abs() < 1e-12);
    }

    /// Sandwich (notes §3.3): h(mean gap) <= AOT <= DPO for any batch and convex h, for both
    /// variants; and the gradients of the preference losses match finite differences.
    #[test]
    fn sandwich_and_loss_gradients(
        c in smooth_values(6),
        r in smooth_values(6),
        cr in smooth_values(6),
        rr in smooth_values(6),
        h in convex_costs(),
    ) {
        let batch = PreferenceBatch {
            policy_chosen: &c, policy_rejected: &r, reference_chosen: &cr, reference_rejected: &rr,
        };
        let dpo = preference_loss(&batch, Loss::Dpo, &h).unwrap().value;
        let mean_gap = (0..6).map(|i| (c[i] - cr[i]) - (r[i] - rr[i])).sum::<f64>() / 6.0;
        for loss in [Loss::AotPaired, Loss::AotUnpaired] {
            let aot = preference_loss(&batch, loss, &h).unwrap().value;
            prop_assert!(aot <= dpo * (1.0 + 1e-12) + 1e-12, "{:?}: {} > {}", loss, aot, dpo);
            prop_assert!(h.value(mean_gap) <= aot * (1.0 + 1e-12) + 1e-12);
        }
    }

    /// Relaxation bound (notes §9.9): ε_{0-1} <= ε_h / h(0) for h nonincreasing on (−∞, 0] with
    /// h(0) > 0, since h(x) >= h(0) wherever the gap is negative.
    #[test]
    fn relaxation_bound(u in values(12), v in values(12), h in convex_costs()) {
        prop_assume!(h.dominates_zero_one_below_zero() && h.at_zero() > 0.0);
        let (a, b) = (Sample::new(&u).unwrap(), Sample::new(&v).unwrap());
        let eps01 = violation(&a, &b).zero_one;
        let eps_h = ot_cost(&a, &b, &h).unwrap();
        prop_assert!(eps01 <= eps_h / h.at_zero() * (1.0 + 1e-12) + 1e-15);
        prop_assert_eq!(comonotone_cost(&a, &b, &Surrogate::zero_one()).unwrap(), eps01);
    }

    /// `comonotone_plan` is the sorted coupling for any cost: for a convex cost it is
    /// `ot_plan`, entry for entry; for any cost its entries do not depend on the cost and its
    /// cost is `comonotone_cost` (for the 0-1 cost, the quantile violation `ε_{0-1}`).
    #[test]
    fn comonotone_plan_is_the_sorted_coupling_for_any_cost(
        (u, wu) in weighted_sample(10),
        (v, wv) in weighted_sample(10),
        h in convex_costs(),
        p in 0.1f64..1.0,
    ) {
        let (a, b) = (Sample::weighted(&u, &wu).unwrap(), Sample::weighted(&v, &wv).unwrap());
        let sorted = comonotone_plan(&a, &b, &h).unwrap();
        prop_assert_eq!(&sorted, &ot_plan(&a, &b, &h).unwrap());
        for g in [Surrogate::zero_one(), Surrogate::abs_power(p).unwrap()] {
            let plan = comonotone_plan(&a, &b, &g).unwrap();
            prop_assert_eq!(&plan.entries, &sorted.entries);
            prop_assert_eq!(plan.cost, comonotone_cost(&a, &b, &g).unwrap());
        }
        let zero_one = comonotone_plan(&a, &b, &Surrogate::zero_one()).unwrap().cost;
        prop_assert_eq!(zero_one, violation(&a, &b).zero_one);
    }

    /// The merge gives the same segments, bit for bit, whether it is stepped with `next` or run
    /// by `fold` (which sums use, and which has its own loops for each case), also after `skip`
    /// steps taken with `next`. Uniform samples of equal size, unequal size, mixed and weighted.
    #[test]
    fn fold_and_next_give_the_same_segments(
        (u, wu) in weighted_sample(12),
        (v, wv) in weighted_sample(12),
        uniform in 0usize..4,
        skip in 0usize..4,
    ) {
        let a = if uniform & 1 == 0 { Sample::new(&u) } else { Sample::weighted(&u, &wu) };
        let b = if uniform & 2 == 0 { Sample::new(&v) } else { Sample::weighted(&v, &wv) };
        let (a, b) = (a.unwrap(), b.unwrap());
        // Equal sizes too: the same values on both sides.
        for (a, b) in [(&a, &b), (&a, &a)] {
            let mut stepped = segments(a, b);
            let mut folded = segments(a, b);
            let mut head = Vec::new();
            for _ in 0..skip {
                if let (Some(s), Some(t)) = (stepped.next(), folded.next()) {
                    prop_assert_eq!(s, t);
                    head.push(s);
                }
            }
            let by_next: Vec<_> = std::iter::from_fn(|| stepped.next()).collect();
            let by_fold = folded.fold(Vec::new(), |mut acc, s| {
                acc.push(s);
                acc
            });
            let bits = |segs: &[aot::coupling::Segment]| -> Vec<[u64; 5]> {
                segs.iter()
                    .map(|s| [s.level_start, s.level_end, s.mass, s.u, s.v].map(f64::to_bits))
                    .collect()
            };
            prop_assert_eq!(bits(&by_next), bits(&by_fold));
            let ranks = |segs: &[aot::coupling::Segment]| -> Vec<(usize, usize)> {
                segs.iter().map(|s| (s.u_rank, s.v_rank)).collect()
            };
            prop_assert_eq!(ranks(&by_next), ranks(&by_fold));
        }
    }
}

/// The segment masses of any merge sum to one and levels increase.
#[test]
fn segments_partition_the_unit_interval() {
    let a = Sample::weighted(&[0.3, 0.1, 0.2], &[1.0, 2.0, 3.0]).unwrap();
    let b = Sample::new(&[5.0, 4.0, 6.0, 7.0, 8.0]).unwrap();
    let segs: Vec<_> = segments(&a, &b).collect();
    let total: f64 = segs.iter().map(|s| s.mass).sum();
    assert!((total - 1.0).abs() < 1e-15);
    assert_eq!(segs.last().unwrap().level_end, 1.0);
    for w in segs.windows(2) {
        assert_eq!(w[0].level_end, w[1].level_start);
    }
}

/// Notes §2.3: the 0-1 cost on U = {0, 2}, V = {1, 3}: sorted pairing (0,1), (2,3) costs 1
/// (both gaps negative); the crossed pairing (0,3), (2,1) costs 1/2. Sorting is rejected as an
/// OT solver for this cost, and its comonotone value is the quantile violation 1.
#[test]
fn zero_one_counterexample() {
    let (u, v) = (
        Sample::new(&[0.0, 2.0]).unwrap(),
        Sample::new(&[1.0, 3.0]).unwrap(),
    );
    let h = Surrogate::zero_one();
    assert!(ot_cost(&u, &v, &h).is_err());
    assert_eq!(comonotone_cost(&u, &v, &h).unwrap(), 1.0);
    let crossed = (h.value(0.0 - 3.0) + h.value(2.0 - 1.0)) / 2.0;
    assert_eq!(crossed, 0.5);
}

/// Notes §4.3 / §9.10 use the logistic with β = 1 on two normals; here a hand-checkable case:
/// U = {1, 2, 3} vs V = {0, 1, 2} is a pure shift by 1, so every gap is 1 and
/// ε_h = log(1 + e^{-1}) = 0.31326168751822286 for the 1-logistic.
#[test]
fn shift_by_one_logistic_value() {
    let (u, v) = (
        Sample::new(&[3.0, 1.0, 2.0]).unwrap(),
        Sample::new(&[0.0, 2.0, 1.0]).unwrap(),
    );
    let e = ot_cost(&u, &v, &Surrogate::logistic(1.0).unwrap()).unwrap();
    assert!((e - 0.313_261_687_518_222_86).abs() < 1e-15);
    assert!(fsd(&u, &v).is_strict());
}
