//! Loading pretrained weights: Hugging Face directories and GGUF files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor};

use super::error::{Error, Result};
use super::llama::LlamaConfig;
use super::tokenizer::TextTokenizer;

/// A pretrained checkpoint: configuration, weights under Hugging Face names (f32 on the CPU) and
/// the tokenizer when the checkpoint carries one.
///
/// Build the policy and a frozen reference from the same weights; frozen tensors share storage
/// with `weights`, trainable ones are copied into the policy's variables.
///
/// ```no_run
/// use candle_core::{DType, Device};
/// use aot::candle::{Llama, Pretrained, Training};
///
/// let pretrained = Pretrained::load("SmolLM2-135M-Instruct.Q4_1.gguf")?;
/// let (config, weights) = (&pretrained.config, &pretrained.weights);
/// let dev = Device::Cpu;
/// let reference = Llama::new(config, weights, Training::Frozen, &dev, DType::F32)?;
/// let policy = Llama::new(config, weights, Training::TopBlocks { blocks: 2 }, &dev, DType::F32)?;
/// let ids = pretrained.tokenizer.as_ref().unwrap().encode("The capital of France is")?;
/// # Ok::<(), aot::candle::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pretrained {
    /// Decoder configuration.
    pub config: LlamaConfig,
    /// Weights by Hugging Face name.
    pub weights: HashMap<String, Tensor>,
    /// Tokenizer (`tokenizer.json` of a directory, or rebuilt from GGUF metadata).
    pub tokenizer: Option<TextTokenizer>,
}

impl Pretrained {
    /// Loads a Hugging Face directory ([`load_hf_dir`]) or a `.gguf` file ([`load_gguf`]),
    /// with its tokenizer.
    ///
    /// # Errors
    ///
    /// As the two loaders.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.is_dir() {
            let (config, weights) = load_hf_dir(path)?;
            let tokenizer_path = path.join("tokenizer.json");
            let tokenizer = if tokenizer_path.is_file() {
                Some(TextTokenizer::from_file(tokenizer_path)?)
            } else {
                None
            };
            Ok(Self {
                config,
                weights,
                tokenizer,
            })
        } else {
            let (config, weights, content) = read_gguf(path)?;
            let tokenizer =
                TextTokenizer::from_gguf_content(&content, &path.display().to_string())?;
            Ok(Self {
                config,
                weights,
                tokenizer: Some(tokenizer),
            })
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// File name of the quantised SmolLM2-135M-Instruct model that `scripts/fetch-model.sh` fetches.
pub const DEFAULT_GGUF_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where the real model is looked for when no path is given: `$AOT_GGUF` if set, else
/// [`DEFAULT_GGUF_NAME`] in `$AOT_MODEL_DIR`, else in `~/.cache/aot/models` (where
/// `scripts/fetch-model.sh` puts it). `None` only when none of these variables, nor `HOME`, is
/// set. The file may not exist: callers check and say how to fetch it.
///
/// # Examples
///
/// ```
/// let path = aot::candle::default_model_path();
/// if std::env::var_os("AOT_GGUF").is_none() {
///     if let Some(p) = path {
///         assert!(p.ends_with(aot::candle::DEFAULT_GGUF_NAME));
///     }
/// }
/// ```
pub fn default_model_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AOT_GGUF") {
        return Some(PathBuf::from(path));
    }
    let dir = match std::env::var_os("AOT_MODEL_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/aot/models"),
    };
    Some(dir.join(DEFAULT_GGUF_NAME))
}

