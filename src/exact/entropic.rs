//! Entropic optimal transport through its semi-dual, solved by L-BFGS (argmin), for a decreasing
//! regularisation `ε`.
//!
//! # Formula
//!
//! The entropic problem `OT_ε = min_γ Σ γ_ij c_ij + ε KL(γ | a ⊗ b)` has the concave semi-dual
//! (the `φ` of the full dual eliminated in closed form)
//!
//! ```text
//! G_ε(ψ) = Σ_j b_j ψ_j − ε Σ_i a_i log Σ_j b_j exp((ψ_j − c_ij)/ε),      OT_ε = max_ψ G_ε(ψ),
//! ∂G_ε/∂ψ_j = b_j − Σ_i γ_ij,
//! γ_ij = a_i b_j exp((ψ_j − c_ij)/ε) / Σ_l b_l exp((ψ_l − c_il)/ε).
//! ```
//!
//! The plan `γ(ψ)` always has row sums `a`; the gradient is its column-marginal error. Since
//! `0 <= KL(γ* | a ⊗ b) <= min(H(a), H(b))` for the unregularised optimum `γ*` (a mutual
//! information is at most either entropy), `OT <= OT_ε <= OT + ε·min(H(a), H(b))`.
//!
//! # Bounds that hold at any `ψ`
//!
//! A solve reports, besides `G_ε(ψ)`, two bounds on the **unregularised** `OT` that hold whether
//! or not L-BFGS converged, so a sorted cost outside them is a real disagreement:
//!
//! * lower: the c-transform semi-dual `D(ψ) = Σ_j b_j ψ_j + Σ_i a_i min_j (c_ij − ψ_j) <= OT`
//!   (weak duality with `φ_i = min_j (c_ij − ψ_j)`, which is feasible);
//! * upper: the cost of `γ(ψ)` made feasible by the rounding of Altschuler, Weed and Rigollet
//!   (2017, Algorithm 2): scale down columns that exceed `b`, then add the rank-one correction
//!   `e_a e_bᵀ / |e_a|_1` of the remaining marginal errors. Every feasible plan costs `>= OT`.
//!
//! As `ε → 0` and the solves converge, both bounds close on `OT`.
//!
//! # Termination
//!
//! L-BFGS (memory 10) with the More–Thuente line search minimises `−G_ε / s`, where `s` is the
//! range of the cost matrix; each `ε` starts from the previous solution (continuation). Every
//! solve records argmin's termination reason, or the error text when the line search fails, and
//! whether the marginal error met the tolerance; a non-converged solve is reported, never hidden.
//!
//! **Shortcoming.** Each evaluation costs `n·m` exponentials and small `ε` makes the problem
//! ill-conditioned (curvature up to `1/ε`), so this is a check for instances of up to about a
//! hundred atoms a side, at `ε` down to about `1e-3` times the cost range.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use serde::Serialize;

use super::{atoms, compensated_sum, cost_matrix};
use crate::cost::Cost;
use crate::error::{Error, Result};
use crate::sample::Sample;

/// Largest `n·m` that [`entropic_path`] accepts (the plan is held densely, 8 bytes a pair).
pub const ENTROPIC_MAX_PAIRS: usize = 1_000_000;

/// Settings of [`entropic_path`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntropicOptions {
    /// Regularisations relative to the cost range `max c − min c`, solved in the given order
    /// (decreasing, for continuation).
    pub relative_epsilons: Vec<f64>,
    /// Iteration cap of each L-BFGS solve.
    pub max_iters: u64,
    /// A solve counts as converged when the column-marginal error `|b − γᵀ1|_2` is below this.
    /// The default `1e-8` is about `sqrt(f64::EPSILON)`: below it the decrease of the objective
    /// that a line search must see is at the level of its rounding, and the search stalls.
    pub marginal_tolerance: f64,
}

impl Default for EntropicOptions {
    fn default() -> Self {
        Self {
            relative_epsilons: vec![1e-1, 1e-2, 1e-3],
            max_iters: 500,
            marginal_tolerance: 1e-8,
        }
    }
}

/// The result of one entropic solve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntropicSolve {
    /// The absolute regularisation `ε`.
    pub epsilon: f64,
    /// `G_ε(ψ)` at the returned `ψ` (equal to `OT_ε` at convergence).
    pub semi_dual: f64,
    /// `D(ψ) <= OT`, the c-transform lower bound.
    pub lower_bound: f64,
    /// Cost of the rounded feasible plan, `>= OT`.
    pub upper_bound: f64,
    /// `|b − γᵀ1|_2` at the returned `ψ`.
    pub marginal_error: f64,
    /// L-BFGS iterations.
    pub iterations: u64,
    /// argmin's termination reason, or the error that stopped the solve.
    pub termination: String,
    /// Whether `marginal_error <= marginal_tolerance`.
    pub converged: bool,
}

