#![cfg(feature = "candle")]
//! The tensor losses against the core f64 objective, finite differences, TRL's definitions and
//! the properties of the paper notes (§3, §9).

use aot::candle::{
    preference_loss, surrogate_values, Error, PreferenceLoss, PreferenceTensors, Sorting,
};
use aot::cost::{softplus, Cost, Surrogate};
use aot::objective::{self, Loss, PreferenceBatch};
use candle_core::{DType, Device, Tensor, Var};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// Four per-sequence log-prob vectors: policy chosen, policy rejected, ref chosen, ref rejected.
type Batch = [Vec<f64>; 4];

/// Log-probs of a plausible scale (sums over tens of tokens): N(−30, 6²) for the reference, the
/// policy a N(0, 1.5²) perturbation of it, so that log-ratios are O(1).
fn random_batch(rng: &mut StdRng, n: usize) -> Batch {
    let base = Normal::new(-30.0, 6.0).unwrap();
    let shift = Normal::new(0.0, 1.5).unwrap();
    let rc: Vec<f64> = (0..n).map(|_| base.sample(rng)).collect();
    let rr: Vec<f64> = (0..n).map(|_| base.sample(rng)).collect();
    let pc = rc.iter().map(|r| r + shift.sample(rng)).collect();
    let pr = rr.iter().map(|r| r + shift.sample(rng)).collect();
    [pc, pr, rc, rr]
}

fn surrogates() -> Vec<Surrogate> {
    vec![
        Surrogate::logistic(0.1).unwrap(),
        Surrogate::logistic(1.0).unwrap(),
        Surrogate::smoothed_logistic(0.5, 0.1).unwrap(),
        Surrogate::smoothed_logistic(2.0, 0.6).unwrap(),
        Surrogate::hinge(1.0).unwrap(),
        Surrogate::squared_hinge(0.5).unwrap(),
        Surrogate::least_squares(0.3).unwrap(),
        Surrogate::abs_power(1.5).unwrap(),
        Surrogate::zero_one(),
    ]
}

fn core_loss(batch: &Batch, loss: Loss, h: &Surrogate) -> objective::LossValue {
    let b = PreferenceBatch {
        policy_chosen: &batch[0],
        policy_rejected: &batch[1],
        reference_chosen: &batch[2],
        reference_rejected: &batch[3],
    };
    objective::preference_loss(&b, loss, h).unwrap()
}

