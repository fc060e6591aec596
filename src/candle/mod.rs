//! The candle adapter: the verified AOT losses on tensors, and a trainable causal LM.
//!
//! Enabled by the cargo feature `candle`. The pieces, in the order a training step uses them:
//!
//! - **Load a checkpoint:** [`Pretrained::load`] (Hugging Face directory or GGUF file), or
//!   [`load_hf_dir`] and [`load_gguf`].
//! - **Tokenize:** [`TextTokenizer`] (from `tokenizer.json` or from GGUF metadata).
//! - **Build the decoder:** [`Llama::new`] with a [`Training`] mode: frozen, full, top-K blocks
//!   or LoRA ([`LoraConfig`]).
//! - **Score sequences:** [`pack_completions`] (right-padded batch and completion mask),
//!   [`Llama::forward`], then [`completion_log_probs`] or [`sequence_log_probs`]; or
//!   [`model_completion_log_probs`], which runs the output head only where a token is scored.
//! - **The loss:** [`PreferenceLoss`] on [`PreferenceTensors`]: AOT paired, AOT unpaired or DPO,
//!   any [`crate::cost::Surrogate`], hard sorting or [`soft_sort`].
//! - **Checkpoint:** [`Llama::save_trainable`] / [`Llama::load_trainable`] (the trainable
//!   variables), [`Llama::save_hf_dir`] (the whole model, LoRA merged).
//!
//! The tensor losses equal the core objective [`crate::objective::preference_loss`] (checked to
//! 1e-12 in f64 in `tests/candle_loss.rs`), gradients included. The decoder uses only ops with a
//! backward pass: candle's fused rms-norm, softmax and rope kernels have none, and with them
//! gradients would stop silently.
//!
//! Errors are [`Error`]; nothing here prints (log records go through `tracing`).

mod error;
pub mod finetune;
mod llama;
mod loader;
mod logprob;
mod loss;
mod numerics;
mod soft_sort;
mod tokenizer;

pub use error::{Error, Result};
pub use llama::{Llama, LlamaConfig, LoraConfig, Training};
pub use loader::{
    default_model_path, gguf_to_hf_name, load_gguf, load_hf_dir, unpermute_rope_rows, Pretrained,
    DEFAULT_GGUF_NAME,
};
pub use logprob::{
    completion_log_probs, model_completion_log_probs, pack_completions, sequence_log_probs,
};
pub use loss::{preference_loss, surrogate_values, PreferenceLoss, PreferenceTensors, Sorting};
pub use numerics::{log_sigmoid, softplus};
pub use soft_sort::{isotonic_blocks, isotonic_regression, soft_sort};
pub use tokenizer::TextTokenizer;
