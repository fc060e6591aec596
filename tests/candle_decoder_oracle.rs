#![cfg(feature = "candle")]
//! Slow oracle for the decoder: the Llama forward pass written with plain f64 loops over the
//! same named weights (one token and one head at a time), compared with the tensor decoder in
//! f64. It pins the conventions independently of candle: RMSNorm, RoPE "rotate half" with
//! angle t·θ^{−2j/d}, query head h reading key/value head h / (heads / kv_heads), causal softmax
//! scaled by 1/√d, SwiGLU and the tied output head.

use std::collections::HashMap;

use aot::candle::{Llama, LlamaConfig, Training};
use candle_core::{DType, Device, Tensor};

struct Weights {
    map: HashMap<String, (Vec<f64>, Vec<usize>)>,
}

impl Weights {
    fn new(tensors: &HashMap<String, Tensor>) -> Self {
        let map = tensors
            .iter()
            .map(|(k, t)| {
                let v = t.flatten_all().unwrap().to_dtype(DType::F64).unwrap();
                (k.clone(), (v.to_vec1::<f64>().unwrap(), t.dims().to_vec()))
            })
            .collect();
        Self { map }
    }

    fn vector(&self, name: &str) -> &[f64] {
        &self.map[name].0
    }

    /// y = W x for W stored [out, in].
    fn apply(&self, name: &str, x: &[f64]) -> Vec<f64> {
        let (w, shape) = &self.map[name];
        let (out, inp) = (shape[0], shape[1]);
        (0..out)
            .map(|o| (0..inp).map(|i| w[o * inp + i] * x[i]).sum())
            .collect()
    }
}

fn rms_norm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let scale = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, g)| v * scale * g).collect()
}

/// Rotate-half RoPE of one head vector at position t.
fn rope(x: &[f64], t: usize, theta: f64) -> Vec<f64> {
    let d = x.len();
    let half = d / 2;
    let mut out = vec![0.0; d];
    for j in 0..half {
        let angle = t as f64 * theta.powf(-2.0 * j as f64 / d as f64);
        let (c, s) = (angle.cos(), angle.sin());
        out[j] = x[j] * c - x[j + half] * s;
        out[j + half] = x[j + half] * c + x[j] * s;
    }
    out
}

fn oracle_logits(config: &LlamaConfig, w: &Weights, ids: &[u32]) -> Vec<Vec<f64>> {
    let (h, d) = (config.hidden_size, config.head_dim());
    let (heads, kv) = (config.num_attention_heads, config.kv_heads());
    let eps = config.rms_norm_eps;
    let embed = w.vector("model.embed_tokens.weight");
    let mut xs: Vec<Vec<f64>> = ids
        .iter()
        .map(|&id| embed[id as usize * h..(id as usize + 1) * h].to_vec())
        .collect();
    for layer in 0..config.num_hidden_layers {
        let p = |s: &str| format!("model.layers.{layer}.{s}.weight");
        let normed: Vec<Vec<f64>> = xs
            .iter()
            .map(|x| rms_norm(x, w.vector(&p("input_layernorm")), eps))
            .collect();
        let q: Vec<Vec<f64>> = normed
            .iter()
            .map(|n| w.apply(&p("self_attn.q_proj"), n))
            .collect();
        let k: Vec<Vec<f64>> = normed
            .iter()
            .map(|n| w.apply(&p("self_attn.k_proj"), n))
            .collect();
        let v: Vec<Vec<f64>> = normed
            .iter()
            .map(|n| w.apply(&p("self_attn.v_proj"), n))
            .collect();
        let mut attended = vec![vec![0.0; heads * d]; ids.len()];
        for head in 0..heads {
            let kv_head = head / (heads / kv);
            for t in 0..ids.len() {
                let qt = rope(&q[t][head * d..(head + 1) * d], t, config.rope_theta);
                let scores: Vec<f64> = (0..=t)
                    .map(|s| {
                        let ks = rope(&k[s][kv_head * d..(kv_head + 1) * d], s, config.rope_theta);
                        qt.iter().zip(&ks).map(|(a, b)| a * b).sum::<f64>() / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                for (s, e) in exps.iter().enumerate() {
                    for j in 0..d {
                        attended[t][head * d + j] += e / total * v[s][kv_head * d + j];
                    }
                }
            }
        }
        for t in 0..ids.len() {
            let o = w.apply(&p("self_attn.o_proj"), &attended[t]);
            let hidden: Vec<f64> = xs[t].iter().zip(&o).map(|(a, b)| a + b).collect();
            let n = rms_norm(&hidden, w.vector(&p("post_attention_layernorm")), eps);
            let gate = w.apply(&p("mlp.gate_proj"), &n);
            let up = w.apply(&p("mlp.up_proj"), &n);
            let act: Vec<f64> = gate
                .iter()
                .zip(&up)
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            let down = w.apply(&p("mlp.down_proj"), &act);
            xs[t] = hidden.iter().zip(&down).map(|(a, b)| a + b).collect();
        }
    }
    xs.iter()
        .map(|x| {
            let n = rms_norm(x, w.vector("model.norm.weight"), eps);
            w.apply("model.embed_tokens.weight", &n)
        })
        .collect()
}

/// Tiny config (4 query heads sharing 2 key/value heads), seed 5, f64: the tensor decoder equals
/// the loop oracle to 1e-10 (both f64; the only differences are summation orders).
#[test]
fn decoder_equals_loop_oracle() {
    let config = LlamaConfig::tiny();
    let weights = Llama::random_weights(&config, 5).unwrap();
    let model = Llama::new(
        &config,
        &weights,
        Training::Frozen,
        &Device::Cpu,
        DType::F64,
    )
    .unwrap();
    let ids = [7u32, 0, 63, 12, 12, 40];
    let logits = model
        .forward(&Tensor::new(&[ids], &Device::Cpu).unwrap())
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    let oracle = oracle_logits(&config, &Weights::new(&weights), &ids);
    for (t, (a, b)) in logits.iter().zip(&oracle).enumerate() {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-10, "position {t}: {x} vs {y}");
        }
    }
}