/// The candle loss and the gradients with respect to all four inputs (all made variables).
fn candle_loss(batch: &Batch, config: PreferenceLoss, dtype: DType) -> (f64, [Vec<f64>; 4]) {
    let dev = Device::Cpu;
    let vars: Vec<Var> = batch
        .iter()
        .map(|v| {
            let t = Tensor::new(v.as_slice(), &dev)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            Var::from_tensor(&t).unwrap()
        })
        .collect();
    let tensors = PreferenceTensors {
        policy_chosen: vars[0].as_tensor(),
        policy_rejected: vars[1].as_tensor(),
        reference_chosen: vars[2].as_tensor(),
        reference_rejected: vars[3].as_tensor(),
    };
    let loss = config.compute(&tensors).unwrap();
    let value = loss
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let grads = loss.backward().unwrap();
    let grad = |var: &Var| -> Vec<f64> {
        match grads.get(var.as_tensor()) {
            Some(g) => g.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap(),
            // No gradient recorded (the zero-one cost has none): zero.
            None => vec![0.0; var.dim(0).unwrap()],
        }
    };
    (
        value,
        [
            grad(&vars[0]),
            grad(&vars[1]),
            grad(&vars[2]),
            grad(&vars[3]),
        ],
    )
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Seeded random batches (seed 20240609, sizes 1..=24): the f64 candle loss equals the core
/// objective to 1e-12 (relative to max(1, |loss|)) and so do all four gradients (relative to
/// max(1, max |grad|)). The only difference of computation is the softplus tail:
/// log(1 + e^{−|z|}) here, log1p in the core, below 2.3e-16 apart.
#[test]
fn f64_loss_and_gradients_equal_core() {
    let mut rng = StdRng::seed_from_u64(20240609);
    for _ in 0..40 {
        let n = rng.random_range(1..=24);
        let batch = random_batch(&mut rng, n);
        for h in surrogates() {
            for loss in Loss::ALL {
                let core = core_loss(&batch, loss, &h);
                let (value, grads) = candle_loss(&batch, PreferenceLoss::new(loss, h), DType::F64);
                let tol = 1e-12 * core.value.abs().max(1.0);
                assert!(
                    (value - core.value).abs() <= tol,
                    "{loss:?} {h}: {value} vs {}",
                    core.value
                );
                let core_grads = [
                    &core.grad_policy_chosen,
                    &core.grad_policy_rejected,
                    &core.grad_reference_chosen,
                    &core.grad_reference_rejected,
                ];
                for (g, c) in grads.iter().zip(core_grads) {
                    let tol = 1e-12 * max_abs(c).max(1.0);
                    for (a, b) in g.iter().zip(c) {
                        assert!((a - b).abs() <= tol, "{loss:?} {h}: grad {a} vs {b}");
                    }
                }
            }
        }
    }
}

/// f32: inputs rounded to f32 first (the core then sees the same numbers in f64); the loss agrees
/// to 1e-5 relative, gradients to 1e-4 of their largest magnitude (f32 has 6e-8 relative
/// precision and log-probs of size ~30 lose about 2e-6 in each difference).
#[test]
fn f32_loss_and_gradients_match_core() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..30 {
        let n = rng.random_range(1..=32);
        let mut batch = random_batch(&mut rng, n);
        for v in batch.iter_mut() {
            v.iter_mut().for_each(|x| *x = *x as f32 as f64);
        }
        for h in surrogates() {
            if h == Surrogate::zero_one() {
                // A gap within f32 rounding of 0 could flip its side; the value is checked in f64.
                continue;
            }
            for loss in Loss::ALL {
                let core = core_loss(&batch, loss, &h);
                let (value, grads) = candle_loss(&batch, PreferenceLoss::new(loss, h), DType::F32);
                let rel = (value - core.value).abs() / core.value.abs().max(1e-3);
                assert!(
                    rel <= 1e-5,
                    "{loss:?} {h}: {value} vs {} (rel {rel})",
                    core.value
                );
                let scale = max_abs(&core.grad_policy_chosen)
                    .max(max_abs(&core.grad_policy_rejected))
                    .max(1e-6);
                for (a, b) in grads[0].iter().zip(&core.grad_policy_chosen) {
                    assert!((a - b).abs() <= 1e-4 * scale, "{loss:?} {h}: {a} vs {b}");
                }
                for (a, b) in grads[1].iter().zip(&core.grad_policy_rejected) {
                    assert!((a - b).abs() <= 1e-4 * scale, "{loss:?} {h}: {a} vs {b}");
                }
            }
        }
    }
}

/// Central differences with step 1e-6 on the candle loss itself (f64) against autograd, for the
/// differentiable surrogates, away from ties and kinks (random continuous inputs). The error of
/// a central difference is O(step²·h''') plus rounding ~1e-16/1e-6 = 1e-10; tolerance 1e-7.
#[test]
fn gradients_match_finite_differences() {
    let mut rng = StdRng::seed_from_u64(11);
    let step = 1e-6;
    for _ in 0..8 {
        let n = rng.random_range(1..=8);
        let batch = random_batch(&mut rng, n);
        for h in surrogates() {
            if h == Surrogate::zero_one() {
                continue;
            }
            for loss in Loss::ALL {
                let config = PreferenceLoss::new(loss, h);
                let (_, grads) = candle_loss(&batch, config, DType::F64);
                for which in 0..4 {
                    for i in 0..n {
                        let mut plus = batch.clone();
                        plus[which][i] += step;
                        let mut minus = batch.clone();
                        minus[which][i] -= step;
                        let fd = (candle_loss(&plus, config, DType::F64).0
                            - candle_loss(&minus, config, DType::F64).0)
                            / (2.0 * step);
                        let g = grads[which][i];
                        assert!(
                            (fd - g).abs() <= 1e-7 * g.abs().max(1.0),
                            "{loss:?} {h}: {fd} vs {g}"
                        );
                    }
                }
            }
        }
    }
}

