//! The description of a rate study: populations, costs, grid, replicates, seed.
//!
//! A [`RateConfig`] is plain data (TOML or JSON through serde); [`RateConfig::validate`] checks
//! it and resolves it into a [`Plan`] with the populations loaded, the costs parsed and the
//! grid expanded. The configuration's hash ([`Plan::config_hash`]) covers every field that
//! changes a number (not the thread count, which does not) and the data of empirical laws, so a
//! resumed run can refuse to mix results of different studies.
//!
//! # Examples
//!
//! ```
//! use aot::study::RateConfig;
//!
//! let cfg: RateConfig = toml::from_str(r#"
//!     chosen = "normal:0.3:1.5"
//!     rejected = { kind = "normal", mean = 0.0, sd = 1.0 }
//!     surrogates = ["logistic", "hinge:0.5"]
//!     beta = 2.0
//!     n_min = 10
//!     n_max = 1000
//!     grid_points = 3
//!     replicates = 50
//! "#).unwrap();
//! let plan = cfg.validate()?;
//! assert_eq!(plan.grid, vec![10, 100, 1000]);
//! assert_eq!(plan.costs.len(), 3); // logistic:2, hinge:0.5 and the 0-1 violation
//! # Ok::<(), aot::Error>(())
//! ```

use serde::{Deserialize, Deserializer, Serialize};

use crate::cost::{Cost, Surrogate};
use crate::error::{Error, Result};
use crate::population::{Fnv, Law, Population};

/// Which empirical objective a replicate evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// `n` draws of `U` and `n` independent draws of `V`; the objective sorts each
    /// (AOT unpaired, notes §3.1).
    Unpaired,
    /// `n` pairs `(m_i, m̂_i)` with marginals `U`, `V` and a Gaussian-copula correlation; the
    /// objective sorts the two coordinates separately (AOT paired, notes §3.2), discarding the
    /// pairing.
    Paired,
}

impl Variant {
    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unpaired => "unpaired",
            Self::Paired => "paired",
        }
    }
}

/// Optimiser of the excess-risk study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// argmin's L-BFGS with the More–Thuente line search (needs a differentiable cost).
    Lbfgs,
    /// argmin's Nelder–Mead simplex (no gradient; for kinked costs such as the hinge).
    NelderMead,
}

/// The excess-risk part of a study (notes §9 item 13); see [`crate::study::excess`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExcessConfig {
    /// Run it.
    pub enabled: bool,
    /// Replicates per sample size (at least 2).
    pub replicates: usize,
    /// Ridge weight λ > 0 of `(λ/2)·|θ|²`, which makes the minimiser unique and finite.
    pub ridge: f64,
    /// The optimiser.
    pub optimizer: Optimizer,
    /// Iteration cap of the optimiser.
    pub max_iters: u64,
}

impl Default for ExcessConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            replicates: 100,
            ridge: 0.1,
            optimizer: Optimizer::Lbfgs,
            max_iters: 200,
        }
    }
}

/// A rate study as written in a TOML file or assembled from flags.
///
/// Defaults reproduce the simulation of notes §4.3: `U ~ N(0.3, 1.5²)`, `V ~ N(0, 1)`,
/// β = 1, `n` from 16 to 1024 on 7 log-spaced points, 1000 replicates, both variants, the
/// logistic, hinge, squared-hinge and least-squares surrogates plus the 0-1 violation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    /// Law of the chosen rewards `U` (a string such as `"normal:0.3:1.5"` or a table).
    #[serde(deserialize_with = "law_text_or_table")]
    pub chosen: Law,
    /// Law of the rejected rewards `V`.
    #[serde(deserialize_with = "law_text_or_table")]
    pub rejected: Law,
    /// Surrogates as in [`Surrogate`]'s `FromStr` (`logistic:1`, `hinge:0.5`, …); a bare name
    /// of a one-parameter surrogate takes `beta`. The first is the headline. The 0-1 violation
    /// is always added.
    pub surrogates: Vec<String>,
    /// Slope or margin given to bare surrogate names.
    pub beta: f64,
    /// Smallest sample size of the log-spaced grid.
    pub n_min: usize,
    /// Largest sample size.
    pub n_max: usize,
    /// Number of log-spaced grid points (rounded sizes are deduplicated).
    pub grid_points: usize,
    /// An explicit grid, used instead of `n_min`/`n_max`/`grid_points` when non-empty.
    pub grid: Vec<usize>,
    /// Replicates per sample size (at least 2).
    pub replicates: usize,
    /// Seed of every random stream.
    pub seed: u64,
    /// Variants to run.
    pub variants: Vec<Variant>,
    /// Gaussian-copula correlation ρ ∈ (-1, 1) between the two coordinates of a paired draw.
    pub correlation: f64,
    /// Bootstrap resamples for the confidence intervals (at least 100).
    pub bootstrap: usize,
    /// Confidence level of the intervals, in (0, 1).
    pub confidence: f64,
    /// The excess-risk study.
    pub excess: ExcessConfig,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            chosen: Law::Normal { mean: 0.3, sd: 1.5 },
            rejected: Law::Normal { mean: 0.0, sd: 1.0 },
            surrogates: ["logistic", "hinge", "squared_hinge", "least_squares"]
                .map(String::from)
                .to_vec(),
            beta: 1.0,
            n_min: 16,
            n_max: 1024,
            grid_points: 7,
            grid: Vec::new(),
            replicates: 1000,
            seed: 20_240_609,
            variants: vec![Variant::Unpaired, Variant::Paired],
            correlation: 0.5,
            bootstrap: 2000,
            confidence: 0.95,
            excess: ExcessConfig::default(),
        }
    }
}

