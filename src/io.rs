//! Reading samples from files: one number per line, CSV with a named column, or JSON.
//!
//! The format is recognised from the content, not the extension:
//!
//! * **JSON**: an array of numbers `[1.5, 2, ...]`, or an object whose named field is such an
//!   array (`{"chosen": [...], "rejected": [...]}`), or JSON Lines with one object per line
//!   (`{"chosen": 1.5, "rejected": 0.2}`), from which a named field is taken.
//! * **CSV**: a header row naming the columns, then rows; the named column is taken.
//! * **Plain**: one number per line.
//!
//! Blank lines and lines starting with `#` are skipped in plain and CSV files. Every error names
//! the file and the line.

use std::path::Path;

use crate::error::{Error, Result};

fn input_error(source: &str, message: impl Into<String>) -> Error {
    Error::Input {
        source_name: source.to_string(),
        message: message.into(),
    }
}

/// Reads a column of numbers from a file; see [`parse_column`] for the formats.
///
/// # Errors
///
/// [`Error::Input`] when the file cannot be read or parsed, naming the file and line.
pub fn read_column(path: &Path, column: Option<&str>) -> Result<Vec<f64>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| input_error(&name, e.to_string()))?;
    parse_column(&text, column, &name)
}

/// Parses a column of numbers from text in one of the supported formats.
///
/// `column` names the CSV column or the JSON field; it may be omitted for plain files, JSON
/// arrays, and CSV files with a single column. Non-finite values are rejected here with their
/// line number, so they never reach the numerics.
///
/// # Errors
///
/// [`Error::Input`] naming `source` and the line.
///
/// # Examples
///
/// ```
/// use aot::io::parse_column;
/// assert_eq!(parse_column("1\n# note\n2.5\n", None, "x")?, vec![1.0, 2.5]);
/// assert_eq!(parse_column("id,chosen\n0,1.5\n1,2\n", Some("chosen"), "x")?, vec![1.5, 2.0]);
/// assert_eq!(parse_column("[3, 4]", None, "x")?, vec![3.0, 4.0]);
/// let object = r#"{"chosen": [1], "rejected": [2]}"#;
/// assert_eq!(parse_column(object, Some("rejected"), "x")?, vec![2.0]);
/// let lines = "{\"chosen\": 1}\n{\"chosen\": 2}\n";
/// assert_eq!(parse_column(lines, Some("chosen"), "x")?, vec![1.0, 2.0]);
/// assert!(parse_column("1\nabc\n", None, "x").is_err());
/// # Ok::<(), aot::Error>(())
/// ```
pub fn parse_column(text: &str, column: Option<&str>, source: &str) -> Result<Vec<f64>> {
    let trimmed = text.trim_start();
    let values = if trimmed.starts_with('[') {
        parse_json_array(trimmed, source)?
    } else if trimmed.starts_with('{') {
        parse_json_object_or_lines(text, column, source)?
    } else {
        parse_delimited(text, column, source)?
    };
    if values.is_empty() {
        return Err(input_error(source, "no values found"));
    }
    Ok(values)
}

fn parse_json_array(text: &str, source: &str) -> Result<Vec<f64>> {
    let parsed: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| input_error(source, format!("invalid JSON: {e}")))?;
    json_numbers(&parsed, source, "the array")
}

fn json_numbers(value: &serde_json::Value, source: &str, what: &str) -> Result<Vec<f64>> {
    let array = value
        .as_array()
        .ok_or_else(|| input_error(source, format!("{what} is not a JSON array of numbers")))?;
    array
        .iter()
        .enumerate()
        .map(|(k, x)| {
            x.as_f64().filter(|v| v.is_finite()).ok_or_else(|| {
                input_error(
                    source,
                    format!("{what}: element {k} is not a finite number: {x}"),
                )
            })
        })
        .collect()
}

