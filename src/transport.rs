//! Optimal transport on the line by sorting: cost, plan and Wasserstein distances.
//!
//! For a **convex** `h` and two probability measures `μ_U`, `μ_V` on ℝ (Santambrogio 2015,
//! Thm 2.9 and Prop 2.17; notes §2.1),
//!
//! ```text
//! OT_h(μ_U, μ_V) = min_{γ ∈ Π(μ_U, μ_V)} ∫ h(u - v) dγ = ∫_0^1 h(Q_U(p) - Q_V(p)) dp,
//! ```
//!
//! attained by the comonotone coupling `(Q_U, Q_V)_# Leb[0, 1]`. For samples this is the merge of
//! [`crate::coupling`]: sort both, cut `(0, 1]` at both sets of cumulative masses, and pair what
//! lies on each piece. O((n + m) log(n + m)) time, a plan with at most `n + m - 1` entries.
//!
//! For a non-convex `h` the comonotone coupling need not be optimal (the 0-1 cost on
//! `U = {0, 2}`, `V = {1, 3}` costs 1 sorted and 1/2 crossed), so [`ot_cost`] and [`ot_plan`]
//! reject it with [`Error::NonConvexCost`]; [`comonotone_cost`] evaluates the sorted pairing for
//! any cost without claiming optimality, and [`antitone_cost`] the reversed pairing, which is the
//! **worst** coupling for convex `h`.

use serde::Serialize;

use crate::cost::Cost;
use crate::coupling::{segments, CompensatedSum};
use crate::error::{Error, Result};
use crate::sample::Sample;

/// One entry of a transport plan: mass moved from `U`'s input `i` to `V`'s input `j`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlanEntry {
    /// Input index of the `U` value.
    pub i: usize,
    /// Input index of the `V` value.
    pub j: usize,
    /// Mass moved, `γ_ij > 0`.
    pub mass: f64,
    /// The value `u_i`.
    pub u: f64,
    /// The value `v_j`.
    pub v: f64,
}

/// A sparse transport plan with its cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransportPlan {
    /// `Σ_entries mass · h(u_i - v_j)`.
    pub cost: f64,
    /// Entries in increasing quantile level; at most `n + m - 1` of them.
    pub entries: Vec<PlanEntry>,
}

fn require_convex<C: Cost + ?Sized>(func: &'static str, cost: &C) -> Result<()> {
    if cost.is_convex() {
        Ok(())
    } else {
        Err(Error::NonConvexCost {
            func,
            cost: cost.describe(),
        })
    }
}

fn finite_or_overflow(func: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::Overflow {
            func,
            value,
            hint: "the cost of some quantile gap exceeds f64::MAX; rescale the inputs",
        })
    }
}

/// The optimal transport cost `OT_h(U, V) = ∫_0^1 h(Q_U - Q_V) dp` for a convex cost.
///
/// # Errors
///
/// [`Error::NonConvexCost`] when `cost.is_convex()` is false; [`Error::Overflow`] when the cost
/// is not representable.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, sample::Sample, transport::ot_cost};
///
/// let u = Sample::new(&[0.0, 2.0])?;
/// let v = Sample::new(&[3.0, 1.0])?;
/// // Sorted pairs (0, 1), (2, 3): (1² + 1²)/2 = 1 with h(x) = x².
/// assert_eq!(ot_cost(&u, &v, &Surrogate::abs_power(2.0)?)?, 1.0);
/// assert!(ot_cost(&u, &v, &Surrogate::zero_one()).is_err());
/// # Ok::<(), aot::Error>(())
/// ```
pub fn ot_cost<C: Cost + ?Sized>(u: &Sample, v: &Sample, cost: &C) -> Result<f64> {
    require_convex("ot_cost", cost)?;
    finite_or_overflow("ot_cost", comonotone_sum(u, v, cost))
}

