"""Webhooks with the official library: endpoints through stripe.WebhookEndpoint, deliveries to a small
HTTP receiver on 127.0.0.1 inside the test, verified by stripe.Webhook.construct_event exactly as a
merchant's server would verify Stripe's; retries after receiver errors; events that survive SIGKILL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from conftest import using
from tg import Reader, expect_error, new_pi, raw, wait_for

WAIT = 15.0  # seconds: every wait for a delivery is bounded by this


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers from a script of status codes
    (then 200)."""

    def __init__(self, script=()):
        self.got: list[dict] = []
        self.script = list(script)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.got.append({"sig": self.headers.get("Stripe-Signature"),
                                      "content_type": self.headers.get("Content-Type"),
                                      "body": body.decode("utf-8")})
                    code = outer.script.pop(0) if outer.script else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.got)

    def set_script(self, script):
        with self.lock:
            self.script = list(script)

    def wait_for(self, n: int, timeout: float = WAIT) -> list[dict]:
        return wait_for(self.received, lambda got: len(got) >= n, timeout, interval=0.02,
                        what=f"{n} webhook deliveries")

    def types(self) -> list[str]:
        return [json.loads(r["body"])["type"] for r in self.received()]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def hook_server(server_factory):
    """A server whose webhook retries start after 200 ms (instead of 30 s) and whose readers are
    probed every 200 ms."""
    return server_factory("webhooks", extra_args=["--heartbeat-interval", "200ms"],
                          extra_env={"TILLGATE_WEBHOOK_RETRY_BASE_MS": "200"})


@pytest.fixture
def hooks(hook_server):
    with using(hook_server):
        yield hook_server


def test_deliveries_verify_with_construct_event_and_only_enabled_events_arrive(hooks, receiver):
    ep = stripe.WebhookEndpoint.create(url=receiver.url,
                                       enabled_events=["payment_intent.canceled"],
                                       description="POS back office")
    assert ep.id.startswith("we_") and ep.secret.startswith("whsec_")
    assert ep.status == "enabled" and ep.enabled_events == ["payment_intent.canceled"]

    pi = new_pi(1234)
    stripe.PaymentIntent.cancel(pi.id)

    got = receiver.wait_for(1)[0]
    event = stripe.Webhook.construct_event(got["body"], got["sig"], ep.secret)
    assert event.type == "payment_intent.canceled"
    assert event.data.object.id == pi.id
    assert event.id == stripe.Event.retrieve(event.id).id
    assert got["content_type"].startswith("application/json")

    # The same signature, computed here from its definition (HMAC-SHA256 of "<t>.<body>").
    parts = dict(p.split("=", 1) for p in got["sig"].split(","))
    expected = hmac.new(ep.secret.encode(), f"{parts['t']}.{got['body']}".encode(),
                        hashlib.sha256).hexdigest()
    assert parts["v1"] == expected
    assert abs(int(parts["t"]) - time.time()) < 300

    # Anything else fails verification.
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(got["body"], got["sig"], "whsec_wrong")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(got["body"].replace(pi.id, "pi_forged"), got["sig"], ep.secret)

    # payment_intent.created was not enabled: it never arrives.
    time.sleep(1.0)
    assert receiver.types() == ["payment_intent.canceled"]
    stripe.WebhookEndpoint.delete(ep.id)


def test_a_reader_going_offline_arrives_as_a_verified_webhook(hooks, receiver, location):
    ep = stripe.WebhookEndpoint.create(url=receiver.url,
                                       enabled_events=["terminal.reader.offline", "terminal.reader.online"])
    reader = Reader.create(registration_code="simulated-wpe", location=location.id, label="hook till")
    r = raw(hooks)
    assert r.post(f"/v1/test_helpers/terminal/readers/{reader.id}/power_off").status_code == 200
    first = receiver.wait_for(1)[0]
    event = stripe.Webhook.construct_event(first["body"], first["sig"], ep.secret)
    assert event.type == "terminal.reader.offline"
    assert event.data.object.id == reader.id
    assert r.post(f"/v1/test_helpers/terminal/readers/{reader.id}/power_on").status_code == 200
    got = receiver.wait_for(2)
    back = stripe.Webhook.construct_event(got[1]["body"], got[1]["sig"], ep.secret)
    assert back.type == "terminal.reader.online" and back.data.object.id == reader.id
    stripe.WebhookEndpoint.delete(ep.id)


