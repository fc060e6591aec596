//! The AOT objectives on samples, the DPO baseline, and their exact gradients.
//!
//! **Relaxed violation.** For samples `U`, `V` and a cost `h`,
//!
//! ```text
//! ε_h(U, V) = ∫_0^1 h(Q_U(p) - Q_V(p)) dp = Σ_segments mass · h(u - v),
//! ```
//!
//! which for convex `h` is the optimal transport cost [`crate::transport::ot_cost`]. Away from
//! ties the sorting permutation is locally constant, so (notes §2.5) with `γ` the comonotone plan
//!
//! ```text
//! ∂ε_h/∂u_i =  Σ_j γ_ij h'(u_i - v_j),      ∂ε_h/∂v_j = -Σ_i γ_ij h'(u_i - v_j),
//! ```
//!
//! which for equal sizes is `h'(u_j - v_(rank(u_j)))/n`. At ties any order gives a valid
//! one-sided derivative; the stable order of [`Sample`] is used.
//!
//! **Preference losses** (notes §3), on a batch of per-sequence log-probabilities `c_i`, `r_i`
//! (policy, chosen and rejected) and `ĉ_i`, `r̂_i` (reference):
//!
//! ```text
//! AOT unpaired:  u_i = c_i - ĉ_i,  v_i = r_i - r̂_i,   loss = (1/n) Σ_i h(u_(i) - v_(i))
//! AOT paired:    m_i = c_i - r_i,  m̂_i = ĉ_i - r̂_i,   loss = (1/n) Σ_i h(m_(i) - m̂_(i))
//! DPO:           loss = (1/n) Σ_i h((c_i - ĉ_i) - (r_i - r̂_i))   (no sorting)
//! ```
//!
//! with sorting ascending and separate for each side. With `h` the β-logistic these are TRL's
//! `aot_unpaired`, `aot` and `sigmoid` losses. For any convex `h`,
//! `h(mean gap) <= AOT <= DPO` (Jensen; the identity pairing is one feasible coupling).

use serde::Serialize;

use crate::cost::Cost;
use crate::coupling::{segments, CompensatedSum};
use crate::error::{check_same_len, check_values, Error, Result};
use crate::sample::Sample;

/// A relaxed violation and its gradient with respect to every input value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViolationGradient {
    /// `ε_h(U, V)`.
    pub value: f64,
    /// `∂ε_h/∂u_i`, indexed like the values `U` was built from.
    pub grad_u: Vec<f64>,
    /// `∂ε_h/∂v_j`, indexed like the values `V` was built from.
    pub grad_v: Vec<f64>,
}

/// The relaxed violation `ε_h(U, V) = ∫_0^1 h(Q_U - Q_V) dp` with its analytic gradient
/// (weights held fixed).
///
/// Any cost is accepted: the value is the sorted (comonotone) objective of AOT, which equals the
/// OT cost when `h` is convex. For the 0-1 cost the value is `ε_{0-1}` and the gradient is zero.
///
/// # Errors
///
/// [`Error::Overflow`] when the value is not representable.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, objective::relaxed_violation, sample::Sample};
///
/// let u = Sample::new(&[2.0, 0.0])?;
/// let v = Sample::new(&[1.0, 1.0])?;
/// // h(x) = (1 - x)_+: sorted pairs (0, 1) and (2, 1) cost (2 + 0)/2 = 1.
/// let g = relaxed_violation(&u, &v, &Surrogate::hinge(1.0)?)?;
/// assert_eq!(g.value, 1.0);
/// // Only u = 0 (input 1) is below its margin: ∂/∂u_1 = h'(-1)/2 = -1/2.
/// assert_eq!(g.grad_u, vec![0.0, -0.5]);
/// assert_eq!(g.grad_v, vec![0.5, 0.0]);
/// # Ok::<(), aot::Error>(())
/// ```
pub fn relaxed_violation<C: Cost + ?Sized>(
    u: &Sample,
    v: &Sample,
    cost: &C,
) -> Result<ViolationGradient> {
    let mut value = CompensatedSum::default();
    let mut grad_u = vec![0.0; u.input_len()];
    let mut grad_v = vec![0.0; v.input_len()];
    let (order_u, order_v) = (u.order(), v.order());
    segments(u, v).for_each(|s| {
        let gap = s.u - s.v;
        value.add(s.mass * cost.value(gap));
        let d = s.mass * cost.derivative(gap);
        grad_u[order_u[s.u_rank]] += d;
        grad_v[order_v[s.v_rank]] -= d;
    });
    let value = value.value();
    if !value.is_finite() {
        return Err(Error::Overflow {
            func: "relaxed_violation",
            value,
            hint: "the cost of some quantile gap exceeds f64::MAX; rescale the inputs",
        });
    }
    Ok(ViolationGradient {
        value,
        grad_u,
        grad_v,
    })
}

