//! First-order stochastic dominance (FSD): the exact decision, its witness, and violation measures.
//!
//! `U ≽_FSD V` ("chosen rewards dominate rejected rewards") has two equivalent forms:
//!
//! ```text
//! F_U(t) <= F_V(t)  for every t ∈ ℝ          (CDF form,       see `fsd_cdf`)
//! Q_U(p) >= Q_V(p)  for every p ∈ (0, 1]     (quantile form,  see `fsd`)
//! ```
//!
//! Both are decided exactly on samples of any sizes and weights in O((n + m) log(n + m)) (the
//! sort; the scan is linear), by two independent scans: the quantile form walks the comonotone
//! segments of [`crate::coupling`], the CDF form walks the merged support points. They always
//! agree on the verdict; tests check it.
//!
//! Dominance is **strict** when it holds and the laws differ (`F_U(t) < F_V(t)` somewhere);
//! when the laws are equal, dominance holds weakly in both directions.
//!
//! [`violation`] measures how badly it fails: the 0-1 quantile violation (the Lebesgue measure of
//! levels where `Q_U < Q_V`), the signed and positive-part areas between the quantile functions,
//! and the almost-dominance ratio `ε_W2`.

use serde::Serialize;

use crate::coupling::{segments, CompensatedSum};
use crate::sample::Sample;

/// Where and by how much `U ≽_FSD V` fails.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Witness {
    /// A quantile level `p` with `Q_U(p) < Q_V(p)`.
    pub level: f64,
    /// `Q_U(p)`.
    pub u_quantile: f64,
    /// `Q_V(p)`.
    pub v_quantile: f64,
    /// `Q_V(p) - Q_U(p) > 0`.
    pub quantile_gap: f64,
    /// A point `t` with `F_U(t) > F_V(t)`.
    pub point: f64,
    /// `F_U(t)`.
    pub u_cdf: f64,
    /// `F_V(t)`.
    pub v_cdf: f64,
}

impl Witness {
    /// `F_U(t) - F_V(t) > 0` at the witness point.
    pub fn cdf_excess(&self) -> f64 {
        self.u_cdf - self.v_cdf
    }
}

/// The verdict on `U ≽_FSD V`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Dominance {
    /// `U ≽ V` and the laws differ: `Q_U >= Q_V` everywhere, `>` on a set of positive measure.
    Strict,
    /// `U` and `V` have the same law, so `U ≽ V` (and `V ≽ U`) holds weakly.
    EqualInLaw,
    /// `U ≽ V` fails; the witness shows where.
    Violated(Witness),
}

impl Dominance {
    /// Whether `U ≽_FSD V` holds (weakly or strictly).
    pub fn holds(&self) -> bool {
        !matches!(self, Self::Violated(_))
    }

    /// Whether it holds strictly.
    pub fn is_strict(&self) -> bool {
        matches!(self, Self::Strict)
    }

    /// The witness of a failure.
    pub fn witness(&self) -> Option<&Witness> {
        match self {
            Self::Violated(w) => Some(w),
            _ => None,
        }
    }
}

/// Decides `U ≽_FSD V` in quantile form: `Q_U(p) >= Q_V(p)` on every comonotone segment.
///
/// On failure the witness is the segment with the largest gap `Q_V - Q_U`, at the middle of its
/// level interval, and the point `t = Q_U(p)`, where `F_U(t) >= p > F_V(t)`.
///
/// # Examples
///
/// ```
/// use aot::{dominance::{fsd, Dominance}, sample::Sample};
///
/// let chosen = Sample::new(&[1.0, 2.0, 3.0])?;
/// let rejected = Sample::new(&[0.0, 2.0])?;
/// assert_eq!(fsd(&chosen, &rejected), Dominance::Strict);
///
/// let w = fsd(&rejected, &chosen).witness().copied().unwrap();
/// // Segments: (0, 1/3] pairs 0 with 1, (1/3, 1/2] pairs 0 with 2, (1/2, 2/3] pairs 2 with 2,
/// // (2/3, 1] pairs 2 with 3. The largest gap is 2, on (1/3, 1/2].
/// assert_eq!((w.u_quantile, w.v_quantile, w.quantile_gap), (0.0, 2.0, 2.0));
/// assert!(w.cdf_excess() > 0.0);
/// # Ok::<(), aot::Error>(())
/// ```
pub fn fsd(u: &Sample, v: &Sample) -> Dominance {
    let mut worst: Option<(f64, f64, f64, f64)> = None; // (gap, level, u, v)
    let mut strict = false;
    segments(u, v).for_each(|s| {
        if s.u < s.v {
            let gap = s.v - s.u;
            if worst.is_none_or(|w| gap > w.0) {
                let level = s.level_start + 0.5 * s.mass;
                worst = Some((gap, level, s.u, s.v));
            }
        } else if s.u > s.v {
            strict = true;
        }
    });
    match worst {
        None if strict => Dominance::Strict,
        None => Dominance::EqualInLaw,
        Some((gap, level, uq, vq)) => Dominance::Violated(Witness {
            level,
            u_quantile: uq,
            v_quantile: vq,
            quantile_gap: gap,
            point: uq,
            u_cdf: u.cdf(uq),
            v_cdf: v.cdf(uq),
        }),
    }
}

