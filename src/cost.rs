//! Surrogate costs `h` for the relaxed dominance violation `ε_h = ∫_0^1 h(Q_U(p) - Q_V(p)) dp`.
//!
//! A cost sees the quantile gap `x = Q_U(p) - Q_V(p)` and penalises negative gaps (dominance
//! failures). The [`Cost`] trait is what every algorithm takes; [`Surrogate`] holds the costs of
//! the paper (section 1.5 of the notes) and the non-convex ones used as counterexamples.
//!
//! | surrogate | `h(x)` | convex | Lipschitz | `h(0)` |
//! |---|---|---|---|---|
//! | logistic, slope β | `log(1 + e^{-βx})` | yes | β | `log 2` |
//! | smoothed, ε | `(1-ε) log(1+e^{-βx}) + ε log(1+e^{βx})` | yes | `β max(ε, 1-ε)` | `log 2` |
//! | hinge, margin β | `(β - x)_+` | yes | 1 | β |
//! | squared hinge, margin β | `(β - x)_+²` | yes | none | β² |
//! | least squares, margin β | `(β - x)²` | yes | none | β² |
//! | 0-1 step | `1{x < 0}` | **no** | none | 0 |
//! | power `p` | `|x|^p` | iff `p >= 1` | 1 if `p = 1` | 0 |
//!
//! **Numerical range.** Every value and derivative is finite and accurate for `|β x|` up to
//! 1e300: the logistic uses the stable softplus `log(1 + e^z) = max(z, 0) + log1p(e^{-|z|})`, never
//! `log(sigmoid)`. A value overflows to `+inf` only when the true value exceeds `f64::MAX` (the
//! squares of gaps beyond 1.3e154, for instance); callers that sum costs report that as an error.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{check_positive, Error, Result};

/// A cost `h(x)` of the quantile gap `x = u - v`.
pub trait Cost {
    /// `h(x)`.
    fn value(&self, x: f64) -> f64;
    /// `h'(x)` (a subgradient at kinks: the right derivative).
    fn derivative(&self, x: f64) -> f64;
    /// Whether `h` is convex, which makes sorting an optimal transport plan.
    fn is_convex(&self) -> bool;
    /// Lipschitz constant of `h` on ℝ, `None` when it is unbounded or `h` is discontinuous.
    fn lipschitz(&self) -> Option<f64>;
    /// A short human-readable description, such as `logistic(beta=0.1)`.
    fn describe(&self) -> String;
}

/// Numerically stable softplus `log(1 + e^z)`.
///
/// # Formula
///
/// `softplus(z) = max(z, 0) + log1p(exp(-|z|))`: the exponential never overflows and the
/// `log1p` keeps full precision when `e^{-|z|}` is tiny.
///
/// # Examples
///
/// ```
/// use aot::cost::softplus;
/// assert_eq!(softplus(0.0), 2f64.ln());
/// assert_eq!(softplus(1e300), 1e300);
/// assert_eq!(softplus(-1000.0), 0.0); // e^-1000 underflows; the true value is 5e-435
/// ```
pub fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// Numerically stable logistic sigmoid `σ(z) = 1 / (1 + e^{-z})`.
///
/// # Examples
///
/// ```
/// use aot::cost::sigmoid;
/// assert_eq!(sigmoid(0.0), 0.5);
/// assert_eq!(sigmoid(-1e300), 0.0);
/// assert_eq!(sigmoid(1e300), 1.0);
/// ```
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The costs of the paper and the non-convex counterexamples, with validated parameters.
///
/// Build them with the constructors, which check their parameters.
///
/// # Examples
///
/// ```
/// use aot::cost::{Cost, Surrogate};
///
/// let h = Surrogate::logistic(2.0)?;
/// assert!((h.value(0.0) - 2f64.ln()).abs() < 1e-15);
/// assert!((h.derivative(0.0) + 1.0).abs() < 1e-15); // h'(0) = -β/2
/// assert!(h.is_convex());
/// assert!(!Surrogate::zero_one().is_convex());
/// # Ok::<(), aot::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Surrogate {
    /// `log(1 + e^{-βx})`, the β-logistic (TRL's `-log σ(βx)`).
    Logistic {
        /// Slope β > 0.
        beta: f64,
    },
    /// `(1-ε) log(1 + e^{-βx}) + ε log(1 + e^{βx})`, the logistic with label smoothing ε.
    SmoothedLogistic {
        /// Slope β > 0.
        beta: f64,
        /// Label smoothing ε ∈ [0, 1].
        smoothing: f64,
    },
    /// `(β - x)_+`.
    Hinge {
        /// Margin β >= 0.
        margin: f64,
    },
    /// `(β - x)_+²`.
    SquaredHinge {
        /// Margin β >= 0.
        margin: f64,
    },
    /// `(β - x)²`.
    LeastSquares {
        /// Margin β (any finite value).
        margin: f64,
    },
    /// `1{x < 0}`, the true violation; not convex.
    ZeroOne,
    /// `|x|^p`, convex iff `p >= 1`.
    AbsPower {
        /// Exponent p > 0.
        p: f64,
    },
}

