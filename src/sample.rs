//! Validated weighted samples: the one place where inputs are checked.
//!
//! A [`Sample`] is a discrete probability measure `μ = Σ_k w_k δ_{x_k}` on the real line, stored
//! with its atoms sorted ascending so that its CDF and quantile function are cheap:
//!
//! ```text
//! F(t) = Σ_{k : x_k <= t} w_k                    (right-continuous CDF)
//! Q(p) = inf { t : F(t) >= p },  p ∈ (0, 1]      (left-continuous step quantile)
//! Q(0) = min_k x_k                               (convention: the right limit at 0)
//! ```
//!
//! Two entry points build one, and they mean different things:
//!
//! * [`Sample::new`] and [`Sample::weighted`] take **sample values** (draws, rewards): values may
//!   repeat, and each value carries weight `1/n` or its normalised weight.
//! * [`Sample::from_histogram`] takes a **support and masses**: the support points must be
//!   distinct, and the masses are normalised to sum to one.
//!
//! Both reject NaN and ±inf (naming the index), empty input, length mismatches, negative weights
//! and a total mass that is zero or overflows. Atoms of zero weight are allowed and dropped: they
//! change neither the CDF nor the quantile function.
//!
//! **Ties.** Equal values are kept as separate atoms, ordered by their input index (a stable
//! order), so every derived quantity (quantiles, the comonotone plan, gradients) is
//! deterministic.

use std::sync::{Mutex, OnceLock, PoisonError};

use ndarray::ArrayView1;

use crate::error::{check_same_len, check_values, Error, Result};

/// How the atoms of a sample are weighted.
#[derive(Debug, Clone, PartialEq)]
enum Weights {
    /// Every atom has mass `1/n`.
    Uniform,
    /// Normalised positive masses aligned with the sorted values, and their running sums with
    /// the last one set to exactly 1.
    Explicit {
        mass: Vec<f64>,
        cumulative: Vec<f64>,
    },
}

/// The input of a sample whose order is not computed yet: what [`Sample::order`] needs.
#[derive(Debug, Clone, PartialEq)]
enum Unsorted {
    /// Nothing kept: the order is set.
    None,
    /// The input values of a uniformly weighted sample.
    Values(Vec<f64>),
    /// The input values (as bits) and raw weights of a weighted sample; atoms of zero weight are
    /// in the input but not in the order.
    Weighted(Vec<(u64, f64)>),
}

/// A validated, sorted, weighted sample (a discrete probability measure on ℝ).
///
/// # Examples
///
/// ```
/// use aot::sample::Sample;
///
/// let s = Sample::new(&[3.0, 1.0, 2.0])?;
/// assert_eq!(s.sorted_values(), &[1.0, 2.0, 3.0]);
/// assert_eq!(s.original_index(0), 1); // the 1.0 was at index 1
/// assert_eq!(s.quantile(0.5)?, 2.0);  // Q(1/2) = inf{t : F(t) >= 1/2} = 2
/// # Ok::<(), aot::Error>(())
/// ```
#[derive(Debug)]
pub struct Sample {
    values: Vec<f64>,
    /// Input index of each sorted atom. [`Sample::new`] and [`Sample::weighted`] leave it empty
    /// and keep a copy of the input in `unsorted` instead: costs, dominance and W_p never look
    /// at input indices, and sorting without them moves half the bytes (plain values) or saves
    /// gathering the weights by index afterwards (weighted samples, which sort (value, weight)
    /// pairs). Plans and gradients compute it on first use, with the same stable tie order.
    order: OnceLock<Vec<usize>>,
    /// The input while `order` is not yet computed ([`Unsorted::None`] once it is, or when it
    /// was computed eagerly).
    unsorted: Mutex<Unsorted>,
    weights: Weights,
    input_len: usize,
}

impl Clone for Sample {
    fn clone(&self) -> Self {
        // The order is read while the lock is held: `order()` frees the copy of the input only
        // after the order is set, so the clone gets the order, the copy, or both.
        let unsorted = self.lock_unsorted();
        Self {
            values: self.values.clone(),
            order: self.order.clone(),
            unsorted: Mutex::new(unsorted.clone()),
            weights: self.weights.clone(),
            input_len: self.input_len,
        }
    }
}

