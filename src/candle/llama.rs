//! A compact, trainable Llama-architecture decoder written with differentiable candle ops.
//!
//! The architecture is the one of Hugging Face's `LlamaForCausalLM`: token embedding, `L` blocks
//! of pre-norm grouped-query attention with rotary position embeddings (RoPE, the "rotate half"
//! convention) and a SwiGLU feed-forward, a final RMSNorm and an output head that may be tied to
//! the embedding. For hidden state `x`:
//!
//! ```text
//! rms_norm(x; w) = w ⊙ x / sqrt(mean(x²) + eps)
//! n   = rms_norm(x; w_in)
//! h   = x + o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))
//! n'  = rms_norm(h; w_post)
//! out = h + down_proj(silu(gate_proj(n')) ⊙ up_proj(n'))
//! ```
//!
//! with causal softmax attention `softmax(q kᵀ / sqrt(d) + mask) v`, each key/value head shared by
//! `num_attention_heads / num_key_value_heads` query heads. Every op used has a backward pass
//! (no fused rms-norm, softmax or rope kernels, which candle cannot differentiate). A forward call
//! returns the logits of every position and keeps no state between calls (no KV cache).
//!
//! Which parameters are trainable is chosen by [`Training`]. Trainable parameters are candle
//! [`Var`]s held in a [`VarMap`] under their Hugging Face names, so `VarMap::save`/`load` are the
//! checkpoint format; frozen parameters are plain tensors that build no graph.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::VarMap;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

fn default_rope_theta() -> f64 {
    10_000.0
}

/// Hyper-parameters of the decoder, with the field names of a Hugging Face `config.json`.
///
/// # Examples
///
/// ```
/// let config: aot::candle::LlamaConfig = serde_json::from_str(r#"{
///     "vocab_size": 32, "hidden_size": 16, "intermediate_size": 24,
///     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
///     "rms_norm_eps": 1e-5, "tie_word_embeddings": true
/// }"#)?;
/// assert_eq!(config.head_dim(), 4);
/// assert_eq!(config.rope_theta, 10000.0);
/// config.validate()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Vocabulary size `V`.
    pub vocab_size: usize,
    /// Hidden size `H`.
    pub hidden_size: usize,
    /// Feed-forward inner size.
    pub intermediate_size: usize,
    /// Number of blocks `L`.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (defaults to the number of query heads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    /// Per-head dimension (defaults to `hidden_size / num_attention_heads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base θ.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// Whether the output head is the token embedding.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Longest sequence the model was trained for (informative; longer inputs still run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_position_embeddings: Option<usize>,
}

