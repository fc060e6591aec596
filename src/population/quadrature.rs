//! Adaptive Gauss–Kronrod quadrature over quantile levels `p ∈ (0, 1)`.
//!
//! Population values of the toolkit are integrals over levels, `∫_0^1 g(p) dp`, whose integrand
//! is often unbounded at `p = 0` and `p = 1` (the quantile of a normal law grows like
//! `sqrt(2 log(1/p))`, that of a Student-t law like `p^{-1/ν}`). [`integrate_levels`] handles
//! them in three steps:
//!
//! 1. `(0, 1)` is cut at `1/2` and at the caller's breakpoints (levels where `g` jumps, such as
//!    the `k/n` of an empirical law);
//! 2. on the first piece `(0, a]` the level is substituted as `p = a τ²` and on the last piece
//!    `[b, 1)` as `1 - p = (1 - b) τ²`, so `dp = 2aτ dτ` damps the endpoint singularity (a
//!    `log(1/p)` blow-up becomes `τ log τ`, a `p^{-1/2}` one becomes bounded);
//! 3. a global adaptive scheme repeatedly bisects the piece with the largest error estimate,
//!    integrating each piece with the 15-point Kronrod rule and estimating its error by the
//!    difference from the embedded 7-point Gauss rule, until the summed estimate is below
//!    `max(abs_tol, rel_tol · |I|)`.
//!
//! The integrand receives the level **twice**, as `p` and as `1 - p`, each computed without
//! cancellation (near `p = 1` the complement `1 - p` is known to full relative precision while `p`
//! itself rounds to 1), so that quantile functions can use whichever tail is accurate.
//!
//! **Why not a crate.** The candidates were `quadrature` 0.1.2 (double-exponential, last
//! released in 2019, BSD-2) and `gauss-quad` 0.3 (fixed-order rules, no adaptivity, pulls in
//! `nalgebra`). Neither offers adaptive subdivision with a global error estimate and
//! caller-supplied breakpoints, so the ~150 lines below do it, with the Kronrod nodes checked by
//! polynomial exactness in the tests.
//!
//! **Known limits.** The error estimate `|K15 - G7|` is heuristic (as in every Gauss–Kronrod
//! code): an integrand with a narrow spike between all nodes of the initial pieces can be missed.
//! A jump not listed in the breakpoints is resolved by bisection only, which converges but
//! slowly. Nodes whose level underflows to exactly 0 or 1 (below `1e-300` from an end) are
//! skipped.

use crate::coupling::CompensatedSum;
use crate::error::{Error, Result};

/// Nodes of the 15-point Kronrod rule on `[-1, 1]` (the non-negative half, descending); the odd
/// positions (1, 3, 5, 7) are the nodes of the 7-point Gauss–Legendre rule.
const XGK: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_5,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_48,
    0.0,
];
/// Kronrod weights for [`XGK`].
const WGK: [f64; 8] = [
    0.022_935_322_010_529_224,
    0.063_092_092_629_978_56,
    0.104_790_010_322_250_19,
    0.140_653_259_715_525_92,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_42,
    0.204_432_940_075_298_89,
    0.209_482_141_084_727_82,
];
/// Gauss weights for the nodes `XGK[1], XGK[3], XGK[5], XGK[7]`.
const WG: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_64,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

/// Tolerances of [`integrate_levels`].
///
/// The defaults (`rel_tol = 1e-11`, `abs_tol = 1e-13`, 20,000 pieces) aim two orders of magnitude
/// below the toolkit's 1e-9 relative target, because `|K15 - G7|` overestimates the error of
/// smooth pieces but can underestimate it on pieces with a singular end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Requested relative accuracy.
    pub rel_tol: f64,
    /// Requested absolute accuracy (needed when the integral is zero).
    pub abs_tol: f64,
    /// Largest number of bisections before giving up (on top of the initial pieces, one per
    /// breakpoint, so that a long list of breakpoints does not exhaust it).
    pub max_pieces: usize,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            rel_tol: 1e-11,
            abs_tol: 1e-13,
            max_pieces: 20_000,
        }
    }
}

