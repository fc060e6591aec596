//! Stable elementwise functions and input checks shared by the losses.

use candle_core::{DType, Tensor};

use super::error::{Error, Result};

/// Softplus `log(1 + e^x)` computed stably from differentiable candle ops.
///
/// # Formula
///
/// `softplus(x) = relu(x) + log(1 + exp(-|x|))`. The exponential never overflows, and every op
/// (relu, abs, exp, log) has a backward pass, so the gradient is `σ(x)`. Next to
/// [`crate::cost::softplus`] (which uses `log1p`), the value can differ by about one unit in the
/// last place of 1, an absolute error below `2.3e-16` in f64.
///
/// # Errors
///
/// Propagates candle errors (for example an integer dtype).
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[-1000.0f64, 0.0, 1000.0], &Device::Cpu)?;
/// let y = aot::candle::softplus(&x)?.to_vec1::<f64>()?;
/// assert_eq!(y, vec![0.0, 2f64.ln(), 1000.0]);
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    let tail = ((x.abs()?.neg()?.exp()? + 1.0)?).log()?;
    Ok((x.relu()? + tail)?)
}

/// Log-sigmoid `log σ(x)` computed stably, without taking the log of a sigmoid.
///
/// # Formula
///
/// `log σ(x) = -softplus(-x) = min(x, 0) - log(1 + exp(-|x|))`, with `min(x, 0) = -relu(-x)`.
///
/// # Errors
///
/// Propagates candle errors.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[-200.0f32, 0.0, 200.0], &Device::Cpu)?;
/// let y = aot::candle::log_sigmoid(&x)?.to_vec1::<f32>()?;
/// assert_eq!(y, vec![-200.0, -(2f32.ln()), 0.0]);
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(softplus(&x.neg()?)?.neg()?)
}

/// Checks that `x` is a floating-point tensor (f32 or f64).
pub(crate) fn check_float(
    function: &'static str,
    argument: &'static str,
    x: &Tensor,
) -> Result<()> {
    match x.dtype() {
        DType::F32 | DType::F64 => Ok(()),
        got => Err(Error::DType {
            function,
            argument,
            got,
            expected: "f32 or f64",
        }),
    }
}

/// Checks that every element of a floating-point tensor is finite, naming the first one that is
/// not. Copies the tensor to the host, so it is meant for per-sequence vectors, not for logits.
pub(crate) fn check_finite(
    function: &'static str,
    argument: &'static str,
    x: &Tensor,
) -> Result<()> {
    check_float(function, argument, x)?;
    let values = x.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite {
            function,
            argument,
            index,
            value: values[index],
        }),
    }
}
