#!/usr/bin/env python3
"""Proves that every notebook still compiles and runs against the current library.

Each notebook's code cells are concatenated, in order, into the body of `main` of a cargo example
(`examples/notebook_<N>.rs`, generated, git-ignored and removed afterwards); evcxr commands
(lines starting with `:`) are dropped, and a `;` after each cell turns a displayed final
expression into a statement. Cargo then builds and runs it with the crate's own dependencies.

The notebooks are written so that this is faithful: no cell redefines a name with another type,
and bindings used across cells are annotated where evcxr would infer them. Outputs saved in the
notebooks come from executing them through the evcxr kernel (`notebooks/run.sh`).

Usage: python3 notebooks/check.py [--features candle] [NOTEBOOK ...]
"""
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADER = """// Generated from {name} by notebooks/check.py; do not edit.
#![allow(unused, redundant_semicolons, unused_must_use, clippy::all)]

fn main() -> Result<(), Box<dyn std::error::Error>> {{
"""


def extract(path: pathlib.Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    body = []
    for k, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        lines = [l for l in "".join(cell["source"]).splitlines() if not l.lstrip().startswith(":")]
        if not any(l.strip() for l in lines):
            continue
        body.append(f"    // cell {k}")
        body.extend("    " + l for l in lines)
        body.append("    ;")
    return HEADER.format(name=path.name) + "\n".join(body) + "\n    Ok(())\n}\n"


def needs_candle(path: pathlib.Path) -> bool:
    return "features = [\"candle\"]" in path.read_text(encoding="utf-8")


def main() -> int:
    args = sys.argv[1:]
    features = []
    if args[:2] == ["--features", "candle"]:
        features, args = ["--features", "candle"], args[2:]
    notebooks = [pathlib.Path(a).resolve() for a in args] or sorted(
        (ROOT / "notebooks").glob("*.ipynb"))
    failures = []
    for nb in notebooks:
        if needs_candle(nb) and not features:
            print(f"skip {nb.name}: needs --features candle")
            continue
        name = "notebook_" + "".join(c if c.isalnum() else "_" for c in nb.stem)
        example = ROOT / "examples" / f"{name}.rs"
        example.write_text(extract(nb), encoding="utf-8")
        try:
            cmd = ["cargo", "run", "--release", "--quiet", *features, "--example", name]
            print(f"== {nb.name}: {' '.join(cmd)}", flush=True)
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            out = done.stdout.replace("EVCXR_BEGIN_CONTENT", "[inline content]")
            print("\n".join(l for l in out.splitlines() if not l.startswith("<")) [-3000:])
            if done.returncode != 0:
                print(done.stderr[-6000:], file=sys.stderr)
                failures.append(nb.name)
        finally:
            example.unlink(missing_ok=True)
    if failures:
        print(f"FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    print(f"{len(notebooks)} notebooks checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
