//! Fine-tune a real causal LM with AOT (or DPO) on real preference pairs, on the CPU, and measure
//! on held-out pairs what changed, distributionally.
//!
//! ```text
//! scripts/fetch-model.sh      # once: SmolLM2-135M-Instruct GGUF into ~/.cache/aot/models
//! cargo run --release --features candle --example finetune -- --out runs/finetune
//! cargo run --release --features candle --example finetune -- \
//!     --loss aot,aot_unpaired,dpo --out runs/compare
//! ```
//!
//! See `examples/finetune/README.md` for the options, the outputs and measured figures.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use aot::candle::finetune::{
    evaluate, latest_checkpoint, model_fingerprint, read_preference_file, records_chart, score_all,
    split_held_out, tokenize_pairs, write_evaluation, write_records_csv, CacheKey, Evaluation,
    HeldOutScores, LogProbs, ReferenceCache, Schedule, StepRecord, TokenizedPair, TrainConfig,
    Trainer, TruncationPolicy,
};
use aot::candle::{Llama, LoraConfig, Pretrained, Training};
use aot::objective::Loss;
use aot::plot::{Chart, Series};
use candle_core::{DType, Device};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Fine-tune SmolLM2-135M (or any llama checkpoint) with AOT / DPO on preference pairs.
#[derive(Debug, Parser)]
#[command(
    name = "finetune",
    version,
    about = "Fine-tune SmolLM2-135M with the AOT (or DPO) loss on real preference pairs, on the \
             CPU, and report held-out dominance before and after"
)]
struct Args {
    /// Model: a GGUF file or a Hugging Face directory. Default: $AOT_GGUF, else
    /// SmolLM2-135M-Instruct.Q4_1.gguf in $AOT_MODEL_DIR, else in ~/.cache/aot/models (where
    /// scripts/fetch-model.sh puts it).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Preference pairs, JSONL or JSONL.gz ({prompt, chosen, rejected} or HH-RLHF
    /// {chosen, rejected}). Default: $AOT_PREFERENCE_DATA, else
    /// ../shared/data/hh-rlhf-harmless-base-test.jsonl.gz.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output directory (refused if it exists and is not empty, unless --overwrite or --resume).
    #[arg(long, default_value = "runs/finetune")]
    out: PathBuf,
    /// Replace the contents of an existing output directory.
    #[arg(long)]
    overwrite: bool,
    /// Continue each loss from its latest checkpoint in the output directory (same settings).
    #[arg(long)]
    resume: bool,
    /// Loss(es), comma-separated, among `aot`, `aot_unpaired` and `dpo`; several are trained
    /// from the same base under the same budget.
    #[arg(long, value_delimiter = ',', default_value = "aot")]
    loss: Vec<String>,
    /// Optimiser updates per loss.
    #[arg(long, default_value_t = 24)]
    steps: usize,
    /// Pairs per micro-batch (AOT sorts within it).
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Micro-batches per update.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Warm-up updates.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Decay after warm-up: constant, linear or cosine.
    #[arg(long, default_value = "cosine")]
    schedule: String,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Global gradient-norm bound (inf disables clipping).
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f64,
    /// β of the logistic surrogate (paper default 0.01).
    #[arg(long, default_value_t = 0.01)]
    beta: f64,
    /// TRL label smoothing ε in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    label_smoothing: f64,
    /// Train the top K blocks and the final norm (ignored with --lora-rank).
    #[arg(long, default_value_t = 2)]
    top_blocks: usize,
    /// Train LoRA adapters of this rank instead of whole blocks.
    #[arg(long)]
    lora_rank: Option<usize>,
    /// LoRA scale numerator α.
    #[arg(long, default_value_t = 16.0)]
    lora_alpha: f64,
    /// Adapt only the top this-many blocks with LoRA (default: all).
    #[arg(long)]
    lora_blocks: Option<usize>,
    /// Longest prompt kept (its end is kept).
    #[arg(long, default_value_t = 48)]
    max_prompt_tokens: usize,
    /// Longest response kept (its start is kept, end-of-sequence included).
    #[arg(long, default_value_t = 32)]
    max_response_tokens: usize,
    /// Do not append the end-of-sequence token to responses.
    #[arg(long)]
    no_eos: bool,
    /// Training pool size (0: steps × batch × accumulation, one pass over distinct pairs).
    #[arg(long, default_value_t = 0)]
    train_pairs: usize,
    /// Held-out pairs for evaluation.
    #[arg(long, default_value_t = 64)]
    held_out: usize,
    /// Pairs per forward pass when scoring (reference and evaluation).
    #[arg(long, default_value_t = 8)]
    eval_batch: usize,
    /// Seed of the split, the training pool and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write a checkpoint every this many updates (0: only at the end).
    #[arg(long, default_value_t = 0)]
    checkpoint_every: usize,
    /// Reference log-prob cache (default: ~/.cache/aot/reference-logprobs).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Also write each fine-tuned model as a Hugging Face directory (config.json +
    /// model.safetensors, LoRA merged; about 540 MB each for SmolLM2-135M in f32).
    #[arg(long)]
    export_hf: bool,
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template(
        "{msg:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb
}

fn prepare_out_dir(args: &Args) -> Result<()> {
    let out = &args.out;
    let non_empty = out.is_dir() && std::fs::read_dir(out)?.next().is_some();
    if out.exists() && !out.is_dir() {
        bail!("--out {} exists and is not a directory", out.display());
    }
    if non_empty && !args.resume {
        if !args.overwrite {
            bail!(
                "--out {} exists and is not empty: pass --overwrite to replace it, --resume to \
                 continue its runs, or choose another directory",
                out.display()
            );
        }
        std::fs::remove_dir_all(out)
            .with_context(|| format!("removing {} (--overwrite)", out.display()))?;
    }
    std::fs::create_dir_all(out)?;
    Ok(())
}

fn training_mode(args: &Args, layers: usize) -> Result<Training> {
    if let Some(rank) = args.lora_rank {
        return Ok(Training::Lora(LoraConfig {
            rank,
            alpha: args.lora_alpha,
            top_blocks: args.lora_blocks,
            seed: args.seed,
            ..LoraConfig::default()
        }));
    }
    if args.top_blocks == 0 || args.top_blocks > layers {
        bail!(
            "--top-blocks {}: must be in 1..={layers} (the model's blocks)",
            args.top_blocks
        );
    }
    Ok(Training::TopBlocks {
        blocks: args.top_blocks,
    })
}

/// Reference log-probs of `pairs`, from the cache or computed with a progress bar.
fn reference_log_probs(
    cache: &ReferenceCache,
    key: &CacheKey,
    reference: &Llama,
    pairs: &[TokenizedPair],
    batch: usize,
    what: &str,
) -> Result<LogProbs> {
    let t = Instant::now();
    let (values, hit) = cache.get_or_compute(key, || {
        let pb = bar(pairs.len(), what);
        let out = score_all(reference, pairs, batch, |done, _| {
            pb.set_position(done as u64)
        });
        pb.finish_and_clear();
        out
    })?;
    println!(
        "reference log-probs of {} {what} pairs: {} in {:.1?} ({})",
        pairs.len(),
        if hit {
            "cache hit"
        } else {
            "computed and cached"
        },
        t.elapsed(),
        cache.path(key).display()
    );
    Ok(values)
}

fn step_line(loss: Loss, r: &StepRecord, steps: usize) -> String {
    format!(
        "[{}] step {:>3}/{steps} lr {:.2e} loss {:.6} |g| {:.3} chosen {:+.3} rejected {:+.3} \
         margin {:+.3} acc {:.2} viol paired {:.2} unpaired {:.2} ({:.1}s)",
        loss.name(),
        r.step,
        r.learning_rate,
        r.loss,
        r.grad_norm,
        r.chosen_reward,
        r.rejected_reward,
        r.margin,
        r.accuracy,
        r.paired_violation,
        r.unpaired_violation,
        r.seconds
    )
}

fn summary_line(e: &Evaluation) -> String {
    format!(
        "| {} | {:.3} | {:.3} | {:.4} | {:.3} | {:.3} | {:+.3} | {} {:.3} | {} {:.3} |",
        e.label,
        e.likelihood.zero_one,
        e.likelihood.shortfall_area,
        e.likelihood.eps_w2,
        e.preference_accuracy,
        e.win_rate,
        e.margin,
        e.paired.verdict,
        e.paired.zero_one,
        e.unpaired.verdict,
        e.unpaired.zero_one,
    )
}

/// CPU seconds (user + system, all threads) of this process, from `/proc/self/stat` (Linux;
/// fields 14 and 15 in clock ticks of USER_HZ = 100). `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // After the command name, field 3 of proc(5) is at index 0, so utime (14) is at 11.
    Some((ticks(11)? + ticks(12)?) / 100.0)
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

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let args = Args::parse();
    let started = Instant::now();
    let load_start = load_average();
    let losses: Vec<Loss> = args
        .loss
        .iter()
        .map(|s| {
            s.parse::<Loss>()
                .map_err(|e| anyhow::anyhow!("--loss {s}: {e}"))
        })
        .collect::<Result<_>>()?;
    let schedule: Schedule = args.schedule.parse()?;
    let model_path = args
        .model
        .clone()
        .or_else(aot::candle::default_model_path)
        .context("no model path: pass --model or set AOT_GGUF")?;
    if !model_path.exists() {
        bail!(
            "--model {} not found; run scripts/fetch-model.sh or pass --model",
            model_path.display()
        );
    }
    let data_path = args
        .data
        .clone()
        .unwrap_or_else(aot::candle::finetune::default_preference_data);
    if !data_path.is_file() {
        bail!(
            "--data {} not found (HH-RLHF: https://huggingface.co/datasets/Anthropic/hh-rlhf)",
            data_path.display()
        );
    }
    prepare_out_dir(&args)?;