/// Reads a Hugging Face model directory: `config.json` and every `*.safetensors` file in it
/// (sharded checkpoints included). Weights are converted to f32 on the CPU.
///
/// # Errors
///
/// [`Error::Io`] or [`Error::Json`] when `config.json` is unreadable, [`Error::Model`] when there
/// is no safetensors file, candle errors when one is malformed.
///
/// # Examples
///
/// ```
/// use candle_core::{DType, Device};
/// use aot::candle::{load_hf_dir, Llama, LlamaConfig, Training};
///
/// let config = LlamaConfig::tiny();
/// let weights = Llama::random_weights(&config, 1)?;
/// let model = Llama::new(&config, &weights, Training::Frozen, &Device::Cpu, DType::F32)?;
/// let dir = std::env::temp_dir().join("aot-doc-load-hf-dir");
/// model.save_hf_dir(&dir)?;
/// let (loaded_config, loaded) = load_hf_dir(&dir)?;
/// assert_eq!(loaded_config, config);
/// assert_eq!(loaded.len(), config.parameter_shapes().len());
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn load_hf_dir(dir: impl AsRef<Path>) -> Result<(LlamaConfig, HashMap<String, Tensor>)> {
    let dir = dir.as_ref();
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(io_error(&config_path))?;
    let config: LlamaConfig = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: config_path.clone(),
        source,
    })?;
    config.validate()?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::model(dir.display(), "no *.safetensors file"));
    }
    let mut weights = HashMap::new();
    for file in files {
        for (name, tensor) in candle_core::safetensors::load(&file, &Device::Cpu)? {
            weights.insert(name, tensor.to_dtype(DType::F32)?);
        }
    }
    Ok((config, weights))
}

/// The Hugging Face name of a llama.cpp GGUF tensor name, if it is a decoder weight.
///
/// # Examples
///
/// ```
/// use aot::candle::gguf_to_hf_name;
/// assert_eq!(gguf_to_hf_name("blk.3.attn_q.weight").as_deref(),
///     Some("model.layers.3.self_attn.q_proj.weight"));
/// assert_eq!(gguf_to_hf_name("token_embd.weight").as_deref(), Some("model.embed_tokens.weight"));
/// assert_eq!(gguf_to_hf_name("rope_freqs.weight"), None);
/// ```
pub fn gguf_to_hf_name(name: &str) -> Option<String> {
    let fixed = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(fixed) = fixed {
        return Some(fixed.to_string());
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, tail) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let hf = match tail {
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}"))
}

/// Undoes llama.cpp's row permutation of a q or k projection `[out, in]` with `heads` heads.
///
/// llama.cpp reorders each head's rows from the "rotate half" layout to the interleaved one:
/// reshape `(heads, 2, d/2, in)` → swap axes 1, 2. The inverse reshapes `(heads, d/2, 2, in)`,
/// swaps axes 1 and 2 and flattens back.
///
/// # Errors
///
/// [`Error::Model`] when `out` is not a multiple of `2 · heads`.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// use aot::candle::unpermute_rope_rows;
///
/// // One head of dimension 4 with rows (r0, r1, r2, r3) in Hugging Face order; llama.cpp stores
/// // them interleaved as (r0, r2, r1, r3).
/// let stored = Tensor::new(&[[0f32], [2.0], [1.0], [3.0]], &Device::Cpu)?;
/// let rows = unpermute_rope_rows(&stored, 1)?.flatten_all()?.to_vec1::<f32>()?;
/// assert_eq!(rows, vec![0.0, 1.0, 2.0, 3.0]);
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn unpermute_rope_rows(weight: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, inp) = weight.dims2()?;
    if heads == 0 || out % (2 * heads) != 0 {
        return Err(Error::model(
            "gguf",
            format!("cannot unpermute a [{out}, {inp}] projection over {heads} heads"),
        ));
    }
    let half = out / heads / 2;
    Ok(weight
        .reshape((heads, half, 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))?)
}

fn metadata_usize(content: &Content, key: &str, source: &str) -> Result<Option<usize>> {
    let value = match content.metadata.get(key) {
        None => return Ok(None),
        Some(v) => v,
    };
    let n = match value {
        Value::U8(v) => Some(u64::from(*v)),
        Value::U16(v) => Some(u64::from(*v)),
        Value::U32(v) => Some(u64::from(*v)),
        Value::U64(v) => Some(*v),
        Value::I32(v) => u64::try_from(*v).ok(),
        Value::I64(v) => u64::try_from(*v).ok(),
        _ => None,
    };
    n.and_then(|n| usize::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            Error::model(
                source,
                format!("metadata `{key}` is not a count: {value:?}"),
            )
        })
}

