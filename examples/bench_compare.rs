//! The Rust side of `bench/compare`: times this toolkit's W1, W2 and logistic `ε_h` on the input
//! files that `bench/compare.py` wrote, next to the sort floor, and draws the combined results.
//!
//! ```text
//! cargo run --release --example bench_compare -- time DATA_DIR OUT.csv
//! cargo run --release --example bench_compare -- plot RESULTS.csv OUT_STEM
//! ```
//!
//! `time` reads `DATA_DIR/manifest.csv` (columns `case,n,m,weighted,runs`) and, for each row, the
//! raw little-endian f64 files `CASE_N_u.f64`, `CASE_N_v.f64` and, when weighted,
//! `CASE_N_wu.f64`, `CASE_N_wv.f64`. Each method is run once to warm up, then `runs` times; the
//! clock runs around the computation only (building the samples from slices already in memory,
//! then the merge), never around file reading or process start-up. The floor copies both inputs
//! and sorts them with the standard library's unstable sort, in this same process; for weighted
//! inputs a second floor sorts (value, weight) pairs.
//!
//! `plot` draws, for each case, the median time of the floor, W1 and `ε_h` against `n` per method
//! (log-log), as PNG and SVG.

use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aot::cost::Surrogate;
use aot::objective::relaxed_violation;
use aot::plot::{Chart, Series};
use aot::sample::Sample;
use aot::transport::{ot_cost, wasserstein};

type BoxResult<T> = Result<T, Box<dyn Error>>;

/// A timed computation returning one number (its value is checked against the peers').
type Method<'a> = Box<dyn Fn() -> BoxResult<f64> + 'a>;

/// Slope of the logistic cost `h(x) = log(1 + e^{-βx})` used on both sides.
const BETA: f64 = 1.0;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["time", data, out] => time(Path::new(data), Path::new(out)),
        ["plot", results, stem] => plot(Path::new(results), Path::new(stem)),
        _ => Err("usage: bench_compare time DATA_DIR OUT.csv | plot RESULTS.csv OUT_STEM".into()),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_compare: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Reads a raw little-endian f64 file.