/// Soft sorting with the same seeds: the soft-sort gradient (block averaging through the sort)
/// also matches central differences.
#[test]
fn soft_sort_loss_gradients_match_finite_differences() {
    let mut rng = StdRng::seed_from_u64(12);
    let step = 1e-6;
    let h = Surrogate::logistic(1.0).unwrap();
    for strength in [0.1, 1.0, 10.0] {
        for loss in [Loss::AotPaired, Loss::AotUnpaired] {
            let batch = random_batch(&mut rng, 6);
            let config = PreferenceLoss::new(loss, h).with_sorting(Sorting::Soft { strength });
            let (_, grads) = candle_loss(&batch, config, DType::F64);
            for which in 0..4 {
                for i in 0..6 {
                    let mut plus = batch.clone();
                    plus[which][i] += step;
                    let mut minus = batch.clone();
                    minus[which][i] -= step;
                    let fd = (candle_loss(&plus, config, DType::F64).0
                        - candle_loss(&minus, config, DType::F64).0)
                        / (2.0 * step);
                    let g = grads[which][i];
                    assert!((fd - g).abs() <= 1e-7, "{loss:?} ε={strength}: {fd} vs {g}");
                }
            }
        }
    }
}

/// Paper notes §3.3: with n = 1 both AOT losses are the DPO loss, for every surrogate.
#[test]
fn batch_of_one_is_dpo() {
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..20 {
        let batch = random_batch(&mut rng, 1);
        for h in surrogates() {
            let (dpo, dpo_grads) =
                candle_loss(&batch, PreferenceLoss::new(Loss::Dpo, h), DType::F64);
            for loss in [Loss::AotPaired, Loss::AotUnpaired] {
                let (value, grads) = candle_loss(&batch, PreferenceLoss::new(loss, h), DType::F64);
                assert_eq!(value, dpo, "{loss:?} {h}");
                for (g, d) in grads.iter().zip(&dpo_grads) {
                    assert!((g[0] - d[0]).abs() <= 1e-15, "{loss:?} {h}");
                }
            }
        }
    }
}

fn tensors(batch: &Batch) -> [Tensor; 4] {
    let t = |v: &Vec<f64>| Tensor::new(v.as_slice(), &Device::Cpu).unwrap();
    [t(&batch[0]), t(&batch[1]), t(&batch[2]), t(&batch[3])]
}

fn loss_of(batch: &Batch, config: PreferenceLoss) -> f64 {
    let [pc, pr, rc, rr] = tensors(batch);
    let b = PreferenceTensors {
        policy_chosen: &pc,
        policy_rejected: &pr,
        reference_chosen: &rc,
        reference_rejected: &rr,
    };
    config.compute(&b).unwrap().to_scalar::<f64>().unwrap()
}