/// Equal when the atoms, their masses and their input indices are equal.
impl PartialEq for Sample {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
            && self.weights == other.weights
            && self.input_len == other.input_len
            && self.order() == other.order()
    }
}

impl Sample {
    /// Builds the empirical measure `(1/n) Σ_i δ_{values_i}` of equally weighted sample values.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] for no value; [`Error::NonFinite`] naming the first NaN or ±inf.
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::sample::Sample;
    /// let s = Sample::new(&[0.5, -1.0])?;
    /// assert_eq!(s.cdf(0.0), 0.5);
    /// assert!(Sample::new(&[1.0, f64::NAN]).is_err());
    /// # Ok::<(), aot::Error>(())
    /// ```
    pub fn new(values: &[f64]) -> Result<Self> {
        check_values("Sample::new", "values", values)?;
        let (sorted, copy) = sorted_and_copy(values);
        Ok(Self {
            values: sorted,
            order: OnceLock::new(),
            unsorted: Mutex::new(Unsorted::Values(copy)),
            weights: Weights::Uniform,
            input_len: values.len(),
        })
    }

    /// Builds `Σ_i w_i δ_{values_i}` with `w_i = weights_i / Σ_j weights_j`.
    ///
    /// Values may repeat. Zero weights are allowed; those atoms are dropped.
    ///
    /// # Errors
    ///
    /// As [`Sample::new`], plus [`Error::LengthMismatch`], [`Error::NegativeWeight`], and
    /// [`Error::ZeroMass`] when the weights sum to zero or their sum overflows.
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::sample::Sample;
    /// let s = Sample::weighted(&[0.0, 1.0], &[3.0, 1.0])?;
    /// assert_eq!(s.cdf(0.0), 0.75);
    /// assert_eq!(s.quantile(0.75)?, 0.0);
    /// assert_eq!(s.quantile(0.76)?, 1.0);
    /// # Ok::<(), aot::Error>(())
    /// ```
    pub fn weighted(values: &[f64], weights: &[f64]) -> Result<Self> {
        Self::build_weighted("Sample::weighted", ("values", values), ("weights", weights))
    }

    /// Builds a measure from a histogram: distinct support points and their masses.
    ///
    /// # Errors
    ///
    /// As [`Sample::weighted`], plus [`Error::DuplicateSupport`] when two support points are
    /// equal (a histogram lists each point once; use [`Sample::weighted`] for repeated values).
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::sample::Sample;
    /// let h = Sample::from_histogram(&[0.0, 1.0, 2.0], &[1.0, 2.0, 1.0])?;
    /// assert_eq!(h.cdf(1.0), 0.75);
    /// assert!(Sample::from_histogram(&[0.0, 0.0], &[1.0, 1.0]).is_err());
    /// # Ok::<(), aot::Error>(())
    /// ```
    pub fn from_histogram(support: &[f64], masses: &[f64]) -> Result<Self> {
        let func = "Sample::from_histogram";
        let sample = Self::build_weighted(func, ("support", support), ("masses", masses))?;
        // Duplicates are checked on all input points, including zero-mass ones.
        let (sorted, order) = sort_with_index(support);
        if let Some(k) = sorted.windows(2).position(|w| w[0] == w[1]) {
            let (a, b) = (order[k].min(order[k + 1]), order[k].max(order[k + 1]));
            return Err(Error::DuplicateSupport {
                func,
                arg: "support",
                value: sorted[k],
                first: a,
                second: b,
            });
        }
        Ok(sample)
    }

    /// [`Sample::new`] for an ndarray view.
    ///
    /// # Errors
    ///
    /// As [`Sample::new`].
    pub fn from_array(values: ArrayView1<'_, f64>) -> Result<Self> {
        match values.as_slice() {
            Some(slice) => Self::new(slice),
            None => Self::new(&values.to_vec()),
        }
    }