fn parse_json_object_or_lines(text: &str, column: Option<&str>, source: &str) -> Result<Vec<f64>> {
    let field = column.ok_or_else(|| {
        input_error(
            source,
            "a JSON object or JSON Lines file needs a field name (--column)",
        )
    })?;
    // A single JSON object holding arrays.
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) {
        let value = map
            .get(field)
            .ok_or_else(|| input_error(source, format!("no field `{field}` in the JSON object")))?;
        return json_numbers(value, source, &format!("field `{field}`"));
    }
    // JSON Lines: one object per line.
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let line_no = k + 1;
        if line.trim().is_empty() {
            continue;
        }
        let obj: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| input_error(source, format!("line {line_no}: invalid JSON: {e}")))?;
        let x = obj
            .get(field)
            .ok_or_else(|| input_error(source, format!("line {line_no}: no field `{field}`")))?;
        let v = x.as_f64().filter(|v| v.is_finite()).ok_or_else(|| {
            input_error(
                source,
                format!("line {line_no}: `{field}` is not a finite number: {x}"),
            )
        })?;
        out.push(v);
    }
    Ok(out)
}

fn parse_number(token: &str, source: &str, line_no: usize) -> Result<f64> {
    let x: f64 = token
        .trim()
        .parse()
        .map_err(|_| input_error(source, format!("line {line_no}: `{token}` is not a number")))?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(input_error(
            source,
            format!("line {line_no}: `{token}` is not finite"),
        ))
    }
}

fn parse_delimited(text: &str, column: Option<&str>, source: &str) -> Result<Vec<f64>> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(k, l)| (k + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((first_no, first)) = lines.next() else {
        return Ok(Vec::new());
    };
    let first_is_header = first.split(',').any(|t| t.trim().parse::<f64>().is_err());
    if !first_is_header {
        if first.contains(',') && column.is_none() {
            return Err(input_error(
                source,
                "several columns but no header row; add a header and name the column",
            ));
        }
        if let Some(c) = column {
            return Err(input_error(
                source,
                format!("column `{c}` requested but there is no header row"),
            ));
        }
        let mut out = vec![parse_number(first, source, first_no)?];
        for (no, line) in lines {
            out.push(parse_number(line, source, no)?);
        }
        return Ok(out);
    }
    let header: Vec<&str> = first
        .split(',')
        .map(|h| h.trim().trim_matches('"'))
        .collect();
    let index = match column {
        Some(c) => header.iter().position(|h| *h == c).ok_or_else(|| {
            input_error(
                source,
                format!("no column `{c}`; the header has {}", header.join(", ")),
            )
        })?,
        None if header.len() == 1 => 0,
        None => {
            return Err(input_error(
                source,
                format!(
                    "several columns ({}); name one with --column",
                    header.join(", ")
                ),
            ))
        }
    };
    let mut out = Vec::new();
    for (no, line) in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let token = fields.get(index).ok_or_else(|| {
            input_error(
                source,
                format!(
                    "line {no}: {} fields, column {} missing",
                    fields.len(),
                    index + 1
                ),
            )
        })?;
        out.push(parse_number(token.trim_matches('"'), source, no)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line() {
        let e = parse_column("x\n1\n2\nnan\n", Some("x"), "f.csv").unwrap_err();
        assert_eq!(e.to_string(), "f.csv: line 4: `nan` is not finite");
        let e = parse_column("a,b\n1,2\n", None, "f.csv").unwrap_err();
        assert!(e.to_string().contains("name one with --column"), "{e}");
        let e = parse_column("a,b\n1,2\n", Some("c"), "f.csv").unwrap_err();
        assert!(e.to_string().contains("no column `c`"), "{e}");
        let e = parse_column("[1, \"x\"]", None, "f.json").unwrap_err();
        assert!(e.to_string().contains("element 1"), "{e}");
        let e = parse_column("{\"a\": 1}\n{\"b\": 2}\n", Some("a"), "f.jsonl").unwrap_err();
        assert_eq!(e.to_string(), "f.jsonl: line 2: no field `a`");
        assert!(parse_column("\n# only a comment\n", None, "f").is_err());
    }
}
