#![cfg(feature = "candle")]
//! Sequence log-probabilities: values, masking of prompt and padding, gradients and errors.

use aot::candle::{completion_log_probs, pack_completions, sequence_log_probs, Error};
use candle_core::{DType, Device, Tensor, Var};

fn log_softmax_row(row: &[f64]) -> Vec<f64> {
    let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + row.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
    row.iter().map(|x| x - lse).collect()
}

/// Logits [2, 3, 4] with values (b, t, k) ↦ 0.1·(k+1)·(t+1) − 0.3·b, labels and masks chosen by
/// hand; the expected value is the sum of the hand-picked log-softmax entries.
#[test]
fn values_match_hand_computation() {
    let dev = Device::Cpu;
    let mut logits = vec![0.0f64; 2 * 3 * 4];
    for b in 0..2 {
        for t in 0..3 {
            for k in 0..4 {
                logits[(b * 3 + t) * 4 + k] =
                    0.1 * (k + 1) as f64 * (t + 1) as f64 - 0.3 * b as f64;
            }
        }
    }
    let tensor = Tensor::from_vec(logits.clone(), (2, 3, 4), &dev).unwrap();
    let labels = Tensor::new(&[[1u32, 3, 0], [2, 2, 99]], &dev).unwrap();
    // Row 0: prompt at t = 0, completion t = 1, 2. Row 1: completion t = 0, 1, padding at t = 2
    // (label 99 is outside the vocabulary and must be ignored).
    let mask = Tensor::new(&[[0f32, 1.0, 1.0], [1.0, 1.0, 0.0]], &dev).unwrap();
    let got = sequence_log_probs(&tensor, &labels, &mask)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let row = |b: usize, t: usize| log_softmax_row(&logits[(b * 3 + t) * 4..(b * 3 + t + 1) * 4]);
    let want0 = row(0, 1)[3] + row(0, 2)[0];
    let want1 = row(1, 0)[2] + row(1, 1)[2];
    assert!(
        (got[0] - want0).abs() < 1e-14 && (got[1] - want1).abs() < 1e-14,
        "{got:?}"
    );
}

/// Masked positions do not matter: changing their logits or labels leaves the result unchanged,
/// and the gradient with respect to their logits is exactly zero.
#[test]
fn masked_positions_are_excluded() {
    let dev = Device::Cpu;
    let values: Vec<f64> = (0..2 * 4 * 5)
        .map(|i| ((i * 37) % 11) as f64 * 0.3 - 1.0)
        .collect();
    let logits = Var::from_vec(values.clone(), (2, 4, 5), &dev).unwrap();
    let labels = Tensor::new(&[[0u32, 1, 2, 3], [4, 3, 2, 1]], &dev).unwrap();
    let mask = Tensor::new(&[[0u8, 0, 1, 1], [0, 1, 1, 0]], &dev).unwrap();
    let lp = sequence_log_probs(logits.as_tensor(), &labels, &mask).unwrap();
    let grads = lp.sum_all().unwrap().backward().unwrap();
    let g = grads
        .get(logits.as_tensor())
        .unwrap()
        .to_vec3::<f64>()
        .unwrap();
    let m = [[0, 0, 1, 1], [0, 1, 1, 0]];
    for b in 0..2 {
        for t in 0..4 {
            let norm: f64 = g[b][t].iter().map(|x| x.abs()).sum();
            if m[b][t] == 0 {
                assert_eq!(norm, 0.0);
            } else {
                // d/dlogits of log_softmax[label] = onehot − softmax: sums to zero, nonzero.
                assert!(norm > 0.0 && g[b][t].iter().sum::<f64>().abs() < 1e-12);
            }
        }
    }
    // Perturb the masked positions' logits and labels.
    let mut changed = values;
    changed[0..10].iter_mut().for_each(|x| *x += 5.0); // row 0, t = 0, 1
    let labels2 = Tensor::new(&[[4u32, 4, 2, 3], [0, 3, 2, 4]], &dev).unwrap();
    let logits2 = Tensor::from_vec(changed, (2, 4, 5), &dev).unwrap();
    let lp2 = sequence_log_probs(&logits2, &labels2, &mask).unwrap();
    assert_eq!(lp.to_vec1::<f64>().unwrap(), lp2.to_vec1::<f64>().unwrap());
}

