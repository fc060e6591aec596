//! Population laws of rewards and their exact values: quantiles, `ε_h`, and `J(μ)`.
//!
//! The sample-complexity claim of the paper (notes §4) compares the empirical violation of `n`
//! draws with the **population** violation
//!
//! ```text
//! ε_h(U, V) = ∫_0^1 h(Q_U(p) - Q_V(p)) dp,
//! ```
//!
//! and bounds the error by `L·(J(μ_U) + J(μ_V))/√n` with `J(μ) = ∫_ℝ sqrt(F(x)(1 - F(x))) dx`.
//! This module holds the laws ([`Law`], a serialisable description, and [`Population`], the
//! validated law), computes both integrals by adaptive quadrature over levels
//! ([`quadrature`]), and draws samples.
//!
//! **Laws.** Normal, logistic, Gumbel (of maxima), exponential, gamma, log-normal, Student-t
//! (with location and scale), uniform, beta, a two-component mixture of any of these, and an
//! empirical law (the values of a file, or given in memory). CDFs and survival functions come
//! from `statrs` (the logistic law, which `statrs` lacks, is written out here).
//!
//! **Quantiles.** Closed forms for normal, log-normal (through `erfc⁻¹`), logistic
//! (`μ + s·log(p/(1-p))`), Gumbel (`μ - β·log(-log p)`), exponential and uniform. Gamma,
//! Student-t, beta and mixtures are inverted numerically (a bracket, then Brent's method on
//! `F(x) - p` in the lower half and on `(1 - p) - S(x)` in the upper half);
//! for a mixture the bracket is exact, since its quantile lies between the two components'
//! quantiles. Empirical laws use the left-continuous step quantile of [`Sample`].
//! Every quantile is evaluated from the level **and its complement** so that the upper tail
//! keeps full precision. `statrs`' `inverse_cdf` is never called: it panics outside `[0, 1]`,
//! and for Student-t and beta laws its incomplete-beta inversion also panics at levels near the
//! smallest doubles (a test covers those levels here).
//!
//! **Sampling** draws a level `p = (2k + 1)/2^53` with `k` uniform on 52 bits (so `p` and `1 - p`
//! are both exact and never 0 or 1) and returns its quantile for the laws with closed-form
//! quantiles; gamma, beta and Student-t use `rand_distr`'s samplers, a mixture picks its
//! component first, and an empirical law resamples its values.
//!
//! **Known shortcomings.** The accuracy of a population value is limited by that of `statrs`'
//! special functions (its `erf` is accurate to about 5e-11 relative, its incomplete gamma and
//! beta functions to about 1e-13 to 1e-10), not by the quadrature, which is driven to 1e-11
//! relative. A mixture with an empirical component has quantile jumps at levels the quadrature
//! does not know in advance; they are resolved by bisection, which is slower.

pub(crate) mod invert;
pub mod quadrature;

use std::f64::consts::SQRT_2;
use std::fmt;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand_distr::Distribution as _;
use serde::{Deserialize, Serialize};
use statrs::distribution::ContinuousCDF;
use statrs::function::erf::{erfc, erfc_inv};

use crate::cost::{sigmoid, Cost};
use crate::coupling::integrate;
use crate::error::{Error, Result};
use crate::sample::Sample;

use invert::{invert, Target};
use quadrature::{integrate_levels, Integral, Tolerance};

/// A serialisable description of a population law; [`Population::new`] validates it.
///
/// In TOML or JSON a law is a table with a `kind` tag, for example
/// `{ kind = "normal", mean = 0.3, sd = 1.5 }`. On the command line it is written
/// `name:param:param…` (see [`Law::from_str`](std::str::FromStr)).
///
/// # Examples
///
/// ```
/// use aot::population::Law;
///
/// let law: Law = "mixture:0.3:normal:0:1:gamma:2:1".parse()?;
/// assert_eq!(law.to_string(), "mixture:0.3:normal:0:1:gamma:2:1");
/// let json = serde_json::to_string(&"normal:0:2".parse::<Law>()?).unwrap();
/// assert_eq!(json, r#"{"kind":"normal","mean":0.0,"sd":2.0}"#);
/// # Ok::<(), aot::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Law {
    /// Normal with mean and standard deviation `sd > 0`.
    Normal {
        /// Mean μ.
        mean: f64,
        /// Standard deviation σ > 0.
        sd: f64,
    },
    /// Logistic, `F(x) = σ((x - location)/scale)`.
    Logistic {
        /// Location (the median).
        location: f64,
        /// Scale s > 0 (the standard deviation is `π s/√3`).
        scale: f64,
    },
    /// Gumbel of maxima, `F(x) = exp(-exp(-(x - location)/scale))`.
    Gumbel {
        /// Location (the mode).
        location: f64,
        /// Scale β > 0.
        scale: f64,
    },
    /// Exponential with `F(x) = 1 - e^{-rate·x}` on `x >= 0`.
    Exponential {
        /// Rate λ > 0.
        rate: f64,
    },
    /// Gamma with shape `k` and rate `λ` (mean `k/λ`).
    Gamma {
        /// Shape k > 0.
        shape: f64,
        /// Rate λ > 0.
        rate: f64,
    },
    /// Log-normal: `exp(N(mu, sigma²))`.
    LogNormal {
        /// Mean of the logarithm.
        mu: f64,
        /// Standard deviation of the logarithm, > 0.
        sigma: f64,
    },
    /// Student-t with `dof` degrees of freedom, shifted and scaled: `location + scale·T_dof`.
    StudentT {
        /// Location (the median).
        location: f64,
        /// Scale > 0.
        scale: f64,
        /// Degrees of freedom ν > 0 (`J` is finite only for ν > 2).
        dof: f64,
    },
    /// Uniform on `[low, high]`.
    Uniform {
        /// Lower end.
        low: f64,
        /// Upper end, > `low`.
        high: f64,
    },
    /// Beta with shapes `a, b > 0` on `[0, 1]`.
    Beta {
        /// First shape α > 0.
        a: f64,
        /// Second shape β > 0.
        b: f64,
    },
    /// The mixture `weight·first + (1 - weight)·second`.
    Mixture {
        /// Weight of `first`, in `[0, 1]`.
        weight: f64,
        /// First component.
        first: Box<Law>,
        /// Second component.
        second: Box<Law>,
    },
    /// The empirical law of the values in a file (formats of [`crate::io::parse_column`]).
    Empirical {
        /// The file.
        path: PathBuf,
        /// Column or JSON field, when the file has several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<String>,
    },
    /// The empirical law of values given in memory.
    Values {
        /// The values (finite, at least one).
        values: Vec<f64>,
    },
}

