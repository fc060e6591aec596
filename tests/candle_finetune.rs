#![cfg(feature = "candle")]
//! The fine-tuning pipeline: data shapes and bad lines, truncation, the reference-log-prob cache,
//! checkpoints and exact resume, the non-finite guard, a smoke run on a tiny random model, and a
//! short real run when the real model and data are present.
//!
//! Numbers asserted here are either counts fixed by the inputs written in the test itself, or
//! derived in the comment next to them.

use std::io::Write;
use std::path::{Path, PathBuf};

use aot::candle::finetune::{
    evaluate, latest_checkpoint, read_preference_file, score_all, split_held_out, tokenize_pairs,
    write_evaluation, ByteEncoder, CacheKey, Error, HeldOutScores, LogProbs, PreferencePair,
    ReferenceCache, StepRecord, TokenizedPair, TrainConfig, Trainer, TruncationPolicy,
};
use aot::candle::{Llama, LlamaConfig, Pretrained, Training};
use aot::objective::Loss;
use candle_core::{DType, Device, Tensor};
use flate2::write::GzEncoder;

fn write_lines(path: &Path, lines: &[&str], gzip: bool) {
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    if gzip {
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        std::fs::write(path, enc.finish().unwrap()).unwrap();
    } else {
        std::fs::write(path, text).unwrap();
    }
}

/// Lines of the TRL shape; lines 2-6 are malformed and line 7 is blank.
const TRL_LINES: [&str; 8] = [
    r#"{"prompt": "Q: 2+2?", "chosen": " 4", "rejected": " 5"}"#,
    r#"{"prompt": "Q: hi", "chosen": " hello""#,
    r#"{"prompt": "Q: hi", "rejected": " go"}"#,
    r#"{"prompt": "Q: hi", "chosen": 3, "rejected": " go"}"#,
    r#"{"prompt": "Q: hi", "chosen": " same", "rejected": " same"}"#,
    r#"{"prompt": "Q: hi", "chosen": "  ", "rejected": " go"}"#,
    "",
    r#"{"prompt": "Q: sky?", "chosen": " blue", "rejected": " green", "extra": 1}"#,
];

#[test]
fn trl_shape_plain_and_gzip_with_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    for gzip in [false, true] {
        // The file name does not say gzip: detection is by the magic bytes.
        let path = dir.path().join(format!("trl-{gzip}.jsonl"));
        write_lines(&path, &TRL_LINES, gzip);
        let data = read_preference_file(&path).unwrap();
        // Lines 1 and 8 are the usable pairs (see TRL_LINES).
        assert_eq!(data.pairs.len(), 2);
        assert_eq!((data.pairs[0].line, data.pairs[1].line), (1, 8));
        assert_eq!(data.pairs[0].prompt, "Q: 2+2?");
        assert_eq!(data.pairs[1].rejected, " green");
        let lines: Vec<usize> = data.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
        let reasons: Vec<&str> = data.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(
            reasons[0].starts_with("not a JSON object"),
            "{}",
            reasons[0]
        );
        assert_eq!(reasons[1], "missing field `chosen`");
        assert_eq!(
            reasons[2],
            "field `chosen` must be a string, found a number"
        );
        assert_eq!(
            reasons[3],
            "the chosen and rejected responses are identical"
        );
        assert_eq!(reasons[4], "the chosen response is empty");
    }
}

#[test]
fn hh_shape_splits_at_the_last_response_marker() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hh.jsonl.gz");
    let lines = [
        // A two-turn dialogue: the prompt ends at the second "\n\nAssistant:".
        concat!(
            r#"{"chosen": "\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant: yes", "#,
            r#""rejected": "\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant: no"}"#
        ),
        // The rejected dialogue has another history: not a pair.
        r#"{"chosen": "\n\nHuman: a\n\nAssistant: x", "rejected": "\n\nHuman: z\n\nAssistant: y"}"#,
        // No response marker.
        r#"{"chosen": "just text", "rejected": "other text"}"#,
    ];
    write_lines(&path, &lines, true);
    let data = read_preference_file(&path).unwrap();
    assert_eq!(data.pairs.len(), 1);
    let pair = &data.pairs[0];
    assert_eq!(
        pair.prompt,
        "\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant:"
    );
    assert_eq!(
        (pair.chosen.as_str(), pair.rejected.as_str()),
        (" yes", " no")
    );
    assert_eq!(data.skipped.len(), 2);
    assert_eq!(data.skipped[0].line, 2);
    assert!(data.skipped[0].reason.contains("do not share the prompt"));
    assert_eq!(data.skipped[1].line, 3);
    assert!(data.skipped[1].reason.contains("no `prompt` field"));
}

