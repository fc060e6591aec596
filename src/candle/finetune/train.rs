//! The training loop: preference loss on micro-batches, gradient accumulation, clipping, AdamW,
//! per-step records, non-finite guard, checkpoints and exact resume.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Tensor, Var};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::cache::pairs_fingerprint;
use super::error::{Error, Result};
use super::optim::{clip_global_norm, learning_rate, AdamW, AdamWConfig, Schedule};
use super::score::{score_pairs, LogProbs};
use super::tokenize::TokenizedPair;
use crate::candle::{Llama, PreferenceLoss, PreferenceTensors};
use crate::dominance::violation;
use crate::objective::Loss;
use crate::sample::Sample;

/// Hyper-parameters of a run. Two runs with equal configurations, data and initial weights take
/// identical steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The preference loss: AOT paired (`aot`), AOT unpaired (`aot_unpaired`) or DPO (`dpo`).
    pub loss: Loss,
    /// Slope β of the logistic surrogate `h(δ) = softplus(−βδ)` (paper default 0.01).
    pub beta: f64,
    /// TRL's label smoothing ε: `h(δ) = (1−ε) softplus(−βδ) + ε softplus(βδ)`, `ε ∈ [0, 1)`.
    pub label_smoothing: f64,
    /// Number of optimiser updates `T`.
    pub steps: usize,
    /// Pairs per micro-batch `n` (the AOT losses sort within a micro-batch, as TRL does).
    pub batch_size: usize,
    /// Micro-batches per update (their mean loss is differentiated).
    pub grad_accum: usize,
    /// Peak learning rate `η`.
    pub learning_rate: f64,
    /// Warm-up updates `W <= T`.
    pub warmup_steps: usize,
    /// Decay after warm-up.
    pub schedule: Schedule,
    /// AdamW's moments, ε and weight decay.
    pub adamw: AdamWConfig,
    /// Global gradient-norm bound (`f64::INFINITY` disables clipping).
    pub max_grad_norm: f64,
    /// Seed of the batch order.
    pub seed: u64,
    /// Write a checkpoint every this many updates (0: only at the end).
    pub checkpoint_every: usize,
}

impl Default for TrainConfig {
    /// AOT paired, β = 0.01, no label smoothing, 24 updates of 4 pairs, η = 2e-4 with 2 warm-up
    /// updates and cosine decay, clipping at 1.0, seed 0.
    fn default() -> Self {
        Self {
            loss: Loss::AotPaired,
            beta: 0.01,
            label_smoothing: 0.0,
            steps: 24,
            batch_size: 4,
            grad_accum: 1,
            learning_rate: 2e-4,
            warmup_steps: 2,
            schedule: Schedule::Cosine,
            adamw: AdamWConfig::default(),
            max_grad_norm: 1.0,
            seed: 0,
            checkpoint_every: 0,
        }
    }
}

