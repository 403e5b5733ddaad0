"""The example storefront's journey against a running paydesk with its built-in sandbox.

Starts the storefront (storefront.py) on a free port, creates an order, pays it the way the
sandbox's payment window does, refunds part and then the rest, and checks every webhook: verified
by the reference library, in sequence, matching GET /v1/events; a tampered delivery is refused.
Then creates a checkout for every payment method with the generated client, pays those paid at
approval and reads each method's details back through the generated models.

    PAYDESK_URL=... PAYDESK_KEY=sk_test_... python journey.py openapi/paydesk.json
"""

import importlib
import io
import json
import os
import pkgutil
import re
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler

import httpx
import paydesk_client.api
import storefront as shop
from paydesk_client import AuthenticatedClient
from paydesk_client.api.checkouts import create_checkout, get_checkout
from paydesk_client.api.events import list_events
from paydesk_client.api.payments import get_payment
from paydesk_client.models import Buyer, Checkout, CreateCheckoutRequest, CurrencyView, EventList, Payment, PayMethodView


def check_operation_names(spec_path):
    """The generated client has one module per operation, named from its operationId."""
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    operation_ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    expected = {re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower() for operation_id in operation_ids}
    api = paydesk_client.api
    modules = {m.name for m in pkgutil.walk_packages(api.__path__, api.__name__ + ".") if not m.ispkg}
    generated = {name.rsplit(".", 1)[1] for name in modules}
    assert generated == expected, f"generated {sorted(generated ^ expected)} differ from the operationIds"
    for name in modules:
        assert callable(importlib.import_module(name).sync_detailed), name
    print(f"generated client: {len(modules)} operations, e.g. {', '.join(sorted(modules)[:3])}, ...")


class Recorder:
    """WSGI middleware keeping each webhook delivery as it arrived (headers, raw body, status)."""

    def __init__(self, app):
        self.app = app
        self.deliveries = []

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] != shop.WEBHOOK_PATH:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_WEBHOOK_")}

        def recording(status, response_headers, exc_info=None):
            self.deliveries.append({"headers": headers, "body": body, "status": int(status.split()[0])})
            return start_response(status, response_headers, exc_info)

        return self.app(environ, recording)


class Quiet(WSGIRequestHandler):
    """No line per request: the journey prints its steps."""

    def log_message(self, *args):
        pass


def wait_for(what, check, *args, timeout=30.0):
    """Polls `check(*args)` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check(*args)):
        assert time.monotonic() < deadline, f"no {what} after {timeout:.0f}s"
        time.sleep(0.1)
    return value


def pay_in_sandbox(paydesk, payment_id):
    """What a shopper's payment window does: post the goPay fields, then follow the return."""
    checkout = shop.parsed(get_checkout.sync_detailed(payment_id, client=paydesk), Checkout)
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in checkout.go_pay.to_dict().items()}
    authorized = httpx.post(f"{os.environ['PAYDESK_URL']}/sandbox/pay/authorize", data=form)
    assert authorized.is_redirect, f"sandbox answered {authorized.status_code}: {authorized.text}"
    returned = httpx.get(authorized.url.join(authorized.headers["location"]))  # paydesk approves here
    assert returned.status_code < 400, f"return page answered {returned.status_code}: {returned.text}"


def check_every_method(paydesk):
    """A checkout of each method through the generated client; the methods paid at approval are
    paid in the sandbox and their details (bank account, wallet, card) read back by the generated models.
    OPCARD is paid in US dollars: its amount counts cents (12000 is 120.00 USD)."""
    choices = {
        "BANK": {"bankCode": "088"},
        "EBANK": {"bankCode": "004"},
        "EPAY": {"wallet": "KAKAOPAY"},
        "OPCARD": {"cardCode": "25"},
    }
    for method in PayMethodView:
        answer = create_checkout.sync_detailed(
            client=paydesk,
            body=CreateCheckoutRequest(
                goods_name="이노페이 화장품",
                amount=12000,
                pay_method=method,
                currency=CurrencyView.USD if method.value == "OPCARD" else CurrencyView.KRW,
                buyer=Buyer(name="홍길동", tel="01012345678", email="test@test.com"),
            ),
        )
        checkout = shop.parsed(answer, Checkout)
        assert checkout.pay_method == method.value and checkout.go_pay.pay_method == method.value, checkout
        if method.value not in choices:
            continue
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in checkout.go_pay.to_dict().items()}
        authorized = httpx.post(f"{os.environ['PAYDESK_URL']}/sandbox/pay/authorize", data=form | choices[method.value])
        assert authorized.is_redirect, f"sandbox answered {authorized.status_code}: {authorized.text}"
        httpx.get(authorized.url.join(authorized.headers["location"]))
        payment = shop.parsed(get_payment.sync_detailed(checkout.id, client=paydesk), Payment)
        assert payment.status.value == "paid", payment.status
        if method.value == "EPAY":
            assert payment.epay.wallet.value == "kakao_pay", payment.epay
        elif method.value == "OPCARD":
            assert payment.currency == CurrencyView.USD and payment.total_amount == 12000, payment
            assert payment.card.company_name == "VISA", payment.card
        else:
            assert payment.bank.bank_code == choices[method.value]["bankCode"], payment.bank
    print(f"generated client: a checkout of each of {', '.join(m.value for m in PayMethodView)}")