#[test]
fn a_file_without_usable_pairs_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    write_lines(&path, &["", "[1, 2]", "{}"], false);
    let err = read_preference_file(&path).unwrap_err();
    match &err {
        // The blank line is ignored; "[1, 2]" (line 2) and "{}" (line 3) are rejected.
        Error::NoUsablePairs { skipped, .. } => assert_eq!(*skipped, 2),
        other => panic!("expected NoUsablePairs, got {other:?}"),
    }
    assert!(err.to_string().contains("first: line 2"), "{err}");
    let missing = read_preference_file(dir.path().join("absent.jsonl")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }));
}

#[test]
fn split_is_seeded_disjoint_and_complete() {
    let (train, held) = split_held_out(50, 10, 3).unwrap();
    assert_eq!((train.len(), held.len()), (40, 10));
    let mut all: Vec<usize> = train.iter().chain(&held).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..50).collect::<Vec<_>>());
    assert_eq!(split_held_out(50, 10, 3).unwrap(), (train, held.clone()));
    assert_ne!(split_held_out(50, 10, 4).unwrap().1, held);
    let err = split_held_out(5, 5, 0).unwrap_err().to_string();
    assert!(err.contains("`held_out` = 5"), "{err}");
}

#[test]
fn truncation_keeps_the_prompt_end_and_the_response_start() {
    let enc = ByteEncoder { vocab_size: 64 };
    let pair = PreferencePair {
        line: 9,
        prompt: "0123456789".into(),
        chosen: "abc".into(),
        rejected: "abcdefgh".into(),
    };
    let policy = TruncationPolicy {
        max_prompt_tokens: 4,
        max_response_tokens: 5,
        append_eos: true,
    };
    let (tokens, stats) = tokenize_pairs(&enc, std::slice::from_ref(&pair), &policy).unwrap();
    let ids = |s: &str| enc_ids(&enc, s);
    assert_eq!(tokens[0].prompt, ids("6789"));
    // "abc" + eos fits in 5; "abcdefgh" + eos is cut to its first 5 tokens.
    let mut chosen = ids("abc");
    chosen.push(0);
    assert_eq!(tokens[0].chosen, chosen);
    assert_eq!(tokens[0].rejected, ids("abcde"));
    assert_eq!(stats.prompts_truncated, 1);
    assert_eq!(stats.prompt_tokens_dropped, 6); // 10 − 4
    assert_eq!((stats.chosen_truncated, stats.rejected_truncated), (0, 1));
    assert_eq!(stats.response_tokens_dropped, 4); // 8 + 1 − 5
    assert_eq!(stats.longest_sequence, 9); // 4 + 5
    let zero = TruncationPolicy {
        max_response_tokens: 0,
        ..policy
    };
    let err = tokenize_pairs(&enc, &[pair], &zero)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`max_response_tokens` = 0"), "{err}");
}

fn enc_ids(enc: &ByteEncoder, s: &str) -> Vec<u32> {
    use aot::candle::finetune::Encoder;
    enc.encode_text(s).unwrap()
}

/// Eight synthetic pairs over the tiny vocabulary (64 ids).
fn tiny_pairs() -> Vec<TokenizedPair> {
    (0..8u32)
        .map(|i| TokenizedPair {
            line: i as usize + 1,
            prompt: vec![1 + i, 2 + i, 3],
            chosen: vec![10 + i, 11, 12],
            rejected: vec![30 + i, 31 + (i % 3)],
        })
        .collect()
}

fn tiny_weights() -> std::collections::HashMap<String, Tensor> {
    Llama::random_weights(&LlamaConfig::tiny(), 11).unwrap()
}

fn tiny_model(training: Training) -> Llama {
    Llama::new(
        &LlamaConfig::tiny(),
        &tiny_weights(),
        training,
        &Device::Cpu,
        DType::F32,
    )
    .unwrap()
}

fn tiny_reference(pairs: &[TokenizedPair]) -> LogProbs {
    score_all(&tiny_model(Training::Frozen), pairs, 3, |_, _| {}).unwrap()
}

