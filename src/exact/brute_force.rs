//! Brute force over permutations: the best and the worst plan of two uniform samples.
//!
//! For `n` atoms of mass `1/n` on each side, the transport polytope is the Birkhoff polytope
//! scaled by `1/n`, whose vertices are the permutation matrices (Birkhoff–von Neumann), so
//!
//! ```text
//! OT = min_σ (1/n) Σ_i c(i, σ(i)),      max over plans = max_σ (1/n) Σ_i c(i, σ(i)),
//! ```
//!
//! both over the `n!` permutations. Two uniform samples of sizes `n ≠ m` are first replicated to
//! `L = lcm(n, m)` atoms each (every `u_i` repeated `L/n` times, every `v_j` `L/m` times), which
//! changes neither measure, and the same enumeration runs on the `L × L` problem (notes §2.4).
//!
//! The enumeration is a depth-first search over partial assignments with running sums: about
//! `e · L!` cost additions, so `L <=` [`BRUTE_FORCE_MAX_ATOMS`] (9! = 362 880 leaves, a few
//! milliseconds).
//!
//! **Shortcoming.** Samples with unequal weights are not handled (their weights would need a
//! common denominator); use [`super::lp`] for them.

use serde::Serialize;

use super::{atoms, compensated_sum, solution_from_dense, Atom, ExactSolution};
use crate::cost::Cost;
use crate::error::{Error, Result};
use crate::sample::Sample;

/// Largest replicated size `lcm(n, m)` that [`brute_force`] enumerates.
pub const BRUTE_FORCE_MAX_ATOMS: usize = 9;

/// The extremes over all permutations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BruteForce {
    /// The cheapest permutation plan (the optimal transport plan), first found on ties.
    pub best: ExactSolution,
    /// The most expensive permutation plan (the worst coupling), first found on ties.
    pub worst: ExactSolution,
    /// Number of permutations enumerated, `L!`.
    pub permutations: u64,
    /// The replicated size `L = lcm(n, m)`.
    pub replicated_size: usize,
}

/// Enumerates every permutation plan of two uniform samples and returns the cheapest and the
/// most expensive.
///
/// # Errors
///
/// [`Error::InvalidParameter`] when a sample's atoms do not all have mass `1/len` (within
/// `1e-12`); [`Error::TooLarge`] when `lcm(n, m)` exceeds [`BRUTE_FORCE_MAX_ATOMS`];
/// [`Error::Overflow`] when a cost is not finite.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, exact::brute_force::brute_force, sample::Sample};
///
/// // h(x) = x² on U = {0, 2}, V = {1, 3}: sorted pairs cost (1 + 1)/2 = 1, crossed (9 + 1)/2 = 5.
/// let u = Sample::new(&[0.0, 2.0])?;
/// let v = Sample::new(&[1.0, 3.0])?;
/// let bf = brute_force(&u, &v, &Surrogate::abs_power(2.0)?)?;
/// assert_eq!((bf.best.cost, bf.worst.cost, bf.permutations), (1.0, 5.0, 2));
/// # Ok::<(), aot::Error>(())
/// ```
pub fn brute_force<C: Cost + ?Sized>(u: &Sample, v: &Sample, cost: &C) -> Result<BruteForce> {
    const FUNC: &str = "brute_force";
    let (ua, va) = (atoms(u), atoms(v));
    check_uniform(FUNC, "u", &ua)?;
    check_uniform(FUNC, "v", &va)?;
    let (n, m) = (ua.len(), va.len());
    let l = lcm(n, m);
    if l > BRUTE_FORCE_MAX_ATOMS {
        return Err(Error::TooLarge {
            func: FUNC,
            arg: "lcm(u.len(), v.len())",
            size: l,
            limit: BRUTE_FORCE_MAX_ATOMS,
        });
    }
    // Replicated atoms: position p of the long list is atom p / (L / len) of the sample.
    let (ru, rv) = (l / n, l / m);
    let mut c = vec![0.0; l * l];
    for p in 0..l {
        for q in 0..l {
            let x = cost.value(ua[p / ru].value - va[q / rv].value);
            if !x.is_finite() {
                return Err(Error::Overflow {
                    func: FUNC,
                    value: x,
                    hint: "a cost h(u_i - v_j) is not finite; rescale the inputs",
                });
            }
            c[p * l + q] = x;
        }
    }
    let mut search = Search {
        l,
        c: &c,
        assignment: vec![0; l],
        best: (f64::INFINITY, Vec::new()),
        worst: (f64::NEG_INFINITY, Vec::new()),
        leaves: 0,
    };
    search.descend(0, 0, 0.0);
    let plan = |sigma: &[usize]| {
        let mut gamma = vec![0.0; n * m];
        for (p, &q) in sigma.iter().enumerate() {
            gamma[(p / ru) * m + q / rv] += 1.0 / l as f64;
        }
        let terms = sigma
            .iter()
            .enumerate()
            .map(|(p, &q)| c[p * l + q] / l as f64);
        let cost = compensated_sum(terms);
        solution_from_dense(&ua, &va, &gamma, cost)
    };
    Ok(BruteForce {
        best: plan(&search.best.1),
        worst: plan(&search.worst.1),
        permutations: search.leaves,
        replicated_size: l,
    })
}