/// Per-sequence log-probabilities of a batch of `n` preference pairs under the policy and the
/// reference model.
#[derive(Debug, Clone, Copy)]
pub struct PreferenceBatch<'a> {
    /// `c_i = log π_θ(y⁺_i | x_i)`.
    pub policy_chosen: &'a [f64],
    /// `r_i = log π_θ(y⁻_i | x_i)`.
    pub policy_rejected: &'a [f64],
    /// `ĉ_i = log π_ref(y⁺_i | x_i)`.
    pub reference_chosen: &'a [f64],
    /// `r̂_i = log π_ref(y⁻_i | x_i)`.
    pub reference_rejected: &'a [f64],
}

impl PreferenceBatch<'_> {
    fn validate(&self, func: &'static str) -> Result<usize> {
        check_values(func, "policy_chosen", self.policy_chosen)?;
        let n = self.policy_chosen.len();
        for (arg, xs) in [
            ("policy_rejected", self.policy_rejected),
            ("reference_chosen", self.reference_chosen),
            ("reference_rejected", self.reference_rejected),
        ] {
            check_same_len(func, ("policy_chosen", n), (arg, xs.len()))?;
            check_values(func, arg, xs)?;
        }
        Ok(n)
    }

    /// Chosen log-ratios `u_i = c_i - ĉ_i` (the implicit rewards of the chosen responses, up to β).
    pub fn chosen_log_ratios(&self) -> Vec<f64> {
        self.policy_chosen
            .iter()
            .zip(self.reference_chosen)
            .map(|(c, r)| c - r)
            .collect()
    }

    /// Rejected log-ratios `v_i = r_i - r̂_i`.
    pub fn rejected_log_ratios(&self) -> Vec<f64> {
        self.policy_rejected
            .iter()
            .zip(self.reference_rejected)
            .map(|(c, r)| c - r)
            .collect()
    }

    /// Policy margins `m_i = c_i - r_i`.
    pub fn policy_margins(&self) -> Vec<f64> {
        self.policy_chosen
            .iter()
            .zip(self.policy_rejected)
            .map(|(c, r)| c - r)
            .collect()
    }

    /// Reference margins `m̂_i = ĉ_i - r̂_i`.
    pub fn reference_margins(&self) -> Vec<f64> {
        self.reference_chosen
            .iter()
            .zip(self.reference_rejected)
            .map(|(c, r)| c - r)
            .collect()
    }
}

/// Which preference loss to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// AOT paired (TRL `aot`): policy margins against reference margins, each sorted.
    AotPaired,
    /// AOT unpaired (TRL `aot_unpaired`, formerly `aot_pair`): chosen log-ratios against
    /// rejected log-ratios, each sorted.
    AotUnpaired,
    /// DPO with cost `h` (TRL `sigmoid` for the logistic): pairs as given, no sorting.
    Dpo,
}

impl Loss {
    /// Every loss, in a fixed order.
    pub const ALL: [Loss; 3] = [Loss::AotPaired, Loss::AotUnpaired, Loss::Dpo];

    /// The name used in files and on the command line: `aot`, `aot_unpaired`, `dpo`.
    pub fn name(self) -> &'static str {
        match self {
            Loss::AotPaired => "aot",
            Loss::AotUnpaired => "aot_unpaired",
            Loss::Dpo => "dpo",
        }
    }
}