fn comonotone_sum<C: Cost + ?Sized>(u: &Sample, v: &Sample, cost: &C) -> f64 {
    let mut sum = CompensatedSum::default();
    segments(u, v).for_each(|s| sum.add(s.mass * cost.value(s.u - s.v)));
    sum.value()
}

/// The optimal plan and its cost for a convex cost: the comonotone coupling as sparse entries.
///
/// The plan's marginals are the weights of `u` and `v` (tests check it); its support is
/// monotone: entries are ordered so that both `u_i` and `v_j` are nondecreasing.
///
/// # Errors
///
/// As [`ot_cost`].
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, sample::Sample, transport::ot_plan};
///
/// let u = Sample::new(&[5.0, 1.0])?;          // inputs 0 and 1
/// let v = Sample::new(&[2.0, 0.0, 9.0, 4.0])?; // inputs 0 to 3
/// let plan = ot_plan(&u, &v, &Surrogate::hinge(0.0)?)?;
/// let ij: Vec<_> = plan.entries.iter().map(|e| (e.i, e.j)).collect();
/// // 1 takes the two smallest of V (0 and 2), 5 the two largest (4 and 9).
/// assert_eq!(ij, vec![(1, 1), (1, 0), (0, 3), (0, 2)]);
/// assert_eq!(plan.cost, 0.25 * (9.0 - 5.0) + 0.25 * (2.0 - 1.0));
/// # Ok::<(), aot::Error>(())
/// ```
pub fn ot_plan<C: Cost + ?Sized>(u: &Sample, v: &Sample, cost: &C) -> Result<TransportPlan> {
    require_convex("ot_plan", cost)?;
    sorted_plan("ot_plan", u, v, cost)
}

/// The comonotone (sorted) coupling as sparse entries, with its cost `Σ mass · h(u - v)`, for
/// **any** cost.
///
/// The entries do not depend on the cost. For convex `h` this is [`ot_plan`]; for a non-convex
/// `h` the coupling is feasible but need not be optimal, so its cost is only an upper bound on
/// the optimum (this is how counterexamples are shown, against an exact solver).
///
/// # Errors
///
/// [`Error::Overflow`] when the cost is not representable.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, sample::Sample, transport::comonotone_plan};
///
/// // The 0-1 cost is not convex: the sorted pairs (0, 1) and (2, 3) both have u < v.
/// let u = Sample::new(&[0.0, 2.0])?;
/// let v = Sample::new(&[1.0, 3.0])?;
/// let plan = comonotone_plan(&u, &v, &Surrogate::zero_one())?;
/// assert_eq!(plan.cost, 1.0); // the crossed pairing (0, 3), (2, 1) costs 1/2
/// # Ok::<(), aot::Error>(())
/// ```
pub fn comonotone_plan<C: Cost + ?Sized>(
    u: &Sample,
    v: &Sample,
    cost: &C,
) -> Result<TransportPlan> {
    sorted_plan("comonotone_plan", u, v, cost)
}

fn sorted_plan<C: Cost + ?Sized>(
    func: &'static str,
    u: &Sample,
    v: &Sample,
    cost: &C,
) -> Result<TransportPlan> {
    let mut sum = CompensatedSum::default();
    let (order_u, order_v) = (u.order(), v.order());
    // At most n + m - 1 entries: reserving them avoids copying a growing vector of up to 40 bytes
    // per entry (the pages of the reserve that are never written are never touched).
    let mut entries = Vec::with_capacity(u.len() + v.len() - 1);
    segments(u, v).for_each(|s| {
        sum.add(s.mass * cost.value(s.u - s.v));
        entries.push(PlanEntry {
            i: order_u[s.u_rank],
            j: order_v[s.v_rank],
            mass: s.mass,
            u: s.u,
            v: s.v,
        });
    });
    let cost = finite_or_overflow(func, sum.value())?;
    Ok(TransportPlan { cost, entries })
}