    // Data.
    let data = read_preference_file(&data_path)?;
    println!(
        "data: {} usable pairs from {} ({} lines skipped)",
        data.pairs.len(),
        data_path.display(),
        data.skipped.len()
    );
    for s in data.skipped.iter().take(5) {
        println!("  skipped line {}: {}", s.line, s.reason);
    }
    let (train_idx, held_idx) = split_held_out(data.pairs.len(), args.held_out, args.seed)?;
    let pool = if args.train_pairs == 0 {
        args.steps * args.batch_size * args.grad_accum
    } else {
        args.train_pairs
    }
    .min(train_idx.len());
    let mut pool_idx = train_idx.clone();
    pool_idx.shuffle(&mut StdRng::seed_from_u64(args.seed.wrapping_add(1)));
    pool_idx.truncate(pool);
    pool_idx.sort_unstable();
    let pick = |idx: &[usize]| {
        idx.iter()
            .map(|&i| data.pairs[i].clone())
            .collect::<Vec<_>>()
    };
    let (train_text, held_text) = (pick(&pool_idx), pick(&held_idx));

    // Model and tokens.
    let t0 = Instant::now();
    let pretrained = Pretrained::load(&model_path)?;
    let tokenizer = pretrained
        .tokenizer
        .clone()
        .context("the checkpoint has no tokenizer")?;
    println!(
        "model: {} ({} blocks, {:.1}M parameters) loaded in {:.1?}",
        model_path.display(),
        pretrained.config.num_hidden_layers,
        pretrained.config.num_parameters() as f64 / 1e6,
        t0.elapsed()
    );
    let policy = TruncationPolicy {
        max_prompt_tokens: args.max_prompt_tokens,
        max_response_tokens: args.max_response_tokens,
        append_eos: !args.no_eos,
    };
    let (train_pairs, train_stats) = tokenize_pairs(&tokenizer, &train_text, &policy)?;
    let (held_pairs, held_stats) = tokenize_pairs(&tokenizer, &held_text, &policy)?;
    println!(
        "truncation (prompt: keep last {}, response: keep first {}, eos {}):",
        policy.max_prompt_tokens,
        policy.max_response_tokens,
        if policy.append_eos {
            "appended"
        } else {
            "not appended"
        }
    );
    println!("  train: {train_stats}");
    println!("  held-out: {held_stats}");

