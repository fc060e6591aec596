//! Peak-memory probe for `bench/memory`: builds two samples of `n` values per side and computes
//! one thing, so that `/usr/bin/time -v` reports the peak resident memory of that computation.
//!
//! ```text
//! cargo run --release --example bench_memory -- WHAT [N]
//! ```
//!
//! `WHAT` is `inputs` (only draw the two input vectors: the baseline), `samples` (also build the
//! two samples), `plan` (the OT plan of the logistic cost, with its input indices) or
//! `violation` (the FSD violation measures). `N` defaults to 10^7. Inputs are seeded normal draws,
//! `U ~ N(0.5, 1)` and `V ~ N(0, 1)`.

use std::process::ExitCode;

use aot::cost::Surrogate;
use aot::dominance::violation;
use aot::sample::Sample;
use aot::transport::ot_plan;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::Normal;

fn draws(seed: u64, n: usize, mean: f64) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let normal = Normal::new(mean, 1.0)?;
    let mut rng = StdRng::seed_from_u64(seed);
    Ok((0..n).map(|_| rng.sample(normal)).collect())
}

fn run(what: &str, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (u, v) = (draws(1, n, 0.5)?, draws(2, n, 0.0)?);
    if what == "inputs" {
        println!("inputs: {} + {} values", u.len(), v.len());
        return Ok(());
    }
    let (a, b) = (Sample::new(&u)?, Sample::new(&v)?);
    match what {
        "samples" => println!("samples: min {} and {}", a.min(), b.min()),
        "plan" => {
            let plan = ot_plan(&a, &b, &Surrogate::logistic(1.0)?)?;
            println!(
                "plan: {} entries, cost {:.12}",
                plan.entries.len(),
                plan.cost
            );
        }
        "violation" => {
            let z = violation(&a, &b);
            println!(
                "violation: zero_one {:.6}, W2 {:.6}, eps_W2 {:.6}",
                z.zero_one, z.w2, z.eps_w2
            );
        }
        other => return Err(format!("unknown WHAT `{other}`").into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map_or("plan", String::as_str);
    let n = match args.get(1).map(|s| s.parse::<f64>()) {
        None => 10_000_000,
        Some(Ok(x)) if x >= 1.0 && x.is_finite() => x as usize,
        Some(_) => {
            eprintln!("bench_memory: N must be a positive number, such as 1e7");
            return ExitCode::FAILURE;
        }
    };
    match run(what, n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_memory: {e}");
            ExitCode::FAILURE
        }
    }
}
