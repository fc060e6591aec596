#![cfg(feature = "candle")]
//! The trainable decoder on a tiny random configuration: every trainable parameter receives a
//! gradient (the classic silent failure of fused kernels), top-K blocks and LoRA, causality,
//! checkpoints, and both loaders (Hugging Face directory, GGUF with the q/k permutation).

use std::collections::HashMap;

use aot::candle::{
    completion_log_probs, load_gguf, unpermute_rope_rows, Llama, LlamaConfig, LoraConfig,
    PreferenceLoss, PreferenceTensors, Pretrained, Training,
};
use aot::objective::Loss;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, SGD};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEED: u64 = 42;
const T: usize = 7;

fn tiny(training: Training) -> Llama {
    let config = LlamaConfig::tiny();
    let weights = Llama::random_weights(&config, SEED).unwrap();
    Llama::new(&config, &weights, training, &Device::Cpu, DType::F32).unwrap()
}

/// Four sequences (two chosen, two rejected) of seeded random ids; the first 3 tokens are prompt.
fn batch() -> (Tensor, Tensor) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let ids: Vec<u32> = (0..4 * T).map(|_| rng.random_range(0..64)).collect();
    let mask: Vec<u8> = (0..4 * T).map(|k| u8::from(k % T >= 3)).collect();
    (
        Tensor::from_vec(ids, (4, T), &Device::Cpu).unwrap(),
        Tensor::from_vec(mask, (4, T), &Device::Cpu).unwrap(),
    )
}

/// The AOT-paired loss of the model on `batch()`, against fixed reference log-probs.
fn aot_loss(model: &Llama) -> Tensor {
    let (ids, mask) = batch();
    let logits = model.forward(&ids).unwrap();
    let lp = completion_log_probs(&logits, &ids, &mask).unwrap();
    let (pc, pr) = (lp.narrow(0, 0, 2).unwrap(), lp.narrow(0, 2, 2).unwrap());
    let rc = Tensor::new(&[-17.0f32, -16.0], &Device::Cpu).unwrap();
    let rr = Tensor::new(&[-16.5f32, -18.0], &Device::Cpu).unwrap();
    let b = PreferenceTensors {
        policy_chosen: &pc,
        policy_rejected: &pr,
        reference_chosen: &rc,
        reference_rejected: &rr,
    };
    PreferenceLoss::trl(Loss::AotPaired, 1.0, 0.0)
        .unwrap()
        .compute(&b)
        .unwrap()
}

/// Names of trainable variables whose gradient is missing or identically zero.
fn without_gradient(model: &Llama, loss: &Tensor) -> Vec<String> {
    let grads = loss.backward().unwrap();
    model
        .named_trainable_vars()
        .into_iter()
        .filter(|(_, var)| {
            grads.get(var.as_tensor()).is_none_or(|g| {
                g.abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    == 0.0
            })
        })
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn every_parameter_receives_a_gradient() {
    let model = tiny(Training::Full);
    let config = model.config();
    // 1 embedding + 9 per block + final norm; tied head.
    assert_eq!(
        model.trainable_names().len(),
        1 + 9 * config.num_hidden_layers + 1
    );
    assert_eq!(model.num_trainable(), config.num_parameters());
    let loss = aot_loss(&model);
    assert!(loss.to_scalar::<f32>().unwrap().is_finite());
    assert_eq!(without_gradient(&model, &loss), Vec::<String>::new());
}

#[test]
fn top_blocks_train_only_the_top() {
    let model = tiny(Training::TopBlocks { blocks: 1 });
    let mut expected: Vec<String> = [
        "input_layernorm",
        "mlp.down_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "post_attention_layernorm",
        "self_attn.k_proj",
        "self_attn.o_proj",
        "self_attn.q_proj",
        "self_attn.v_proj",
    ]
    .iter()
    .map(|s| format!("model.layers.2.{s}.weight"))
    .collect();
    expected.push("model.norm.weight".into());
    expected.sort();
    assert_eq!(model.trainable_names(), expected);
    let loss = aot_loss(&model);
    assert_eq!(without_gradient(&model, &loss), Vec::<String>::new());
    // Same function as the frozen model.
    let frozen = tiny(Training::Frozen);
    assert!(frozen.trainable_names().is_empty());
    let (ids, _) = batch();
    let a = model
        .forward(&ids)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let b = frozen
        .forward(&ids)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(a, b);
    // More blocks than the model has is an error.
    let config = LlamaConfig::tiny();
    let weights = Llama::random_weights(&config, SEED).unwrap();
    let err = Llama::new(
        &config,
        &weights,
        Training::TopBlocks { blocks: 4 },
        &Device::Cpu,
        DType::F32,
    );
    assert!(err.is_err());
}

#[test]
fn lora_adapters_train_and_merge() {
    let lora = LoraConfig {
        rank: 2,
        alpha: 4.0,
        attention: true,
        mlp: true,
        top_blocks: Some(2),
        seed: 9,
    };
    let mut model = tiny(Training::Lora(lora));
    // 7 projections × 2 factors × 2 adapted blocks.
    assert_eq!(model.trainable_names().len(), 28);
    assert!(model.trainable_names().iter().all(|n| n.contains(".lora_")));
    assert!(!model
        .trainable_names()
        .iter()
        .any(|n| n.starts_with("model.layers.0.")));
    // B = 0 at the start: same function as the base model, and A's gradient is zero.
    let (ids, _) = batch();
    let base = tiny(Training::Frozen);
    let before = model
        .forward(&ids)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let reference = base
        .forward(&ids)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(before, reference);
    let loss = aot_loss(&model);
    let missing = without_gradient(&model, &loss);
    assert!(!missing.is_empty() && missing.iter().all(|n| n.ends_with("lora_A.weight")));
    // One SGD step moves B; afterwards every factor receives a gradient.
    let mut sgd = SGD::new(model.trainable_vars(), 0.5).unwrap();
    sgd.backward_step(&loss).unwrap();
    let loss = aot_loss(&model);
    assert_eq!(without_gradient(&model, &loss), Vec::<String>::new());
    // Merged weights W + (α/r) B A reproduce the adapted model.
    let merged = model.weights().unwrap();
    let config = model.config().clone();
    let plain = Llama::new(&config, &merged, Training::Frozen, &Device::Cpu, DType::F32).unwrap();
    let a = model
        .forward(&ids)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let b = plain
        .forward(&ids)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "merged differs by {diff}");
    assert_ne!(a, reference);
    // Checkpoint round trip of the trainable variables.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adapters.safetensors");
    model.save_trainable(&path).unwrap();
    let mut fresh = tiny(Training::Lora(lora));
    fresh.load_trainable(&path).unwrap();
    let c = fresh
        .forward(&ids)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(a, c);
    model.load_trainable(&path).unwrap();
}

