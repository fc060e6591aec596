#!/usr/bin/env bash
# Renders a report's index.html in headless Chromium and saves a full-page screenshot, to see the
# report as a reader does. Installs Debian's chromium when it is missing (root or sudo needed).
#
#   scripts/screenshot-report.sh [REPORT_DIR] [OUT.png]
#
# With no REPORT_DIR, runs `aot report --quick` into a temporary directory first.
set -euo pipefail
cd "$(dirname "$0")/.."

report_dir=${1:-}
out=${2:-report-screenshot.png}
if [ -z "$report_dir" ]; then
  report_dir=$(mktemp -d)/report
  cargo run --release --quiet -- report --quick --out "$report_dir" >/dev/null
fi
[ -f "$report_dir/index.html" ] || { echo "no index.html in $report_dir" >&2; exit 2; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium ..." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

profile=$(mktemp -d)
# The flags keep Chromium off the network (this machine has none) and away from the user's
# profile; --no-sandbox is needed when running as root.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1100,3000 \
  --screenshot="$(realpath -m "$out")" "file://$(realpath "$report_dir")/index.html" 2>/dev/null
rm -rf "$profile"
[ -s "$out" ] || { echo "no screenshot was written" >&2; exit 1; }
echo "$out"