/// TRL `aot_unpaired`, `aot` and `sigmoid` (paper notes §3.1, §3.2, §6) on a fixed batch, the
/// expected values derived by hand:
///
/// ```text
/// c  = (−1, −3, −2)      r  = (−2, −1, −4)      ĉ = (−1.5, −2.5, −2)     r̂ = (−1.5, −2, −3)
/// unpaired: u = c − ĉ = (0.5, −0.5, 0),  v = r − r̂ = (−0.5, 1, −1)
///           sort(u) = (−0.5, 0, 0.5),    sort(v) = (−1, −0.5, 1)   ⇒ δ = (0.5, 0.5, −0.5)
/// paired:   m = c − r = (1, −2, 2),      m̂ = ĉ − r̂ = (0, −0.5, 1)
///           sort(m) = (−2, 1, 2),        sort(m̂) = (−0.5, 0, 1)    ⇒ δ = (−1.5, 1, 1)
/// dpo:      δ = u − v = (1, −1.5, 1)
/// loss = mean[(1−ε) softplus(−βδ) + ε softplus(βδ)]   (TRL: −(1−ε) log σ(βδ) − ε log σ(−βδ))
/// ```
#[test]
fn trl_definitions_on_a_fixed_batch() {
    let batch: Batch = [
        vec![-1.0, -3.0, -2.0],
        vec![-2.0, -1.0, -4.0],
        vec![-1.5, -2.5, -2.0],
        vec![-1.5, -2.0, -3.0],
    ];
    let trl_term = |delta: f64, beta: f64, eps: f64| {
        (1.0 - eps) * softplus(-beta * delta) + eps * softplus(beta * delta)
    };
    let expected = |deltas: [f64; 3], beta: f64, eps: f64| {
        deltas.iter().map(|&d| trl_term(d, beta, eps)).sum::<f64>() / 3.0
    };
    #[rustfmt::skip]
    let table: [(Loss, [f64; 3]); 3] = [
        (Loss::AotUnpaired, [0.5, 0.5, -0.5]),
        (Loss::AotPaired,   [-1.5, 1.0, 1.0]),
        (Loss::Dpo,         [1.0, -1.5, 1.0]),
    ];
    for (loss, deltas) in table {
        for (beta, eps) in [(0.1, 0.0), (1.0, 0.0), (2.0, 0.2), (0.01, 0.1)] {
            let config = PreferenceLoss::trl(loss, beta, eps).unwrap();
            let value = loss_of(&batch, config);
            let want = expected(deltas, beta, eps);
            assert!(
                (value - want).abs() <= 1e-15,
                "{loss:?} β={beta} ε={eps}: {value} vs {want}"
            );
        }
    }
    // One number written out, β = 1, ε = 0, unpaired: (2 softplus(−0.5) + softplus(0.5)) / 3
    // = (2 · 0.474076984180107 + 0.974076984180107) / 3 = 0.640743650846773 (by hand with
    // ln(1 + e^{∓0.5})).
    let value = loss_of(
        &batch,
        PreferenceLoss::trl(Loss::AotUnpaired, 1.0, 0.0).unwrap(),
    );
    assert!((value - 0.640743650846773).abs() < 1e-14);
    // The gaps themselves.
    let [pc, pr, rc, rr] = tensors(&batch);
    let b = PreferenceTensors {
        policy_chosen: &pc,
        policy_rejected: &pr,
        reference_chosen: &rc,
        reference_rejected: &rr,
    };
    let gaps = PreferenceLoss::trl(Loss::AotPaired, 1.0, 0.0)
        .unwrap()
        .gaps(&b)
        .unwrap();
    assert_eq!(gaps.to_vec1::<f64>().unwrap(), vec![-1.5, 1.0, 1.0]);
}

/// The anti-monotone pairing of a buggy port (paper notes §7: chosen ascending, rejected
/// descending) maximises the cost; on the fixed batch, paired: sort(m) = (−2, 1, 2) against
/// (1, 0, −0.5) gives δ = (−3, 1, 2.5), a larger loss than the correct one and than DPO (which
/// here has the same gaps as the sorted pairing, (1, −1.5, 1), so the two are equal).
#[test]
fn anti_monotone_pairing_is_detected() {
    let batch: Batch = [
        vec![-1.0, -3.0, -2.0],
        vec![-2.0, -1.0, -4.0],
        vec![-1.5, -2.5, -2.0],
        vec![-1.5, -2.0, -3.0],
    ];
    let config = PreferenceLoss::trl(Loss::AotPaired, 1.0, 0.0).unwrap();
    let correct = loss_of(&batch, config);
    let anti = [-3.0f64, 1.0, 2.5]
        .iter()
        .map(|d| softplus(-d))
        .sum::<f64>()
        / 3.0;
    let dpo = loss_of(&batch, PreferenceLoss::trl(Loss::Dpo, 1.0, 0.0).unwrap());
    assert!(correct <= dpo && dpo < anti, "{correct} {dpo} {anti}");
}

