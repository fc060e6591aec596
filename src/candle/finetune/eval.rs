//! Held-out evaluation: implicit rewards, dominance decisions and violation measures, win rate,
//! written as CSV, JSON and quantile plots.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{Error, Result};
use super::score::LogProbs;
use crate::dominance::{fsd, violation, Dominance};
use crate::report::{dominance_report, DominanceInput};
use crate::sample::Sample;

/// A dominance check `U ≽_FSD V` between two held-out samples, with the core's measures
/// ([`crate::dominance::fsd`], [`crate::dominance::violation`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DominanceCheck {
    /// What `U` is.
    pub u: String,
    /// What `V` is.
    pub v: String,
    /// `"strict"`, `"equal in law"` or `"violated"`.
    pub verdict: String,
    /// Whether `U ≽_FSD V` holds.
    pub holds: bool,
    /// `ε_{0-1} = Leb{p : Q_U(p) < Q_V(p)}`.
    pub zero_one: f64,
    /// `∫ (Q_V − Q_U)_+ dp`.
    pub shortfall_area: f64,
    /// `∫ (Q_U − Q_V) dp = mean U − mean V`.
    pub signed_area: f64,
    /// `ε_W2 ∈ [0, 1]`, the almost-dominance ratio.
    pub eps_w2: f64,
}

impl DominanceCheck {
    /// Decides `U ≽_FSD V` on the two samples.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] when a sample is empty or holds a non-finite value.
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::candle::finetune::DominanceCheck;
    /// let c = DominanceCheck::new("U", &[1.0, 3.0], "V", &[2.0, 0.0])?;
    /// // Sorted: (1, 0) and (3, 2): U dominates.
    /// assert!(c.holds && c.zero_one == 0.0 && c.signed_area == 1.0);
    /// # Ok::<(), aot::candle::finetune::Error>(())
    /// ```
    pub fn new(u_label: &str, u: &[f64], v_label: &str, v: &[f64]) -> Result<Self> {
        let (su, sv) = (Sample::new(u)?, Sample::new(v)?);
        let decision = fsd(&su, &sv);
        let m = violation(&su, &sv);
        Ok(Self {
            u: u_label.to_string(),
            v: v_label.to_string(),
            verdict: match decision {
                Dominance::Strict => "strict",
                Dominance::EqualInLaw => "equal in law",
                Dominance::Violated(_) => "violated",
            }
            .to_string(),
            holds: decision.holds(),
            zero_one: m.zero_one,
            shortfall_area: m.shortfall_area,
            signed_area: m.signed_area,
            eps_w2: m.eps_w2,
        })
    }
}

/// Policy and reference log-probabilities of the same held-out pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOutScores {
    /// Under the model being evaluated.
    pub policy: LogProbs,
    /// Under the frozen reference.
    pub reference: LogProbs,
}

impl HeldOutScores {
    fn check(&self) -> Result<usize> {
        let n = self.policy.len();
        let lengths = [
            self.policy.rejected.len(),
            self.reference.chosen.len(),
            self.reference.rejected.len(),
        ];
        if n == 0 || lengths.iter().any(|&l| l != n) {
            return Err(Error::invalid(
                "evaluate",
                "scores",
                format!("lengths {n}, {lengths:?}"),
                "policy and reference must hold the same number (>= 1) of pairs",
            ));
        }
        Ok(n)
    }

    /// Chosen rewards `r⁺_i = log π(y⁺_i|x_i) − log π_ref(y⁺_i|x_i)`.
    pub fn chosen_rewards(&self) -> Vec<f64> {
        diff(&self.policy.chosen, &self.reference.chosen)
    }

    /// Rejected rewards `r⁻_i`.
    pub fn rejected_rewards(&self) -> Vec<f64> {
        diff(&self.policy.rejected, &self.reference.rejected)
    }

    /// Policy margins `Z_θ,i = log π(y⁺_i|x_i) − log π(y⁻_i|x_i)`.
    pub fn policy_margins(&self) -> Vec<f64> {
        diff(&self.policy.chosen, &self.policy.rejected)
    }

    /// Reference margins `Z_ref,i`.
    pub fn reference_margins(&self) -> Vec<f64> {
        diff(&self.reference.chosen, &self.reference.rejected)
    }
}