fn metadata_f64(content: &Content, key: &str) -> Option<f64> {
    match content.metadata.get(key)? {
        Value::F32(v) => Some(f64::from(*v)),
        Value::F64(v) => Some(*v),
        _ => None,
    }
}

fn read_gguf(path: &Path) -> Result<(LlamaConfig, HashMap<String, Tensor>, Content)> {
    let source = path.display().to_string();
    let file = std::fs::File::open(path).map_err(io_error(path))?;
    let mut reader = std::io::BufReader::new(file);
    let content = Content::read(&mut reader)?;
    let arch = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    if arch != "llama" {
        return Err(Error::model(
            &source,
            format!("general.architecture = `{arch}`: only `llama` is supported"),
        ));
    }
    let need = |key: &str| -> Result<usize> {
        metadata_usize(&content, &format!("llama.{key}"), &source)?
            .ok_or_else(|| Error::model(&source, format!("metadata `llama.{key}` is missing")))
    };
    let heads = need("attention.head_count")?;
    let kv_heads =
        metadata_usize(&content, "llama.attention.head_count_kv", &source)?.unwrap_or(heads);
    let hidden = need("embedding_length")?;
    let embed_info = content
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| Error::model(&source, "tensor `token_embd.weight` is missing"))?;
    // GGUF lists dimensions innermost first: (hidden, vocab).
    let vocab_size = embed_info
        .shape
        .dims()
        .iter()
        .copied()
        .find(|&d| d != hidden)
        .unwrap_or(hidden);
    let head_dim = metadata_usize(&content, "llama.rope.dimension_count", &source)?;
    let config = LlamaConfig {
        vocab_size,
        hidden_size: hidden,
        intermediate_size: need("feed_forward_length")?,
        num_hidden_layers: need("block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: Some(kv_heads),
        head_dim: head_dim.filter(|&d| d != hidden / heads),
        rms_norm_eps: metadata_f64(&content, "llama.attention.layer_norm_rms_epsilon")
            .unwrap_or(1e-5),
        rope_theta: metadata_f64(&content, "llama.rope.freq_base").unwrap_or(10_000.0),
        tie_word_embeddings: !content.tensor_infos.contains_key("output.weight"),
        max_position_embeddings: metadata_usize(&content, "llama.context_length", &source)?,
    };
    config.validate()?;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut weights = HashMap::new();
    for name in names {
        let Some(hf) = gguf_to_hf_name(name) else {
            tracing::debug!(tensor = %name, "skipping GGUF tensor without a decoder role");
            continue;
        };
        let tensor = content
            .tensor(&mut reader, name, &Device::Cpu)?
            .dequantize(&Device::Cpu)?
            .to_dtype(DType::F32)?;
        let tensor = if name.ends_with("attn_q.weight") {
            unpermute_rope_rows(&tensor, heads)?
        } else if name.ends_with("attn_k.weight") {
            unpermute_rope_rows(&tensor, kv_heads)?
        } else {
            tensor
        };
        weights.insert(hf, tensor);
    }
    Ok((config, weights, content))
}

/// Reads a llama GGUF file: configuration from its metadata and every decoder weight
/// dequantised to f32 on the CPU, under Hugging Face names ([`gguf_to_hf_name`]), with the q/k
/// row permutation undone ([`unpermute_rope_rows`]). A file without `output.weight` has tied
/// embeddings.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be opened; [`Error::Model`] for another architecture or
/// missing metadata; candle errors for a malformed file.
///
/// # Examples
///
/// ```no_run
/// use candle_core::{DType, Device};
/// use aot::candle::{load_gguf, Llama, Training};
///
/// let (config, weights) = load_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
/// let model = Llama::new(&config, &weights, Training::Frozen, &Device::Cpu, DType::F32)?;
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub fn load_gguf(path: impl AsRef<Path>) -> Result<(LlamaConfig, HashMap<String, Tensor>)> {
    let (config, weights, _) = read_gguf(path.as_ref())?;
    Ok((config, weights))
}