fn check_margin(func: &'static str, margin: f64) -> Result<()> {
    if margin.is_finite() && margin >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            func,
            name: "margin",
            value: margin,
            expected: "finite and >= 0",
        })
    }
}

impl Surrogate {
    /// The β-logistic `h(x) = log(1 + e^{-βx})`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `beta` is finite and positive.
    pub fn logistic(beta: f64) -> Result<Self> {
        check_positive("Surrogate::logistic", "beta", beta)?;
        Ok(Self::Logistic { beta })
    }

    /// The label-smoothed logistic `h(x) = (1-ε) softplus(-βx) + ε softplus(βx)`.
    ///
    /// Still convex; its minimiser is `x* = log((1-ε)/ε)/β` for `0 < ε < 1/2`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `beta > 0` is finite and `smoothing ∈ [0, 1]`.
    pub fn smoothed_logistic(beta: f64, smoothing: f64) -> Result<Self> {
        let func = "Surrogate::smoothed_logistic";
        check_positive(func, "beta", beta)?;
        if !(0.0..=1.0).contains(&smoothing) {
            return Err(Error::InvalidParameter {
                func,
                name: "smoothing",
                value: smoothing,
                expected: "in [0, 1]",
            });
        }
        Ok(Self::SmoothedLogistic { beta, smoothing })
    }

    /// The hinge `h(x) = (β - x)_+` with margin β.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `margin` is finite and `>= 0`.
    pub fn hinge(margin: f64) -> Result<Self> {
        check_margin("Surrogate::hinge", margin)?;
        Ok(Self::Hinge { margin })
    }

    /// The squared hinge `h(x) = (β - x)_+²` with margin β.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `margin` is finite and `>= 0`.
    pub fn squared_hinge(margin: f64) -> Result<Self> {
        check_margin("Surrogate::squared_hinge", margin)?;
        Ok(Self::SquaredHinge { margin })
    }

    /// Least squares `h(x) = (β - x)²` with margin β.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `margin` is finite.
    pub fn least_squares(margin: f64) -> Result<Self> {
        if !margin.is_finite() {
            return Err(Error::InvalidParameter {
                func: "Surrogate::least_squares",
                name: "margin",
                value: margin,
                expected: "finite",
            });
        }
        Ok(Self::LeastSquares { margin })
    }

    /// The 0-1 step `h(x) = 1{x < 0}` (not convex).
    pub fn zero_one() -> Self {
        Self::ZeroOne
    }

    /// The power cost `h(x) = |x|^p`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `p` is finite and positive.
    pub fn abs_power(p: f64) -> Result<Self> {
        check_positive("Surrogate::abs_power", "p", p)?;
        Ok(Self::AbsPower { p })
    }

    /// `h(0)`, the constant of the relaxation bound `ε_{0-1} <= ε_h / h(0)` (valid when `h` is
    /// nonincreasing on `(-∞, 0]` with `h(0) > 0`).
    pub fn at_zero(&self) -> f64 {
        self.value(0.0)
    }

    /// Whether `h` is nonincreasing on `(-∞, 0]`, so that `h(x) >= h(0)` for every `x < 0` and
    /// the relaxation bound `ε_{0-1} <= ε_h / h(0)` holds when `h(0) > 0`.
    pub fn dominates_zero_one_below_zero(&self) -> bool {
        match self {
            Self::Logistic { .. }
            | Self::Hinge { .. }
            | Self::SquaredHinge { .. }
            | Self::ZeroOne => true,
            // (β − x)² decreases only up to x = β, so on (−∞, 0] only when β >= 0.
            Self::LeastSquares { margin } => *margin >= 0.0,
            // h'(x) = β[σ(βx) - (1 - ε)] <= 0 on x <= 0 iff 1/2 <= 1 - ε.
            Self::SmoothedLogistic { smoothing, .. } => *smoothing <= 0.5,
            Self::AbsPower { .. } => false,
        }
    }
}