#[test]
fn reference_cache_hits_misses_and_refuses_a_foreign_key() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ReferenceCache::new(dir.path().join("cache"));
    let pairs = tiny_pairs();
    let policy = TruncationPolicy::default();
    let key = CacheKey::new("model-x", &pairs, policy, DType::F32);
    let mut computed = 0;
    let (first, hit) = cache
        .get_or_compute(&key, || {
            computed += 1;
            Ok(tiny_reference(&pairs))
        })
        .unwrap();
    assert!(!hit);
    let (second, hit) = cache
        .get_or_compute(&key, || {
            computed += 1;
            Ok(tiny_reference(&pairs))
        })
        .unwrap();
    assert!(hit);
    assert_eq!(computed, 1);
    // Stored as f64 safetensors: the values come back bit for bit.
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&first.chosen), bits(&second.chosen));
    assert_eq!(bits(&first.rejected), bits(&second.rejected));
    // Each part of the key matters: another model, other truncation, other data all miss.
    let other_model = CacheKey::new("model-y", &pairs, policy, DType::F32);
    let other_cut = CacheKey::new(
        "model-x",
        &pairs,
        TruncationPolicy {
            max_prompt_tokens: 47,
            ..policy
        },
        DType::F32,
    );
    let other_data = CacheKey::new("model-x", &pairs[1..], policy, DType::F32);
    for k in [&other_model, &other_cut, &other_data] {
        assert_ne!(k.id(), key.id());
        assert!(cache.load(k).unwrap().is_none());
    }
    // A key file that does not match its name (a hash collision) is refused.
    let key_file = cache.path(&key).with_extension("json");
    let mut forged = key.clone();
    forged.model = "model-z".into();
    std::fs::write(&key_file, serde_json::to_string(&forged).unwrap()).unwrap();
    assert!(matches!(cache.load(&key), Err(Error::Mismatch { .. })));
}

fn config(loss: Loss, steps: usize) -> TrainConfig {
    TrainConfig {
        loss,
        steps,
        batch_size: 4,
        warmup_steps: 0,
        // A large rate makes two updates of the tiny model move the loss visibly.
        learning_rate: 1e-2,
        ..TrainConfig::default()
    }
}

fn var_bits(model: &Llama) -> Vec<(String, Vec<u32>)> {
    model
        .named_trainable_vars()
        .into_iter()
        .map(|(name, v)| {
            let values = v
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (name, values.iter().map(|x| x.to_bits()).collect())
        })
        .collect()
}

fn trajectory(r: &[StepRecord]) -> Vec<(usize, u64, u64, u64)> {
    r.iter()
        .map(|r| {
            (
                r.step,
                r.loss.to_bits(),
                r.grad_norm.to_bits(),
                r.learning_rate.to_bits(),
            )
        })
        .collect()
}

#[test]
fn resume_from_a_checkpoint_is_bitwise_exact() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = tiny_pairs();
    let reference = tiny_reference(&pairs);
    let cfg = TrainConfig {
        batch_size: 3,
        grad_accum: 2,
        ..config(Loss::AotPaired, 4)
    };
    // Run A: four updates in one go.
    let model_a = tiny_model(Training::TopBlocks { blocks: 2 });
    let mut a = Trainer::new(&model_a, &pairs, &reference, cfg.clone(), None).unwrap();
    let records_a = a.run(|_| {}).unwrap();
    // Run B: two updates, checkpoint, and stop.
    let ckpt_root = dir.path().join("ckpt");
    let model_b = tiny_model(Training::TopBlocks { blocks: 2 });
    let mut b = Trainer::new(
        &model_b,
        &pairs,
        &reference,
        cfg.clone(),
        Some(ckpt_root.clone()),
    )
    .unwrap();
    b.train_step().unwrap();
    b.train_step().unwrap();
    let ckpt = b.save_checkpoint().unwrap();
    assert_eq!(latest_checkpoint(&ckpt_root).unwrap(), Some(ckpt.clone()));
    for file in [
        "model.safetensors",
        "optimizer.safetensors",
        "trainer_state.json",
    ] {
        assert!(ckpt.join(file).is_file(), "{file}");
    }
    // The weights file holds Hugging Face names only.
    let saved =
        candle_core::safetensors::load(ckpt.join("model.safetensors"), &Device::Cpu).unwrap();
    assert!(
        saved.keys().all(|k| k.starts_with("model.")),
        "{:?}",
        saved.keys()
    );
    // Run C: a fresh model from the base weights resumes B and finishes.
    let model_c = tiny_model(Training::TopBlocks { blocks: 2 });
    let mut c = Trainer::new(
        &model_c,
        &pairs,
        &reference,
        cfg.clone(),
        Some(ckpt_root.clone()),
    )
    .unwrap();
    c.resume(&ckpt).unwrap();
    assert_eq!(c.step(), 2);
    let records_c = c.run(|_| {}).unwrap();
    assert_eq!(var_bits(&model_a), var_bits(&model_c));
    assert_eq!(trajectory(&records_a), trajectory(&records_c));
    // The previous checkpoint is replaced by the final one.
    let last = latest_checkpoint(&ckpt_root).unwrap().unwrap();
    assert!(last.ends_with("checkpoint-00004"), "{}", last.display());
    assert!(!ckpt.exists());
    // Resuming under another configuration is refused, naming the difference.
    let model_d = tiny_model(Training::TopBlocks { blocks: 2 });
    let other = TrainConfig { beta: 0.1, ..cfg };
    let mut d = Trainer::new(&model_d, &pairs, &reference, other, None).unwrap();
    let err = d.resume(&last).unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
}