/// A short training run with full fine-tuning lowers the loss (SGD, 5 steps, lr 0.05).
#[test]
fn training_lowers_the_loss() {
    let model = tiny(Training::TopBlocks { blocks: 2 });
    let mut sgd = SGD::new(model.trainable_vars(), 0.05).unwrap();
    let first = aot_loss(&model).to_scalar::<f32>().unwrap();
    for _ in 0..5 {
        let loss = aot_loss(&model);
        sgd.backward_step(&loss).unwrap();
    }
    let last = aot_loss(&model).to_scalar::<f32>().unwrap();
    assert!(last < first, "{first} -> {last}");
}

/// Causal attention: the logits at position t do not depend on later tokens, so right padding
/// does not change the scores of the real tokens.
#[test]
fn logits_are_causal() {
    let model = tiny(Training::Frozen);
    let a = Tensor::new(&[[5u32, 9, 13, 2, 2, 2]], &Device::Cpu).unwrap();
    let b = Tensor::new(&[[5u32, 9, 13, 40, 41, 42]], &Device::Cpu).unwrap();
    let la = model.forward(&a).unwrap().narrow(1, 0, 3).unwrap();
    let lb = model.forward(&b).unwrap().narrow(1, 0, 3).unwrap();
    let la = la.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let lb = lb.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let diff = la
        .iter()
        .zip(&lb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "{diff}");
    // A batch of two gives the rows of two single runs.
    let both = Tensor::new(
        &[[5u32, 9, 13, 2, 2, 2], [5, 9, 13, 40, 41, 42]],
        &Device::Cpu,
    )
    .unwrap();
    let lboth = model.forward(&both).unwrap().narrow(0, 1, 1).unwrap();
    let full_b = model.forward(&b).unwrap();
    let d = (lboth - full_b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-5, "{d}");
    // Errors: id outside the vocabulary, wrong rank, float ids.
    let bad = Tensor::new(&[[64u32]], &Device::Cpu).unwrap();
    assert!(model.forward(&bad).is_err());
    assert!(model
        .forward(&Tensor::new(&[1u32], &Device::Cpu).unwrap())
        .is_err());
    assert!(model
        .forward(&Tensor::new(&[[1.0f32]], &Device::Cpu).unwrap())
        .is_err());
}

