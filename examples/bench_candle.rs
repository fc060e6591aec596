//! What the AOT loss costs inside a training step of the candle adapter's decoder, and how many
//! tokens per second a training step of SmolLM2-135M-Instruct processes on the CPU.
//!
//! ```text
//! scripts/fetch-model.sh      # once: SmolLM2-135M-Instruct GGUF into ~/.cache/aot/models
//! cargo run --release --features candle --example bench_candle
//! cargo run --release --features candle --example bench_candle -- --help
//! /usr/bin/time -v target/release/examples/bench_candle --out bench/out/candle --force
//! ```
//!
//! Three measurements, all on the CPU in f32, timed around the computation only, warm-up
//! excluded, medians reported:
//!
//! 1. **The loss alone.** Forward and backward of [`PreferenceLoss`] on `--batch` pairs (default
//!    64) of seeded random log-probabilities whose policy side is a [`Var`]: AOT paired and AOT
//!    unpaired with hard and with soft sorting, and DPO; `--loss-reps` repetitions each.
//! 2. **Whole training steps, DPO against AOT.** [`Trainer::train_step`] (the adapter's step:
//!    forward of the `2·batch` chosen and rejected sequences, sequence log-probabilities, the
//!    loss, backward, gradient clipping, AdamW) on real preference pairs tokenized with the
//!    model's tokenizer, one micro-batch of `--batch` pairs (so AOT sorts all of them), with the
//!    finetune example's default trainable set (the top `--top-blocks` blocks). A DPO trainer and
//!    an AOT-paired trainer share the model and alternate step by step, the order swapped every
//!    round. The loss-only time of part 1 divided by the step time is the precise share of the
//!    loss; the A/B difference of whole steps is reported with its spread, which is noise.
//! 3. **Tokens per second of full fine-tuning** (every parameter trainable), AOT paired, on
//!    `--full-batch` pairs per update in micro-batches of `--micro-batch` pairs with gradient
//!    accumulation. Tokens per step count both sequences of every pair at their padded length;
//!    the top-K figure comes from the steps of part 2.
//!
//! Every sequence is exactly `--seq-len` tokens: the last `seq_len/2` tokens of the prompt and
//! the first `seq_len − seq_len/2` of the response (end-of-sequence appended before the cut);
//! pairs with a shorter prompt or response are skipped, so there is no padding. Reference
//! log-probabilities come from one frozen forward pass, as the finetune example caches them.
//!
//! Outputs in `--out` (default `bench/out/candle`): `loss_only.csv`, `steps.csv` (every step,
//! warm-up marked), `summary.json`; existing files are kept unless `--force`. Peak resident
//! memory of each phase is read from `/proc/self/status` (`VmHWM`, reset between phases through
//! `/proc/self/clear_refs` when the kernel allows it); `/usr/bin/time -v` gives the whole run's.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use aot::candle::finetune::{
    read_preference_file, score_all, tokenize_pairs, LogProbs, TokenizedPair, TrainConfig, Trainer,
    TruncationPolicy,
};
use aot::candle::{Llama, PreferenceLoss, PreferenceTensors, Pretrained, Sorting, Training};
use aot::objective::Loss;
use candle_core::{DType, Device, Tensor, Var};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

