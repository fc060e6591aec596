//! AdamW with a saveable state, the learning-rate schedule and global-norm clipping.
//!
//! candle-nn's `AdamW` keeps its first and second moments private, so a run restarted from a
//! checkpoint with it would restart the moments at zero and take different steps. This AdamW
//! holds its moments as named tensors and writes them to safetensors next to the weights, which
//! makes a resumed run continue bit for bit.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// Hyper-parameters of [`AdamW`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// First-moment decay `β₁ ∈ [0, 1)`.
    pub beta1: f64,
    /// Second-moment decay `β₂ ∈ [0, 1)`.
    pub beta2: f64,
    /// `ε > 0` added to `√v̂`.
    pub eps: f64,
    /// Decoupled weight decay `λ >= 0`.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// PyTorch's defaults except the weight decay: `β = (0.9, 0.999)`, `ε = 1e-8`, `λ = 0`
    /// (TRL's DPO default).
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamWConfig {
    /// Checks the domains.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the first field out of its domain.
    pub fn validate(&self) -> Result<()> {
        const F: &str = "AdamWConfig::validate";
        for (name, value) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&value) {
                return Err(Error::invalid(F, name, value, "must be in [0, 1)"));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::invalid(F, "eps", self.eps, "must be finite and > 0"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::invalid(
                F,
                "weight_decay",
                self.weight_decay,
                "must be finite and >= 0",
            ));
        }
        Ok(())
    }
}

/// AdamW (Loshchilov and Hutter, decoupled weight decay) over named variables.
///
/// # Formula
///
/// At update `t = 1, 2, …` with gradient `g` and learning rate `η_t`, for each variable `θ`:
///
/// ```text
/// θ ← θ (1 − η_t λ)
/// m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
/// θ ← θ − η_t · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
/// ```
///
/// (PyTorch's `torch.optim.AdamW` update). The moments are in the dtype of the variables.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use aot::candle::finetune::{AdamW, AdamWConfig};
///
/// let w = Var::new(&[1.0f64, -2.0], &Device::Cpu)?;
/// let mut opt = AdamW::new(vec![("w".into(), w.clone())], AdamWConfig::default())?;
/// let g = Tensor::new(&[0.5f64, -0.5], &Device::Cpu)?;
/// opt.step(&[g], 0.1)?;
/// // The first step moves each coordinate by η · g / (|g| + ε) = η · sign(g) · (1 − 2e-8).
/// let w = w.as_tensor().to_vec1::<f64>()?;
/// assert!((w[0] - 0.9).abs() < 1e-8 && (w[1] + 1.9).abs() < 1e-8);
/// assert_eq!(opt.steps_taken(), 1);
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    t: usize,
    config: AdamWConfig,
}

