//! Smoke run of the candle adapter on the real model: load SmolLM2-135M-Instruct from its GGUF,
//! greedy-complete a prompt, score two preference pairs, and take one AOT step on the top blocks.
//!
//! ```text
//! scripts/fetch-model.sh                       # once: downloads and verifies the GGUF
//! cargo run --release --features candle --example candle_smoke [-- path/to/model.gguf]
//! ```
//!
//! The model path is the first argument, else `AOT_GGUF`, else the default cache path of the
//! fetch script. Output (2 cores, f32): the greedy continuation of "The capital of France is"
//! starts with " Paris", then the per-sequence log-probs, the AOT-paired loss before and after
//! one SGD step, and the timings.

use std::path::PathBuf;
use std::time::Instant;

use aot::candle::{
    completion_log_probs, pack_completions, Llama, PreferenceLoss, PreferenceTensors, Pretrained,
    Training,
};
use aot::objective::Loss;
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Optimizer, SGD};

fn model_path() -> Option<PathBuf> {
    if let Some(arg) = std::env::args().nth(1) {
        return Some(PathBuf::from(arg));
    }
    aot::candle::default_model_path()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = model_path().ok_or("no model path: pass one or set AOT_GGUF")?;
    if !path.is_file() {
        return Err(format!("{} not found; run scripts/fetch-model.sh", path.display()).into());
    }
    let start = Instant::now();
    let pretrained = Pretrained::load(&path)?;
    let tokenizer = pretrained
        .tokenizer
        .clone()
        .ok_or("the checkpoint has no tokenizer")?;
    let device = Device::Cpu;
    let reference = Llama::new(
        &pretrained.config,
        &pretrained.weights,
        Training::Frozen,
        &device,
        DType::F32,
    )?;
    println!(
        "loaded {} ({} parameters) in {:.2?}",
        path.display(),
        pretrained.config.num_parameters(),
        start.elapsed()
    );

    // Greedy completion (the decoder keeps no cache: each step reruns the whole prefix).
    let prompt = "The capital of France is";
    let mut ids = tokenizer.encode(prompt)?;
    println!("prompt ids: {ids:?}");
    let start = Instant::now();
    for _ in 0..8 {
        let input = Tensor::new(ids.as_slice(), &device)?.unsqueeze(0)?;
        let logits = reference.forward(&input)?;
        let last = logits.narrow(1, ids.len() - 1, 1)?.flatten_all()?;
        ids.push(last.argmax(D::Minus1)?.to_scalar::<u32>()?);
    }
    println!(
        "greedy: {:?} ({:.2?})",
        tokenizer.decode(&ids)?,
        start.elapsed()
    );

    // Two preference pairs sharing one prompt; rows 0-1 chosen, rows 2-3 rejected.
    let question = tokenizer.encode("Question: what is the capital of France?\nAnswer:")?;
    let answers = [
        " Paris is the capital of France.",
        " The capital of France is Paris.",
        " The capital of France is Berlin.",
        " I have no idea.",
    ];
    let completions = answers
        .iter()
        .map(|a| tokenizer.encode(a))
        .collect::<Result<Vec<_>, _>>()?;
    let pad = tokenizer.eos_token_id().unwrap_or(0);
    let sequences: Vec<(&[u32], &[u32])> = completions
        .iter()
        .map(|c| (question.as_slice(), c.as_slice()))
        .collect();
    let (ids, mask) = pack_completions(&sequences, pad, &device)?;
    let reference_lp = completion_log_probs(&reference.forward(&ids)?, &ids, &mask)?;
    println!("reference log-probs: {:?}", reference_lp.to_vec1::<f32>()?);

    let policy = Llama::new(
        &pretrained.config,
        &pretrained.weights,
        Training::TopBlocks { blocks: 2 },
        &device,
        DType::F32,
    )?;
    println!(
        "trainable parameters (top 2 blocks + final norm): {}",
        policy.num_trainable()
    );
    let loss_fn = PreferenceLoss::trl(Loss::AotPaired, 0.1, 0.0)?;
    let loss_of = |model: &Llama| -> Result<Tensor, aot::candle::Error> {
        let lp = completion_log_probs(&model.forward(&ids)?, &ids, &mask)?;
        let (pc, pr) = (lp.narrow(0, 0, 2)?, lp.narrow(0, 2, 2)?);
        let (rc, rr) = (reference_lp.narrow(0, 0, 2)?, reference_lp.narrow(0, 2, 2)?);
        loss_fn.compute(&PreferenceTensors {
            policy_chosen: &pc,
            policy_rejected: &pr,
            reference_chosen: &rc,
            reference_rejected: &rr,
        })
    };
    let mut sgd = SGD::new(policy.trainable_vars(), 1e-3)?;
    let start = Instant::now();
    let loss = loss_of(&policy)?;
    sgd.backward_step(&loss)?;
    let step_time = start.elapsed();
    let after = loss_of(&policy)?;
    println!(
        "AOT-paired loss (beta 0.1): {:.6} -> {:.6} after one SGD step ({:.2?})",
        loss.to_scalar::<f32>()?,
        after.to_scalar::<f32>()?,
        step_time
    );
    Ok(())
}
