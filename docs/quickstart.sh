#!/usr/bin/env bash
# paydesk quickstart: a test payment paid, partially and then fully refunded, and its webhooks
# received and verified. Runs against the built-in sandbox; needs only bash, curl and python3.
# docs/QUICKSTART.md explains each step; tests/it/quickstart.rs runs this file twice in a row.
set -euo pipefail

PAYDESK_URL="${PAYDESK_URL:-http://127.0.0.1:8080}"
PAYDESK_KEY="${PAYDESK_KEY:-sk_test_quickstart}"

# JSON field from standard input, e.g. `json goPay.returnUrl` (python3 instead of jq, which is not
# installed by default).
json() {
  python3 -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
print(value if isinstance(value, str) else json.dumps(value))' "$1"
}

# Calls the API with the demo key; fails (printing paydesk's error) on any status but 2XX.
api() {
  local answer
  if ! answer="$(curl -sS --fail-with-body -H "Authorization: Bearer $PAYDESK_KEY" \
    -H 'Content-Type: application/json' "$@")"; then
    echo "paydesk refused: $answer" >&2
    return 1
  fi
  printf '%s\n' "$answer"
}

# A fresh Idempotency-Key per request (uuidgen is not installed by default either).
new_key() { python3 -c 'import uuid; print(uuid.uuid4())'; }

# --- 1. A webhook receiver: python3's standard library, verifying every signature ---
WORK="$(mktemp -d)"
cat > "$WORK/receiver.py" <<'PY'
import base64, hashlib, hmac, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

work = sys.argv[1]

def verified(headers, body):
    # The signing secret arrives in a file once the endpoint is set (the answer carries it).
    with open(os.path.join(work, "secret")) as f:
        secret = base64.b64decode(f.read().strip().removeprefix("whsec_"))
    msg_id, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not ts.isdigit() or abs(time.time() - int(ts)) > 5 * 60:
        return False
    mac = hmac.new(secret, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    return any(hmac.compare_digest(sig[3:], expected)
               for sig in headers.get("webhook-signature", "").split() if sig.startswith("v1,"))

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        ok = verified(self.headers, body)
        with open(os.path.join(work, "events"), "ab") as f:
            f.write((b"verified " if ok else b"REJECTED ") + body + b"\n")
        self.send_response(204 if ok else 400)
        self.end_headers()

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Receiver)
with open(os.path.join(work, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(work, "port.tmp"), os.path.join(work, "port"))
server.serve_forever()
PY
python3 "$WORK/receiver.py" "$WORK" &
RECEIVER=$!
trap 'kill $RECEIVER; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do [ -f "$WORK/port" ] && break; sleep 0.1; done
PORT="$(cat "$WORK/port")"

# Point the demo storefront's webhooks at it; the answer has the signing secret.
ENDPOINT="$(api -X PUT "$PAYDESK_URL/v1/webhook-endpoint" -d "{\"url\": \"http://127.0.0.1:$PORT/\"}")"
printf '%s' "$ENDPOINT" | json signingSecret > "$WORK/secret"
echo "webhooks go to http://127.0.0.1:$PORT/"

# --- 2. Create a checkout (no orderId: paydesk generates a unique one) ---
CHECKOUT="$(api "$PAYDESK_URL/v1/checkouts" -H "Idempotency-Key: $(new_key)" \
  -d '{"goodsName": "이노페이 화장품", "amount": 20000,
       "buyer": {"name": "홍길동", "tel": "01012345678", "email": "test@test.com"}}')"
ID="$(printf '%s' "$CHECKOUT" | json id)"
echo "checkout $ID for order $(printf '%s' "$CHECKOUT" | json orderId)"

# --- 3. Pay it in the sandbox without a browser: what the payment window posts, then the return ---
FORM="$(printf '%s' "$CHECKOUT" | python3 -c 'import json, sys, urllib.parse
go_pay = json.load(sys.stdin)["goPay"]
print(urllib.parse.urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in go_pay.items()}))')"
RETURN_URL="$(curl -sS -o /dev/null -w '%{redirect_url}' -d "$FORM" "$PAYDESK_URL/sandbox/pay/authorize")"
curl -sS -o /dev/null --fail "$RETURN_URL"   # paydesk approves the payment server-side here

# --- 4. Read the payment ---
api "$PAYDESK_URL/v1/payments/$ID" | json status   # paid

# --- 5. Refund 5,000 won, then the rest ---
api "$PAYDESK_URL/v1/payments/$ID/cancel" -H "Idempotency-Key: $(new_key)" \
  -d '{"reason": "한 개 반품", "amount": 5000}' | json status        # partially_cancelled
api "$PAYDESK_URL/v1/payments/$ID/cancel" -H "Idempotency-Key: $(new_key)" \
  -d '{"reason": "주문 취소"}' | json status                         # cancelled

# --- 6. Wait (up to a minute) for the verified webhook of the full refund ---
# Prints the webhooks received for this payment; succeeds once payment.cancelled was verified.
webhooks() {
  python3 -c 'import json, sys
seen = False
for line in open(sys.argv[1], encoding="utf-8"):
    outcome, body = line.split(" ", 1)
    event = json.loads(body)
    if event["data"]["id"] == sys.argv[2]:
        print("webhook", outcome, event["type"], event["data"]["status"])
        seen = seen or (outcome == "verified" and event["type"] == "payment.cancelled")
sys.exit(0 if seen else 1)' "$WORK/events" "$ID"
}
for _ in $(seq 600); do webhooks > /dev/null 2>&1 && break; sleep 0.1; done
webhooks
echo "quickstart done: $ID paid, refunded, webhooks verified"
