//! `aot ot`: optimal transport between two samples by sorting.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args as ClapArgs;
use serde_json::json;

use aot::cost::{Cost, Surrogate};
use aot::transport::{ot_plan, wasserstein};

use super::input::TwoSamples;

/// Flags of `aot ot`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    samples: TwoSamples,
    /// Convex cost h of the gap u − v (the 0-1 cost and abs_power with p < 1 are rejected:
    /// sorting is not optimal for them). Forms as in `aot dominance --help`.
    #[arg(long, value_name = "COST", default_value = "logistic:1")]
    cost: String,
    /// Orders p of the Wasserstein distances W_p to report (p >= 1; `inf` for W_∞).
    #[arg(
        long = "wasserstein",
        value_name = "P",
        value_delimiter = ',',
        default_value = "1,2"
    )]
    wasserstein: Vec<f64>,
    /// Write the optimal plan as CSV (columns i, j, mass, u, v; indices into the input files)
    /// to this file. An existing file is not overwritten unless --force is given.
    #[arg(long, value_name = "FILE")]
    plan_out: Option<PathBuf>,
    /// Allow --plan-out to overwrite an existing file.
    #[arg(long)]
    force: bool,
    /// Print one JSON object (including the plan when it has at most 10,000 entries) instead of
    /// the readable summary.
    #[arg(long)]
    json: bool,
}

/// Runs `aot ot`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (u, v) = args.samples.load()?;
    let h: Surrogate = args.cost.parse()?;
    let plan = ot_plan(&u, &v, &h)?;
    let mut distances = Vec::new();
    for &p in &args.wasserstein {
        distances.push((p, wasserstein(&u, &v, p)?));
    }
    if let Some(path) = &args.plan_out {
        anyhow::ensure!(
            args.force || !path.exists(),
            "{} exists; pass --force to overwrite it",
            path.display()
        );
        let mut w = csv::Writer::from_path(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        w.write_record(["i", "j", "mass", "u", "v"])?;
        for e in &plan.entries {
            w.write_record([
                e.i.to_string(),
                e.j.to_string(),
                format!("{:e}", e.mass),
                e.u.to_string(),
                e.v.to_string(),
            ])?;
        }
        w.flush()?;
    }
    if args.json {
        let entries = (plan.entries.len() <= 10_000).then_some(&plan.entries);
        let out = json!({
            "chosen": { "file": args.samples.chosen, "n": u.input_len() },
            "rejected": { "file": args.samples.rejected, "n": v.input_len() },
            "cost": h.to_string(),
            "ot_cost": plan.cost,
            "plan_entries": plan.entries.len(),
            "plan": entries,
            "wasserstein": distances
                .iter()
                .map(|(p, w)| json!({"p": p, "value": w}))
                .collect::<Vec<_>>(),
            "lipschitz": h.lipschitz(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("U: n = {}, V: n = {}", u.input_len(), v.input_len());
        println!("cost h = {h} (convex: sorting is optimal)");
        println!("OT_h(U, V) = ∫ h(Q_U − Q_V) dp = {:.12}", plan.cost);
        println!(
            "optimal plan: {} entries (at most n + m − 1 = {})",
            plan.entries.len(),
            u.len() + v.len() - 1
        );
        for (p, w) in &distances {
            println!("W_{p} = {w:.12}");
        }
        if plan.entries.len() <= 20 {
            println!(
                "\n{:>8} {:>8} {:>12} {:>14} {:>14}",
                "i", "j", "mass", "u_i", "v_j"
            );
            for e in &plan.entries {
                println!(
                    "{:>8} {:>8} {:>12.6} {:>14.6} {:>14.6}",
                    e.i, e.j, e.mass, e.u, e.v
                );
            }
        }
        if let Some(p) = &args.plan_out {
            println!("plan written to {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