#[test]
fn two_updates_on_a_tiny_model_lower_the_loss_for_every_loss_type() {
    let pairs: Vec<TokenizedPair> = tiny_pairs().into_iter().take(4).collect();
    let reference = tiny_reference(&pairs);
    for loss in Loss::ALL {
        for training in [
            Training::TopBlocks { blocks: 1 },
            Training::Lora(aot::candle::LoraConfig {
                rank: 2,
                ..Default::default()
            }),
        ] {
            let model = tiny_model(training);
            let before = var_bits(&model);
            // batch_size = 4 = all pairs: every update sees the same batch, and all three
            // losses are invariant to its order, so the recorded losses are comparable.
            let mut trainer =
                Trainer::new(&model, &pairs, &reference, config(loss, 2), None).unwrap();
            let mut seen = Vec::new();
            let records = trainer.run(|r| seen.push(r.step)).unwrap();
            assert_eq!(seen, vec![1, 2]);
            // Update 1 starts at the reference: every δ is 0 and h(0) = softplus(0) = ln 2.
            // (Only up to float noise: the reference was scored in batches of another width.)
            assert!((records[0].loss - 2f64.ln()).abs() < 1e-6, "{loss:?}");
            let after_two = trainer_loss(&model, &pairs, &reference, loss);
            assert!(
                records[1].loss < records[0].loss && after_two < records[1].loss,
                "{loss:?} {training:?}: {} -> {} -> {after_two}",
                records[0].loss,
                records[1].loss
            );
            // Every trainable variable moved (LoRA A moves from update 2 on, once B != 0).
            for ((name, b), (_, a)) in before.iter().zip(var_bits(&model)) {
                assert_ne!(b, &a, "{name} did not change");
            }
        }
    }
}

/// The loss of the current model on `pairs` (one batch).
fn trainer_loss(model: &Llama, pairs: &[TokenizedPair], reference: &LogProbs, loss: Loss) -> f64 {
    let policy = score_all(model, pairs, pairs.len(), |_, _| {}).unwrap();
    let t = |v: &[f64]| Tensor::new(v, &Device::Cpu).unwrap();
    let (pc, pr, rc, rr) = (
        t(&policy.chosen),
        t(&policy.rejected),
        t(&reference.chosen),
        t(&reference.rejected),
    );
    let batch = aot::candle::PreferenceTensors {
        policy_chosen: &pc,
        policy_rejected: &pr,
        reference_chosen: &rc,
        reference_rejected: &rr,
    };
    config(loss, 1)
        .preference_loss()
        .unwrap()
        .compute(&batch)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn a_diverging_run_stops_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = tiny_pairs();
    let reference = tiny_reference(&pairs);
    let model = tiny_model(Training::TopBlocks { blocks: 1 });
    // η = 1e30 with no clipping: AdamW's first update moves each weight by about η, after which
    // the f32 forward pass overflows.
    let cfg = TrainConfig {
        learning_rate: 1e30,
        max_grad_norm: f64::INFINITY,
        checkpoint_every: 1,
        ..config(Loss::AotPaired, 3)
    };
    let root = dir.path().join("ckpt");
    let mut trainer = Trainer::new(&model, &pairs, &reference, cfg, Some(root.clone())).unwrap();
    let err = trainer.run(|_| {}).unwrap_err();
    match &err {
        Error::NonFiniteLoss {
            step,
            last_checkpoint,
            ..
        } => {
            assert_eq!(*step, 2);
            let kept = last_checkpoint.as_ref().expect("checkpoint of update 1");
            assert!(kept.ends_with("checkpoint-00001") && kept.join("model.safetensors").is_file());
        }
        other => panic!("expected NonFiniteLoss, got {other:?}"),
    }
    assert!(
        err.to_string().contains("training stopped at step 2"),
        "{err}"
    );
    assert_eq!(trainer.step(), 1);
}