    /// [`Sample::weighted`] for ndarray views.
    ///
    /// # Errors
    ///
    /// As [`Sample::weighted`].
    pub fn weighted_array(
        values: ArrayView1<'_, f64>,
        weights: ArrayView1<'_, f64>,
    ) -> Result<Self> {
        Self::weighted(&values.to_vec(), &weights.to_vec())
    }

    fn build_weighted(
        func: &'static str,
        (varg, values): (&'static str, &[f64]),
        (warg, weights): (&'static str, &[f64]),
    ) -> Result<Self> {
        check_values(func, varg, values)?;
        check_same_len(func, (varg, values.len()), (warg, weights.len()))?;
        crate::error::check_finite(func, warg, weights)?;
        if let Some(index) = weights.iter().position(|&w| w < 0.0) {
            return Err(Error::NegativeWeight {
                func,
                arg: warg,
                index,
                value: weights[index],
            });
        }
        let total: f64 = weights.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err(Error::ZeroMass {
                func,
                arg: warg,
                total,
            });
        }
        // (key, weight) pairs travel together through the sort, so the weights are never
        // gathered by index afterwards; the order is computed later, only if asked for.
        let keyed = || values.iter().zip(weights).map(|(&x, &w)| (radix_key(x), w));
        let (sorted, copy) = if values.len() < RADIX_MIN_LEN {
            // Stable, like the radix sort: ties stay in input order.
            let mut sorted: Vec<(u64, f64)> = keyed().collect();
            sorted.sort_by_key(|p| p.0);
            (sorted, vec![(0, 0.0); values.len()])
        } else {
            radix_sort(values.len(), keyed, |p| p.0)
        };
        let kept = sorted.iter().filter(|p| p.1 > 0.0).count();
        let mut kept_values = Vec::with_capacity(kept);
        let mut mass = Vec::with_capacity(kept);
        let mut cumulative = Vec::with_capacity(kept);
        let mut running = 0.0;
        for &(key, w) in sorted.iter().filter(|p| p.1 > 0.0) {
            let m = w / total;
            running += m;
            kept_values.push(from_radix_key(key));
            mass.push(m);
            cumulative.push(running);
        }
        drop(sorted);
        let mut copy = copy;
        for (slot, (&x, &w)) in copy.iter_mut().zip(values.iter().zip(weights)) {
            *slot = (x.to_bits(), w);
        }
        // The running sum of normalised masses ends within a few ulps of 1; the last level is 1
        // by definition, and fixing it makes the merge of two samples end on the same level.
        if let Some(last) = cumulative.last_mut() {
            *last = 1.0;
        }
        Ok(Self {
            values: kept_values,
            order: OnceLock::new(),
            unsorted: Mutex::new(Unsorted::Weighted(copy)),
            weights: Weights::Explicit { mass, cumulative },
            input_len: values.len(),
        })
    }

    /// Number of atoms with positive mass.
    #[allow(clippy::len_without_is_empty)] // a Sample is never empty
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Number of values the sample was built from, including zero-weight ones. Gradients with
    /// respect to the input values have this length.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Whether every atom has mass `1/n`.
    pub fn is_uniform(&self) -> bool {
        matches!(self.weights, Weights::Uniform)
    }

    /// The atoms' values, ascending (ties in input order).
    pub fn sorted_values(&self) -> &[f64] {
        &self.values
    }

    /// Input index of the `k`-th smallest atom.
    ///
    /// # Panics
    ///
    /// If `k >= self.len()` (a programming error, like slice indexing).
    #[track_caller]
    pub fn original_index(&self, k: usize) -> usize {
        self.order()[k]
    }

    /// Input indices of the atoms in ascending order of value.
    ///
    /// For a sample built by [`Sample::new`] or [`Sample::weighted`] the first call sorts the
    /// input indices (once; later calls return the stored order).
    pub fn order(&self) -> &[usize] {
        if let Some(order) = self.order.get() {
            return order;
        }
        let order = self.order.get_or_init(|| match &*self.lock_unsorted() {
            Unsorted::Values(values) => sorted_order(values),
            Unsorted::Weighted(input) => {
                let values: Vec<f64> = input.iter().map(|p| f64::from_bits(p.0)).collect();
                let mut order = sorted_order(&values);
                order.retain(|&i| input[i].1 > 0.0);
                order
            }
            Unsorted::None => unreachable!("the input is dropped only once the order is set"),
        });
        // The copy of the input served only this: free it, after the order is set (see
        // `Clone`).
        *self.lock_unsorted() = Unsorted::None;
        order
    }

    /// The kept input. A panic while the lock was held cannot leave it half-written (it is
    /// only read, or replaced whole), so a poisoned lock is used as is.
    fn lock_unsorted(&self) -> std::sync::MutexGuard<'_, Unsorted> {
        self.unsorted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Normalised mass of the `k`-th smallest atom.
    ///
    /// # Panics
    ///
    /// If `k >= self.len()`.
    #[track_caller]
    pub fn mass(&self, k: usize) -> f64 {
        match &self.weights {
            Weights::Uniform => {
                assert!(
                    k < self.values.len(),
                    "atom {k} out of range {}",
                    self.values.len()
                );
                1.0 / self.values.len() as f64
            }
            Weights::Explicit { mass, .. } => mass[k],
        }
    }

    /// Level `F(x_(k))` reached at the end of the `k`-th smallest atom: `Σ_{l <= k} w_l`, with the
    /// last level exactly 1.
    ///
    /// # Panics
    ///
    /// If `k >= self.len()`.
    #[track_caller]
    pub fn cumulative(&self, k: usize) -> f64 {
        match &self.weights {
            Weights::Uniform => {
                assert!(
                    k < self.values.len(),
                    "atom {k} out of range {}",
                    self.values.len()
                );
                (k + 1) as f64 / self.values.len() as f64
            }
            Weights::Explicit { cumulative, .. } => cumulative[k],
        }
    }

    /// The running sums of the masses when they are explicit (`None` for uniform weights, whose
    /// levels `(k + 1) / n` are computed on demand).
    pub(crate) fn explicit_cumulative(&self) -> Option<&[f64]> {
        match &self.weights {
            Weights::Uniform => None,
            Weights::Explicit { cumulative, .. } => Some(cumulative),
        }
    }

    /// Empirical CDF `F(t) = Σ_{k : x_k <= t} w_k` (right-continuous: ties at `t` count).
    ///
    /// A NaN `t` gives NaN (no atom compares with it).
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::sample::Sample;
    /// let s = Sample::new(&[1.0, 2.0, 2.0, 3.0])?;
    /// assert_eq!(s.cdf(0.0), 0.0);
    /// assert_eq!(s.cdf(2.0), 0.75);
    /// assert_eq!(s.cdf(10.0), 1.0);
    /// # Ok::<(), aot::Error>(())
    /// ```
    pub fn cdf(&self, t: f64) -> f64 {
        if t.is_nan() {
            return f64::NAN;
        }
        let below = self.values.partition_point(|&x| x <= t);
        if below == 0 {
            0.0
        } else {
            self.cumulative(below - 1)
        }
    }

    /// Left-continuous step quantile `Q(p) = inf { t : F(t) >= p }` for `p ∈ (0, 1]`, and
    /// `Q(0) = min x_k`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `p` is NaN or outside `[0, 1]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::sample::Sample;
    /// let s = Sample::new(&[10.0, 20.0])?;
    /// assert_eq!(s.quantile(0.5)?, 10.0); // F(10) = 1/2 >= 1/2
    /// assert_eq!(s.quantile(0.5000001)?, 20.0);
    /// assert_eq!(s.quantile(0.0)?, 10.0);
    /// # Ok::<(), aot::Error>(())
    /// ```
    pub fn quantile(&self, p: f64) -> Result<f64> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidParameter {
                func: "Sample::quantile",
                name: "p",
                value: p,
                expected: "a level in [0, 1]",
            });
        }
        let k = match &self.weights {
            Weights::Uniform => {
                // Smallest k with (k + 1)/n >= p, i.e. k = ceil(n p) - 1, guarded against the
                // rounding of n p by a direct check of the level.
                let n = self.values.len();
                let mut k = ((p * n as f64).ceil() as usize)
                    .saturating_sub(1)
                    .min(n - 1);
                while k > 0 && self.cumulative(k - 1) >= p {
                    k -= 1;
                }
                while self.cumulative(k) < p && k + 1 < n {
                    k += 1;
                }
                k
            }
            Weights::Explicit { cumulative, .. } => cumulative
                .partition_point(|&c| c < p)
                .min(self.values.len() - 1),
        };
        Ok(self.values[k])
    }

    /// Mean `Σ_k w_k x_k`.
    pub fn mean(&self) -> f64 {
        match &self.weights {
            Weights::Uniform => self.values.iter().sum::<f64>() / self.values.len() as f64,
            Weights::Explicit { mass, .. } => {
                self.values.iter().zip(mass).map(|(x, w)| x * w).sum()
            }
        }
    }

    /// Smallest atom.
    pub fn min(&self) -> f64 {
        self.values[0]
    }

    /// Largest atom.
    pub fn max(&self) -> f64 {
        self.values[self.values.len() - 1]
    }

    /// The law of `-X`: atoms negated and reversed, masses carried along.
    ///
    /// Its quantile function is `p ↦ -Q(1 - p)` (up to the value at jump levels), which is what
    /// the anti-monotone coupling pairs with.
    pub fn negated(&self) -> Self {
        let values: Vec<f64> = self.values.iter().rev().map(|x| -x).collect();
        let order: Vec<usize> = self.order().iter().rev().copied().collect();
        let weights = match &self.weights {
            Weights::Uniform => Weights::Uniform,
            Weights::Explicit { mass, .. } => {
                let mass: Vec<f64> = mass.iter().rev().copied().collect();
                let mut cumulative = Vec::with_capacity(mass.len());
                let mut running = 0.0;
                for &w in &mass {
                    running += w;
                    cumulative.push(running);
                }
                if let Some(last) = cumulative.last_mut() {
                    *last = 1.0;
                }
                Weights::Explicit { mass, cumulative }
            }
        };
        Self {
            values,
            order: OnceLock::from(order),
            unsorted: Mutex::new(Unsorted::None),
            weights,
            input_len: self.input_len,
        }
    }
}

