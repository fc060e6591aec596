#![cfg(feature = "candle")]
//! Reference facts of the real model SmolLM2-135M-Instruct (GGUF, Q4_1), when it is present.
//!
//! The GGUF is found through `AOT_GGUF` or at the default cache path written by
//! `scripts/fetch-model.sh` (`$AOT_MODEL_DIR`, default `~/.cache/aot/models`). Without it the
//! tests print why they skip and pass.
//!
//! Reference values (engineering notes, "The real model"): measured with Hugging Face
//! transformers on this GGUF file in f32.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use aot::candle::{
    completion_log_probs, model_completion_log_probs, Llama, LoraConfig, PreferenceLoss,
    PreferenceTensors, Pretrained, TextTokenizer, Training,
};
use aot::objective::Loss;
use candle_core::{DType, Device, Tensor, D};

const PROMPT: &str = "The capital of France is";
/// Token ids of `PROMPT` under the model's tokenizer (Hugging Face tokenizer on the same file).
const PROMPT_IDS: [u32; 5] = [504, 3575, 282, 4649, 314];
/// Greedy next token after `PROMPT`: " Paris".
const NEXT_TOKEN: u32 = 7042;
/// Σ_{t=2..5} log p(token_t | tokens_<t), transformers in f32 on the dequantised weights.
const PROMPT_LOG_PROB: f64 = -14.76646;

fn gguf_path() -> Option<PathBuf> {
    aot::candle::default_model_path()
}

/// The checkpoint and a frozen model, loaded once for all tests of this file.
fn model() -> Option<&'static (Llama, TextTokenizer, Pretrained)> {
    static MODEL: OnceLock<Option<(Llama, TextTokenizer, Pretrained)>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = gguf_path().filter(|p| p.is_file());
            let Some(path) = path else {
                eprintln!(
                    "skipping: SmolLM2 GGUF not found (set AOT_GGUF or run scripts/fetch-model.sh)"
                );
                return None;
            };
            let start = Instant::now();
            let pretrained = Pretrained::load(&path).expect("GGUF loads");
            eprintln!("GGUF loaded and dequantised in {:.2?}", start.elapsed());
            let model = Llama::new(
                &pretrained.config,
                &pretrained.weights,
                Training::Frozen,
                &Device::Cpu,
                DType::F32,
            )
            .expect("decoder builds");
            let tokenizer = pretrained
                .tokenizer
                .clone()
                .expect("GGUF carries a tokenizer");
            Some((model, tokenizer, pretrained))
        })
        .as_ref()
}

#[test]
fn config_matches_smollm2_135m() {
    let Some((model, _, _)) = model() else { return };
    let c = model.config();
    // Engineering notes: 30 layers, hidden 576, FFN 1536, 9/3 heads, vocab 49152, 134.5M params.
    assert_eq!(c.num_hidden_layers, 30);
    assert_eq!(c.hidden_size, 576);
    assert_eq!(c.intermediate_size, 1536);
    assert_eq!(
        (c.num_attention_heads, c.kv_heads(), c.head_dim()),
        (9, 3, 64)
    );
    assert_eq!(c.vocab_size, 49152);
    assert_eq!(c.rope_theta, 100_000.0);
    assert!(c.tie_word_embeddings);
    // 49152·576 (tied embedding) + 30·(2·576 + 2·576² + 2·192·576 + 3·576·1536) + 576
    // = 28,311,552 + 30 · 3,540,096 + 576 = 134,515,008 (the notes' 134.5M).
    assert_eq!(c.num_parameters(), 134_515_008);
}

#[test]
fn tokenizer_reference_ids() {
    let Some((_, tokenizer, _)) = model() else {
        return;
    };
    assert_eq!(tokenizer.encode(PROMPT).unwrap(), PROMPT_IDS);
    // Engineering notes: digits are single tokens.
    assert_eq!(
        tokenizer.encode("Hello 12345").unwrap(),
        [19556, 216, 33, 34, 35, 36, 37]
    );
    // ChatML special tokens are matched verbatim.
    assert_eq!(tokenizer.encode("<|im_start|>").unwrap(), [1]);
    assert_eq!(tokenizer.token_id("<|im_end|>"), Some(2));
    assert_eq!(tokenizer.decode(&PROMPT_IDS).unwrap(), PROMPT);
}

