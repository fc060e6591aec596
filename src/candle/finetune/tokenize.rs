//! Tokenization with an explicit truncation policy.

use serde::{Deserialize, Serialize};

use super::data::PreferencePair;
use super::error::{Error, Result};
use crate::candle::TextTokenizer;

/// What the pipeline needs from a tokenizer: text to ids, and the end-of-sequence id.
pub trait Encoder {
    /// Token ids of `text` (no special tokens added).
    ///
    /// # Errors
    ///
    /// The tokenizer's error.
    fn encode_text(&self, text: &str) -> crate::candle::Result<Vec<u32>>;

    /// The id appended after a response when [`TruncationPolicy::append_eos`] is set.
    fn end_of_sequence(&self) -> Option<u32>;
}

impl Encoder for TextTokenizer {
    fn encode_text(&self, text: &str) -> crate::candle::Result<Vec<u32>> {
        self.encode(text)
    }

    fn end_of_sequence(&self) -> Option<u32> {
        self.eos_token_id()
    }
}

/// A byte-level toy tokenizer for tests and smoke runs on tiny models: each UTF-8 byte `b`
/// becomes the id `1 + b mod (vocab − 1)`, and id 0 is the end of sequence.
///
/// # Examples
///
/// ```
/// use aot::candle::finetune::{ByteEncoder, Encoder};
/// let enc = ByteEncoder { vocab_size: 64 };
/// assert_eq!(enc.encode_text("AB")?, vec![1 + 65 % 63, 1 + 66 % 63]);
/// assert_eq!(enc.end_of_sequence(), Some(0));
/// # Ok::<(), aot::candle::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteEncoder {
    /// Vocabulary size of the model, `>= 2`.
    pub vocab_size: u32,
}

impl Encoder for ByteEncoder {
    fn encode_text(&self, text: &str) -> crate::candle::Result<Vec<u32>> {
        let modulus = self.vocab_size.saturating_sub(1).max(1);
        Ok(text.bytes().map(|b| 1 + u32::from(b) % modulus).collect())
    }

    fn end_of_sequence(&self) -> Option<u32> {
        Some(0)
    }
}

/// How long sequences are cut.
///
/// A prompt longer than `max_prompt_tokens` keeps its **last** `max_prompt_tokens` tokens (the
/// end of a dialogue is what the response answers). A response (with the end-of-sequence token
/// appended first, when `append_eos` is set, as TRL does) longer than `max_response_tokens` keeps
/// its **first** `max_response_tokens` tokens; a cut response therefore has no end-of-sequence
/// token. A sequence is at most `max_prompt_tokens + max_response_tokens` tokens long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruncationPolicy {
    /// Longest prompt kept, `>= 1`.
    pub max_prompt_tokens: usize,
    /// Longest response kept, `>= 1`.
    pub max_response_tokens: usize,
    /// Whether the end-of-sequence id ends each response before truncation.
    pub append_eos: bool,
}

impl Default for TruncationPolicy {
    /// 48 prompt tokens, 32 response tokens, end-of-sequence appended: sequences of at most 80
    /// tokens, which keeps a CPU run of the 135M-parameter model practical.
    fn default() -> Self {
        Self {
            max_prompt_tokens: 48,
            max_response_tokens: 32,
            append_eos: true,
        }
    }
}

/// A tokenized pair: `prompt ++ chosen` and `prompt ++ rejected` are the two sequences scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizedPair {
    /// One-based line of the source file.
    pub line: usize,
    /// Prompt ids (truncated).
    pub prompt: Vec<u32>,
    /// Chosen response ids (truncated).
    pub chosen: Vec<u32>,
    /// Rejected response ids (truncated).
    pub rejected: Vec<u32>,
}

/// What the truncation policy did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TruncationStats {
    /// Pairs tokenized.
    pub pairs: usize,
    /// Prompts that lost tokens at their start.
    pub prompts_truncated: usize,
    /// Chosen responses that lost tokens at their end.
    pub chosen_truncated: usize,
    /// Rejected responses that lost tokens at their end.
    pub rejected_truncated: usize,
    /// Tokens dropped from prompts, in total.
    pub prompt_tokens_dropped: usize,
    /// Tokens dropped from responses, in total.
    pub response_tokens_dropped: usize,
    /// Longest sequence (prompt + response) after truncation.
    pub longest_sequence: usize,
}

