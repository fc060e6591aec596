//! Sequence log-probabilities from logits, with a completion mask.

use candle_core::{DType, Tensor, D};

use super::error::{Error, Result};
use super::llama::Llama;
use super::numerics::check_float;

/// Reads a `[B, T]` integer or floating tensor into host rows.
fn rows_u32(function: &'static str, argument: &'static str, x: &Tensor) -> Result<Vec<Vec<u32>>> {
    match x.dtype() {
        DType::U8 | DType::U32 | DType::I64 => Ok(x.to_dtype(DType::U32)?.to_vec2::<u32>()?),
        got => Err(Error::DType {
            function,
            argument,
            got,
            expected: "u8, u32 or i64",
        }),
    }
}

/// Whether mask entry `[row, col]` keeps its token: `true` for 1, `false` for 0, and an error
/// naming the argument for any other value.
fn mask_bit(
    function: &'static str,
    argument: &'static str,
    m: f64,
    row: usize,
    col: usize,
) -> Result<bool> {
    if m == 1.0 || m == 0.0 {
        Ok(m == 1.0)
    } else {
        Err(Error::invalid(
            function,
            argument,
            format!("{m} at [{row}, {col}]"),
            "mask values must be 0 or 1",
        ))
    }
}

/// [`Error::EmptyCompletion`] when row `row` keeps no token.
fn require_kept(function: &'static str, row: usize, kept: usize) -> Result<()> {
    if kept == 0 {
        Err(Error::EmptyCompletion { function, row })
    } else {
        Ok(())
    }
}

/// Summed log-probabilities of the masked labels of each sequence.
///
/// # Formula
///
/// For logits `ℓ ∈ ℝ^{B×T×V}`, labels `y ∈ {0,…,V−1}^{B×T}` and a 0/1 mask `m ∈ {0,1}^{B×T}`,
///
/// ```text
/// out_b = Σ_t m_{b,t} · log_softmax(ℓ_{b,t})[y_{b,t}]
/// ```
///
/// Position `t` of `logits` must already be the distribution of `labels[t]` (see
/// [`completion_log_probs`] for the usual one-step shift). The log-softmax is candle-nn's
/// differentiable one, so the result carries gradients to the logits. Labels at masked-out
/// positions are ignored (they may be padding ids outside the vocabulary).
///
/// # Errors
///
/// [`Error::Shape`] unless `logits` is `[B, T, V]` and `labels`, `mask` are `[B, T]`;
/// [`Error::DType`] unless `logits` is f32/f64 and `labels` is u8/u32/i64;
/// [`Error::InvalidArgument`] if the mask holds a value other than 0 or 1 or a kept label is
/// `>= V`; [`Error::EmptyCompletion`] if a row of the mask is all zero.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// use aot::candle::sequence_log_probs;
///
/// let dev = Device::Cpu;
/// // One sequence, two positions, uniform logits over V = 4: each token has log-prob −ln 4.
/// let logits = Tensor::zeros((1, 2, 4), candle_core::DType::F64, &dev)?;
/// let labels = Tensor::new(&[[3u32, 1]], &dev)?;
/// let mask = Tensor::new(&[[0f64, 1.0]], &dev)?; // the first token is prompt
/// let lp = sequence_log_probs(&logits, &labels, &mask)?.to_vec1::<f64>()?;
/// assert!((lp[0] + 4f64.ln()).abs() < 1e-15);
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn sequence_log_probs(logits: &Tensor, labels: &Tensor, mask: &Tensor) -> Result<Tensor> {
    const FUNCTION: &str = "sequence_log_probs";
    check_float(FUNCTION, "logits", logits)?;
    let (b, t, v) = match logits.dims() {
        &[b, t, v] if b > 0 && t > 0 && v > 0 => (b, t, v),
        dims => {
            return Err(Error::Shape {
                function: FUNCTION,
                argument: "logits",
                got: dims.to_vec(),
                expected: "[B, T, V] with B, T, V >= 1".into(),
            })
        }
    };
    for (argument, x) in [("labels", labels), ("mask", mask)] {
        if x.dims() != [b, t] {
            return Err(Error::Shape {
                function: FUNCTION,
                argument,
                got: x.dims().to_vec(),
                expected: format!("[{b}, {t}] (B and T of `logits`)"),
            });
        }
    }
    let label_rows = rows_u32(FUNCTION, "labels", labels)?;
    let mask_rows = mask.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let mut safe_labels = Vec::with_capacity(b * t);
    for (row, (label_row, mask_row)) in label_rows.iter().zip(&mask_rows).enumerate() {
        let mut kept = 0usize;
        for (col, (&label, &m)) in label_row.iter().zip(mask_row).enumerate() {
            if mask_bit(FUNCTION, "mask", m, row, col)? {
                if label as usize >= v {
                    return Err(Error::invalid(
                        FUNCTION,
                        "labels",
                        format!("{label} at [{row}, {col}]"),
                        format!("kept labels must be < V = {v}"),
                    ));
                }
                kept += 1;
                safe_labels.push(label);
            } else {
                safe_labels.push(0);
            }
        }
        require_kept(FUNCTION, row, kept)?;
    }
    let index = Tensor::from_vec(safe_labels, (b, t, 1), logits.device())?;
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = log_probs
        .contiguous()?
        .gather(&index, D::Minus1)?
        .squeeze(D::Minus1)?;
    let mask = mask.to_dtype(logits.dtype())?.to_device(logits.device())?;
    Ok((picked * mask)?.sum(D::Minus1)?)
}