struct Search<'a> {
    l: usize,
    c: &'a [f64],
    assignment: Vec<usize>,
    best: (f64, Vec<usize>),
    worst: (f64, Vec<usize>),
    leaves: u64,
}

impl Search<'_> {
    /// Assigns row `depth` to every column not in `used`, with `sum` the cost of rows `< depth`.
    fn descend(&mut self, depth: usize, used: u32, sum: f64) {
        if depth == self.l {
            self.leaves += 1;
            if sum < self.best.0 {
                self.best = (sum, self.assignment.clone());
            }
            if sum > self.worst.0 {
                self.worst = (sum, self.assignment.clone());
            }
            return;
        }
        for q in 0..self.l {
            if used & (1 << q) == 0 {
                self.assignment[depth] = q;
                self.descend(depth + 1, used | (1 << q), sum + self.c[depth * self.l + q]);
            }
        }
    }
}

fn check_uniform(func: &'static str, arg: &'static str, atoms: &[Atom]) -> Result<()> {
    let n = atoms.len() as f64;
    match atoms.iter().find(|a| (a.mass * n - 1.0).abs() > 1e-12) {
        Some(a) => Err(Error::InvalidParameter {
            func,
            name: if arg == "u" { "u weights" } else { "v weights" },
            value: a.mass,
            expected: "equal masses 1/len on every atom (use exact::lp for weighted samples)",
        }),
        None => Ok(()),
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Surrogate;

    #[test]
    fn unequal_sizes_by_replication() {
        // U = {0, 1}, V = {0, 1, 2}, h = |x|: L = 6, each u thrice, each v twice. OT = W1 =
        // ∫|F_U − F_V| dt = (1/2 − 1/3)·1 on [0, 1) + (1 − 2/3)·1 on [1, 2) = 1/6 + 1/3 = 1/2.
        let u = Sample::new(&[0.0, 1.0]).unwrap();
        let v = Sample::new(&[0.0, 1.0, 2.0]).unwrap();
        let bf = brute_force(&u, &v, &Surrogate::abs_power(1.0).unwrap()).unwrap();
        assert_eq!(bf.replicated_size, 6);
        assert_eq!(bf.permutations, 720);
        assert!((bf.best.cost - 0.5).abs() < 1e-15);
        assert!(bf.best.marginal_error < 1e-15);
    }

    #[test]
    fn rejects_weights_and_large_sizes() {
        let w = Sample::weighted(&[0.0, 1.0], &[1.0, 2.0]).unwrap();
        let e = brute_force(&w, &w, &Surrogate::zero_one()).unwrap_err();
        assert!(e.to_string().contains("`u weights` = 0.333"), "{e}");
        let big = Sample::new(&[0.0; 10]).unwrap();
        let e = brute_force(&big, &big, &Surrogate::zero_one()).unwrap_err();
        assert!(matches!(
            e,
            Error::TooLarge {
                size: 10,
                limit: 9,
                ..
            }
        ));
        // lcm(4, 3) = 12 > 9 although both sizes are small.
        let (a, b) = (
            Sample::new(&[0.0; 4]).unwrap(),
            Sample::new(&[0.0; 3]).unwrap(),
        );
        assert!(matches!(
            brute_force(&a, &b, &Surrogate::zero_one()),
            Err(Error::TooLarge { .. })
        ));
    }
}