impl TrainConfig {
    /// Checks the configuration against a training set of `pairs` pairs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the first field out of its domain.
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::candle::finetune::TrainConfig;
    /// let config = TrainConfig { batch_size: 9, ..TrainConfig::default() };
    /// let err = config.validate(8).unwrap_err().to_string();
    /// assert!(err.contains("`batch_size` = 9"));
    /// ```
    pub fn validate(&self, pairs: usize) -> Result<()> {
        const F: &str = "TrainConfig::validate";
        if self.steps == 0 {
            return Err(Error::invalid(F, "steps", 0, "must be >= 1"));
        }
        if self.batch_size == 0 || self.batch_size > pairs {
            return Err(Error::invalid(
                F,
                "batch_size",
                self.batch_size,
                format!("must be in 1..={pairs} (the training pairs)"),
            ));
        }
        if self.grad_accum == 0 {
            return Err(Error::invalid(F, "grad_accum", 0, "must be >= 1"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::invalid(
                F,
                "learning_rate",
                self.learning_rate,
                "must be finite and > 0",
            ));
        }
        if self.warmup_steps > self.steps {
            return Err(Error::invalid(
                F,
                "warmup_steps",
                self.warmup_steps,
                format!("must be <= steps = {}", self.steps),
            ));
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 {
            return Err(Error::invalid(
                F,
                "max_grad_norm",
                self.max_grad_norm,
                "must be > 0 (infinity disables clipping)",
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::invalid(
                F,
                "label_smoothing",
                self.label_smoothing,
                "must be in [0, 1)",
            ));
        }
        self.adamw.validate()?;
        self.preference_loss()?;
        Ok(())
    }

    /// The tensor loss of this configuration (TRL's parametrisation).
    ///
    /// # Errors
    ///
    /// [`Error::Candle`] unless β > 0 is finite and the smoothing is in `[0, 1]`.
    pub fn preference_loss(&self) -> Result<PreferenceLoss> {
        Ok(PreferenceLoss::trl(
            self.loss,
            self.beta,
            self.label_smoothing,
        )?)
    }
}

/// What one optimiser update measured. Rewards are the unscaled log-ratios
/// `r = log π_θ(y|x) − log π_ref(y|x)` (multiply by β for TRL's logged `rewards/*`), measured by
/// the forward pass of this update, before the parameters change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Update number, 1-based.
    pub step: usize,
    /// Learning rate applied.
    pub learning_rate: f64,
    /// Mean loss over the micro-batches.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Mean chosen reward `mean(r⁺)`.
    pub chosen_reward: f64,
    /// Mean rejected reward `mean(r⁻)`.
    pub rejected_reward: f64,
    /// Mean reward margin `mean(r⁺ − r⁻)`.
    pub margin: f64,
    /// Fraction of pairs with `r⁺ > r⁻`.
    pub accuracy: f64,
    /// Paired view, mean over micro-batches: fraction of quantile levels where the policy
    /// margins `log π_θ(y⁺|x) − log π_θ(y⁻|x)` fall below the reference margins.
    pub paired_violation: f64,
    /// Unpaired view, mean over micro-batches: fraction of quantile levels where the chosen
    /// rewards fall below the rejected rewards.
    pub unpaired_violation: f64,
    /// Pairs seen in this update.
    pub pairs: usize,
    /// Wall time of the update in seconds.
    pub seconds: f64,
}

/// The file written in each checkpoint directory next to `model.safetensors` and
/// `optimizer.safetensors`.
pub const TRAINER_STATE_FILE: &str = "trainer_state.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TrainerState {
    step: usize,
    config: TrainConfig,
    data: String,
    training: String,
    trainable: Vec<String>,
    records: Vec<StepRecord>,
}

/// A training run of the trainable variables of a [`Llama`] on tokenized pairs with cached
/// reference log-probabilities.
///
/// # Checkpoints
///
/// A checkpoint is a directory `checkpoint-NNNNN` (NNNNN = updates done) holding
/// `model.safetensors` (the trainable variables under their Hugging Face names, PEFT's
/// `lora_A`/`lora_B` names for LoRA factors, so `safetensors.torch.load_file` plus
/// `load_state_dict(strict=False)` reads them), `optimizer.safetensors` ([`AdamW::save`]) and
/// `trainer_state.json` (step, configuration, data fingerprint, records). It is written to a
/// temporary directory and renamed into place; the previous checkpoint is removed only after that,
/// so one complete checkpoint always exists.
///
/// # Examples
///
/// ```
/// use candle_core::{DType, Device};
/// use aot::candle::{Llama, LlamaConfig, Training};
/// use aot::candle::finetune::{score_all, TokenizedPair, TrainConfig, Trainer};
///
/// let config = LlamaConfig::tiny();
/// let weights = Llama::random_weights(&config, 5)?;
/// let pairs: Vec<TokenizedPair> = (0..4u32)
///     .map(|i| TokenizedPair { line: i as usize + 1, prompt: vec![1, 2 + i],
///         chosen: vec![10 + i, 11], rejected: vec![20 + i] })
///     .collect();
/// let reference = Llama::new(&config, &weights, Training::Frozen, &Device::Cpu, DType::F32)?;
/// let ref_logps = score_all(&reference, &pairs, 4, |_, _| {})?;
/// let policy = Llama::new(&config, &weights, Training::TopBlocks { blocks: 1 }, &Device::Cpu,
///     DType::F32)?;
/// let train = TrainConfig { steps: 2, batch_size: 2, warmup_steps: 0, ..TrainConfig::default() };
/// let mut trainer = Trainer::new(&policy, &pairs, &ref_logps, train, None)?;
/// let mut seen = 0;
/// let records = trainer.run(|_| seen += 1)?;
/// assert_eq!((records.len(), seen), (2, 2));
/// // The first update starts at the reference: every reward is 0 and the loss is log 2.
/// assert!((records[0].loss - 2f64.ln()).abs() < 1e-6);
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
pub struct Trainer<'a> {
    model: &'a Llama,
    pairs: &'a [TokenizedPair],
    reference: &'a LogProbs,
    config: TrainConfig,
    loss: PreferenceLoss,
    optimizer: AdamW,
    step: usize,
    records: Vec<StepRecord>,
    checkpoint_dir: Option<PathBuf>,
    last_checkpoint: Option<PathBuf>,
    data: String,
}

