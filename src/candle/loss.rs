//! The AOT and DPO preference losses on candle tensors, with autograd.
//!
//! Inputs are per-sequence summed log-probabilities `c_i = log π_θ(y⁺_i|x_i)`,
//! `r_i = log π_θ(y⁻_i|x_i)` of the policy and `ĉ_i`, `r̂_i` of the reference, for a batch of
//! `n` pairs. With a surrogate `h` (β lives inside `h`, as in [`crate::cost::Surrogate`]):
//!
//! ```text
//! AOT unpaired: u_i = c_i − ĉ_i,  v_i = r_i − r̂_i,   δ_i = u_(i) − v_(i)
//! AOT paired:   m_i = c_i − r_i,  m̂_i = ĉ_i − r̂_i,   δ_i = m_(i) − m̂_(i)
//! DPO:                                               δ_i = u_i − v_i      (no sorting)
//! loss = (1/n) Σ_i h(δ_i)
//! ```
//!
//! where `(i)` is the i-th smallest (each vector sorted ascending on its own). These are TRL's
//! `aot_unpaired`, `aot` and `sigmoid` losses when `h` is the β-logistic, and TRL's label
//! smoothing is the smoothed logistic `(1−ε) softplus(−βδ) + ε softplus(βδ)`. Hard sorting is
//! differentiable almost everywhere: the gradient of an element is the derivative at the rank it
//! was sorted to. Ties receive one valid subgradient. [`Sorting::Soft`] replaces the sort by the
//! permutahedron projection of [`super::soft_sort`].

use candle_core::Tensor;

use super::error::{Error, Result};
use super::numerics::{check_finite, softplus};
use super::soft_sort::soft_sort;
use crate::cost::Surrogate;
use crate::objective::Loss;

/// How the AOT losses order the batch (DPO never sorts).
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// use aot::candle::{PreferenceLoss, PreferenceTensors, Sorting};
/// use aot::objective::Loss;
///
/// let dev = Device::Cpu;
/// let pc = Tensor::new(&[0.0f64, 1.0], &dev)?;
/// let zero = Tensor::zeros(2, candle_core::DType::F64, &dev)?;
/// let batch = PreferenceTensors { policy_chosen: &pc, policy_rejected: &zero,
///     reference_chosen: &zero, reference_rejected: &zero };
/// let hard = PreferenceLoss::trl(Loss::AotUnpaired, 1.0, 0.0)?;
/// // Strength 2 pools the chosen side (0, 1) into (0.25, 0.75); the rejected side is constant.
/// let soft = hard.with_sorting(Sorting::Soft { strength: 2.0 });
/// let gaps = soft.gaps(&batch)?.to_vec1::<f64>()?;
/// assert_eq!(gaps, vec![0.25, 0.75]);
/// assert_eq!(hard.gaps(&batch)?.to_vec1::<f64>()?, vec![0.0, 1.0]);
/// # Ok::<(), aot::candle::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Sorting {
    /// The exact ascending sort (the paper's and TRL's choice).
    #[default]
    Hard,
    /// The soft sort of [`soft_sort`] with the given regularisation strength (`>= 0`; 0 is the
    /// hard sort).
    Soft {
        /// Regularisation strength ε of the permutahedron projection.
        strength: f64,
    },
}

/// Per-sequence log-probabilities of a batch of `n` preference pairs, each a 1-D tensor `[n]`.
///
/// All four must share length, dtype (f32 or f64) and device. The reference tensors are usually
/// constants; if they are variables, their gradients are computed as well.
#[derive(Debug, Clone, Copy)]
pub struct PreferenceTensors<'a> {
    /// `log π_θ(y⁺_i | x_i)`.
    pub policy_chosen: &'a Tensor,
    /// `log π_θ(y⁻_i | x_i)`.
    pub policy_rejected: &'a Tensor,
    /// `log π_ref(y⁺_i | x_i)`.
    pub reference_chosen: &'a Tensor,
    /// `log π_ref(y⁻_i | x_i)`.
    pub reference_rejected: &'a Tensor,
}

