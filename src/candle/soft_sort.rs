//! Differentiable (soft) sorting by projection onto the permutahedron.
//!
//! Blondel, Teboul, Berthet and Djolonga, "Fast Differentiable Sorting and Ranking", ICML 2020.
//! For `θ ∈ ℝⁿ` and a regularisation strength `ε > 0`, the ascending soft sort is the Euclidean
//! projection of `ρ/ε`, `ρ = (1, 2, …, n)`, onto the permutahedron `P(θ)` (the convex hull of the
//! permutations of `θ`):
//!
//! ```text
//! s_ε(θ) = argmin_{μ ∈ P(θ)} ½ ‖μ − ρ/ε‖²
//! ```
//!
//! With `w = sort_ascending(θ)` and `z = ρ/ε`, the projection reduces to one isotonic regression:
//! `v = argmin_{v_1 <= … <= v_n} ½ ‖v − (z − w)‖²` and `s = z − v`. Pool-adjacent-violators (PAV)
//! solves it exactly in `O(n)`; its solution is constant on blocks `B`, where
//! `v_B = mean_B(z − w)`, so
//!
//! ```text
//! s_j = mean_{B(j)}(w) + z_j − mean_{B(j)}(z).
//! ```
//!
//! Locally (for fixed blocks) `s` is the block-averaging matrix applied to `w`, plus a constant.
//! That matrix is symmetric, so the vector-Jacobian product of the block average is the block
//! average of the incoming gradient; the gradient then flows through the hard sort back to the
//! original positions of `θ`. As `ε → 0` every block is a singleton and `s = w` (the hard sort);
//! as `ε → ∞` a single block remains and `s → mean(θ)·1`.

use std::ops::Range;
use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Shape, Tensor};

use super::error::{Error, Result};
use super::numerics::check_finite;

/// The blocks of the increasing isotonic regression of `y`, found by pool-adjacent-violators.
///
/// The isotonic regression `argmin_{v_1 <= … <= v_n} Σ (v_i − y_i)²` is constant on each returned
/// block, equal to the mean of `y` over the block, and the block means increase strictly. The
/// blocks partition `0..y.len()` in order.
///
/// # Examples
///
/// ```
/// use aot::candle::isotonic_blocks;
/// assert_eq!(isotonic_blocks(&[1.0, 3.0, 2.0, 4.0]), vec![0..1, 1..3, 3..4]);
/// assert_eq!(isotonic_blocks(&[3.0, 2.0, 1.0]), vec![0..3]);
/// assert!(isotonic_blocks(&[]).is_empty());
/// ```
pub fn isotonic_blocks(y: &[f64]) -> Vec<Range<usize>> {
    // Each block: (start, length, sum). Invariant: block means strictly increase along the stack.
    let mut stack: Vec<(usize, usize, f64)> = Vec::with_capacity(y.len());
    for (i, &yi) in y.iter().enumerate() {
        let mut block = (i, 1usize, yi);
        while let Some(&(start, len, sum)) = stack.last() {
            // Merge while the previous mean is not below the current mean.
            if sum / len as f64 >= block.2 / block.1 as f64 {
                stack.pop();
                block = (start, len + block.1, sum + block.2);
            } else {
                break;
            }
        }
        stack.push(block);
    }
    stack
        .into_iter()
        .map(|(start, len, _)| start..start + len)
        .collect()
}

/// The increasing isotonic regression of `y` (least squares under `v_1 <= … <= v_n`).
///
/// # Formula
///
/// `v = argmin_{v_1 <= … <= v_n} Σ_i (v_i − y_i)²`, equal to the block means of
/// [`isotonic_blocks`].
///
/// # Examples
///
/// ```
/// use aot::candle::isotonic_regression;
/// assert_eq!(isotonic_regression(&[1.0, 3.0, 2.0, 4.0]), vec![1.0, 2.5, 2.5, 4.0]);
/// ```
pub fn isotonic_regression(y: &[f64]) -> Vec<f64> {
    let mut v = vec![0.0; y.len()];
    for block in isotonic_blocks(y) {
        let mean = y[block.clone()].iter().sum::<f64>() / block.len() as f64;
        v[block].iter_mut().for_each(|vi| *vi = mean);
    }
    v
}

/// Replaces each element of a 1-D tensor by the mean over its block; its own adjoint.
#[derive(Clone)]
struct BlockAverage {
    blocks: Arc<Vec<Range<usize>>>,
}

impl BlockAverage {
    fn average<T>(&self, x: &[T]) -> Vec<T>
    where
        T: Copy + std::iter::Sum<T> + std::ops::Div<Output = T> + num_like::FromUsize,
    {
        let mut out = x.to_vec();
        for block in self.blocks.iter() {
            let mean = x[block.clone()].iter().copied().sum::<T>() / T::from_usize(block.len());
            out[block.clone()].iter_mut().for_each(|o| *o = mean);
        }
        out
    }
}

mod num_like {
    pub trait FromUsize {
        fn from_usize(n: usize) -> Self;
    }
    impl FromUsize for f32 {
        fn from_usize(n: usize) -> Self {
            n as f32
        }
    }
    impl FromUsize for f64 {
        fn from_usize(n: usize) -> Self {
            n as f64
        }
    }
}