impl std::fmt::Debug for Trainer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("config", &self.config)
            .field("step", &self.step)
            .field("pairs", &self.pairs.len())
            .field("last_checkpoint", &self.last_checkpoint)
            .finish()
    }
}

impl<'a> Trainer<'a> {
    /// A run at update 0. `reference[i]` must be the reference log-probabilities of
    /// `pairs[i]`; checkpoints go to `checkpoint_dir` when given.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when the model has no trainable variable, when `reference`
    /// and `pairs` differ in length, or as [`TrainConfig::validate`].
    pub fn new(
        model: &'a Llama,
        pairs: &'a [TokenizedPair],
        reference: &'a LogProbs,
        config: TrainConfig,
        checkpoint_dir: Option<PathBuf>,
    ) -> Result<Self> {
        const F: &str = "Trainer::new";
        config.validate(pairs.len())?;
        if reference.chosen.len() != pairs.len() || reference.rejected.len() != pairs.len() {
            return Err(Error::invalid(
                F,
                "reference",
                format!(
                    "{} / {} values",
                    reference.chosen.len(),
                    reference.rejected.len()
                ),
                format!("must hold one value per pair ({})", pairs.len()),
            ));
        }
        let vars = model.named_trainable_vars();
        if vars.is_empty() {
            return Err(Error::invalid(
                F,
                "model",
                format!("{:?}", model.training()),
                "has no trainable variable",
            ));
        }
        let optimizer = AdamW::new(vars, config.adamw)?;
        Ok(Self {
            model,
            pairs,
            reference,
            loss: config.preference_loss()?,
            config,
            optimizer,
            step: 0,
            records: Vec::new(),
            checkpoint_dir,
            last_checkpoint: None,
            data: pairs_fingerprint(pairs),
        })
    }

    /// Updates done so far.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The records of the updates done so far (restored ones included after a resume).
    pub fn records(&self) -> &[StepRecord] {
        &self.records
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The optimiser.
    pub fn optimizer(&self) -> &AdamW {
        &self.optimizer
    }

    /// The last checkpoint written (or resumed from).
    pub fn last_checkpoint(&self) -> Option<&Path> {
        self.last_checkpoint.as_deref()
    }

    /// Pair indices of global micro-batch `k`: positions `k·n .. (k+1)·n` of the concatenation
    /// of per-epoch permutations of the training set, epoch `e` shuffled with
    /// `StdRng::seed_from_u64(seed ⊕ (e · 0x9e3779b97f4a7c15))`. Stateless, so a resumed run
    /// sees the same batches.
    pub fn batch_indices(&self, k: usize) -> Vec<usize> {
        let n = self.pairs.len();
        let bs = self.config.batch_size;
        let mut out = Vec::with_capacity(bs);
        let mut epoch_cached: Option<(usize, Vec<usize>)> = None;
        for position in k * bs..(k + 1) * bs {
            let (epoch, offset) = (position / n, position % n);
            if epoch_cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let mut order: Vec<usize> = (0..n).collect();
                let seed = self.config.seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                order.shuffle(&mut StdRng::seed_from_u64(seed));
                epoch_cached = Some((epoch, order));
            }
            if let Some((_, order)) = &epoch_cached {
                out.push(order[offset]);
            }
        }
        out
    }

