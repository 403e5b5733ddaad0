#!/usr/bin/env bash
# paydesk quickstart, optional part: a virtual account (VBANK) issued, deposited into at the
# sandbox, and the payment paid. Same settings and helpers as docs/quickstart.sh.
set -euo pipefail

PAYDESK_URL="${PAYDESK_URL:-http://127.0.0.1:8080}"
PAYDESK_KEY="${PAYDESK_KEY:-sk_test_quickstart}"
json() {
  python3 -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
print(value if isinstance(value, str) else json.dumps(value))' "$1"
}
api() {
  local answer
  if ! answer="$(curl -sS --fail-with-body -H "Authorization: Bearer $PAYDESK_KEY" \
    -H 'Content-Type: application/json' "$@")"; then
    echo "paydesk refused: $answer" >&2
    return 1
  fi
  printf '%s\n' "$answer"
}
new_key() { python3 -c 'import uuid; print(uuid.uuid4())'; }

# A VBANK checkout; the shopper picks a bank in the window (here 088, 신한은행).
CHECKOUT="$(api "$PAYDESK_URL/v1/checkouts" -H "Idempotency-Key: $(new_key)" \
  -d '{"goodsName": "이노페이 화장품", "amount": 20000, "payMethod": "VBANK",
       "buyer": {"name": "홍길동", "tel": "01012345678", "email": "test@test.com"}}')"
ID="$(printf '%s' "$CHECKOUT" | json id)"
FORM="$(printf '%s' "$CHECKOUT" | python3 -c 'import json, sys, urllib.parse
go_pay = json.load(sys.stdin)["goPay"]
print(urllib.parse.urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in go_pay.items()}))')"
RETURN_URL="$(curl -sS -o /dev/null -w '%{redirect_url}' -d "$FORM&bankCode=088" \
  "$PAYDESK_URL/sandbox/pay/authorize")"
curl -sS -o /dev/null --fail "$RETURN_URL"
PAYMENT="$(api "$PAYDESK_URL/v1/payments/$ID")"
printf '%s' "$PAYMENT" | json status                       # awaiting_deposit
printf '%s' "$PAYMENT" | json virtualAccount.accountNumber  # what the shopper transfers to

# The shopper's bank transfer, as the sandbox's control API stands in for the bank.
TID="$(printf '%s' "$PAYMENT" | json tid)"
curl -sS --fail-with-body "$PAYDESK_URL/sandbox/_control/deposits" \
  -H 'Content-Type: application/json' -d "{\"tid\": \"$TID\"}" > /dev/null

# Innopay's Noti tells paydesk, which checks by inquiry; wait (up to a minute) for paid.
for _ in $(seq 600); do
  STATUS="$(api "$PAYDESK_URL/v1/payments/$ID" | json status)"
  [ "$STATUS" = paid ] && break
  sleep 0.1
done
echo "$ID $STATUS"
[ "$STATUS" = paid ]
