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
        println!();
        println!("violation measures");
        println!(
            "  0-1 violation Leb{{p : Q_U < Q_V}}  {:>14.6}",
            measures.zero_one
        );
        println!(
            "  shortfall area ∫(Q_V − Q_U)_+ dp   {:>14.6}",
            measures.shortfall_area
        );
        println!(
            "  signed area ∫(Q_U − Q_V) dp        {:>14.6}",
            measures.signed_area
        );
        println!("  W2(U, V)                           {:>14.6}", measures.w2);
        println!(
            "  ε_W2 (almost-dominance ratio)      {:>14.6}",
            measures.eps_w2
        );
        println!();
        println!("relaxed violation ε_h = ∫ h(Q_U − Q_V) dp");
        for (h, e) in &relaxed {
            println!("  {:<34} {:>14.6}", h.to_string(), e);
        }
    }
    Ok(if args.fail_on_violation && !verdict.holds() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
