//! Criterion benchmarks of the hot paths: building samples (the sort), the quantile merge, the
//! OT cost and plan, the violation measures and the relaxed-violation gradient.
//!
//! `cargo bench --bench core` (add `-- --quick` for a short run, or a filter such as `merge`).
//! Inputs are seeded normal draws, `U ~ N(0.5, 1)` and `V ~ N(0, 1)`, so every run sees the same
//! data; "unequal" pairs `n` with `3n/4 + 1` values (a merge of `n + m - 1` segments), and
//! "weighted" draws weights uniformly on `[0.1, 2]`.

use std::hint::black_box;

use aot::cost::Surrogate;
use aot::coupling::{integrate, segments};
use aot::dominance::{fsd, violation};
use aot::objective::{preference_loss, relaxed_violation, Loss, PreferenceBatch};
use aot::sample::Sample;
use aot::transport::{ot_cost, ot_plan, wasserstein};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::Normal;

const SIZES: [usize; 2] = [1_000, 100_000];

fn draws(seed: u64, n: usize, mean: f64) -> Vec<f64> {
    let normal = Normal::new(mean, 1.0).expect("unit variance is valid");
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.sample(normal)).collect()
}

fn weights(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0.1..2.0)).collect()
}

/// The three input shapes of `bench/compare`: equal sizes, unequal sizes, weighted.
fn pairs(n: usize) -> Vec<(&'static str, Sample, Sample)> {
    let (u, v) = (draws(1, n, 0.5), draws(2, n, 0.0));
    let v_short = draws(3, 3 * n / 4 + 1, 0.0);
    let (wu, wv) = (weights(4, n), weights(5, n));
    let sample = |x: &[f64]| Sample::new(x).expect("finite draws");
    let weighted = |x: &[f64], w: &[f64]| Sample::weighted(x, w).expect("positive weights");
    vec![
        ("equal", sample(&u), sample(&v)),
        ("unequal", sample(&u), sample(&v_short)),
        ("weighted", weighted(&u, &wu), weighted(&v, &wv)),
    ]
}

fn sample_construction(c: &mut Criterion) {
    let mut group = c.benchmark_group("sample");
    for n in SIZES {
        let (x, w) = (draws(1, n, 0.5), weights(4, n));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("new", n), &x, |b, x| {
            b.iter(|| Sample::new(black_box(x)).expect("finite"));
        });
        group.bench_with_input(
            BenchmarkId::new("weighted", n),
            &(x.clone(), w),
            |b, (x, w)| {
                b.iter(|| Sample::weighted(black_box(x), black_box(w)).expect("valid"));
            },
        );
        group.bench_with_input(BenchmarkId::new("std_sort_floor", n), &x, |b, x| {
            b.iter_batched(
                || x.clone(),
                |mut y| {
                    y.sort_unstable_by(f64::total_cmp);
                    y
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn quantile_merge(c: &mut Criterion) {
    let mut group = c.benchmark_group("merge");
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        for (case, u, v) in pairs(n) {
            group.bench_function(BenchmarkId::new(format!("segments/{case}"), n), |b| {
                b.iter(|| segments(black_box(&u), black_box(&v)).count());
            });
            group.bench_function(BenchmarkId::new(format!("integrate/{case}"), n), |b| {
                b.iter(|| integrate(black_box(&u), black_box(&v), |a, b| (a - b).abs()));
            });
        }
    }
    group.finish();
}

fn transport(c: &mut Criterion) {
    let mut group = c.benchmark_group("transport");
    let logistic = Surrogate::logistic(1.0).expect("beta = 1 is valid");
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        for (case, u, v) in pairs(n) {
            group.bench_function(
                BenchmarkId::new(format!("ot_cost_logistic/{case}"), n),
                |b| {
                    b.iter(|| ot_cost(black_box(&u), black_box(&v), &logistic).expect("finite"));
                },
            );
            group.bench_function(BenchmarkId::new(format!("ot_plan/{case}"), n), |b| {
                b.iter(|| ot_plan(black_box(&u), black_box(&v), &logistic).expect("finite"));
            });
            group.bench_function(BenchmarkId::new(format!("w2/{case}"), n), |b| {
                b.iter(|| wasserstein(black_box(&u), black_box(&v), 2.0).expect("p = 2"));
            });
        }
    }
    group.finish();
}

fn dominance(c: &mut Criterion) {
    let mut group = c.benchmark_group("dominance");
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        for (case, u, v) in pairs(n) {
            group.bench_function(BenchmarkId::new(format!("violation/{case}"), n), |b| {
                b.iter(|| violation(black_box(&u), black_box(&v)));
            });
            group.bench_function(BenchmarkId::new(format!("fsd/{case}"), n), |b| {
                b.iter(|| fsd(black_box(&u), black_box(&v)));
            });
        }
    }
    group.finish();
}

fn gradients(c: &mut Criterion) {
    let mut group = c.benchmark_group("gradient");
    let logistic = Surrogate::logistic(1.0).expect("beta = 1 is valid");
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        for (case, u, v) in pairs(n) {
            group.bench_function(
                BenchmarkId::new(format!("relaxed_violation/{case}"), n),
                |b| {
                    b.iter(|| relaxed_violation(black_box(&u), black_box(&v), &logistic));
                },
            );
        }
    }
    // A training-sized batch: the AOT unpaired loss and its gradient on 64 pairs, end to end.
    let (c0, r0) = (draws(6, 64, -10.0), draws(7, 64, -11.0));
    let (c1, r1) = (draws(8, 64, -10.0), draws(9, 64, -11.0));
    let batch = PreferenceBatch {
        policy_chosen: &c0,
        policy_rejected: &r0,
        reference_chosen: &c1,
        reference_rejected: &r1,
    };
    for loss in [Loss::AotUnpaired, Loss::AotPaired, Loss::Dpo] {
        group.bench_function(
            BenchmarkId::new("preference_loss_batch64", loss.name()),
            |b| {
                b.iter(|| preference_loss(black_box(&batch), loss, &logistic).expect("finite"));
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = sample_construction, quantile_merge, transport, dominance, gradients
}
criterion_main!(benches);