impl PreferenceTensors<'_> {
    /// Checks shapes, dtypes, devices and finiteness; returns the batch size `n`.
    fn validate(&self, function: &'static str) -> Result<usize> {
        let named = [
            ("policy_chosen", self.policy_chosen),
            ("policy_rejected", self.policy_rejected),
            ("reference_chosen", self.reference_chosen),
            ("reference_rejected", self.reference_rejected),
        ];
        let first = self.policy_chosen;
        if first.rank() != 1 || first.dim(0)? == 0 {
            return Err(Error::Shape {
                function,
                argument: "policy_chosen",
                got: first.dims().to_vec(),
                expected: "[n] with n >= 1".into(),
            });
        }
        let n = first.dim(0)?;
        for (argument, x) in named {
            if x.dims() != [n] {
                return Err(Error::Shape {
                    function,
                    argument,
                    got: x.dims().to_vec(),
                    expected: format!("[{n}] (the shape of `policy_chosen`)"),
                });
            }
            if x.dtype() != first.dtype() {
                return Err(Error::DType {
                    function,
                    argument,
                    got: x.dtype(),
                    expected: "the dtype of `policy_chosen`",
                });
            }
            if !x.device().same_device(first.device()) {
                return Err(Error::invalid(
                    function,
                    argument,
                    format!("{:?}", x.device().location()),
                    "must be on the device of `policy_chosen`",
                ));
            }
            // Before any sort: candle's CPU arg-sort misbehaves on NaN.
            check_finite(function, argument, x)?;
        }
        Ok(n)
    }
}

/// Applies a surrogate `h` elementwise to a tensor, with autograd.
///
/// # Formula
///
/// | surrogate | `h(x)` | tensor ops |
/// |---|---|---|
/// | logistic β | `softplus(−βx)` | [`softplus`] |
/// | smoothed logistic β, ε | `(1−ε) softplus(−βx) + ε softplus(βx)` | [`softplus`] |
/// | hinge m | `(m − x)_+` | relu |
/// | squared hinge m | `(m − x)_+²` | relu, sqr |
/// | least squares m | `(m − x)²` | sqr |
/// | zero-one | `1{x < 0}` | comparison (gradient 0) |
/// | abs power p | `\|x\|^p` | abs, powf |
///
/// At kinks the gradient is candle's subgradient, which may differ from the right derivative of
/// [`crate::cost::Cost::derivative`] (for example the hinge at `x = m`).
///
/// # Errors
///
/// [`Error::DType`] unless `x` is f32 or f64; candle errors otherwise.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// use aot::cost::Surrogate;
/// let x = Tensor::new(&[-1.0f64, 0.5, 3.0], &Device::Cpu)?;
/// let h = aot::candle::surrogate_values(&Surrogate::hinge(1.0)?, &x)?;
/// assert_eq!(h.to_vec1::<f64>()?, vec![2.0, 0.5, 0.0]);
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn surrogate_values(surrogate: &Surrogate, x: &Tensor) -> Result<Tensor> {
    super::numerics::check_float("surrogate_values", "x", x)?;
    let h = match *surrogate {
        Surrogate::Logistic { beta } => softplus(&x.affine(-beta, 0.0)?)?,
        Surrogate::SmoothedLogistic { beta, smoothing } => {
            let main = (softplus(&x.affine(-beta, 0.0)?)? * (1.0 - smoothing))?;
            if smoothing > 0.0 {
                (main + (softplus(&x.affine(beta, 0.0)?)? * smoothing)?)?
            } else {
                main
            }
        }
        Surrogate::Hinge { margin } => x.affine(-1.0, margin)?.relu()?,
        Surrogate::SquaredHinge { margin } => x.affine(-1.0, margin)?.relu()?.sqr()?,
        Surrogate::LeastSquares { margin } => x.affine(-1.0, margin)?.sqr()?,
        Surrogate::ZeroOne => x.lt(0.0)?.to_dtype(x.dtype())?,
        Surrogate::AbsPower { p } => x.abs()?.powf(p)?,
    };
    Ok(h)
}

/// A preference loss: which objective, which surrogate `h`, and how to sort.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// use aot::candle::{PreferenceLoss, PreferenceTensors};
/// use aot::objective::Loss;
///
/// let dev = Device::Cpu;
/// let pc = Tensor::new(&[-10.0f64, -12.0], &dev)?;
/// let pr = Tensor::new(&[-11.0f64, -11.5], &dev)?;
/// let zero = Tensor::zeros(2, candle_core::DType::F64, &dev)?;
/// let batch = PreferenceTensors {
///     policy_chosen: &pc,
///     policy_rejected: &pr,
///     reference_chosen: &zero,
///     reference_rejected: &zero,
/// };
/// // Unpaired: u = (-10, -12), v = (-11, -11.5); sorted gaps (-12+11.5, -10+11) = (-0.5, 1).
/// let loss = PreferenceLoss::trl(Loss::AotUnpaired, 1.0, 0.0)?.compute(&batch)?;
/// let expected = ((1.0 + 0.5f64.exp()).ln() + (1.0 + (-1.0f64).exp()).ln()) / 2.0;
/// assert!((loss.to_scalar::<f64>()? - expected).abs() < 1e-15);
/// # Ok::<(), aot::candle::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreferenceLoss {
    /// AOT paired, AOT unpaired or DPO.
    pub loss: Loss,
    /// The surrogate `h` (carries β, the margin or the label smoothing).
    pub surrogate: Surrogate,
    /// Hard or soft sorting (ignored by DPO).
    pub sorting: Sorting,
}

