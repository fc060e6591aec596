//! A dual certificate of optimality for the sorted plan, without solving an LP.
//!
//! By weak duality, any potentials `φ` on the atoms of `U` and `ψ` on those of `V` with
//! `φ(u_i) + ψ(v_j) <= c(u_i, v_j)` for **all** pairs bound every plan from below:
//! `Σ γ_ij c_ij >= Σ_i a_i φ(u_i) + Σ_j b_j ψ(v_j)`. If the potentials also satisfy the
//! constraint with equality on the support of a plan `γ*` whose marginals are `a` and `b`, then
//! the two sides are equal for `γ*`, which is therefore optimal (complementary slackness).
//!
//! # Construction along the monotone plan
//!
//! The sorted plan of [`crate::transport::ot_plan`] is a staircase: ranked by value, consecutive
//! entries move from atom pair `(k, l)` to `(k + 1, l)`, `(k, l + 1)` or `(k + 1, l + 1)`.
//! Starting from `φ_0 = 0`, `ψ_0 = c_00`, the potentials follow it with equality on every entry:
//!
//! ```text
//! (k, l) → (k + 1, l):  φ_{k+1} = c_{k+1,l} − ψ_l,
//!                        so φ_{k+1} − φ_k = h(u_{k+1} − v_l) − h(u_k − v_l)
//!                                         = ∫_{u_k}^{u_{k+1}} h'(s − v_l) ds,
//! (k, l) → (k, l + 1):  ψ_{l+1} = c_{k,l+1} − φ_k,
//! (k, l) → (k+1, l+1):  φ_{k+1} = φ_k + d,  ψ_{l+1} = c_{k+1,l+1} − φ_{k+1},
//!                        d = midpoint of [c_{k+1,l+1} − c_{k,l+1},  c_{k+1,l} − c_{k,l}].
//! ```
//!
//! The first two steps integrate `h'` along the support, the discrete form of the classical
//! construction `φ(u) = ∫ h'(s − T(s)) ds` with `T` the monotone map. On a diagonal step (both
//! quantile functions jump at the same level) the support splits, and the two ends of the interval
//! for `d` are the potentials of the two staircases that pass through the zero-mass cell
//! `(k, l + 1)` or `(k + 1, l)`; the interval is non-empty because a convex `h` makes `c` a Monge
//! matrix, `c_{k,l} + c_{k+1,l+1} <= c_{k,l+1} + c_{k+1,l}`, and the midpoint, an average of two
//! feasible duals, keeps slack on both sides.
//!
//! # Checking feasibility
//!
//! * [`FeasibilityCheck::AllPairs`]: every `φ_k + ψ_l − c_kl` is evaluated, `n·m` cost
//!   evaluations. Independent of any property of `h`, so it also shows where the construction
//!   fails for a non-convex cost.
//! * [`FeasibilityCheck::MongeColumnMinima`]: for a convex `h`, the reduced costs
//!   `r_kl = c_kl − φ_k − ψ_l` form a Monge matrix (in sorted order), whose column minima sit on
//!   nondecreasing rows, so divide and conquer finds every column minimum with
//!   `O((n + m) log m)` evaluations. This relies on the convexity the certificate is about; it
//!   is used above [`ALL_PAIRS_LIMIT`] pairs only, and refused for a non-convex cost.
//!
//! **Shortcoming.** Rounding makes `max_violation` of order `1e-16 · max |φ|` rather than zero,
//! and the divide and conquer can, in principle, miss a column minimum whose Monge inequality
//! holds only up to rounding.

use serde::Serialize;

use super::compensated_sum;
use crate::cost::Cost;
use crate::error::{Error, Result};
use crate::sample::Sample;
use crate::transport::TransportPlan;

/// Above this many pairs `n·m`, [`certify`] checks feasibility by Monge column minima instead
/// of all pairs.
pub const ALL_PAIRS_LIMIT: usize = 1 << 24;

/// How dual feasibility `φ_k + ψ_l <= c_kl` is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeasibilityCheck {
    /// Every pair evaluated: `n·m` cost evaluations.
    AllPairs,
    /// Column minima of the Monge reduced-cost matrix by divide and conquer (convex costs only).
    MongeColumnMinima,
}