def main(spec_path):
    check_operation_names(spec_path)
    paydesk = AuthenticatedClient(
        base_url=os.environ["PAYDESK_URL"], token=os.environ["PAYDESK_KEY"], raise_on_unexpected_status=True
    )
    storefront = shop.Storefront(paydesk)
    recorder = Recorder(storefront)
    server = shop.make_server("127.0.0.1", 0, recorder, server_class=shop.Server, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shop_url = f"http://127.0.0.1:{server.server_port}"
    storefront.register_webhooks(shop_url + shop.WEBHOOK_PATH)
    browser = httpx.Client(base_url=shop_url)

    created = browser.post(
        "/orders",
        json={
            "goodsName": "이노페이 화장품",
            "amount": 20000,
            "buyer": {"name": "홍길동", "tel": "01012345678", "email": "test@test.com"},
        },
    )
    assert created.status_code == 201, created.text
    order = created.json()
    order_id, payment_id = order["orderId"], order["paymentId"]
    print(f"order {order_id}: payment {payment_id}, checkout {order['checkoutUrl']}")

    def webhook_seen(event_type):
        state = browser.get(f"/orders/{order_id}").json()
        return state if event_type in [w["type"] for w in state["webhooks"]] else None

    pay_in_sandbox(paydesk, payment_id)
    print("webhook:", wait_for("payment.paid webhook", webhook_seen, "payment.paid")["status"])

    for request, status, remaining, event in [
        ({"reason": "한 개 반품", "amount": 5000}, "partially_cancelled", 15000, "payment.partially_cancelled"),
        ({"reason": "주문 취소"}, "cancelled", 0, "payment.cancelled"),
    ]:
        refunded = browser.post(f"/orders/{order_id}/refunds", json=request)
        assert refunded.status_code == 200, refunded.text
        assert refunded.json()["status"] == status and refunded.json()["remainingAmount"] == remaining, refunded.text
        print("webhook:", wait_for(f"{event} webhook", webhook_seen, event)["status"])

    # Every webhook: answered 204 after the reference library verified it, one per event, in sequence.
    final = browser.get(f"/orders/{order_id}").json()
    applied = final["webhooks"]
    assert [w["type"] for w in applied] == ["payment.paid", "payment.partially_cancelled", "payment.cancelled"]
    assert final["status"] == "cancelled", final
    deliveries = list(recorder.deliveries)
    assert all(d["status"] == 204 for d in deliveries), [d["status"] for d in deliveries]
    assert [d["headers"]["webhook-id"] for d in deliveries] == [w["id"] for w in applied]
    sequences = [json.loads(d["body"])["data"]["sequence"] for d in deliveries]
    assert sequences == sorted(set(sequences)), f"deliveries arrived out of sequence: {sequences}"
    for d in deliveries:
        storefront.webhook.verify(d["body"], d["headers"])

    # GET /v1/events lists the same events in the same order (each about two seconds after it happened).
    def listed():
        events = shop.parsed(list_events.sync_detailed(client=paydesk, payment_id=payment_id), EventList)
        return events.data if len(events.data) >= len(applied) else None

    events = wait_for("events listed", listed, timeout=15)
    assert [(e.id, e.type_.value) for e in events] == [(w["id"], w["type"]) for w in applied], events

    payment = shop.parsed(get_payment.sync_detailed(payment_id, client=paydesk), Payment)
    assert payment.status.value == "cancelled", payment.status
    assert payment.cancelled_amount == payment.total_amount and payment.remaining_amount == 0

    # The last real delivery again: untouched it is a duplicate (204, ignored); one byte changed, 400.
    last, json_type = deliveries[-1], {"content-type": "application/json"}
    digit = re.search(rb'"totalAmount":\s*(\d)', last["body"]).start(1)
    tampered = bytearray(last["body"])
    tampered[digit] = ord("9") if tampered[digit] != ord("9") else ord("8")
    invalid_utf8 = bytearray(last["body"])
    invalid_utf8[digit] = 0xFF
    for case, body, expected in [
        ("untouched", last["body"], 204),
        ("a digit of totalAmount changed", bytes(tampered), 400),
        ("a byte made invalid UTF-8", bytes(invalid_utf8), 400),
    ]:
        replayed = browser.post(shop.WEBHOOK_PATH, content=body, headers=last["headers"] | json_type)
        assert replayed.status_code == expected, f"{case}: answered {replayed.status_code}, not {expected}"
    assert browser.get(f"/orders/{order_id}").json() == final, "a replayed delivery changed the order"

    check_every_method(paydesk)

    server.shutdown()
    print(f"journey passed: {len(deliveries)} webhooks verified, in sequence, listed; tampered deliveries refused")


if __name__ == "__main__":
    main(sys.argv[1])
