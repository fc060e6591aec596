//! The on-disk cache of reference log-probabilities, keyed by data, model and truncation.
//!
//! The reference model `π_ref` is frozen, so `log π_ref(y±_i | x_i)` is computed once per pair
//! and stored. A cache entry is two files in the cache directory: `reference-<id>.safetensors`
//! (tensors `chosen` and `rejected`, `[n]`, f64) and `reference-<id>.json` (the full
//! [`CacheKey`]). `<id>` is the 64-bit FNV-1a hash of the key; because a 64-bit hash can collide,
//! a load compares the stored key field by field and refuses a different one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::score::LogProbs;
use super::tokenize::{TokenizedPair, TruncationPolicy};

/// The 64-bit FNV-1a hash (Fowler–Noll–Vo), a fixed, documented function whose value does not
/// change between Rust releases (unlike `std`'s `DefaultHasher`).
///
/// # Formula
///
/// `h₀ = 0xcbf29ce484222325`; for each byte `b`: `h ← (h ⊕ b) · 0x100000001b3 mod 2⁶⁴`.
///
/// # Examples
///
/// ```
/// use aot::candle::finetune::Fnv64;
/// let mut h = Fnv64::new();
/// h.write(b"a");
/// assert_eq!(h.finish(), 0xaf63dc4c8601ec8c); // the published FNV-1a test vector for "a"
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv64 {
    /// The initial state.
    pub fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Feeds a length-prefixed byte string, so that concatenations cannot collide
    /// (`"ab" + "c"` differs from `"a" + "bc"`).
    pub fn write_field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }

    /// The hash value.
    pub fn finish(&self) -> u64 {
        self.0
    }

    /// The hash value as 16 hexadecimal digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// Fingerprint of a model on disk: FNV-1a over the bytes of a GGUF file, or over `config.json`,
/// `tokenizer.json` (when present) and every `*.safetensors` file (sorted by name) of a Hugging
/// Face directory, each with its name.
///
/// # Errors
///
/// [`Error::Io`] when a file cannot be read.
pub fn model_fingerprint(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let mut files = Vec::new();
    if path.is_dir() {
        for name in ["config.json", "tokenizer.json"] {
            if path.join(name).is_file() {
                files.push(path.join(name));
            }
        }
        let mut tensors: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(Error::io(path))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        tensors.sort();
        files.extend(tensors);
    } else {
        files.push(path.to_path_buf());
    }
    let mut h = Fnv64::new();
    for file in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        h.write_field(name.unwrap_or_default().as_bytes());
        let bytes = std::fs::read(&file).map_err(Error::io(&file))?;
        h.write_field(&bytes);
    }
    Ok(h.hex())
}

/// Fingerprint of in-memory weights: FNV-1a over the sorted names, shapes, and the f32 bytes of
/// each tensor.
///
/// # Errors
///
/// Candle errors when a tensor cannot be converted to f32.
pub fn weights_fingerprint(weights: &HashMap<String, Tensor>) -> Result<String> {
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    let mut h = Fnv64::new();
    for name in names {
        let t = &weights[name];
        h.write_field(name.as_bytes());
        for d in t.dims() {
            h.write(&(*d as u64).to_le_bytes());
        }
        let values = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        for v in values {
            h.write(&v.to_bits().to_le_bytes());
        }
    }
    Ok(h.hex())
}

/// Fingerprint of tokenized pairs: FNV-1a over each pair's line number and token ids. It
/// captures the data, the tokenizer and the truncation that produced the ids.
///
/// # Examples
///
/// ```
/// use aot::candle::finetune::{pairs_fingerprint, TokenizedPair};
/// let a = TokenizedPair { line: 1, prompt: vec![1], chosen: vec![2], rejected: vec![3] };
/// let mut b = a.clone();
/// b.rejected.push(4);
/// assert_ne!(pairs_fingerprint(&[a]), pairs_fingerprint(&[b]));
/// ```
pub fn pairs_fingerprint(pairs: &[TokenizedPair]) -> String {
    let mut h = Fnv64::new();
    h.write(&(pairs.len() as u64).to_le_bytes());
    for p in pairs {
        h.write(&(p.line as u64).to_le_bytes());
        for ids in [&p.prompt, &p.chosen, &p.rejected] {
            h.write(&(ids.len() as u64).to_le_bytes());
            for id in ids {
                h.write(&id.to_le_bytes());
            }
        }
    }
    h.hex()
}

/// What a cached entry depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// [`model_fingerprint`] or [`weights_fingerprint`] of the reference model.
    pub model: String,
    /// [`pairs_fingerprint`] of the tokenized pairs.
    pub data: String,
    /// Number of pairs.
    pub pairs: usize,
    /// The truncation policy the pairs were cut with.
    pub truncation: TruncationPolicy,
    /// The dtype the reference model ran in (`"F32"` or `"F64"`).
    pub dtype: String,
    /// How the log-probabilities were computed ([`SCORING`] for entries written by this
    /// version): another computation of the same formula rounds differently, and a reference
    /// from one next to a policy scored by the other would differ at step 0.
    pub scoring: String,
}

/// The scoring computation of [`crate::candle::finetune::score_pairs`], as recorded in
/// [`CacheKey::scoring`]: the output head and the log-softmax evaluated only at the positions
/// that predict a response token.
pub const SCORING: &str = "head-at-response-positions";

