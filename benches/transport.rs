//! How optimal transport by sorting and by linear programming scale with the sample size `n`.
//!
//! Run with `cargo bench --bench transport`. Both solvers get two uniform samples of `n` atoms
//! (deterministic values) and the logistic cost: the sorting path
//! ([`aot::transport::ot_cost`], O(n log n)) for `n` from 10 to 10⁶, the simplex LP
//! ([`aot::exact::lp::lp_transport`], `n²` variables) for `n` from 5 to 80. Fit the exponent
//! `a` of `time ∝ n^a` by least squares on `log time` against `log n` from criterion's estimates.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use aot::cost::Surrogate;
use aot::exact::lp::lp_transport;
use aot::sample::Sample;
use aot::transport::ot_cost;

/// Deterministic, well-spread values: the fractional parts of `k·φ` (golden ratio), shuffled by
/// the multiplier so that the input is not already sorted.
fn values(n: usize, shift: f64) -> Vec<f64> {
    let phi = 0.618_033_988_749_894_9;
    (0..n)
        .map(|k| ((k as f64 * 7919.0 * phi).fract() * 4.0 - 2.0) + shift)
        .collect()
}

fn sorting(c: &mut Criterion) {
    let h = Surrogate::logistic(1.0).unwrap();
    let mut group = c.benchmark_group("sorting_ot_cost");
    group
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for n in [10usize, 100, 1_000, 10_000, 100_000, 1_000_000] {
        let (u, v) = (values(n, 0.3), values(n, 0.0));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            // Building the samples sorts them: that is part of the solver's cost.
            b.iter(|| {
                let (su, sv) = (Sample::new(&u).unwrap(), Sample::new(&v).unwrap());
                black_box(ot_cost(&su, &sv, &h).unwrap())
            });
        });
    }
    group.finish();
}

fn linear_program(c: &mut Criterion) {
    let h = Surrogate::logistic(1.0).unwrap();
    let mut group = c.benchmark_group("lp_transport");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    for n in [5usize, 10, 20, 40, 80] {
        let (u, v) = (values(n, 0.3), values(n, 0.0));
        let (su, sv) = (Sample::new(&u).unwrap(), Sample::new(&v).unwrap());
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(lp_transport(&su, &sv, &h).unwrap().cost));
        });
    }
    group.finish();
}

criterion_group!(benches, sorting, linear_program);
criterion_main!(benches);