/// The cost `Σ mass · h(u - v)` of the comonotone (sorted) coupling for **any** cost.
///
/// Equal to [`ot_cost`] for convex `h`; for a non-convex `h` it is only an upper bound on the
/// optimum (the coupling is feasible), and for the 0-1 cost it is the quantile violation
/// `ε_{0-1}`.
///
/// # Errors
///
/// [`Error::Overflow`] when the cost is not representable.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, sample::Sample, transport::comonotone_cost};
/// let u = Sample::new(&[0.0, 2.0])?;
/// let v = Sample::new(&[1.0, 3.0])?;
/// assert_eq!(comonotone_cost(&u, &v, &Surrogate::zero_one())?, 1.0); // the OT optimum is 1/2
/// # Ok::<(), aot::Error>(())
/// ```
pub fn comonotone_cost<C: Cost + ?Sized>(u: &Sample, v: &Sample, cost: &C) -> Result<f64> {
    finite_or_overflow("comonotone_cost", comonotone_sum(u, v, cost))
}

/// The cost of the anti-monotone coupling `(Q_U(p), Q_V(1 - p))`, which pairs the smallest `u`
/// with the largest `v`. For convex `h` it is the **maximum** over all couplings (the
/// submodularity inequality of notes §2.2 run in reverse), so a port of AOT that sorts one side
/// descending maximises the violation instead of minimising it.
///
/// # Errors
///
/// [`Error::Overflow`] when the cost is not representable.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, sample::Sample, transport::antitone_cost};
/// let u = Sample::new(&[0.0, 2.0])?;
/// let v = Sample::new(&[1.0, 3.0])?;
/// // Pairs (0, 3) and (2, 1): (9 + 1)/2 = 5 with h(x) = x².
/// assert_eq!(antitone_cost(&u, &v, &Surrogate::abs_power(2.0)?)?, 5.0);
/// # Ok::<(), aot::Error>(())
/// ```
pub fn antitone_cost<C: Cost + ?Sized>(u: &Sample, v: &Sample, cost: &C) -> Result<f64> {
    // Q_{-V}(p) = -Q_V(1 - p) at almost every level, so pairing U with -V comonotonically pairs
    // u with -w = v reversed: h(u - v) = h(u + w).
    let neg_v = v.negated();
    let mut sum = CompensatedSum::default();
    for s in segments(u, &neg_v) {
        sum.add(s.mass * cost.value(s.u + s.v));
    }
    finite_or_overflow("antitone_cost", sum.value())
}