#[test]
fn greedy_next_token_and_prompt_log_prob() {
    let Some((model, _, _)) = model() else { return };
    let ids = Tensor::new(&[PROMPT_IDS], &Device::Cpu).unwrap();
    let logits = model.forward(&ids).unwrap();
    let last = logits.narrow(1, 4, 1).unwrap().flatten_all().unwrap();
    let next = last.argmax(D::Minus1).unwrap().to_scalar::<u32>().unwrap();
    assert_eq!(next, NEXT_TOKEN);
    let mask = Tensor::new(&[[0u8, 1, 1, 1, 1]], &Device::Cpu).unwrap();
    let lp = completion_log_probs(&logits, &ids, &mask).unwrap();
    let lp = lp.to_vec1::<f32>().unwrap()[0] as f64;
    eprintln!("sum of log-probs of tokens 2..5: {lp:.5} (reference {PROMPT_LOG_PROB})");
    // The path that runs the head only at scored positions gives the same number.
    let fast = model_completion_log_probs(model, &ids, &mask).unwrap();
    let fast = fast.to_vec1::<f32>().unwrap()[0] as f64;
    assert!((fast - lp).abs() < 1e-4, "{fast} vs {lp}");
    assert!(
        (lp - PROMPT_LOG_PROB).abs() < 2e-3,
        "sum of log-probs {lp}, reference {PROMPT_LOG_PROB}"
    );
}

/// The tokenizer rebuilt from GGUF metadata, saved as `tokenizer.json` and loaded back through
/// `TextTokenizer::from_file`, encodes identically (a chat-formatted text with special tokens).
#[test]
fn tokenizer_json_round_trip() {
    let Some((_, tokenizer, _)) = model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    tokenizer.inner().save(&path, false).unwrap();
    let loaded = TextTokenizer::from_file(&path).unwrap();
    let text = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4, naïvely.";
    assert_eq!(
        loaded.encode(text).unwrap(),
        tokenizer.encode(text).unwrap()
    );
    assert_eq!(tokenizer.eos_token_id(), Some(2));
    assert_eq!(loaded.eos_token_id(), Some(2));
}

/// One AOT step on the real model: with the top 2 blocks trainable (and with LoRA on the top 2
/// blocks), every trainable parameter receives a nonzero gradient. Two pairs of short texts.
#[test]
fn real_model_top_blocks_and_lora_receive_gradients() {
    let Some((frozen, tokenizer, pretrained)) = model() else {
        return;
    };
    let prompt = "Question: what is the capital of France?\nAnswer:";
    let texts = [
        " Paris is the capital of France.",
        " The capital is Paris.",
        " I do not know, maybe Lyon.",
        " France has no capital.",
    ];
    let prompt_ids = tokenizer.encode(prompt).unwrap();
    let rows: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| [prompt_ids.clone(), tokenizer.encode(t).unwrap()].concat())
        .collect();
    let width = rows.iter().map(Vec::len).max().unwrap();
    let pad = tokenizer.eos_token_id().unwrap();
    let mut ids = Vec::new();
    let mut mask = Vec::new();
    for row in &rows {
        for k in 0..width {
            ids.push(*row.get(k).unwrap_or(&pad));
            mask.push(u8::from(k >= prompt_ids.len() && k < row.len()));
        }
    }
    let ids = Tensor::from_vec(ids, (4, width), &Device::Cpu).unwrap();
    let mask = Tensor::from_vec(mask, (4, width), &Device::Cpu).unwrap();
    let reference = completion_log_probs(&frozen.forward(&ids).unwrap(), &ids, &mask).unwrap();
    let lora = LoraConfig {
        rank: 4,
        alpha: 8.0,
        top_blocks: Some(2),
        ..LoraConfig::default()
    };
    for training in [Training::TopBlocks { blocks: 2 }, Training::Lora(lora)] {
        let policy = Llama::new(
            &pretrained.config,
            &pretrained.weights,
            training,
            &Device::Cpu,
            DType::F32,
        )
        .unwrap();
        let start = Instant::now();
        let logits = policy.forward(&ids).unwrap();
        let lp = completion_log_probs(&logits, &ids, &mask).unwrap();
        // The policy starts at the reference.
        let diff = (&lp - &reference)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-3);
        let (pc, pr) = (lp.narrow(0, 0, 2).unwrap(), lp.narrow(0, 2, 2).unwrap());
        let (rc, rr) = (
            reference.narrow(0, 0, 2).unwrap(),
            reference.narrow(0, 2, 2).unwrap(),
        );
        let batch = PreferenceTensors {
            policy_chosen: &pc,
            policy_rejected: &pr,
            reference_chosen: &rc,
            reference_rejected: &rr,
        };
        let loss = PreferenceLoss::trl(Loss::AotPaired, 0.1, 0.0)
            .unwrap()
            .compute(&batch)
            .unwrap();
        let grads = loss.backward().unwrap();
        eprintln!(
            "{training:?}: forward + backward on 4 x {width} tokens in {:.2?}",
            start.elapsed()
        );
        let mut checked = 0;
        for (name, var) in policy.named_trainable_vars() {
            let is_lora_a = name.ends_with("lora_A.weight");
            let g = grads.get(var.as_tensor());
            let norm = g.map_or(0.0, |g| {
                g.abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
            });
            // LoRA's A gets a zero gradient while B = 0 (see LoraConfig); B must move.
            assert!(is_lora_a || norm > 0.0, "{name} has no gradient");
            checked += 1;
        }
        assert!(checked > 0);
    }
}
