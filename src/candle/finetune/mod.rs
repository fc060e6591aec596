//! Fine-tuning a causal LM with the AOT (or DPO) loss on preference pairs, on the CPU.
//!
//! The pipeline, in the order a run uses it:
//!
//! 1. **Data** ([`read_preference_file`]): JSONL, plain or gzip, in the TRL shape
//!    `{prompt, chosen, rejected}` or the Anthropic HH-RLHF shape `{chosen, rejected}` (full
//!    dialogues, split after the last `"\n\nAssistant:"`). Bad lines are listed with their line
//!    number; [`split_held_out`] makes the seeded train/held-out split.
//! 2. **Tokens** ([`tokenize_pairs`]) under an explicit [`TruncationPolicy`] (keep the end of
//!    the prompt, cap the response), with [`TruncationStats`] for the log.
//! 3. **Reference log-probabilities** ([`score_all`] with a frozen model), computed once and
//!    cached on disk by [`ReferenceCache`] under a [`CacheKey`] of model, data and truncation.
//! 4. **Training** ([`Trainer`]): the loss of [`crate::candle::PreferenceLoss`] per micro-batch,
//!    gradient accumulation, global-norm clipping ([`clip_global_norm`]), [`AdamW`] with warm-up
//!    and decay ([`learning_rate`]), a [`StepRecord`] per update through a callback, a guard
//!    against non-finite losses, checkpoints and exact resume.
//! 5. **Evaluation** ([`evaluate`], [`write_evaluation`]) on held-out pairs: implicit rewards,
//!    the core's dominance decision and violation measures (paired, unpaired, likelihood), win
//!    rate; CSV, JSON and quantile plots.
//!
//! Nothing here prints; progress goes through callbacks and return values.
//!
//! Known limits: the reference and the policy run the full forward pass every time (the frozen
//! lower blocks are not cached between steps), which dominates the cost of top-K training on a
//! CPU; multi-turn TRL "conversational" datasets (lists of messages) are not read.

mod cache;
mod data;
mod error;
mod eval;
mod optim;
mod score;
mod tokenize;
mod train;

pub use cache::{
    model_fingerprint, pairs_fingerprint, weights_fingerprint, CacheKey, Fnv64, ReferenceCache,
    SCORING,
};
pub use data::{
    default_preference_data, parse_preference_line, read_preference_file, split_dialogue,
    split_held_out, PreferenceData, PreferencePair, SkippedLine, RESPONSE_MARKER,
};
pub use error::{Error, Result};
pub use eval::{evaluate, write_evaluation, DominanceCheck, Evaluation, HeldOutScores};
pub use optim::{clip_global_norm, global_norm, learning_rate, AdamW, AdamWConfig, Schedule};
pub use score::{score_all, score_pairs, LogProbs, PAD_ID};
pub use tokenize::{
    tokenize_pairs, ByteEncoder, Encoder, TokenizedPair, TruncationPolicy, TruncationStats,
};
pub use train::{
    checkpoint_name, latest_checkpoint, records_chart, write_records_csv, StepRecord, TrainConfig,
    Trainer, TRAINER_STATE_FILE,
};
