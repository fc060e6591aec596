//! Writing a report: `report.md`, a self-contained `index.html`, `claims.json`, `plots/`.
//!
//! The Markdown is the single source: the HTML is rendered from it with `pulldown-cmark`, and
//! each plot's `<img>` is replaced by the chart's SVG inline, so the page needs no other file and
//! reads offline.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Claim, Verdict};
use crate::error::{Error, Result};

/// Files written by [`render`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFiles {
    /// The report directory.
    pub dir: PathBuf,
    /// `index.html`.
    pub html: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `claims.json`.
    pub json: PathBuf,
    /// PNG and SVG files under `plots/`.
    pub plots: Vec<PathBuf>,
}

fn out_err(target: &Path, e: impl std::fmt::Display) -> Error {
    Error::Output {
        target: target.display().to_string(),
        message: e.to_string(),
    }
}

/// Picks the directory to write into: `requested` if it does not exist (or `force`), otherwise
/// a sibling named `requested-YYYYMMDDTHHMMSSZ` (and `-2`, `-3`, … if that exists too), so a
/// previous report is never overwritten silently.
///
/// # Errors
///
/// [`Error::Output`] when the directory cannot be created.
pub fn choose_dir(requested: &Path, force: bool, now: std::time::SystemTime) -> Result<PathBuf> {
    let dir = if force || !requested.exists() {
        requested.to_path_buf()
    } else {
        let stamp: String = humantime::format_rfc3339_seconds(now)
            .to_string()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let base = format!("{}-{stamp}", requested.display());
        let mut candidate = PathBuf::from(&base);
        let mut k = 2;
        while candidate.exists() {
            candidate = PathBuf::from(format!("{base}-{k}"));
            k += 1;
        }
        candidate
    };
    std::fs::create_dir_all(dir.join("plots")).map_err(|e| out_err(&dir, e))?;
    Ok(dir)
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Holds => "**holds**".into(),
        Verdict::Fails => "**FAILS**".into(),
        Verdict::Conditional(c) => format!("**holds under a condition**: {c}"),
    }
}

fn fmt_value(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.fract() == 0.0 && x.abs() < 1e9 {
        format!("{x:.0}")
    } else if x.abs() >= 1e-3 && x.abs() < 1e5 {
        format!("{x:.6}")
    } else {
        format!("{x:.3e}")
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Renders the report into `dir` (which must exist; see [`choose_dir`]).
///
/// `title` heads the page; `preamble` (Markdown) follows it.
///
/// # Errors
///
/// [`Error::Output`] when a file cannot be written.
pub fn render(dir: &Path, title: &str, preamble: &str, claims: &[Claim]) -> Result<ReportFiles> {
    let plots_dir = dir.join("plots");
    std::fs::create_dir_all(&plots_dir).map_err(|e| out_err(&plots_dir, e))?;
    let mut plot_files = Vec::new();
    let mut svgs = Vec::new();
    for plot in claims.iter().flat_map(|c| &c.charts) {
        plot_files.extend(plot.chart.save(&plots_dir.join(&plot.stem))?);
        svgs.push((
            format!("plots/{}.png", plot.stem),
            plot.chart.to_svg_string()?,
        ));
    }

    let mut md = String::new();
    let held = claims
        .iter()
        .filter(|c| c.verdict != Verdict::Fails)
        .count();
    let _ = writeln!(md, "# {title}\n\n{preamble}\n");
    let _ = writeln!(
        md,
        "**{held} of {} claims hold** (with their conditions).\n",
        claims.len()
    );
    let _ = writeln!(md, "| claim | verdict | key figure |\n|---|---|---|");
    for c in claims {
        let key = c
            .figures
            .first()
            .map(|f| format!("{} = {}", f.name, fmt_value(f.value)))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| [{}](#{}) | {} | {} |",
            cell(&c.title),
            c.id,
            c.verdict.label(),
            cell(&key)
        );
    }
    for c in claims {
        let _ = writeln!(md, "\n<a id=\"{}\"></a>\n\n## {}\n", c.id, c.title);
        let _ = writeln!(md, "**Claim.** {}\n", c.statement);
        let _ = writeln!(md, "*Source:* {}\n", c.source);
        let _ = writeln!(md, "**Check.** {}\n", c.check);
        if !c.figures.is_empty() {
            let _ = writeln!(md, "| figure | value | how to read it |\n|---|---|---|");
            for f in &c.figures {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} |",
                    cell(&f.name),
                    fmt_value(f.value),
                    cell(&f.note)
                );
            }
            md.push('\n');
        }
        let _ = writeln!(
            md,
            "**Verdict:** {} ({:.2} s)\n",
            verdict_text(&c.verdict),
            c.seconds
        );
        for p in &c.charts {
            let _ = writeln!(
                md,
                "![{}](plots/{}.png)\n\n*{}*\n",
                cell(&p.caption),
                p.stem,
                p.caption
            );
        }
    }

    let markdown = dir.join("report.md");
    std::fs::write(&markdown, &md).map_err(|e| out_err(&markdown, e))?;

    let mut body = String::new();
    let parser = pulldown_cmark::Parser::new_ext(&md, pulldown_cmark::Options::ENABLE_TABLES);
    pulldown_cmark::html::push_html(&mut body, parser);
    for (src, svg) in &svgs {
        // pulldown-cmark writes `<img src="plots/x.png" alt="..." />`; swap the element for the
        // SVG itself so the page is self-contained.
        let needle = format!("<img src=\"{src}\"");
        while let Some(start) = body.find(&needle) {
            let end = body[start..]
                .find("/>")
                .map_or(body.len(), |k| start + k + 2);
            body.replace_range(start..end, &format!("<figure>{svg}</figure>"));
        }
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{}</style></head><body><main>{}</main></body></html>\n",
        title.replace('<', "&lt;"),
        STYLE,
        body
    );
    let html_path = dir.join("index.html");
    std::fs::write(&html_path, html).map_err(|e| out_err(&html_path, e))?;

    let json_path = dir.join("claims.json");
    let doc = json!({
        "title": title,
        "claims": claims,
        "summary": { "total": claims.len(), "holding": held },
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| out_err(&json_path, e))?;
    std::fs::write(&json_path, text).map_err(|e| out_err(&json_path, e))?;

    Ok(ReportFiles {
        dir: dir.to_path_buf(),
        html: html_path,
        markdown,
        json: json_path,
        plots: plot_files,
    })
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;\
color:#1d1d1f;background:#fafafa;margin:0}main{max-width:980px;margin:0 auto;padding:24px 32px;\
background:#fff}h1{border-bottom:2px solid #0072b2;padding-bottom:8px}h2{margin-top:40px;\
border-bottom:1px solid #ddd;padding-bottom:4px}table{border-collapse:collapse;margin:12px 0;\
width:100%}th,td{border:1px solid #ddd;padding:6px 10px;text-align:left;vertical-align:top}\
th{background:#f0f4f8}tr:nth-child(even) td{background:#fafcff}figure{margin:16px 0}\
figure svg{max-width:100%;height:auto}code{background:#f3f3f3;padding:1px 4px;border-radius:3px}";
