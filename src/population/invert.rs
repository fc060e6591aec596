//! Robust inversion of a CDF: bracketing, then Brent's method.
//!
//! To find the quantile at level `p` (with complement `q = 1 - p`), the increasing function
//!
//! ```text
//! g(x) = F(x) - p     when p <= 1/2,        g(x) = q - S(x)     when p > 1/2
//! ```
//!
//! is solved for its sign change. Using the survival function `S = 1 - F` in the upper half keeps
//! the tail well conditioned (`F` saturates at 1 and loses the digits that `S` keeps). A bracket
//! `[a, b]` with `g(a) < 0 <= g(b)` is found by stepping from a starting guess with doubling steps
//! (clamped to the support), then Brent's method (inverse quadratic interpolation and secant
//! steps, with a bisection whenever they fail to shrink the bracket fast enough) narrows it to a
//! few ulps. The returned point is the right end of the final bracket, so for a CDF with a jump
//! the result is the left-continuous inverse `inf{x : F(x) >= p}` up to the tolerance.

use crate::error::{Error, Result};

/// What the inverter needs from a law.
pub(crate) struct Target<'a> {
    /// `F(x)`.
    pub cdf: &'a dyn Fn(f64) -> f64,
    /// `S(x) = 1 - F(x)`, accurate in the upper tail.
    pub sf: &'a dyn Fn(f64) -> f64,
    /// Support `[lo, hi]` (either end may be infinite).
    pub support: (f64, f64),
}

/// Most bracket doublings before giving up (2^1100 exceeds `f64::MAX`, so this only stops a
/// search that cannot succeed).
const MAX_DOUBLINGS: usize = 1100;
/// Most Brent iterations; bisection alone needs at most about 2100 to exhaust `f64`.
const MAX_ITERATIONS: usize = 2200;

/// The quantile at level `(p, q)`, starting the bracket search at `start` with step `step > 0`.
pub(crate) fn invert(t: &Target<'_>, p: f64, q: f64, start: f64, step: f64) -> Result<f64> {
    let g = |x: f64| {
        if p <= 0.5 {
            (t.cdf)(x) - p
        } else {
            q - (t.sf)(x)
        }
    };
    let (lo, hi) = t.support;
    let start = start.clamp(lo, hi);
    let g0 = g(start);
    let (mut a, mut b, mut ga, mut gb);
    if g0 < 0.0 {
        (a, ga) = (start, g0);
        let mut s = step;
        loop {
            let x = (start + s).min(hi);
            let gx = if x == hi && hi.is_finite() {
                g(x).max(0.0)
            } else {
                g(x)
            };
            if gx >= 0.0 {
                (b, gb) = (x, gx);
                break;
            }
            (a, ga) = (x, gx);
            s *= 2.0;
            if !x.is_finite() || s > f64::MAX || s.is_infinite() {
                return Err(no_bracket(p, start));
            }
        }
    } else {
        (b, gb) = (start, g0);
        let mut s = step;
        let mut k = 0;
        loop {
            let x = (start - s).max(lo);
            let gx = if x == lo && lo.is_finite() {
                g(x).min(-f64::MIN_POSITIVE)
            } else {
                g(x)
            };
            if gx < 0.0 {
                (a, ga) = (x, gx);
                break;
            }
            (b, gb) = (x, gx);
            s *= 2.0;
            k += 1;
            if !x.is_finite() || k > MAX_DOUBLINGS {
                return Err(no_bracket(p, start));
            }
        }
    }
    brent(&g, (a, ga), (b, gb))
}

fn no_bracket(p: f64, start: f64) -> Error {
    Error::SolverFailed {
        func: "Population::quantile",
        solver: "bracketing for Brent's method",
        reason: format!("no sign change of F(x) - p found from x = {start} for p = {p:e}"),
    }
}