impl Cost for Surrogate {
    fn value(&self, x: f64) -> f64 {
        match *self {
            Self::Logistic { beta } => softplus(-beta * x),
            Self::SmoothedLogistic { beta, smoothing } => {
                let z = beta * x;
                let mut h = (1.0 - smoothing) * softplus(-z);
                if smoothing > 0.0 {
                    h += smoothing * softplus(z);
                }
                h
            }
            Self::Hinge { margin } => (margin - x).max(0.0),
            Self::SquaredHinge { margin } => {
                let d = (margin - x).max(0.0);
                d * d
            }
            Self::LeastSquares { margin } => {
                let d = margin - x;
                d * d
            }
            Self::ZeroOne => {
                if x < 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Self::AbsPower { p } => x.abs().powf(p),
        }
    }

    fn derivative(&self, x: f64) -> f64 {
        match *self {
            // d/dx softplus(-βx) = -β σ(-βx)
            Self::Logistic { beta } => -beta * sigmoid(-beta * x),
            // β[ε σ(βx) - (1-ε) σ(-βx)] = β[σ(βx) - (1-ε)]
            Self::SmoothedLogistic { beta, smoothing } => {
                beta * (smoothing * sigmoid(beta * x) - (1.0 - smoothing) * sigmoid(-beta * x))
            }
            Self::Hinge { margin } => {
                if x < margin {
                    -1.0
                } else {
                    0.0
                }
            }
            Self::SquaredHinge { margin } => -2.0 * (margin - x).max(0.0),
            Self::LeastSquares { margin } => -2.0 * (margin - x),
            Self::ZeroOne => 0.0,
            Self::AbsPower { p } => {
                if x == 0.0 {
                    // The right derivative: 1 for p = 1, 0 for p > 1, +inf for p < 1 (reported
                    // as the largest finite slope so that sums stay finite).
                    if p == 1.0 {
                        1.0
                    } else if p > 1.0 {
                        0.0
                    } else {
                        f64::MAX
                    }
                } else {
                    p * x.abs().powf(p - 1.0) * x.signum()
                }
            }
        }
    }

    fn is_convex(&self) -> bool {
        match *self {
            Self::ZeroOne => false,
            Self::AbsPower { p } => p >= 1.0,
            _ => true,
        }
    }

    fn lipschitz(&self) -> Option<f64> {
        match *self {
            Self::Logistic { beta } => Some(beta),
            Self::SmoothedLogistic { beta, smoothing } => {
                Some(beta * smoothing.max(1.0 - smoothing))
            }
            Self::Hinge { .. } => Some(1.0),
            Self::AbsPower { p: 1.0 } => Some(1.0),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Surrogate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Logistic { beta } => write!(f, "logistic(beta={beta})"),
            Self::SmoothedLogistic { beta, smoothing } => {
                write!(f, "smoothed_logistic(beta={beta}, smoothing={smoothing})")
            }
            Self::Hinge { margin } => write!(f, "hinge(margin={margin})"),
            Self::SquaredHinge { margin } => write!(f, "squared_hinge(margin={margin})"),
            Self::LeastSquares { margin } => write!(f, "least_squares(margin={margin})"),
            Self::ZeroOne => write!(f, "zero_one"),
            Self::AbsPower { p } => write!(f, "abs_power(p={p})"),
        }
    }
}

impl std::str::FromStr for Surrogate {
    type Err = Error;