fn diff(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len().max(1) as f64
}

/// The held-out figures of one model.
///
/// Three dominance checks, each by the core's exact decision and violation measures:
///
/// - **paired** (the AOT-paired criterion, notes §1.4): `U` = policy margins `Z_θ`, `V` =
///   reference margins `Z_ref`;
/// - **unpaired** (notes §1.3): `U` = chosen rewards `r⁺`, `V` = rejected rewards `r⁻`;
/// - **likelihood**: `U` = `log π(y⁺|x)`, `V` = `log π(y⁻|x)`, the model's own distributional
///   preference for the chosen responses.
///
/// For the base model (policy = reference) the first two compare equal samples (margins equal,
/// rewards all 0) and hold trivially; the likelihood check is the one that compares a base model
/// with a fine-tuned one on the same footing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Which model.
    pub label: String,
    /// Held-out pairs.
    pub pairs: usize,
    /// Mean chosen reward.
    pub chosen_reward: f64,
    /// Mean rejected reward.
    pub rejected_reward: f64,
    /// Mean reward margin `mean(r⁺ − r⁻) = mean(Z_θ − Z_ref)`.
    pub margin: f64,
    /// Win rate over the reference: fraction of pairs with `Z_θ,i > Z_ref,i` (equivalently
    /// `r⁺_i > r⁻_i`), ties counted one half; 0.5 for the reference itself.
    pub win_rate: f64,
    /// Fraction of pairs where the model gives the chosen response the higher log-likelihood,
    /// `Z_θ,i > 0`, ties counted one half.
    pub preference_accuracy: f64,
    /// Paired check: policy margins vs reference margins.
    pub paired: DominanceCheck,
    /// Unpaired check: chosen rewards vs rejected rewards.
    pub unpaired: DominanceCheck,
    /// Likelihood check: chosen log-likelihoods vs rejected log-likelihoods.
    pub likelihood: DominanceCheck,
}

fn fraction_positive(x: &[f64]) -> f64 {
    let score: f64 = x
        .iter()
        .map(|&d| {
            if d > 0.0 {
                1.0
            } else if d == 0.0 {
                0.5
            } else {
                0.0
            }
        })
        .sum();
    score / x.len().max(1) as f64
}

/// Evaluates one model on held-out pairs (see [`Evaluation`]).
///
/// # Errors
///
/// [`Error::InvalidArgument`] when the four vectors differ in length or are empty;
/// [`Error::Core`] for non-finite values.
///
/// # Examples
///
/// ```
/// use aot::candle::finetune::{evaluate, HeldOutScores, LogProbs};
/// let reference = LogProbs { chosen: vec![-5.0, -7.0], rejected: vec![-6.0, -4.0] };
/// let base = evaluate("base", &HeldOutScores { policy: reference.clone(),
///     reference: reference.clone() })?;
/// assert_eq!(base.win_rate, 0.5);
/// assert_eq!(base.preference_accuracy, 0.5); // margins +1 and −3
/// // Sorted chosen (−7, −5) lie below sorted rejected (−6, −4) at every level.
/// assert_eq!(base.likelihood.zero_one, 1.0);
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
pub fn evaluate(label: &str, scores: &HeldOutScores) -> Result<Evaluation> {
    let n = scores.check()?;
    let (chosen, rejected) = (scores.chosen_rewards(), scores.rejected_rewards());
    let (policy_margins, reference_margins) = (scores.policy_margins(), scores.reference_margins());
    let gain = diff(&policy_margins, &reference_margins);
    Ok(Evaluation {
        label: label.to_string(),
        pairs: n,
        chosen_reward: mean(&chosen),
        rejected_reward: mean(&rejected),
        margin: mean(&gain),
        win_rate: fraction_positive(&gain),
        preference_accuracy: fraction_positive(&policy_margins),
        paired: DominanceCheck::new(
            "policy margins",
            &policy_margins,
            "reference margins",
            &reference_margins,
        )?,
        unpaired: DominanceCheck::new("chosen rewards", &chosen, "rejected rewards", &rejected)?,
        likelihood: DominanceCheck::new(
            "chosen log-likelihoods",
            &scores.policy.chosen,
            "rejected log-likelihoods",
            &scores.policy.rejected,
        )?,
    })
}