/// Summed log-probabilities of the completion tokens of each sequence, from the logits of a
/// causal LM run on the same ids.
///
/// # Formula
///
/// With `logits[b, t]` the next-token distribution after `input_ids[b, ..=t]`,
///
/// ```text
/// out_b = Σ_{t >= 1} completion_mask[b, t] · log_softmax(logits[b, t−1])[input_ids[b, t]]
/// ```
///
/// that is [`sequence_log_probs`] on `logits[:, :T−1]`, `input_ids[:, 1:]`,
/// `completion_mask[:, 1:]`. Prompt tokens and padding carry mask 0.
///
/// # Errors
///
/// As [`sequence_log_probs`]; also [`Error::Shape`] if `T < 2` and [`Error::InvalidArgument`] if
/// the first position is marked as completion (it has no prefix to be predicted from).
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// use aot::candle::completion_log_probs;
///
/// let dev = Device::Cpu;
/// let logits = Tensor::zeros((1, 3, 8), candle_core::DType::F32, &dev)?;
/// let ids = Tensor::new(&[[5u32, 6, 7]], &dev)?;
/// let mask = Tensor::new(&[[0u8, 1, 1]], &dev)?;
/// let lp = completion_log_probs(&logits, &ids, &mask)?.to_vec1::<f32>()?;
/// assert!((lp[0] + 2.0 * 8f32.ln()).abs() < 1e-5);
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn completion_log_probs(
    logits: &Tensor,
    input_ids: &Tensor,
    completion_mask: &Tensor,
) -> Result<Tensor> {
    const FUNCTION: &str = "completion_log_probs";
    let (b, t) = match logits.dims() {
        &[b, t, _] if t >= 2 => (b, t),
        dims => {
            return Err(Error::Shape {
                function: FUNCTION,
                argument: "logits",
                got: dims.to_vec(),
                expected: "[B, T, V] with T >= 2".into(),
            })
        }
    };
    for (argument, x) in [
        ("input_ids", input_ids),
        ("completion_mask", completion_mask),
    ] {
        if x.dims() != [b, t] {
            return Err(Error::Shape {
                function: FUNCTION,
                argument,
                got: x.dims().to_vec(),
                expected: format!("[{b}, {t}] (B and T of `logits`)"),
            });
        }
    }
    let first = completion_mask
        .narrow(1, 0, 1)?
        .to_dtype(DType::F64)?
        .flatten_all()?;
    if let Some(row) = first.to_vec1::<f64>()?.iter().position(|&m| m != 0.0) {
        return Err(Error::invalid(
            FUNCTION,
            "completion_mask",
            format!("non-zero at [{row}, 0]"),
            "the first token has no prefix and cannot be part of the completion",
        ));
    }
    sequence_log_probs(
        &logits.narrow(1, 0, t - 1)?,
        &input_ids.narrow(1, 1, t - 1)?,
        &completion_mask.narrow(1, 1, t - 1)?,
    )
    .map_err(|e| match e {
        Error::EmptyCompletion { row, .. } => Error::EmptyCompletion {
            function: FUNCTION,
            row,
        },
        other => other,
    })
}