#[test]
fn invalid_settings_name_the_argument() {
    let pairs = tiny_pairs();
    let reference = tiny_reference(&pairs);
    let model = tiny_model(Training::TopBlocks { blocks: 1 });
    let cases: [(TrainConfig, &str); 4] = [
        (
            TrainConfig {
                steps: 0,
                ..TrainConfig::default()
            },
            "`steps` = 0",
        ),
        (
            TrainConfig {
                learning_rate: -1.0,
                ..TrainConfig::default()
            },
            "`learning_rate` = -1",
        ),
        (
            TrainConfig {
                warmup_steps: 99,
                ..TrainConfig::default()
            },
            "`warmup_steps` = 99",
        ),
        (
            TrainConfig {
                label_smoothing: 1.5,
                ..TrainConfig::default()
            },
            "`label_smoothing`",
        ),
    ];
    for (cfg, needle) in cases {
        let err = Trainer::new(&model, &pairs, &reference, cfg, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err}");
    }
    let frozen = tiny_model(Training::Frozen);
    let err = Trainer::new(&frozen, &pairs, &reference, TrainConfig::default(), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no trainable variable"), "{err}");
}

fn gguf_path() -> Option<PathBuf> {
    aot::candle::default_model_path()
}

/// The library's default (cargo runs tests from the package root, which the relative default
/// path is written for).
fn data_path() -> PathBuf {
    aot::candle::finetune::default_preference_data()
}

#[test]
fn real_model_on_real_pairs_two_updates() {
    let Some(model_path) = gguf_path().filter(|p| p.is_file()) else {
        eprintln!("skipping: SmolLM2 GGUF not found (set AOT_GGUF or run scripts/fetch-model.sh)");
        return;
    };
    let data = data_path();
    if !data.is_file() {
        eprintln!(
            "skipping: preference data {} not found (set AOT_PREFERENCE_DATA)",
            data.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pretrained = Pretrained::load(&model_path).unwrap();
    let tokenizer = pretrained.tokenizer.clone().unwrap();
    let all = read_preference_file(&data).unwrap();
    // A handful of real pairs: 4 to train on, 2 held out; short sequences keep it fast.
    let text: Vec<PreferencePair> = all.pairs.into_iter().take(6).collect();
    let policy = TruncationPolicy {
        max_prompt_tokens: 16,
        max_response_tokens: 8,
        append_eos: true,
    };
    let (tokens, _) = tokenize_pairs(&tokenizer, &text, &policy).unwrap();
    let (train, held) = (tokens[..4].to_vec(), tokens[4..].to_vec());
    let build = |training| {
        Llama::new(
            &pretrained.config,
            &pretrained.weights,
            training,
            &Device::Cpu,
            DType::F32,
        )
        .unwrap()
    };
    let reference = build(Training::Frozen);
    let cache = ReferenceCache::new(dir.path().join("cache"));
    let fingerprint = aot::candle::finetune::model_fingerprint(&model_path).unwrap();
    let key = CacheKey::new(fingerprint, &train, policy, DType::F32);
    let (ref_train, _) = cache
        .get_or_compute(&key, || score_all(&reference, &train, 4, |_, _| {}))
        .unwrap();
    assert!(cache.path(&key).is_file());
    let ref_held = score_all(&reference, &held, 2, |_, _| {}).unwrap();
    let model = build(Training::TopBlocks { blocks: 1 });
    let cfg = TrainConfig {
        steps: 2,
        batch_size: 2,
        warmup_steps: 0,
        ..TrainConfig::default()
    };
    let root = dir.path().join("aot");
    let mut trainer =
        Trainer::new(&model, &train, &ref_train, cfg, Some(root.join("ckpt"))).unwrap();
    let records = trainer.run(|_| {}).unwrap();
    assert_eq!(records.len(), 2);
    assert!(records
        .iter()
        .all(|r| r.loss.is_finite() && r.grad_norm > 0.0));
    let scores = HeldOutScores {
        policy: score_all(&model, &held, 2, |_, _| {}).unwrap(),
        reference: ref_held,
    };
    let evaluation = evaluate("aot", &scores).unwrap();
    let lines: Vec<usize> = held.iter().map(|p| p.line).collect();
    let written = write_evaluation(&root, &lines, &scores, &evaluation).unwrap();
    for name in [
        "eval_pairs.csv",
        "eval.json",
        "quantiles_paired.png",
        "quantiles_unpaired.png",
        "quantiles_likelihood.png",
        "ckpt/checkpoint-00002/model.safetensors",
        "ckpt/checkpoint-00002/optimizer.safetensors",
    ] {
        assert!(
            root.join(name).is_file(),
            "{name} missing; wrote {written:?}"
        );
    }
}
