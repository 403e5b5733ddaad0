#!/usr/bin/env bash
# The Python example storefront (docs/examples/storefront-python) against a real paydesk: its client
# is generated from openapi/paydesk.json by openapi-python-client on every run (never committed, so
# it cannot drift from the spec), its webhooks are verified by the Standard Webhooks reference
# library, and its journey pays through the sandbox, refunds part, then the rest.
#
# Usage: scripts/example-journey.sh   (builds the debug binary if needed; seconds once the venv exists)
# Env:   CARGO_TARGET_DIR (default target/).
# Exit:  non-zero when generation warns, paydesk does not start, or any check of the journey fails.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s%N)

target=${CARGO_TARGET_DIR:-target}
example=docs/examples/storefront-python
dir="$target/example-python"
. scripts/python-venv.sh
venv="$dir/venv"
client="$dir/client"
work="$dir/run"
key=sk_test_example0000000000000000000000000

# The venv is rebuilt only when the pinned requirements (or python3 itself) changed.
want=$({ python3 --version; cat "$example/requirements.txt"; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/requirements.sha256" 2>/dev/null)" != "$want" ]; then
  echo "installing $example/requirements.txt into $venv"
  rm -rf "$venv"
  python_venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$example/requirements.txt"
  echo "$want" >"$venv/requirements.sha256"
fi

# The generator formats with ruff (pinned in the venv, found on PATH from the output folder, hence
# the absolute path); any warning means part of the spec was left out of the client: that fails.
generated=$(PATH="$(cd "$venv/bin" && pwd):$PATH" openapi-python-client generate \
  --path openapi/paydesk.json --output-path "$client" --overwrite 2>&1) \
  || { printf '%s\n' "$generated" >&2; exit 1; }
if grep -qi warning <<<"$generated"; then
  printf 'openapi-python-client warned:\n%s\n' "$generated" >&2
  exit 1
fi

# A fresh SQLite database, the embedded sandbox and the fixed demo key $key.
. scripts/start-paydesk.sh

status=0
PYTHONPATH="$client:$example" PYTHONPYCACHEPREFIX="$dir/pycache" PAYDESK_URL="$base" PAYDESK_KEY=$key \
  "$venv/bin/python" "$example/journey.py" openapi/paydesk.json || status=$?

if grep -q 'internal error' "$work/server.log"; then
  echo "paydesk logged internal errors:" >&2
  grep 'internal error' "$work/server.log" | head -20 >&2
  status=1
fi
elapsed=$(( ($(date +%s%N) - started) / 1000000 ))
echo "example journey $([ $status = 0 ] && echo passed || echo FAILED) in $((elapsed / 1000)).$(printf %03d $((elapsed % 1000)))s"
exit $status
