//! `aot report`: every checkable claim of the theory, checked, in one command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};

use aot::dominance::{fsd, Dominance};
use aot::report::render::{choose_dir, render};
use aot::report::{
    dominance_report, input_claims, registry, run_claims, Claim, ClaimSpec, DominanceInput,
    Settings, Verdict,
};
use aot::sample::Sample;

/// Flags of `aot report`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// A sub-10-second version: fewer instances and replicates per claim.
    #[arg(long)]
    quick: bool,
    /// Output directory. An existing one is never overwritten without --force: the report then
    /// goes to a new directory named after it with a UTC timestamp.
    #[arg(long, value_name = "DIR", default_value = "report")]
    out: PathBuf,
    /// Overwrite the files of an existing output directory.
    #[arg(long)]
    force: bool,
    /// Seed of every random draw (each claim derives its own stream from it).
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Check your own rewards instead of the theory: a CSV, JSON or JSON Lines file with
    /// columns/fields `chosen` and `rejected` (rewards), or `policy_margin` and
    /// `reference_margin` (paired AOT), or `margin` (compared with 0). Runs the dominance and
    /// violation part of the report on them.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
}

const EXAMPLE_SPEC: (&str, &str, &str, &str) = (
    "dominance-example",
    "Dominance of chosen over rejected rewards: a worked example",
    "Chosen rewards U dominate rejected rewards V iff Q_U(p) >= Q_V(p) at every level p; \
     ε_{0-1} measures the levels where this fails, ε_h relaxes it (notes §1).",
    "notes §1 and the paper's Figure 1 (quantile plots of chosen vs rejected rewards)",
);

/// Runs `aot report`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let settings = Settings {
        quick: args.quick,
        seed: args.seed,
    };
    let (title, preamble, claims) = match &args.input {
        Some(path) => {
            let input = input_claims(path)?;
            let t = Instant::now();
            let mut outcome = dominance_report(&input)?;
            // On the user's data the claim is the dominance itself, and the verdict says
            // whether it holds (the report's worked example instead checks the relaxation
            // bound on data where dominance is meant to fail).
            let decision = fsd(&Sample::new(&input.chosen)?, &Sample::new(&input.rejected)?);
            if matches!(decision, Dominance::Violated(_)) {
                outcome.verdict = Verdict::Fails;
            } else if outcome.verdict != Verdict::Fails {
                outcome.verdict = Verdict::Holds;
            }
            let texts = (
                "dominance",
                "Dominance of the given rewards",
                "Chosen rewards U dominate rejected rewards V: Q_U(p) >= Q_V(p) at every level p.",
                "notes §1",
            );
            let claim = Claim::from_outcome(texts, outcome, t.elapsed().as_secs_f64());
            let preamble = format!(
                "Exact first-order stochastic dominance and violation measures for `{}`.",
                path.display()
            );
            ("AOT dominance report".to_string(), preamble, vec![claim])
        }
        None => {
            let mut specs = registry();
            specs.push(ClaimSpec {
                id: EXAMPLE_SPEC.0,
                title: EXAMPLE_SPEC.1,
                statement: EXAMPLE_SPEC.2,
                source: EXAMPLE_SPEC.3,
                run: |s| dominance_report(&DominanceInput::synthetic(s.seed)),
            });
            let bar = ProgressBar::new(specs.len() as u64);
            bar.set_style(
                ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")?
                    .progress_chars("=> "),
            );
            let claims = run_claims(&specs, &settings, |k, _, id| {
                bar.set_position(k as u64);
                bar.set_message(id.to_string());
            });
            bar.finish_and_clear();
            let preamble = format!(
                "Each claim of the theory of AOT (Melnyk et al., NeurIPS 2024) as stated in the \
                 project's notes, the check this toolkit ran with its own library functions, the \
                 figures it measured and a verdict. Seed {}, {} run.",
                args.seed,
                if args.quick { "quick" } else { "full" }
            );
            ("AOT: the theory, checked".to_string(), preamble, claims)
        }
    };
    let dir = choose_dir(&args.out, args.force, SystemTime::now())?;
    let files = render(&dir, &title, &preamble, &claims)?;

    println!("{:<58} {:<9} {:>7}", "claim", "verdict", "time");
    for c in &claims {
        let title: String = c.title.chars().take(57).collect();
        println!("{:<58} {:<9} {:>6.2}s", title, c.verdict.label(), c.seconds);
        if let Verdict::Conditional(cond) = &c.verdict {
            println!("    if {cond}");
        }
    }
    let failed = claims
        .iter()
        .filter(|c| c.verdict == Verdict::Fails)
        .count();
    println!(
        "\n{} of {} claims hold; {:.1} s. Report: {}",
        claims.len() - failed,
        claims.len(),
        start.elapsed().as_secs_f64(),
        files.html.display()
    );
    // A report on the user's data succeeds whatever it finds (`aot dominance
    // --fail-on-violation` gives a status); the theory report fails when a claim fails.
    Ok(if failed == 0 || args.input.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