    // Reference log-probs (cached).
    let device = Device::Cpu;
    let dtype = DType::F32;
    let reference = Llama::new(
        &pretrained.config,
        &pretrained.weights,
        Training::Frozen,
        &device,
        dtype,
    )?;
    let cache_dir = args
        .cache_dir
        .clone()
        .or_else(|| home().map(|h| h.join(".cache/aot/reference-logprobs")))
        .unwrap_or_else(|| args.out.join("reference-cache"));
    let cache = ReferenceCache::new(cache_dir);
    let model_fp = model_fingerprint(&model_path)?;
    let ref_train = reference_log_probs(
        &cache,
        &CacheKey::new(&model_fp, &train_pairs, policy, dtype),
        &reference,
        &train_pairs,
        args.eval_batch,
        "train",
    )?;
    let ref_held = reference_log_probs(
        &cache,
        &CacheKey::new(&model_fp, &held_pairs, policy, dtype),
        &reference,
        &held_pairs,
        args.eval_batch,
        "held-out",
    )?;
    drop(reference);
    let lines: Vec<usize> = held_pairs.iter().map(|p| p.line).collect();

    // The base model: policy = reference.
    let base_scores = HeldOutScores {
        policy: ref_held.clone(),
        reference: ref_held.clone(),
    };
    let base = evaluate("base", &base_scores)?;
    write_evaluation(args.out.join("base"), &lines, &base_scores, &base)?;
    let mut evaluations = vec![base];
    let mut margins: Vec<(String, Vec<f64>)> = vec![("base".into(), base_scores.policy_margins())];

