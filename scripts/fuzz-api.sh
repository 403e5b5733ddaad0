#!/usr/bin/env bash
# API fuzzing: Schemathesis (a tool nobody on the team wrote) generates requests for every operation
# of the OpenAPI document a running paydesk serves, and fails on any 5XX, any answer the document does
# not describe (status, content type, headers, body schema), ignored authentication, a 405 without
# `Allow`, and a resource that is gone right after it was created.
#
# Usage: scripts/fuzz-api.sh            (builds the debug binary if needed; about two minutes)
# Env:   FUZZ_MAX_EXAMPLES (default 100 per operation and phase), FUZZ_SEED (default 7, so a CI failure
#        reproduces), CARGO_TARGET_DIR (default target/).
# Exit:  non-zero when Schemathesis finds anything or paydesk does not start.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
. scripts/python-venv.sh
venv="$target/fuzz/venv"
version=4.32.5
work="$target/fuzz/run"
key=sk_test_fuzz0000000000000000000000000000

if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $version" ]; then
  echo "installing schemathesis $version into $venv"
  python_venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

# A fresh SQLite database, the embedded sandbox and the fixed demo key $key.
. scripts/start-paydesk.sh
echo "fuzzing $base/openapi.json"

# positive_data_acceptance and negative_data_rejection are left out on purpose: they require the
# schema to mirror every validation rule, and paydesk checks rules JSON Schema cannot state
# (amount + taxFreeAmount within bounds, Korean phone numbers, absolute http(s) URLs, trimmed text)
# in code, with a per-field error code the 400 answer documents.
# Run from the work folder: Schemathesis keeps a cache in the current directory.
venv=$(cd "$venv" && pwd)
status=0
(cd "$work" && "$venv/bin/schemathesis" run "$base/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks all \
  --exclude-checks positive_data_acceptance,negative_data_rejection \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${FUZZ_MAX_EXAMPLES:-100}" \
  --seed "${FUZZ_SEED:-7}" \
  --workers 2 \
  --request-timeout 10 \
  --report junit --report-dir report) \
  || status=$?

# A 5XX is also logged by paydesk with its cause; show it next to Schemathesis's report.
if grep -q 'internal error' "$work/server.log"; then
  echo "paydesk logged internal errors:" >&2
  grep 'internal error' "$work/server.log" | head -20 >&2
  status=1
fi
exit $status