/// How many numeric parameters each named law takes on the command line.
fn arity(name: &str) -> Option<usize> {
    Some(match name {
        "exponential" => 1,
        "normal" | "logistic" | "gumbel" | "gamma" | "lognormal" | "uniform" | "beta" => 2,
        "student_t" => 3,
        _ => return None,
    })
}

fn parse_law(tokens: &[&str], pos: &mut usize, text: &str) -> Result<Law> {
    let bad = |message: String| Error::Input {
        source_name: format!("law `{text}`"),
        message,
    };
    let name = tokens
        .get(*pos)
        .ok_or_else(|| bad("missing law name".into()))?
        .trim();
    *pos += 1;
    let mut nums = |k: usize| -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(k);
        for _ in 0..k {
            let t = tokens
                .get(*pos)
                .ok_or_else(|| bad(format!("`{name}` takes {k} parameter(s)")))?
                .trim();
            *pos += 1;
            out.push(
                t.parse()
                    .map_err(|e| bad(format!("parameter `{t}` of `{name}`: {e}")))?,
            );
        }
        Ok(out)
    };
    Ok(match name {
        "normal" => {
            let v = nums(2)?;
            Law::Normal {
                mean: v[0],
                sd: v[1],
            }
        }
        "logistic" => {
            let v = nums(2)?;
            Law::Logistic {
                location: v[0],
                scale: v[1],
            }
        }
        "gumbel" => {
            let v = nums(2)?;
            Law::Gumbel {
                location: v[0],
                scale: v[1],
            }
        }
        "exponential" => Law::Exponential { rate: nums(1)?[0] },
        "gamma" => {
            let v = nums(2)?;
            Law::Gamma {
                shape: v[0],
                rate: v[1],
            }
        }
        "lognormal" => {
            let v = nums(2)?;
            Law::LogNormal {
                mu: v[0],
                sigma: v[1],
            }
        }
        "student_t" => {
            let v = nums(3)?;
            Law::StudentT {
                location: v[0],
                scale: v[1],
                dof: v[2],
            }
        }
        "uniform" => {
            let v = nums(2)?;
            Law::Uniform {
                low: v[0],
                high: v[1],
            }
        }
        "beta" => {
            let v = nums(2)?;
            Law::Beta { a: v[0], b: v[1] }
        }
        "mixture" => {
            let weight = nums(1)?[0];
            let first = Box::new(parse_law(tokens, pos, text)?);
            let second = Box::new(parse_law(tokens, pos, text)?);
            Law::Mixture {
                weight,
                first,
                second,
            }
        }
        "empirical" => {
            let t = tokens
                .get(*pos)
                .ok_or_else(|| bad("`empirical` takes a file".into()))?;
            *pos += 1;
            let (path, column) = match t.rsplit_once('@') {
                Some((p, c)) => (p, Some(c.to_string())),
                None => (*t, None),
            };
            Law::Empirical {
                path: PathBuf::from(path),
                column,
            }
        }
        _ => {
            debug_assert!(arity(name).is_none());
            return Err(bad(format!(
                "unknown law `{name}`; expected normal, logistic, gumbel, exponential, gamma, \
                 lognormal, student_t, uniform, beta, mixture or empirical"
            )));
        }
    })
}

impl std::str::FromStr for Law {
    type Err = Error;

