//! The quantile merge: the comonotone coupling of two samples as a list of segments.
//!
//! Two samples `U` and `V` have step quantile functions `Q_U`, `Q_V` on `(0, 1]`. Merging the
//! breakpoints of the two steps (the cumulative masses `A_i` of `U` and `B_j` of `V`, the
//! north-west-corner rule) cuts `(0, 1]` into at most `n + m - 1` intervals
//! `(level_start, level_end]` on which both quantiles are constant:
//!
//! ```text
//! Q_U(p) = u,  Q_V(p) = v   for p ∈ (level_start, level_end],   mass = level_end - level_start.
//! ```
//!
//! This one primitive carries everything else: the segments with their masses are the optimal
//! transport plan for every convex cost `h(u - v)` (see [`crate::transport`]); `U ≽ V` iff `u >= v`
//! on every segment (see [`crate::dominance`]); and `∫_0^1 g(Q_U(p), Q_V(p)) dp = Σ mass · g(u, v)`
//! for any `g`. With equal sizes and uniform weights it is "sort both and pair by rank".
//!
//! **Exact levels.** For two uniformly weighted samples of sizes `n` and `m`, levels are compared
//! as integers `i·m` vs `j·n`, so the merge is exact. With explicit weights, two levels within
//! 8 ulps of each other are treated as the same breakpoint, so that two representations of one
//! law (say `{1, 1, 2}` and the histogram `{1: 2/3, 2: 1/3}`) do not produce slivers of mass
//! 1e-17 from rounding of the running sums. Segments of zero mass are never produced.

use crate::sample::Sample;

/// One interval of levels on which both quantile functions are constant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Start of the level interval (exclusive).
    pub level_start: f64,
    /// End of the level interval (inclusive).
    pub level_end: f64,
    /// Its length, `level_end - level_start` (computed without cancellation for uniform weights).
    pub mass: f64,
    /// `Q_U` on the interval.
    pub u: f64,
    /// `Q_V` on the interval.
    pub v: f64,
    /// Rank of the `U` atom (position in [`Sample::sorted_values`]).
    pub u_rank: usize,
    /// Rank of the `V` atom.
    pub v_rank: usize,
}

/// Iterator over the segments of the comonotone coupling of two samples, in increasing level.
///
/// Built by [`segments`]. It allocates nothing: memory stays O(1) beyond the two samples.
#[derive(Debug, Clone)]
pub struct Segments<'a> {
    u: &'a Sample,
    v: &'a Sample,
    i: usize,
    j: usize,
    /// Previous breakpoint, as a float level and (for the integer path) in units of 1/(n m).
    prev: f64,
    prev_int: u128,
    exact: bool,
    /// Whether `n m` fits in a `u64`, so that the exact path can use 64-bit arithmetic (the
    /// same integers, converted to the same floats, only cheaper than `u128`).
    narrow: bool,
}

/// The comonotone (quantile) coupling of `u` and `v` as an iterator of [`Segment`]s.
///
/// # Examples
///
/// ```
/// use aot::{coupling::segments, sample::Sample};
///
/// // U uniform on {0, 1}, V uniform on {0, 1, 2}: breakpoints 1/2 and 1/3, 2/3 merge into
/// // (0, 1/3], (1/3, 1/2], (1/2, 2/3], (2/3, 1].
/// let u = Sample::new(&[1.0, 0.0])?;
/// let v = Sample::new(&[0.0, 1.0, 2.0])?;
/// let segs: Vec<_> = segments(&u, &v).map(|s| (s.mass, s.u, s.v)).collect();
/// let third = 1.0 / 3.0;
/// let sixth = 1.0 / 6.0;
/// assert_eq!(segs.len(), 4);
/// assert!((segs[0].0 - third).abs() < 1e-15 && segs[0].1 == 0.0 && segs[0].2 == 0.0);
/// assert!((segs[1].0 - sixth).abs() < 1e-15 && segs[1].1 == 0.0 && segs[1].2 == 1.0);
/// assert!((segs[2].0 - sixth).abs() < 1e-15 && segs[2].1 == 1.0 && segs[2].2 == 1.0);
/// assert!((segs[3].0 - third).abs() < 1e-15 && segs[3].1 == 1.0 && segs[3].2 == 2.0);
/// # Ok::<(), aot::Error>(())
/// ```
pub fn segments<'a>(u: &'a Sample, v: &'a Sample) -> Segments<'a> {
    Segments {
        u,
        v,
        i: 0,
        j: 0,
        prev: 0.0,
        prev_int: 0,
        exact: u.is_uniform() && v.is_uniform(),
        narrow: (u.len() as u64).checked_mul(v.len() as u64).is_some(),
    }
}