/// Paper notes §3.4 and §9.8: the label-smoothed logistic has its minimiser at
/// x* = log((1−ε)/ε)/β; with n = 1 the loss as a function of the gap δ = c is h(δ), so autograd's
/// derivative vanishes at δ = x* and the loss rises on both sides. β = 2, ε = 0.1 gives
/// x* = ln 9 / 2 = 1.0986.
#[test]
fn label_smoothing_minimiser() {
    for (beta, eps) in [(2.0f64, 0.1f64), (0.5, 0.3), (1.0, 0.05)] {
        let x_star = ((1.0 - eps) / eps).ln() / beta;
        if (beta, eps) == (2.0, 0.1) {
            assert!((x_star - 1.0986).abs() < 1e-4);
        }
        let config = PreferenceLoss::trl(Loss::AotPaired, beta, eps).unwrap();
        let at = |delta: f64| {
            let batch: Batch = [vec![delta], vec![0.0], vec![0.0], vec![0.0]];
            candle_loss(&batch, config, DType::F64)
        };
        let (value, grads) = at(x_star);
        assert!(grads[0][0].abs() < 1e-15, "h'(x*) = {}", grads[0][0]);
        assert!(at(x_star - 1e-3).0 > value && at(x_star + 1e-3).0 > value);
    }
}

/// Soft sorting converges to hard sorting as the strength goes to 0 (paper notes §9.14): the
/// soft-AOT loss with strength 1e-9 equals the hard one (every PAV block is a singleton then),
/// and the gap shrinks monotonically along a decreasing sequence of strengths.
#[test]
fn soft_aot_converges_to_hard_aot() {
    let mut rng = StdRng::seed_from_u64(5);
    let batch = random_batch(&mut rng, 16);
    for loss in [Loss::AotPaired, Loss::AotUnpaired] {
        let hard = PreferenceLoss::trl(loss, 1.0, 0.0).unwrap();
        let hard_value = loss_of(&batch, hard);
        let mut previous = f64::INFINITY;
        for strength in [100.0, 10.0, 1.0, 0.1, 0.01] {
            let gap =
                (loss_of(&batch, hard.with_sorting(Sorting::Soft { strength })) - hard_value).abs();
            assert!(
                gap <= previous + 1e-15,
                "{loss:?} ε={strength}: {gap} > {previous}"
            );
            previous = gap;
        }
        let tiny = loss_of(&batch, hard.with_sorting(Sorting::Soft { strength: 1e-9 }));
        assert_eq!(tiny, hard_value);
        // A very large strength pools everything: both sides become their means, δ is constant.
        let pooled = loss_of(&batch, hard.with_sorting(Sorting::Soft { strength: 1e9 }));
        let (a, b) = match loss {
            Loss::AotPaired => (0, 2),
            _ => (0, 1),
        };
        let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        let delta = match loss {
            Loss::AotPaired => {
                (mean(&batch[a]) - mean(&batch[1])) - (mean(&batch[b]) - mean(&batch[3]))
            }
            _ => (mean(&batch[a]) - mean(&batch[2])) - (mean(&batch[b]) - mean(&batch[3])),
        };
        assert!(
            (pooled - softplus(-delta)).abs() < 1e-6,
            "{loss:?}: {pooled}"
        );
    }
}