    /// Parses `normal:MEAN:SD`, `logistic:LOCATION:SCALE`, `gumbel:LOCATION:SCALE`,
    /// `exponential:RATE`, `gamma:SHAPE:RATE`, `lognormal:MU:SIGMA`,
    /// `student_t:LOCATION:SCALE:DOF`, `uniform:LOW:HIGH`, `beta:A:B`,
    /// `mixture:WEIGHT:LAW:LAW` (components written the same way) and `empirical:FILE` or
    /// `empirical:FILE@COLUMN` (a file name must not contain `:`). Parameters are checked later,
    /// by [`Population::new`].
    fn from_str(s: &str) -> Result<Self> {
        let tokens: Vec<&str> = s.split(':').collect();
        let mut pos = 0;
        let law = parse_law(&tokens, &mut pos, s)?;
        if pos != tokens.len() {
            return Err(Error::Input {
                source_name: format!("law `{s}`"),
                message: format!("unexpected trailing `{}`", tokens[pos..].join(":")),
            });
        }
        Ok(law)
    }
}

impl fmt::Display for Law {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normal { mean, sd } => write!(f, "normal:{mean}:{sd}"),
            Self::Logistic { location, scale } => write!(f, "logistic:{location}:{scale}"),
            Self::Gumbel { location, scale } => write!(f, "gumbel:{location}:{scale}"),
            Self::Exponential { rate } => write!(f, "exponential:{rate}"),
            Self::Gamma { shape, rate } => write!(f, "gamma:{shape}:{rate}"),
            Self::LogNormal { mu, sigma } => write!(f, "lognormal:{mu}:{sigma}"),
            Self::StudentT {
                location,
                scale,
                dof,
            } => {
                write!(f, "student_t:{location}:{scale}:{dof}")
            }
            Self::Uniform { low, high } => write!(f, "uniform:{low}:{high}"),
            Self::Beta { a, b } => write!(f, "beta:{a}:{b}"),
            Self::Mixture {
                weight,
                first,
                second,
            } => write!(f, "mixture:{weight}:{first}:{second}"),
            Self::Empirical { path, column: None } => write!(f, "empirical:{}", path.display()),
            Self::Empirical {
                path,
                column: Some(c),
            } => {
                write!(f, "empirical:{}@{c}", path.display())
            }
            Self::Values { values } => write!(f, "values(n={})", values.len()),
        }
    }
}

/// A validated population law with its CDF, survival function, quantile function and sampler.
///
/// # Examples
///
/// ```
/// use aot::population::Population;
///
/// let n = Population::normal(1.0, 2.0)?;
/// assert!((n.quantile(0.5)? - 1.0).abs() < 1e-15);
/// // Q(Φ(1)) = μ + σ·1 = 3, with Φ(1) = 0.8413447460685429 (statrs' Normal::cdf).
/// assert!((n.quantile(0.841_344_746_068_542_9)? - 3.0).abs() < 1e-9);
/// assert!(Population::normal(0.0, -1.0).is_err());
/// # Ok::<(), aot::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Population {
    law: Law,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Normal {
        mean: f64,
        sd: f64,
    },
    Logistic {
        location: f64,
        scale: f64,
    },
    Gumbel(statrs::distribution::Gumbel),
    Exponential(statrs::distribution::Exp),
    Gamma(statrs::distribution::Gamma, rand_distr::Gamma<f64>),
    LogNormal(statrs::distribution::LogNormal),
    StudentT(statrs::distribution::StudentsT, rand_distr::StudentT<f64>),
    Uniform(statrs::distribution::Uniform),
    Beta(statrs::distribution::Beta, rand_distr::Beta<f64>),
    Mixture {
        weight: f64,
        first: Box<Population>,
        second: Box<Population>,
    },
    Empirical(Sample),
}

fn check_finite_param(func: &'static str, name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            func,
            name,
            value,
            expected: "finite",
        })
    }
}

fn check_pos(func: &'static str, name: &'static str, value: f64) -> Result<()> {
    crate::error::check_positive(func, name, value)
}

fn statrs_error(func: &'static str, name: &'static str, value: f64) -> Error {
    Error::InvalidParameter {
        func,
        name,
        value,
        expected: "accepted by statrs",
    }
}