/// Integer levels of the exact merge, in units of `1/(n m)`.
trait Level: Copy + Ord + std::ops::Mul<Output = Self> + std::ops::Sub<Output = Self> {
    fn from_count(k: usize) -> Self;
    fn from_u128(x: u128) -> Self;
    fn to_u128(self) -> u128;
    fn to_f64(self) -> f64;
}

impl Level for u64 {
    fn from_count(k: usize) -> Self {
        k as u64
    }
    fn from_u128(x: u128) -> Self {
        // Only called on levels <= n m, which fit when `narrow` holds.
        x as u64
    }
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Level for u128 {
    fn from_count(k: usize) -> Self {
        k as u128
    }
    fn from_u128(x: u128) -> Self {
        x
    }
    fn to_u128(self) -> u128 {
        self
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Segments<'_> {
    fn next_exact<L: Level>(&mut self) -> Option<Segment> {
        let (n, m) = (L::from_count(self.u.len()), L::from_count(self.v.len()));
        let denom = n * m;
        let mut prev_int = L::from_u128(self.prev_int);
        let result = loop {
            if self.i >= self.u.len() || self.j >= self.v.len() {
                break None;
            }
            // Breakpoints in units of 1/(n m): A_{i+1} = (i+1) m, B_{j+1} = (j+1) n.
            let a = L::from_count(self.i + 1) * m;
            let b = L::from_count(self.j + 1) * n;
            let end = a.min(b);
            let (i, j) = (self.i, self.j);
            if a <= b {
                self.i += 1;
            }
            if b <= a {
                self.j += 1;
            }
            let start_int = prev_int;
            prev_int = end;
            if end == start_int {
                continue;
            }
            let level_start = start_int.to_f64() / denom.to_f64();
            let level_end = end.to_f64() / denom.to_f64();
            self.prev = level_end;
            break Some(Segment {
                level_start,
                level_end,
                mass: (end - start_int).to_f64() / denom.to_f64(),
                u: self.u.sorted_values()[i],
                v: self.v.sorted_values()[j],
                u_rank: i,
                v_rank: j,
            });
        };
        self.prev_int = prev_int.to_u128();
        result
    }

    fn next_float(&mut self) -> Option<Segment> {
        loop {
            if self.i >= self.u.len() || self.j >= self.v.len() {
                return None;
            }
            let a = self.u.cumulative(self.i);
            let b = self.v.cumulative(self.j);
            let (i, j) = (self.i, self.j);
            let same = (a - b).abs() <= 8.0 * f64::EPSILON * a.max(b);
            let end = if same { a.max(b) } else { a.min(b) };
            if same || a < b {
                self.i += 1;
            }
            if same || b < a {
                self.j += 1;
            }
            let start = self.prev;
            if end <= start {
                continue;
            }
            self.prev = end;
            return Some(Segment {
                level_start: start,
                level_end: end,
                mass: end - start,
                u: self.u.sorted_values()[i],
                v: self.v.sorted_values()[j],
                u_rank: i,
                v_rank: j,
            });
        }
    }
}

impl Segments<'_> {
    fn fold_exact<L: Level, B, F>(self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Segment) -> B,
    {
        let (us, vs) = (self.u.sorted_values(), self.v.sorted_values());
        let (n, m) = (L::from_count(us.len()), L::from_count(vs.len()));
        let denom = (n * m).to_f64();
        let (mut i, mut j) = (self.i, self.j);
        let mut prev = L::from_u128(self.prev_int);
        let mut acc = init;
        if us.len() == vs.len() && i == j {
            // Pairs by rank; every segment has mass m / (n m), as the general loop computes it.
            let mass = m.to_f64() / denom;
            for (k, (&u, &v)) in us.iter().zip(vs).enumerate().skip(i) {
                let level_start = (L::from_count(k) * m).to_f64() / denom;
                let level_end = (L::from_count(k + 1) * m).to_f64() / denom;
                let segment = Segment {
                    level_start,
                    level_end,
                    mass,
                    u,
                    v,
                    u_rank: k,
                    v_rank: k,
                };
                acc = f(acc, segment);
            }
            return acc;
        }
        while i < us.len() && j < vs.len() {
            // As in `next_exact`; here the end level strictly increases at every step.
            let a = L::from_count(i + 1) * m;
            let b = L::from_count(j + 1) * n;
            let end = a.min(b);
            let segment = Segment {
                level_start: prev.to_f64() / denom,
                level_end: end.to_f64() / denom,
                mass: (end - prev).to_f64() / denom,
                u: us[i],
                v: vs[j],
                u_rank: i,
                v_rank: j,
            };
            i += usize::from(a <= b);
            j += usize::from(b <= a);
            if end > prev {
                acc = f(acc, segment);
            }
            prev = end;
        }
        acc
    }

    fn fold_float<B, F>(self, init: B, f: F) -> B
    where
        F: FnMut(B, Segment) -> B,
    {
        let (n, m) = (self.u.len() as f64, self.v.len() as f64);
        match (self.u.explicit_cumulative(), self.v.explicit_cumulative()) {
            (Some(a), Some(b)) => self.fold_levels(|i| a[i], |j| b[j], init, f),
            (Some(a), None) => self.fold_levels(|i| a[i], |j| (j + 1) as f64 / m, init, f),
            (None, Some(b)) => self.fold_levels(|i| (i + 1) as f64 / n, |j| b[j], init, f),
            // Two uniform samples take the exact path; this arm keeps the match total.
            (None, None) => {
                let (a, b) = (|i| (i + 1) as f64 / n, |j| (j + 1) as f64 / m);
                self.fold_levels(a, b, init, f)
            }
        }
    }

    /// The loop of `next_float`, with the cumulative levels of each side given directly.
    fn fold_levels<B, F>(
        self,
        level_u: impl Fn(usize) -> f64,
        level_v: impl Fn(usize) -> f64,
        init: B,
        mut f: F,
    ) -> B
    where
        F: FnMut(B, Segment) -> B,
    {
        let (us, vs) = (self.u.sorted_values(), self.v.sorted_values());
        let (mut i, mut j, mut prev) = (self.i, self.j, self.prev);
        let mut acc = init;
        while i < us.len() && j < vs.len() {
            let (a, b) = (level_u(i), level_v(j));
            let same = (a - b).abs() <= 8.0 * f64::EPSILON * a.max(b);
            let end = if same { a.max(b) } else { a.min(b) };
            let segment = Segment {
                level_start: prev,
                level_end: end,
                mass: end - prev,
                u: us[i],
                v: vs[j],
                u_rank: i,
                v_rank: j,
            };
            i += usize::from(same || a < b);
            j += usize::from(same || b < a);
            if end > prev {
                prev = end;
                acc = f(acc, segment);
            }
        }
        acc
    }
}

impl Iterator for Segments<'_> {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        if self.exact && self.narrow {
            self.next_exact::<u64>()
        } else if self.exact {
            self.next_exact::<u128>()
        } else {
            self.next_float()
        }
    }

    /// The same segments as repeated [`Iterator::next`], bit for bit, from a loop specialised
    /// once for the case (equal sizes, unequal sizes with integer levels, explicit weights)
    /// rather than dispatched at every step. Sums over the coupling (`for_each`, `map(..).sum`,
    /// `fold`) go through here, and the compiler drops whatever fields they do not read.
    fn fold<B, F>(self, init: B, f: F) -> B
    where
        F: FnMut(B, Segment) -> B,
    {
        if self.exact && self.narrow {
            self.fold_exact::<u64, B, F>(init, f)
        } else if self.exact {
            self.fold_exact::<u128, B, F>(init, f)
        } else {
            self.fold_float(init, f)
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left =
            (self.u.len() - self.i.min(self.u.len())) + (self.v.len() - self.j.min(self.v.len()));
        (0, Some(left))
    }
}