impl LlamaConfig {
    /// Per-head dimension.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Number of key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// A small configuration for tests and smoke runs: `V = 64`, `H = 32`, 3 blocks, 4 query
    /// heads sharing 2 key/value heads, tied embeddings.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 64,
            hidden_size: 32,
            intermediate_size: 48,
            num_hidden_layers: 3,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            head_dim: None,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            tie_word_embeddings: true,
            max_position_embeddings: Some(128),
        }
    }

    /// Checks that the sizes are positive and consistent.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the first inconsistent field.
    pub fn validate(&self) -> Result<()> {
        const F: &str = "LlamaConfig::validate";
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
            ("head_dim", self.head_dim()),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::invalid(F, name, value, "must be positive"));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return Err(Error::invalid(
                F,
                "num_key_value_heads",
                self.kv_heads(),
                format!(
                    "must divide num_attention_heads = {}",
                    self.num_attention_heads
                ),
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(Error::invalid(
                F,
                "head_dim",
                self.head_dim(),
                "must be even for RoPE",
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return Err(Error::invalid(
                F,
                "rms_norm_eps",
                self.rms_norm_eps,
                "must be > 0",
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return Err(Error::invalid(
                F,
                "rope_theta",
                self.rope_theta,
                "must be > 1",
            ));
        }
        Ok(())
    }

    /// The Hugging Face names and shapes of every parameter, in a fixed order.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (h, d) = (self.hidden_size, self.head_dim());
        let (q_out, kv_out) = (self.num_attention_heads * d, self.kv_heads() * d);
        let i = self.intermediate_size;
        let mut shapes = vec![(
            "model.embed_tokens.weight".to_string(),
            vec![self.vocab_size, h],
        )];
        for layer in 0..self.num_hidden_layers {
            let p = |s: &str| format!("model.layers.{layer}.{s}");
            shapes.push((p("input_layernorm.weight"), vec![h]));
            shapes.push((p("self_attn.q_proj.weight"), vec![q_out, h]));
            shapes.push((p("self_attn.k_proj.weight"), vec![kv_out, h]));
            shapes.push((p("self_attn.v_proj.weight"), vec![kv_out, h]));
            shapes.push((p("self_attn.o_proj.weight"), vec![h, q_out]));
            shapes.push((p("post_attention_layernorm.weight"), vec![h]));
            shapes.push((p("mlp.gate_proj.weight"), vec![i, h]));
            shapes.push((p("mlp.up_proj.weight"), vec![i, h]));
            shapes.push((p("mlp.down_proj.weight"), vec![h, i]));
        }
        shapes.push(("model.norm.weight".to_string(), vec![h]));
        if !self.tie_word_embeddings {
            shapes.push(("lm_head.weight".to_string(), vec![self.vocab_size, h]));
        }
        shapes
    }

    /// Total number of parameters (the tied head counted once).
    pub fn num_parameters(&self) -> usize {
        self.parameter_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

/// LoRA adapters `W x + (α/r) B A x` on the projections of the decoder.
///
/// `A` (`[r, in]`) starts uniform in `±1/sqrt(in)` from a seeded generator and `B` (`[out, r]`)
/// starts at zero, so the adapted model starts equal to the base model. Consequently the first
/// backward pass gives `A` a zero gradient (`∂L/∂A = (α/r) Bᵀ (∂L/∂y) xᵀ = 0`); `B` moves first.
///
/// # Examples
///
/// ```
/// use candle_core::{DType, Device};
/// use aot::candle::{Llama, LlamaConfig, LoraConfig, Training};
///
/// let config = LlamaConfig::tiny();
/// let weights = Llama::random_weights(&config, 0)?;
/// let lora = LoraConfig { rank: 4, attention: true, mlp: false, top_blocks: Some(1),
///     ..LoraConfig::default() };
/// let model = Llama::new(&config, &weights, Training::Lora(lora), &Device::Cpu, DType::F32)?;
/// // q, k, v, o of the top block, two factors each.
/// assert_eq!(model.trainable_names().len(), 8);
/// assert!(model.trainable_names()[0].starts_with("model.layers.2.self_attn.k_proj.lora_A"));
/// # Ok::<(), aot::candle::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoraConfig {
    /// Rank `r >= 1`.
    pub rank: usize,
    /// Scale numerator `α > 0` (the update is scaled by `α/r`).
    pub alpha: f64,
    /// Adapt `q_proj`, `k_proj`, `v_proj`, `o_proj`.
    pub attention: bool,
    /// Adapt `gate_proj`, `up_proj`, `down_proj`.
    pub mlp: bool,
    /// Adapt only the top this-many blocks (the blocks below then run without a graph); `None`
    /// adapts every block.
    pub top_blocks: Option<usize>,
    /// Seed of the initialisation of `A`.
    pub seed: u64,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            attention: true,
            mlp: true,
            top_blocks: None,
            seed: 0,
        }
    }
}

/// Which parameters of the decoder are trainable.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Training {
    /// Nothing trainable (a reference model); forward builds no graph.
    #[default]
    Frozen,
    /// Every parameter.
    Full,
    /// The top `blocks` blocks and the final norm; the embedding (and a tied head) stays frozen
    /// and the blocks below run without a graph.
    TopBlocks {
        /// Number of trainable blocks, `<= num_hidden_layers`.
        blocks: usize,
    },
    /// LoRA adapters only; every base weight frozen.
    Lora(LoraConfig),
}

/// A linear map `y = x Wᵀ (+ (α/r) x Aᵀ Bᵀ)`.
#[derive(Debug, Clone)]
struct Projection {
    weight: Tensor,
    lora: Option<(Tensor, Tensor, f64)>,
}