impl Population {
    /// Validates a law (reading the file of an empirical law).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the law's constructor and the parameter (for example
    /// `Population::normal: parameter `sd` = -1 is invalid: finite and > 0`);
    /// [`Error::Input`] when an empirical file cannot be read or holds no valid value.
    pub fn new(law: &Law) -> Result<Self> {
        let kind = match law {
            Law::Normal { mean, sd } => {
                let func = "Population::normal";
                check_finite_param(func, "mean", *mean)?;
                check_pos(func, "sd", *sd)?;
                Kind::Normal {
                    mean: *mean,
                    sd: *sd,
                }
            }
            Law::Logistic { location, scale } => {
                let func = "Population::logistic";
                check_finite_param(func, "location", *location)?;
                check_pos(func, "scale", *scale)?;
                Kind::Logistic {
                    location: *location,
                    scale: *scale,
                }
            }
            Law::Gumbel { location, scale } => {
                let func = "Population::gumbel";
                check_finite_param(func, "location", *location)?;
                check_pos(func, "scale", *scale)?;
                Kind::Gumbel(
                    statrs::distribution::Gumbel::new(*location, *scale)
                        .map_err(|_| statrs_error(func, "scale", *scale))?,
                )
            }
            Law::Exponential { rate } => {
                let func = "Population::exponential";
                check_pos(func, "rate", *rate)?;
                Kind::Exponential(
                    statrs::distribution::Exp::new(*rate)
                        .map_err(|_| statrs_error(func, "rate", *rate))?,
                )
            }
            Law::Gamma { shape, rate } => {
                let func = "Population::gamma";
                check_pos(func, "shape", *shape)?;
                check_pos(func, "rate", *rate)?;
                Kind::Gamma(
                    statrs::distribution::Gamma::new(*shape, *rate)
                        .map_err(|_| statrs_error(func, "shape", *shape))?,
                    rand_distr::Gamma::new(*shape, 1.0 / *rate)
                        .map_err(|_| statrs_error(func, "rate", *rate))?,
                )
            }
            Law::LogNormal { mu, sigma } => {
                let func = "Population::lognormal";
                check_finite_param(func, "mu", *mu)?;
                check_pos(func, "sigma", *sigma)?;
                Kind::LogNormal(
                    statrs::distribution::LogNormal::new(*mu, *sigma)
                        .map_err(|_| statrs_error(func, "sigma", *sigma))?,
                )
            }
            Law::StudentT {
                location,
                scale,
                dof,
            } => {
                let func = "Population::student_t";
                check_finite_param(func, "location", *location)?;
                check_pos(func, "scale", *scale)?;
                check_pos(func, "dof", *dof)?;
                Kind::StudentT(
                    statrs::distribution::StudentsT::new(*location, *scale, *dof)
                        .map_err(|_| statrs_error(func, "dof", *dof))?,
                    rand_distr::StudentT::new(*dof).map_err(|_| statrs_error(func, "dof", *dof))?,
                )
            }
            Law::Uniform { low, high } => {
                let func = "Population::uniform";
                check_finite_param(func, "low", *low)?;
                check_finite_param(func, "high", *high)?;
                if high <= low {
                    return Err(Error::InvalidParameter {
                        func,
                        name: "high",
                        value: *high,
                        expected: "greater than `low`",
                    });
                }
                Kind::Uniform(
                    statrs::distribution::Uniform::new(*low, *high)
                        .map_err(|_| statrs_error(func, "high", *high))?,
                )
            }
            Law::Beta { a, b } => {
                let func = "Population::beta";
                check_pos(func, "a", *a)?;
                check_pos(func, "b", *b)?;
                Kind::Beta(
                    statrs::distribution::Beta::new(*a, *b)
                        .map_err(|_| statrs_error(func, "a", *a))?,
                    rand_distr::Beta::new(*a, *b).map_err(|_| statrs_error(func, "b", *b))?,
                )
            }
            Law::Mixture {
                weight,
                first,
                second,
            } => {
                if !(0.0..=1.0).contains(weight) {
                    return Err(Error::InvalidParameter {
                        func: "Population::mixture",
                        name: "weight",
                        value: *weight,
                        expected: "in [0, 1]",
                    });
                }
                Kind::Mixture {
                    weight: *weight,
                    first: Box::new(Self::new(first)?),
                    second: Box::new(Self::new(second)?),
                }
            }
            Law::Empirical { path, column } => {
                let values = crate::io::read_column(path, column.as_deref())?;
                Kind::Empirical(Sample::new(&values)?)
            }
            Law::Values { values } => Kind::Empirical(Sample::new(values)?),
        };
        Ok(Self {
            law: law.clone(),
            kind,
        })
    }

    /// `N(mean, sd²)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `mean` is finite and `sd` finite and positive.
    pub fn normal(mean: f64, sd: f64) -> Result<Self> {
        Self::new(&Law::Normal { mean, sd })
    }

    /// The empirical law of `values` (each with mass `1/n`).
    ///
    /// # Errors
    ///
    /// As [`Sample::new`].
    pub fn from_values(values: &[f64]) -> Result<Self> {
        Self::new(&Law::Values {
            values: values.to_vec(),
        })
    }

    /// The empirical law of a file's values.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] when the file cannot be read or parsed.
    pub fn from_file(path: &Path, column: Option<&str>) -> Result<Self> {
        Self::new(&Law::Empirical {
            path: path.to_path_buf(),
            column: column.map(str::to_string),
        })
    }

    /// The law this population was built from.
    pub fn law(&self) -> &Law {
        &self.law
    }