fn error_of(batch: [&Tensor; 4]) -> Error {
    let b = PreferenceTensors {
        policy_chosen: batch[0],
        policy_rejected: batch[1],
        reference_chosen: batch[2],
        reference_rejected: batch[3],
    };
    PreferenceLoss::trl(Loss::AotPaired, 0.1, 0.0)
        .unwrap()
        .compute(&b)
        .unwrap_err()
}

#[test]
fn malformed_batches_are_typed_errors() {
    let dev = Device::Cpu;
    let ok = Tensor::new(&[-1.0f64, -2.0, -3.0], &dev).unwrap();
    let short = Tensor::new(&[-1.0f64, -2.0], &dev).unwrap();
    let nan = Tensor::new(&[-1.0f64, f64::NAN, -3.0], &dev).unwrap();
    let inf = Tensor::new(&[-1.0f64, -2.0, f64::NEG_INFINITY], &dev).unwrap();
    let f32s = Tensor::new(&[-1.0f32, -2.0, -3.0], &dev).unwrap();
    let matrix = Tensor::zeros((3, 1), DType::F64, &dev).unwrap();
    let empty = Tensor::zeros(0, DType::F64, &dev).unwrap();
    let ints = Tensor::new(&[1u32, 2, 3], &dev).unwrap();

    let e = error_of([&ok, &short, &ok, &ok]);
    assert!(
        matches!(
            e,
            Error::Shape {
                argument: "policy_rejected",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "PreferenceLoss::compute: `policy_rejected` has shape [2], expected [3] (the shape of \
         `policy_chosen`)"
    );
    let e = error_of([&ok, &ok, &nan, &ok]);
    assert!(
        matches!(
            e,
            Error::NonFinite {
                argument: "reference_chosen",
                index: 1,
                ..
            }
        ),
        "{e}"
    );
    let e = error_of([&ok, &ok, &ok, &inf]);
    assert!(matches!(
        e,
        Error::NonFinite {
            argument: "reference_rejected",
            index: 2,
            ..
        }
    ));
    assert!(e.to_string().contains("-inf"), "{e}");
    let e = error_of([&ok, &ok, &f32s, &ok]);
    assert!(
        matches!(
            e,
            Error::DType {
                argument: "reference_chosen",
                ..
            }
        ),
        "{e}"
    );
    assert!(matches!(
        error_of([&matrix, &ok, &ok, &ok]),
        Error::Shape { .. }
    ));
    assert!(matches!(
        error_of([&empty, &empty, &empty, &empty]),
        Error::Shape { .. }
    ));
    assert!(matches!(
        error_of([&ints, &ints, &ints, &ints]),
        Error::DType { .. }
    ));
    // NaN in the policy before any sort.
    assert!(matches!(
        error_of([&nan, &ok, &ok, &ok]),
        Error::NonFinite { index: 1, .. }
    ));
    // A negative soft-sort strength.
    let b = PreferenceTensors {
        policy_chosen: &ok,
        policy_rejected: &ok,
        reference_chosen: &ok,
        reference_rejected: &ok,
    };
    let soft = PreferenceLoss::trl(Loss::AotUnpaired, 0.1, 0.0)
        .unwrap()
        .with_sorting(Sorting::Soft { strength: -1.0 });
    assert!(matches!(
        soft.compute(&b),
        Err(Error::InvalidArgument {
            argument: "strength",
            ..
        })
    ));
    // Surrogate constructors reject bad parameters (core errors, wrapped).
    assert!(matches!(
        PreferenceLoss::trl(Loss::Dpo, 0.0, 0.0),
        Err(Error::Core(_))
    ));
    assert!(matches!(
        PreferenceLoss::trl(Loss::Dpo, 0.1, 1.5),
        Err(Error::Core(_))
    ));
}

/// `surrogate_values` equals `Cost::value` elementwise (f64, 1e-15 relative to max(1, h)).
#[test]
fn surrogate_values_equal_core_costs() {
    let xs: Vec<f64> = (-40..=40).map(|k| k as f64 * 0.25).collect();
    let x = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap();
    for h in surrogates() {
        let got = surrogate_values(&h, &x).unwrap().to_vec1::<f64>().unwrap();
        for (xi, gi) in xs.iter().zip(&got) {
            let want = h.value(*xi);
            assert!(
                (gi - want).abs() <= 1e-15 * want.abs().max(1.0),
                "{h} at {xi}: {gi} vs {want}"
            );
        }
    }
}

fn loss_value(v: &Batch, loss: Loss, h: &Surrogate) -> f64 {
    let [pc, pr, rc, rr] = tensors(v);
    let b = PreferenceTensors {
        policy_chosen: &pc,
        policy_rejected: &pr,
        reference_chosen: &rc,
        reference_rejected: &rr,
    };
    preference_loss(&b, loss, h)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

fn batch_strategy() -> impl Strategy<Value = Batch> {
    (1usize..12).prop_flat_map(|n| {
        let v = || prop::collection::vec(-50.0f64..0.0, n);
        (v(), v(), v(), v()).prop_map(|(a, b, c, d)| [a, b, c, d])
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Paper notes §3.3 / §9.5: h(mean δ) <= AOT <= DPO for convex h (Jensen; identity pairing
    /// feasible), both variants.
    #[test]
    fn sandwich_between_jensen_and_dpo(batch in batch_strategy(), k in 0usize..7) {
        let h = surrogates()[k];
        let dpo = loss_value(&batch, Loss::Dpo, &h);
        let n = batch[0].len() as f64;
        let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / n;
        let mean_gap = (mean(&batch[0]) - mean(&batch[2])) - (mean(&batch[1]) - mean(&batch[3]));
        for loss in [Loss::AotPaired, Loss::AotUnpaired] {
            let aot = loss_value(&batch, loss, &h);
            prop_assert!(aot <= dpo + 1e-12 * dpo.abs().max(1.0));
            prop_assert!(h.value(mean_gap) <= aot + 1e-12 * aot.abs().max(1.0));
        }
    }

    /// Permuting the chosen side alone (a new pairing) leaves AOT unpaired unchanged, and a
    /// common shift of all four inputs leaves every loss unchanged (paper notes §9.6).
    #[test]
    fn permutation_and_shift_invariance(batch in batch_strategy(), shift in -5.0f64..5.0) {
        let h = Surrogate::logistic(0.7).unwrap();
        let mut rotated = batch.clone();
        rotated[0].rotate_left(1);
        rotated[2].rotate_left(1);
        let a = loss_value(&batch, Loss::AotUnpaired, &h);
        let b = loss_value(&rotated, Loss::AotUnpaired, &h);
        prop_assert!((a - b).abs() <= 1e-13);
        let mut shifted = batch.clone();
        shifted.iter_mut().for_each(|v| v.iter_mut().for_each(|x| *x += shift));
        for loss in Loss::ALL {
            let a = loss_value(&batch, loss, &h);
            let b = loss_value(&shifted, loss, &h);
            prop_assert!((a - b).abs() <= 1e-12);
        }
    }

    /// The loss only depends on differences, so the four gradients sum to zero (§2.5, §9.7).
    #[test]
    fn gradients_sum_to_zero(batch in batch_strategy(), k in 0usize..8) {
        let h = surrogates()[k];
        for loss in Loss::ALL {
            let (_, g) = candle_loss(&batch, PreferenceLoss::new(loss, h), DType::F64);
            let total: f64 = g.iter().flatten().sum();
            let scale = g.iter().map(|v| max_abs(v)).fold(1.0, f64::max);
            prop_assert!(total.abs() <= 1e-12 * scale, "{:?} {}: {}", loss, h, total);
        }
    }
}