fn read_f64(path: &Path) -> BoxResult<Vec<f64>> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 8 != 0 {
        return Err(format!(
            "{}: size {} is not a multiple of 8",
            path.display(),
            bytes.len()
        )
        .into());
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// One input pair: values and, for the weighted case, weights.
struct Inputs {
    u: Vec<f64>,
    v: Vec<f64>,
    weights: Option<(Vec<f64>, Vec<f64>)>,
}

impl Inputs {
    fn samples(&self) -> aot::Result<(Sample, Sample)> {
        match &self.weights {
            None => Ok((Sample::new(&self.u)?, Sample::new(&self.v)?)),
            Some((wu, wv)) => Ok((
                Sample::weighted(&self.u, wu)?,
                Sample::weighted(&self.v, wv)?,
            )),
        }
    }
}

/// Median and minimum of `runs` timed calls (after one warm-up call), and the value of the last.
fn measure(runs: usize, mut f: impl FnMut() -> BoxResult<f64>) -> BoxResult<(f64, f64, f64)> {
    black_box(f()?);
    let mut times = Vec::with_capacity(runs);
    let mut value = f64::NAN;
    for _ in 0..runs {
        let start = Instant::now();
        value = black_box(f()?);
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_unstable_by(f64::total_cmp);
    Ok((times[times.len() / 2], times[0], value))
}

fn time(data: &Path, out: &Path) -> BoxResult<()> {
    let manifest = data.join("manifest.csv");
    let mut reader =
        csv::Reader::from_path(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let mut writer = csv::Writer::from_path(out)?;
    writer.write_record([
        "case", "n", "m", "method", "median_s", "min_s", "runs", "value",
    ])?;
    let h = Surrogate::logistic(BETA)?;
    for row in reader.records() {
        let row = row?;
        let (case, n, m, weighted, runs) = (
            row[0].to_string(),
            row[1].parse::<usize>()?,
            row[2].parse::<usize>()?,
            &row[3] == "1",
            row[4].parse::<usize>()?,
        );
        let file = |side: &str| data.join(format!("{case}_{n}_{side}.f64"));
        let inputs = Inputs {
            u: read_f64(&file("u"))?,
            v: read_f64(&file("v"))?,
            weights: if weighted {
                Some((read_f64(&file("wu"))?, read_f64(&file("wv"))?))
            } else {
                None
            },
        };
        if inputs.u.len() != n || inputs.v.len() != m {
            return Err(format!("{case} n={n}: files do not match the manifest").into());
        }
        let mut methods: Vec<(&str, Method<'_>)> = vec![
            (
                "floor_sort",
                Box::new(|| {
                    let mut a = inputs.u.to_vec();
                    let mut b = inputs.v.to_vec();
                    a.sort_unstable_by(f64::total_cmp);
                    b.sort_unstable_by(f64::total_cmp);
                    Ok(a[0] + b[0])
                }),
            ),
            (
                "aot_samples",
                Box::new(|| {
                    let (a, b) = inputs.samples()?;
                    Ok(a.min() + b.min())
                }),
            ),
            (
                "aot_w1",
                Box::new(|| {
                    let (a, b) = inputs.samples()?;
                    Ok(wasserstein(&a, &b, 1.0)?)
                }),
            ),
            (
                "aot_w2",
                Box::new(|| {
                    let (a, b) = inputs.samples()?;
                    Ok(wasserstein(&a, &b, 2.0)?)
                }),
            ),
            (
                "aot_eps_logistic",
                Box::new(|| {
                    let (a, b) = inputs.samples()?;
                    Ok(ot_cost(&a, &b, &h)?)
                }),
            ),
            (
                "aot_eps_logistic_grad",
                Box::new(|| {
                    let (a, b) = inputs.samples()?;
                    Ok(relaxed_violation(&a, &b, &h)?.value)
                }),
            ),
        ];
        if let Some((wu, wv)) = &inputs.weights {
            let (u, v) = (&inputs.u, &inputs.v);
            // A second floor for weighted inputs: the weights have to travel with the values, so
            // sort (value, weight) pairs, as any weighted solver must at least do.
            let pairs = |x: &[f64], w: &[f64]| -> Vec<(f64, f64)> {
                x.iter().copied().zip(w.iter().copied()).collect()
            };
            methods.push((
                "floor_sort_pairs",
                Box::new(move || {
                    let mut a = pairs(u, wu);
                    let mut b = pairs(v, wv);
                    a.sort_unstable_by(|p, q| p.0.total_cmp(&q.0));
                    b.sort_unstable_by(|p, q| p.0.total_cmp(&q.0));
                    Ok(a[0].0 + b[0].0)
                }),
            ));
        }
        for (name, f) in &methods {
            let (median, min, value) = measure(runs, f)?;
            writer.write_record([
                case.clone(),
                n.to_string(),
                m.to_string(),
                (*name).to_string(),
                format!("{median:.9e}"),
                format!("{min:.9e}"),
                runs.to_string(),
                format!("{value:.17e}"),
            ])?;
        }
        writer.flush()?;
    }
    Ok(())
}

fn plot(results: &Path, stem: &Path) -> BoxResult<()> {
    let mut reader = csv::Reader::from_path(results)?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{}: no column `{name}`", results.display()))
    };
    let (case_col, n_col, quantity_col, method_col, median_col) = (
        col("case")?,
        col("n")?,
        col("quantity")?,
        col("method")?,
        col("median_s")?,
    );
    // case -> "quantity: method" -> points (n, seconds); W2 and the gradient are left to the
    // table, so that each chart stays readable.
    let mut curves: BTreeMap<String, BTreeMap<String, Vec<(f64, f64)>>> = BTreeMap::new();
    for row in reader.records() {
        let row = row?;
        let quantity = &row[quantity_col];
        if !matches!(
            quantity,
            "floor" | "floor_with_weights" | "w1" | "eps_logistic"
        ) {
            continue;
        }
        let point = (row[n_col].parse::<f64>()?, row[median_col].parse::<f64>()?);
        curves
            .entry(row[case_col].to_string())
            .or_default()
            .entry(format!("{quantity}: {}", &row[method_col]))
            .or_default()
            .push(point);
    }
    let mut written: Vec<PathBuf> = Vec::new();
    for (case, methods) in &curves {
        let title = format!("1-D OT and ε_h, {case} case: median time per call");
        let mut chart = Chart::new(&title, "n (values per side)", "seconds")
            .log_x()
            .log_y();
        for (k, (method, points)) in methods.iter().enumerate() {
            let mut points = points.clone();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            // This toolkit and the floor solid, the Python peers dashed.
            let series = if method.contains("aot_") || method.contains("floor") {
                Series::line(method.as_str(), points)
            } else {
                Series::dashed(method.as_str(), points)
            };
            chart = chart.series(series.with_color(k));
        }
        let file_stem = PathBuf::from(format!("{}_{case}", stem.display()));
        written.extend(chart.save(&file_stem)?);
    }
    for f in written {
        println!("wrote {}", f.display());
    }
    Ok(())
}