/// Packs `(prompt, completion)` token sequences into a right-padded batch for
/// [`completion_log_probs`]: `input_ids[b] = prompt_b ++ completion_b ++ pad…` and
/// `completion_mask[b, t] = 1` exactly on the completion tokens.
///
/// Right padding suits the causal decoder: padding comes after every real token, so it cannot
/// change their logits, and the mask drops it from the sums.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `sequences` is empty or a prompt is empty (the first token has
/// no prefix to be scored from); [`Error::EmptyCompletion`] if a completion is empty.
///
/// # Examples
///
/// ```
/// use candle_core::Device;
/// use aot::candle::pack_completions;
///
/// let (ids, mask) = pack_completions(&[(&[1, 2], &[3]), (&[4], &[5, 6])], 0, &Device::Cpu)?;
/// assert_eq!(ids.to_vec2::<u32>()?, vec![vec![1, 2, 3], vec![4, 5, 6]]);
/// assert_eq!(mask.to_vec2::<u8>()?, vec![vec![0, 0, 1], vec![0, 1, 1]]);
/// let (ids, _) = pack_completions(&[(&[1], &[2]), (&[3], &[4, 5])], 9, &Device::Cpu)?;
/// assert_eq!(ids.to_vec2::<u32>()?, vec![vec![1, 2, 9], vec![3, 4, 5]]);
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn pack_completions(
    sequences: &[(&[u32], &[u32])],
    pad_id: u32,
    device: &candle_core::Device,
) -> Result<(Tensor, Tensor)> {
    const FUNCTION: &str = "pack_completions";
    if sequences.is_empty() {
        return Err(Error::invalid(
            FUNCTION,
            "sequences",
            "[]",
            "needs at least one sequence",
        ));
    }
    for (row, (prompt, completion)) in sequences.iter().enumerate() {
        if prompt.is_empty() {
            return Err(Error::invalid(
                FUNCTION,
                "sequences",
                format!("row {row} with an empty prompt"),
                "every prompt needs at least one token",
            ));
        }
        if completion.is_empty() {
            return Err(Error::EmptyCompletion {
                function: FUNCTION,
                row,
            });
        }
    }
    let width = sequences
        .iter()
        .map(|(p, c)| p.len() + c.len())
        .max()
        .unwrap_or(0);
    let mut ids = Vec::with_capacity(sequences.len() * width);
    let mut mask = Vec::with_capacity(sequences.len() * width);
    for (prompt, completion) in sequences {
        ids.extend_from_slice(prompt);
        ids.extend_from_slice(completion);
        mask.extend(std::iter::repeat_n(0u8, prompt.len()));
        mask.extend(std::iter::repeat_n(1u8, completion.len()));
        let pad = width - prompt.len() - completion.len();
        ids.extend(std::iter::repeat_n(pad_id, pad));
        mask.extend(std::iter::repeat_n(0u8, pad));
    }
    let shape = (sequences.len(), width);
    Ok((
        Tensor::from_vec(ids, shape, device)?,
        Tensor::from_vec(mask, shape, device)?,
    ))
}