/// Potentials for the sorted plan and what they prove.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DualCertificate {
    /// `φ` by input index of `U` (NaN for inputs of zero weight, which carry no constraint).
    pub phi: Vec<f64>,
    /// `ψ` by input index of `V` (NaN for inputs of zero weight).
    pub psi: Vec<f64>,
    /// The plan's cost `Σ γ_kl c_kl`.
    pub primal: f64,
    /// The dual value `Σ a_k φ_k + Σ b_l ψ_l`.
    pub dual: f64,
    /// `primal − dual`; zero up to rounding when the plan's marginals are `a` and `b`.
    pub duality_gap: f64,
    /// `max_kl (φ_k + ψ_l − c_kl)_+`: 0 up to rounding when the potentials are feasible.
    pub max_violation: f64,
    /// `max` over plan entries of `|c_kl − φ_k − ψ_l|` (complementary slackness).
    pub max_support_slack: f64,
    /// `max(max_k |Σ_l γ_kl − a_k|, max_l |Σ_k γ_kl − b_l|)`.
    pub marginal_error: f64,
    /// Cost evaluations spent on the feasibility check.
    pub pairs_checked: u64,
    /// How feasibility was checked.
    pub check: FeasibilityCheck,
}

impl DualCertificate {
    /// An upper bound on `cost(plan) − OT`: `duality_gap + max_violation`, since
    /// `φ + ψ <= c + δ` gives `Σ γ c >= dual − δ` for every plan `γ`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::{cost::Surrogate, exact::dual::certify, sample::Sample};
    /// use aot::transport::comonotone_plan;
    ///
    /// // The 0-1 cost on U = {0, 2}, V = {1, 3}: the sorted plan costs 1, the optimum 1/2, and
    /// // the potentials built along the sorted plan violate feasibility by exactly 1/2.
    /// let (u, v) = (Sample::new(&[0.0, 2.0])?, Sample::new(&[1.0, 3.0])?);
    /// let h = Surrogate::zero_one();
    /// let plan = comonotone_plan(&u, &v, &h)?;
    /// assert_eq!(plan.cost, 1.0);
    /// let cert = certify(&u, &v, &plan, &h)?;
    /// assert_eq!(cert.suboptimality_bound(), 0.5);
    /// # Ok::<(), aot::Error>(())
    /// ```
    pub fn suboptimality_bound(&self) -> f64 {
        self.duality_gap.max(0.0) + self.max_violation
    }
}

/// Builds potentials along a sorted plan and checks them, choosing the feasibility check by
/// size: all pairs up to [`ALL_PAIRS_LIMIT`], Monge column minima above.
///
/// # Errors
///
/// As [`certify_with`]; in particular [`Error::NonConvexCost`] when `n·m` exceeds
/// [`ALL_PAIRS_LIMIT`] and the cost is not convex.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, exact::dual::certify, sample::Sample, transport::ot_plan};
///
/// let u = Sample::new(&[0.0, 1.0, 4.0])?;
/// let v = Sample::weighted(&[0.5, 2.0], &[1.0, 3.0])?;
/// let h = Surrogate::logistic(1.0)?;
/// let plan = ot_plan(&u, &v, &h)?;
/// let cert = certify(&u, &v, &plan, &h)?;
/// assert!(cert.suboptimality_bound() < 1e-14);
/// assert!(cert.max_support_slack < 1e-15);
/// # Ok::<(), aot::Error>(())
/// ```
pub fn certify<C: Cost + ?Sized>(
    u: &Sample,
    v: &Sample,
    plan: &TransportPlan,
    cost: &C,
) -> Result<DualCertificate> {
    let check = if u.len().saturating_mul(v.len()) <= ALL_PAIRS_LIMIT {
        FeasibilityCheck::AllPairs
    } else {
        FeasibilityCheck::MongeColumnMinima
    };
    certify_with(u, v, plan, cost, check)
}