/// Decides `U ≽_FSD V` in CDF form: `F_U(t) <= F_V(t)` at every support point of `U` and `V`
/// (both CDFs are step functions, so checking the jump points suffices).
///
/// On failure the witness is the point `t` maximising `F_U(t) - F_V(t)` (the one-sided
/// Kolmogorov–Smirnov distance), and the level `p = F_U(t)`, where `Q_U(p) <= t < Q_V(p)`.
/// The verdict always equals that of [`fsd`]; the witnesses may differ.
///
/// # Examples
///
/// ```
/// use aot::{dominance::{fsd, fsd_cdf}, sample::Sample};
/// let u = Sample::weighted(&[0.0, 3.0], &[0.5, 0.5])?;
/// let v = Sample::new(&[1.0, 2.0])?;
/// let w = fsd_cdf(&u, &v).witness().copied().unwrap();
/// assert_eq!((w.point, w.u_cdf, w.v_cdf), (0.0, 0.5, 0.0));
/// assert_eq!(fsd(&u, &v).holds(), false);
/// # Ok::<(), aot::Error>(())
/// ```
pub fn fsd_cdf(u: &Sample, v: &Sample) -> Dominance {
    let (xu, xv) = (u.sorted_values(), v.sorted_values());
    let (n, m) = (xu.len(), xv.len());
    let exact = u.is_uniform() && v.is_uniform();
    let (mut i, mut j) = (0usize, 0usize); // atoms of U and V that are <= t
    let mut worst: Option<(f64, f64)> = None; // (excess, t)
    let mut strict = false;
    while i < n || j < m {
        // Next jump point of either CDF, then absorb every atom equal to it.
        let t = match (xu.get(i), xv.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        while i < n && xu[i] <= t {
            i += 1;
        }
        while j < m && xv[j] <= t {
            j += 1;
        }
        // Compare F_U(t) = i/n with F_V(t) = j/m exactly as i m vs j n when both are uniform.
        let (fu, fv) = (level(u, i), level(v, j));
        let order = if exact {
            (i as u128 * m as u128).cmp(&(j as u128 * n as u128))
        } else if (fu - fv).abs() <= 8.0 * f64::EPSILON * fu.max(fv) {
            std::cmp::Ordering::Equal
        } else {
            fu.total_cmp(&fv)
        };
        match order {
            std::cmp::Ordering::Greater => {
                if worst.is_none_or(|w| fu - fv > w.0) {
                    worst = Some((fu - fv, t));
                }
            }
            std::cmp::Ordering::Less => strict = true,
            std::cmp::Ordering::Equal => {}
        }
    }
    match worst {
        None if strict => Dominance::Strict,
        None => Dominance::EqualInLaw,
        Some((_, t)) => {
            let (fu, fv) = (u.cdf(t), v.cdf(t));
            // F_U(t) > F_V(t) >= 0, so fu is a valid level in (0, 1].
            let uq = u.quantile(fu).unwrap_or(t);
            let vq = v.quantile(fu).unwrap_or(t);
            Dominance::Violated(Witness {
                level: fu,
                u_quantile: uq,
                v_quantile: vq,
                quantile_gap: vq - uq,
                point: t,
                u_cdf: fu,
                v_cdf: fv,
            })
        }
    }
}

/// `F(x_(k-1))`, the level after the first `k` atoms (0 when `k = 0`).
fn level(s: &Sample, k: usize) -> f64 {
    if k == 0 {
        0.0
    } else {
        s.cumulative(k - 1)
    }
}

/// How much `U ≽_FSD V` fails, measured on the quantile functions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Violation {
    /// `ε_{0-1} = Leb{ p : Q_U(p) < Q_V(p) }`, the measure of levels where dominance fails.
    /// For equal sizes `n` this is `#{ i : u_(i) < v_(i) } / n`.
    pub zero_one: f64,
    /// `∫ (Q_V - Q_U)_+ dp`, the area where `V`'s quantile is above `U`'s.
    pub shortfall_area: f64,
    /// `∫ (Q_U - Q_V) dp = E U - E V`, the signed area.
    pub signed_area: f64,
    /// `W_2(U, V) = (∫ (Q_U - Q_V)² dp)^{1/2}`.
    pub w2: f64,
    /// `ε_W2 = ∫ (Q_V - Q_U)_+² dp / W_2²` ∈ [0, 1], the almost-dominance ratio of
    /// del Barrio, Cuesta-Albertos and Matrán (2018); 0 iff `U ≽ V`. When `W_2 = 0` (equal laws)
    /// the ratio is 0/0 and is defined as 0, consistently with `U ≽ V` holding.
    pub eps_w2: f64,
}