    /// Parses `logistic:0.1`, `smoothed_logistic:0.1:0.2`, `hinge:1`, `squared_hinge:0`,
    /// `least_squares:1`, `zero_one`, `abs_power:2` (name, then parameters separated by `:`).
    fn from_str(s: &str) -> Result<Self> {
        let mut parts = s.split(':');
        let name = parts.next().unwrap_or_default().trim();
        let params: Vec<&str> = parts.collect();
        let bad = |message: String| Error::Input {
            source_name: format!("cost `{s}`"),
            message,
        };
        let nums: Vec<f64> = params
            .iter()
            .map(|p| {
                p.trim()
                    .parse::<f64>()
                    .map_err(|e| bad(format!("parameter `{p}`: {e}")))
            })
            .collect::<Result<_>>()?;
        let want = |k: usize| -> Result<()> {
            if nums.len() == k {
                Ok(())
            } else {
                Err(bad(format!(
                    "`{name}` takes {k} parameter(s), got {}",
                    nums.len()
                )))
            }
        };
        match name {
            "logistic" => want(1).and_then(|_| Self::logistic(nums[0])),
            "smoothed_logistic" => want(2).and_then(|_| Self::smoothed_logistic(nums[0], nums[1])),
            "hinge" => want(1).and_then(|_| Self::hinge(nums[0])),
            "squared_hinge" => want(1).and_then(|_| Self::squared_hinge(nums[0])),
            "least_squares" => want(1).and_then(|_| Self::least_squares(nums[0])),
            "zero_one" => want(0).map(|_| Self::ZeroOne),
            "abs_power" => want(1).and_then(|_| Self::abs_power(nums[0])),
            _ => Err(bad(format!(
                "unknown cost `{name}`; expected one of logistic, smoothed_logistic, hinge, \
                 squared_hinge, least_squares, zero_one, abs_power"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_values() {
        // logistic β = 1: h(0) = ln 2; h(1) = ln(1 + e^{-1}) = 0.31326168751822286 (closed form).
        let h = Surrogate::logistic(1.0).unwrap();
        assert_eq!(h.value(0.0), std::f64::consts::LN_2);
        assert!((h.value(1.0) - 0.313_261_687_518_222_86).abs() < 1e-16);
        // h'(x) = -σ(-x); at x = 0 that is -1/2.
        assert_eq!(h.derivative(0.0), -0.5);
        // hinge margin 1 at x = -2: 3; squared hinge: 9; least squares at x = 3: 4.
        assert_eq!(Surrogate::hinge(1.0).unwrap().value(-2.0), 3.0);
        assert_eq!(Surrogate::squared_hinge(1.0).unwrap().value(-2.0), 9.0);
        assert_eq!(Surrogate::least_squares(1.0).unwrap().value(3.0), 4.0);
        assert_eq!(Surrogate::abs_power(3.0).unwrap().value(-2.0), 8.0);
    }

    #[test]
    fn stable_at_extremes() {
        let h = Surrogate::logistic(1.0).unwrap();
        assert_eq!(h.value(-1e300), 1e300);
        assert_eq!(h.value(1e300), 0.0);
        assert_eq!(h.derivative(-1e300), -1.0);
        assert_eq!(h.derivative(1e300), 0.0);
        let s = Surrogate::smoothed_logistic(1.0, 0.25).unwrap();
        assert_eq!(s.value(1e300), 0.25e300);
        assert_eq!(s.value(-1e300), 0.75e300);
        for c in [
            Surrogate::hinge(1.0).unwrap(),
            Surrogate::squared_hinge(1.0).unwrap(),
            Surrogate::least_squares(1.0).unwrap(),
            Surrogate::abs_power(0.5).unwrap(),
        ] {
            for x in [-1e300, -1.0, 0.0, 1.0, 1e300] {
                assert!(
                    !c.value(x).is_nan() && !c.derivative(x).is_nan(),
                    "{c} at {x}"
                );
            }
        }
    }

    #[test]
    fn smoothed_minimiser() {
        // x* = log((1-ε)/ε)/β; β = 2, ε = 0.1 gives ln(9)/2 = 1.0986122886681098 (notes §9.8).
        let s = Surrogate::smoothed_logistic(2.0, 0.1).unwrap();
        let x_star = 9f64.ln() / 2.0;
        assert!((x_star - 1.098_612_288_668_109_8).abs() < 1e-15);
        assert!(s.derivative(x_star).abs() < 1e-15);
    }

    #[test]
    fn parse_and_reject() {
        assert_eq!(
            "logistic:0.5".parse::<Surrogate>().unwrap(),
            Surrogate::Logistic { beta: 0.5 }
        );
        assert_eq!("zero_one".parse::<Surrogate>().unwrap(), Surrogate::ZeroOne);
        assert!("logistic:-1".parse::<Surrogate>().is_err());
        assert!("logistic".parse::<Surrogate>().is_err());
        assert!("cubic:1".parse::<Surrogate>().is_err());
        let e = Surrogate::smoothed_logistic(1.0, 1.5).unwrap_err();
        assert!(e.to_string().contains("smoothing"), "{e}");
    }
}
