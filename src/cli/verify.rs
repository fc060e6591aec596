//! `aot verify`: sorting against independent exact solvers, over costs, sizes and seeds.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use aot::plot::{Chart, Series};
use aot::verify::{
    instance_count, run_sweep, Plan, Summary, SweepConfig, SweepReport, CONVEX_TOLERANCE,
};

/// Flags of `aot verify`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Run the small plan (203 instances, under 3 s) instead of the full one (862 instances up
    /// to n = 100000, under 20 s on 2 cores).
    #[arg(long)]
    quick: bool,
    /// Master seed of the instance generator; the same seed gives the same records whatever the
    /// number of threads.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object (instances, max_abs_gap, max_duality_gap, counterexamples_found,
    /// seed, per-family summaries) instead of the tables.
    #[arg(long)]
    json: bool,
    /// Write instances.csv (one row per instance), entropic.csv (one row per entropic solve),
    /// gaps.png/svg and entropic.png/svg to this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Runs `aot verify`; exit status 1 when a convex instance disagrees beyond the tolerance.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = if args.quick {
        Plan::Quick
    } else {
        Plan::Default
    };
    let config = SweepConfig {
        seed: args.seed,
        plan,
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(instance_count(plan) as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} instances, {elapsed} {msg}")
                .context("progress bar template")?,
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let report = run_sweep(&config, &|_| bar.inc(1))?;
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let mut written = Vec::new();
    if let Some(dir) = &args.out {
        written = write_outputs(dir, &report)?;
    }
    let s = &report.summary;
    if args.json {
        let out = json!({
            "seed": args.seed,
            "plan": plan,
            "instances": s.instances,
            "max_abs_gap": s.max_abs_gap,
            "max_duality_gap": s.max_duality_gap,
            "max_worst_gap": s.max_worst_gap,
            "counterexamples_found": s.counterexamples_found,
            "max_counterexample_gap": s.max_counterexample_gap,
            "disagreements": s.disagreements,
            "entropic_solves": s.entropic_solves,
            "entropic_converged": s.entropic_converged,
            "relative_tolerance": CONVEX_TOLERANCE,
            "seconds": elapsed,
            "families": report.families,
            "files": written,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_tables(&report, elapsed);
        for f in &written {
            println!("wrote {}", f.display());
        }
    }
    Ok(if s.disagreements == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_tables(report: &SweepReport, elapsed: f64) {
    let s = &report.summary;
    println!(
        "aot verify: {} instances, seed {}, {:.1} s",
        s.instances, report.config.seed, elapsed
    );
    println!(
        "sorted plan vs LP (microlp simplex), brute force over permutations, dual certificate,"
    );
    println!(
        "entropic semi-dual bounds (argmin L-BFGS); tolerance {CONVEX_TOLERANCE:e} x cost scale\n"
    );
    println!(
        "{:<18} {:>6} {:>9} {:>7} {:>12} {:>12} {:>12} {:>9} {:>12} {:>8}",
        "family",
        "convex",
        "instances",
        "exact",
        "max|gap|",
        "max dual",
        "max|worst|",
        "counterex",
        "max cx gap",
        "entropic"
    );
    let row = |f: &Summary| {
        // Gaps against an optimum are meaningful for convex costs only; counterexamples exist
        // for non-convex costs only.
        let convex_only = |x: f64| {
            if f.convex {
                format!("{x:.2e}")
            } else {
                "-".to_string()
            }
        };
        let nonconvex_only = |x: String| if f.convex { "-".to_string() } else { x };
        println!(
            "{:<18} {:>6} {:>9} {:>7} {:>12} {:>12} {:>12} {:>9} {:>12} {:>8}",
            f.family,
            if f.convex { "yes" } else { "no" },
            f.instances,
            f.exact_checked,
            convex_only(f.max_abs_gap),
            convex_only(f.max_duality_gap),
            convex_only(f.max_worst_gap),
            nonconvex_only(f.counterexamples_found.to_string()),
            nonconvex_only(format!("{:.4}", f.max_counterexample_gap)),
            format!("{}/{}", f.entropic_converged, f.entropic_solves),
        );
    };
    for f in &report.families {
        row(f);
    }
    println!();
    println!(
        "convex: max |sorted - exact| = {:.2e}, max dual suboptimality bound = {:.2e}, \
         max |antitone - worst| = {:.2e}",
        s.max_abs_gap, s.max_duality_gap, s.max_worst_gap
    );
    println!(
        "non-convex: sorting not optimal in {} instances (largest excess {:.4})",
        s.counterexamples_found, s.max_counterexample_gap
    );
    let unconverged: Vec<_> = report.entropic.iter().filter(|e| !e.converged).collect();
    println!(
        "entropic: {}/{} solves converged",
        s.entropic_converged, s.entropic_solves
    );
    for e in unconverged.iter().take(5) {
        println!(
            "  not converged: instance {} {} eps/range {:e}: {} (marginal error {:.1e})",
            e.id, e.cost, e.relative_epsilon, e.termination, e.marginal_error
        );
    }
    if let Some(cx) = report
        .records
        .iter()
        .filter(|r| r.counterexample)
        .max_by(|a, b| {
            a.abs_gap
                .unwrap_or(0.0)
                .total_cmp(&b.abs_gap.unwrap_or(0.0))
        })
    {
        println!(
            "largest counterexample: instance {} {} n={} m={}: sorted {:.6}, optimum {:.6}\n  {}",
            cx.id,
            cx.cost,
            cx.n,
            cx.m,
            cx.sorted_cost,
            cx.exact_cost.unwrap_or(f64::NAN),
            cx.samples
        );
    }
    if s.disagreements == 0 {
        println!("PASS: every convex instance agrees with every exact check");
    } else {
        println!("FAIL: {} convex instances disagree:", s.disagreements);
        for r in report.records.iter().filter(|r| !r.agrees).take(10) {
            println!(
                "  instance {} {} n={} m={}: sorted {} exact {:?} dual bound {:?} {}",
                r.id, r.cost, r.n, r.m, r.sorted_cost, r.exact_cost, r.duality_gap, r.error
            );
        }
    }
}

fn write_outputs(dir: &Path, report: &SweepReport) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut files = Vec::new();
    let path = dir.join("instances.csv");
    let mut w = csv::Writer::from_path(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    for r in &report.records {
        w.serialize(r)?;
    }
    w.flush()?;
    files.push(path);
    let path = dir.join("entropic.csv");
    let mut w = csv::Writer::from_path(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    for r in &report.entropic {
        w.serialize(r)?;
    }
    w.flush()?;
    files.push(path);

    // Gaps against n·m on log axes; an exact zero is drawn at FLOOR.
    const FLOOR: f64 = 1e-18;
    let max_size = report
        .records
        .iter()
        .map(|r| (r.n * r.m) as f64)
        .fold(1.0, f64::max);
    let pts = |f: &dyn Fn(&aot::verify::InstanceRecord) -> Option<f64>, convex: bool| {
        report
            .records
            .iter()
            .filter(|r| r.convex == convex)
            .filter_map(|r| f(r).map(|g| ((r.n * r.m) as f64, g.abs().max(FLOOR))))
            .collect::<Vec<_>>()
    };
    let chart = Chart::new(
        "Sorted plan vs exact solvers: convex costs agree to rounding, non-convex do not",
        "instance size n·m",
        "gap in cost units (exact 0 drawn at 1e-18)",
    )
    .log_x()
    .log_y()
    .series(Series::points(
        "convex: |sorted − LP or brute force|",
        pts(&|r| r.abs_gap, true),
    ))
    .series(Series::points(
        "convex: dual certificate suboptimality bound",
        pts(&|r| r.duality_gap, true),
    ))
    .series(Series::points(
        "non-convex counterexamples: sorted − optimum",
        pts(&|r| r.abs_gap.filter(|_| r.counterexample), false),
    ))
    .series(Series::dashed(
        "tolerance 1e-9 × scale",
        vec![(1.0, CONVEX_TOLERANCE), (max_size, CONVEX_TOLERANCE)],
    ));
    files.extend(chart.save(&dir.join("gaps"))?);

    if !report.entropic.is_empty() {
        // Relative to the cost range, which is ε / (ε / range).
        let rel = |e: &aot::verify::EntropicRecord, x: f64| x * e.relative_epsilon / e.epsilon;
        let width: Vec<(f64, f64)> = report
            .entropic
            .iter()
            .map(|e| {
                (
                    e.relative_epsilon,
                    rel(e, e.upper_bound - e.lower_bound).max(FLOOR),
                )
            })
            .collect();
        let excess: Vec<(f64, f64)> = report
            .entropic
            .iter()
            .map(|e| {
                (
                    e.relative_epsilon,
                    rel(e, (e.semi_dual - e.sorted_cost).abs()).max(FLOOR),
                )
            })
            .collect();
        // OT_ε − OT <= ε·min(H(a), H(b)) <= ε·log(min(n, m)).
        let h_max = report
            .entropic
            .iter()
            .map(|e| (e.n.min(e.m) as f64).ln())
            .fold(0.0, f64::max);
        let eps: Vec<f64> = report.entropic.iter().map(|e| e.relative_epsilon).collect();
        let (lo, hi) = eps
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(l, h), &x| (l.min(x), h.max(x)));
        let chart = Chart::new(
            "Entropic semi-dual (argmin L-BFGS): OT_ε → sorted cost and the bounds close as ε → 0",
            "ε / cost range",
            "divided by the cost range",
        )
        .log_x()
        .log_y()
        .series(Series::points("upper − lower bound on OT", width))
        .series(Series::points("OT_ε − sorted cost", excess))
        .series(Series::dashed(
            "ε·log(min(n, m)), bound on OT_ε − OT",
            vec![(lo, lo * h_max), (hi, hi * h_max)],
        ));
        files.extend(chart.save(&dir.join("entropic"))?);
    }
    Ok(files)
}