/// Brent's root finder on a bracket with `g(a) < 0 <= g(b)`; returns a point `x` with
/// `g(x) >= 0` within a few ulps of the sign change.
fn brent(g: &dyn Fn(f64) -> f64, (a0, ga0): (f64, f64), (b0, gb0): (f64, f64)) -> Result<f64> {
    // Invariant: `neg` has g < 0 and `pos` has g >= 0; `best` is the one with smaller |g|.
    let (mut neg, mut gneg) = (a0, ga0);
    let (mut pos, mut gpos) = (b0, gb0);
    if gpos == 0.0 {
        return Ok(pos);
    }
    // Previous iterate for interpolation, and the step before last (Brent's safeguard).
    let (mut prev, mut gprev) = (neg, gneg);
    let mut last_step = pos - neg;
    let mut older_step = last_step;
    for _ in 0..MAX_ITERATIONS {
        let (best, gbest, other) = if gpos.abs() <= gneg.abs() {
            (pos, gpos, neg)
        } else {
            (neg, gneg, pos)
        };
        let tol = 4.0 * f64::EPSILON * best.abs() + f64::MIN_POSITIVE;
        let half = 0.5 * (other - best);
        if half.abs() <= tol {
            return Ok(pos);
        }
        // Candidate step from `best`: inverse quadratic interpolation through the three most
        // recent points when they are distinct, else the secant through the bracket ends.
        let mut step = half;
        if older_step.abs() >= tol && gprev.abs() > gbest.abs() {
            // Classic notation: a = prev, b = best, c = other, m = half.
            let gother = if other == pos { gpos } else { gneg };
            let (num, den) = if prev != other && gprev != gother && gprev != gbest {
                let qa = gprev / gother;
                let r = gbest / gother;
                let s = gbest / gprev;
                (
                    s * (2.0 * half * qa * (qa - r) - (best - prev) * (r - 1.0)),
                    (qa - 1.0) * (r - 1.0) * (s - 1.0),
                )
            } else {
                let s = gbest / gother;
                (2.0 * half * s, 1.0 - s)
            };
            let (num, den) = if num > 0.0 { (num, -den) } else { (-num, den) };
            // Accept the interpolation only if it lands well inside the bracket and shrinks
            // faster than the step before last; otherwise bisect.
            if 2.0 * num < (3.0 * half * den - (tol * den).abs()).min((older_step * den).abs()) {
                older_step = last_step;
                step = num / den;
            } else {
                older_step = half;
            }
        } else {
            older_step = half;
        }
        last_step = step;
        let x = if step.abs() > tol {
            best + step
        } else {
            best + tol.copysign(half)
        };
        let gx = g(x);
        (prev, gprev) = (best, gbest);
        if gx >= 0.0 {
            (pos, gpos) = (x, gx);
            if gx == 0.0 {
                return Ok(x);
            }
        } else {
            (neg, gneg) = (x, gx);
        }
    }
    Err(Error::SolverFailed {
        func: "Population::quantile",
        solver: "Brent's method",
        reason: format!("bracket [{neg}, {pos}] did not shrink within {MAX_ITERATIONS} steps"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverts_smooth_and_step_cdfs() {
        // F(x) = x³ on [0, 1]: Q(p) = p^{1/3}.
        let cdf = |x: f64| x.powi(3);
        let sf = |x: f64| 1.0 - x.powi(3);
        let t = Target {
            cdf: &cdf,
            sf: &sf,
            support: (0.0, 1.0),
        };
        for p in [1e-9, 0.1, 0.5, 0.9] {
            let x = invert(&t, p, 1.0 - p, 0.5, 0.01).unwrap();
            assert!((x - p.cbrt()).abs() < 1e-14, "p={p}: {x}");
        }
        // A unit step at 2: the left-continuous inverse is 2 for every p in (0, 1).
        let step = |x: f64| if x >= 2.0 { 1.0 } else { 0.0 };
        let sf = |x: f64| 1.0 - step(x);
        let t = Target {
            cdf: &step,
            sf: &sf,
            support: (f64::NEG_INFINITY, f64::INFINITY),
        };
        let x = invert(&t, 0.3, 0.7, -5.0, 1.0).unwrap();
        assert!((x - 2.0).abs() < 1e-14, "{x}");
    }
}