/// A computed integral with its error estimate and cost.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Integral {
    /// The value.
    pub value: f64,
    /// Sum over pieces of `|K15 - G7|`, an estimate of the absolute error.
    pub error_estimate: f64,
    /// Number of integrand evaluations.
    pub evaluations: usize,
    /// Number of pieces in the final partition.
    pub pieces: usize,
}

/// How a piece's variable maps to the level.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Map {
    /// `p = x` on an interior piece.
    Plain,
    /// `p = a τ²` for `τ ∈ (0, 1]`.
    Lower { a: f64 },
    /// `1 - p = c τ²` for `τ ∈ (0, 1]`.
    Upper { c: f64 },
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    lo: f64,
    hi: f64,
    map: Map,
    value: f64,
    error: f64,
}

/// `∫_0^1 g(p, 1 - p) dp` by adaptive Gauss–Kronrod quadrature (see the module docs).
///
/// `breakpoints` are levels in `(0, 1)` where `g` may jump or kink; they are sorted and
/// deduplicated here, and `1/2` is always added.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for a breakpoint outside `(0, 1)` or a bad tolerance;
/// [`Error::SolverFailed`] when `g` returns a non-finite value (naming the level) or when the
/// tolerance is not reached within `max_pieces` pieces (reporting the estimate reached).
///
/// # Examples
///
/// ```
/// use aot::population::quadrature::{integrate_levels, Tolerance};
///
/// // ∫_0^1 log(1/p) dp = 1, with a logarithmic singularity at 0.
/// let i = integrate_levels(|p, _| -p.ln(), &[], Tolerance::default())?;
/// assert!((i.value - 1.0).abs() < 1e-12);
/// // ∫_0^1 p^{-1/2} dp = 2, unbounded at 0.
/// let i = integrate_levels(|p, _| 1.0 / p.sqrt(), &[], Tolerance::default())?;
/// assert!((i.value - 2.0).abs() < 1e-11);
/// # Ok::<(), aot::Error>(())
/// ```
pub fn integrate_levels<G>(g: G, breakpoints: &[f64], tol: Tolerance) -> Result<Integral>
where
    G: FnMut(f64, f64) -> f64,
{
    adapt(g, breakpoints, tol).map(|(integral, _)| integral)
}

/// A quadrature node: the level, its complement, and the weight (Jacobian included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Node {
    pub p: f64,
    pub q: f64,
    pub weight: f64,
}

/// The 15-point nodes of the final partition that [`integrate_levels`] reaches on `g`, so that
/// integrands of similar shape can be integrated again by a plain weighted sum
/// `Σ weight · f(p, q)` (used when the same quantile values are needed for many parameters).
pub(crate) fn adapted_nodes<G>(g: G, breakpoints: &[f64], tol: Tolerance) -> Result<Vec<Node>>
where
    G: FnMut(f64, f64) -> f64,
{
    let (_, pieces) = adapt(g, breakpoints, tol)?;
    let mut nodes = Vec::with_capacity(15 * pieces.len());
    for piece in &pieces {
        let center = 0.5 * (piece.lo + piece.hi);
        let half = 0.5 * (piece.hi - piece.lo);
        let mut push = |x: f64, w: f64| {
            let (p, q, jac) = level_of(piece.map, x);
            if p > 0.0 && q > 0.0 {
                nodes.push(Node {
                    p,
                    q,
                    weight: w * half * jac,
                });
            }
        };
        push(center, WGK[7]);
        for k in 0..7 {
            push(center - half * XGK[k], WGK[k]);
            push(center + half * XGK[k], WGK[k]);
        }
    }
    Ok(nodes)
}