impl std::fmt::Display for TruncationStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pairs: {} prompts cut at the start ({} tokens dropped), {} chosen and {} rejected \
             responses cut at the end ({} tokens dropped); longest sequence {} tokens",
            self.pairs,
            self.prompts_truncated,
            self.prompt_tokens_dropped,
            self.chosen_truncated,
            self.rejected_truncated,
            self.response_tokens_dropped,
            self.longest_sequence
        )
    }
}

/// Tokenizes pairs under a [`TruncationPolicy`] and reports what was cut (returned, and logged
/// as a `tracing` info record).
///
/// # Errors
///
/// [`Error::InvalidArgument`] when a limit is 0, when `append_eos` is set but the encoder has
/// no end-of-sequence id, or when a prompt or response encodes to no token; tokenizer errors.
///
/// # Examples
///
/// ```
/// use aot::candle::finetune::{tokenize_pairs, ByteEncoder, PreferencePair, TruncationPolicy};
/// let pair = PreferencePair { line: 1, prompt: "abcdef".into(), chosen: "xy".into(),
///     rejected: "z".into() };
/// let policy = TruncationPolicy { max_prompt_tokens: 4, max_response_tokens: 2,
///     append_eos: true };
/// let (tokens, stats) = tokenize_pairs(&ByteEncoder { vocab_size: 64 }, &[pair], &policy)?;
/// assert_eq!(tokens[0].prompt.len(), 4); // "cdef": the start was cut
/// assert_eq!(tokens[0].chosen.len(), 2); // "xy", end-of-sequence cut
/// assert_eq!(tokens[0].rejected, vec![1 + b'z' as u32 % 63, 0]); // "z" + end-of-sequence
/// assert_eq!((stats.prompts_truncated, stats.chosen_truncated), (1, 1));
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
pub fn tokenize_pairs<E: Encoder + ?Sized>(
    encoder: &E,
    pairs: &[PreferencePair],
    policy: &TruncationPolicy,
) -> Result<(Vec<TokenizedPair>, TruncationStats)> {
    const F: &str = "tokenize_pairs";
    if policy.max_prompt_tokens == 0 {
        return Err(Error::invalid(F, "max_prompt_tokens", 0, "must be >= 1"));
    }
    if policy.max_response_tokens == 0 {
        return Err(Error::invalid(F, "max_response_tokens", 0, "must be >= 1"));
    }
    let eos = match (policy.append_eos, encoder.end_of_sequence()) {
        (false, _) => None,
        (true, Some(id)) => Some(id),
        (true, None) => {
            return Err(Error::invalid(
                F,
                "append_eos",
                true,
                "the tokenizer has no end-of-sequence token",
            ))
        }
    };
    let mut stats = TruncationStats {
        pairs: pairs.len(),
        ..TruncationStats::default()
    };
    let mut out = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let mut prompt = encoder.encode_text(&pair.prompt)?;
        if prompt.is_empty() {
            return Err(Error::invalid(
                F,
                "pairs",
                format!("line {}", pair.line),
                "the prompt encodes to no token",
            ));
        }
        if prompt.len() > policy.max_prompt_tokens {
            let drop = prompt.len() - policy.max_prompt_tokens;
            prompt.drain(..drop);
            stats.prompts_truncated += 1;
            stats.prompt_tokens_dropped += drop;
        }
        let mut response = |text: &str, truncated: &mut usize| -> Result<Vec<u32>> {
            let mut ids = encoder.encode_text(text)?;
            if ids.is_empty() {
                return Err(Error::invalid(
                    F,
                    "pairs",
                    format!("line {}", pair.line),
                    "a response encodes to no token",
                ));
            }
            ids.extend(eos);
            if ids.len() > policy.max_response_tokens {
                stats.response_tokens_dropped += ids.len() - policy.max_response_tokens;
                ids.truncate(policy.max_response_tokens);
                *truncated += 1;
            }
            Ok(ids)
        };
        let mut chosen_cut = 0;
        let mut rejected_cut = 0;
        let chosen = response(&pair.chosen, &mut chosen_cut)?;
        let rejected = response(&pair.rejected, &mut rejected_cut)?;
        stats.chosen_truncated += chosen_cut;
        stats.rejected_truncated += rejected_cut;
        stats.longest_sequence = stats
            .longest_sequence
            .max(prompt.len() + chosen.len().max(rejected.len()));
        out.push(TokenizedPair {
            line: pair.line,
            prompt,
            chosen,
            rejected,
        });
    }
    tracing::info!(
        max_prompt_tokens = policy.max_prompt_tokens,
        max_response_tokens = policy.max_response_tokens,
        append_eos = policy.append_eos,
        "truncation: {stats}"
    );
    Ok((out, stats))
}