/// `completion_log_probs` is `sequence_log_probs` after the one-step shift.
#[test]
fn completion_shift() {
    let dev = Device::Cpu;
    let values: Vec<f32> = (0..3 * 6).map(|i| (i as f32 * 0.7).sin()).collect();
    let logits = Tensor::from_vec(values, (1, 3, 6), &dev).unwrap();
    let ids = Tensor::new(&[[5u32, 2, 4]], &dev).unwrap();
    let mask = Tensor::new(&[[0u8, 1, 1]], &dev).unwrap();
    let got = completion_log_probs(&logits, &ids, &mask).unwrap();
    let direct = sequence_log_probs(
        &logits.narrow(1, 0, 2).unwrap(),
        &Tensor::new(&[[2u32, 4]], &dev).unwrap(),
        &Tensor::new(&[[1u8, 1]], &dev).unwrap(),
    )
    .unwrap();
    assert_eq!(
        got.to_vec1::<f32>().unwrap(),
        direct.to_vec1::<f32>().unwrap()
    );
    // i64 ids are accepted too.
    let ids64 = ids.to_dtype(DType::I64).unwrap();
    let got64 = completion_log_probs(&logits, &ids64, &mask).unwrap();
    assert_eq!(
        got.to_vec1::<f32>().unwrap(),
        got64.to_vec1::<f32>().unwrap()
    );
}

#[test]
fn errors() {
    let dev = Device::Cpu;
    let logits = Tensor::zeros((2, 3, 4), DType::F32, &dev).unwrap();
    let labels = Tensor::zeros((2, 3), DType::U32, &dev).unwrap();
    let empty_row = Tensor::new(&[[0u8, 1, 1], [0, 0, 0]], &dev).unwrap();
    let e = sequence_log_probs(&logits, &labels, &empty_row).unwrap_err();
    assert!(matches!(e, Error::EmptyCompletion { row: 1, .. }), "{e}");
    let e = completion_log_probs(
        &logits,
        &labels,
        &Tensor::new(&[[0u8, 1, 0], [0, 0, 0]], &dev).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::EmptyCompletion {
                function: "completion_log_probs",
                row: 1
            }
        ),
        "{e}"
    );
    let first = Tensor::new(&[[1u8, 1, 1], [0, 1, 1]], &dev).unwrap();
    assert!(matches!(
        completion_log_probs(&logits, &labels, &first),
        Err(Error::InvalidArgument {
            argument: "completion_mask",
            ..
        })
    ));
    let half = Tensor::new(&[[0.5f32, 1.0, 1.0], [1.0, 1.0, 1.0]], &dev).unwrap();
    assert!(matches!(
        sequence_log_probs(&logits, &labels, &half),
        Err(Error::InvalidArgument {
            argument: "mask",
            ..
        })
    ));
    let big = Tensor::new(&[[0u32, 4, 0], [0, 0, 0]], &dev).unwrap();
    let ones = Tensor::ones((2, 3), DType::U8, &dev).unwrap();
    let e = sequence_log_probs(&logits, &big, &ones).unwrap_err();
    assert!(e.to_string().contains("4 at [0, 1]"), "{e}");
    let wrong = Tensor::zeros((2, 4), DType::U32, &dev).unwrap();
    assert!(matches!(
        sequence_log_probs(&logits, &wrong, &ones),
        Err(Error::Shape {
            argument: "labels",
            ..
        })
    ));
    let float_labels = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
    assert!(matches!(
        sequence_log_probs(&logits, &float_labels, &ones),
        Err(Error::DType {
            argument: "labels",
            ..
        })
    ));
    assert!(matches!(
        sequence_log_probs(&labels, &labels, &ones),
        Err(Error::DType {
            argument: "logits",
            ..
        })
    ));
}

