//! Power-law fits `y = C·n^{-a}` on log-log axes, with bootstrap confidence intervals.
//!
//! The fit is ordinary least squares of `log y` on `log n`: with `x_k = log n_k`,
//! `z_k = log y_k`,
//!
//! ```text
//! a = -Σ (x_k - x̄)(z_k - z̄) / Σ (x_k - x̄)²,      log C = z̄ + a·x̄.
//! ```
//!
//! Points with `y <= 0` cannot be placed on a log axis and are left out (this matters for a
//! signed bias, which can be negative at large `n` by chance). The interval for `a` is the
//! percentile bootstrap over replicates: each resample draws, independently for every `n`, as
//! many replicates as there are with replacement, recomputes every `y_k` and refits.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// A fitted power law with its bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerFit {
    /// The exponent `a` of `C·n^{-a}`.
    pub exponent: f64,
    /// The constant `C`.
    pub constant: f64,
    /// Bootstrap percentile interval for `a` at the study's confidence level.
    pub ci_low: f64,
    /// Upper end of the interval.
    pub ci_high: f64,
    /// Number of grid points used (those with `y > 0`).
    pub points: usize,
    /// Bootstrap resamples that gave a fit (all of them unless some had fewer than two
    /// positive points).
    pub resamples: usize,
}

impl PowerFit {
    /// Whether the interval contains `a`.
    pub fn contains(&self, a: f64) -> bool {
        self.ci_low <= a && a <= self.ci_high
    }
}

/// Least-squares fit of `y = C n^{-a}` through the points with `y > 0`; `None` with fewer than
/// two such points at distinct `n`.
///
/// # Examples
///
/// ```
/// use aot::study::fit::power_law;
/// let ns = [10.0, 100.0, 1000.0];
/// let ys: Vec<f64> = ns.iter().map(|n: &f64| 3.0 * n.powf(-0.5)).collect();
/// let (a, c) = power_law(&ns, &ys).unwrap();
/// assert!((a - 0.5).abs() < 1e-12 && (c - 3.0).abs() < 1e-12);
/// ```
pub fn power_law(ns: &[f64], ys: &[f64]) -> Option<(f64, f64)> {
    let pts: Vec<(f64, f64)> = ns
        .iter()
        .zip(ys)
        .filter(|(n, y)| **y > 0.0 && y.is_finite() && **n > 0.0)
        .map(|(n, y)| (n.ln(), y.ln()))
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let m = pts.len() as f64;
    let xbar = pts.iter().map(|p| p.0).sum::<f64>() / m;
    let zbar = pts.iter().map(|p| p.1).sum::<f64>() / m;
    let sxx: f64 = pts.iter().map(|p| (p.0 - xbar).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxz: f64 = pts.iter().map(|p| (p.0 - xbar) * (p.1 - zbar)).sum();
    let a = -sxz / sxx;
    Some((a, (zbar + a * xbar).exp()))
}

/// The `level`-quantile of sorted data by linear interpolation between order statistics
/// (Hyndman–Fan type 7).
pub(crate) fn quantile_sorted(sorted: &[f64], level: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * level;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Fits `stat(values at n) = C·n^{-a}` and bootstraps `a` over replicates.
///
/// `groups[k] = (n_k, per-replicate values)`; `stat` maps a group's values to the `y` of that
/// `n` (for example the mean absolute error). Returns `None` when the point fit fails (fewer
/// than two positive `y`) or fewer than half the resamples give a fit.
///
/// # Examples
///
/// ```
/// use aot::study::fit::bootstrap_power_law;
///
/// // Replicates spread ±10% around 2·n^{-1/2}: the interval brackets 1/2.
/// let groups: Vec<(usize, Vec<f64>)> = [16usize, 64, 256]
///     .iter()
///     .map(|&n| (n, vec![1.8 / (n as f64).sqrt(), 2.2 / (n as f64).sqrt()]))
///     .collect();
/// let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
/// let fit = bootstrap_power_law(&groups, mean, 500, 0.95, 1).unwrap();
/// assert!((fit.exponent - 0.5).abs() < 1e-12 && fit.contains(0.5));
/// ```
pub fn bootstrap_power_law<S>(
    groups: &[(usize, Vec<f64>)],
    stat: S,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Option<PowerFit>
where
    S: Fn(&[f64]) -> f64,
{
    let ns: Vec<f64> = groups.iter().map(|g| g.0 as f64).collect();
    let ys: Vec<f64> = groups.iter().map(|g| stat(&g.1)).collect();
    let (exponent, constant) = power_law(&ns, &ys)?;
    let points = ys.iter().filter(|y| **y > 0.0).count();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut exps = Vec::with_capacity(resamples);
    let mut buf = Vec::new();
    for _ in 0..resamples {
        let ys: Vec<f64> = groups
            .iter()
            .map(|(_, v)| {
                buf.clear();
                buf.extend((0..v.len()).map(|_| v[rng.random_range(0..v.len())]));
                stat(&buf)
            })
            .collect();
        if let Some((a, _)) = power_law(&ns, &ys) {
            exps.push(a);
        }
    }
    if exps.len() * 2 < resamples {
        return None;
    }
    exps.sort_by(f64::total_cmp);
    let tail = 0.5 * (1.0 - confidence);
    Some(PowerFit {
        exponent,
        constant,
        ci_low: quantile_sorted(&exps, tail),
        ci_high: quantile_sorted(&exps, 1.0 - tail),
        points,
        resamples: exps.len(),
    })
}

/// Mean of a slice (0 for an empty one).
pub(crate) fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// Sample standard deviation (divisor `n - 1`; 0 for fewer than two values).
pub(crate) fn sd(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let m = mean(x);
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn exact_power_laws_are_recovered(a in -2.0f64..2.0, c in 1e-3f64..1e3) {
            let ns = [4.0, 16.0, 64.0, 1000.0];
            let ys: Vec<f64> = ns.iter().map(|n: &f64| c * n.powf(-a)).collect();
            let (fa, fc) = power_law(&ns, &ys).unwrap();
            prop_assert!((fa - a).abs() < 1e-10);
            prop_assert!((fc / c - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn bootstrap_interval_brackets_a_noisy_exponent() {
        // y = n^{-1/2}·(1 + small noise): the interval must contain 1/2 and be narrow.
        let groups: Vec<(usize, Vec<f64>)> = [10usize, 100, 1000]
            .iter()
            .map(|&n| {
                let base = (n as f64).powf(-0.5);
                (
                    n,
                    (0..50)
                        .map(|k| base * (1.0 + 0.01 * ((k % 7) as f64 - 3.0)))
                        .collect(),
                )
            })
            .collect();
        let f = bootstrap_power_law(&groups, mean, 500, 0.95, 3).unwrap();
        assert!(f.contains(0.5), "{f:?}");
        assert!(f.ci_high - f.ci_low < 0.01, "{f:?}");
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0], 0.25), 1.5);
    }
}
