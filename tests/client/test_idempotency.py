"""Idempotency-Key: replay with the same parameters, refuse different parameters; per account."""

import uuid

import pytest
import stripe

from tg import expect_error, raw

PI_FORM = {"amount": "1000", "currency": "usd", "payment_method_types[]": "card_present",
           "metadata[order]": "42"}


def test_replay_same_key_same_params(server):
    api = raw(server)
    key = str(uuid.uuid4())
    a = api.post("/v1/payment_intents", PI_FORM, headers={"Idempotency-Key": key})
    assert a.status_code == 200, a.text
    assert a.headers.get("Idempotent-Replayed") in (None, "false")
    b = api.post("/v1/payment_intents", PI_FORM, headers={"Idempotency-Key": key})
    assert b.status_code == 200, b.text
    assert b.headers.get("Idempotent-Replayed") == "true"
    assert b.json()["id"] == a.json()["id"]
    assert b.json() == a.json(), "the stored response is replayed"
    # Only one object exists.
    ids = [p["id"] for p in api.get("/v1/payment_intents", params={"limit": 100}).json()["data"]]
    assert ids.count(a.json()["id"]) == 1


def test_replay_via_library():
    key = str(uuid.uuid4())
    a = stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method_types=["card_present"],
                                    idempotency_key=key)
    b = stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method_types=["card_present"],
                                    idempotency_key=key)
    assert a.id == b.id
    assert b.last_response.headers.get("Idempotent-Replayed") == "true"


def test_same_key_other_params_is_idempotency_error(server):
    key = str(uuid.uuid4())
    stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method_types=["card_present"],
                                idempotency_key=key)
    e = expect_error(stripe.IdempotencyError, stripe.PaymentIntent.create, amount=2000, currency="usd",
                     payment_method_types=["card_present"], idempotency_key=key)
    assert e.http_status == 400
    assert e.error.type == "idempotency_error"

    r = raw(server).post("/v1/payment_intents", {**PI_FORM, "amount": "999"}, headers={"Idempotency-Key": key})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "idempotency_error"


def test_same_key_other_endpoint_is_idempotency_error(server):
    key = str(uuid.uuid4())
    api = raw(server)
    a = api.post("/v1/payment_intents", PI_FORM, headers={"Idempotency-Key": key})
    assert a.status_code == 200
    b = api.post("/v1/terminal/locations", {"display_name": "x", "address[line1]": "1 Main St",
                                            "address[city]": "Springfield", "address[postal_code]": "12345",
                                            "address[country]": "US"}, headers={"Idempotency-Key": key})
    assert b.status_code == 400, b.text
    assert b.json()["error"]["type"] == "idempotency_error"


def test_reader_action_replay_does_not_restart_action(server, reader):
    """A POS retrying process_payment_intent with the same key after a network error gets the same answer."""
    pi = stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method_types=["card_present"])
    key = str(uuid.uuid4())
    api = raw(server)
    a = api.post(f"/v1/terminal/readers/{reader.id}/process_payment_intent", {"payment_intent": pi.id},
                 headers={"Idempotency-Key": key})
    assert a.status_code == 200, a.text
    b = api.post(f"/v1/terminal/readers/{reader.id}/process_payment_intent", {"payment_intent": pi.id},
                 headers={"Idempotency-Key": key})
    assert b.status_code == 200
    assert b.headers.get("Idempotent-Replayed") == "true"
    assert b.json()["action"] == a.json()["action"]


def test_keys_are_scoped_per_account(server, key_b):
    key = str(uuid.uuid4())
    a = raw(server).post("/v1/payment_intents", PI_FORM, headers={"Idempotency-Key": key})
    b = raw(server, key_b).post("/v1/payment_intents", PI_FORM, headers={"Idempotency-Key": key})
    assert a.status_code == 200 and b.status_code == 200, (a.text, b.text)
    assert b.headers.get("Idempotent-Replayed") in (None, "false")
    assert a.json()["id"] != b.json()["id"]


def test_error_response_replayed(server):
    """Stripe stores and replays the result of a request that ran, errors included."""
    key = str(uuid.uuid4())
    api = raw(server)
    a = api.post("/v1/refunds", {"payment_intent": "pi_doesnotexist"}, headers={"Idempotency-Key": key})
    assert a.status_code in (400, 404)
    b = api.post("/v1/refunds", {"payment_intent": "pi_doesnotexist"}, headers={"Idempotency-Key": key})
    assert b.status_code == a.status_code
    assert b.json()["error"]["code"] == a.json()["error"]["code"]