impl Projection {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let inner = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let x2 = x.reshape((rows, inner))?;
        let mut y = x2.matmul(&self.weight.t()?)?;
        if let Some((a, b, scale)) = &self.lora {
            let update = x2.matmul(&a.t()?)?.matmul(&b.t()?)?;
            y = (y + (update * *scale)?)?;
        }
        let mut out_dims = dims;
        let last = out_dims.len() - 1;
        out_dims[last] = self.weight.dim(0)?;
        Ok(y.reshape(out_dims)?)
    }

    /// `W + (α/r) B A`.
    fn merged(&self) -> Result<Tensor> {
        match &self.lora {
            None => Ok(self.weight.detach()),
            Some((a, b, scale)) => Ok((self.weight.detach() + (b.matmul(a)? * *scale)?)?.detach()),
        }
    }
}

#[derive(Debug, Clone)]
struct Block {
    input_norm: Tensor,
    q: Projection,
    k: Projection,
    v: Projection,
    o: Projection,
    post_norm: Tensor,
    gate: Projection,
    up: Projection,
    down: Projection,
}

/// The projections of a block, in the order of [`Block`]'s fields.
const BLOCK_PROJECTIONS: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];

fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let mean_square = x.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = x.broadcast_div(&(mean_square + eps)?.sqrt()?)?;
    Ok(normed.broadcast_mul(weight)?)
}

/// RoPE in the "rotate half" convention: `x cos + rotate_half(x) sin`, with
/// `rotate_half([x₁, x₂]) = [−x₂, x₁]` on the two halves of the head dimension.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    Ok((x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?)?)
}

struct Context<'a> {
    cos: &'a Tensor,
    sin: &'a Tensor,
    mask: &'a Tensor,
    config: &'a LlamaConfig,
}

impl Block {
    fn forward(&self, x: &Tensor, ctx: &Context<'_>) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let cfg = ctx.config;
        let (heads, kv_heads, d) = (cfg.num_attention_heads, cfg.kv_heads(), cfg.head_dim());
        let n = rms_norm(x, &self.input_norm, cfg.rms_norm_eps)?;
        let split = |y: Tensor, h: usize| -> Result<Tensor> {
            Ok(y.reshape((b, t, h, d))?.transpose(1, 2)?.contiguous()?)
        };
        let q = rope(&split(self.q.forward(&n)?, heads)?, ctx.cos, ctx.sin)?;
        let k = rope(&split(self.k.forward(&n)?, kv_heads)?, ctx.cos, ctx.sin)?;
        let v = split(self.v.forward(&n)?, kv_heads)?;
        let repeat = heads / kv_heads;
        let expand = |y: Tensor| -> Result<Tensor> {
            if repeat == 1 {
                return Ok(y);
            }
            Ok(y.unsqueeze(2)?
                .expand((b, kv_heads, repeat, t, d))?
                .reshape((b, heads, t, d))?)
        };
        let (k, v) = (expand(k)?, expand(v)?);
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?;
        let scores = scores.broadcast_add(ctx.mask)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let attended = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, t, heads * d))?;
        let h = (x + self.o.forward(&attended)?)?;
        let n = rms_norm(&h, &self.post_norm, cfg.rms_norm_eps)?;
        let gated = (self.gate.forward(&n)?.silu()? * self.up.forward(&n)?)?;
        Ok((h + self.down.forward(&gated)?)?)
    }
}

/// The decoder: parameters, their trainable subset and the forward pass.
///
/// # Examples
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use aot::candle::{Llama, LlamaConfig, Training};
///
/// let config = LlamaConfig::tiny();
/// let weights = Llama::random_weights(&config, 7)?;
/// let model = Llama::new(&config, &weights, Training::TopBlocks { blocks: 1 }, &Device::Cpu,
///     DType::F32)?;
/// let ids = Tensor::new(&[[1u32, 2, 3, 4]], &Device::Cpu)?;
/// let logits = model.forward(&ids)?;
/// assert_eq!(logits.dims(), &[1, 4, 64]);
/// // The top block (9 tensors) and the final norm are trainable.
/// assert_eq!(model.trainable_names().len(), 10);
/// # Ok::<(), aot::candle::Error>(())
/// ```
pub struct Llama {
    config: LlamaConfig,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    lm_head: Option<Tensor>,
    varmap: VarMap,
    first_graph_block: usize,
    training: Training,
    device: Device,
    dtype: DType,
}