/// Writes an evaluation to `dir`: `eval_pairs.csv` (one row per pair: the four
/// log-probabilities, both rewards, both margins), `eval.json` (the [`Evaluation`] and the
/// report figures of each check) and the quantile plots `quantiles_paired`,
/// `quantiles_unpaired`, `quantiles_likelihood` (PNG and SVG, drawn by the report's Figure-1
/// style chart, shading the levels where dominance fails). `lines[i]` is the source line of pair
/// `i`. Returns the files written.
///
/// # Errors
///
/// [`Error::InvalidArgument`] when `lines` has the wrong length; I/O, CSV, JSON and plotting
/// errors.
pub fn write_evaluation(
    dir: impl AsRef<Path>,
    lines: &[usize],
    scores: &HeldOutScores,
    evaluation: &Evaluation,
) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let n = scores.check()?;
    if lines.len() != n {
        return Err(Error::invalid(
            "write_evaluation",
            "lines",
            lines.len(),
            format!("must hold one line number per pair ({n})"),
        ));
    }
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut written = Vec::new();
    let csv_path = dir.join("eval_pairs.csv");
    let csv_error = |source| Error::Csv {
        path: csv_path.clone(),
        source,
    };
    let mut w = csv::Writer::from_path(&csv_path).map_err(csv_error)?;
    w.write_record([
        "line",
        "policy_chosen",
        "policy_rejected",
        "reference_chosen",
        "reference_rejected",
        "chosen_reward",
        "rejected_reward",
        "policy_margin",
        "reference_margin",
    ])
    .map_err(csv_error)?;
    let (chosen, rejected) = (scores.chosen_rewards(), scores.rejected_rewards());
    let (pm, rm) = (scores.policy_margins(), scores.reference_margins());
    for i in 0..n {
        let row = [
            scores.policy.chosen[i],
            scores.policy.rejected[i],
            scores.reference.chosen[i],
            scores.reference.rejected[i],
            chosen[i],
            rejected[i],
            pm[i],
            rm[i],
        ];
        let mut record = vec![lines[i].to_string()];
        record.extend(row.iter().map(|x| format!("{x}")));
        w.write_record(&record).map_err(csv_error)?;
    }
    w.flush().map_err(Error::io(&csv_path))?;
    written.push(csv_path.clone());

    let checks = [
        ("paired", &pm, &rm, &evaluation.paired),
        ("unpaired", &chosen, &rejected, &evaluation.unpaired),
        (
            "likelihood",
            &scores.policy.chosen,
            &scores.policy.rejected,
            &evaluation.likelihood,
        ),
    ];
    let mut figures = serde_json::Map::new();
    for (stem, u, v, check) in checks {
        let outcome = dominance_report(&DominanceInput {
            description: format!(
                "{} on {n} held-out pairs: {} vs {}",
                evaluation.label, check.u, check.v
            ),
            chosen: u.clone(),
            rejected: v.clone(),
            chosen_label: check.u.clone(),
            rejected_label: check.v.clone(),
        })?;
        let report_figures: Vec<serde_json::Value> = outcome
            .figures
            .iter()
            .map(|f| serde_json::json!({ "name": f.name, "value": f.value, "note": f.note }))
            .collect();
        figures.insert(stem.to_string(), serde_json::Value::Array(report_figures));
        for plot in outcome.charts {
            let mut chart = plot.chart;
            chart.title = format!("{}: {} vs {}", evaluation.label, check.u, check.v);
            chart.y_label = match stem {
                "likelihood" => "log-likelihood quantile (nats)".into(),
                "paired" => "margin quantile (nats)".into(),
                _ => "reward quantile (nats)".into(),
            };
            written.extend(chart.save(&dir.join(format!("quantiles_{stem}")))?);
        }
    }
    let json_path = dir.join("eval.json");
    let value = serde_json::json!({
        "evaluation": evaluation,
        "report_figures": figures,
    });
    let text = serde_json::to_string_pretty(&value).map_err(|source| Error::Json {
        path: json_path.clone(),
        source,
    })?;
    std::fs::write(&json_path, text).map_err(Error::io(&json_path))?;
    written.push(json_path);
    Ok(written)
}