fn law_text_or_table<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Law, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Table(Law),
    }
    match Either::deserialize(d)? {
        Either::Text(s) => s.parse().map_err(serde::de::Error::custom),
        Either::Table(l) => Ok(l),
    }
}

/// One cost of a study with its name in files.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyCost {
    /// Name in the CSV and JSON (`logistic:1`, `zero_one`).
    pub name: String,
    /// The cost.
    pub surrogate: Surrogate,
}

/// A validated study, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The configuration it came from.
    pub config: RateConfig,
    /// `U`.
    pub chosen: Population,
    /// `V`.
    pub rejected: Population,
    /// Costs: the surrogates in order, then `zero_one`.
    pub costs: Vec<StudyCost>,
    /// Sample sizes, increasing.
    pub grid: Vec<usize>,
    /// Hex digest of the configuration and the empirical data.
    pub config_hash: String,
}

fn invalid(name: &'static str, value: f64, expected: &'static str) -> Error {
    Error::InvalidParameter {
        func: "RateConfig::validate",
        name,
        value,
        expected,
    }
}

/// `k` log-spaced integers from `lo` to `hi` (inclusive), rounded and deduplicated.
///
/// # Errors
///
/// [`Error::InvalidParameter`] when `lo < 1`, `hi < lo` or `k < 2` (with `lo < hi`).
///
/// # Examples
///
/// ```
/// use aot::study::log_grid;
/// assert_eq!(log_grid(16, 1024, 7)?, vec![16, 32, 64, 128, 256, 512, 1024]);
/// assert_eq!(log_grid(1, 4, 10)?, vec![1, 2, 3, 4]); // rounding merges neighbours
/// # Ok::<(), aot::Error>(())
/// ```
pub fn log_grid(lo: usize, hi: usize, k: usize) -> Result<Vec<usize>> {
    if lo < 1 {
        return Err(invalid("n_min", lo as f64, ">= 1"));
    }
    if hi < lo {
        return Err(invalid("n_max", hi as f64, ">= n_min"));
    }
    if hi == lo {
        return Ok(vec![lo]);
    }
    if k < 2 {
        return Err(invalid("grid_points", k as f64, ">= 2"));
    }
    let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
    let mut out: Vec<usize> = (0..k)
        .map(|i| (a + (b - a) * i as f64 / (k - 1) as f64).exp().round() as usize)
        .collect();
    out[0] = lo;
    out[k - 1] = hi;
    out.dedup();
    Ok(out)
}