/// Solves the entropic semi-dual for each regularisation of `options` and reports every solve.
///
/// # Errors
///
/// [`Error::TooLarge`] when `u.len() · v.len()` exceeds [`ENTROPIC_MAX_PAIRS`];
/// [`Error::InvalidParameter`] for an empty `relative_epsilons`, a regularisation that is not
/// finite and positive, `max_iters = 0`, or a tolerance that is not finite and positive;
/// [`Error::Overflow`] when a cost is not finite. A solve that does not converge is **not** an
/// error: its record says so.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, sample::Sample, transport::ot_cost};
/// use aot::exact::entropic::{entropic_path, EntropicOptions};
///
/// let u = Sample::new(&[0.0, 1.0, 3.0])?;
/// let v = Sample::new(&[0.5, 2.0])?;
/// let h = Surrogate::squared_hinge(1.0)?;
/// let sorted = ot_cost(&u, &v, &h)?;
/// let path = entropic_path(&u, &v, &h, &EntropicOptions::default())?;
/// for s in &path {
///     assert!(s.converged, "{}", s.termination);
///     assert!(s.lower_bound <= sorted + 1e-12 && sorted <= s.upper_bound + 1e-12);
/// }
/// let last = path.last().unwrap();
/// assert!(last.upper_bound - last.lower_bound < 1e-2 * sorted.max(1.0));
/// # Ok::<(), aot::Error>(())
/// ```
pub fn entropic_path<C: Cost + ?Sized>(
    u: &Sample,
    v: &Sample,
    cost: &C,
    options: &EntropicOptions,
) -> Result<Vec<EntropicSolve>> {
    const FUNC: &str = "entropic_path";
    let invalid = |name, value, expected| Error::InvalidParameter {
        func: FUNC,
        name,
        value,
        expected,
    };
    if options.relative_epsilons.is_empty() {
        return Err(invalid(
            "relative_epsilons.len()",
            0.0,
            "at least one regularisation",
        ));
    }
    if let Some(&e) = options
        .relative_epsilons
        .iter()
        .find(|e| !(e.is_finite() && **e > 0.0))
    {
        return Err(invalid("relative_epsilons", e, "finite and > 0"));
    }
    if options.max_iters == 0 {
        return Err(invalid("max_iters", 0.0, ">= 1"));
    }
    let tol = options.marginal_tolerance;
    if !(tol.is_finite() && tol > 0.0) {
        return Err(invalid("marginal_tolerance", tol, "finite and > 0"));
    }
    let size = u.len().saturating_mul(v.len());
    if size > ENTROPIC_MAX_PAIRS {
        return Err(Error::TooLarge {
            func: FUNC,
            arg: "u.len() * v.len()",
            size,
            limit: ENTROPIC_MAX_PAIRS,
        });
    }
    let (ua, va) = (atoms(u), atoms(v));
    let c = cost_matrix(FUNC, &ua, &va, cost)?;
    let (lo, hi) = c
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let range = if hi > lo { hi - lo } else { 1.0 };
    let a: Vec<f64> = ua.iter().map(|x| x.mass).collect();
    let b: Vec<f64> = va.iter().map(|x| x.mass).collect();

    let mut psi = vec![0.0; b.len()];
    let mut out = Vec::with_capacity(options.relative_epsilons.len());
    for &rel in &options.relative_epsilons {
        let problem = SemiDual {
            a: &a,
            b: &b,
            c: &c,
            epsilon: rel * range,
            scale: range,
        };
        let (solve, next) = solve_one(&problem, psi, options.max_iters, tol);
        out.push(solve);
        psi = next;
    }
    Ok(out)
}

/// The semi-dual objective `−G_ε(ψ)/scale` and its gradient.
struct SemiDual<'a> {
    a: &'a [f64],
    b: &'a [f64],
    c: &'a [f64],
    epsilon: f64,
    scale: f64,
}