fn adapt<G>(mut g: G, breakpoints: &[f64], tol: Tolerance) -> Result<(Integral, Vec<Piece>)>
where
    G: FnMut(f64, f64) -> f64,
{
    let func = "integrate_levels";
    if !(tol.rel_tol >= 0.0 && tol.abs_tol >= 0.0 && tol.rel_tol + tol.abs_tol > 0.0) {
        return Err(Error::InvalidParameter {
            func,
            name: "tol",
            value: tol.rel_tol,
            expected: "rel_tol >= 0, abs_tol >= 0, not both zero",
        });
    }
    if tol.max_pieces == 0 {
        return Err(Error::InvalidParameter {
            func,
            name: "max_pieces",
            value: 0.0,
            expected: ">= 1",
        });
    }
    let mut cuts: Vec<f64> = Vec::with_capacity(breakpoints.len() + 3);
    for &b in breakpoints {
        if !(b > 0.0 && b < 1.0) {
            return Err(Error::InvalidParameter {
                func,
                name: "breakpoints",
                value: b,
                expected: "levels strictly inside (0, 1)",
            });
        }
        cuts.push(b);
    }
    cuts.push(0.5);
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let first = cuts[0];
    let last = cuts[cuts.len() - 1];

    let mut evaluations = 0usize;
    let mut pieces: Vec<Piece> = Vec::new();
    let mut rule = |lo: f64, hi: f64, map: Map, evals: &mut usize| -> Result<(f64, f64)> {
        *evals += 15;
        kronrod(lo, hi, map, &mut g)
    };
    pieces.push(new_piece(
        0.0,
        1.0,
        Map::Lower { a: first },
        &mut rule,
        &mut evaluations,
    )?);
    for w in cuts.windows(2) {
        pieces.push(new_piece(
            w[0],
            w[1],
            Map::Plain,
            &mut rule,
            &mut evaluations,
        )?);
    }
    pieces.push(new_piece(
        0.0,
        1.0,
        Map::Upper { c: 1.0 - last },
        &mut rule,
        &mut evaluations,
    )?);

    loop {
        let (value, error) = totals(&pieces);
        let target = tol.abs_tol.max(tol.rel_tol * value.abs());
        if error <= target {
            let integral = Integral {
                value,
                error_estimate: error,
                evaluations,
                pieces: pieces.len(),
            };
            return Ok((integral, pieces));
        }
        if pieces.len() >= tol.max_pieces.saturating_add(cuts.len() + 1) {
            return Err(Error::SolverFailed {
                func,
                solver: "adaptive Gauss-Kronrod (7-15)",
                reason: format!(
                    "error estimate {error:e} above the target {target:e} after {} pieces \
                     (value so far {value}); the integral may diverge",
                    pieces.len()
                ),
            });
        }
        // Bisect the piece with the largest error (ties: the first, so runs are deterministic).
        let (worst, _) =
            pieces
                .iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |(k, e), (i, p)| {
                    if p.error > e {
                        (i, p.error)
                    } else {
                        (k, e)
                    }
                });
        let p = pieces.swap_remove(worst);
        let mid = 0.5 * (p.lo + p.hi);
        if !(mid > p.lo && mid < p.hi) {
            return Err(Error::SolverFailed {
                func,
                solver: "adaptive Gauss-Kronrod (7-15)",
                reason: format!(
                    "a piece near level {} cannot be split further (error {:e}); the integrand \
                     is too irregular there",
                    level_of(p.map, p.lo).0,
                    p.error
                ),
            });
        }
        pieces.push(new_piece(p.lo, mid, p.map, &mut rule, &mut evaluations)?);
        pieces.push(new_piece(mid, p.hi, p.map, &mut rule, &mut evaluations)?);
    }
}

fn new_piece<R>(lo: f64, hi: f64, map: Map, rule: &mut R, evals: &mut usize) -> Result<Piece>
where
    R: FnMut(f64, f64, Map, &mut usize) -> Result<(f64, f64)>,
{
    let (value, error) = rule(lo, hi, map, evals)?;
    Ok(Piece {
        lo,
        hi,
        map,
        value,
        error,
    })
}

fn totals(pieces: &[Piece]) -> (f64, f64) {
    let mut value = CompensatedSum::default();
    let mut error = 0.0;
    for p in pieces {
        value.add(p.value);
        error += p.error;
    }
    (value.value(), error)
}

/// The level `(p, 1 - p)` and the Jacobian `dp/dx` at the variable `x` of a piece.
fn level_of(map: Map, x: f64) -> (f64, f64, f64) {
    match map {
        Map::Plain => (x, 1.0 - x, 1.0),
        Map::Lower { a } => {
            let p = a * x * x;
            (p, 1.0 - p, 2.0 * a * x)
        }
        Map::Upper { c } => {
            let q = c * x * x;
            (1.0 - q, q, 2.0 * c * x)
        }
    }
}