    /// A 64-bit fingerprint of the law **and its data** (the values of an empirical law), used
    /// to tell apart studies of different populations.
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fnv::default();
        h.write(self.law.to_string().as_bytes());
        self.fingerprint_data(&mut h);
        h.finish()
    }

    fn fingerprint_data(&self, h: &mut Fnv) {
        match &self.kind {
            Kind::Empirical(s) => {
                for x in s.sorted_values() {
                    h.write(&x.to_bits().to_le_bytes());
                }
            }
            Kind::Mixture { first, second, .. } => {
                first.fingerprint_data(h);
                second.fingerprint_data(h);
            }
            _ => {}
        }
    }

    /// Support `[lo, hi]` (ends may be infinite).
    pub fn support(&self) -> (f64, f64) {
        let inf = f64::INFINITY;
        match &self.kind {
            Kind::Normal { .. } | Kind::Logistic { .. } | Kind::Gumbel(_) | Kind::StudentT(..) => {
                (-inf, inf)
            }
            Kind::Exponential(_) | Kind::Gamma(..) | Kind::LogNormal(_) => (0.0, inf),
            Kind::Uniform(u) => (u.min(), u.max()),
            Kind::Beta(..) => (0.0, 1.0),
            Kind::Mixture { first, second, .. } => {
                let (a, b) = first.support();
                let (c, d) = second.support();
                (a.min(c), b.max(d))
            }
            Kind::Empirical(s) => (s.min(), s.max()),
        }
    }

    /// The CDF `F(x) = P(X <= x)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::population::Population;
    /// let l = Population::new(&"logistic:0:1".parse()?)?;
    /// assert_eq!(l.cdf(0.0), 0.5);
    /// # Ok::<(), aot::Error>(())
    /// ```
    pub fn cdf(&self, x: f64) -> f64 {
        match &self.kind {
            Kind::Normal { mean, sd } => 0.5 * erfc(-(x - mean) / (sd * SQRT_2)),
            Kind::Logistic { location, scale } => sigmoid((x - location) / scale),
            Kind::Gumbel(d) => d.cdf(x),
            Kind::Exponential(d) => d.cdf(x),
            Kind::Gamma(d, _) => d.cdf(x),
            Kind::LogNormal(d) => d.cdf(x),
            Kind::StudentT(d, _) => d.cdf(x),
            Kind::Uniform(d) => d.cdf(x),
            Kind::Beta(d, _) => d.cdf(x),
            Kind::Mixture {
                weight,
                first,
                second,
            } => weight * first.cdf(x) + (1.0 - weight) * second.cdf(x),
            Kind::Empirical(s) => s.cdf(x),
        }
    }

    /// The survival function `S(x) = P(X > x) = 1 - F(x)`, accurate in the upper tail.
    pub fn sf(&self, x: f64) -> f64 {
        match &self.kind {
            Kind::Normal { mean, sd } => 0.5 * erfc((x - mean) / (sd * SQRT_2)),
            Kind::Logistic { location, scale } => sigmoid(-(x - location) / scale),
            Kind::Gumbel(d) => d.sf(x),
            Kind::Exponential(d) => d.sf(x),
            Kind::Gamma(d, _) => d.sf(x),
            Kind::LogNormal(d) => d.sf(x),
            Kind::StudentT(d, _) => d.sf(x),
            Kind::Uniform(d) => d.sf(x),
            Kind::Beta(d, _) => d.sf(x),
            Kind::Mixture {
                weight,
                first,
                second,
            } => weight * first.sf(x) + (1.0 - weight) * second.sf(x),
            Kind::Empirical(s) => 1.0 - s.cdf(x),
        }
    }

    /// The quantile `Q(p) = inf{x : F(x) >= p}` for `p ∈ [0, 1]` (`Q(0)` and `Q(1)` are the
    /// ends of the support, possibly infinite).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for `p` outside `[0, 1]` or NaN; [`Error::SolverFailed`] if a
    /// numerical inversion fails (it does not for valid laws).
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::population::Population;
    /// let e = Population::new(&"exponential:2".parse()?)?;
    /// // Q(p) = -log(1 - p)/λ: Q(1 - e^{-2}) = 1.
    /// assert!((e.quantile(1.0 - (-2f64).exp())? - 1.0).abs() < 1e-15);
    /// assert!(e.quantile(1.5).is_err());
    /// # Ok::<(), aot::Error>(())
    /// ```
    pub fn quantile(&self, p: f64) -> Result<f64> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidParameter {
                func: "Population::quantile",
                name: "p",
                value: p,
                expected: "in [0, 1]",
            });
        }
        if p == 0.0 {
            return Ok(self.support().0);
        }
        if p == 1.0 {
            return Ok(self.support().1);
        }
        self.quantile_pq(p, 1.0 - p)
    }

    /// The quantile at the level `p`, given also as its complement `q = 1 - p`; both in
    /// `(0, 1)`, the smaller one accurate to full relative precision.
    pub(crate) fn quantile_pq(&self, p: f64, q: f64) -> Result<f64> {
        debug_assert!(
            p > 0.0 && q > 0.0 && p <= 1.0 && q <= 1.0,
            "level ({p}, {q})"
        );
        let lower = p <= 0.5;
        Ok(match &self.kind {
            Kind::Normal { mean, sd } => mean + sd * std_normal_quantile(p, q),
            Kind::Logistic { location, scale } => location + scale * (p.ln() - q.ln()),
            Kind::Gumbel(d) => {
                let (mu, beta) = (d.location(), d.scale());
                // -log p, accurate from either tail.
                let neg_log_p = if lower { -p.ln() } else { -(-q).ln_1p() };
                mu - beta * neg_log_p.ln()
            }
            Kind::Exponential(d) => {
                let tail = if lower { -(-p).ln_1p() } else { -q.ln() };
                tail / d.rate()
            }
            Kind::LogNormal(d) => (d.location() + d.scale() * std_normal_quantile(p, q)).exp(),
            Kind::Uniform(d) => {
                let (lo, hi) = (d.min(), d.max());
                if lower {
                    lo + (hi - lo) * p
                } else {
                    hi - (hi - lo) * q
                }
            }
            Kind::Gamma(d, _) => {
                let (k, rate) = (d.shape(), d.rate());
                // Wilson–Hilferty start: k(1 - 1/(9k) + z/(3√k))³ / λ.
                let z = std_normal_quantile(p, q);
                let c = 1.0 - 1.0 / (9.0 * k) + z / (3.0 * k.sqrt());
                let start = if c > 0.0 {
                    k * c * c * c / rate
                } else {
                    k / rate * p
                };
                self.invert_numerically(p, q, start, 1e-3 * k.sqrt().max(0.1) / rate)?
            }
            Kind::StudentT(d, _) => {
                // Start from the normal quantile with the same location and scale. (statrs'
                // inverse_cdf is not used even for a start: its incomplete-beta inversion
                // panics for levels near the smallest doubles.)
                let z = std_normal_quantile(p, q);
                let start = d.location() + d.scale() * z;
                self.invert_numerically(p, q, start, 1e-3 * d.scale() * (1.0 + z.abs()))?
            }
            Kind::Beta(d, _) => {
                let (a, b) = (d.shape_a(), d.shape_b());
                self.invert_numerically(p, q, a / (a + b), 1e-2)?
            }
            Kind::Mixture {
                weight,
                first,
                second,
            } => {
                if *weight == 1.0 {
                    return first.quantile_pq(p, q);
                }
                if *weight == 0.0 {
                    return second.quantile_pq(p, q);
                }
                // F_mix lies between the components' CDFs, so Q_mix(p) lies between their
                // quantiles: an exact bracket.
                let (a, b) = (first.quantile_pq(p, q)?, second.quantile_pq(p, q)?);
                let (lo, hi) = (a.min(b), a.max(b));
                if lo == hi {
                    lo
                } else {
                    let cdf = |x: f64| self.cdf(x);
                    let sf = |x: f64| self.sf(x);
                    let t = Target {
                        cdf: &cdf,
                        sf: &sf,
                        support: (lo, hi),
                    };
                    invert(&t, p, q, lo, 0.5 * (hi - lo))?
                }
            }
            Kind::Empirical(s) => s.quantile(p)?,
        })
    }

    fn invert_numerically(&self, p: f64, q: f64, start: f64, step: f64) -> Result<f64> {
        let cdf = |x: f64| self.cdf(x);
        let sf = |x: f64| self.sf(x);
        let t = Target {
            cdf: &cdf,
            sf: &sf,
            support: self.support(),
        };
        let step = if step > 0.0 && step.is_finite() {
            step
        } else {
            1e-3
        };
        let start = if start.is_finite() { start } else { 0.0 };
        invert(&t, p, q, start, step)
    }

    /// Levels where the quantile function jumps (for an empirical law of `n` distinct values,
    /// `k/n`), handed to the quadrature as breakpoints. Empty for continuous laws, and for
    /// mixtures (whose jump levels depend on the other component).
    pub(crate) fn jump_levels(&self) -> Vec<f64> {
        match &self.kind {
            Kind::Empirical(s) => {
                let n = s.len();
                (1..n)
                    .filter(|&k| s.sorted_values()[k] != s.sorted_values()[k - 1])
                    .map(|k| k as f64 / n as f64)
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether `J(μ)` is finite (false for Student-t with `dof <= 2` and mixtures holding one).
    pub fn has_finite_j(&self) -> bool {
        match &self.kind {
            Kind::StudentT(d, _) => d.freedom() > 2.0,
            Kind::Mixture {
                weight,
                first,
                second,
            } => {
                (*weight == 0.0 || first.has_finite_j())
                    && (*weight == 1.0 || second.has_finite_j())
            }
            _ => true,
        }
    }

    /// `J(μ) = ∫_ℝ sqrt(F(x)(1 - F(x))) dx`, the constant of `E W1(μ̂_n, μ) <= J(μ)/√n`.
    ///
    /// # Formula
    ///
    /// Integrating by parts in the level `p = F(x)` (the boundary terms vanish when `J` is
    /// finite) turns it into an integral of the quantile function alone,
    ///
    /// ```text
    /// J(μ) = ∫_0^1 sqrt(p(1-p)) dQ(p) = ∫_0^1 (Q(p) - Q(1/2)) · (2p - 1) / (2 sqrt(p(1-p))) dp,
    /// ```
    ///
    /// computed by [`quadrature::integrate_levels`] (subtracting the median avoids cancellation
    /// for laws far from 0). For an empirical law of sorted values `x_(1) <= … <= x_(n)` it is the
    /// exact sum `Σ_k (x_(k+1) - x_(k)) sqrt((k/n)(1 - k/n))`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `J` is infinite (Student-t with `dof <= 2`);
    /// [`Error::SolverFailed`] if the quadrature does not converge.
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::population::Population;
    /// // For Exp(λ): J = ∫_0^∞ sqrt((1 - e^{-λx}) e^{-λx}) dx = B(1/2, 3/2)/λ = π/(2λ)
    /// // (substitute y = e^{-λx}).
    /// let j = Population::new(&"exponential:2".parse()?)?.j_functional()?;
    /// assert!((j.value - std::f64::consts::PI / 4.0).abs() < 1e-9);
    /// # Ok::<(), aot::Error>(())
    /// ```
    pub fn j_functional(&self) -> Result<Integral> {
        if !self.has_finite_j() {
            let dof = match &self.law {
                Law::StudentT { dof, .. } => *dof,
                _ => f64::NAN,
            };
            return Err(Error::InvalidParameter {
                func: "Population::j_functional",
                name: "dof",
                value: dof,
                expected: "> 2 for every Student-t component (J is infinite otherwise)",
            });
        }
        if let Kind::Empirical(s) = &self.kind {
            let x = s.sorted_values();
            let n = x.len() as f64;
            let mut sum = crate::coupling::CompensatedSum::default();
            for k in 1..x.len() {
                let p = k as f64 / n;
                sum.add((x[k] - x[k - 1]) * (p * (1.0 - p)).sqrt());
            }
            return Ok(Integral {
                value: sum.value(),
                error_estimate: 0.0,
                evaluations: 0,
                pieces: 0,
            });
        }
        let median = self.quantile_pq(0.5, 0.5)?;
        let mut failure = None;
        let integral = integrate_levels(
            |p, q| match self.quantile_pq(p, q) {
                Ok(x) => (x - median) * (p - q) / (2.0 * (p * q).sqrt()),
                Err(e) => {
                    failure.get_or_insert(e);
                    0.0
                }
            },
            &self.jump_levels(),
            Tolerance::default(),
        )?;
        match failure {
            Some(e) => Err(e),
            None => Ok(integral),
        }
    }

    /// Draws one value.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<f64> {
        Ok(match &self.kind {
            Kind::Gamma(_, g) => g.sample(rng),
            Kind::Beta(_, b) => b.sample(rng),
            Kind::StudentT(d, t) => d.location() + d.scale() * t.sample(rng),
            Kind::Mixture {
                weight,
                first,
                second,
            } => {
                let (p, _) = uniform_level(rng);
                if p < *weight {
                    first.draw(rng)?
                } else {
                    second.draw(rng)?
                }
            }
            Kind::Empirical(s) => {
                let k = rng.random_range(0..s.len());
                s.sorted_values()[k]
            }
            _ => {
                let (p, q) = uniform_level(rng);
                self.quantile_pq(p, q)?
            }
        })
    }

    /// Draws `n` independent values.
    ///
    /// # Errors
    ///
    /// Only if a numerical quantile fails, which does not happen for valid laws.
    ///
    /// # Examples
    ///
    /// ```
    /// use aot::population::Population;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    /// let x = Population::normal(0.0, 1.0)?.sample(&mut rng, 1000)?;
    /// let mean = x.iter().sum::<f64>() / 1000.0;
    /// assert!(mean.abs() < 0.15); // 4.7 standard errors of 1/√1000
    /// # Ok::<(), aot::Error>(())
    /// ```
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> Result<Vec<f64>> {
        (0..n).map(|_| self.draw(rng)).collect()
    }
}

impl fmt::Display for Population {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.law.fmt(f)
    }
}