impl SemiDual<'_> {
    /// `(G_ε(ψ), γ(ψ))`, the plan row-major.
    fn evaluate(&self, psi: &[f64]) -> (f64, Vec<f64>) {
        let (n, m) = (self.a.len(), self.b.len());
        let mut gamma = vec![0.0; n * m];
        let mut soft = Vec::with_capacity(n);
        for i in 0..n {
            let row = &self.c[i * m..(i + 1) * m];
            // log Σ_j b_j exp(z_j) with z_j = (ψ_j − c_ij)/ε, shifted by max z for stability.
            let zmax = (0..m)
                .map(|j| (psi[j] - row[j]) / self.epsilon)
                .fold(f64::NEG_INFINITY, f64::max);
            let g = &mut gamma[i * m..(i + 1) * m];
            let mut total = 0.0;
            for j in 0..m {
                let w = self.b[j] * ((psi[j] - row[j]) / self.epsilon - zmax).exp();
                g[j] = w;
                total += w;
            }
            for gj in g.iter_mut() {
                *gj *= self.a[i] / total;
            }
            soft.push(self.a[i] * self.epsilon * (zmax + total.ln()));
        }
        let value = compensated_sum(
            self.b
                .iter()
                .zip(psi)
                .map(|(b, p)| b * p)
                .chain(soft.into_iter().map(|s| -s)),
        );
        (value, gamma)
    }

    fn column_error(&self, gamma: &[f64]) -> Vec<f64> {
        let m = self.b.len();
        let mut err: Vec<f64> = self.b.iter().map(|b| -b).collect();
        for row in gamma.chunks(m) {
            for (e, g) in err.iter_mut().zip(row) {
                *e += g;
            }
        }
        err
    }
}

impl CostFunction for SemiDual<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, psi: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(-self.evaluate(psi).0 / self.scale)
    }
}

impl Gradient for SemiDual<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, psi: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        // −∂G/∂ψ_j / scale = (Σ_i γ_ij − b_j) / scale
        let (_, gamma) = self.evaluate(psi);
        Ok(self
            .column_error(&gamma)
            .into_iter()
            .map(|e| e / self.scale)
            .collect())
    }
}

/// The problem as argmin sees it. It remembers the point with the smallest marginal error
/// seen, so that a solve stopped by an error still reports where it got, and it enforces a budget
/// of evaluations: argmin runs the More–Thuente line search without an iteration cap, and on a
/// cost that is flat to rounding it can evaluate forever.
struct Tracked<'p, 'a> {
    inner: &'p SemiDual<'a>,
    best: Rc<RefCell<(f64, Vec<f64>)>>,
    evaluations: Cell<u64>,
    budget: u64,
}

impl Tracked<'_, '_> {
    fn spend(&self) -> std::result::Result<(), argmin::core::Error> {
        let used = self.evaluations.get() + 1;
        self.evaluations.set(used);
        if used > self.budget {
            Err(argmin::core::Error::msg(format!(
                "budget of {} cost and gradient evaluations exhausted (line search stalled)",
                self.budget
            )))
        } else {
            Ok(())
        }
    }
}

impl CostFunction for Tracked<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, psi: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        self.spend()?;
        self.inner.cost(psi)
    }
}

impl Gradient for Tracked<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, psi: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        self.spend()?;
        let g = self.inner.gradient(psi)?;
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt() * self.inner.scale;
        let mut best = self.best.borrow_mut();
        if norm < best.0 {
            *best = (norm, psi.clone());
        }
        Ok(g)
    }
}

fn solve_one(
    problem: &SemiDual<'_>,
    start: Vec<f64>,
    max_iters: u64,
    tol: f64,
) -> (EntropicSolve, Vec<f64>) {
    let best = Rc::new(RefCell::new((f64::INFINITY, start.clone())));
    let tracked = Tracked {
        inner: problem,
        best: Rc::clone(&best),
        evaluations: Cell::new(0),
        // L-BFGS needs one cost and one gradient per iteration plus a few line-search steps.
        budget: 4 * max_iters + 50,
    };
    let run = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(tol / problem.scale)
        .and_then(|s| s.with_tolerance_cost(0.0))
        .and_then(|solver| {
            Executor::new(tracked, solver)
                .configure(|state| state.param(start).max_iters(max_iters))
                .run()
        });
    let (psi, iterations, termination) = match run {
        Ok(res) => {
            let state = res.state();
            let reason = state
                .get_termination_reason()
                .map_or("not terminated", TerminationReason::text);
            let psi = state
                .get_best_param()
                .cloned()
                .unwrap_or_else(|| best.borrow().1.clone());
            (psi, state.get_iter(), reason.to_string())
        }
        Err(e) => (best.borrow().1.clone(), 0, format!("stopped by error: {e}")),
    };
    // A returned best parameter has the smallest objective, not necessarily the smallest
    // marginal error; keep whichever of the two points is closer to feasibility.
    let (value, gamma) = problem.evaluate(&psi);
    let err = norm(&problem.column_error(&gamma));
    let (psi, value, gamma, err) = {
        let tracked_best = best.borrow();
        if tracked_best.0 < err {
            let (v2, g2) = problem.evaluate(&tracked_best.1);
            let e2 = norm(&problem.column_error(&g2));
            (tracked_best.1.clone(), v2, g2, e2)
        } else {
            (psi, value, gamma, err)
        }
    };
    let lower_bound = c_transform_bound(problem, &psi);
    let upper_bound = rounded_cost(problem, gamma);
    let solve = EntropicSolve {
        epsilon: problem.epsilon,
        semi_dual: value,
        lower_bound,
        upper_bound,
        marginal_error: err,
        iterations,
        termination,
        converged: err <= tol,
    };
    (solve, psi)
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|e| e * e).sum::<f64>().sqrt()
}