/// Violation measures of `U ≽_FSD V`, from one pass over the comonotone segments.
///
/// Overflow-safe: `W_2` and `ε_W2` are computed with gaps scaled by the largest one, so gaps up to
/// `f64::MAX` give finite answers.
///
/// # Examples
///
/// ```
/// use aot::{dominance::violation, sample::Sample};
/// // Sorted pairs (0, 1), (3, 2): gaps -1 and +1.
/// let v = violation(&Sample::new(&[3.0, 0.0])?, &Sample::new(&[1.0, 2.0])?);
/// assert_eq!(v.zero_one, 0.5);
/// assert_eq!(v.shortfall_area, 0.5);
/// assert_eq!(v.signed_area, 0.0);
/// assert_eq!(v.w2, 1.0);
/// assert_eq!(v.eps_w2, 0.5); // (1/2 · 1²) / 1
/// # Ok::<(), aot::Error>(())
/// ```
pub fn violation(u: &Sample, v: &Sample) -> Violation {
    let mut zero_one = CompensatedSum::default();
    let mut shortfall = CompensatedSum::default();
    let mut signed = CompensatedSum::default();
    let mut scale = 0.0f64;
    segments(u, v).for_each(|s| {
        // u - v may overflow when the gap exceeds f64::MAX; half-differences never do.
        let half_gap = 0.5 * s.u - 0.5 * s.v;
        scale = scale.max(half_gap.abs());
        if s.u < s.v {
            zero_one.add(s.mass);
            shortfall.add(s.mass * -half_gap);
        }
        signed.add(s.mass * half_gap);
    });
    let (mut w2_scaled, mut short_scaled) = (CompensatedSum::default(), CompensatedSum::default());
    if scale > 0.0 {
        segments(u, v).for_each(|s| {
            let r = (0.5 * s.u - 0.5 * s.v) / scale;
            w2_scaled.add(s.mass * r * r);
            if s.u < s.v {
                short_scaled.add(s.mass * r * r);
            }
        });
    }
    let eps_w2 = if scale > 0.0 {
        (short_scaled.value() / w2_scaled.value()).min(1.0)
    } else {
        0.0
    };
    Violation {
        zero_one: zero_one.value().min(1.0),
        shortfall_area: 2.0 * shortfall.value(),
        signed_area: 2.0 * signed.value(),
        w2: 2.0 * scale * w2_scaled.value().sqrt(),
        eps_w2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflexive_is_equal_in_law() {
        let u = Sample::new(&[0.3, -1.0, 2.0]).unwrap();
        assert_eq!(fsd(&u, &u), Dominance::EqualInLaw);
        assert_eq!(fsd_cdf(&u, &u), Dominance::EqualInLaw);
        // The same law written with duplicated atoms and as a weighted sample.
        let w = Sample::new(&[0.3, 0.3, -1.0, -1.0, 2.0, 2.0]).unwrap();
        assert_eq!(fsd(&u, &w), Dominance::EqualInLaw);
        assert_eq!(fsd_cdf(&w, &u), Dominance::EqualInLaw);
        let z = violation(&u, &w);
        assert_eq!((z.zero_one, z.w2, z.eps_w2), (0.0, 0.0, 0.0));
    }

    #[test]
    fn witness_points_at_the_failure() {
        // U = {0, 2}, V = {1, 3} (notes §2.3): sorted pairs (0,1), (2,3); both fail by 1.
        let u = Sample::new(&[0.0, 2.0]).unwrap();
        let v = Sample::new(&[1.0, 3.0]).unwrap();
        let w = *fsd(&u, &v).witness().unwrap();
        assert_eq!(
            (w.level, w.u_quantile, w.v_quantile, w.quantile_gap),
            (0.25, 0.0, 1.0, 1.0)
        );
        assert_eq!((w.point, w.u_cdf, w.v_cdf), (0.0, 0.5, 0.0));
        let c = *fsd_cdf(&u, &v).witness().unwrap();
        assert_eq!((c.point, c.cdf_excess()), (0.0, 0.5));
        let z = violation(&u, &v);
        assert_eq!(
            (z.zero_one, z.shortfall_area, z.signed_area),
            (1.0, 1.0, -1.0)
        );
        assert_eq!((z.w2, z.eps_w2), (1.0, 1.0));
    }

    #[test]
    fn violation_is_overflow_safe() {
        let u = Sample::new(&[-f64::MAX, 0.0]).unwrap();
        let v = Sample::new(&[f64::MAX, 0.0]).unwrap();
        let z = violation(&u, &v);
        // Pairs (-MAX, 0) and (0, MAX): gaps -MAX each. W2 = MAX, shortfall area = MAX.
        assert_eq!(z.w2, f64::MAX);
        assert_eq!(z.shortfall_area, f64::MAX);
        assert_eq!(z.eps_w2, 1.0);
        assert_eq!(z.zero_one, 1.0);
    }
}