def test_a_receiver_failing_three_times_gets_the_event_once_it_succeeds(hooks):
    rx = Receiver(script=[500, 500, 500])
    try:
        ep = stripe.WebhookEndpoint.create(url=rx.url, enabled_events=["payment_intent.created"])
        pi = new_pi(777)
        got = rx.wait_for(4)
        events = [stripe.Webhook.construct_event(g["body"], g["sig"], ep.secret) for g in got]
        assert {e.id for e in events} == {events[0].id}, "the same event each time"
        assert events[0].data.object.id == pi.id

        r = raw(hooks)
        log = wait_for(lambda: r.get(f"/v1/webhook_endpoints/{ep.id}/deliveries").json(),
                       lambda v: v["data"] and v["data"][0]["status"] == "succeeded", WAIT,
                       what="the delivery to be recorded as succeeded")
        d = log["data"][0]
        assert d["event"] == events[0].id and d["attempt_count"] == 4
        assert [a["status_code"] for a in d["attempts"]] == [500, 500, 500, 200]
        assert [a["error"] for a in d["attempts"]] == ["HTTP 500"] * 3 + [None]
        assert all(a["duration_ms"] >= 0 for a in d["attempts"])
        assert stripe.Event.retrieve(events[0].id).pending_webhooks == 0
        stripe.WebhookEndpoint.delete(ep.id)
    finally:
        rx.close()


def test_endpoint_crud_and_errors(hooks):
    ep = stripe.WebhookEndpoint.create(url="http://192.168.0.20:8080/hooks", enabled_events=["*"],
                                       metadata={"store": "7"})
    got = stripe.WebhookEndpoint.retrieve(ep.id)
    assert got.url == ep.url and got.metadata["store"] == "7"
    assert "secret" not in got, "the secret is returned only on create"
    upd = stripe.WebhookEndpoint.modify(ep.id, disabled=True, enabled_events=["charge.succeeded"])
    assert upd.status == "disabled" and upd.enabled_events == ["charge.succeeded"]
    assert ep.id in [e.id for e in stripe.WebhookEndpoint.list(limit=100).auto_paging_iter()]

    before = len(list(stripe.WebhookEndpoint.list(limit=100).auto_paging_iter()))
    e = expect_error(stripe.InvalidRequestError, stripe.WebhookEndpoint.create,
                     url="ftp://example.com/x", enabled_events=["*"])
    assert e.param == "url"
    e = expect_error(stripe.InvalidRequestError, stripe.WebhookEndpoint.create,
                     url="https://example.com/x", enabled_events=["payment_intent.nope"])
    assert e.param == "enabled_events"
    e = expect_error(stripe.InvalidRequestError, stripe.WebhookEndpoint.modify, ep.id, url="nope")
    assert e.param == "url"
    assert stripe.WebhookEndpoint.retrieve(ep.id).url == ep.url, "a refused update changes nothing"
    assert len(list(stripe.WebhookEndpoint.list(limit=100).auto_paging_iter())) == before

    deleted = stripe.WebhookEndpoint.delete(ep.id)
    assert deleted.deleted is True and deleted.id == ep.id
    e = expect_error(stripe.InvalidRequestError, stripe.WebhookEndpoint.retrieve, ep.id)
    assert e.http_status == 404 and e.code == "resource_missing"


def test_events_list_filters(hooks):
    pi = new_pi(4321)
    stripe.PaymentIntent.cancel(pi.id)
    mine = lambda evs: [e for e in evs if e.data.object.id == pi.id]  # noqa: E731
    created = mine(stripe.Event.list(type="payment_intent.created", limit=100).data)
    assert [e.type for e in created] == ["payment_intent.created"]
    both = mine(stripe.Event.list(types=["payment_intent.created", "payment_intent.canceled"],
                                  limit=100).data)
    assert [e.type for e in both] == ["payment_intent.canceled", "payment_intent.created"]
    wild = mine(stripe.Event.list(type="payment_intent.*", limit=100).data)
    assert len(wild) == 2
    recent = mine(stripe.Event.list(created={"gte": int(time.time()) - 120}, limit=100).data)
    assert len(recent) == 2


@pytest.mark.slow
def test_events_committed_before_a_sigkill_are_delivered_after_restart(server_factory):
    rx = Receiver(script=[503] * 1000)  # the receiver is down at first
    srv = server_factory("webhooks-crash", extra_env={"TILLGATE_WEBHOOK_RETRY_BASE_MS": "200"})
    try:
        with using(srv):
            ep = stripe.WebhookEndpoint.create(url=rx.url, enabled_events=["*"])
            pis = [new_pi(100 + i) for i in range(3)]
            rx.wait_for(1)  # the first attempt failed with 503
            srv.restart()  # SIGKILL, then start on the same database
            rx.set_script([])  # the receiver is back
            wait_for(rx.received,
                     lambda got: {json.loads(g["body"])["data"]["object"]["id"] for g in got
                                  if json.loads(g["body"])["type"] == "payment_intent.created"} >= set(
                         p.id for p in pis), WAIT * 2, interval=0.05,
                     what="every payment_intent.created after the restart")
            for g in rx.received():
                stripe.Webhook.construct_event(g["body"], g["sig"], ep.secret)
            r = raw(srv)
            log = wait_for(lambda: r.get(f"/v1/webhook_endpoints/{ep.id}/deliveries").json(),
                           lambda v: len(v["data"]) == 3 and all(d["status"] == "succeeded" for d in v["data"]),
                           WAIT, what="three succeeded deliveries")
            assert {d["event_type"] for d in log["data"]} == {"payment_intent.created"}
    finally:
        rx.close()