impl CacheKey {
    /// A key for `pairs` scored by the model with fingerprint `model` in `dtype`.
    pub fn new(
        model: impl Into<String>,
        pairs: &[TokenizedPair],
        truncation: TruncationPolicy,
        dtype: DType,
    ) -> Self {
        Self {
            model: model.into(),
            data: pairs_fingerprint(pairs),
            pairs: pairs.len(),
            truncation,
            dtype: format!("{dtype:?}"),
            scoring: SCORING.to_string(),
        }
    }

    /// The file identifier: FNV-1a of the key's JSON text.
    pub fn id(&self) -> String {
        let mut h = Fnv64::new();
        h.write(serde_json::to_string(self).unwrap_or_default().as_bytes());
        h.hex()
    }
}

/// A directory of cached reference log-probabilities.
///
/// # Examples
///
/// ```
/// use candle_core::DType;
/// use aot::candle::finetune::{CacheKey, LogProbs, ReferenceCache, TokenizedPair,
///     TruncationPolicy};
///
/// let dir = std::env::temp_dir().join("aot-doc-reference-cache");
/// # std::fs::remove_dir_all(&dir).ok();
/// let cache = ReferenceCache::new(&dir);
/// let pairs = [TokenizedPair { line: 1, prompt: vec![1], chosen: vec![2], rejected: vec![3] }];
/// let key = CacheKey::new("model-a", &pairs, TruncationPolicy::default(), DType::F32);
/// let (first, hit) = cache.get_or_compute(&key, || Ok(LogProbs {
///     chosen: vec![-1.5], rejected: vec![-2.25] }))?;
/// assert!(!hit);
/// let (again, hit) = cache.get_or_compute(&key, || unreachable!("cached"))?;
/// assert!(hit && again == first);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceCache {
    dir: PathBuf,
}

impl ReferenceCache {
    /// A cache in `dir` (created on the first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the tensor file of `key`.
    pub fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("reference-{}.safetensors", key.id()))
    }

    fn key_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("reference-{}.json", key.id()))
    }

    /// The cached log-probabilities of `key`, or `None` when there is no entry.
    ///
    /// # Errors
    ///
    /// [`Error::Mismatch`] when the entry's stored key differs from `key` (a hash collision) or
    /// its length differs from `key.pairs`; [`Error::Io`], [`Error::Json`] or candle errors for an
    /// unreadable entry.
    pub fn load(&self, key: &CacheKey) -> Result<Option<LogProbs>> {
        let (path, key_path) = (self.path(key), self.key_path(key));
        if !path.is_file() || !key_path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&key_path).map_err(Error::io(&key_path))?;
        let stored: CacheKey = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: key_path.clone(),
            source,
        })?;
        if &stored != key {
            return Err(Error::Mismatch {
                path: key_path,
                reason: format!("stored key {stored:?} differs from the requested {key:?}"),
            });
        }
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu)?;
        let read = |name: &str| -> Result<Vec<f64>> {
            let t = tensors.get(name).ok_or_else(|| Error::Mismatch {
                path: path.clone(),
                reason: format!("no tensor `{name}`"),
            })?;
            Ok(t.to_dtype(DType::F64)?.to_vec1::<f64>()?)
        };
        let out = LogProbs {
            chosen: read("chosen")?,
            rejected: read("rejected")?,
        };
        if out.chosen.len() != key.pairs || out.rejected.len() != key.pairs {
            return Err(Error::Mismatch {
                path,
                reason: format!(
                    "holds {} chosen and {} rejected values, expected {}",
                    out.chosen.len(),
                    out.rejected.len(),
                    key.pairs
                ),
            });
        }
        Ok(Some(out))
    }

    /// Stores `values` under `key` (written to temporary files, then renamed into place).
    /// Returns the tensor file's path.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when the lengths differ from `key.pairs`; [`Error::Io`] or
    /// candle errors on write failure.
    pub fn store(&self, key: &CacheKey, values: &LogProbs) -> Result<PathBuf> {
        if values.chosen.len() != key.pairs || values.rejected.len() != key.pairs {
            return Err(Error::invalid(
                "ReferenceCache::store",
                "values",
                format!(
                    "{} / {} entries",
                    values.chosen.len(),
                    values.rejected.len()
                ),
                format!("must hold key.pairs = {} entries each", key.pairs),
            ));
        }
        std::fs::create_dir_all(&self.dir).map_err(Error::io(&self.dir))?;
        let (path, key_path) = (self.path(key), self.key_path(key));
        let n = key.pairs;
        let tensors = HashMap::from([
            (
                "chosen".to_string(),
                Tensor::from_vec(values.chosen.clone(), n, &Device::Cpu)?,
            ),
            (
                "rejected".to_string(),
                Tensor::from_vec(values.rejected.clone(), n, &Device::Cpu)?,
            ),
        ]);
        let tmp = path.with_extension("safetensors.tmp");
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, &path).map_err(Error::io(&path))?;
        let text = serde_json::to_string_pretty(key).map_err(|source| Error::Json {
            path: key_path.clone(),
            source,
        })?;
        let tmp = key_path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(Error::io(&tmp))?;
        std::fs::rename(&tmp, &key_path).map_err(Error::io(&key_path))?;
        Ok(path)
    }

    /// The cached entry of `key`, or `compute()` stored and returned; the flag says whether it was
    /// a cache hit.
    ///
    /// # Errors
    ///
    /// As [`ReferenceCache::load`], `compute` and [`ReferenceCache::store`].
    pub fn get_or_compute(
        &self,
        key: &CacheKey,
        compute: impl FnOnce() -> Result<LogProbs>,
    ) -> Result<(LogProbs, bool)> {
        if let Some(values) = self.load(key)? {
            return Ok((values, true));
        }
        let values = compute()?;
        self.store(key, &values)?;
        Ok((values, false))
    }
}
