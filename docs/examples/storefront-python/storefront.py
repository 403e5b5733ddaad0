"""A tiny storefront backend on paydesk: checkouts, refunds and verified webhooks.

A WSGI app on the standard library's wsgiref, plus the client generated from paydesk's OpenAPI
document (`paydesk_client`, see README.md) and the Standard Webhooks reference verifier.

    PAYDESK_URL=http://127.0.0.1:8080 PAYDESK_KEY=sk_test_quickstart python storefront.py

Routes (JSON in and out):
    POST /orders                  {"goodsName", "amount", "buyer": {"name", "tel", "email"}}
                                  -> 201 {"orderId", "paymentId", "checkoutUrl"}
    GET  /orders/{orderId}        -> the order as the webhooks left it
    POST /orders/{orderId}/refunds {"reason", "amount"?} (no amount: everything that remains)
    POST /webhooks/paydesk        paydesk's webhooks; 400 unless the signature verifies
"""

import json
import os
import re
import threading
import uuid
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIServer, make_server

from paydesk_client import AuthenticatedClient
from paydesk_client.api.checkouts import create_checkout
from paydesk_client.api.payments import cancel_payment
from paydesk_client.api.webhooks import set_webhook_endpoint
from paydesk_client.models import (
    Buyer,
    CancelRequest,
    Checkout,
    CreateCheckoutRequest,
    Payment,
    SetWebhookEndpoint,
    WebhookEndpoint,
    WebhookEvent,
)
from paydesk_client.types import UNSET
from standardwebhooks import Webhook, WebhookVerificationError

WEBHOOK_PATH = "/webhooks/paydesk"
ORDER_PATH = re.compile(r"/orders/([A-Za-z0-9_-]+)(/refunds)?")


class PaydeskError(Exception):
    """paydesk answered with an error envelope (its body is in the message)."""


def parsed(response, model):
    """The generated client's parsed answer when it is a `model`, else PaydeskError."""
    if not isinstance(response.parsed, model):
        raise PaydeskError(f"paydesk answered {response.status_code}: {response.content.decode()}")
    return response.parsed


class Storefront:
    """The WSGI app. Orders live in memory here; a real storefront keeps them in its database."""

    def __init__(self, paydesk: AuthenticatedClient):
        self.paydesk = paydesk
        self.webhook = None
        self.orders = {}
        self.processed = set()  # webhook ids already applied (deliveries are at least once)
        self.lock = threading.Lock()

    def register_webhooks(self, url):
        """Points paydesk's webhooks at `url`; the answer carries the secret that signs them."""
        answer = set_webhook_endpoint.sync_detailed(client=self.paydesk, body=SetWebhookEndpoint(url=url))
        self.webhook = Webhook(parsed(answer, WebhookEndpoint).signing_secret)

    def create_order(self, goods_name, amount, buyer):
        order_id = f"order-{uuid.uuid4().hex[:16]}"
        # Save the order before calling paydesk, so a webhook never finds it missing.
        with self.lock:
            self.orders[order_id] = {"orderId": order_id, "status": "created", "sequence": 0, "webhooks": []}
        answer = create_checkout.sync_detailed(
            client=self.paydesk,
            body=CreateCheckoutRequest(order_id=order_id, goods_name=goods_name, amount=amount, buyer=Buyer(**buyer)),
            # One key per order: retrying after a timeout answers the same checkout, never a second one.
            idempotency_key=f"checkout-{order_id}",
        )
        checkout = parsed(answer, Checkout)
        with self.lock:
            self.orders[order_id].update(paymentId=checkout.id, status=checkout.status.value)
        return {"orderId": order_id, "paymentId": checkout.id, "checkoutUrl": checkout.checkout_url}

    def refund(self, order, reason, amount=None):
        answer = cancel_payment.sync_detailed(
            order["paymentId"],
            client=self.paydesk,
            body=CancelRequest(reason=reason, amount=UNSET if amount is None else amount),
            # Keep the key with your refund record and reuse it to retry: a lost answer never refunds twice.
            idempotency_key=f"refund-{uuid.uuid4()}",
        )
        payment = parsed(answer, Payment)
        return {
            "status": payment.status.value,
            "cancelledAmount": payment.cancelled_amount,
            "remainingAmount": payment.remaining_amount,
        }

    def receive_webhook(self, body, headers):
        """Applies one delivery; False (answer 400) when its signature does not verify."""
        try:
            self.webhook.verify(body, headers)
        except (WebhookVerificationError, ValueError):  # ValueError: not UTF-8, malformed header
            return False
        event = WebhookEvent.from_dict(json.loads(body))
        payment = event.data
        with self.lock:
            order = self.orders.get(payment.order_id)
            if order is None or event.id in self.processed:
                return True
            self.processed.add(event.id)
            # Events of one payment arrive in order; still, never let an old one undo a newer one.
            if payment.sequence > order["sequence"]:
                order.update(status=payment.status.value, sequence=payment.sequence)
                order["webhooks"].append({"id": event.id, "type": event.type_.value, "sequence": payment.sequence})
        return True

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))

        def answer(status, document=None):
            start_response(status, [("Content-Type", "application/json")] if document is not None else [])
            return [json.dumps(document, ensure_ascii=False).encode()] if document is not None else []

        if method == "POST" and path == WEBHOOK_PATH:
            headers = {key[5:].replace("_", "-"): value for key, value in environ.items() if key.startswith("HTTP_")}
            return answer("204 No Content" if self.receive_webhook(body, headers) else "400 Bad Request")
        try:
            if method == "POST" and path == "/orders":
                request = json.loads(body)
                order = self.create_order(request["goodsName"], request["amount"], request["buyer"])
                return answer("201 Created", order)
            match = ORDER_PATH.fullmatch(path)
            with self.lock:
                order = dict(self.orders[match[1]]) if match and match[1] in self.orders else None
            if order is None:
                return answer("404 Not Found", {"error": "no such order"})
            if method == "GET" and not match[2]:
                return answer("200 OK", order)
            if method == "POST" and match[2]:
                request = json.loads(body)
                return answer("200 OK", self.refund(order, request["reason"], request.get("amount")))
            return answer("405 Method Not Allowed", {"error": "method not allowed"})
        except PaydeskError as error:
            return answer("502 Bad Gateway", {"error": str(error)})


class Server(ThreadingMixIn, WSGIServer):
    """Serves each request on its own thread: webhooks are not kept waiting by a slow page."""

    daemon_threads = True


def main():
    paydesk = AuthenticatedClient(
        base_url=os.environ.get("PAYDESK_URL", "http://127.0.0.1:8080"),
        token=os.environ.get("PAYDESK_KEY", "sk_test_quickstart"),
        raise_on_unexpected_status=True,
    )
    host, port = os.environ.get("STOREFRONT_ADDR", "127.0.0.1:8000").rsplit(":", 1)
    storefront = Storefront(paydesk)
    server = make_server(host, int(port), storefront, server_class=Server)
    # Where paydesk reaches this server; behind a proxy, its public https:// address.
    public_url = os.environ.get("STOREFRONT_PUBLIC_URL", f"http://{host}:{server.server_port}")
    storefront.register_webhooks(public_url + WEBHOOK_PATH)
    print(f"storefront listening on http://{host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
