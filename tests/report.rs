//! `aot report`: the main job, run as a newcomer runs it, into a temporary directory.

use std::process::Command;

fn aot(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aot"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Every claim has a verdict; the HTML, Markdown and JSON exist and parse; the claims the
/// theory predicts hold (a failing claim makes the command exit 1).
#[test]
fn quick_report_checks_every_claim() {
    let dir = tempfile::tempdir().unwrap();
    let out = aot(&["report", "--quick", "--out", "r"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dir.path().join("r");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("claims.json")).unwrap()).unwrap();
    let claims = json["claims"].as_array().unwrap();
    let ids: Vec<&str> = claims.iter().map(|c| c["id"].as_str().unwrap()).collect();
    for expected in [
        "sorting-is-optimal",
        "zero-one-not-optimal",
        "unequal-sizes",
        "batch-of-one-is-dpo",
        "sandwich",
        "invariances",
        "gradient-formula",
        "label-smoothing-minimiser",
        "relaxation-bound",
        "parametric-rate",
        "upward-bias",
        "erm-excess-risk",
        "antitone-is-worst",
        "dominance-example",
    ] {
        assert!(
            ids.contains(&expected),
            "claim {expected} missing from {ids:?}"
        );
    }
    for c in claims {
        let verdict = c["verdict"]["verdict"].as_str().unwrap();
        assert!(
            verdict == "holds" || verdict == "conditional",
            "{}: {verdict}",
            c["id"]
        );
        assert!(
            !c["figures"].as_array().unwrap().is_empty(),
            "{} has no figures",
            c["id"]
        );
    }
    let html = std::fs::read_to_string(root.join("index.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    // Self-contained: plots are inline SVG, no reference to the PNG files remains.
    assert!(html.contains("<svg") && !html.contains("src=\"plots/"));
    assert!(std::fs::read_to_string(root.join("report.md"))
        .unwrap()
        .contains("## Sorting"));
    for stem in ["quantiles", "sandwich", "sorting-vs-lp", "rates-error_vs_n"] {
        assert!(
            root.join("plots").join(format!("{stem}.png")).exists(),
            "{stem}.png"
        );
        assert!(
            root.join("plots").join(format!("{stem}.svg")).exists(),
            "{stem}.svg"
        );
    }
    // A second run never overwrites the first: it writes a timestamped sibling directory.
    let before = std::fs::read_to_string(root.join("claims.json")).unwrap();
    let again = aot(&["report", "--quick", "--out", "r"], dir.path());
    assert!(again.status.success());
    let siblings = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(siblings, 2);
    assert_eq!(
        std::fs::read_to_string(root.join("claims.json")).unwrap(),
        before
    );
}

/// `--input` with the user's own rewards. Chosen {1, 2, 3} vs rejected {0, 2.5, 1}: sorted pairs
/// (1, 0), (2, 1), (3, 2.5), so chosen strictly dominates and ε_{0-1} = 0.
#[test]
fn input_report_on_user_rewards() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.csv"),
        "chosen,rejected\n1,0\n2,2.5\n3,1\n",
    )
    .unwrap();
    let out = aot(&["report", "--input", "r.csv", "--out", "mine"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("mine/claims.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let c = &json["claims"][0];
    assert!(
        c["check"].as_str().unwrap().contains("strictly dominates"),
        "{c}"
    );
    assert_eq!(c["figures"][2]["value"], 0.0);
    assert_eq!(c["verdict"]["verdict"], "holds", "{c}");
    // Chosen {0, 1} vs rejected {2, 3}: Q_U < Q_V at every level, so the claim fails (the
    // report still succeeds: it reports on the data).
    std::fs::write(
        dir.path().join("f.csv"),
        "chosen,rejected
0,3
1,2
",
    )
    .unwrap();
    let out = aot(
        &["report", "--input", "f.csv", "--out", "failing"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 of 1 claims hold"));
    let text = std::fs::read_to_string(dir.path().join("failing/claims.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let c = &json["claims"][0];
    assert_eq!(c["verdict"]["verdict"], "fails", "{c}");
    assert_eq!(c["figures"][2]["value"], 1.0);
    // A file without the expected columns is a clear error.
    std::fs::write(dir.path().join("bad.csv"), "a,b\n1,2\n").unwrap();
    let out = aot(&["report", "--input", "bad.csv"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected columns"));
}