/// The 15-point Kronrod value and `|K15 - G7|` on `[lo, hi]` in the piece's variable.
fn kronrod<G>(lo: f64, hi: f64, map: Map, g: &mut G) -> Result<(f64, f64)>
where
    G: FnMut(f64, f64) -> f64,
{
    let center = 0.5 * (lo + hi);
    let half = 0.5 * (hi - lo);
    let mut eval = |x: f64| -> Result<f64> {
        let (p, q, jac) = level_of(map, x);
        if p <= 0.0 || q <= 0.0 {
            return Ok(0.0);
        }
        let y = g(p, q);
        if !y.is_finite() {
            return Err(Error::SolverFailed {
                func: "integrate_levels",
                solver: "adaptive Gauss-Kronrod (7-15)",
                reason: format!("the integrand is {y} at level p = {p:e} (1 - p = {q:e})"),
            });
        }
        Ok(y * jac)
    };
    let fc = eval(center)?;
    let mut kronrod = WGK[7] * fc;
    let mut gauss = WG[3] * fc;
    for k in 0..7 {
        let dx = half * XGK[k];
        let pair = eval(center - dx)? + eval(center + dx)?;
        kronrod += WGK[k] * pair;
        if k % 2 == 1 {
            gauss += WG[k / 2] * pair;
        }
    }
    Ok((kronrod * half, ((kronrod - gauss) * half).abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_exact_on_polynomials() {
        // On [-1, 1], ∫ x^d dx = 2/(d+1) for even d and 0 for odd d. The 7-point Gauss rule is
        // exact up to degree 13 and the 15-point Kronrod rule up to degree 22 (3·7 + 1); a typo
        // in any node or weight breaks one of these identities.
        for d in 0..=22i32 {
            let exact = if d % 2 == 0 {
                2.0 / f64::from(d + 1)
            } else {
                0.0
            };
            let mut k = WGK[7] * 0f64.powi(d);
            let mut g = WG[3] * 0f64.powi(d);
            for i in 0..7 {
                let pair = XGK[i].powi(d) + (-XGK[i]).powi(d);
                k += WGK[i] * pair;
                if i % 2 == 1 {
                    g += WG[i / 2] * pair;
                }
            }
            assert!(
                (k - exact).abs() < 1e-15,
                "Kronrod degree {d}: {k} vs {exact}"
            );
            if d <= 13 {
                assert!(
                    (g - exact).abs() < 1e-15,
                    "Gauss degree {d}: {g} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn singular_ends_and_breakpoints() {
        let tol = Tolerance::default();
        // ∫_0^1 log(p) log(1-p) dp = 2 - π²/6 (a standard Beta-function derivative identity).
        let exact = 2.0 - std::f64::consts::PI.powi(2) / 6.0;
        let i = integrate_levels(|p, q| p.ln() * q.ln(), &[], tol).unwrap();
        assert!((i.value - exact).abs() < 1e-12, "{i:?}");
        // A step at 0.3 listed as a breakpoint is integrated exactly: ∫ 1{p > 0.3} dp = 0.7.
        let i = integrate_levels(|p, _| if p > 0.3 { 1.0 } else { 0.0 }, &[0.3], tol).unwrap();
        assert!((i.value - 0.7).abs() < 1e-15, "{i:?}");
        assert_eq!(i.pieces, 3); // (0, 0.3], (0.3, 0.5], (0.5, 1)
    }

    #[test]
    fn failures_are_errors() {
        let tol = Tolerance {
            max_pieces: 50,
            ..Tolerance::default()
        };
        // ∫ 1/p diverges: the estimate never falls below the target.
        let e = integrate_levels(|p, _| 1.0 / p, &[], tol).unwrap_err();
        assert!(matches!(e, Error::SolverFailed { .. }), "{e}");
        let e = integrate_levels(|_, _| f64::NAN, &[], tol).unwrap_err();
        assert!(e.to_string().contains("NaN at level"), "{e}");
        let e = integrate_levels(|_, _| 1.0, &[1.5], tol).unwrap_err();
        assert!(e.to_string().contains("`breakpoints` = 1.5"), "{e}");
    }
}
