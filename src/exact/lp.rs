//! Discrete optimal transport as a linear program, solved by the simplex method of `microlp`.
//!
//! # Formula
//!
//! With atoms `u_i` (mass `a_i`, `i < n`), `v_j` (mass `b_j`, `j < m`) and `c_ij = h(u_i − v_j)`:
//!
//! ```text
//! minimise   Σ_ij c_ij γ_ij
//! subject to Σ_j γ_ij = a_i   (i < n),    Σ_i γ_ij = b_j   (j < m − 1),    γ_ij >= 0.
//! ```
//!
//! The last column constraint is implied by the others (both marginals have total mass 1) and is
//! left out, so the constraint matrix has full row rank `n + m − 1`.
//!
//! **Scaling.** The right-hand sides are multiplied by `max(n, m)`, so that masses are of order
//! one (for uniform weights they are then integers and so is every vertex of the polytope, which
//! `f64` represents exactly); the costs are reduced by row and column minima (which
//! shifts every plan's cost by one constant) and divided by the largest reduced cost, so that the
//! differences that decide the plan are of order one. The returned cost is recomputed from the
//! plan as `Σ γ_ij c_ij` with the original costs and compensated summation.
//!
//! # Why `microlp`
//!
//! Candidates checked with `cargo info` (December 2026): `microlp` 0.7 (pure Rust dual/primal
//! simplex with LU updates, maintained, Apache-2.0, its only runtime dependencies `sprs`, `log`
//! and `web-time`), `good_lp` 1.15 (a modelling layer; its default backend is the C library CBC,
//! and with the `microlp` feature it would add only syntax on top of the same solver), and
//! `clarabel` 0.11 (pure Rust interior-point conic solver). A simplex method ends on a vertex, so
//! the optimal cost is exact up to rounding, which is what an oracle for a `1e-12` comparison
//! needs; an interior-point method stops at a duality-gap tolerance (about `1e-8`) instead. So
//! this module calls `microlp` directly.
//!
//! **Shortcoming.** `microlp` decides optimality with an internal tolerance and exposes no
//! setting for it. When the cost differences that decide the plan are many orders of magnitude
//! below the largest reduced cost (a logistic with a large slope where every gap is large and
//! positive, so the costs are near `1e-10` beside one near `log 2`), it can stop at a vertex worse
//! by about `1e-11` times the cost range; the brute force and the dual certificate have no such
//! tolerance.
//!
//! The LP also has `n·m` variables and its time grows like `(n·m)^1.4` (`cargo bench --bench
//! transport`, `n = m` from 5 to 80), so it is an oracle for small instances only
//! ([`LP_MAX_VARIABLES`]). Larger instances are certified by [`super::dual`].

use microlp::{ComparisonOp, OptimizationDirection, Problem, SolutionStatus, SolveOutcome};

use super::{atoms, compensated_sum, cost_matrix, solution_from_dense, ExactSolution};
use crate::cost::Cost;
use crate::error::{Error, Result};
use crate::sample::Sample;

/// Largest `n·m` (number of LP variables) that [`lp_transport`] accepts. Measured with
/// `cargo bench --bench transport`: 0.17 s at `n = m = 80`, growing like `n^2.7`–`n^2.9`.
pub const LP_MAX_VARIABLES: usize = 10_000;

