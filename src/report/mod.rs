//! The claims registry behind `aot report`: each checkable claim of the theory of AOT (notes §9),
//! the check that tests it with this library's own functions, the figures it measured, and a
//! verdict.
//!
//! A claim is phrased so that "holds" is what the theory predicts; a check that measures
//! something else says [`Verdict::Fails`] with its figures, and a claim that is true only under a
//! condition (such as convexity, or a margin > 0) says [`Verdict::Conditional`] with the
//! condition. Every check calls the same functions a user calls: there is no separate code path
//! for the report.
//!
//! [`run_claims`] runs the registry; [`render`] writes `index.html` (self-contained, plots
//! inline), `report.md`, `claims.json` and the plots.

mod claims;
pub mod render;

use serde::Serialize;

use crate::error::Result;
use crate::plot::Chart;

pub use claims::{dominance_report, input_claims, quantile_chart, registry, DominanceInput};

/// The outcome of a claim's check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", content = "condition", rename_all = "snake_case")]
pub enum Verdict {
    /// The check confirmed the claim.
    Holds,
    /// The check contradicted the claim.
    Fails,
    /// The claim holds only under the stated condition (and the check confirmed that).
    Conditional(String),
}

impl Verdict {
    /// A short label for tables.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Fails => "FAILS",
            Verdict::Conditional(_) => "holds if",
        }
    }
}

/// One measured number of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// How to read it (units, tolerance, reference value).
    pub note: String,
}

impl Figure {
    /// A figure with its note.
    pub fn new(name: impl Into<String>, value: f64, note: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value,
            note: note.into(),
        }
    }
}

/// A named chart produced by a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// File stem under `plots/` (`quantiles` gives `plots/quantiles.png` and `.svg`).
    pub stem: String,
    /// Caption shown under it.
    pub caption: String,
    /// The chart.
    pub chart: Chart,
}

/// A checked claim.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    /// Stable identifier, such as `sorting-is-optimal`.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// The statement, with its formula.
    pub statement: String,
    /// Where it comes from (section of the notes and the paper's status of the statement).
    pub source: String,
    /// How the toolkit checked it.
    pub check: String,
    /// What the check measured.
    pub figures: Vec<Figure>,
    /// The verdict.
    pub verdict: Verdict,
    /// Stems of the plots (under `plots/`).
    pub plots: Vec<String>,
    /// Wall time of the check in seconds.
    pub seconds: f64,
    #[serde(skip)]
    /// The charts themselves (rendered by [`render`]).
    pub charts: Vec<Plot>,
}

impl Claim {
    /// A claim from its fixed texts `(id, title, statement, source)` and a check's outcome.
    pub fn from_outcome(
        (id, title, statement, source): (&str, &str, &str, &str),
        outcome: Outcome,
        seconds: f64,
    ) -> Self {
        Self {
            id: id.to_string(),
            title: title.to_string(),
            statement: statement.to_string(),
            source: source.to_string(),
            check: outcome.check,
            figures: outcome.figures,
            verdict: outcome.verdict,
            plots: outcome.charts.iter().map(|p| p.stem.clone()).collect(),
            seconds,
            charts: outcome.charts,
        }
    }
}

/// Settings shared by the checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Fewer instances and replicates: the whole report in seconds.
    pub quick: bool,
    /// Seed of every random draw (each check derives its own stream from it).
    pub seed: u64,
}

/// What a check returns before the registry adds the claim's fixed texts and timing.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it was checked, with sizes and seeds.
    pub check: String,
    /// Measured figures.
    pub figures: Vec<Figure>,
    /// The verdict.
    pub verdict: Verdict,
    /// Charts.
    pub charts: Vec<Plot>,
}

/// A registered claim: fixed texts and the function that checks it.
pub struct ClaimSpec {
    /// Stable identifier.
    pub id: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// The statement.
    pub statement: &'static str,
    /// Its source.
    pub source: &'static str,
    /// The check.
    pub run: fn(&Settings) -> Result<Outcome>,
}

impl std::fmt::Debug for ClaimSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimSpec")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Runs every claim of `specs` in order, calling `progress(k, total, id)` before each.
///
/// A check that returns an error yields a claim with verdict [`Verdict::Fails`] and the error in
/// its `check` text, so one broken check never hides the others.
pub fn run_claims(
    specs: &[ClaimSpec],
    settings: &Settings,
    mut progress: impl FnMut(usize, usize, &str),
) -> Vec<Claim> {
    let mut out = Vec::with_capacity(specs.len());
    for (k, spec) in specs.iter().enumerate() {
        progress(k, specs.len(), spec.id);
        let start = std::time::Instant::now();
        let outcome = (spec.run)(settings).unwrap_or_else(|e| Outcome {
            check: format!("the check could not run: {e}"),
            figures: Vec::new(),
            verdict: Verdict::Fails,
            charts: Vec::new(),
        });
        tracing::info!(
            claim = spec.id,
            verdict = outcome.verdict.label(),
            "checked"
        );
        let texts = (spec.id, spec.title, spec.statement, spec.source);
        out.push(Claim::from_outcome(
            texts,
            outcome,
            start.elapsed().as_secs_f64(),
        ));
    }
    progress(specs.len(), specs.len(), "done");
    out
}