/// Below this length a comparison sort beats the fixed cost of the radix passes (eight
/// histograms of 256 counts).
const RADIX_MIN_LEN: usize = 256;

/// The values sorted by [`f64::total_cmp`] (for finite values: ascending, with -0 before +0),
/// and a copy of the input in the sort's second buffer.
///
/// Equal keys under `total_cmp` are equal bit patterns, so the sorted values are exactly those of
/// [`sort_with_index`]; they just do not carry the indices along.
fn sorted_and_copy(values: &[f64]) -> (Vec<f64>, Vec<f64>) {
    if values.len() < RADIX_MIN_LEN {
        let mut sorted = values.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        return (sorted, values.to_vec());
    }
    let (keys, mut spare) = radix_sort(
        values.len(),
        || values.iter().map(|&x| radix_key(x)),
        |&k| k,
    );
    for (slot, x) in spare.iter_mut().zip(values) {
        *slot = x.to_bits();
    }
    // Both conversions reuse their buffer (same size and alignment).
    let sorted = keys.into_iter().map(from_radix_key).collect();
    let copy = spare.into_iter().map(f64::from_bits).collect();
    (sorted, copy)
}

/// Sorts finite values ascending, ties by input index; returns the sorted values and, for each,
/// its input index.
fn sort_with_index(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    if values.len() < RADIX_MIN_LEN {
        return sort_with_index_by_comparison(values);
    }
    let sorted = radix_sort_with_index(values);
    sorted
        .into_iter()
        .map(|(k, i)| (from_radix_key(k), i))
        .unzip()
}

