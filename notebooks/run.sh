#!/usr/bin/env bash
# Executes every notebook through the evcxr Jupyter kernel, headlessly, saving the outputs in
# place, and fails on any error output or stderr stream. Installs what it needs:
#   - evcxr_jupyter from crates.io (a ~12 minute build on 2 cores, once),
#   - the rust-src component (evcxr needs it for type inference),
#   - Jupyter's nbclient/nbconvert in a virtual environment (.venv-notebooks).
#
#   notebooks/run.sh [NOTEBOOK ...]
set -euo pipefail
cd "$(dirname "$0")"

command -v evcxr_jupyter >/dev/null 2>&1 || cargo install evcxr_jupyter --locked
rustup component add rust-src >/dev/null 2>&1 || true
venv=../.venv-notebooks
if [ ! -x "$venv/bin/jupyter" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet nbclient nbformat nbconvert ipykernel jupyter-core
fi
evcxr_jupyter --install >/dev/null
# The code evcxr compiles links the standard library dynamically; the kernel process must find
# it in the toolchain's sysroot (rustup's proxies set this for cargo, not for the kernel).
export LD_LIBRARY_PATH="$(rustc --print target-libdir)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# A persistent build directory: the second run of a notebook takes seconds, not a minute.
export EVCXR_TMPDIR="${EVCXR_TMPDIR:-$HOME/.cache/aot/evcxr}"
mkdir -p "$EVCXR_TMPDIR"

notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=(*.ipynb)
for nb in "${notebooks[@]}"; do
  echo "== $nb"
  start=$(date +%s)
  "$venv/bin/jupyter" nbconvert --to notebook --execute --inplace \
    --ExecutePreprocessor.timeout=1800 --ExecutePreprocessor.kernel_name=rust "$nb"
  echo "   $(( $(date +%s) - start )) s"
done

# evcxr reports compile errors and panics as outputs without failing nbconvert: scan for them.
"$venv/bin/python" - "${notebooks[@]}" <<'PY'
import json, sys
bad = []
for path in sys.argv[1:]:
    for k, cell in enumerate(json.load(open(path))["cells"]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" or (
                out.get("output_type") == "stream" and out.get("name") == "stderr"
            ):
                bad.append(f"{path}: cell {k}: {''.join(out.get('text', out.get('evalue', '')))[:300]}")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
print(f"{len(sys.argv) - 1} notebooks executed without errors")
PY
