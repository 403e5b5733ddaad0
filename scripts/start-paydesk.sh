# Sourced by the scripts that test a running paydesk (fuzz-api.sh, example-journey.sh): builds the
# debug binary and starts it on a loopback port with a fresh SQLite database in $work, the embedded
# sandbox and the fixed demo key $key; sets $server (its pid) and $base (its URL) and stops it on
# exit. Needs $target, $work and $key.

cargo build --quiet --bin paydesk
rm -rf "$work" && mkdir -p "$work"
# Created here: the background job below opens its redirections only once it runs, maybe after
# the first look for the port.
: >"$work/stdout.log"
PAYDESK_ADDR=127.0.0.1:0 \
PAYDESK_DATABASE_URL="sqlite://$work/paydesk.db?mode=rwc" \
PAYDESK_DEMO_API_KEY=$key \
PAYDESK_LOG=warn \
  "$target/debug/paydesk" >"$work/stdout.log" 2>"$work/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT

base=
for _ in $(seq 1 100); do
  base=$(sed -n 's/^paydesk listening on //p' "$work/stdout.log")
  [ -n "$base" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "paydesk did not start" >&2; exit 1; }