    /// Runs the remaining updates up to `config.steps`, calling `on_step` after each, writing
    /// checkpoints as configured and a final one. Returns the records of every update.
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteLoss`] when a policy log-probability, the loss or the gradient norm is
    /// NaN or infinite: no update is applied for that step, nothing is written (the state in
    /// memory is the one that diverged), and the error names the last checkpoint written, which
    /// stays on disk. I/O and candle errors.
    pub fn run(&mut self, mut on_step: impl FnMut(&StepRecord)) -> Result<Vec<StepRecord>> {
        while self.step < self.config.steps {
            let record = match self.train_step() {
                Ok(record) => record,
                Err(Error::NonFiniteLoss { step, value, .. }) => {
                    return Err(Error::NonFiniteLoss {
                        step,
                        value,
                        last_checkpoint: self.last_checkpoint.clone(),
                    });
                }
                Err(other) => return Err(other),
            };
            on_step(&record);
            let every = self.config.checkpoint_every;
            let periodic = every > 0 && self.step.is_multiple_of(every);
            if self.checkpoint_dir.is_some() && (periodic || self.step == self.config.steps) {
                self.save_checkpoint()?;
            }
        }
        Ok(self.records.clone())
    }

    /// One update: forward and backward on `grad_accum` micro-batches, clipping, AdamW.
    ///
    /// # Errors
    ///
    /// As [`Trainer::run`] (without the checkpoint on failure).
    pub fn train_step(&mut self) -> Result<StepRecord> {
        let start = Instant::now();
        let step = self.step + 1;
        let accum = self.config.grad_accum;
        let vars: Vec<Var> = self
            .optimizer
            .vars()
            .iter()
            .map(|(_, v)| v.clone())
            .collect();
        let mut grads: Vec<Option<Tensor>> = vec![None; vars.len()];
        let (mut loss_sum, mut paired, mut unpaired) = (0.0, 0.0, 0.0);
        let (mut chosen_sum, mut rejected_sum, mut wins, mut count) = (0.0, 0.0, 0usize, 0usize);
        let non_finite = |value: f64| Error::NonFiniteLoss {
            step,
            value,
            last_checkpoint: None,
        };
        for a in 0..accum {
            let indices = self.batch_indices((step - 1) * accum + a);
            let batch: Vec<&TokenizedPair> = indices.iter().map(|&i| &self.pairs[i]).collect();
            let (policy_chosen, policy_rejected) = score_pairs(self.model, &batch)?;
            let reference = self.reference.select(&indices);
            let as_tensor = |v: &[f64]| -> Result<Tensor> {
                Ok(Tensor::new(v, self.model.device())?.to_dtype(self.model.dtype())?)
            };
            let (reference_chosen, reference_rejected) = (
                as_tensor(&reference.chosen)?,
                as_tensor(&reference.rejected)?,
            );
            let host = |t: &Tensor| -> Result<Vec<f64>> {
                Ok(t.detach()
                    .to_dtype(candle_core::DType::F64)?
                    .to_vec1::<f64>()?)
            };
            let (pc, pr) = (host(&policy_chosen)?, host(&policy_rejected)?);
            if let Some(bad) = pc.iter().chain(&pr).find(|x| !x.is_finite()) {
                return Err(non_finite(*bad));
            }
            let tensors = PreferenceTensors {
                policy_chosen: &policy_chosen,
                policy_rejected: &policy_rejected,
                reference_chosen: &reference_chosen,
                reference_rejected: &reference_rejected,
            };
            let loss = self.loss.compute(&tensors)?;
            let value = loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
            if !value.is_finite() {
                return Err(non_finite(value));
            }
            loss_sum += value;
            let store = (loss / accum as f64)?.backward()?;
            for (slot, var) in grads.iter_mut().zip(&vars) {
                if let Some(g) = store.get(var.as_tensor()) {
                    *slot = Some(match slot.take() {
                        None => g.clone(),
                        Some(acc) => (acc + g)?,
                    });
                }
            }
            let chosen_rewards: Vec<f64> = pc
                .iter()
                .zip(&reference.chosen)
                .map(|(p, r)| p - r)
                .collect();
            let rejected_rewards: Vec<f64> = pr
                .iter()
                .zip(&reference.rejected)
                .map(|(p, r)| p - r)
                .collect();
            let policy_margins: Vec<f64> = pc.iter().zip(&pr).map(|(c, r)| c - r).collect();
            let reference_margins: Vec<f64> = reference
                .chosen
                .iter()
                .zip(&reference.rejected)
                .map(|(c, r)| c - r)
                .collect();
            paired += violation(
                &Sample::new(&policy_margins)?,
                &Sample::new(&reference_margins)?,
            )
            .zero_one;
            unpaired += violation(
                &Sample::new(&chosen_rewards)?,
                &Sample::new(&rejected_rewards)?,
            )
            .zero_one;
            chosen_sum += chosen_rewards.iter().sum::<f64>();
            rejected_sum += rejected_rewards.iter().sum::<f64>();
            wins += chosen_rewards
                .iter()
                .zip(&rejected_rewards)
                .filter(|(c, r)| c > r)
                .count();
            count += indices.len();
        }
        let mut grads: Vec<Tensor> = grads
            .into_iter()
            .zip(&vars)
            .map(|(g, v)| match g {
                Some(g) => Ok(g),
                None => v.as_tensor().zeros_like(),
            })
            .collect::<candle_core::Result<_>>()?;
        let grad_norm = clip_global_norm(&mut grads, self.config.max_grad_norm)?;
        if !grad_norm.is_finite() {
            return Err(non_finite(grad_norm));
        }
        let lr = learning_rate(
            step,
            self.config.steps,
            self.config.warmup_steps,
            self.config.learning_rate,
            self.config.schedule,
        );
        self.optimizer.step(&grads, lr)?;
        self.step = step;
        let n = count as f64;
        let record = StepRecord {
            step,
            learning_rate: lr,
            loss: loss_sum / accum as f64,
            grad_norm,
            chosen_reward: chosen_sum / n,
            rejected_reward: rejected_sum / n,
            margin: (chosen_sum - rejected_sum) / n,
            accuracy: wins as f64 / n,
            paired_violation: paired / accum as f64,
            unpaired_violation: unpaired / accum as f64,
            pairs: count,
            seconds: start.elapsed().as_secs_f64(),
        };
        self.records.push(record.clone());
        Ok(record)
    }

    /// Writes a checkpoint of the current state under the checkpoint directory and removes the
    /// previous one. Returns its path.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when the trainer has no checkpoint directory; I/O, JSON and
    /// candle errors.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf> {
        let Some(root) = self.checkpoint_dir.clone() else {
            return Err(Error::invalid(
                "Trainer::save_checkpoint",
                "checkpoint_dir",
                "None",
                "the trainer was built without a checkpoint directory",
            ));
        };
        std::fs::create_dir_all(&root).map_err(Error::io(&root))?;
        let name = checkpoint_name(self.step);
        let tmp = root.join(format!(".{name}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(Error::io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(Error::io(&tmp))?;
        self.model.save_trainable(tmp.join("model.safetensors"))?;
        self.optimizer.save(tmp.join("optimizer.safetensors"))?;
        let state = TrainerState {
            step: self.step,
            config: self.config.clone(),
            data: self.data.clone(),
            training: format!("{:?}", self.model.training()),
            trainable: self.model.trainable_names(),
            records: self.records.clone(),
        };
        let state_path = tmp.join(TRAINER_STATE_FILE);
        let text = serde_json::to_string_pretty(&state).map_err(|source| Error::Json {
            path: state_path.clone(),
            source,
        })?;
        std::fs::write(&state_path, text).map_err(Error::io(&state_path))?;
        let target = root.join(&name);
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(Error::io(&target))?;
        }
        std::fs::rename(&tmp, &target).map_err(Error::io(&target))?;
        if let Some(previous) = self.last_checkpoint.replace(target.clone()) {
            if previous != target && previous.starts_with(&root) && previous.is_dir() {
                std::fs::remove_dir_all(&previous).map_err(Error::io(&previous))?;
            }
        }
        Ok(target)
    }

    /// Restores the state of a checkpoint written by a run with the same configuration (the
    /// checkpoint interval may differ), training data and trainable variables: weights, AdamW
    /// moments, update count and records. The next [`Trainer::run`] continues exactly where that
    /// run stopped.
    ///
    /// # Errors
    ///
    /// [`Error::Mismatch`] naming the field that differs; I/O, JSON and candle errors.
    pub fn resume(&mut self, checkpoint: impl AsRef<Path>) -> Result<()> {
        let dir = checkpoint.as_ref();
        let state_path = dir.join(TRAINER_STATE_FILE);
        let text = std::fs::read_to_string(&state_path).map_err(Error::io(&state_path))?;
        let state: TrainerState = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: state_path.clone(),
            source,
        })?;
        let mismatch = |reason: String| Error::Mismatch {
            path: dir.to_path_buf(),
            reason,
        };
        let comparable = TrainConfig {
            checkpoint_every: self.config.checkpoint_every,
            ..state.config.clone()
        };
        if comparable != self.config {
            return Err(mismatch(format!(
                "the checkpoint was trained with {:?}, this run asks for {:?}",
                state.config, self.config
            )));
        }
        if state.data != self.data {
            return Err(mismatch(format!(
                "training data fingerprint {} differs from this run's {}",
                state.data, self.data
            )));
        }
        if state.trainable != self.model.trainable_names() {
            return Err(mismatch(format!(
                "trainable variables differ (checkpoint: {}, model: {:?})",
                state.training,
                self.model.training()
            )));
        }
        if state.step > self.config.steps {
            return Err(mismatch(format!(
                "is at step {} beyond the run's {} steps",
                state.step, self.config.steps
            )));
        }
        let weights_path = dir.join("model.safetensors");
        let weights = candle_core::safetensors::load(&weights_path, self.model.device())?;
        for (name, var) in self.optimizer.vars() {
            let t = weights
                .get(name)
                .ok_or_else(|| mismatch(format!("model.safetensors lacks `{name}`")))?;
            if t.dims() != var.dims() {
                return Err(mismatch(format!(
                    "`{name}` has shape {:?}, the model {:?}",
                    t.dims(),
                    var.dims()
                )));
            }
            var.set(&t.to_dtype(var.dtype())?)?;
        }
        self.optimizer.load(dir.join("optimizer.safetensors"))?;
        if self.optimizer.steps_taken() != state.step {
            return Err(mismatch(format!(
                "optimizer state is at update {}, trainer state at {}",
                self.optimizer.steps_taken(),
                state.step
            )));
        }
        self.step = state.step;
        self.records = state.records;
        self.last_checkpoint = Some(dir.to_path_buf());
        Ok(())
    }
}

/// Directory name of the checkpoint after `step` updates.
pub fn checkpoint_name(step: usize) -> String {
    format!("checkpoint-{step:05}")
}

/// The checkpoint with the most updates under `dir` (a directory named `checkpoint-NNNNN`
/// holding a trainer state), if any.
///
/// # Errors
///
/// [`Error::Io`] when `dir` cannot be listed.
pub fn latest_checkpoint(dir: impl AsRef<Path>) -> Result<Option<PathBuf>> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut best: Option<(usize, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let path = entry.map_err(Error::io(dir))?.path();
        let step = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("checkpoint-"))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(step) = step {
            if path.join(TRAINER_STATE_FILE).is_file() && best.as_ref().is_none_or(|b| step > b.0) {
                best = Some((step, path));
            }
        }
    }
    Ok(best.map(|b| b.1))
}

/// Writes step records as CSV with one column per [`StepRecord`] field.
///
/// # Errors
///
/// [`Error::Csv`] or [`Error::Io`] on write failure.
pub fn write_records_csv(path: impl AsRef<Path>, records: &[StepRecord]) -> Result<()> {
    let path = path.as_ref();
    let csv_error = |source| Error::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut w = csv::Writer::from_path(path).map_err(csv_error)?;
    for r in records {
        w.serialize(r).map_err(csv_error)?;
    }
    w.flush().map_err(Error::io(path))?;
    Ok(())
}

/// A chart of the training curves: loss, reward margin and the two batch violation fractions
/// against the update number.
pub fn records_chart(title: &str, records: &[StepRecord]) -> crate::plot::Chart {
    use crate::plot::{Chart, Series};
    let series = |f: fn(&StepRecord) -> f64| -> Vec<(f64, f64)> {
        records.iter().map(|r| (r.step as f64, f(r))).collect()
    };
    Chart::new(title, "update", "value")
        .series(Series::line("loss", series(|r| r.loss)).with_color(0))
        .series(Series::line("reward margin (nats)", series(|r| r.margin)).with_color(1))
        .series(Series::dashed("paired violation", series(|r| r.paired_violation)).with_color(2))
        .series(
            Series::dashed("unpaired violation", series(|r| r.unpaired_violation)).with_color(3),
        )
}
