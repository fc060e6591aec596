//! Preference pairs from JSONL files (plain or gzip), and the seeded train/held-out split.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// The marker that opens each response turn of an Anthropic HH-RLHF dialogue.
pub const RESPONSE_MARKER: &str = "\n\nAssistant:";

/// One preference pair: a prompt, the chosen response `y⁺` and the rejected response `y⁻`.
///
/// The prompt text ends where the response begins: for an HH-RLHF dialogue it ends with
/// `"\n\nAssistant:"` and each response starts with the space that follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferencePair {
    /// One-based line of the file the pair came from.
    pub line: usize,
    /// The prompt `x`.
    pub prompt: String,
    /// The chosen (preferred) response `y⁺`.
    pub chosen: String,
    /// The rejected response `y⁻`.
    pub rejected: String,
}

/// A line that was read but not used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedLine {
    /// One-based line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// The usable pairs of a file and the lines that were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferenceData {
    /// The file that was read.
    pub path: PathBuf,
    /// Usable pairs, in file order.
    pub pairs: Vec<PreferencePair>,
    /// Non-empty lines that were not usable, in file order.
    pub skipped: Vec<SkippedLine>,
}

#[derive(Deserialize)]
struct RawLine {
    prompt: Option<serde_json::Value>,
    chosen: Option<serde_json::Value>,
    rejected: Option<serde_json::Value>,
}

fn text_field(value: Option<serde_json::Value>, name: &str) -> std::result::Result<String, String> {
    match value {
        None => Err(format!("missing field `{name}`")),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "field `{name}` must be a string, found {}",
            match other {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::Object(_) => "an object",
                serde_json::Value::String(_) => "a string",
            }
        )),
    }
}

/// Splits an HH-RLHF dialogue after its last `"\n\nAssistant:"`: `(prompt, response)`.
///
/// # Examples
///
/// ```
/// use aot::candle::finetune::split_dialogue;
/// let (prompt, response) = split_dialogue("\n\nHuman: Hi\n\nAssistant: Hello!").unwrap();
/// assert_eq!(prompt, "\n\nHuman: Hi\n\nAssistant:");
/// assert_eq!(response, " Hello!");
/// assert!(split_dialogue("no marker").is_none());
/// ```
pub fn split_dialogue(dialogue: &str) -> Option<(&str, &str)> {
    let at = dialogue.rfind(RESPONSE_MARKER)? + RESPONSE_MARKER.len();
    Some(dialogue.split_at(at))
}