/// The standard normal quantile `Φ⁻¹(p)` from the level and its complement:
/// `-√2·erfc⁻¹(2p)` in the lower half and `√2·erfc⁻¹(2q)` in the upper half.
fn std_normal_quantile(p: f64, q: f64) -> f64 {
    if p <= 0.5 {
        -SQRT_2 * erfc_inv(2.0 * p)
    } else {
        SQRT_2 * erfc_inv(2.0 * q)
    }
}

/// The standard normal CDF at `z` and at `-z`, each accurate in its own tail.
pub(crate) fn std_normal_levels(z: f64) -> (f64, f64) {
    (0.5 * erfc(-z / SQRT_2), 0.5 * erfc(z / SQRT_2))
}

/// A uniform level `p = (2k + 1)/2^53`, `k` uniform on `0 .. 2^52`, with its exact complement.
pub(crate) fn uniform_level<R: Rng + ?Sized>(rng: &mut R) -> (f64, f64) {
    let k = rng.random::<u64>() >> 12;
    let scale = 1.0 / 9_007_199_254_740_992.0; // 2^-53
    let odd = (2 * k + 1) as f64;
    (odd * scale, (9_007_199_254_740_992.0 - odd) * scale)
}

/// The population relaxed violation `ε_h(U, V) = ∫_0^1 h(Q_U(p) - Q_V(p)) dp`.
///
/// Computed by [`quadrature::integrate_levels`] with the jump levels of empirical laws as
/// breakpoints (two empirical laws are integrated exactly by the quantile merge of
/// [`crate::coupling`]). Any cost is accepted; for the 0-1 cost the value is the Lebesgue
/// measure of the levels where `Q_U < Q_V`, whose jump is found by bisection.
///
/// # Errors
///
/// [`Error::SolverFailed`] when the integrand is not finite somewhere (a cost that overflows on
/// a heavy tail) or the quadrature does not converge (the integral is infinite, for instance
/// least squares between laws without a second moment).
///
/// # Examples
///
/// ```
/// use aot::{cost::Surrogate, population::{population_violation, Population}};
///
/// // Q_U - Q_V = 0.5 is constant for N(0.5, 1) against N(0, 1), so with least squares of
/// // margin 1 the violation is (1 - 0.5)² = 0.25 exactly.
/// let u = Population::normal(0.5, 1.0)?;
/// let v = Population::normal(0.0, 1.0)?;
/// let e = population_violation(&u, &v, &Surrogate::least_squares(1.0)?)?;
/// assert!((e.value - 0.25).abs() < 1e-12);
/// # Ok::<(), aot::Error>(())
/// ```
pub fn population_violation<C: Cost + ?Sized>(
    u: &Population,
    v: &Population,
    cost: &C,
) -> Result<Integral> {
    if let (Kind::Empirical(a), Kind::Empirical(b)) = (&u.kind, &v.kind) {
        let value = integrate(a, b, |x, y| cost.value(x - y));
        return Ok(Integral {
            value,
            error_estimate: 0.0,
            evaluations: 0,
            pieces: 0,
        });
    }
    let mut breaks = u.jump_levels();
    breaks.extend(v.jump_levels());
    let mut failure = None;
    let integral = integrate_levels(
        |p, q| match (u.quantile_pq(p, q), v.quantile_pq(p, q)) {
            (Ok(a), Ok(b)) => cost.value(a - b),
            (Err(e), _) | (_, Err(e)) => {
                failure.get_or_insert(e);
                0.0
            }
        },
        &breaks,
        Tolerance::default(),
    )?;
    match failure {
        Some(e) => Err(e),
        None => Ok(integral),
    }
}