/// Builds potentials along `plan` (the sorted plan of `u` and `v`) and checks them with `check`.
///
/// The plan's entries (not its `cost` field) are used; they do not depend on the cost, so
/// [`crate::transport::comonotone_plan`] builds the plan to test for any cost, convex or not.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, sample::Sample, transport::ot_plan};
/// use aot::exact::dual::{certify_with, FeasibilityCheck};
///
/// let u = Sample::new(&[0.0, 1.0, 2.0, 3.0])?;
/// let v = Sample::new(&[0.5, 2.5])?;
/// let h = Surrogate::least_squares(1.0)?;
/// let plan = ot_plan(&u, &v, &h)?;
/// let cert = certify_with(&u, &v, &plan, &h, FeasibilityCheck::MongeColumnMinima)?;
/// assert!(cert.suboptimality_bound() < 1e-14);
/// assert!(cert.pairs_checked <= 8);
/// # Ok::<(), aot::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidParameter`] (name `plan entry`, value its position) when `plan` is not the
/// monotone staircase of `u` and `v` (it must come from [`crate::transport::ot_plan`] or
/// [`crate::transport::comonotone_plan`] on the same samples); [`Error::NonConvexCost`] for
/// [`FeasibilityCheck::MongeColumnMinima`] with a non-convex cost; [`Error::Overflow`] when a
/// cost is not finite.
pub fn certify_with<C: Cost + ?Sized>(
    u: &Sample,
    v: &Sample,
    plan: &TransportPlan,
    cost: &C,
    check: FeasibilityCheck,
) -> Result<DualCertificate> {
    const FUNC: &str = "certify";
    if check == FeasibilityCheck::MongeColumnMinima && !cost.is_convex() {
        return Err(Error::NonConvexCost {
            func: FUNC,
            cost: cost.describe(),
        });
    }
    let (us, vs) = (u.sorted_values(), v.sorted_values());
    let (n, m) = (us.len(), vs.len());
    let rank_u = inverse(u.order(), u.input_len());
    let rank_v = inverse(v.order(), v.input_len());
    let c = |k: usize, l: usize| cost.value(us[k] - vs[l]);
    let bad_entry = |pos: usize| Error::InvalidParameter {
        func: FUNC,
        name: "plan entry",
        value: pos as f64,
        expected: "the monotone staircase of u and v, as returned by transport::comonotone_plan",
    };

    // Walk the staircase, in rank space.
    let mut phi = vec![f64::NAN; n];
    let mut psi = vec![f64::NAN; m];
    let mut row = vec![0.0; n];
    let mut col = vec![0.0; m];
    let mut prev: Option<(usize, usize)> = None;
    let mut slack = 0.0f64;
    let mut primal_terms = Vec::with_capacity(plan.entries.len());
    for (pos, e) in plan.entries.iter().enumerate() {
        let k = rank_u
            .get(e.i)
            .copied()
            .flatten()
            .ok_or_else(|| bad_entry(pos))?;
        let l = rank_v
            .get(e.j)
            .copied()
            .flatten()
            .ok_or_else(|| bad_entry(pos))?;
        let ckl = c(k, l);
        match prev {
            None if (k, l) == (0, 0) => {
                phi[0] = 0.0;
                psi[0] = ckl;
            }
            Some((pk, pl)) if (k, l) == (pk + 1, pl) => phi[k] = ckl - psi[l],
            Some((pk, pl)) if (k, l) == (pk, pl + 1) => psi[l] = ckl - phi[k],
            Some((pk, pl)) if (k, l) == (pk + 1, pl + 1) => {
                let low = ckl - c(pk, l);
                let high = c(k, pl) - c(pk, pl);
                phi[k] = phi[pk] + 0.5 * (low + high);
                psi[l] = ckl - phi[k];
            }
            _ => return Err(bad_entry(pos)),
        }
        if !ckl.is_finite() || !phi[k].is_finite() || !psi[l].is_finite() {
            return Err(Error::Overflow {
                func: FUNC,
                value: ckl,
                hint: "a cost or potential is not finite; rescale the inputs",
            });
        }
        slack = slack.max((ckl - phi[k] - psi[l]).abs());
        row[k] += e.mass;
        col[l] += e.mass;
        primal_terms.push(e.mass * ckl);
        prev = Some((k, l));
    }
    if prev != Some((n - 1, m - 1)) {
        return Err(bad_entry(plan.entries.len()));
    }
    let marginal_error = (0..n)
        .map(|k| (row[k] - u.mass(k)).abs())
        .chain((0..m).map(|l| (col[l] - v.mass(l)).abs()))
        .fold(0.0, f64::max);
    let primal = compensated_sum(primal_terms);
    let dual = compensated_sum(
        (0..n)
            .map(|k| u.mass(k) * phi[k])
            .chain((0..m).map(|l| v.mass(l) * psi[l])),
    );

    let reduced = |k: usize, l: usize| c(k, l) - phi[k] - psi[l];
    let (min_reduced, pairs_checked) = match check {
        FeasibilityCheck::AllPairs => {
            let mut min = f64::INFINITY;
            for k in 0..n {
                for l in 0..m {
                    min = min.min(reduced(k, l));
                }
            }
            (min, (n * m) as u64)
        }
        FeasibilityCheck::MongeColumnMinima => {
            let mut minima = ColumnMinima {
                reduced: &reduced,
                min: f64::INFINITY,
                evaluations: 0,
            };
            minima.solve(0, m, 0, n - 1);
            (minima.min, minima.evaluations)
        }
    };

    let by_input = |values: &[f64], order: &[usize], len: usize| {
        let mut out = vec![f64::NAN; len];
        for (r, &i) in order.iter().enumerate() {
            out[i] = values[r];
        }
        out
    };
    Ok(DualCertificate {
        phi: by_input(&phi, u.order(), u.input_len()),
        psi: by_input(&psi, v.order(), v.input_len()),
        primal,
        dual,
        duality_gap: primal - dual,
        max_violation: (-min_reduced).max(0.0),
        max_support_slack: slack,
        marginal_error,
        pairs_checked,
        check,
    })
}