/// Parses one JSONL line into a pair.
///
/// Two shapes are accepted:
///
/// - `{"prompt": x, "chosen": y⁺, "rejected": y⁻}` (the TRL convention): taken as is;
/// - `{"chosen": d⁺, "rejected": d⁻}` full dialogues (the Anthropic HH-RLHF convention): the
///   prompt is `d⁺` up to and including its last `"\n\nAssistant:"`, the responses are the rest
///   of each dialogue, and `d⁻` must start with the same prompt.
///
/// Other fields are ignored. A pair is rejected when a field is missing or not a string, when a
/// response (after the split) is empty or blank, or when the two responses are identical (such a
/// pair carries no preference).
///
/// # Errors
///
/// [`Error::BadLine`] naming `path` and `line` with the reason.
///
/// # Examples
///
/// ```
/// use aot::candle::finetune::parse_preference_line;
/// let hh = r#"{"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!",
///              "rejected": "\n\nHuman: Hi\n\nAssistant: Go away."}"#;
/// let pair = parse_preference_line(hh, "data.jsonl".as_ref(), 1)?;
/// assert_eq!(pair.prompt, "\n\nHuman: Hi\n\nAssistant:");
/// assert_eq!((pair.chosen.as_str(), pair.rejected.as_str()), (" Hello!", " Go away."));
/// let bad = parse_preference_line(r#"{"chosen": 3}"#, "data.jsonl".as_ref(), 7).unwrap_err();
/// assert!(bad.to_string().starts_with("data.jsonl:7: field `chosen` must be a string"));
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
pub fn parse_preference_line(text: &str, path: &Path, line: usize) -> Result<PreferencePair> {
    let bad = |reason: String| Error::BadLine {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let raw: RawLine =
        serde_json::from_str(text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
    let chosen = text_field(raw.chosen, "chosen").map_err(bad)?;
    let rejected = text_field(raw.rejected, "rejected").map_err(bad)?;
    let (prompt, chosen, rejected) = match raw.prompt {
        Some(prompt) => (
            text_field(Some(prompt), "prompt").map_err(bad)?,
            chosen,
            rejected,
        ),
        None => {
            let (prompt, chosen_response) = split_dialogue(&chosen).ok_or_else(|| {
                bad(format!(
                    "no `prompt` field and `chosen` has no {RESPONSE_MARKER:?} turn"
                ))
            })?;
            let rejected_response = rejected.strip_prefix(prompt).ok_or_else(|| {
                bad(format!(
                    "`chosen` and `rejected` do not share the prompt (the text of `chosen` up \
                     to its last {RESPONSE_MARKER:?})"
                ))
            })?;
            (
                prompt.to_string(),
                chosen_response.to_string(),
                rejected_response.to_string(),
            )
        }
    };
    if prompt.trim().is_empty() {
        return Err(bad("the prompt is empty".into()));
    }
    for (name, response) in [("chosen", &chosen), ("rejected", &rejected)] {
        if response.trim().is_empty() {
            return Err(bad(format!("the {name} response is empty")));
        }
    }
    if chosen == rejected {
        return Err(bad("the chosen and rejected responses are identical".into()));
    }
    Ok(PreferencePair {
        line,
        prompt,
        chosen,
        rejected,
    })
}

/// The preference pairs used when no path is given: `$AOT_PREFERENCE_DATA` if set, else the
/// HH-RLHF harmless-base test split at `../shared/data/hh-rlhf-harmless-base-test.jsonl.gz`,
/// relative to the working directory (the layout of the project's development checkout). The
/// file may not exist: callers check and say where to get it.
pub fn default_preference_data() -> PathBuf {
    std::env::var_os("AOT_PREFERENCE_DATA").map_or_else(
        || PathBuf::from("../shared/data/hh-rlhf-harmless-base-test.jsonl.gz"),
        PathBuf::from,
    )
}

/// Reads preference pairs from a JSONL file, gzip-compressed or not (detected from the two magic
/// bytes `1f 8b`, whatever the file name).
///
/// Blank lines are ignored. A line that is not a usable pair (see [`parse_preference_line`]) is
/// skipped, logged as a `tracing` warning and listed in [`PreferenceData::skipped`] with its line
/// number and reason, so that a few bad lines in a large file do not stop a run; the caller
/// decides whether to report or to refuse them.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be opened or decompressed or a line is not UTF-8 (with the
/// line number in the message); [`Error::NoUsablePairs`] when no line is usable.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// let dir = std::env::temp_dir().join("aot-doc-read-preference-file");
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("pairs.jsonl");
/// let mut file = std::fs::File::create(&path)?;
/// writeln!(file, r#"{{"prompt": "Q:", "chosen": " yes", "rejected": " no"}}"#)?;
/// writeln!(file, "not json")?;
/// let data = aot::candle::finetune::read_preference_file(&path)?;
/// assert_eq!(data.pairs.len(), 1);
/// assert_eq!(data.skipped[0].line, 2);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_preference_file(path: impl AsRef<Path>) -> Result<PreferenceData> {
    let path = path.as_ref();
    let mut file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut magic = [0u8; 2];
    let got = read_prefix(&mut file, &mut magic).map_err(Error::io(path))?;
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let reader: Box<dyn BufRead> = if got == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut pairs = Vec::new();
    let mut skipped = Vec::new();
    for (index, text) in reader.lines().enumerate() {
        let line = index + 1;
        let text = text.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(source.kind(), format!("line {line}: {source}")),
        })?;
        if text.trim().is_empty() {
            continue;
        }
        match parse_preference_line(&text, path, line) {
            Ok(pair) => pairs.push(pair),
            Err(Error::BadLine { reason, .. }) => {
                tracing::warn!(path = %path.display(), line, "skipping line: {reason}");
                skipped.push(SkippedLine { line, reason });
            }
            Err(other) => return Err(other),
        }
    }
    if pairs.is_empty() {
        return Err(Error::NoUsablePairs {
            path: path.to_path_buf(),
            skipped: skipped.len(),
            first: skipped
                .first()
                .map(|s| format!("; first: line {}: {}", s.line, s.reason))
                .unwrap_or_default(),
        });
    }
    Ok(PreferenceData {
        path: path.to_path_buf(),
        pairs,
        skipped,
    })
}

fn read_prefix(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// A seeded split of `n` items into a training part and a held-out part of size `held_out`.
///
/// The indices `0..n` are shuffled with `StdRng::seed_from_u64(seed)`; the first `held_out`
/// become the held-out set and the rest the training set, each returned sorted ascending. The same
/// `(n, held_out, seed)` always gives the same split.
///
/// # Errors
///
/// [`Error::InvalidArgument`] unless `1 <= held_out < n`.
///
/// # Examples
///
/// ```
/// let (train, held_out) = aot::candle::finetune::split_held_out(10, 3, 7)?;
/// assert_eq!((train.len(), held_out.len()), (7, 3));
/// assert_eq!(aot::candle::finetune::split_held_out(10, 3, 7)?.1, held_out);
/// # Ok::<(), aot::candle::finetune::Error>(())
/// ```
pub fn split_held_out(n: usize, held_out: usize, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if held_out == 0 || held_out >= n {
        return Err(Error::invalid(
            "split_held_out",
            "held_out",
            held_out,
            format!("must be in 1..{n} (the number of pairs), leaving pairs to train on"),
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut held: Vec<usize> = order[..held_out].to_vec();
    let mut train: Vec<usize> = order[held_out..].to_vec();
    held.sort_unstable();
    train.sort_unstable();
    Ok((train, held))
}