    let training = training_mode(&args, pretrained.config.num_hidden_layers)?;
    for &loss in &losses {
        let dir = args.out.join(loss.name());
        let config = TrainConfig {
            loss,
            beta: args.beta,
            label_smoothing: args.label_smoothing,
            steps: args.steps,
            batch_size: args.batch_size,
            grad_accum: args.grad_accum,
            learning_rate: args.lr,
            warmup_steps: args.warmup,
            schedule,
            adamw: aot::candle::finetune::AdamWConfig {
                weight_decay: args.weight_decay,
                ..Default::default()
            },
            max_grad_norm: args.max_grad_norm,
            seed: args.seed,
            checkpoint_every: args.checkpoint_every,
        };
        let model = Llama::new(
            &pretrained.config,
            &pretrained.weights,
            training,
            &device,
            dtype,
        )?;
        println!(
            "[{}] training {} variables ({:.2}M scalars, {training:?}) on {} pairs",
            loss.name(),
            model.trainable_names().len(),
            model.num_trainable() as f64 / 1e6,
            train_pairs.len()
        );
        let checkpoints = dir.join("checkpoints");
        let mut trainer = Trainer::new(
            &model,
            &train_pairs,
            &ref_train,
            config,
            Some(checkpoints.clone()),
        )?;
        if args.resume {
            if let Some(ckpt) = latest_checkpoint(&checkpoints)? {
                trainer.resume(&ckpt)?;
                println!(
                    "[{}] resumed from {} at step {}",
                    loss.name(),
                    ckpt.display(),
                    trainer.step()
                );
            }
        }
        let pb = bar(args.steps, loss.name());
        pb.set_position(trainer.step() as u64);
        let t = Instant::now();
        let records = trainer.run(|r| {
            pb.set_position(r.step as u64);
            let line = step_line(loss, r, args.steps);
            if pb.is_hidden() {
                println!("{line}");
            } else {
                pb.println(line);
            }
        });
        pb.finish_and_clear();
        let records = records?;
        println!(
            "[{}] {} updates in {:.1?}; checkpoint {}",
            loss.name(),
            records.len(),
            t.elapsed(),
            trainer
                .last_checkpoint()
                .map_or("none".into(), |p| p.display().to_string())
        );
        write_records_csv(dir.join("steps.csv"), &records)?;
        records_chart(&format!("{}: training curves", loss.name()), &records)
            .save(&dir.join("training"))?;

        let t = Instant::now();
        let pb = bar(held_pairs.len(), "evaluating");
        let policy_held = score_all(&model, &held_pairs, args.eval_batch, |done, _| {
            pb.set_position(done as u64)
        })?;
        pb.finish_and_clear();
        println!("[{}] held-out scored in {:.1?}", loss.name(), t.elapsed());
        let scores = HeldOutScores {
            policy: policy_held,
            reference: ref_held.clone(),
        };
        let evaluation = evaluate(loss.name(), &scores)?;
        write_evaluation(&dir, &lines, &scores, &evaluation)?;
        margins.push((loss.name().into(), scores.policy_margins()));
        evaluations.push(evaluation);
        if args.export_hf {
            model.save_hf_dir(dir.join("hf"))?;
        }
    }