/// Time the AOT loss against DPO inside training steps of SmolLM2-135M on the CPU.
#[derive(Debug, Parser)]
#[command(
    name = "bench_candle",
    version,
    about = "What the AOT loss adds to a training step of SmolLM2-135M, against DPO, and \
             tokens per second of training steps, on the CPU"
)]
struct Args {
    /// Model: a GGUF file or a Hugging Face directory. Default: $AOT_GGUF, else
    /// SmolLM2-135M-Instruct.Q4_1.gguf in $AOT_MODEL_DIR, else in ~/.cache/aot/models (where
    /// scripts/fetch-model.sh puts it).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Preference pairs, JSONL or JSONL.gz. Default: $AOT_PREFERENCE_DATA, else
    /// ../shared/data/hh-rlhf-harmless-base-test.jsonl.gz.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Pairs per batch: the loss-only inputs and the micro-batch of the DPO/AOT steps.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Tokens per sequence (prompt half + response half), the same for every sequence.
    #[arg(long, default_value_t = 16)]
    seq_len: usize,
    /// Timed training steps per loss in the DPO/AOT comparison.
    #[arg(long, default_value_t = 4)]
    steps: usize,
    /// Untimed training steps per loss before the timed ones.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Trainable top blocks of the DPO/AOT steps (the finetune example's default is 2).
    #[arg(long, default_value_t = 2)]
    top_blocks: usize,
    /// Timed repetitions of each loss-only variant.
    #[arg(long, default_value_t = 500)]
    loss_reps: usize,
    /// Untimed repetitions of each loss-only variant before the timed ones.
    #[arg(long, default_value_t = 50)]
    loss_warmup: usize,
    /// Regularisation strength of the soft-sort variants.
    #[arg(long, default_value_t = 1.0)]
    soft_strength: f64,
    /// Pairs per update of the full fine-tuning measurement (0 skips it).
    #[arg(long, default_value_t = 64)]
    full_batch: usize,
    /// Pairs per micro-batch of full fine-tuning (gradients accumulated over
    /// full_batch / micro_batch micro-batches; 0: one micro-batch).
    #[arg(long, default_value_t = 16)]
    micro_batch: usize,
    /// Timed full fine-tuning updates (after one untimed update).
    #[arg(long, default_value_t = 3)]
    full_steps: usize,
    /// Threads for candle's CPU kernels (sets RAYON_NUM_THREADS and CANDLE_NUM_THREADS);
    /// default: candle's choice, one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Report the peak memory of each phase on its own (resets the kernel's high-water mark
    /// between phases, so `/usr/bin/time -v` then sees only the last phase's peak).
    #[arg(long)]
    peak_per_phase: bool,
    /// Seed of the loss-only inputs and of the choice of pairs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory.
    #[arg(long, default_value = "bench/out/candle")]
    out: PathBuf,
    /// Replace existing result files in --out.
    #[arg(long)]
    force: bool,
}

const OUTPUTS: [&str; 3] = ["loss_only.csv", "steps.csv", "summary.json"];

/// Median, quartiles and extremes of a set of timings.
#[derive(Debug, Clone, Copy, Serialize)]
struct Stats {
    n: usize,
    median: f64,
    p25: f64,
    p75: f64,
    min: f64,
    max: f64,
}

impl Stats {
    /// Left-continuous quantiles of the sorted values (the `⌈np⌉`-th smallest), the median
    /// as the mean of the two middle values for an even count.
    fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let q = |p: f64| v[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Self {
            n,
            median,
            p25: q(0.25),
            p75: q(0.75),
            min: v[0],
            max: v[n - 1],
        }
    }
}

#[derive(Debug, Serialize)]
struct LossRow {
    variant: String,
    loss: &'static str,
    sorting: String,
    batch: usize,
    reps: usize,
    median_us: f64,
    p25_us: f64,
    p75_us: f64,
    min_us: f64,
    max_us: f64,
}

#[derive(Debug, Clone, Serialize)]
struct StepRow {
    phase: &'static str,
    training: String,
    loss: &'static str,
    warmup: bool,
    round: usize,
    pairs: usize,
    micro_batch: usize,
    tokens: usize,
    seconds: f64,
    tokens_per_second: f64,
}