/// `rank[i] = Some(r)` when input `i` is the atom of rank `r`.
fn inverse(order: &[usize], input_len: usize) -> Vec<Option<usize>> {
    let mut rank = vec![None; input_len];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = Some(r);
    }
    rank
}

/// Divide and conquer over the columns of a Monge matrix: the row of a column minimum is
/// nondecreasing in the column, so column `mid`'s minimiser splits the rows for the two halves.
struct ColumnMinima<'a, F: Fn(usize, usize) -> f64> {
    reduced: &'a F,
    min: f64,
    evaluations: u64,
}

impl<F: Fn(usize, usize) -> f64> ColumnMinima<'_, F> {
    /// Column minima for columns `lo..hi`, searching rows `row_lo..=row_hi`.
    fn solve(&mut self, lo: usize, hi: usize, row_lo: usize, row_hi: usize) {
        if lo >= hi {
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let (mut best, mut arg) = (f64::INFINITY, row_lo);
        for k in row_lo..=row_hi {
            let r = (self.reduced)(k, mid);
            if r < best {
                best = r;
                arg = k;
            }
        }
        self.evaluations += (row_hi - row_lo + 1) as u64;
        self.min = self.min.min(best);
        self.solve(lo, mid, row_lo, arg);
        self.solve(mid + 1, hi, arg, row_hi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Surrogate;
    use crate::transport::ot_plan;

    #[test]
    fn diagonal_step_uses_the_monge_interval() {
        // Equal sizes: every step is diagonal. h(x) = x², u = {0, 1}, v = {0, 1}: c = [[0, 1],
        // [1, 0]], interval for d = [c11 − c01, c10 − c00] = [−1, 1], midpoint 0, so φ = (0, 0),
        // ψ = (0, 0), and the off-support reduced costs are both 1.
        let s = Sample::new(&[0.0, 1.0]).unwrap();
        let h = Surrogate::abs_power(2.0).unwrap();
        let cert = certify(&s, &s, &ot_plan(&s, &s, &h).unwrap(), &h).unwrap();
        assert_eq!(cert.phi, vec![0.0, 0.0]);
        assert_eq!(cert.psi, vec![0.0, 0.0]);
        assert_eq!(
            (cert.primal, cert.dual, cert.max_violation),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn both_checks_agree_on_a_weighted_instance() {
        let u = Sample::weighted(&[3.0, -1.0, 0.5, 0.5, 2.0], &[1.0, 2.0, 0.0, 1.0, 3.0]).unwrap();
        let v = Sample::new(&[0.0, 1.0, 1.0, 5.0]).unwrap();
        let h = Surrogate::squared_hinge(1.0).unwrap();
        let plan = ot_plan(&u, &v, &h).unwrap();
        let a = certify_with(&u, &v, &plan, &h, FeasibilityCheck::AllPairs).unwrap();
        let b = certify_with(&u, &v, &plan, &h, FeasibilityCheck::MongeColumnMinima).unwrap();
        assert!(a.suboptimality_bound() < 1e-14 && b.suboptimality_bound() < 1e-14);
        assert!(a.phi[2].is_nan(), "the zero-weight input has no potential");
    }

    #[test]
    fn rejects_a_plan_of_other_samples() {
        let u = Sample::new(&[0.0, 1.0]).unwrap();
        let v = Sample::new(&[0.0, 1.0, 2.0]).unwrap();
        let h = Surrogate::hinge(0.0).unwrap();
        let plan = ot_plan(&u, &u, &h).unwrap();
        let e = certify(&u, &v, &plan, &h).unwrap_err();
        assert!(e.to_string().contains("plan entry"), "{e}");
        let e = certify_with(
            &u,
            &u,
            &plan,
            &Surrogate::zero_one(),
            FeasibilityCheck::MongeColumnMinima,
        )
        .unwrap_err();
        assert!(matches!(e, Error::NonConvexCost { .. }));
    }
}