/// `D(ψ) = Σ_j b_j ψ_j + Σ_i a_i min_j (c_ij − ψ_j)`.
fn c_transform_bound(p: &SemiDual<'_>, psi: &[f64]) -> f64 {
    let m = p.b.len();
    let phi = p.c.chunks(m).map(|row| {
        row.iter()
            .zip(psi)
            .map(|(c, s)| c - s)
            .fold(f64::INFINITY, f64::min)
    });
    compensated_sum(
        p.b.iter()
            .zip(psi)
            .map(|(b, s)| b * s)
            .chain(p.a.iter().zip(phi).map(|(a, f)| a * f)),
    )
}

/// Cost of `γ` after the feasibility rounding of Altschuler, Weed and Rigollet (2017).
fn rounded_cost(p: &SemiDual<'_>, mut gamma: Vec<f64>) -> f64 {
    let (n, m) = (p.a.len(), p.b.len());
    // Rows: scale down any row above a_i (rows of γ(ψ) equal a_i up to rounding).
    for i in 0..n {
        let s: f64 = gamma[i * m..(i + 1) * m].iter().sum();
        if s > p.a[i] {
            let f = p.a[i] / s;
            gamma[i * m..(i + 1) * m].iter_mut().for_each(|g| *g *= f);
        }
    }
    // Columns: scale down any column above b_j.
    let mut col = vec![0.0; m];
    for row in gamma.chunks(m) {
        for (c, g) in col.iter_mut().zip(row) {
            *c += g;
        }
    }
    for j in 0..m {
        if col[j] > p.b[j] {
            let f = p.b[j] / col[j];
            for i in 0..n {
                gamma[i * m + j] *= f;
            }
        }
    }
    // Rank-one correction of what is still missing.
    let mut row = vec![0.0; n];
    let mut col = vec![0.0; m];
    for i in 0..n {
        for j in 0..m {
            row[i] += gamma[i * m + j];
            col[j] += gamma[i * m + j];
        }
    }
    let ea: Vec<f64> = (0..n).map(|i| (p.a[i] - row[i]).max(0.0)).collect();
    let eb: Vec<f64> = (0..m).map(|j| (p.b[j] - col[j]).max(0.0)).collect();
    let total: f64 = ea.iter().sum();
    if total > 0.0 {
        for i in 0..n {
            for j in 0..m {
                gamma[i * m + j] += ea[i] * eb[j] / total;
            }
        }
    }
    compensated_sum(gamma.iter().zip(p.c).map(|(g, c)| g * c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Surrogate;

    #[test]
    fn rejects_bad_options() {
        let s = Sample::new(&[0.0, 1.0]).unwrap();
        let h = Surrogate::hinge(0.0).unwrap();
        let opts = EntropicOptions {
            relative_epsilons: vec![0.1, -1.0],
            ..Default::default()
        };
        let e = entropic_path(&s, &s, &h, &opts).unwrap_err();
        assert!(e.to_string().contains("`relative_epsilons` = -1"), "{e}");
        let opts = EntropicOptions {
            max_iters: 0,
            ..Default::default()
        };
        assert!(entropic_path(&s, &s, &h, &opts).is_err());
    }

    #[test]
    fn iteration_cap_is_reported_not_hidden() {
        let u = Sample::new(&[0.0, 0.3, 1.0, 2.5, 4.0]).unwrap();
        let v = Sample::new(&[1.0, 1.2, 2.0, 3.0]).unwrap();
        let h = Surrogate::abs_power(2.0).unwrap();
        let opts = EntropicOptions {
            relative_epsilons: vec![1e-3],
            max_iters: 1,
            ..Default::default()
        };
        let path = entropic_path(&u, &v, &h, &opts).unwrap();
        assert!(!path[0].converged);
        assert!(
            path[0].termination.contains("Maximum number of iterations"),
            "{}",
            path[0].termination
        );
    }
}