/// `∫_0^1 g(Q_U(p), Q_V(p)) dp = Σ_segments mass · g(u, v)`, summed with Neumaier compensation.
///
/// # Examples
///
/// ```
/// use aot::{coupling::integrate, sample::Sample};
/// let u = Sample::new(&[0.0, 2.0])?;
/// let v = Sample::new(&[1.0, 1.0, 1.0])?;
/// // ∫ (Q_U - Q_V) dp = mean(U) - mean(V) = 1 - 1 = 0
/// assert!(integrate(&u, &v, |a, b| a - b).abs() < 1e-15);
/// # Ok::<(), aot::Error>(())
/// ```
pub fn integrate(u: &Sample, v: &Sample, mut g: impl FnMut(f64, f64) -> f64) -> f64 {
    let mut sum = CompensatedSum::default();
    segments(u, v).for_each(|s| sum.add(s.mass * g(s.u, s.v)));
    sum.value()
}

/// Neumaier's compensated summation: error O(ε) independent of the number of terms, for sums of
/// terms of mixed size such as `Σ mass · h(u - v)` over millions of segments.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    pub(crate) fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sizes_pair_by_rank() {
        let u = Sample::new(&[3.0, 1.0, 2.0]).unwrap();
        let v = Sample::new(&[30.0, 20.0, 10.0]).unwrap();
        let segs: Vec<_> = segments(&u, &v).collect();
        assert_eq!(segs.len(), 3);
        for (k, s) in segs.iter().enumerate() {
            assert_eq!((s.u_rank, s.v_rank), (k, k));
            assert_eq!(s.v, 10.0 * s.u);
            assert_eq!(s.mass, 1.0 / 3.0);
        }
        assert_eq!(segs[2].level_end, 1.0);
    }

    #[test]
    fn weighted_merge_has_at_most_n_plus_m_minus_one_segments() {
        let u = Sample::weighted(&[0.0, 1.0, 2.0], &[0.2, 0.5, 0.3]).unwrap();
        let v = Sample::weighted(&[0.0, 1.0], &[0.6, 0.4]).unwrap();
        let segs: Vec<_> = segments(&u, &v).collect();
        // Breakpoints 0.2, 0.7, 1 and 0.6, 1 merge into 0.2, 0.6, 0.7, 1: 4 = 3 + 2 - 1 segments.
        let masses: Vec<f64> = segs.iter().map(|s| s.mass).collect();
        let expected = [0.2, 0.4, 0.1, 0.3];
        assert_eq!(masses.len(), 4);
        for (a, b) in masses.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15, "{masses:?}");
        }
        assert_eq!(
            segs.iter()
                .map(|s| (s.u_rank, s.v_rank))
                .collect::<Vec<_>>(),
            vec![(0, 0), (1, 0), (1, 1), (2, 1)]
        );
    }

    #[test]
    fn two_representations_of_one_law_merge_without_slivers() {
        let a = Sample::weighted(&[1.0, 1.0, 2.0, 5.0], &[0.1, 0.2, 0.3, 0.4]).unwrap();
        let b = Sample::from_histogram(&[1.0, 2.0, 5.0], &[0.3, 0.3, 0.4]).unwrap();
        for s in segments(&a, &b) {
            assert_eq!(s.u, s.v, "{s:?}");
        }
    }

    #[test]
    fn wide_and_narrow_exact_levels_agree() {
        // The u128 path is taken only when n m overflows u64, which no test can allocate; run
        // it directly on small sizes and compare with the u64 path bit for bit.
        let u = Sample::new(&[0.5, 3.0, -1.0, 2.0, 2.0, 7.0, 0.0]).unwrap();
        let v = Sample::new(&[1.0, 0.0, 4.0, -2.0, 3.0]).unwrap();
        let narrow: Vec<Segment> = segments(&u, &v).collect();
        let mut wide_iter = segments(&u, &v);
        let wide: Vec<Segment> = std::iter::from_fn(|| wide_iter.next_exact::<u128>()).collect();
        assert_eq!(narrow.len(), 7 + 5 - 1); // gcd(7, 5) = 1: every breakpoint is distinct
        assert_eq!(narrow, wide);
    }

    #[test]
    fn compensated_sum_keeps_small_terms() {
        let mut s = CompensatedSum::default();
        s.add(1.0);
        for _ in 0..1000 {
            s.add(1e-17);
        }
        s.add(-1.0);
        // A plain sum returns 0 here (each 1e-17 is below half an ulp of 1). The compensation
        // term is itself a plain sum of 1000 terms, hence a relative error of about 1e-13.
        assert!((s.value() - 1e-14).abs() < 1e-25, "{}", s.value());
    }
}
