//! Text tokenizers: from a `tokenizer.json` or rebuilt from GGUF metadata.

use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer};

use super::error::{Error, Result};

/// GGUF `tokenizer.ggml.pre` names whose Hugging Face tokenizer splits digits one by one before
/// the byte-level pre-tokenizer (the StarCoder family, to which SmolLM2's tokenizer belongs).
const DIGIT_SPLITTING_PRE_TOKENIZERS: [&str; 3] = ["smollm", "starcoder", "refact"];

/// A tokenizer with the ids of its special tokens.
///
/// # Examples
///
/// ```no_run
/// use aot::candle::TextTokenizer;
/// let tok = TextTokenizer::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
/// assert_eq!(tok.encode("The capital of France is")?, vec![504, 3575, 282, 4649, 314]);
/// # Ok::<(), aot::candle::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    bos: Option<u32>,
    eos: Option<u32>,
    pad: Option<u32>,
}

fn tokenizer_error(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

fn metadata_u32(content: &Content, key: &str) -> Option<u32> {
    match content.metadata.get(key)? {
        Value::U8(v) => Some(u32::from(*v)),
        Value::U16(v) => Some(u32::from(*v)),
        Value::U32(v) => Some(*v),
        Value::U64(v) => u32::try_from(*v).ok(),
        Value::I32(v) => u32::try_from(*v).ok(),
        Value::I64(v) => u32::try_from(*v).ok(),
        _ => None,
    }
}

fn metadata_strings<'a>(content: &'a Content, key: &str, source: &str) -> Result<Vec<&'a str>> {
    let values = content
        .metadata
        .get(key)
        .ok_or_else(|| Error::model(source, format!("metadata `{key}` is missing")))?
        .to_vec()
        .map_err(|_| Error::model(source, format!("metadata `{key}` is not an array")))?;
    values
        .iter()
        .map(|v| {
            v.to_string()
                .map(String::as_str)
                .map_err(|_| Error::model(source, format!("metadata `{key}` holds a non-string")))
        })
        .collect()
}

impl TextTokenizer {
    /// Loads a Hugging Face `tokenizer.json`; the special ids are looked up by their usual
    /// names (`<|endoftext|>`, `<|im_end|>`, `</s>`, `<s>`).
    ///
    /// # Errors
    ///
    /// [`Error::Tokenizer`] when the file cannot be read or parsed.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let inner = Tokenizer::from_file(path)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        let find = |names: &[&str]| names.iter().find_map(|n| inner.token_to_id(n));
        let bos = find(&["<s>", "<|begin_of_text|>", "<|im_start|>"]);
        let eos = find(&["<|im_end|>", "</s>", "<|endoftext|>", "<|end_of_text|>"]);
        let pad = find(&["<pad>", "<|padding|>"]);
        Ok(Self {
            inner,
            bos,
            eos,
            pad,
        })
    }

    /// Rebuilds the tokenizer stored in a GGUF file's metadata.
    ///
    /// # Errors
    ///
    /// As [`TextTokenizer::from_gguf_content`], plus [`Error::Io`] and candle errors when the file
    /// cannot be read.
    pub fn from_gguf(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut file =
            std::io::BufReader::new(std::fs::File::open(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?);
        let content = Content::read(&mut file)?;
        Self::from_gguf_content(&content, &path.display().to_string())
    }

    /// Rebuilds a GPT-2-style byte-level BPE tokenizer from GGUF metadata.
    ///
    /// The vocabulary is `tokenizer.ggml.tokens` (id = index), the merges are
    /// `tokenizer.ggml.merges` (`"a b"`), tokens of type control or user-defined
    /// (`tokenizer.ggml.token_type` 3 or 4) are special tokens matched verbatim in the text. The
    /// pre-tokenizer is byte-level without a prefix space, preceded by a one-digit-per-token split
    /// for the StarCoder-family pre-tokenizers (`tokenizer.ggml.pre` in `smollm`, `starcoder`,
    /// `refact`), which is what their Hugging Face `tokenizer.json` does. `source` names the file
    /// in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Model`] when `tokenizer.ggml.model` is not `gpt2` or the metadata is missing or
    /// malformed; [`Error::Tokenizer`] when the BPE model cannot be built.
    pub fn from_gguf_content(content: &Content, source: &str) -> Result<Self> {
        let model = content
            .metadata
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
            .unwrap_or("");
        if model != "gpt2" {
            return Err(Error::model(
                source,
                format!(
                    "tokenizer.ggml.model = `{model}`: only byte-level BPE (`gpt2`) is supported"
                ),
            ));
        }
        let tokens = metadata_strings(content, "tokenizer.ggml.tokens", source)?;
        let merges_text = metadata_strings(content, "tokenizer.ggml.merges", source)?;
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.to_string(), id as u32))
            .collect();
        let mut merges = Vec::with_capacity(merges_text.len());
        for merge in merges_text {
            let (a, b) = merge
                .split_once(' ')
                .ok_or_else(|| Error::model(source, format!("malformed merge `{merge}`")))?;
            merges.push((a.to_string(), b.to_string()));
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(tokenizer_error)?;
        let mut inner = Tokenizer::new(bpe);
        let pre = content
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
            .unwrap_or("");
        let byte_level = ByteLevel::new(false, true, true);
        if DIGIT_SPLITTING_PRE_TOKENIZERS.contains(&pre) {
            let sequence = Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                PreTokenizerWrapper::ByteLevel(byte_level),
            ]);
            inner.with_pre_tokenizer(Some(sequence));
        } else {
            inner.with_pre_tokenizer(Some(byte_level));
        }
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let special: Vec<AddedToken> = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(Value::Array(types)) => types
                .iter()
                .zip(&tokens)
                .filter(|(kind, _)| matches!(kind, Value::I32(3) | Value::I32(4)))
                .map(|(_, token)| AddedToken::from(token.to_string(), true))
                .collect(),
            _ => Vec::new(),
        };
        inner.add_special_tokens(special).map_err(tokenizer_error)?;
        Ok(Self {
            inner,
            bos: metadata_u32(content, "tokenizer.ggml.bos_token_id"),
            eos: metadata_u32(content, "tokenizer.ggml.eos_token_id"),
            pad: metadata_u32(content, "tokenizer.ggml.padding_token_id"),
        })
    }

    /// Token ids of `text`. Special tokens written in the text (such as `<|im_start|>`) map to
    /// their ids; no BOS/EOS is added.
    ///
    /// # Errors
    ///
    /// [`Error::Tokenizer`] if the tokenizer fails.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.inner.encode(text, false).map_err(tokenizer_error)?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids` (special tokens kept).
    ///
    /// # Errors
    ///
    /// [`Error::Tokenizer`] if the tokenizer fails.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(tokenizer_error)
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Beginning-of-sequence id, when known.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos
    }

    /// End-of-sequence id, when known (`<|im_end|>` for SmolLM2-Instruct).
    pub fn eos_token_id(&self) -> Option<u32> {
        self.eos
    }

    /// Padding id, when known.
    pub fn pad_token_id(&self) -> Option<u32> {
        self.pad
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}
