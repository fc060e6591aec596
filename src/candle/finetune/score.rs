//! Sequence log-probabilities of preference pairs under a model.

use candle_core::Tensor;

use super::error::{Error, Result};
use super::tokenize::TokenizedPair;
use crate::candle::{model_completion_log_probs, pack_completions, Llama};

/// The id written into padding positions. Padding is right-aligned and masked out, so any id
/// below the vocabulary size works; 0 always is.
pub const PAD_ID: u32 = 0;

/// `log π(y⁺_i | x_i)` and `log π(y⁻_i | x_i)` for a batch of pairs, from one forward pass.
///
/// # Formula
///
/// The `2n` sequences `x_i ++ y⁺_i` (rows `0..n`) and `x_i ++ y⁻_i` (rows `n..2n`) are packed
/// right-padded ([`pack_completions`]) and scored by [`model_completion_log_probs`] (the
/// formula of [`crate::candle::completion_log_probs`], with the output head evaluated only where
/// a completion token is predicted):
/// `out_i = Σ_t log π(y_t | x, y_<t)` over the response tokens. The two returned tensors `[n]`
/// carry autograd towards the model's trainable variables.
///
/// # Errors
///
/// [`Error::InvalidArgument`] for an empty batch; candle-adapter errors (for example a token id
/// outside the vocabulary).
///
/// # Examples
///
/// ```
/// use candle_core::{DType, Device};
/// use aot::candle::{Llama, LlamaConfig, Training};
/// use aot::candle::finetune::{score_pairs, TokenizedPair};
///
/// let config = LlamaConfig::tiny();
/// let weights = Llama::random_weights(&config, 3)?;
/// let model = Llama::new(&config, &weights, Training::Frozen, &Device::Cpu, DType::F32)?;
/// let pair = TokenizedPair { line: 1, prompt: vec![1, 2], chosen: vec![3, 4], rejected: vec![5] };
/// let (chosen, rejected) = score_pairs(&model, &[&pair])?;
/// assert!(chosen.to_vec1::<f32>()?[0] < 0.0 && rejected.to_vec1::<f32>()?[0] < 0.0);
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
pub fn score_pairs(model: &Llama, pairs: &[&TokenizedPair]) -> Result<(Tensor, Tensor)> {
    let n = pairs.len();
    if n == 0 {
        return Err(Error::invalid(
            "score_pairs",
            "pairs",
            "[]",
            "needs at least one pair",
        ));
    }
    let mut sequences: Vec<(&[u32], &[u32])> = Vec::with_capacity(2 * n);
    sequences.extend(
        pairs
            .iter()
            .map(|p| (p.prompt.as_slice(), p.chosen.as_slice())),
    );
    sequences.extend(
        pairs
            .iter()
            .map(|p| (p.prompt.as_slice(), p.rejected.as_slice())),
    );
    let (ids, mask) = pack_completions(&sequences, PAD_ID, model.device())?;
    // The head and the log-softmax only at the positions that predict completion tokens: the
    // same numbers as `completion_log_probs(&model.forward(&ids)?, ..)`, without the
    // [2n, T, vocabulary] logits.
    let log_probs = model_completion_log_probs(model, &ids, &mask)?;
    Ok((log_probs.narrow(0, 0, n)?, log_probs.narrow(0, n, n)?))
}

/// Per-pair log-probabilities on the host, as `f64`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogProbs {
    /// `log π(y⁺_i | x_i)`.
    pub chosen: Vec<f64>,
    /// `log π(y⁻_i | x_i)`.
    pub rejected: Vec<f64>,
}

impl LogProbs {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.chosen.len()
    }

    /// Whether there is no pair.
    pub fn is_empty(&self) -> bool {
        self.chosen.is_empty()
    }

    /// The entries at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        Self {
            chosen: indices.iter().map(|&i| self.chosen[i]).collect(),
            rejected: indices.iter().map(|&i| self.rejected[i]).collect(),
        }
    }
}

/// [`score_pairs`] over many pairs in chunks of `batch_size`, detached, on the host.
/// `on_batch(done, total)` is called after each chunk (for a progress bar).
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `batch_size == 0` or `pairs` is empty; as [`score_pairs`].
///
/// # Examples
///
/// ```
/// use candle_core::{DType, Device};
/// use aot::candle::{Llama, LlamaConfig, Training};
/// use aot::candle::finetune::{score_all, TokenizedPair};
///
/// let config = LlamaConfig::tiny();
/// let weights = Llama::random_weights(&config, 3)?;
/// let model = Llama::new(&config, &weights, Training::Frozen, &Device::Cpu, DType::F32)?;
/// let pair = TokenizedPair { line: 1, prompt: vec![1], chosen: vec![3], rejected: vec![5] };
/// let scores = score_all(&model, &[pair.clone(), pair], 1, |_, _| {})?;
/// assert_eq!(scores.len(), 2);
/// assert_eq!(scores.chosen[0], scores.chosen[1]);
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
pub fn score_all(
    model: &Llama,
    pairs: &[TokenizedPair],
    batch_size: usize,
    mut on_batch: impl FnMut(usize, usize),
) -> Result<LogProbs> {
    if batch_size == 0 {
        return Err(Error::invalid("score_all", "batch_size", 0, "must be >= 1"));
    }
    if pairs.is_empty() {
        return Err(Error::invalid(
            "score_all",
            "pairs",
            "[]",
            "needs at least one pair",
        ));
    }
    let mut out = LogProbs::default();
    for chunk in pairs.chunks(batch_size) {
        let refs: Vec<&TokenizedPair> = chunk.iter().collect();
        let (chosen, rejected) = score_pairs(model, &refs)?;
        let host = |t: Tensor| -> Result<Vec<f64>> {
            Ok(t.detach()
                .to_dtype(candle_core::DType::F64)?
                .to_vec1::<f64>()?)
        };
        out.chosen.extend(host(chosen)?);
        out.rejected.extend(host(rejected)?);
        on_batch(out.len(), pairs.len());
    }
    Ok(out)
}