impl AdamW {
    /// An optimiser over `vars` with zero moments.
    ///
    /// # Errors
    ///
    /// As [`AdamWConfig::validate`]; [`Error::InvalidArgument`] for duplicate names.
    pub fn new(vars: Vec<(String, Var)>, config: AdamWConfig) -> Result<Self> {
        config.validate()?;
        let mut seen = std::collections::HashSet::new();
        for (name, _) in &vars {
            if !seen.insert(name.as_str()) {
                return Err(Error::invalid(
                    "AdamW::new",
                    "vars",
                    name,
                    "variable names must be unique",
                ));
            }
        }
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        let m = vars
            .iter()
            .map(|(_, v)| zeros(v))
            .collect::<candle_core::Result<_>>()?;
        let v = vars
            .iter()
            .map(|(_, v)| zeros(v))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            vars,
            m,
            v,
            t: 0,
            config,
        })
    }

    /// Number of updates applied so far.
    pub fn steps_taken(&self) -> usize {
        self.t
    }

    /// The variables, in the order gradients are expected.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// Applies one update with learning rate `lr` and one gradient per variable (in the order of
    /// [`AdamW::vars`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a wrong number of gradients, a shape mismatch, or a
    /// negative or non-finite `lr`; candle errors.
    pub fn step(&mut self, grads: &[Tensor], lr: f64) -> Result<()> {
        const F: &str = "AdamW::step";
        if grads.len() != self.vars.len() {
            return Err(Error::invalid(
                F,
                "grads",
                grads.len(),
                format!("expected one gradient per variable ({})", self.vars.len()),
            ));
        }
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::invalid(F, "lr", lr, "must be finite and >= 0"));
        }
        let c = self.config;
        self.t += 1;
        let t = self.t as i32;
        let (bias1, bias2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        for (k, ((name, var), g)) in self.vars.iter().zip(grads).enumerate() {
            if g.dims() != var.dims() {
                return Err(Error::invalid(
                    F,
                    "grads",
                    format!("{:?} for `{name}`", g.dims()),
                    format!("must have the variable's shape {:?}", var.dims()),
                ));
            }
            let g = g.to_dtype(var.dtype())?;
            let m = ((&self.m[k] * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            let v = ((&self.v[k] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let theta = var.as_tensor().detach();
            let theta = if c.weight_decay > 0.0 {
                (&theta * (1.0 - lr * c.weight_decay))?
            } else {
                theta
            };
            let denom = ((&v / bias2)?.sqrt()? + c.eps)?;
            let update = ((&m / bias1)? / denom)?;
            var.set(&(theta - (update * lr)?)?)?;
            self.m[k] = m;
            self.v[k] = v;
        }
        Ok(())
    }

    /// Writes the moments (`m.<name>`, `v.<name>`) and the update count (`step`, one f64) to a
    /// safetensors file.
    ///
    /// # Errors
    ///
    /// Candle errors on write failure.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut tensors = HashMap::new();
        for (k, (name, _)) in self.vars.iter().enumerate() {
            tensors.insert(format!("m.{name}"), self.m[k].clone());
            tensors.insert(format!("v.{name}"), self.v[k].clone());
        }
        tensors.insert(
            "step".to_string(),
            Tensor::new(&[self.t as f64], &Device::Cpu)?,
        );
        candle_core::safetensors::save(&tensors, path.as_ref())?;
        Ok(())
    }

    /// Reads a state written by [`AdamW::save`] for the same variables.
    ///
    /// # Errors
    ///
    /// [`Error::Mismatch`] when a moment is missing or has another shape; candle errors.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let device = self
            .vars
            .first()
            .map_or(Device::Cpu, |(_, v)| v.device().clone());
        let tensors = candle_core::safetensors::load(path, &device)?;
        let get = |name: &str, like: &Var| -> Result<Tensor> {
            let t = tensors.get(name).ok_or_else(|| Error::Mismatch {
                path: path.to_path_buf(),
                reason: format!("no tensor `{name}`"),
            })?;
            if t.dims() != like.dims() {
                return Err(Error::Mismatch {
                    path: path.to_path_buf(),
                    reason: format!(
                        "`{name}` has shape {:?}, the variable {:?}",
                        t.dims(),
                        like.dims()
                    ),
                });
            }
            Ok(t.to_dtype(like.dtype())?)
        };
        let mut m = Vec::with_capacity(self.vars.len());
        let mut v = Vec::with_capacity(self.vars.len());
        for (name, var) in &self.vars {
            m.push(get(&format!("m.{name}"), var)?);
            v.push(get(&format!("v.{name}"), var)?);
        }
        let step = tensors.get("step").ok_or_else(|| Error::Mismatch {
            path: path.to_path_buf(),
            reason: "no tensor `step`".into(),
        })?;
        let step = step.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        self.t = step.first().copied().unwrap_or(0.0) as usize;
        self.m = m;
        self.v = v;
        Ok(())
    }
}

/// The shape of the learning rate after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Constant at the peak.
    Constant,
    /// Linear decay.
    Linear,
    /// Half-cosine decay.
    #[default]
    Cosine,
}