impl CustomOp1 for BlockAverage {
    fn name(&self) -> &'static str {
        "block-average"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (start, end) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("block-average: input not contiguous".into()))?;
        let n = self.blocks.last().map_or(0, |b| b.end);
        if end - start != n {
            candle_core::bail!(
                "block-average: {} elements for blocks over {n}",
                end - start
            );
        }
        let out = match storage {
            CpuStorage::F32(x) => CpuStorage::F32(self.average(&x[start..end])),
            CpuStorage::F64(x) => CpuStorage::F64(self.average(&x[start..end])),
            _ => candle_core::bail!("block-average: only f32 and f64 are supported"),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        // The block-averaging matrix is symmetric: its vector-Jacobian product is itself.
        Ok(Some(grad_res.contiguous()?.apply_op1(self.clone())?))
    }
}

/// Applies the block average as a dense matrix product (for devices other than the CPU).
fn block_average_dense(w: &Tensor, blocks: &[Range<usize>]) -> Result<Tensor> {
    let n = w.dim(0)?;
    let mut matrix = vec![0.0f64; n * n];
    for block in blocks {
        let weight = 1.0 / block.len() as f64;
        for i in block.clone() {
            for j in block.clone() {
                matrix[i * n + j] = weight;
            }
        }
    }
    let matrix = Tensor::from_vec(matrix, (n, n), w.device())?.to_dtype(w.dtype())?;
    Ok(matrix.matmul(&w.unsqueeze(1)?)?.squeeze(1)?)
}

/// Ascending soft sort of a 1-D tensor with regularisation strength `strength` (ε above).
///
/// The result is differentiable in `x` (gradient: the block average of the incoming gradient,
/// carried back through the hard sort). `strength = 0` gives the hard sort exactly, and so does
/// any strength small enough that no two sorted elements pool; as the strength grows the output
/// contracts towards `mean(x)·1`. The sum of the output always equals the sum of `x` (the
/// projection stays in the permutahedron), and the output is nondecreasing.
///
/// # Errors
///
/// [`Error::Shape`] unless `x` is 1-D and non-empty; [`Error::DType`] unless it is f32 or f64;
/// [`Error::NonFinite`] on NaN or infinite elements; [`Error::InvalidArgument`] unless `strength`
/// is finite and `>= 0`.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// use aot::candle::soft_sort;
///
/// let x = Tensor::new(&[3.0f64, 1.0, 2.0], &Device::Cpu)?;
/// // Small strength: the hard sort.
/// assert_eq!(soft_sort(&x, 1e-3)?.to_vec1::<f64>()?, vec![1.0, 2.0, 3.0]);
/// // Large strength: every element pooled at the mean 2.
/// let s = soft_sort(&x, 1e3)?.to_vec1::<f64>()?;
/// assert!(s.iter().all(|v| (v - 2.0).abs() < 1e-2));
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn soft_sort(x: &Tensor, strength: f64) -> Result<Tensor> {
    const FUNCTION: &str = "soft_sort";
    if x.rank() != 1 || x.dim(0)? == 0 {
        return Err(Error::Shape {
            function: FUNCTION,
            argument: "x",
            got: x.dims().to_vec(),
            expected: "[n] with n >= 1".into(),
        });
    }
    check_finite(FUNCTION, "x", x)?;
    if !(strength.is_finite() && strength >= 0.0) {
        return Err(Error::invalid(
            FUNCTION,
            "strength",
            strength,
            "must be finite and >= 0",
        ));
    }
    let (sorted, _) = x.contiguous()?.sort_last_dim(true)?;
    if strength == 0.0 {
        return Ok(sorted);
    }
    let n = sorted.dim(0)?;
    let w = sorted.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
    let z: Vec<f64> = (1..=n).map(|j| j as f64 / strength).collect();
    let y: Vec<f64> = z.iter().zip(&w).map(|(zj, wj)| zj - wj).collect();
    let blocks = isotonic_blocks(&y);
    // offset_j = z_j − mean_B(z): the constant part of s_j.
    let mut offset = vec![0.0f64; n];
    for block in &blocks {
        let mean = z[block.clone()].iter().sum::<f64>() / block.len() as f64;
        for j in block.clone() {
            offset[j] = z[j] - mean;
        }
    }
    let offset = Tensor::from_vec(offset, n, x.device())?.to_dtype(x.dtype())?;
    let averaged = match x.device() {
        Device::Cpu => sorted.apply_op1(BlockAverage {
            blocks: Arc::new(blocks),
        })?,
        _ => block_average_dense(&sorted, &blocks)?,
    };
    Ok((averaged + offset)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_custom_block_average_agree() {
        let blocks = vec![0..2, 2..3, 3..6];
        let x = Tensor::new(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 9.0], &Device::Cpu).unwrap();
        let dense = block_average_dense(&x, &blocks)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let op = BlockAverage {
            blocks: Arc::new(blocks),
        };
        let custom = x.apply_op1(op).unwrap().to_vec1::<f64>().unwrap();
        // Block means by hand: (1+2)/2 = 1.5, 3, (4+5+9)/3 = 6.
        assert_eq!(dense, vec![1.5, 1.5, 3.0, 6.0, 6.0, 6.0]);
        assert_eq!(custom, dense);
    }
}