fn logits(model: &Llama) -> Vec<f32> {
    let (ids, _) = batch();
    model
        .forward(&ids)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

#[test]
fn hugging_face_directory_round_trip() {
    let model = tiny(Training::Frozen);
    let dir = tempfile::tempdir().unwrap();
    model.save_hf_dir(dir.path()).unwrap();
    let loaded = Pretrained::load(dir.path()).unwrap();
    assert_eq!(&loaded.config, model.config());
    assert!(loaded.tokenizer.is_none());
    let again = Llama::new(
        &loaded.config,
        &loaded.weights,
        Training::Frozen,
        &Device::Cpu,
        DType::F32,
    )
    .unwrap();
    assert_eq!(logits(&model), logits(&again));
    // An untied head is loaded as `lm_head.weight`, and a missing tensor is a typed error.
    let mut config = LlamaConfig::tiny();
    config.tie_word_embeddings = false;
    let weights = Llama::random_weights(&config, 3).unwrap();
    assert!(weights.contains_key("lm_head.weight"));
    let mut missing = weights.clone();
    missing.remove("model.layers.1.mlp.up_proj.weight");
    let err = Llama::new(&config, &missing, Training::Full, &Device::Cpu, DType::F32).unwrap_err();
    assert!(
        err.to_string()
            .contains("model.layers.1.mlp.up_proj.weight"),
        "{err}"
    );
}

/// The llama.cpp permutation of q/k rows, as its converter applies it: reshape
/// (heads, 2, d/2, in), swap axes 1 and 2.
fn permute_like_llama_cpp(w: &Tensor, heads: usize) -> Tensor {
    let (out, inp) = w.dims2().unwrap();
    w.reshape((heads, 2, out / heads / 2, inp))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((out, inp))
        .unwrap()
}

fn hf_to_gguf(name: &str) -> String {
    let fixed: HashMap<&str, &str> = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ]
    .into_iter()
    .collect();
    if let Some(n) = fixed.get(name) {
        return n.to_string();
    }
    let rest = name.strip_prefix("model.layers.").unwrap();
    let (layer, tail) = rest.split_once('.').unwrap();
    let tail = match tail {
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        "input_layernorm.weight" => "attn_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        other => panic!("unexpected {other}"),
    };
    format!("blk.{layer}.{tail}")
}

/// Writes the tiny model as an F32 GGUF the way llama.cpp's converter would (q/k rows permuted,
/// llama metadata), reads it back, and gets the same weights and logits.
#[test]
fn gguf_round_trip_undoes_the_permutation() {
    let config = LlamaConfig::tiny();
    let weights = Llama::random_weights(&config, SEED).unwrap();
    let mut qtensors = Vec::new();
    for (name, tensor) in &weights {
        let tensor = if name.ends_with("q_proj.weight") {
            permute_like_llama_cpp(tensor, config.num_attention_heads)
        } else if name.ends_with("k_proj.weight") {
            permute_like_llama_cpp(tensor, config.kv_heads())
        } else {
            tensor.clone()
        };
        qtensors.push((
            hf_to_gguf(name),
            QTensor::quantize(&tensor, GgmlDType::F32).unwrap(),
        ));
    }
    let count = |n: usize| Value::U32(n as u32);
    let metadata = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", count(config.num_hidden_layers)),
        ("llama.embedding_length", count(config.hidden_size)),
        ("llama.feed_forward_length", count(config.intermediate_size)),
        (
            "llama.attention.head_count",
            count(config.num_attention_heads),
        ),
        ("llama.attention.head_count_kv", count(config.kv_heads())),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.rope.freq_base", Value::F32(10_000.0)),
        ("llama.context_length", count(128)),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    {
        let mut file = std::fs::File::create(&path).unwrap();
        let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        let ts: Vec<(&str, &QTensor)> = qtensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
        gguf_file::write(&mut file, &md, &ts).unwrap();
    }
    let (loaded_config, loaded) = load_gguf(&path).unwrap();
    assert_eq!(loaded_config.num_hidden_layers, config.num_hidden_layers);
    assert_eq!(loaded_config.vocab_size, config.vocab_size);
    assert_eq!(loaded_config.kv_heads(), config.kv_heads());
    assert!(loaded_config.tie_word_embeddings);
    // 1e-5 stored as f32 is 9.99999974738e-6.
    assert!((loaded_config.rms_norm_eps - 1e-5).abs() < 1e-12);
    assert_eq!(loaded.len(), weights.len());
    for (name, tensor) in &weights {
        let a = tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = loaded[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, b, "{name}");
    }
    // A file of another architecture is refused by the tokenizer-carrying loader too.
    assert!(Pretrained::load(&path).is_err());
    // unpermute ∘ permute = identity on a non-square k projection.
    let w = &weights["model.layers.0.self_attn.k_proj.weight"];
    let back = unpermute_rope_rows(&permute_like_llama_cpp(w, 2), 2).unwrap();
    assert_eq!(
        back.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        w.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
}

/// f64 parameters give the same logits as f32 to f32 precision.
#[test]
fn f64_model_agrees_with_f32() {
    let config = LlamaConfig::tiny();
    let weights = Llama::random_weights(&config, SEED).unwrap();
    let m64 = Llama::new(
        &config,
        &weights,
        Training::Frozen,
        &Device::Cpu,
        DType::F64,
    )
    .unwrap();
    let m32 = tiny(Training::Frozen);
    let (ids, _) = batch();
    let a = m64.forward(&ids).unwrap().to_dtype(DType::F32).unwrap();
    let b = m32.forward(&ids).unwrap();
    let d = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-4, "{d}");
}
