//! Sequence log-probabilities from logits, with a completion mask.

use candle_core::{DType, Tensor, D};

use super::error::{Error, Result};
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
/// [`Error::DType`] unless `logits` is f32/f64 and `labels` is u8/u32/i64; [`Error::InvalidArgument`]
/// if the mask holds a value other than 0 or 1 or a kept label is `>= V`;
/// [`Error::EmptyCompletion`] if a row of the mask is all zero.
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
            if m == 1.0 {
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
            } else if m == 0.0 {
                safe_labels.push(0);
            } else {
                return Err(Error::invalid(
                    FUNCTION,
                    "mask",
                    format!("{m} at [{row}, {col}]"),
                    "mask values must be 0 or 1",
                ));
            }
        }
        if kept == 0 {
            return Err(Error::EmptyCompletion {
                function: FUNCTION,
                row,
            });
        }
    }
    let index = Tensor::from_vec(safe_labels, (b, t, 1), logits.device())?;
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = log_probs.contiguous()?.gather(&index, D::Minus1)?.squeeze(D::Minus1)?;
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
    for (argument, x) in [("input_ids", input_ids), ("completion_mask", completion_mask)] {
        if x.dims() != [b, t] {
            return Err(Error::Shape {
                function: FUNCTION,
                argument,
                got: x.dims().to_vec(),
                expected: format!("[{b}, {t}] (B and T of `logits`)"),
            });
        }
    }
    let first = completion_mask.narrow(1, 0, 1)?.to_dtype(DType::F64)?.flatten_all()?;
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