/// Summed log-probabilities of the completion tokens, computed from the model with the output
/// head and the log-softmax evaluated only at the positions that predict a completion token.
///
/// Equal to `completion_log_probs(&model.forward(input_ids)?, input_ids, completion_mask)` (the
/// same formula, checked in `tests/candle_logprob.rs`), but for `K` scored tokens out of `B·T`
/// positions the head costs `K·H·V` instead of `B·T·H·V` multiply-adds, and the log-softmax
/// touches `K·V` numbers: with a vocabulary of 49,152 these dominate the cost of short
/// sequences. The per-row sums are a `[B, K]` 0/1 matrix product, so gradients flow to every
/// trainable parameter as before.
///
/// # Errors
///
/// As [`completion_log_probs`] and [`Llama::forward`].
///
/// # Examples
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use aot::candle::{completion_log_probs, model_completion_log_probs, Llama, LlamaConfig,
///     Training};
///
/// let config = LlamaConfig::tiny();
/// let weights = Llama::random_weights(&config, 3)?;
/// let model = Llama::new(&config, &weights, Training::Frozen, &Device::Cpu, DType::F64)?;
/// let ids = Tensor::new(&[[1u32, 2, 3, 4], [5, 6, 7, 8]], &Device::Cpu)?;
/// let mask = Tensor::new(&[[0u8, 0, 1, 1], [0, 1, 1, 0]], &Device::Cpu)?;
/// let fast = model_completion_log_probs(&model, &ids, &mask)?.to_vec1::<f64>()?;
/// let full = completion_log_probs(&model.forward(&ids)?, &ids, &mask)?.to_vec1::<f64>()?;
/// assert!((fast[0] - full[0]).abs() < 1e-12 && (fast[1] - full[1]).abs() < 1e-12);
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn model_completion_log_probs(
    model: &Llama,
    input_ids: &Tensor,
    completion_mask: &Tensor,
) -> Result<Tensor> {
    const FUNCTION: &str = "model_completion_log_probs";
    let (b, t) = match input_ids.dims() {
        &[b, t] if b > 0 && t >= 2 => (b, t),
        dims => {
            return Err(Error::Shape {
                function: FUNCTION,
                argument: "input_ids",
                got: dims.to_vec(),
                expected: "[B, T] with B >= 1, T >= 2".into(),
            })
        }
    };
    if completion_mask.dims() != [b, t] {
        return Err(Error::Shape {
            function: FUNCTION,
            argument: "completion_mask",
            got: completion_mask.dims().to_vec(),
            expected: format!("[{b}, {t}] (the shape of `input_ids`)"),
        });
    }
    let id_rows = rows_u32(FUNCTION, "input_ids", input_ids)?;
    let mask_rows = completion_mask.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    // Scored token (row, t >= 1) is predicted by the hidden state at flat position row·T + t − 1.
    let (mut positions, mut labels, mut owners) = (Vec::new(), Vec::new(), Vec::new());
    for (row, (ids, mask)) in id_rows.iter().zip(&mask_rows).enumerate() {
        let mut kept = 0usize;
        for (col, (&id, &m)) in ids.iter().zip(mask).enumerate() {
            if mask_bit(FUNCTION, "completion_mask", m, row, col)? {
                if col == 0 {
                    return Err(Error::invalid(
                        FUNCTION,
                        "completion_mask",
                        format!("non-zero at [{row}, 0]"),
                        "the first token has no prefix and cannot be part of the completion",
                    ));
                }
                positions.push((row * t + col - 1) as u32);
                labels.push(id);
                owners.push(row);
                kept += 1;
            }
        }
        require_kept(FUNCTION, row, kept)?;
    }
    let device = model.device();
    let k = positions.len();
    let hidden = model.hidden_states(input_ids)?;
    let h = hidden.dim(D::Minus1)?;
    let positions = Tensor::from_vec(positions, k, device)?;
    let selected = hidden.reshape((b * t, h))?.index_select(&positions, 0)?;
    let log_probs = candle_nn::ops::log_softmax(&model.logits_from_hidden(&selected)?, D::Minus1)?;
    let labels = Tensor::from_vec(labels, (k, 1), device)?;
    let picked = log_probs.gather(&labels, D::Minus1)?;
    let mut owner = vec![0.0f64; b * k];
    for (j, &row) in owners.iter().enumerate() {
        owner[row * k + j] = 1.0;
    }
    let owner = Tensor::from_vec(owner, (b, k), device)?.to_dtype(picked.dtype())?;
    Ok(owner.matmul(&picked)?.squeeze(D::Minus1)?)
}
