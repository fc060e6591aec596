#![cfg(feature = "candle")]
//! Isotonic regression (PAV) against a slow oracle, and the limits and gradient of the soft sort.

use aot::candle::{isotonic_blocks, isotonic_regression, soft_sort, Error};
use candle_core::{DType, Device, Tensor, Var};
use proptest::prelude::*;

/// Slow oracle: the min-max formula of isotonic regression (Barlow et al. 1972),
/// v_i = max_{j <= i} min_{k >= i} mean(y_j..=y_k), O(n³).
fn isotonic_min_max(y: &[f64]) -> Vec<f64> {
    let n = y.len();
    (0..n)
        .map(|i| {
            (0..=i)
                .map(|j| {
                    (i..n)
                        .map(|k| y[j..=k].iter().sum::<f64>() / (k - j + 1) as f64)
                        .fold(f64::INFINITY, f64::min)
                })
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

fn soft(x: &[f64], strength: f64) -> Vec<f64> {
    let t = Tensor::new(x, &Device::Cpu).unwrap();
    soft_sort(&t, strength).unwrap().to_vec1::<f64>().unwrap()
}

/// By hand: θ = (0, 1), ε = 2. z = ρ/ε = (0.5, 1), w = (0, 1), z − w = (0.5, 0) violates the
/// order, so PAV pools it to (0.25, 0.25) and s = z − v = (0.25, 0.75). Geometrically, the
/// projection of (0.5, 1) onto the segment {(a, 1 − a)}: subtract ((0.5 + 1 − 1)/2)(1, 1).
#[test]
fn hand_example() {
    assert_eq!(soft(&[1.0, 0.0], 2.0), vec![0.25, 0.75]);
    assert_eq!(soft(&[1.0, 0.0], 0.5), vec![0.0, 1.0]);
}

#[test]
fn limits() {
    let x = [0.3, -1.2, 2.5, 0.0, 1.1];
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    // ε → 0: z − w is increasing once 1/ε exceeds the largest gap between neighbours (3.7 here).
    assert_eq!(soft(&x, 0.1), sorted);
    assert_eq!(soft(&x, 0.0), sorted);
    // ε → ∞: one block; s_j = mean(x) + (j − (n+1)/2)/ε, within 2/ε of the mean 0.54.
    for (s, _) in soft(&x, 1e6).iter().zip(&x) {
        assert!((s - 0.54).abs() <= 2.0 / 1e6 + 1e-12, "{s}");
    }
    // In between: sum preserved, nondecreasing, between the hard sort and the mean.
    for strength in [0.3, 1.0, 3.0, 10.0] {
        let s = soft(&x, strength);
        assert!((s.iter().sum::<f64>() - x.iter().sum::<f64>()).abs() < 1e-12);
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
        assert!(s[0] >= sorted[0] - 1e-12 && s[4] <= sorted[4] + 1e-12);
    }
}

/// Autograd through the soft sort equals central differences (step 1e-6, f64); the Jacobian
/// of the soft sort is a block-averaging matrix composed with the sorting permutation.
#[test]
fn gradient_matches_finite_differences() {
    let x = [0.3, -1.2, 2.5, 0.0, 1.1, 0.9];
    let weights = [1.0, -2.0, 0.5, 3.0, -1.0, 0.25];
    let objective = |v: &[f64], strength: f64| -> f64 {
        soft(v, strength)
            .iter()
            .zip(&weights)
            .map(|(s, w)| s * w)
            .sum()
    };
    for strength in [0.05, 0.5, 2.0, 50.0] {
        let var = Var::new(&x, &Device::Cpu).unwrap();
        let w = Tensor::new(&weights, &Device::Cpu).unwrap();
        let out = (soft_sort(var.as_tensor(), strength).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = out.backward().unwrap();
        let g = grads
            .get(var.as_tensor())
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for i in 0..x.len() {
            let mut plus = x;
            plus[i] += 1e-6;
            let mut minus = x;
            minus[i] -= 1e-6;
            let fd = (objective(&plus, strength) - objective(&minus, strength)) / 2e-6;
            assert!(
                (fd - g[i]).abs() < 1e-7,
                "ε={strength} i={i}: {fd} vs {}",
                g[i]
            );
        }
    }
}

#[test]
fn f32_and_errors() {
    let x = Tensor::new(&[2.0f32, 1.0], &Device::Cpu).unwrap();
    assert_eq!(
        soft_sort(&x, 1e-3).unwrap().to_vec1::<f32>().unwrap(),
        vec![1.0, 2.0]
    );
    let nan = Tensor::new(&[f64::NAN], &Device::Cpu).unwrap();
    assert!(matches!(
        soft_sort(&nan, 1.0),
        Err(Error::NonFinite { index: 0, .. })
    ));
    let empty = Tensor::zeros(0, DType::F64, &Device::Cpu).unwrap();
    assert!(matches!(soft_sort(&empty, 1.0), Err(Error::Shape { .. })));
    let matrix = Tensor::zeros((2, 2), DType::F64, &Device::Cpu).unwrap();
    assert!(matches!(soft_sort(&matrix, 1.0), Err(Error::Shape { .. })));
    let ok = Tensor::new(&[1.0f64], &Device::Cpu).unwrap();
    assert!(matches!(
        soft_sort(&ok, f64::NAN),
        Err(Error::InvalidArgument { .. })
    ));
}

fn permutations(v: &[f64]) -> Vec<Vec<f64>> {
    if v.len() <= 1 {
        return vec![v.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..v.len() {
        let mut rest = v.to_vec();
        let head = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, head);
            out.push(tail);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// PAV equals the min-max oracle, its blocks partition the indices with increasing means.
    #[test]
    fn pav_equals_min_max_oracle(y in prop::collection::vec(-10.0f64..10.0, 0..14)) {
        let fast = isotonic_regression(&y);
        let slow = isotonic_min_max(&y);
        for (a, b) in fast.iter().zip(&slow) {
            prop_assert!((a - b).abs() <= 1e-12, "{:?} vs {:?}", fast, slow);
        }
        let blocks = isotonic_blocks(&y);
        let mut next = 0;
        for b in &blocks {
            prop_assert_eq!(b.start, next);
            prop_assert!(b.end > b.start);
            next = b.end;
        }
        prop_assert_eq!(next, y.len());
        prop_assert!(fast.windows(2).all(|w| w[0] <= w[1]));
    }

    /// Slow oracle for the projection itself: s lies in the permutahedron P(θ) (θ majorizes s:
    /// partial sums of the ascending sorts satisfy Σ_{j<=k} s_(j) >= Σ_{j<=k} θ_(j), equal at
    /// k = n) and satisfies the variational inequality of the Euclidean projection of z = ρ/ε
    /// onto the convex hull of the n! permutations p of θ: ⟨z − s, p − s⟩ <= 0 for every p.
    #[test]
    fn soft_sort_is_the_projection(x in prop::collection::vec(-5.0f64..5.0, 1..6),
                                   strength in 0.05f64..20.0) {
        let s = soft(&x, strength);
        let n = x.len();
        let mut sorted_x = x.clone();
        sorted_x.sort_by(f64::total_cmp);
        let mut sorted_s = s.clone();
        sorted_s.sort_by(f64::total_cmp);
        let (mut ps, mut px) = (0.0, 0.0);
        for k in 0..n {
            ps += sorted_s[k];
            px += sorted_x[k];
            prop_assert!(ps >= px - 1e-9);
        }
        prop_assert!((ps - px).abs() <= 1e-9);
        let z: Vec<f64> = (1..=n).map(|j| j as f64 / strength).collect();
        for p in permutations(&x) {
            let inner: f64 = (0..n).map(|j| (z[j] - s[j]) * (p[j] - s[j])).sum();
            prop_assert!(inner <= 1e-9, "⟨z − s, p − s⟩ = {}", inner);
        }
    }

    /// The soft sort is permutation invariant in its input and keeps the sum.
    #[test]
    fn soft_sort_properties(x in prop::collection::vec(-10.0f64..10.0, 1..12),
                            strength in 0.01f64..100.0) {
        let s = soft(&x, strength);
        let mut reversed = x.clone();
        reversed.reverse();
        let r = soft(&reversed, strength);
        for (a, b) in s.iter().zip(&r) {
            prop_assert!((a - b).abs() <= 1e-12);
        }
        let total: f64 = x.iter().sum();
        prop_assert!((s.iter().sum::<f64>() - total).abs() <= 1e-9);
    }
}