/// Prints a line above the progress bar, or plainly when the bar is hidden (no terminal).
fn say(pb: &ProgressBar, line: String) {
    if pb.is_hidden() {
        println!("{line}");
    } else {
        pb.println(line);
    }
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template(
        "{msg:>24} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb
}

/// The 1-minute load average, from `/proc/loadavg` (Linux).
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A `kB` field of `/proc/self/status` (Linux), in MiB.
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Peak resident memory so far (MiB); with `reset`, then sets the peak back to the current
/// resident size when the kernel allows it (writing 5 to `/proc/self/clear_refs`). Returns the
/// peak and whether a reset happened.
fn take_peak_mib(reset: bool) -> (Option<f64>, bool) {
    let peak = status_mib("VmHWM:");
    let reset = reset && std::fs::write("/proc/self/clear_refs", "5").is_ok();
    (peak, reset)
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

fn check_outputs(args: &Args) -> Result<()> {
    if args.out.exists() && !args.out.is_dir() {
        bail!("--out {} exists and is not a directory", args.out.display());
    }
    let existing: Vec<String> = OUTPUTS
        .iter()
        .map(|name| args.out.join(name))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() && !args.force {
        bail!(
            "result files exist ({}): pass --force to replace them or choose another --out",
            existing.join(", ")
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    Ok(())
}

fn validate(args: &Args) -> Result<()> {
    if args.batch < 2 {
        bail!("--batch {}: must be >= 2", args.batch);
    }
    if args.seq_len < 4 {
        bail!("--seq-len {}: must be >= 4", args.seq_len);
    }
    if args.steps == 0 || args.loss_reps == 0 {
        bail!("--steps and --loss-reps must be >= 1");
    }
    if !(args.soft_strength.is_finite() && args.soft_strength > 0.0) {
        bail!(
            "--soft-strength {}: must be finite and > 0",
            args.soft_strength
        );
    }
    if args.full_batch > 0 {
        let micro = micro_batch(args);
        if micro == 0 || !args.full_batch.is_multiple_of(micro) {
            bail!(
                "--micro-batch {micro} must divide --full-batch {}",
                args.full_batch
            );
        }
        if args.full_steps == 0 {
            bail!("--full-steps must be >= 1 (or --full-batch 0 to skip full fine-tuning)");
        }
    }
    Ok(())
}

fn micro_batch(args: &Args) -> usize {
    if args.micro_batch == 0 {
        args.full_batch
    } else {
        args.micro_batch
    }
}

/// The loss-only variants: AOT paired and unpaired, hard and soft sorting, and DPO.
fn loss_variants(args: &Args) -> Result<Vec<(String, PreferenceLoss)>> {
    let soft = Sorting::Soft {
        strength: args.soft_strength,
    };
    let mut out = Vec::new();
    for loss in [Loss::AotPaired, Loss::AotUnpaired] {
        let base = PreferenceLoss::trl(loss, 0.01, 0.0)?;
        out.push((format!("{} hard sort", loss.name()), base));
        out.push((
            format!("{} soft sort ε={}", loss.name(), args.soft_strength),
            base.with_sorting(soft),
        ));
    }
    out.push((
        "dpo".to_string(),
        PreferenceLoss::trl(Loss::Dpo, 0.01, 0.0)?,
    ));
    Ok(out)
}

/// Part 1: forward + backward of each loss variant on seeded batch-`n` f32 inputs.
fn bench_losses(args: &Args) -> Result<Vec<LossRow>> {
    let dev = Device::Cpu;
    let n = args.batch;
    let mut rng = StdRng::seed_from_u64(args.seed);
    // Summed log-probabilities of ~30-token responses: around −40 nats, a few nats apart.
    let normal = Normal::new(-40.0f32, 6.0)?;
    let mut draw = || -> Result<Tensor> {
        let v: Vec<f32> = (0..n).map(|_| normal.sample(&mut rng)).collect();
        Ok(Tensor::from_vec(v, n, &dev)?)
    };
    let policy_chosen = Var::from_tensor(&draw()?)?;
    let policy_rejected = Var::from_tensor(&draw()?)?;
    let (reference_chosen, reference_rejected) = (draw()?, draw()?);
    let batch = PreferenceTensors {
        policy_chosen: policy_chosen.as_tensor(),
        policy_rejected: policy_rejected.as_tensor(),
        reference_chosen: &reference_chosen,
        reference_rejected: &reference_rejected,
    };
    let variants = loss_variants(args)?;
    let total = variants.len() * (args.loss_warmup + args.loss_reps);
    let pb = bar(total, "loss fwd+bwd");
    let mut rows = Vec::new();
    for (name, loss) in variants {
        let mut times = Vec::with_capacity(args.loss_reps);
        for rep in 0..args.loss_warmup + args.loss_reps {
            let start = Instant::now();
            let value = loss.compute(&batch)?;
            let grads = value.backward()?;
            let elapsed = start.elapsed().as_secs_f64();
            black_box(&grads);
            if grads.get(policy_chosen.as_tensor()).is_none() {
                bail!("{name}: no gradient reached the policy log-probabilities");
            }
            if rep >= args.loss_warmup {
                times.push(elapsed * 1e6);
            }
            pb.inc(1);
        }
        let s = Stats::of(&times);
        rows.push(LossRow {
            variant: name,
            loss: loss.loss.name(),
            sorting: match loss.sorting {
                _ if loss.loss == Loss::Dpo => "none".to_string(),
                Sorting::Hard => "hard".to_string(),
                Sorting::Soft { strength } => format!("soft {strength}"),
            },
            batch: n,
            reps: args.loss_reps,
            median_us: s.median,
            p25_us: s.p25,
            p75_us: s.p75,
            min_us: s.min,
            max_us: s.max,
        });
    }
    pb.finish_and_clear();
    Ok(rows)
}

/// Real pairs cut to exactly `seq_len` tokens per sequence, in a seeded order.
fn fixed_length_pairs(
    args: &Args,
    pretrained: &Pretrained,
    data: &Path,
) -> Result<Vec<TokenizedPair>> {
    let tokenizer = pretrained
        .tokenizer
        .as_ref()
        .context("the checkpoint has no tokenizer")?;
    let read = read_preference_file(data)?;
    let prompt = args.seq_len / 2;
    let response = args.seq_len - prompt;
    let policy = TruncationPolicy {
        max_prompt_tokens: prompt,
        max_response_tokens: response,
        append_eos: true,
    };
    let (pairs, _) = tokenize_pairs(tokenizer, &read.pairs, &policy)?;
    let total = pairs.len();
    let mut kept: Vec<TokenizedPair> = pairs
        .into_iter()
        .filter(|p| {
            p.prompt.len() == prompt && p.chosen.len() == response && p.rejected.len() == response
        })
        .collect();
    kept.shuffle(&mut StdRng::seed_from_u64(args.seed.wrapping_add(1)));
    println!(
        "data: {} pairs from {}; {} have a prompt of >= {prompt} and both responses of >= \
         {response} tokens (sequences of exactly {} tokens)",
        total,
        data.display(),
        kept.len(),
        args.seq_len
    );
    let needed = args.batch.max(args.full_batch);
    if kept.len() < needed {
        bail!(
            "only {} pairs reach {} tokens per sequence, {needed} needed: lower --seq-len or \
             --batch",
            kept.len(),
            args.seq_len
        );
    }
    kept.truncate(needed);
    Ok(kept)
}

/// Tokens the decoder processes for `pairs`: both sequences of every pair at the padded width
/// of their micro-batch.
fn step_tokens(pairs: &[TokenizedPair], micro: usize) -> usize {
    pairs
        .chunks(micro)
        .map(|chunk| {
            let width = chunk
                .iter()
                .map(|p| p.prompt.len() + p.chosen.len().max(p.rejected.len()))
                .max()
                .unwrap_or(0);
            2 * chunk.len() * width
        })
        .sum()
}

fn train_config(loss: Loss, steps: usize, batch: usize, accum: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        loss,
        steps,
        batch_size: batch,
        grad_accum: accum,
        learning_rate: 1e-4,
        warmup_steps: 0,
        seed,
        ..TrainConfig::default()
    }
}

fn timed_step(trainer: &mut Trainer<'_>) -> Result<f64> {
    let start = Instant::now();
    let record = trainer.train_step()?;
    let seconds = start.elapsed().as_secs_f64();
    black_box(record);
    Ok(seconds)
}

/// Part 2: DPO and AOT-paired steps alternating on one top-K model.
fn bench_ab(
    args: &Args,
    pretrained: &Pretrained,
    pairs: &[TokenizedPair],
    reference: &LogProbs,
) -> Result<Vec<StepRow>> {
    let training = Training::TopBlocks {
        blocks: args.top_blocks,
    };
    let model = Llama::new(
        &pretrained.config,
        &pretrained.weights,
        training,
        &Device::Cpu,
        DType::F32,
    )?;
    let steps = args.warmup + args.steps;
    let make = |loss| train_config(loss, steps, args.batch, 1, args.seed);
    let mut dpo = Trainer::new(&model, pairs, reference, make(Loss::Dpo), None)?;
    let mut aot = Trainer::new(&model, pairs, reference, make(Loss::AotPaired), None)?;
    let tokens = step_tokens(pairs, args.batch);
    let pb = bar(2 * steps, "DPO/AOT steps");
    let mut rows = Vec::new();
    for round in 0..steps {
        // Swap the order every round so that drift in the machine's speed hits both alike.
        let order = if round % 2 == 0 {
            [Loss::Dpo, Loss::AotPaired]
        } else {
            [Loss::AotPaired, Loss::Dpo]
        };
        for loss in order {
            let trainer = if loss == Loss::Dpo {
                &mut dpo
            } else {
                &mut aot
            };
            let seconds = timed_step(trainer)?;
            rows.push(StepRow {
                phase: "ab",
                training: format!("top {} blocks", args.top_blocks),
                loss: loss.name(),
                warmup: round < args.warmup,
                round,
                pairs: args.batch,
                micro_batch: args.batch,
                tokens,
                seconds,
                tokens_per_second: tokens as f64 / seconds,
            });
            pb.inc(1);
            say(
                &pb,
                format!(
                    "  round {round} {:<4} {:>8.2} s{}",
                    loss.name(),
                    seconds,
                    if round < args.warmup {
                        " (warm-up)"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    pb.finish_and_clear();
    Ok(rows)
}

/// Part 3: full fine-tuning updates with gradient accumulation, AOT paired.
fn bench_full(
    args: &Args,
    pretrained: &Pretrained,
    pairs: &[TokenizedPair],
    reference: &LogProbs,
) -> Result<Vec<StepRow>> {
    let micro = micro_batch(args);
    let accum = args.full_batch / micro;
    let pairs = &pairs[..args.full_batch];
    let reference = reference.select(&(0..args.full_batch).collect::<Vec<_>>());
    let model = Llama::new(
        &pretrained.config,
        &pretrained.weights,
        Training::Full,
        &Device::Cpu,
        DType::F32,
    )?;
    let steps = 1 + args.full_steps;
    let config = train_config(Loss::AotPaired, steps, micro, accum, args.seed);
    let mut trainer = Trainer::new(&model, pairs, &reference, config, None)?;
    let tokens = step_tokens(pairs, micro);
    let pb = bar(steps, "full fine-tuning steps");
    let mut rows = Vec::new();
    for round in 0..steps {
        let seconds = timed_step(&mut trainer)?;
        rows.push(StepRow {
            phase: "full",
            training: "full".to_string(),
            loss: Loss::AotPaired.name(),
            warmup: round == 0,
            round,
            pairs: args.full_batch,
            micro_batch: micro,
            tokens,
            seconds,
            tokens_per_second: tokens as f64 / seconds,
        });
        pb.inc(1);
        say(
            &pb,
            format!(
                "  step {round} full {:>8.2} s{}",
                seconds,
                if round == 0 { " (warm-up)" } else { "" }
            ),
        );
    }
    pb.finish_and_clear();
    Ok(rows)
}

fn timed(rows: &[StepRow], phase: &str, loss: &str) -> Vec<f64> {
    rows.iter()
        .filter(|r| r.phase == phase && r.loss == loss && !r.warmup)
        .map(|r| r.seconds)
        .collect()
}

fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("{}", path.display()))?;
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
}

fn fmt_mib(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |m| format!("{:.0} MiB", m))
}

fn run(args: &Args) -> Result<()> {
    validate(args)?;
    let model_path = args
        .model
        .clone()
        .or_else(aot::candle::default_model_path)
        .context("no model path: pass --model or set AOT_GGUF")?;
    if !model_path.exists() {
        bail!(
            "model {} not found: run `bash scripts/fetch-model.sh` (prints the path; set \
             AOT_GGUF to it) or pass --model",
            model_path.display()
        );
    }
    let data_path = args
        .data
        .clone()
        .unwrap_or_else(aot::candle::finetune::default_preference_data);
    if !data_path.is_file() {
        bail!(
            "preference data {} not found. This benchmark runs on real pairs only: download \
             harmless-base/test.jsonl.gz of https://huggingface.co/datasets/Anthropic/hh-rlhf \
             and pass it with --data or AOT_PREFERENCE_DATA",
            data_path.display()
        );
    }
    check_outputs(args)?;
    let started = Instant::now();
    let load_start = load_average();
    let threads = candle_core::utils::get_num_threads();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {} cores ({}), candle threads {threads}, load average {} at start",
        cores,
        cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        load_start.map_or("n/a".into(), |l| format!("{l:.2}"))
    );

    // Part 1: the loss alone.
    println!(
        "\n[1/3] loss forward+backward, batch {} (f32), {} reps after {} warm-up",
        args.batch, args.loss_reps, args.loss_warmup
    );
    let loss_rows = bench_losses(args)?;
    let (peak_setup, _) = take_peak_mib(args.peak_per_phase);

    // Model, data, reference.
    let t = Instant::now();
    let pretrained = Pretrained::load(&model_path)?;
    println!(
        "\nmodel: {} ({} blocks, {:.1}M parameters) loaded in {:.1?}",
        model_path.display(),
        pretrained.config.num_hidden_layers,
        pretrained.config.num_parameters() as f64 / 1e6,
        t.elapsed()
    );
    if args.top_blocks == 0 || args.top_blocks > pretrained.config.num_hidden_layers {
        bail!(
            "--top-blocks {}: must be in 1..={}",
            args.top_blocks,
            pretrained.config.num_hidden_layers
        );
    }
    let pairs = fixed_length_pairs(args, &pretrained, &data_path)?;
    let t = Instant::now();
    let reference = {
        let frozen = Llama::new(
            &pretrained.config,
            &pretrained.weights,
            Training::Frozen,
            &Device::Cpu,
            DType::F32,
        )?;
        let pb = bar(pairs.len(), "reference log-probs");
        let out = score_all(&frozen, &pairs, args.batch, |done, _| {
            pb.set_position(done as u64)
        })?;
        pb.finish_and_clear();
        out
    };
    println!(
        "reference log-probs of {} pairs (frozen forward) in {:.1?}",
        pairs.len(),
        t.elapsed()
    );

    // Part 2: DPO against AOT in whole steps.
    println!(
        "\n[2/3] training steps, top {} blocks, {} pairs x 2 sequences x {} tokens, {} warm-up \
         + {} timed per loss",
        args.top_blocks, args.batch, args.seq_len, args.warmup, args.steps
    );
    let (peak_reference, _) = take_peak_mib(args.peak_per_phase);
    let ab_rows = bench_ab(args, &pretrained, &pairs[..args.batch], &reference)?;
    let (peak_ab, reset_ok) = take_peak_mib(args.peak_per_phase);

    // Part 3: full fine-tuning.
    let full_rows = if args.full_batch > 0 {
        println!(
            "\n[3/3] full fine-tuning, {} pairs per update in micro-batches of {}, {} tokens per \
             sequence, 1 warm-up + {} timed updates",
            args.full_batch,
            micro_batch(args),
            args.seq_len,
            args.full_steps
        );
        bench_full(args, &pretrained, &pairs, &reference)?
    } else {
        println!("\n[3/3] full fine-tuning skipped (--full-batch 0)");
        Vec::new()
    };
    let (peak_full, _) = take_peak_mib(false);
    let load_end = load_average();

    // Summary.
    let loss_us = |name: &str| {
        loss_rows
            .iter()
            .find(|r| r.variant == name)
            .map(|r| r.median_us)
            .unwrap_or(f64::NAN)
    };
    let dpo_us = loss_us("dpo");
    let dpo_steps = Stats::of(&timed(&ab_rows, "ab", Loss::Dpo.name()));
    let aot_steps = Stats::of(&timed(&ab_rows, "ab", Loss::AotPaired.name()));
    let rounds: Vec<f64> = (args.warmup..args.warmup + args.steps)
        .filter_map(|round| {
            let at = |loss: Loss| {
                ab_rows
                    .iter()
                    .find(|r| r.round == round && r.loss == loss.name())
                    .map(|r| r.seconds)
            };
            Some(100.0 * (at(Loss::AotPaired)? / at(Loss::Dpo)? - 1.0))
        })
        .collect();
    let round_diff = Stats::of(&rounds);
    let median_diff = 100.0 * (aot_steps.median / dpo_steps.median - 1.0);
    let ab_tokens = ab_rows.first().map_or(0, |r| r.tokens);
    let full_stats = (!full_rows.is_empty())
        .then(|| Stats::of(&timed(&full_rows, "full", Loss::AotPaired.name())));
    let full_tokens = full_rows.first().map_or(0, |r| r.tokens);

    println!(
        "\nloss alone: forward + backward, batch {} (f32)\n",
        args.batch
    );
    println!(
        "| variant | median µs | p25–p75 µs | share of an AOT step | added vs DPO, share of a \
         DPO step |"
    );
    println!("|---|---:|---:|---:|---:|");
    let step_us = aot_steps.median * 1e6;
    let dpo_step_us = dpo_steps.median * 1e6;
    for r in &loss_rows {
        println!(
            "| {} | {:.1} | {:.1}–{:.1} | {:.6} % | {:+.6} % |",
            r.variant,
            r.median_us,
            r.p25_us,
            r.p75_us,
            100.0 * r.median_us / step_us,
            100.0 * (r.median_us - dpo_us) / dpo_step_us
        );
    }
    println!(
        "\ntraining steps ({}): {} pairs, {} tokens per step, {} timed steps per loss\n",
        format_args!("top {} blocks", args.top_blocks),
        args.batch,
        ab_tokens,
        args.steps
    );
    println!("| loss | median s | min–max s | tokens/s |");
    println!("|---|---:|---:|---:|");
    for (name, s) in [("dpo", dpo_steps), ("aot", aot_steps)] {
        println!(
            "| {name} | {:.2} | {:.2}–{:.2} | {:.1} |",
            s.median,
            s.min,
            s.max,
            ab_tokens as f64 / s.median
        );
    }
    println!(
        "\nA/B: AOT step vs DPO step {:+.2} % (medians); per round {:+.2} % median, \
         {:+.2} … {:+.2} % range over {} rounds: within noise unless the range excludes 0.",
        median_diff, round_diff.median, round_diff.min, round_diff.max, round_diff.n
    );
    println!(
        "The precise figure: the AOT-paired loss (hard sort) is {:.6} % of an AOT step and adds \
         {:+.6} % to a step compared with the DPO loss.",
        100.0 * loss_us("aot hard sort") / step_us,
        100.0 * (loss_us("aot hard sort") - dpo_us) / dpo_step_us
    );
    if let Some(s) = full_stats {
        println!(
            "\nfull fine-tuning: {} pairs per update (micro-batches of {}), {} tokens per update: \
             median {:.2} s ({:.2}–{:.2}), {:.1} tokens/s",
            args.full_batch,
            micro_batch(args),
            full_tokens,
            s.median,
            s.min,
            s.max,
            full_tokens as f64 / s.median
        );
    }
    println!(
        "top {} blocks (finetune default): {:.1} tokens/s (AOT steps)",
        args.top_blocks,
        ab_tokens as f64 / aot_steps.median
    );
    if reset_ok {
        println!(
            "peak resident memory per phase: {} loss alone, {} model and reference, {} DPO/AOT \
             steps, {} full fine-tuning",
            fmt_mib(peak_setup),
            fmt_mib(peak_reference),
            fmt_mib(peak_ab),
            fmt_mib(peak_full),
        );
    } else {
        println!(
            "peak resident memory since the start: {} after the loss alone, {} after the \
             reference, {} after the DPO/AOT steps, {} at the end{}",
            fmt_mib(peak_setup),
            fmt_mib(peak_reference),
            fmt_mib(peak_ab),
            fmt_mib(peak_full),
            if args.peak_per_phase {
                " (the kernel refused the per-phase reset)"
            } else {
                ""
            }
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The 1-minute load average at the end counts this run's threads; what exceeds them is
    // other work. The figure at the start still carries whatever ran before.
    let others = load_end.map_or(0.0, |l| l - threads as f64);
    println!(
        "wall time {:.0} s; load average {} at start, {} at end (the end figure includes \
         this run's own {threads} threads){}",
        elapsed,
        load_start.map_or("n/a".into(), |l| format!("{l:.2}")),
        load_end.map_or("n/a".into(), |l| format!("{l:.2}")),
        if others > 1.5 {
            " -- over 1.5 beyond them: a shared machine, timings inflated and noisier"
        } else {
            ""
        }
    );

    let mut step_rows = ab_rows.clone();
    step_rows.extend(full_rows.iter().cloned());
    write_csv(&args.out.join("loss_only.csv"), &loss_rows)?;
    write_csv(&args.out.join("steps.csv"), &step_rows)?;
    let summary = serde_json::json!({
        "machine": {
            "cores": cores,
            "cpu": cpu_model(),
            "candle_threads": threads,
            "load_average_start": load_start,
            "load_average_end": load_end,
        },
        "settings": {
            "model": model_path.display().to_string(),
            "data": data_path.display().to_string(),
            "dtype": "f32",
            "batch": args.batch,
            "seq_len": args.seq_len,
            "prompt_tokens": args.seq_len / 2,
            "response_tokens": args.seq_len - args.seq_len / 2,
            "warmup_steps": args.warmup,
            "timed_steps": args.steps,
            "top_blocks": args.top_blocks,
            "loss_reps": args.loss_reps,
            "loss_warmup": args.loss_warmup,
            "soft_strength": args.soft_strength,
            "beta": 0.01,
            "learning_rate": 1e-4,
            "full_batch": args.full_batch,
            "full_micro_batch": micro_batch(args),
            "full_steps": args.full_steps,
            "seed": args.seed,
        },
        "loss_only_us": loss_rows,
        "ab": {
            "tokens_per_step": ab_tokens,
            "dpo_step_s": dpo_steps,
            "aot_step_s": aot_steps,
            "aot_vs_dpo_percent_of_medians": median_diff,
            "aot_vs_dpo_percent_per_round": round_diff,
            "aot_loss_share_of_aot_step_percent": 100.0 * loss_us("aot hard sort") / step_us,
            "aot_loss_added_vs_dpo_percent":
                100.0 * (loss_us("aot hard sort") - dpo_us) / dpo_step_us,
            "tokens_per_second_aot": ab_tokens as f64 / aot_steps.median,
            "tokens_per_second_dpo": ab_tokens as f64 / dpo_steps.median,
        },
        "full": full_stats.map(|s| serde_json::json!({
            "pairs_per_update": args.full_batch,
            "micro_batch": micro_batch(args),
            "tokens_per_update": full_tokens,
            "step_s": s,
            "tokens_per_second": full_tokens as f64 / s.median,
        })),
        "peak_rss_mib": {
            "loss_only": peak_setup,
            "reference": peak_reference,
            "ab_steps": peak_ab,
            "full": peak_full,
            "per_phase": reset_ok,
        },
        "wall_seconds": elapsed,
        "other_load_estimate": others,
    });
    let path = args.out.join("summary.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("{}", path.display()))?;
    println!(
        "results: {}",
        OUTPUTS
            .iter()
            .map(|n| args.out.join(n).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(threads) = args.threads {
        // Before any candle kernel runs: candle reads these once, when its pool starts.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
        std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_candle: {e:#}");
            ExitCode::FAILURE
        }
    }
}
