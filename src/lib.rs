//! Numerical checks of "Alignment via Optimal Transport" (AOT; Melnyk et al., NeurIPS 2024).
//!
//! AOT aligns a language model by asking that the rewards of chosen responses, `U`, first-order
//! stochastically dominate the rewards of rejected responses, `V`:
//! `Q_U(p) >= Q_V(p)` for every quantile level `p`. It minimises the relaxed violation
//!
//! ```text
//! ε_h(U, V) = ∫_0^1 h(Q_U(p) - Q_V(p)) dp
//! ```
//!
//! for a convex surrogate `h`, which is a one-dimensional optimal transport cost solved in closed
//! form by sorting. This crate computes every one of these objects exactly on samples, checks the
//! closed forms against independent solvers, studies their convergence, and (with the `candle`
//! feature) carries the same loss onto tensors for fine-tuning.
//!
//! # Map from the paper to the modules
//!
//! | object | module |
//! |---|---|
//! | weighted samples, CDF `F`, left-continuous quantile `Q` | [`sample`] |
//! | the quantile merge (comonotone coupling) every other part uses | [`coupling`] |
//! | surrogates `h`: logistic, (squared) hinge, least squares, smoothing, 0-1, power | [`cost`] |
//! | exact FSD decision with witness; `ε_{0-1}`, areas, `ε_W2` | [`dominance`] |
//! | `OT_h` by sorting, the optimal plan, `W_p`, the anti-monotone (worst) plan | [`transport`] |
//! | AOT paired / unpaired and DPO losses with exact gradients | [`objective`] |
//! | reading samples from files; charts | [`io`], [`plot`] |
//!
//! # Example
//!
//! ```
//! use aot::dominance::{fsd, violation};
//! use aot::{cost::Surrogate, sample::Sample, transport::ot_cost};
//!
//! let chosen = Sample::new(&[0.9, 1.4, 0.2, 2.0])?;
//! let rejected = Sample::new(&[0.5, 1.2, 1.0])?;
//! // Sorted: U = (0.2, 0.9, 1.4, 2.0) at levels k/4, V = (0.5, 1.0, 1.2) at levels k/3.
//! // Q_U < Q_V on (0, 1/4] (0.2 < 0.5) and on (1/3, 1/2] (0.9 < 1.0): 5/12 of the levels.
//! assert!(!fsd(&chosen, &rejected).holds());
//! assert!((violation(&chosen, &rejected).zero_one - 5.0 / 12.0).abs() < 1e-15);
//! let eps = ot_cost(&chosen, &rejected, &Surrogate::logistic(1.0)?)?;
//! assert!(eps > 0.0 && eps < 2f64.ln());
//! # Ok::<(), aot::Error>(())
//! ```
//!
//! # Conventions
//!
//! Quantiles are left-continuous, `Q(p) = inf{t : F(t) >= p}`; ties keep their input order;
//! NaN and infinite inputs are rejected with an [`Error`] that names the function, the argument
//! and the index. The library never prints; binaries and examples report.

pub mod cost;
pub mod coupling;
pub mod dominance;
pub mod error;
pub mod exact;
pub mod io;
pub mod objective;
pub mod plot;
pub mod population;
pub mod report;
pub mod sample;
pub mod study;
pub mod transport;
pub mod verify;

#[cfg(feature = "candle")]
pub mod candle;

pub use error::{Error, Result};