/// Packing: right padding, mask on completions only; its output scores the completions alone.
#[test]
fn packing_and_scoring() {
    let dev = Device::Cpu;
    let (ids, mask) = pack_completions(&[(&[3, 1], &[2, 2, 0]), (&[4], &[1])], 5, &dev).unwrap();
    assert_eq!(
        ids.to_vec2::<u32>().unwrap(),
        vec![vec![3, 1, 2, 2, 0], vec![4, 1, 5, 5, 5]]
    );
    assert_eq!(
        mask.to_vec2::<u8>().unwrap(),
        vec![vec![0, 0, 1, 1, 1], vec![0, 1, 0, 0, 0]]
    );
    // Uniform logits over V = 6: every scored token has log-prob −ln 6; 3 and 1 tokens scored.
    let logits = Tensor::zeros((2, 5, 6), DType::F64, &dev).unwrap();
    let lp = completion_log_probs(&logits, &ids, &mask)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    assert!((lp[0] + 3.0 * 6f64.ln()).abs() < 1e-14 && (lp[1] + 6f64.ln()).abs() < 1e-14);
    assert!(matches!(
        pack_completions(&[(&[1], &[])], 0, &dev),
        Err(Error::EmptyCompletion { row: 0, .. })
    ));
    assert!(matches!(
        pack_completions(&[(&[1], &[2]), (&[], &[2])], 0, &dev),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(pack_completions(&[], 0, &dev).is_err());
}

/// The model-side path (head and log-softmax only at scored positions) equals the full-logits
/// path in value (f64, 1e-12) and in the gradient of every trainable parameter (1e-10 of its
/// largest magnitude); tiny random model, seed 8.
#[test]
fn model_path_equals_full_logits_path() {
    use aot::candle::{model_completion_log_probs, Llama, LlamaConfig, Training};
    let dev = Device::Cpu;
    let config = LlamaConfig::tiny();
    let weights = Llama::random_weights(&config, 8).unwrap();
    let model = Llama::new(&config, &weights, Training::Full, &dev, DType::F64).unwrap();
    let (ids, mask) = pack_completions(
        &[
            (&[3, 9, 27], &[1, 4, 1, 5]),
            (&[2, 7], &[1, 8]),
            (&[6], &[6, 6, 6]),
        ],
        0,
        &dev,
    )
    .unwrap();
    let weights_out = Tensor::new(&[1.0f64, -2.0, 0.5], &dev).unwrap();
    let fast = model_completion_log_probs(&model, &ids, &mask).unwrap();
    let full = completion_log_probs(&model.forward(&ids).unwrap(), &ids, &mask).unwrap();
    let (a, b) = (
        fast.to_vec1::<f64>().unwrap(),
        full.to_vec1::<f64>().unwrap(),
    );
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-12, "{x} vs {y}");
    }
    let ga = (fast * &weights_out)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gb = (full * &weights_out)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (name, var) in model.named_trainable_vars() {
        let x = ga
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let y = gb
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let scale = y.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() <= 1e-10 * scale, "{name}: {p} vs {q}");
        }
    }
    let bad = Tensor::new(&[[1u8, 0, 0, 0, 0, 0, 0]], &dev).unwrap();
    let one = ids.narrow(0, 0, 1).unwrap();
    assert!(model_completion_log_probs(&model, &one, &bad).is_err());
    let empty = Tensor::zeros((1, 7), DType::U8, &dev).unwrap();
    assert!(matches!(
        model_completion_log_probs(&model, &one, &empty),
        Err(Error::EmptyCompletion { row: 0, .. })
    ));
}
