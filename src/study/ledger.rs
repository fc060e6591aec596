//! An append-only CSV of finished work units, for studies that can be interrupted and resumed.
//!
//! A unit is one `(n, replicate)` pair; it writes a fixed number of rows, all at once, as soon as
//! it finishes. The file starts with a comment line carrying the configuration hash, then the
//! column header:
//!
//! ```text
//! # aot rates config_hash=5f0c2a9e8d7b6a41
//! n,replicate,variant,cost,estimate,population,error
//! 16,0,unpaired,logistic:1,0.61234,0.58408,0.02826
//! ```
//!
//! On reopening, a file with another hash is refused (or discarded when the caller forces it);
//! otherwise every complete unit is kept, and a unit with missing rows or a line cut short by
//! an interruption is dropped and will be recomputed. Numbers are written with Rust's shortest
//! round-trip formatting, so a value read back is bit-for-bit the value written.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Rows of finished units, keyed by `(n, replicate)`; each row holds the fields after the key.
pub(crate) type Units = BTreeMap<(usize, usize), Vec<Vec<String>>>;

/// An open ledger; [`Ledger::append`] is safe to call from several threads.
#[derive(Debug)]
pub(crate) struct Ledger {
    path: PathBuf,
    file: Mutex<File>,
}

fn out_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Output {
        target: path.display().to_string(),
        message: e.to_string(),
    }
}

fn header_line(hash: &str) -> String {
    format!("# aot rates config_hash={hash}")
}

impl Ledger {
    /// Opens or creates the ledger at `path` and returns the complete units it already holds.
    ///
    /// `columns` are the header fields (the first two must be `n` and `replicate`) and
    /// `rows_per_unit` how many rows make a unit complete.
    pub(crate) fn open(
        path: &Path,
        hash: &str,
        columns: &[&str],
        rows_per_unit: usize,
        force: bool,
    ) -> Result<(Self, Units)> {
        let header = header_line(hash);
        let column_line = columns.join(",");
        let mut units = Units::new();
        if path.exists() && !force {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Input {
                source_name: path.display().to_string(),
                message: e.to_string(),
            })?;
            let mut lines = text.split_inclusive('\n');
            let first = lines.next().unwrap_or("").trim_end();
            if first != header {
                let found = first
                    .strip_prefix("# aot rates config_hash=")
                    .unwrap_or("unknown");
                return Err(Error::Input {
                    source_name: path.display().to_string(),
                    message: format!(
                        "holds results of configuration {found}, but this run has {hash}; \
                         refusing to mix them (use another output directory, or --force to \
                         discard the old results)"
                    ),
                });
            }
            let second = lines.next().unwrap_or("").trim_end();
            if !second.is_empty() && second != column_line {
                return Err(Error::Input {
                    source_name: path.display().to_string(),
                    message: format!(
                        "has the columns `{second}` where `{column_line}` was expected; \
                         refusing to overwrite it (use another output directory, or --force)"
                    ),
                });
            }
            if second == column_line {
                let mut pending: Units = Units::new();
                for line in lines {
                    // A line without its newline was cut short by an interruption.
                    let Some(line) = line.strip_suffix('\n') else {
                        continue;
                    };
                    let fields: Vec<String> = line.split(',').map(str::to_string).collect();
                    if fields.len() != columns.len() {
                        continue;
                    }
                    let (Ok(n), Ok(r)) = (fields[0].parse(), fields[1].parse()) else {
                        continue;
                    };
                    pending
                        .entry((n, r))
                        .or_default()
                        .push(fields[2..].to_vec());
                }
                units = pending
                    .into_iter()
                    .filter(|(_, rows)| rows.len() == rows_per_unit)
                    .collect();
            }
        }
        // Rewrite the file with the header and the complete units only, then append to it.
        let tmp = path.with_extension("csv.tmp");
        {
            let mut f = File::create(&tmp).map_err(|e| out_err(&tmp, e))?;
            let mut text = format!("{header}\n{column_line}\n");
            for ((n, r), rows) in &units {
                for row in rows {
                    text.push_str(&format!("{n},{r},{}\n", row.join(",")));
                }
            }
            f.write_all(text.as_bytes()).map_err(|e| out_err(&tmp, e))?;
            f.sync_all().map_err(|e| out_err(&tmp, e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| out_err(path, e))?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| out_err(path, e))?;
        Ok((
            Self {
                path: path.to_path_buf(),
                file: Mutex::new(file),
            },
            units,
        ))
    }

    /// Appends the rows of one finished unit in a single write.
    pub(crate) fn append(&self, n: usize, replicate: usize, rows: &[Vec<String>]) -> Result<()> {
        let mut text = String::new();
        for row in rows {
            text.push_str(&format!("{n},{replicate},{}\n", row.join(",")));
        }
        let mut f = self
            .file
            .lock()
            .map_err(|_| out_err(&self.path, "a writer panicked"))?;
        f.write_all(text.as_bytes())
            .map_err(|e| out_err(&self.path, e))?;
        f.flush().map_err(|e| out_err(&self.path, e))
    }
}

/// A field safe for the ledger's comma-separated lines.
pub(crate) fn field(text: &str) -> String {
    text.replace([',', '\n', '\r'], ";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_complete_units_and_drops_cut_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.csv");
        let cols = ["n", "replicate", "x"];
        let (l, units) = Ledger::open(&path, "abc", &cols, 2, false).unwrap();
        assert!(units.is_empty());
        l.append(4, 0, &[vec!["1".into()], vec!["2".into()]])
            .unwrap();
        l.append(4, 1, &[vec!["3".into()]]).unwrap(); // incomplete unit
        drop(l);
        // Simulate an interruption in the middle of a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"8,0,4").unwrap();
        drop(f);
        let (_, units) = Ledger::open(&path, "abc", &cols, 2, false).unwrap();
        assert_eq!(units.len(), 1);
        assert_eq!(
            units[&(4, 0)],
            vec![vec!["1".to_string()], vec!["2".to_string()]]
        );
        let e = Ledger::open(&path, "def", &cols, 2, false).unwrap_err();
        assert!(
            e.to_string()
                .contains("configuration abc, but this run has def"),
            "{e}"
        );
        let e = Ledger::open(&path, "abc", &["n", "replicate", "y"], 2, false).unwrap_err();
        assert!(e.to_string().contains("refusing to overwrite"), "{e}");
        let (_, units) = Ledger::open(&path, "def", &cols, 2, true).unwrap();
        assert!(units.is_empty());
    }
}