/// The exact optimal transport cost and a vertex-optimal plan, by linear programming.
///
/// Works for any cost, convex or not, and any weights.
///
/// # Errors
///
/// [`Error::TooLarge`] when `u.len() · v.len()` exceeds [`LP_MAX_VARIABLES`];
/// [`Error::Overflow`] when a cost `h(u_i − v_j)` is not finite; [`Error::SolverFailed`] when the
/// simplex method reports anything but a proven optimum (it should not, since the transport
/// polytope is non-empty and bounded).
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, exact::lp::lp_transport, sample::Sample};
///
/// // The 0-1 cost on U = {0, 2}, V = {1, 3}: pairing (0, 3), (2, 1) has one violation out of
/// // two, so OT = 1/2, while the sorted pairing (0, 1), (2, 3) costs 1.
/// let u = Sample::new(&[0.0, 2.0])?;
/// let v = Sample::new(&[1.0, 3.0])?;
/// let sol = lp_transport(&u, &v, &Surrogate::zero_one())?;
/// assert!((sol.cost - 0.5).abs() < 1e-12);
/// assert!(sol.marginal_error < 1e-12);
/// # Ok::<(), aot::Error>(())
/// ```
pub fn lp_transport<C: Cost + ?Sized>(u: &Sample, v: &Sample, cost: &C) -> Result<ExactSolution> {
    const FUNC: &str = "lp_transport";
    let size = u.len().saturating_mul(v.len());
    if size > LP_MAX_VARIABLES {
        return Err(Error::TooLarge {
            func: FUNC,
            arg: "u.len() * v.len()",
            size,
            limit: LP_MAX_VARIABLES,
        });
    }
    let (ua, va) = (atoms(u), atoms(v));
    let (n, m) = (ua.len(), va.len());
    let c = cost_matrix(FUNC, &ua, &va, cost)?;
    let reduced = reduce(&c, n, m);
    let c_scale = reduced.iter().fold(0.0f64, |s, x| s.max(x.abs()));
    let c_scale = if c_scale > 0.0 { c_scale } else { 1.0 };
    let mass_scale = n.max(m) as f64;

    let mut problem = Problem::new(OptimizationDirection::Minimize);
    let vars: Vec<_> = reduced
        .iter()
        .map(|&cij| problem.add_var(cij / c_scale, (0.0, f64::INFINITY)))
        .collect();
    for (i, a) in ua.iter().enumerate() {
        let row: Vec<_> = (0..m).map(|j| (vars[i * m + j], 1.0)).collect();
        problem.add_constraint(row.as_slice(), ComparisonOp::Eq, a.mass * mass_scale);
    }
    for (j, b) in va.iter().enumerate().take(m - 1) {
        let col: Vec<_> = (0..n).map(|i| (vars[i * m + j], 1.0)).collect();
        problem.add_constraint(col.as_slice(), ComparisonOp::Eq, b.mass * mass_scale);
    }

    let failed = |reason: String| Error::SolverFailed {
        func: FUNC,
        solver: "microlp simplex",
        reason,
    };
    let solution = match problem.solve() {
        Ok(SolveOutcome::Solution(s)) => s,
        Ok(SolveOutcome::Interrupted(i)) => {
            return Err(failed(format!("interrupted: {:?}", i.termination_reason())));
        }
        Err(e) => return Err(failed(e.to_string())),
    };
    if solution.status() != SolutionStatus::Optimal {
        return Err(failed(format!(
            "status {:?} ({:?}) instead of a proven optimum",
            solution.status(),
            solution.termination_reason()
        )));
    }
    // Values within the feasibility tolerance of 0 (a basic variable at a degenerate vertex can
    // come out as -1e-17) are clamped to 0; the marginal error reports what remains.
    let gamma: Vec<f64> = vars
        .iter()
        .map(|&x| (solution.var_value(x) / mass_scale).max(0.0))
        .collect();
    let total = compensated_sum(gamma.iter().zip(&c).map(|(g, cij)| g * cij));
    Ok(solution_from_dense(&ua, &va, &gamma, total))
}

/// `c_ij − r_i − s_j` with `r_i = min_j c_ij` and `s_j = min_i (c_ij − r_i)`: every plan's cost
/// changes by the constant `Σ a_i r_i + Σ b_j s_j`, so the optimal plans are the same, and the
/// reduced costs are nonnegative with a zero in every row and column. Without this, a cost such
/// as the logistic with a small slope (every `c_ij` near `log 2`) would put the differences that
/// decide the plan at the level of the simplex method's optimality tolerance.
fn reduce(c: &[f64], n: usize, m: usize) -> Vec<f64> {
    let mut r: Vec<f64> = c.to_vec();
    for row in r.chunks_mut(m) {
        let min = row.iter().copied().fold(f64::INFINITY, f64::min);
        row.iter_mut().for_each(|x| *x -= min);
    }
    for j in 0..m {
        let min = (0..n).map(|i| r[i * m + j]).fold(f64::INFINITY, f64::min);
        (0..n).for_each(|i| r[i * m + j] -= min);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Surrogate;

    #[test]
    fn unequal_weighted_instance_by_hand() {
        // U = {0 (1/4), 1 (3/4)}, V = {0 (1/2), 2 (1/2)}, h(x) = x². Any plan sends t from 0 to 0,
        // 1/4 - t from 0 to 2, 1/2 - t from 1 to 0 and t + 1/4 from 1 to 2; its cost is
        // 4(1/4 - t) + (1/2 - t) + (t + 1/4) = 7/4 - 4t, minimal at t = 1/4: 7/4 - 1 = 3/4.
        let u = Sample::weighted(&[0.0, 1.0], &[1.0, 3.0]).unwrap();
        let v = Sample::new(&[0.0, 2.0]).unwrap();
        let sol = lp_transport(&u, &v, &Surrogate::abs_power(2.0).unwrap()).unwrap();
        assert!((sol.cost - 0.75).abs() < 1e-14, "{}", sol.cost);
        assert!(sol.marginal_error < 1e-14);
        assert_eq!(sol.entries.len(), 3);
    }

    #[test]
    fn too_large_is_an_error_naming_the_size() {
        let big: Vec<f64> = (0..101).map(f64::from).collect();
        let u = Sample::new(&big).unwrap();
        let e = lp_transport(&u, &u, &Surrogate::hinge(0.0).unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "lp_transport: `u.len() * v.len()` = 10201 exceeds the limit 10000 of this solver"
        );
    }
}
