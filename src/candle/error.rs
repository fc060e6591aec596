//! The error type of the candle adapter.
//!
//! Every variant that concerns an argument names the function, the argument and the offending
//! value, so that a message read in a training log points at the call that failed.

use std::path::PathBuf;

/// Errors of the candle adapter: invalid tensors and arguments, files that cannot be read or
/// parsed, and errors raised by candle itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor has the wrong shape.
    #[error("{function}: `{argument}` has shape {got:?}, expected {expected}")]
    Shape {
        /// The public function that rejected the input.
        function: &'static str,
        /// The argument name.
        argument: &'static str,
        /// The shape that was given.
        got: Vec<usize>,
        /// The shape that was expected, in words.
        expected: String,
    },
    /// A tensor has an unsupported element type.
    #[error("{function}: `{argument}` has dtype {got:?}, expected {expected}")]
    DType {
        /// The public function that rejected the input.
        function: &'static str,
        /// The argument name.
        argument: &'static str,
        /// The dtype that was given.
        got: candle_core::DType,
        /// The accepted dtypes, in words.
        expected: &'static str,
    },
    /// A tensor holds NaN or an infinity.
    #[error("{function}: `{argument}` holds the non-finite value {value} at flat index {index}")]
    NonFinite {
        /// The public function that rejected the input.
        function: &'static str,
        /// The argument name.
        argument: &'static str,
        /// Flat (row-major) index of the first non-finite element.
        index: usize,
        /// The value found there.
        value: f64,
    },
    /// A scalar or structural argument is out of its domain.
    #[error("{function}: invalid `{argument}` = {value}: {reason}")]
    InvalidArgument {
        /// The public function that rejected the input.
        function: &'static str,
        /// The argument name.
        argument: &'static str,
        /// The offending value, formatted.
        value: String,
        /// What the value must satisfy.
        reason: String,
    },
    /// A sequence of the batch has no completion token left after masking.
    #[error("{function}: sequence {row} of the batch has an empty completion (mask is all zero)")]
    EmptyCompletion {
        /// The public function that rejected the input.
        function: &'static str,
        /// Row of the batch.
        row: usize,
    },
    /// A model file lacks a tensor or a metadata key, or holds an inconsistent one.
    #[error("model {source_name}: {message}")]
    Model {
        /// The file or directory being read.
        source_name: String,
        /// What is missing or inconsistent.
        message: String,
    },
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that was read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file could not be parsed.
    #[error("cannot parse {path}: {source}")]
    Json {
        /// The path that was parsed.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The `tokenizers` crate failed to build or run a tokenizer.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An error from the core numerics of this crate (for example a surrogate constructor).
    #[error(transparent)]
    Core(#[from] crate::Error),
    /// An error raised by candle.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result type of the candle adapter.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid(
        function: &'static str,
        argument: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidArgument {
            function,
            argument,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn model(source_name: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Error::Model {
            source_name: source_name.to_string(),
            message: message.into(),
        }
    }
}