impl std::str::FromStr for Schedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "constant" => Ok(Self::Constant),
            "linear" => Ok(Self::Linear),
            "cosine" => Ok(Self::Cosine),
            other => Err(Error::invalid(
                "Schedule::from_str",
                "schedule",
                other,
                "expected constant, linear or cosine",
            )),
        }
    }
}

/// The learning rate of update `step` (1-based) of `total`, with `warmup` warm-up updates.
///
/// # Formula
///
/// ```text
/// η_s = η · s / W                                   for s <= W   (linear warm-up)
/// p   = (s − W − 1) / (T − W)                       for s > W, so p ∈ [0, 1)
/// η_s = η                      (constant)
///     = η · (1 − p)            (linear)
///     = η · (1 + cos(π p)) / 2 (cosine)
/// ```
///
/// The first update after warm-up uses the peak `η` and the last one `η / (T − W)` (linear), so
/// no update is wasted at rate zero.
///
/// # Examples
///
/// ```
/// use aot::candle::finetune::{learning_rate, Schedule};
/// assert_eq!(learning_rate(1, 10, 2, 1e-3, Schedule::Cosine), 5e-4);
/// assert_eq!(learning_rate(3, 10, 2, 1e-3, Schedule::Cosine), 1e-3);
/// assert!((learning_rate(10, 10, 2, 1e-3, Schedule::Linear) - 1e-3 / 8.0).abs() < 1e-18);
/// ```
pub fn learning_rate(
    step: usize,
    total: usize,
    warmup: usize,
    peak: f64,
    schedule: Schedule,
) -> f64 {
    if step <= warmup {
        return peak * step as f64 / warmup.max(1) as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let p = ((step - warmup - 1) as f64 / span).min(1.0);
    match schedule {
        Schedule::Constant => peak,
        Schedule::Linear => peak * (1.0 - p),
        Schedule::Cosine => peak * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()),
    }
}

/// The global gradient norm `‖g‖ = (Σ_k ‖g_k‖²)^{1/2}` over all tensors, accumulated in f64.
///
/// # Errors
///
/// Candle errors.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// let g = [Tensor::new(&[3.0f32], &Device::Cpu)?, Tensor::new(&[4.0f32], &Device::Cpu)?];
/// assert_eq!(aot::candle::finetune::global_norm(&g)?, 5.0);
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
pub fn global_norm(grads: &[Tensor]) -> Result<f64> {
    let mut total = 0.0f64;
    for g in grads {
        total += g
            .to_dtype(DType::F64)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f64>()?;
    }
    Ok(total.sqrt())
}

/// Scales the gradients so that their global norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`): each `g_k ← g_k · min(1, max_norm / (‖g‖ + 1e-6))`. Returns the norm
/// before clipping. `max_norm = ∞` only measures.
///
/// # Errors
///
/// [`Error::InvalidArgument`] unless `max_norm > 0`; candle errors.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// let mut g = vec![Tensor::new(&[3.0f64, 4.0], &Device::Cpu)?];
/// let norm = aot::candle::finetune::clip_global_norm(&mut g, 1.0)?;
/// assert_eq!(norm, 5.0);
/// let clipped = g[0].to_vec1::<f64>()?;
/// assert!((clipped[0] - 0.6).abs() < 1e-6 && (clipped[1] - 0.8).abs() < 1e-6);
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
pub fn clip_global_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    if max_norm.is_nan() || max_norm <= 0.0 {
        return Err(Error::invalid(
            "clip_global_norm",
            "max_norm",
            max_norm,
            "must be > 0 (use infinity to disable clipping)",
        ));
    }
    let norm = global_norm(grads)?;
    let factor = max_norm / (norm + 1e-6);
    if norm.is_finite() && factor < 1.0 {
        for g in grads.iter_mut() {
            *g = (&*g * factor)?;
        }
    }
    Ok(norm)
}
