//! The error type of the fine-tuning pipeline.

use std::path::PathBuf;

/// Errors of [`crate::candle::finetune`]: unreadable or malformed data, invalid settings, a
/// diverging run, mismatched checkpoints, and errors of the candle adapter underneath.
///
/// Argument errors name the function, the argument and the offending value; data errors name the
/// file and the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line of a preference file is not a usable pair.
    #[error("{path}:{line}: {reason}")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A preference file holds no usable pair.
    #[error("{path}: no usable preference pair ({skipped} line(s) skipped{first})")]
    NoUsablePairs {
        /// The file.
        path: PathBuf,
        /// Number of non-empty lines that were rejected.
        skipped: usize,
        /// The first rejection, formatted as `; first: line N: reason`, or empty.
        first: String,
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
    /// The training loss became NaN or infinite; no update was applied for this step.
    #[error(
        "training stopped at step {step}: the loss is {value} (non-finite); last good \
         checkpoint: {}",
        last_checkpoint.as_ref().map_or("none written".to_string(), |p| p.display().to_string())
    )]
    NonFiniteLoss {
        /// The optimiser step (1-based) whose loss was not finite.
        step: usize,
        /// The loss value.
        value: f64,
        /// The last checkpoint written before the failure, kept untouched.
        last_checkpoint: Option<PathBuf>,
    },
    /// A checkpoint or cache file does not belong to this run.
    #[error("{path}: {reason}")]
    Mismatch {
        /// The file or directory.
        path: PathBuf,
        /// Which field differs.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file could not be read or written.
    #[error("{path}: {source}")]
    Json {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A CSV file could not be written.
    #[error("{path}: {source}")]
    Csv {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: csv::Error,
    },
    /// An error of the core numerics (samples, dominance, plots).
    #[error(transparent)]
    Core(#[from] crate::Error),
    /// An error of the candle adapter (model, tokenizer, losses).
    #[error(transparent)]
    Candle(#[from] crate::candle::Error),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(crate::candle::Error::Candle(e))
    }
}

/// Result type of the fine-tuning pipeline.
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

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