/// 64-bit FNV-1a, a stable hash (the standard library's hasher may change between releases).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "normal:0.3:1.5",
            "logistic:0:2",
            "gumbel:1:0.5",
            "exponential:3",
            "gamma:2:1",
            "lognormal:0:0.5",
            "student_t:0:1:5",
            "uniform:-1:1",
            "beta:2:3",
            "mixture:0.25:normal:0:1:mixture:0.5:exponential:1:beta:1:1",
            "empirical:x.csv@chosen",
        ] {
            let law: Law = s.parse().unwrap();
            assert_eq!(law.to_string(), s);
        }
        let e = "normal:0".parse::<Law>().unwrap_err();
        assert!(e.to_string().contains("takes 2 parameter"), "{e}");
        let e = "normal:0:1:2".parse::<Law>().unwrap_err();
        assert!(e.to_string().contains("trailing `2`"), "{e}");
        assert!("cauchy:0:1".parse::<Law>().is_err());
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases = [
            ("normal:0:0", "Population::normal: parameter `sd` = 0"),
            ("gamma:-1:1", "Population::gamma: parameter `shape` = -1"),
            ("uniform:1:1", "Population::uniform: parameter `high` = 1"),
            (
                "student_t:0:1:0",
                "Population::student_t: parameter `dof` = 0",
            ),
            (
                "mixture:1.5:normal:0:1:normal:0:1",
                "Population::mixture: parameter `weight` = 1.5",
            ),
            ("beta:1:inf", "Population::beta: parameter `b` = inf"),
        ];
        for (s, msg) in cases {
            let e = Population::new(&s.parse().unwrap()).unwrap_err();
            assert!(e.to_string().starts_with(msg), "{s}: {e}");
        }
        let t3 = Population::new(&"student_t:0:1:2".parse().unwrap()).unwrap();
        assert!(t3.j_functional().is_err());
    }

    #[test]
    fn numerical_quantiles_invert_the_cdf() {
        for s in [
            "gamma:0.5:2",
            "gamma:7:1",
            "student_t:1:2:3",
            "beta:0.5:2",
            "mixture:0.3:normal:0:1:gamma:2:1",
        ] {
            let pop = Population::new(&s.parse().unwrap()).unwrap();
            for p in [1e-12, 1e-4, 0.1, 0.5, 0.9, 1.0 - 1e-4] {
                let x = pop.quantile(p).unwrap();
                let back = if p <= 0.5 {
                    pop.cdf(x)
                } else {
                    1.0 - pop.sf(x)
                };
                assert!(
                    (back - p).abs() <= 1e-12 * p.max(1e-3),
                    "{s}: p={p}, x={x}, F={back}"
                );
            }
            // Deep upper tail through the complement: S(Q(1 - q)) = q for q = 1e-14.
            let q = 1e-14;
            let x = pop.quantile_pq(1.0 - q, q).unwrap();
            assert!((pop.sf(x) / q - 1.0).abs() < 1e-8, "{s}: S = {}", pop.sf(x));
        }
    }

    #[test]
    fn extreme_levels_neither_panic_nor_hang() {
        // Levels down to the smallest normal double, from either side, for every numerically
        // inverted law; the answers must be finite (or the support's end) and ordered.
        let tiny = [f64::MIN_POSITIVE, 1e-300, 1e-100, 1e-20];
        for s in [
            "gamma:0.3:2",
            "student_t:0:1:2.5",
            "beta:0.4:3",
            "beta:3:0.4",
        ] {
            let pop = Population::new(&s.parse().unwrap()).unwrap();
            for &t in &tiny {
                let lo = pop.quantile_pq(t, 1.0).unwrap();
                let hi = pop.quantile_pq(1.0, t).unwrap();
                assert!(
                    !lo.is_nan() && !hi.is_nan() && lo <= hi,
                    "{s} at {t:e}: {lo}, {hi}"
                );
            }
        }
    }

    #[test]
    fn uniform_levels_are_exact_complements() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            let (p, q) = uniform_level(&mut rng);
            assert!(p > 0.0 && q > 0.0 && p < 1.0 && q < 1.0);
            assert_eq!(p + q, 1.0);
        }
    }
}