/// The input indices of [`sort_with_index`] alone.
fn sorted_order(values: &[f64]) -> Vec<usize> {
    if values.len() < RADIX_MIN_LEN {
        return sort_with_index_by_comparison(values).1;
    }
    let sorted = radix_sort_with_index(values);
    // Not `into_iter().collect()`: that would reuse the pairs' allocation, twice the size needed,
    // for as long as the order lives.
    let mut order = Vec::with_capacity(sorted.len());
    order.extend(sorted.iter().map(|p| p.1));
    order
}

/// (radix key, input index) pairs sorted by key. The radix sort is stable, so equal keys stay
/// in input order: ties by input index.
fn radix_sort_with_index(values: &[f64]) -> Vec<(u64, usize)> {
    let pairs = || values.iter().map(|&x| radix_key(x)).zip(0..);
    let (sorted, spare) = radix_sort(values.len(), pairs, |p| p.0);
    // Freed before the caller builds its output from `sorted`.
    drop(spare);
    sorted
}

/// The comparison-sort version of [`sort_with_index`], used for short inputs and as the oracle
/// the radix path is tested against.
fn sort_with_index_by_comparison(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut pairs: Vec<(f64, usize)> = values.iter().copied().zip(0..).collect();
    // Values are finite here, so total_cmp agrees with numeric order except that -0 < +0; the
    // index breaks ties and makes the unstable sort deterministic.
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    pairs.into_iter().unzip()
}