impl Llama {
    /// Random weights for `config` from a seeded generator (f32, CPU): projections and
    /// embeddings `N(0, 0.2²)`, norm weights `1 + N(0, 0.1²)`. Reproducible for a given seed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the configuration is inconsistent.
    pub fn random_weights(config: &LlamaConfig, seed: u64) -> Result<HashMap<String, Tensor>> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let invalid = |e: rand_distr::NormalError| {
            Error::invalid("Llama::random_weights", "std", "0.2 or 0.1", e.to_string())
        };
        let weight = Normal::new(0.0f32, 0.2).map_err(invalid)?;
        let norm = Normal::new(1.0f32, 0.1).map_err(invalid)?;
        let mut out = HashMap::new();
        for (name, shape) in config.parameter_shapes() {
            let len: usize = shape.iter().product();
            let dist = if shape.len() == 1 { &norm } else { &weight };
            let values: Vec<f32> = (0..len).map(|_| dist.sample(&mut rng)).collect();
            out.insert(name, Tensor::from_vec(values, shape, &Device::Cpu)?);
        }
        Ok(out)
    }

    /// Builds the decoder from named weights (Hugging Face names, any float dtype and device).
    ///
    /// The weights are copied to `device` as `dtype`; trainable ones become [`Var`]s of the
    /// model's [`VarMap`] (so two models built from the same map do not share storage). Extra
    /// entries of `weights` (such as a redundant `lm_head.weight` next to tied embeddings) are
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an inconsistent config, an unsupported dtype (f32 and f64
    /// are supported) or an invalid [`Training`]; [`Error::Model`] when a weight is missing or has
    /// the wrong shape.
    pub fn new(
        config: &LlamaConfig,
        weights: &HashMap<String, Tensor>,
        training: Training,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        const F: &str = "Llama::new";
        config.validate()?;
        if !matches!(dtype, DType::F32 | DType::F64) {
            return Err(Error::invalid(
                F,
                "dtype",
                format!("{dtype:?}"),
                "must be f32 or f64",
            ));
        }
        let layers = config.num_hidden_layers;
        let (top, lora) = match training {
            Training::Frozen => (0, None),
            Training::Full => (layers, None),
            Training::TopBlocks { blocks } => (blocks, None),
            Training::Lora(lora) => (lora.top_blocks.unwrap_or(layers), Some(lora)),
        };
        if top > layers {
            return Err(Error::invalid(
                F,
                "training",
                format!("{training:?}"),
                format!("asks for {top} top blocks of {layers}"),
            ));
        }
        if let Some(l) = lora {
            if l.rank == 0 || !(l.alpha.is_finite() && l.alpha > 0.0) {
                return Err(Error::invalid(
                    F,
                    "training",
                    format!("{l:?}"),
                    "LoRA needs rank >= 1 and a finite alpha > 0",
                ));
            }
        }
        let varmap = VarMap::new();
        let first_trainable_block = layers - top;
        let base_trainable = |name: &str| -> bool {
            match training {
                Training::Frozen | Training::Lora(_) => false,
                Training::Full => true,
                Training::TopBlocks { .. } => {
                    name == "model.norm.weight"
                        || layer_index(name).is_some_and(|i| i >= first_trainable_block)
                }
            }
        };
        let shapes: HashMap<String, Vec<usize>> = config.parameter_shapes().into_iter().collect();
        let fetch = |name: &str| -> Result<Tensor> {
            let tensor = weights
                .get(name)
                .ok_or_else(|| Error::model("weights", format!("missing tensor `{name}`")))?;
            let expected = &shapes[name];
            if tensor.dims() != expected.as_slice() {
                return Err(Error::model(
                    "weights",
                    format!(
                        "`{name}` has shape {:?}, expected {expected:?}",
                        tensor.dims()
                    ),
                ));
            }
            let tensor = tensor.detach().to_device(device)?.to_dtype(dtype)?;
            if base_trainable(name) {
                let var = Var::from_tensor(&tensor)?;
                let out = var.as_tensor().clone();
                insert_var(&varmap, name, var)?;
                Ok(out)
            } else {
                Ok(tensor)
            }
        };
        let mut lora_rng = StdRng::seed_from_u64(lora.map_or(0, |l| l.seed));
        let mut blocks = Vec::with_capacity(layers);
        for layer in 0..layers {
            let mut projection = |suffix: &str, attention: bool| -> Result<Projection> {
                let name = format!("model.layers.{layer}.{suffix}");
                let weight = fetch(&format!("{name}.weight"))?;
                let adapted = lora.filter(|l| {
                    layer >= first_trainable_block && if attention { l.attention } else { l.mlp }
                });
                let lora = match adapted {
                    None => None,
                    Some(l) => {
                        let (out_dim, in_dim) = weight.dims2()?;
                        let bound = 1.0 / (in_dim as f64).sqrt();
                        let uniform = Uniform::new(-bound, bound).map_err(|e| {
                            Error::invalid(F, "LoRA init bound", bound, e.to_string())
                        })?;
                        let a: Vec<f64> = (0..l.rank * in_dim)
                            .map(|_| uniform.sample(&mut lora_rng))
                            .collect();
                        let a = Tensor::from_vec(a, (l.rank, in_dim), device)?.to_dtype(dtype)?;
                        let b = Tensor::zeros((out_dim, l.rank), dtype, device)?;
                        let (a, b) = (Var::from_tensor(&a)?, Var::from_tensor(&b)?);
                        let (ta, tb) = (a.as_tensor().clone(), b.as_tensor().clone());
                        insert_var(&varmap, &format!("{name}.lora_A.weight"), a)?;
                        insert_var(&varmap, &format!("{name}.lora_B.weight"), b)?;
                        Some((ta, tb, l.alpha / l.rank as f64))
                    }
                };
                Ok(Projection { weight, lora })
            };
            let norm = |suffix: &str| fetch(&format!("model.layers.{layer}.{suffix}.weight"));
            // Fields are evaluated in the order written, which fixes the order of LoRA draws.
            blocks.push(Block {
                input_norm: norm("input_layernorm")?,
                q: projection("self_attn.q_proj", true)?,
                k: projection("self_attn.k_proj", true)?,
                v: projection("self_attn.v_proj", true)?,
                o: projection("self_attn.o_proj", true)?,
                post_norm: norm("post_attention_layernorm")?,
                gate: projection("mlp.gate_proj", false)?,
                up: projection("mlp.up_proj", false)?,
                down: projection("mlp.down_proj", false)?,
            });
        }
        let embed = fetch("model.embed_tokens.weight")?;
        let norm = fetch("model.norm.weight")?;
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(fetch("lm_head.weight")?)
        };
        // Blocks below `first_graph_block` see a detached input and frozen weights.
        let first_graph_block = match training {
            Training::Full => 0,
            Training::Frozen => layers,
            _ => first_trainable_block,
        };
        Ok(Self {
            config: config.clone(),
            embed,
            blocks,
            norm,
            lm_head,
            varmap,
            first_graph_block,
            training,
            device: device.clone(),
            dtype,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The training mode the model was built with.
    pub fn training(&self) -> Training {
        self.training
    }

    /// Device of the parameters.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Dtype of the parameters and logits.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The trainable variables, by Hugging Face name (LoRA factors as
    /// `<projection>.lora_A.weight` and `<projection>.lora_B.weight`, the PEFT naming).
    /// `VarMap::save` and `VarMap::load` checkpoint them as safetensors.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The trainable variables, for an optimiser.
    pub fn trainable_vars(&self) -> Vec<Var> {
        self.varmap.all_vars()
    }

    /// Names of the trainable variables, sorted.
    pub fn trainable_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match self.varmap.data().lock() {
            Ok(map) => map.keys().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().keys().cloned().collect(),
        };
        names.sort();
        names
    }

    /// Named trainable variables, sorted by name.
    pub fn named_trainable_vars(&self) -> Vec<(String, Var)> {
        let mut vars: Vec<(String, Var)> = match self.varmap.data().lock() {
            Ok(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(poisoned) => poisoned
                .into_inner()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// Number of trainable scalars.
    pub fn num_trainable(&self) -> usize {
        self.trainable_vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Saves the trainable variables as safetensors (the checkpoint of a training run).
    ///
    /// # Errors
    ///
    /// Candle errors on I/O failure.
    pub fn save_trainable(&self, path: impl AsRef<Path>) -> Result<()> {
        Ok(self.varmap.save(path)?)
    }

    /// Loads the trainable variables from a file written by [`Llama::save_trainable`] of a
    /// model with the same configuration and [`Training`]; values are overwritten in place.
    ///
    /// # Errors
    ///
    /// Candle errors when the file is unreadable or lacks a variable or has a wrong shape.
    pub fn load_trainable(&mut self, path: impl AsRef<Path>) -> Result<()> {
        Ok(self.varmap.load(path)?)
    }

    /// Every weight under its Hugging Face name, LoRA merged into the base weights
    /// (`W + (α/r) B A`), detached. The tied head is not repeated.
    ///
    /// # Errors
    ///
    /// Candle errors.
    pub fn weights(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        out.insert("model.embed_tokens.weight".to_string(), self.embed.detach());
        for (layer, block) in self.blocks.iter().enumerate() {
            let p = |s: &str| format!("model.layers.{layer}.{s}.weight");
            out.insert(p("input_layernorm"), block.input_norm.detach());
            out.insert(p("post_attention_layernorm"), block.post_norm.detach());
            let projections = [
                &block.q,
                &block.k,
                &block.v,
                &block.o,
                &block.gate,
                &block.up,
                &block.down,
            ];
            for (suffix, projection) in BLOCK_PROJECTIONS.iter().zip(projections) {
                out.insert(p(suffix), projection.merged()?);
            }
        }
        out.insert("model.norm.weight".to_string(), self.norm.detach());
        if let Some(head) = &self.lm_head {
            out.insert("lm_head.weight".to_string(), head.detach());
        }
        Ok(out)
    }

    /// Writes a Hugging Face model directory: `config.json` (with `model_type = "llama"`) and
    /// `model.safetensors` holding [`Llama::weights`]. [`super::load_hf_dir`] reads it back, and
    /// so can Hugging Face `transformers`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or candle errors.
    pub fn save_hf_dir(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut json = serde_json::to_value(&self.config).map_err(|source| Error::Json {
            path: dir.join("config.json"),
            source,
        })?;
        if let Some(object) = json.as_object_mut() {
            object.insert("model_type".into(), "llama".into());
            object.insert(
                "architectures".into(),
                serde_json::json!(["LlamaForCausalLM"]),
            );
            object.insert("hidden_act".into(), "silu".into());
        }
        let path = dir.join("config.json");
        let text = serde_json::to_string_pretty(&json).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, text).map_err(|source| Error::Io { path, source })?;
        let weights = self.weights()?;
        candle_core::safetensors::save(&weights, dir.join("model.safetensors"))?;
        Ok(())
    }

    /// Logits of every position: `[B, T]` token ids (u8, u32 or i64) to `[B, T, V]`.
    ///
    /// Attention is causal, so with right padding the logits of the real tokens do not depend on
    /// the padding. The result has autograd towards the trainable variables.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] unless `input_ids` is `[B, T]` with `B, T >= 1`; [`Error::DType`] for a
    /// non-integer dtype; [`Error::InvalidArgument`] for an id `>= V`.
    pub fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        let hidden = self.hidden_states(input_ids)?;
        self.logits_from_hidden(&hidden)
    }

    /// The output head `h ↦ h W_headᵀ` on final hidden states `[…, H]`, giving `[…, V]`;
    /// `forward(ids) = logits_from_hidden(hidden_states(ids))`. Applying it to selected positions
    /// only saves most of the cost of the head when few positions are scored.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] unless the last dimension is `H`.
    pub fn logits_from_hidden(&self, hidden: &Tensor) -> Result<Tensor> {
        let h = self.config.hidden_size;
        let dims = hidden.dims().to_vec();
        if dims.last() != Some(&h) {
            return Err(Error::Shape {
                function: "Llama::logits_from_hidden",
                argument: "hidden",
                got: dims,
                expected: format!("[…, {h}] (the hidden size)"),
            });
        }
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let head = self.lm_head.as_ref().unwrap_or(&self.embed);
        let logits = hidden.reshape((rows, h))?.matmul(&head.t()?)?;
        let mut out = dims;
        let last = out.len() - 1;
        out[last] = self.config.vocab_size;
        Ok(logits.reshape(out)?)
    }

    /// Final hidden states (after the last RMSNorm), `[B, T]` ids to `[B, T, H]`.
    ///
    /// # Errors
    ///
    /// As [`Llama::forward`].
    pub fn hidden_states(&self, input_ids: &Tensor) -> Result<Tensor> {
        const F: &str = "Llama::forward";
        let (b, t) = match input_ids.dims() {
            &[b, t] if b > 0 && t > 0 => (b, t),
            dims => {
                return Err(Error::Shape {
                    function: F,
                    argument: "input_ids",
                    got: dims.to_vec(),
                    expected: "[B, T] with B, T >= 1".into(),
                })
            }
        };
        let ids = match input_ids.dtype() {
            DType::U8 | DType::U32 | DType::I64 => input_ids.to_dtype(DType::U32)?,
            got => {
                return Err(Error::DType {
                    function: F,
                    argument: "input_ids",
                    got,
                    expected: "u8, u32 or i64",
                })
            }
        };
        let flat = ids.flatten_all()?;
        let host = flat.to_vec1::<u32>()?;
        if let Some(bad) = host
            .iter()
            .find(|&&id| id as usize >= self.config.vocab_size)
        {
            return Err(Error::invalid(
                F,
                "input_ids",
                bad,
                format!(
                    "token ids must be < vocab_size = {}",
                    self.config.vocab_size
                ),
            ));
        }
        let flat = flat.to_device(&self.device)?;
        let embed = if self.first_graph_block > 0 {
            self.embed.detach()
        } else {
            self.embed.clone()
        };
        let mut x = embed
            .index_select(&flat, 0)?
            .reshape((b, t, self.config.hidden_size))?;
        let (cos, sin) = self.rope_tables(t)?;
        let mask = self.causal_mask(t)?;
        let ctx = Context {
            cos: &cos,
            sin: &sin,
            mask: &mask,
            config: &self.config,
        };
        for (i, block) in self.blocks.iter().enumerate() {
            if i == self.first_graph_block && i > 0 {
                x = x.detach();
            }
            x = block.forward(&x, &ctx)?;
        }
        rms_norm(&x, &self.norm, self.config.rms_norm_eps)
    }

    /// `cos` and `sin` of the rotary angles, `[T, d]` each:
    /// angle `(t, j) = t · θ^{−2(j mod d/2)/d}`.
    fn rope_tables(&self, t: usize) -> Result<(Tensor, Tensor)> {
        let d = self.config.head_dim();
        let half = d / 2;
        let mut cos = Vec::with_capacity(t * d);
        let mut sin = Vec::with_capacity(t * d);
        for pos in 0..t {
            for j in 0..d {
                let inv_freq = self
                    .config
                    .rope_theta
                    .powf(-2.0 * (j % half) as f64 / d as f64);
                let angle = pos as f64 * inv_freq;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let make = |v: Vec<f64>| -> Result<Tensor> {
            Ok(Tensor::from_vec(v, (t, d), &self.device)?.to_dtype(self.dtype)?)
        };
        Ok((make(cos)?, make(sin)?))
    }

    /// Additive causal mask `[T, T]`: 0 on and below the diagonal, a large negative number above.
    fn causal_mask(&self, t: usize) -> Result<Tensor> {
        // Finite rather than −∞ so that no 0 · ∞ can appear in a backward pass.
        let blocked = -1e9;
        let values: Vec<f64> = (0..t * t)
            .map(|k| if k % t > k / t { blocked } else { 0.0 })
            .collect();
        Ok(Tensor::from_vec(values, (t, t), &self.device)?.to_dtype(self.dtype)?)
    }
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("config", &self.config)
            .field("training", &self.training)
            .field("trainable", &self.trainable_names().len())
            .field("device", &self.device.location())
            .field("dtype", &self.dtype)
            .finish()
    }
}

fn insert_var(varmap: &VarMap, name: &str, var: Var) -> Result<()> {
    let mut map = varmap
        .data()
        .lock()
        .map_err(|_| Error::model("varmap", "lock poisoned"))?;
    map.insert(name.to_string(), var);
    Ok(())
}

/// The block index of a `model.layers.{i}.…` name.
fn layer_index(name: &str) -> Option<usize> {
    name.strip_prefix("model.layers.")?
        .split('.')
        .next()?
        .parse()
        .ok()
}
