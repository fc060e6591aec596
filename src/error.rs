//! The crate's error type.
//!
//! Every fallible public function returns [`Result`]. Each variant names the function that
//! rejected the input (`func`), the argument (`arg`) and, where there is one, the offending index
//! and value, so that a message such as
//! `ot_plan: argument `rejected` has a non-finite value NaN at index 3` says exactly what to fix.

use thiserror::Error;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised on invalid input or on a computation that cannot give a trustworthy number.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// An input slice has no element.
    #[error("{func}: argument `{arg}` is empty")]
    Empty {
        /// Function that rejected the input.
        func: &'static str,
        /// Argument name.
        arg: &'static str,
    },
    /// An input value is NaN or infinite.
    #[error("{func}: argument `{arg}` has a non-finite value {value} at index {index}")]
    NonFinite {
        /// Function that rejected the input.
        func: &'static str,
        /// Argument name.
        arg: &'static str,
        /// Position of the offending value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Two inputs that must have equal lengths do not.
    #[error("{func}: `{arg}` has length {len} but `{other}` has length {other_len}")]
    LengthMismatch {
        /// Function that rejected the input.
        func: &'static str,
        /// First argument name.
        arg: &'static str,
        /// Its length.
        len: usize,
        /// Second argument name.
        other: &'static str,
        /// Its length.
        other_len: usize,
    },
    /// A weight is negative.
    #[error("{func}: argument `{arg}` has a negative weight {value} at index {index}")]
    NegativeWeight {
        /// Function that rejected the input.
        func: &'static str,
        /// Argument name.
        arg: &'static str,
        /// Position of the offending weight.
        index: usize,
        /// The offending weight.
        value: f64,
    },
    /// Weights sum to zero (or their sum overflows), so they cannot be normalised.
    #[error("{func}: weights `{arg}` have total mass {total}, which cannot be normalised")]
    ZeroMass {
        /// Function that rejected the input.
        func: &'static str,
        /// Argument name.
        arg: &'static str,
        /// The total mass found.
        total: f64,
    },
    /// Two support points of a histogram coincide.
    #[error("{func}: support `{arg}` repeats the value {value} (at indices {first} and {second})")]
    DuplicateSupport {
        /// Function that rejected the input.
        func: &'static str,
        /// Argument name.
        arg: &'static str,
        /// The repeated value.
        value: f64,
        /// First index holding it.
        first: usize,
        /// Second index holding it.
        second: usize,
    },
    /// A scalar parameter is outside its domain.
    #[error("{func}: parameter `{name}` = {value} is invalid: {expected}")]
    InvalidParameter {
        /// Function that rejected the input.
        func: &'static str,
        /// Parameter name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What the parameter must satisfy.
        expected: &'static str,
    },
    /// A method that is exact only for convex costs received a non-convex one.
    #[error(
        "{func}: cost `{cost}` is not convex; sorting is optimal only for convex costs \
         (use an exact solver for this cost)"
    )]
    NonConvexCost {
        /// Function that rejected the cost.
        func: &'static str,
        /// Description of the cost.
        cost: String,
    },
    /// A computation produced a non-finite number from finite inputs (overflow).
    #[error("{func}: the result overflowed to {value}; {hint}")]
    Overflow {
        /// Function where it happened.
        func: &'static str,
        /// The non-finite result.
        value: f64,
        /// What the caller can do about it.
        hint: &'static str,
    },
    /// An output file (a plot, a table, a report) could not be written.
    #[error("cannot write {target}: {message}")]
    Output {
        /// File or directory being written.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// An instance exceeds the size an exact solver accepts (the work grows too fast beyond it).
    #[error("{func}: `{arg}` = {size} exceeds the limit {limit} of this solver")]
    TooLarge {
        /// Function that rejected the instance.
        func: &'static str,
        /// The size measured, such as `u.len() * v.len()`.
        arg: &'static str,
        /// Its value.
        size: usize,
        /// The largest value accepted.
        limit: usize,
    },
    /// A numerical solver stopped without a trustworthy answer.
    #[error("{func}: solver {solver} failed: {reason}")]
    SolverFailed {
        /// Function that ran the solver.
        func: &'static str,
        /// The solver (crate and algorithm).
        solver: &'static str,
        /// Its own account of what happened.
        reason: String,
    },
    /// Input data could not be read or parsed.
    #[error("{source_name}: {message}")]
    Input {
        /// File name or description of the input.
        source_name: String,
        /// What is wrong, with the line number where known.
        message: String,
    },
}

/// Checks that every value of `values` is finite.
pub(crate) fn check_finite(func: &'static str, arg: &'static str, values: &[f64]) -> Result<()> {
    match values.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(Error::NonFinite {
            func,
            arg,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Checks that `values` is non-empty and finite.
pub(crate) fn check_values(func: &'static str, arg: &'static str, values: &[f64]) -> Result<()> {
    if values.is_empty() {
        return Err(Error::Empty { func, arg });
    }
    check_finite(func, arg, values)
}

/// Checks that two lengths agree.
pub(crate) fn check_same_len(
    func: &'static str,
    (arg, len): (&'static str, usize),
    (other, other_len): (&'static str, usize),
) -> Result<()> {
    if len == other_len {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            func,
            arg,
            len,
            other,
            other_len,
        })
    }
}

/// Checks that a scalar parameter is finite and strictly positive.
pub(crate) fn check_positive(func: &'static str, name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            func,
            name,
            value,
            expected: "finite and > 0",
        })
    }
}