impl RateConfig {
    /// Checks every field and loads the populations.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the field (`replicates` = 1, `n_min` = 0,
    /// `correlation` = 1, …); [`Error::Empty`] for an empty grid, no surrogate or no variant;
    /// errors of [`Population::new`] and of surrogate parsing.
    pub fn validate(&self) -> Result<Plan> {
        let func = "RateConfig::validate";
        let chosen = Population::new(&self.chosen)?;
        let rejected = Population::new(&self.rejected)?;
        if self.surrogates.is_empty() {
            return Err(Error::Empty {
                func,
                arg: "surrogates",
            });
        }
        if self.variants.is_empty() {
            return Err(Error::Empty {
                func,
                arg: "variants",
            });
        }
        let mut costs = Vec::new();
        for s in &self.surrogates {
            let s = s.trim();
            let text = match s {
                "logistic" | "hinge" | "squared_hinge" | "least_squares" => {
                    format!("{s}:{}", self.beta)
                }
                _ => s.to_string(),
            };
            if !text.contains(':') && text != "zero_one" {
                // A bare name of a surrogate with more parameters: let the parser explain.
                text.parse::<Surrogate>()?;
            }
            if text.contains(':') && !self.beta.is_finite() {
                return Err(invalid("beta", self.beta, "finite"));
            }
            let surrogate: Surrogate = text.parse()?;
            if costs.iter().any(|c: &StudyCost| c.name == text) {
                continue;
            }
            costs.push(StudyCost {
                name: text,
                surrogate,
            });
        }
        if !costs.iter().any(|c| c.surrogate == Surrogate::ZeroOne) {
            costs.push(StudyCost {
                name: "zero_one".into(),
                surrogate: Surrogate::ZeroOne,
            });
        }
        let grid = if self.grid.is_empty() {
            log_grid(self.n_min, self.n_max, self.grid_points)?
        } else {
            let mut g = self.grid.clone();
            if let Some(&bad) = g.iter().find(|&&n| n == 0) {
                return Err(invalid("grid", bad as f64, "sample sizes >= 1"));
            }
            g.sort_unstable();
            g.dedup();
            g
        };
        if grid.is_empty() {
            return Err(Error::Empty { func, arg: "grid" });
        }
        if grid.len() < 2 {
            return Err(invalid(
                "grid",
                grid[0] as f64,
                "at least two distinct sample sizes",
            ));
        }
        if self.replicates < 2 {
            return Err(invalid("replicates", self.replicates as f64, ">= 2"));
        }
        if !(self.correlation > -1.0 && self.correlation < 1.0) {
            return Err(invalid("correlation", self.correlation, "in (-1, 1)"));
        }
        if self.bootstrap < 100 {
            return Err(invalid("bootstrap", self.bootstrap as f64, ">= 100"));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(invalid("confidence", self.confidence, "in (0, 1)"));
        }
        if self.excess.enabled {
            if self.excess.replicates < 2 {
                return Err(invalid(
                    "excess.replicates",
                    self.excess.replicates as f64,
                    ">= 2",
                ));
            }
            if !(self.excess.ridge > 0.0 && self.excess.ridge.is_finite()) {
                return Err(invalid("excess.ridge", self.excess.ridge, "finite and > 0"));
            }
            if self.excess.max_iters == 0 {
                return Err(invalid("excess.max_iters", 0.0, ">= 1"));
            }
            let head = &costs[0].surrogate;
            if !head.is_convex() || *head == Surrogate::ZeroOne {
                return Err(Error::NonConvexCost {
                    func,
                    cost: head.describe(),
                });
            }
        }
        let mut h = Fnv::default();
        let canonical = serde_json::to_string(self).map_err(|e| Error::Input {
            source_name: "rate configuration".into(),
            message: e.to_string(),
        })?;
        h.write(canonical.as_bytes());
        h.write(&chosen.fingerprint().to_le_bytes());
        h.write(&rejected.fingerprint().to_le_bytes());
        Ok(Plan {
            config: self.clone(),
            chosen,
            rejected,
            costs,
            grid,
            config_hash: format!("{:016x}", h.finish()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_fields_are_named() {
        let base = RateConfig::default();
        let cases: Vec<(RateConfig, &str)> = vec![
            (
                RateConfig {
                    replicates: 1,
                    ..base.clone()
                },
                "`replicates` = 1",
            ),
            (
                RateConfig {
                    grid: vec![0, 5],
                    ..base.clone()
                },
                "`grid` = 0",
            ),
            (
                RateConfig {
                    grid: vec![8, 8],
                    ..base.clone()
                },
                "at least two distinct",
            ),
            (
                RateConfig {
                    n_min: 0,
                    ..base.clone()
                },
                "`n_min` = 0",
            ),
            (
                RateConfig {
                    n_max: 4,
                    ..base.clone()
                },
                "`n_max` = 4",
            ),
            (
                RateConfig {
                    correlation: 1.0,
                    ..base.clone()
                },
                "`correlation` = 1",
            ),
            (
                RateConfig {
                    surrogates: vec![],
                    ..base.clone()
                },
                "`surrogates` is empty",
            ),
            (
                RateConfig {
                    surrogates: vec!["logistic:-1".into()],
                    ..base.clone()
                },
                "`beta` = -1",
            ),
            (
                RateConfig {
                    surrogates: vec!["zero_one".into()],
                    ..base.clone()
                },
                "not convex",
            ),
            (
                RateConfig {
                    chosen: Law::Normal { mean: 0.0, sd: 0.0 },
                    ..base.clone()
                },
                "`sd` = 0",
            ),
        ];
        for (cfg, msg) in cases {
            let e = cfg.validate().unwrap_err();
            assert!(e.to_string().contains(msg), "expected `{msg}` in `{e}`");
        }
    }

    #[test]
    fn hash_changes_with_numbers_only() {
        let a = RateConfig::default().validate().unwrap();
        let b = RateConfig::default().validate().unwrap();
        assert_eq!(a.config_hash, b.config_hash);
        let c = RateConfig {
            seed: 1,
            ..RateConfig::default()
        }
        .validate()
        .unwrap();
        assert_ne!(a.config_hash, c.config_hash);
    }
}