impl PreferenceLoss {
    /// A loss with hard sorting.
    pub fn new(loss: Loss, surrogate: Surrogate) -> Self {
        Self {
            loss,
            surrogate,
            sorting: Sorting::Hard,
        }
    }

    /// TRL's parametrisation: the β-logistic, label-smoothed when `label_smoothing > 0`.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] unless `beta > 0` is finite and `label_smoothing ∈ [0, 1]`.
    pub fn trl(loss: Loss, beta: f64, label_smoothing: f64) -> Result<Self> {
        let surrogate = if label_smoothing == 0.0 {
            Surrogate::logistic(beta)?
        } else {
            Surrogate::smoothed_logistic(beta, label_smoothing)?
        };
        Ok(Self::new(loss, surrogate))
    }

    /// The same loss with another sorting.
    pub fn with_sorting(self, sorting: Sorting) -> Self {
        Self { sorting, ..self }
    }

    /// The gaps `δ_i` fed to `h` (see the module docs), a tensor `[n]` with autograd.
    ///
    /// For AOT they are the quantile gaps of the batch: `δ_i < 0` marks a quantile level where
    /// dominance fails, so the mean of `1{δ_i < 0}` is the batch's 0-1 violation.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`], [`Error::DType`], [`Error::InvalidArgument`] (device) or
    /// [`Error::NonFinite`] when the batch is malformed; [`Error::InvalidArgument`] for a
    /// negative or non-finite soft-sort strength.
    pub fn gaps(&self, batch: &PreferenceTensors<'_>) -> Result<Tensor> {
        batch.validate("PreferenceLoss::gaps")?;
        self.gaps_unchecked(batch)
    }

    fn gaps_unchecked(&self, batch: &PreferenceTensors<'_>) -> Result<Tensor> {
        let sort = |x: Tensor| -> Result<Tensor> {
            match self.sorting {
                Sorting::Hard => Ok(x.contiguous()?.sort_last_dim(true)?.0),
                Sorting::Soft { strength } => soft_sort(&x, strength),
            }
        };
        let delta = match self.loss {
            Loss::AotUnpaired => {
                let u = (batch.policy_chosen - batch.reference_chosen)?;
                let v = (batch.policy_rejected - batch.reference_rejected)?;
                (sort(u)? - sort(v)?)?
            }
            Loss::AotPaired => {
                let m = (batch.policy_chosen - batch.policy_rejected)?;
                let m_ref = (batch.reference_chosen - batch.reference_rejected)?;
                (sort(m)? - sort(m_ref)?)?
            }
            Loss::Dpo => {
                let u = (batch.policy_chosen - batch.reference_chosen)?;
                let v = (batch.policy_rejected - batch.reference_rejected)?;
                (u - v)?
            }
        };
        Ok(delta)
    }

    /// The loss `(1/n) Σ_i h(δ_i)`, a scalar tensor with autograd.
    ///
    /// # Errors
    ///
    /// As [`PreferenceLoss::gaps`].
    pub fn compute(&self, batch: &PreferenceTensors<'_>) -> Result<Tensor> {
        batch.validate("PreferenceLoss::compute")?;
        let delta = self.gaps_unchecked(batch)?;
        Ok(surrogate_values(&self.surrogate, &delta)?.mean_all()?)
    }
}

/// The loss of [`PreferenceLoss::new`]`(loss, *surrogate)` (hard sorting), the tensor counterpart
/// of [`crate::objective::preference_loss`].
///
/// # Errors
///
/// As [`PreferenceLoss::compute`].
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// use aot::candle::{preference_loss, PreferenceTensors};
/// use aot::cost::Surrogate;
/// use aot::objective::Loss;
///
/// let dev = Device::Cpu;
/// let t = |v: &[f32]| Tensor::new(v, &dev);
/// let (pc, pr, rc, rr) = (t(&[-1.0])?, t(&[-2.0])?, t(&[-1.5])?, t(&[-1.5])?);
/// let batch = PreferenceTensors {
///     policy_chosen: &pc,
///     policy_rejected: &pr,
///     reference_chosen: &rc,
///     reference_rejected: &rr,
/// };
/// // n = 1: δ = (−1 + 1.5) − (−2 + 1.5) = 1 and the hinge with margin 2 gives 1.
/// let loss = preference_loss(&batch, Loss::AotPaired, &Surrogate::hinge(2.0)?)?;
/// assert_eq!(loss.to_scalar::<f32>()?, 1.0);
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn preference_loss(
    batch: &PreferenceTensors<'_>,
    loss: Loss,
    surrogate: &Surrogate,
) -> Result<Tensor> {
    PreferenceLoss::new(loss, *surrogate).compute(batch)
}
