//! The `aot dominance` and `aot ot` subcommands, run as a user would run them.

use std::path::Path;
use std::process::Command;

fn aot(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aot"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the aot binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// U = {0, 2}, V = {1, 3} (notes §2.3): dominance fails on every level; the quantile witness is
/// the first segment (gap 1, the largest, first found), at level 1/4, point t = 0 where
/// F_U = 1/2 > F_V = 0. W1 = W2 = 1 (a pure shift by −1).
#[test]
fn dominance_json_reports_the_witness() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("u.txt"), "0\n2\n").unwrap();
    std::fs::write(dir.path().join("v.json"), "[1, 3]").unwrap();
    let (code, out, err) = aot(
        &[
            "dominance",
            "--chosen",
            "u.txt",
            "--rejected",
            "v.json",
            "--json",
            "--fail-on-violation",
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "stderr: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dominance"]["verdict"], "violated");
    assert_eq!(v["dominance"]["level"], 0.25);
    assert_eq!(v["dominance"]["point"], 0.0);
    assert_eq!(v["dominance"]["u_cdf"], 0.5);
    assert_eq!(v["violation"]["zero_one"], 1.0);
    assert_eq!(v["violation"]["w2"], 1.0);
    // logistic β = 1 on gaps −1, −1: log(1 + e) = 1.3132616875182228 (closed form).
    let eps = v["relaxed"][0]["eps_h"].as_f64().unwrap();
    assert!((eps - 1.313_261_687_518_222_8).abs() < 1e-15);
}

/// One CSV holding both columns; weights from a second file. U = {0, 1} with weights 3:1 and
/// V = {0.5, 0.5}: Q_U = 0 on (0, 3/4], 1 on (3/4, 1], so W1 = 3/4·0.5 + 1/4·0.5 = 0.5.
#[test]
fn ot_reads_csv_columns_and_weights_and_writes_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pairs.csv"),
        "chosen,rejected\n0,0.5\n1,0.5\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("w.txt"), "3\n1\n").unwrap();
    let args = [
        "ot",
        "--chosen",
        "pairs.csv",
        "--rejected",
        "pairs.csv",
        "--chosen-weights",
        "w.txt",
        "--cost",
        "abs_power:1",
        "--plan-out",
        "plan.csv",
        "--json",
    ];
    let (code, out, err) = aot(&args, dir.path());
    assert_eq!(code, 0, "stderr: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ot_cost"], 0.5);
    assert_eq!(v["wasserstein"][0]["value"], 0.5);
    let plan = std::fs::read_to_string(dir.path().join("plan.csv")).unwrap();
    assert_eq!(plan.lines().next(), Some("i,j,mass,u,v"));
    // An existing plan file is never overwritten without --force.
    let (code, _, err) = aot(&args, dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("pass --force"), "{err}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("u.txt"), "1\n2\ninf\n").unwrap();
    std::fs::write(dir.path().join("v.txt"), "1\n").unwrap();
    let (code, _, err) = aot(
        &["dominance", "--chosen", "u.txt", "--rejected", "v.txt"],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("u.txt: line 3: `inf` is not finite"), "{err}");
    let (code, _, err) = aot(
        &[
            "ot",
            "--chosen",
            "v.txt",
            "--rejected",
            "v.txt",
            "--cost",
            "zero_one",
        ],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("not convex"), "{err}");
}