impl std::str::FromStr for Loss {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "aot" | "aot_paired" => Ok(Loss::AotPaired),
            "aot_unpaired" | "aot_pair" => Ok(Loss::AotUnpaired),
            "dpo" => Ok(Loss::Dpo),
            _ => Err(Error::Input {
                source_name: format!("loss `{s}`"),
                message: "expected one of aot, aot_unpaired, dpo".into(),
            }),
        }
    }
}

/// A preference loss with its gradient with respect to the four log-probability vectors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LossValue {
    /// The loss.
    pub value: f64,
    /// `∂loss/∂c_i`.
    pub grad_policy_chosen: Vec<f64>,
    /// `∂loss/∂r_i`.
    pub grad_policy_rejected: Vec<f64>,
    /// `∂loss/∂ĉ_i` (the reference is frozen in training; the derivative is still defined).
    pub grad_reference_chosen: Vec<f64>,
    /// `∂loss/∂r̂_i`.
    pub grad_reference_rejected: Vec<f64>,
}

/// Evaluates a preference loss and its exact gradient on a batch.
///
/// # Errors
///
/// [`Error::Empty`], [`Error::NonFinite`] or [`Error::LengthMismatch`] naming the offending
/// vector; [`Error::Overflow`] when the loss is not representable.
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, objective::{preference_loss, Loss, PreferenceBatch}};
///
/// let batch = PreferenceBatch {
///     policy_chosen: &[-1.0, -2.0],
///     policy_rejected: &[-3.0, -1.0],
///     reference_chosen: &[-1.5, -1.5],
///     reference_rejected: &[-2.0, -2.0],
/// };
/// let h = Surrogate::logistic(1.0)?;
/// let dpo = preference_loss(&batch, Loss::Dpo, &h)?.value;
/// let aot = preference_loss(&batch, Loss::AotUnpaired, &h)?.value;
/// assert!(aot <= dpo); // sorting minimises the cost over pairings
/// # Ok::<(), aot::Error>(())
/// ```
pub fn preference_loss<C: Cost + ?Sized>(
    batch: &PreferenceBatch<'_>,
    loss: Loss,
    cost: &C,
) -> Result<LossValue> {
    let n = batch.validate("preference_loss")?;
    match loss {
        Loss::AotUnpaired => {
            let u = Sample::new(&batch.chosen_log_ratios())?;
            let v = Sample::new(&batch.rejected_log_ratios())?;
            let g = relaxed_violation(&u, &v, cost)?;
            Ok(LossValue {
                value: g.value,
                grad_reference_chosen: g.grad_u.iter().map(|x| -x).collect(),
                grad_reference_rejected: g.grad_v.iter().map(|x| -x).collect(),
                grad_policy_chosen: g.grad_u,
                grad_policy_rejected: g.grad_v,
            })
        }
        Loss::AotPaired => {
            let m = Sample::new(&batch.policy_margins())?;
            let m_ref = Sample::new(&batch.reference_margins())?;
            let g = relaxed_violation(&m, &m_ref, cost)?;
            Ok(LossValue {
                value: g.value,
                grad_policy_rejected: g.grad_u.iter().map(|x| -x).collect(),
                grad_reference_rejected: g.grad_v.iter().map(|x| -x).collect(),
                grad_policy_chosen: g.grad_u,
                grad_reference_chosen: g.grad_v,
            })
        }
        Loss::Dpo => {
            let inv_n = 1.0 / n as f64;
            let mut value = CompensatedSum::default();
            let mut grad = Vec::with_capacity(n);
            for i in 0..n {
                let gap = (batch.policy_chosen[i] - batch.reference_chosen[i])
                    - (batch.policy_rejected[i] - batch.reference_rejected[i]);
                value.add(inv_n * cost.value(gap));
                grad.push(inv_n * cost.derivative(gap));
            }
            let value = value.value();
            if !value.is_finite() {
                return Err(Error::Overflow {
                    func: "preference_loss",
                    value,
                    hint: "the cost of some margin exceeds f64::MAX; rescale the inputs",
                });
            }
            Ok(LossValue {
                value,
                grad_policy_rejected: grad.iter().map(|x| -x).collect(),
                grad_reference_chosen: grad.iter().map(|x| -x).collect(),
                grad_reference_rejected: grad.clone(),
                grad_policy_chosen: grad,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Surrogate;

    #[test]
    fn batch_of_one_is_dpo_for_every_loss() {
        let batch = PreferenceBatch {
            policy_chosen: &[-3.2],
            policy_rejected: &[-4.1],
            reference_chosen: &[-3.0],
            reference_rejected: &[-3.5],
        };
        let h = Surrogate::smoothed_logistic(0.5, 0.1).unwrap();
        let dpo = preference_loss(&batch, Loss::Dpo, &h).unwrap();
        for loss in [Loss::AotPaired, Loss::AotUnpaired] {
            assert_eq!(preference_loss(&batch, loss, &h).unwrap(), dpo, "{loss:?}");
        }
        // gap = (-3.2 + 3.0) - (-4.1 + 3.5) = -0.2 + 0.6 = 0.4 (up to rounding of the inputs).
        let gap = (-3.2f64 - -3.0) - (-4.1 - -3.5);
        assert!((dpo.value - h.value(gap)).abs() < 1e-15);
    }

    #[test]
    fn hand_computed_unpaired_and_paired() {
        // u = c - ĉ = (0, 3), v = r - r̂ = (1, 0): sorted pairs (0, 0), (3, 1): gaps 0 and 2.
        // m = c - r = (0 - 1, 3 - 0) with c = (0, 3), r = (1, 0) and zero reference:
        // m = (-1, 3), m̂ = (0, 0): sorted pairs (-1, 0), (3, 0): gaps -1 and 3.
        let batch = PreferenceBatch {
            policy_chosen: &[0.0, 3.0],
            policy_rejected: &[1.0, 0.0],
            reference_chosen: &[0.0, 0.0],
            reference_rejected: &[0.0, 0.0],
        };
        let h = Surrogate::least_squares(1.0).unwrap(); // (1 - x)²
        let un = preference_loss(&batch, Loss::AotUnpaired, &h).unwrap();
        assert_eq!(un.value, (1.0 + 1.0) / 2.0);
        // ∂/∂u at u = 0 (paired with v = 0): h'(0)/2 = -2·1/2 = -1; at u = 3: h'(2)/2 = 1.
        assert_eq!(un.grad_policy_chosen, vec![-1.0, 1.0]);
        assert_eq!(un.grad_reference_chosen, vec![1.0, -1.0]);
        // ∂/∂v: v = 1 (input 0) paired with u = 3: -h'(2)/2 = -1; v = 0 paired with u = 0: +1.
        assert_eq!(un.grad_policy_rejected, vec![-1.0, 1.0]);
        let pa = preference_loss(&batch, Loss::AotPaired, &h).unwrap();
        assert_eq!(pa.value, (4.0 + 4.0) / 2.0);
        // DPO gaps: (0 - 1) = -1 and (3 - 0) = 3: same as paired here, since m̂ = 0.
        assert_eq!(preference_loss(&batch, Loss::Dpo, &h).unwrap().value, 4.0);
    }

    #[test]
    fn rejects_bad_batches() {
        let bad = PreferenceBatch {
            policy_chosen: &[0.0, 1.0],
            policy_rejected: &[0.0],
            reference_chosen: &[0.0, 1.0],
            reference_rejected: &[0.0, 1.0],
        };
        let h = Surrogate::logistic(1.0).unwrap();
        let e = preference_loss(&bad, Loss::Dpo, &h).unwrap_err();
        assert_eq!(
            e.to_string(),
            "preference_loss: `policy_chosen` has length 2 but `policy_rejected` has length 1"
        );
        let nan = PreferenceBatch {
            reference_rejected: &[0.0, f64::NAN],
            policy_rejected: &[0.0, 0.0],
            ..bad
        };
        let e = preference_loss(&nan, Loss::AotPaired, &h).unwrap_err();
        assert!(matches!(
            e,
            Error::NonFinite {
                arg: "reference_rejected",
                index: 1,
                ..
            }
        ));
    }
}
