//! Numerical checks of "Alignment via Optimal Transport" (AOT).
//!
//! (crate documentation is being written)

pub mod error;
pub mod sample;
pub mod coupling;
pub mod cost;
pub mod dominance;
pub mod transport;
pub mod objective;
pub mod io;

#[cfg(feature = "candle")]
pub mod candle;

pub use error::{Error, Result};
