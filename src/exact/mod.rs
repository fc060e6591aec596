//! Exact reference solvers for discrete optimal transport, independent of the sorting path.
//!
//! [`crate::transport`] computes `OT_h(U, V)` by sorting, which is correct only because `h` is
//! convex (notes §2.1–2.2). The solvers here make no such assumption and share no code with the
//! quantile merge of [`crate::coupling`]: they see two lists of atoms with masses, `u_i` with
//! `a_i` and `v_j` with `b_j`, and the cost matrix `c_ij = h(u_i − v_j)`, and solve
//!
//! ```text
//! OT_c(a, b) = min { Σ_ij γ_ij c_ij : γ_ij >= 0, Σ_j γ_ij = a_i, Σ_i γ_ij = b_j }.
//! ```
//!
//! | solver | what it gives | sizes |
//! |---|---|---|
//! | [`lp`]: simplex LP | optimal cost and plan; any weights, any cost | `n·m <= 10⁴` |
//! | [`brute_force`]: permutations | best **and worst** plan, uniform samples | `lcm(n, m) <= 9` |
//! | [`dual`]: certificate | potentials `φ, ψ` proving a plan optimal, no LP | any size |
//! | [`entropic`]: semi-dual | bounds on `OT` that close as `ε → 0` | `n·m <= 10⁶`, fast to ~10⁴ |
//!
//! The only thing these solvers take from the rest of the crate is the validated input
//! ([`Sample`]: atoms, masses and input indices) and the plan entry type
//! ([`PlanEntry`]); the dual certificate also takes the plan it is asked to certify.
//!
//! # Examples
//!
//! ```
//! use aot::{cost::Surrogate, exact, sample::Sample, transport::ot_cost};
//!
//! let u = Sample::new(&[0.3, -1.0, 2.0])?;
//! let v = Sample::new(&[0.0, 1.5])?;
//! let h = Surrogate::logistic(1.0)?;
//! let lp = exact::lp::lp_transport(&u, &v, &h)?;
//! assert!((lp.cost - ot_cost(&u, &v, &h)?).abs() < 1e-12);
//! # Ok::<(), aot::Error>(())
//! ```

pub mod brute_force;
pub mod dual;
pub mod entropic;
pub mod lp;

use serde::Serialize;

pub use crate::transport::PlanEntry;

use crate::cost::Cost;
use crate::error::{Error, Result};
use crate::sample::Sample;

/// An optimal plan found by an exact solver, with its cost and how well it meets the marginals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExactSolution {
    /// `Σ_entries mass · h(u - v)`, summed by the caller of the solver from the plan itself
    /// (not the solver's own objective value).
    pub cost: f64,
    /// The entries with positive mass, by input indices, in no particular order.
    pub entries: Vec<PlanEntry>,
    /// `max(max_i |Σ_j γ_ij − a_i|, max_j |Σ_i γ_ij − b_j|)`: 0 up to rounding for an exact plan.
    pub marginal_error: f64,
}

/// One atom of a sample as the exact solvers see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Atom {
    /// Input index.
    pub index: usize,
    /// Value.
    pub value: f64,
    /// Normalised mass.
    pub mass: f64,
}

/// The atoms of a sample with positive mass.
pub(crate) fn atoms(s: &Sample) -> Vec<Atom> {
    (0..s.len())
        .map(|k| Atom {
            index: s.original_index(k),
            value: s.sorted_values()[k],
            mass: s.mass(k),
        })
        .collect()
}

/// The cost matrix `c_ij = h(u_i − v_j)`, row-major, rejecting a non-finite entry.
pub(crate) fn cost_matrix<C: Cost + ?Sized>(
    func: &'static str,
    u: &[Atom],
    v: &[Atom],
    cost: &C,
) -> Result<Vec<f64>> {
    let mut c = Vec::with_capacity(u.len() * v.len());
    for a in u {
        for b in v {
            let x = cost.value(a.value - b.value);
            if !x.is_finite() {
                return Err(Error::Overflow {
                    func,
                    value: x,
                    hint: "a cost h(u_i - v_j) is not finite; rescale the inputs",
                });
            }
            c.push(x);
        }
    }
    Ok(c)
}

/// Neumaier-compensated sum, so that exact and sorted costs are compared at full precision.
pub(crate) fn compensated_sum(terms: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    for x in terms {
        let t = sum + x;
        if sum.abs() >= x.abs() {
            comp += (sum - t) + x;
        } else {
            comp += (x - t) + sum;
        }
        sum = t;
    }
    sum + comp
}

/// Builds an [`ExactSolution`] from a dense plan `γ` (row-major over `u × v`) and its cost.
pub(crate) fn solution_from_dense(
    u: &[Atom],
    v: &[Atom],
    gamma: &[f64],
    cost: f64,
) -> ExactSolution {
    let m = v.len();
    let mut entries = Vec::new();
    let mut row = vec![0.0; u.len()];
    let mut col = vec![0.0; m];
    for (i, a) in u.iter().enumerate() {
        for (j, b) in v.iter().enumerate() {
            let g = gamma[i * m + j];
            if g > 0.0 {
                entries.push(PlanEntry {
                    i: a.index,
                    j: b.index,
                    mass: g,
                    u: a.value,
                    v: b.value,
                });
                row[i] += g;
                col[j] += g;
            }
        }
    }
    let marginal_error = u
        .iter()
        .zip(&row)
        .map(|(a, r)| (r - a.mass).abs())
        .chain(v.iter().zip(&col).map(|(b, s)| (s - b.mass).abs()))
        .fold(0.0, f64::max);
    ExactSolution {
        cost,
        entries,
        marginal_error,
    }
}