    // Comparison.
    let comparison = args.out.join("comparison.json");
    std::fs::write(&comparison, serde_json::to_string_pretty(&evaluations)?)?;
    let mut csv = csv::Writer::from_path(args.out.join("comparison.csv"))?;
    csv.write_record([
        "model",
        "likelihood_zero_one",
        "likelihood_shortfall_area",
        "likelihood_eps_w2",
        "preference_accuracy",
        "win_rate",
        "reward_margin",
        "paired_verdict",
        "paired_zero_one",
        "unpaired_verdict",
        "unpaired_zero_one",
    ])?;
    for e in &evaluations {
        csv.write_record([
            e.label.clone(),
            e.likelihood.zero_one.to_string(),
            e.likelihood.shortfall_area.to_string(),
            e.likelihood.eps_w2.to_string(),
            e.preference_accuracy.to_string(),
            e.win_rate.to_string(),
            e.margin.to_string(),
            e.paired.verdict.clone(),
            e.paired.zero_one.to_string(),
            e.unpaired.verdict.clone(),
            e.unpaired.zero_one.to_string(),
        ])?;
    }
    csv.flush()?;
    let mut chart = Chart::new(
        "Held-out margin quantiles log π(y⁺|x) − log π(y⁻|x)",
        "quantile level p",
        "margin quantile (nats)",
    );
    for (k, (name, m)) in margins.iter().enumerate() {
        let mut sorted = m.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let pts = sorted
            .iter()
            .enumerate()
            .flat_map(|(i, &x)| [(i as f64 / n, x), ((i + 1) as f64 / n, x)])
            .collect();
        chart = chart.series(Series::line(name.clone(), pts).with_color(k));
    }
    chart.save(&args.out.join("comparison_margins"))?;

    let mut table = format!(
        "held-out ({} pairs); ε_0-1, shortfall, ε_W2: chosen vs rejected log-likelihoods\n\n\
         | model | ε_0-1 | shortfall | ε_W2 | pref. acc. | win rate | margin gain | paired | \
         unpaired |\n|---|---|---|---|---|---|---|---|---|\n",
        held_pairs.len()
    );
    for e in &evaluations {
        table.push_str(&summary_line(e));
        table.push('\n');
    }
    std::fs::write(args.out.join("comparison.md"), &table)?;
    println!("\n{table}");
    let show = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.1}"));
    println!(
        "outputs in {}; wall time {:.1?}, CPU time {} s, load average {} at start, {} at end",
        args.out.display(),
        started.elapsed(),
        show(cpu_seconds()),
        show(load_start),
        show(load_average())
    );
    Ok(())
}
