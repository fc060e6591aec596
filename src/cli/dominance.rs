//! `aot dominance`: exact FSD decision, witness and violation measures of two samples.

use std::process::ExitCode;

use clap::Args as ClapArgs;
use serde_json::json;

use aot::cost::Surrogate;
use aot::dominance::{fsd, fsd_cdf, violation, Dominance};
use aot::transport::comonotone_cost;

use super::input::TwoSamples;

/// Flags of `aot dominance`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    samples: TwoSamples,
    /// Surrogate costs h for the relaxed violation ε_h = ∫ h(Q_U − Q_V) dp; repeat the flag for
    /// several. Forms: logistic:BETA, smoothed_logistic:BETA:EPS, hinge:MARGIN,
    /// squared_hinge:MARGIN, least_squares:MARGIN, zero_one, abs_power:P.
    #[arg(long = "cost", value_name = "COST", default_values_t = vec![
        "logistic:1".to_string(), "hinge:0".to_string(), "squared_hinge:0".to_string()])]
    costs: Vec<String>,
    /// Print one JSON object instead of the readable summary.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when chosen does not dominate rejected (for scripts and CI).
    #[arg(long)]
    fail_on_violation: bool,
}

/// Runs `aot dominance`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (u, v) = args.samples.load()?;
    let verdict = fsd(&u, &v);
    let cdf_verdict = fsd_cdf(&u, &v);
    anyhow::ensure!(
        verdict.holds() == cdf_verdict.holds() && verdict.is_strict() == cdf_verdict.is_strict(),
        "internal inconsistency: quantile form {verdict:?} vs CDF form {cdf_verdict:?}"
    );
    let measures = violation(&u, &v);
    let mut relaxed = Vec::new();
    for c in &args.costs {
        let h: Surrogate = c.parse()?;
        relaxed.push((h, comonotone_cost(&u, &v, &h)?));
    }
    if args.json {
        let out = json!({
            "chosen": { "file": args.samples.chosen, "n": u.input_len(), "mean": u.mean() },
            "rejected": { "file": args.samples.rejected, "n": v.input_len(), "mean": v.mean() },
            "dominance": verdict,
            "cdf_form": cdf_verdict,
            "violation": measures,
            "relaxed": relaxed.iter().map(|(h, e)| json!({
                "cost": h.to_string(), "eps_h": e
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "chosen   U: n = {:>8}, mean = {:.6}",
            u.input_len(),
            u.mean()
        );
        println!(
            "rejected V: n = {:>8}, mean = {:.6}",
            v.input_len(),
            v.mean()
        );
        println!();
        match &verdict {
            Dominance::Strict => {
                println!("U ≽ V (first-order stochastic dominance): holds, strictly")
            }
            Dominance::EqualInLaw => println!("U ≽ V: holds weakly (U and V have the same law)"),
            Dominance::Violated(w) => {
                println!("U ≽ V: FAILS");
                println!(
                    "  quantile witness: at level p = {:.6}, Q_U(p) = {:.6} < Q_V(p) = {:.6} \
                     (gap {:.6})",
                    w.level, w.u_quantile, w.v_quantile, w.quantile_gap
                );
                println!(
                    "  CDF witness:      at t = {:.6}, F_U(t) = {:.6} > F_V(t) = {:.6}",
                    w.point, w.u_cdf, w.v_cdf
                );
                if let Some(c) = cdf_verdict.witness() {
                    println!(
                        "  largest CDF excess: F_U − F_V = {:.6} at t = {:.6}",
                        c.cdf_excess(),
                        c.point
                    );
                }
            }
        }
        let measure_rows = [
            (
                "0-1 violation Leb{p : Q_U < Q_V}".to_string(),
                measures.zero_one,
            ),
            (
                "shortfall area ∫(Q_V − Q_U)_+ dp".into(),
                measures.shortfall_area,
            ),
            ("signed area ∫(Q_U − Q_V) dp".into(), measures.signed_area),
            ("W2(U, V)".into(), measures.w2),
            ("ε_W2 (almost-dominance ratio)".into(), measures.eps_w2),
        ];
        let relaxed_rows: Vec<(String, f64)> =
            relaxed.iter().map(|(h, e)| (h.to_string(), *e)).collect();
        // One label column for both tables, as wide as the longest label (in characters).
        let width = measure_rows
            .iter()
            .chain(&relaxed_rows)
            .map(|(label, _)| label.chars().count())
            .max()
            .unwrap_or(0);
        println!();
        println!("violation measures");
        for (label, value) in &measure_rows {
            println!("  {label:<width$} {value:>14.6}");
        }
        println!();
        println!("relaxed violation ε_h = ∫ h(Q_U − Q_V) dp");
        for (label, value) in &relaxed_rows {
            println!("  {label:<width$} {value:>14.6}");
        }
    }
    Ok(if args.fail_on_violation && !verdict.holds() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