/// The Wasserstein distance `W_p(U, V) = (∫_0^1 |Q_U - Q_V|^p dp)^{1/p}` for `p >= 1`, and
/// `W_∞ = max |Q_U - Q_V|` for `p = ∞`.
///
/// Computed as `g · (Σ mass · (|u - v|/g)^p)^{1/p}` with `g` the largest gap, so neither `|x|^p`
/// overflow nor underflow can spoil it for large `p` (as `p → ∞` it tends to `W_∞`).
///
/// # Errors
///
/// [`Error::InvalidParameter`] unless `p >= 1` (NaN rejected); [`Error::Overflow`] when the
/// distance itself exceeds `f64::MAX`.
///
/// # Examples
///
/// ```
/// use aot::{sample::Sample, transport::wasserstein};
/// let u = Sample::new(&[0.0, 1.0])?;
/// let v = Sample::new(&[3.0, 4.0])?;
/// // A pure shift by 3: W_p = 3 for every p.
/// for p in [1.0, 2.0, 1e6, f64::INFINITY] {
///     assert!((wasserstein(&u, &v, p)? - 3.0).abs() < 1e-12);
/// }
/// # Ok::<(), aot::Error>(())
/// ```
pub fn wasserstein(u: &Sample, v: &Sample, p: f64) -> Result<f64> {
    if p.is_nan() || p < 1.0 {
        return Err(Error::InvalidParameter {
            func: "wasserstein",
            name: "p",
            value: p,
            expected: ">= 1 (or infinity)",
        });
    }
    // Half-gaps cannot overflow even for values of opposite sign near ±f64::MAX.
    let half_gap = |s: &crate::coupling::Segment| (0.5 * s.u - 0.5 * s.v).abs();
    let g = segments(u, v).map(|s| half_gap(&s)).fold(0.0f64, f64::max);
    if g == 0.0 {
        return Ok(0.0);
    }
    if p.is_infinite() {
        return finite_or_overflow("wasserstein", 2.0 * g);
    }
    // |r|^p for the common exponents without a call to `powf` (which costs more than the
    // whole merge step); x·x is the correctly rounded square.
    let power = |r: f64| {
        if p == 1.0 {
            r
        } else if p == 2.0 {
            r * r
        } else {
            r.powf(p)
        }
    };
    let mut sum = CompensatedSum::default();
    segments(u, v).for_each(|s| sum.add(s.mass * power(half_gap(&s) / g)));
    // The largest gap contributes at least its mass, so sum > 0 and the root is finite.
    finite_or_overflow("wasserstein", 2.0 * g * sum.value().powf(1.0 / p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Surrogate;

    #[test]
    fn unequal_sizes_match_hand_computation() {
        // U uniform on {0, 1}, V uniform on {0, 1, 2}; segments (1/3: 0,0) (1/6: 0,1) (1/6: 1,1)
        // (1/3: 1,2), so W1 = 1/6 + 1/3 = 1/2 and W2² = 1/6 + 1/3 = 1/2.
        let u = Sample::new(&[0.0, 1.0]).unwrap();
        let v = Sample::new(&[0.0, 1.0, 2.0]).unwrap();
        assert!((wasserstein(&u, &v, 1.0).unwrap() - 0.5).abs() < 1e-15);
        assert!((wasserstein(&u, &v, 2.0).unwrap() - 0.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(wasserstein(&u, &v, f64::INFINITY).unwrap(), 1.0);
        let plan = ot_plan(&u, &v, &Surrogate::abs_power(1.0).unwrap()).unwrap();
        assert_eq!(plan.entries.len(), 4);
        assert!(plan.entries.len() < u.len() + v.len());
    }

    #[test]
    fn large_p_neither_overflows_nor_underflows() {
        // Gaps 1 (mass 1/2) and 1e-3 (mass 1/2): W_p = (1/2 + 1/2·1e-3p)^{1/p} → 1 as p grows.
        let u = Sample::new(&[0.0, 10.0]).unwrap();
        let v = Sample::new(&[1.0, 10.001]).unwrap();
        let w = wasserstein(&u, &v, 1e5).unwrap();
        assert!((w - 0.5f64.powf(1e-5)).abs() < 1e-12, "{w}");
        let far = Sample::new(&[1e300, -1e300]).unwrap();
        let w = wasserstein(&far, &far.negated(), 3.0).unwrap();
        assert_eq!(w, 0.0);
        // A distance of 2e308 is not representable: an error, not inf.
        let (a, b) = (
            Sample::new(&[-1e308]).unwrap(),
            Sample::new(&[1e308]).unwrap(),
        );
        assert!(matches!(
            wasserstein(&a, &b, 50.0),
            Err(Error::Overflow { .. })
        ));
        assert_eq!(wasserstein(&a, &a, 50.0).unwrap(), 0.0);
    }

    #[test]
    fn errors_name_the_problem() {
        let u = Sample::new(&[0.0]).unwrap();
        let e = ot_cost(&u, &u, &Surrogate::abs_power(0.5).unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ot_cost: cost `abs_power(p=0.5)` is not convex; sorting is optimal only for convex \
             costs (use an exact solver for this cost)"
        );
        let e = wasserstein(&u, &u, 0.5).unwrap_err();
        assert!(e.to_string().contains("`p` = 0.5"), "{e}");
        let big = Sample::new(&[-1e200]).unwrap();
        let e = ot_cost(&big, &u, &Surrogate::squared_hinge(0.0).unwrap()).unwrap_err();
        assert!(matches!(e, Error::Overflow { .. }));
    }
}