/// Maps `x` to an integer whose unsigned order is the order of [`f64::total_cmp`]: negative
/// numbers have every bit flipped (larger magnitude, smaller key), the others only the sign bit.
fn radix_key(x: f64) -> u64 {
    let bits = x.to_bits();
    let sign_mask = ((bits as i64) >> 63) as u64; // all ones for negative numbers
    bits ^ (sign_mask | (1 << 63))
}

/// Inverse of [`radix_key`].
fn from_radix_key(key: u64) -> f64 {
    let bits = if key >> 63 == 1 {
        key ^ (1 << 63)
    } else {
        !key
    };
    f64::from_bits(bits)
}

/// Stable least-significant-digit radix sort of `n` items by a 64-bit key, one byte per pass.
///
/// `items` yields the `n` items in input order. It is read twice, once for all eight digit
/// histograms and once by the first pass that moves anything, so no keyed copy of the input is
/// made; a pass whose digit is the same for every item is skipped. Returns the sorted items and
/// the second buffer of `n` items (contents unspecified), for the caller to reuse: on large
/// inputs the first touch of freshly allocated pages costs about as much as a pass.
fn radix_sort<T, I>(n: usize, items: impl Fn() -> I, key: impl Fn(&T) -> u64) -> (Vec<T>, Vec<T>)
where
    T: Copy + Default,
    I: Iterator<Item = T>,
{
    let mut counts = [[0usize; 256]; 8];
    for item in items() {
        let k = key(&item);
        for (digit, count) in counts.iter_mut().enumerate() {
            count[((k >> (8 * digit)) & 0xff) as usize] += 1;
        }
    }
    let mut sorted = vec![T::default(); n];
    let mut spare = vec![T::default(); n];
    let mut moved = false;
    for (digit, count) in counts.iter_mut().enumerate() {
        if count.contains(&n) {
            continue;
        }
        // Counts become the first free slot of each bucket.
        let mut next = 0;
        for c in count.iter_mut() {
            let size = *c;
            *c = next;
            next += size;
        }
        let mut place = |item: T| {
            let bucket = ((key(&item) >> (8 * digit)) & 0xff) as usize;
            spare[count[bucket]] = item;
            count[bucket] += 1;
        };
        if moved {
            sorted.iter().for_each(|&item| place(item));
        } else {
            items().for_each(place);
        }
        std::mem::swap(&mut sorted, &mut spare);
        moved = true;
    }
    if !moved {
        // Every key is equal: the input order is sorted (and stable).
        for (slot, item) in sorted.iter_mut().zip(items()) {
            *slot = item;
        }
    }
    (sorted, spare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_input_with_names() {
        let e = Sample::new(&[]).unwrap_err();
        assert_eq!(e.to_string(), "Sample::new: argument `values` is empty");
        let e = Sample::new(&[0.0, f64::INFINITY]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Sample::new: argument `values` has a non-finite value inf at index 1"
        );
        let e = Sample::weighted(&[0.0, 1.0], &[1.0]).unwrap_err();
        assert!(matches!(
            e,
            Error::LengthMismatch {
                len: 2,
                other_len: 1,
                ..
            }
        ));
        let e = Sample::weighted(&[0.0, 1.0], &[1.0, -0.5]).unwrap_err();
        assert!(matches!(e, Error::NegativeWeight { index: 1, .. }));
        let e = Sample::weighted(&[0.0, 1.0], &[0.0, 0.0]).unwrap_err();
        assert!(matches!(e, Error::ZeroMass { .. }));
        let e = Sample::weighted(&[0.0, 1.0], &[f64::MAX, f64::MAX]).unwrap_err();
        assert!(
            matches!(e, Error::ZeroMass { .. }),
            "an overflowing total is rejected"
        );
        let e = Sample::weighted(&[0.0, 1.0], &[1.0, f64::NAN]).unwrap_err();
        assert!(matches!(
            e,
            Error::NonFinite {
                arg: "weights",
                index: 1,
                ..
            }
        ));
        let e = Sample::from_histogram(&[2.0, 1.0, 2.0], &[1.0, 1.0, 1.0]).unwrap_err();
        assert!(matches!(
            e,
            Error::DuplicateSupport {
                first: 0,
                second: 2,
                ..
            }
        ));
    }

    #[test]
    fn zero_weights_are_dropped_but_counted_as_inputs() {
        let s = Sample::weighted(&[5.0, 1.0, 3.0], &[1.0, 0.0, 1.0]).unwrap();
        assert_eq!(s.sorted_values(), &[3.0, 5.0]);
        assert_eq!(s.order(), &[2, 0]);
        assert_eq!(s.input_len(), 3);
        assert_eq!(s.cumulative(1), 1.0);
    }

    #[test]
    fn quantile_convention_on_ties_and_jumps() {
        // F jumps to 1/4 at 1, to 3/4 at 2 (two tied atoms), to 1 at 3.
        let s = Sample::new(&[2.0, 3.0, 1.0, 2.0]).unwrap();
        let cases = [
            (0.0, 1.0),
            (0.25, 1.0),
            (0.26, 2.0),
            (0.75, 2.0),
            (0.7500001, 3.0),
            (1.0, 3.0),
        ];
        for (p, q) in cases {
            assert_eq!(s.quantile(p).unwrap(), q, "Q({p})");
        }
        assert!(s.quantile(1.5).is_err());
        assert!(s.quantile(f64::NAN).is_err());
        // Ties keep input order: the 2.0 at index 0 comes before the 2.0 at index 3.
        assert_eq!(s.order(), &[2, 0, 3, 1]);
    }

    #[test]
    fn uniform_quantile_matches_definition_for_many_sizes() {
        // Q(p) = x_(ceil(n p)) for p in (0, 1]; check exact levels k/n, where rounding of n p
        // could pick the wrong atom.
        for n in 1..60usize {
            let values: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let s = Sample::new(&values).unwrap();
            for k in 1..=n {
                let p = k as f64 / n as f64;
                assert_eq!(s.quantile(p).unwrap(), (k - 1) as f64, "n={n}, p={k}/{n}");
            }
        }
    }

    /// xorshift64: a deterministic stream of bits for the test inputs.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn radix_sort_matches_the_comparison_sort() {
        // Oracle: sort_with_index_by_comparison (total_cmp, then input index). Inputs long
        // enough for the radix path, with many ties, both zeros, subnormals and extremes.
        let specials = [
            0.0,
            -0.0,
            f64::MIN_POSITIVE / 4.0,
            -f64::MIN_POSITIVE / 4.0,
            f64::MAX,
            -f64::MAX,
            1.0,
            -1.0,
        ];
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for n in [RADIX_MIN_LEN, 1000, 5000] {
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    let r = next();
                    match r % 4 {
                        0 => specials[(r >> 8) as usize % specials.len()],
                        1 => ((r >> 8) % 17) as f64 - 8.0,
                        _ => f64::from_bits(r >> 2) * if r & 2 == 0 { 1.0 } else { -1.0 },
                    }
                })
                .filter(|x| x.is_finite())
                .collect();
            let expected = sort_with_index_by_comparison(&values);
            assert_eq!(sort_with_index(&values), expected, "n = {n}");
            let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let (sorted, copy) = sorted_and_copy(&values);
            assert_eq!(bits(&sorted), bits(&expected.0), "n = {n}");
            assert_eq!(bits(&copy), bits(&values), "n = {n}");
            let s = Sample::new(&values).unwrap();
            assert_eq!(s.order(), &expected.1[..]);
        }
    }

    #[test]
    fn weighted_samples_match_a_comparison_sort_oracle() {
        // Oracle: the (value, index) comparison sort, atoms of zero weight dropped, masses
        // w_i / Σ w in that order and their running sum with the last level set to 1. Both
        // sides of RADIX_MIN_LEN, with ties, both zeros and zero weights.
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for n in [3, 10, RADIX_MIN_LEN - 1, RADIX_MIN_LEN, 1000, 5000] {
            let values: Vec<f64> = (0..n)
                .map(|_| match next() % 5 {
                    0 => 0.0,
                    1 => -0.0,
                    r => (next() % 23) as f64 * 0.5 - f64::from(r as u32),
                })
                .collect();
            let mut weights: Vec<f64> = (0..n)
                .map(|_| match next() % 4 {
                    0 => 0.0,
                    _ => (next() % 1000) as f64 / 250.0 + 0.01,
                })
                .collect();
            weights[0] = 1.0; // a positive total
            let total: f64 = weights.iter().sum();
            let (sorted, all_order) = sort_with_index_by_comparison(&values);
            let kept: Vec<usize> = (0..n).filter(|&k| weights[all_order[k]] > 0.0).collect();
            let order: Vec<usize> = kept.iter().map(|&k| all_order[k]).collect();
            let expected_values: Vec<u64> = kept.iter().map(|&k| sorted[k].to_bits()).collect();
            let expected_mass: Vec<f64> = order.iter().map(|&i| weights[i] / total).collect();

            let s = Sample::weighted(&values, &weights).unwrap();
            let bits: Vec<u64> = s.sorted_values().iter().map(|x| x.to_bits()).collect();
            assert_eq!(bits, expected_values, "n = {n}");
            assert_eq!(s.input_len(), n);
            let mut running = 0.0;
            for (k, &m) in expected_mass.iter().enumerate() {
                running += m;
                assert_eq!(s.mass(k), m, "n = {n}, k = {k}");
                let level = if k + 1 == order.len() { 1.0 } else { running };
                assert_eq!(s.cumulative(k), level, "n = {n}, k = {k}");
            }
            let copy = s.clone();
            assert_eq!(s.order(), &order[..], "n = {n}");
            assert_eq!(copy, s);
            assert_eq!(copy.order(), &order[..]);
        }
    }

    #[test]
    fn lazy_order_compares_and_clones_like_an_eager_one() {
        let values: Vec<f64> = (0..600).map(|i| f64::from((i * 37) % 101)).collect();
        let a = Sample::new(&values).unwrap();
        let b = a.clone();
        let _ = a.order(); // computed in `a` only; its copy of the input is freed
        assert_eq!(*a.lock_unsorted(), Unsorted::None);
        assert_eq!(a, b);
        assert_eq!(a.clone().order(), b.order());
        let mut reversed = values.clone();
        reversed.reverse();
        // Same atoms, other input indices: different samples.
        assert_ne!(Sample::new(&reversed).unwrap(), a);
    }

    #[test]
    fn negated_reverses_the_law() {
        let s = Sample::weighted(&[0.0, 1.0, 4.0], &[1.0, 2.0, 1.0]).unwrap();
        let t = s.negated();
        assert_eq!(t.sorted_values(), &[-4.0, -1.0, 0.0]);
        assert_eq!(t.order(), &[2, 1, 0]);
        assert_eq!(t.mass(1), 0.5);
        assert_eq!(t.mean(), -s.mean());
    }
}
