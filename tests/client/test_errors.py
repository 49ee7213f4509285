"""Error shapes and status codes as the official library expects them; Request-Id on every response."""

import pytest
import requests
import stripe

from tg import Reader, expect_error, raw


@pytest.mark.parametrize("fn,oid", [
    (stripe.PaymentIntent.retrieve, "pi_doesnotexist"),
    (Reader.retrieve, "tmr_doesnotexist"),
    (stripe.terminal.Location.retrieve, "tml_doesnotexist"),
    (stripe.Charge.retrieve, "ch_doesnotexist"),
    (stripe.Refund.retrieve, "re_doesnotexist"),
    (stripe.PaymentMethod.retrieve, "pm_doesnotexist"),
], ids=["payment_intent", "reader", "location", "charge", "refund", "payment_method"])
def test_404_resource_missing(fn, oid):
    e = expect_error(stripe.InvalidRequestError, fn, oid)
    assert e.http_status == 404
    assert e.code == "resource_missing"
    assert e.error.type == "invalid_request_error"
    assert isinstance(e.error.message, str) and e.error.message
    assert e.request_id and e.request_id.startswith("req_")


def test_404_on_action_for_missing_reader():
    pi = stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method_types=["card_present"])
    e = expect_error(stripe.InvalidRequestError, Reader.process_payment_intent, "tmr_doesnotexist",
                     payment_intent=pi.id)
    assert e.http_status == 404
    assert e.code == "resource_missing"


def test_process_missing_payment_intent(reader):
    e = expect_error(stripe.InvalidRequestError, Reader.process_payment_intent, reader.id,
                     payment_intent="pi_doesnotexist")
    assert e.code == "resource_missing"
    assert e.http_status in (400, 404)


def test_bad_key_is_authentication_error():
    e = expect_error(stripe.AuthenticationError, stripe.PaymentIntent.list, api_key="sk_test_not_a_real_key")
    assert e.http_status == 401
    assert e.error.type == "authentication_error"


def test_missing_auth_header(server):
    r = raw(server, api_key=None).get("/v1/payment_intents")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert r.headers.get("Request-Id", "").startswith("req_")


def test_http_basic_auth_accepted(server):
    r = requests.get(server.base_url + "/v1/payment_intents", auth=(server.api_key, ""), timeout=20)
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "list"


def test_missing_param_amount():
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.create, currency="usd",
                     payment_method_types=["card_present"])
    assert e.http_status == 400
    assert e.code == "parameter_missing"
    assert e.param == "amount"
    assert e.error.type == "invalid_request_error"


def test_missing_param_currency():
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.create, amount=1000,
                     payment_method_types=["card_present"])
    assert e.code == "parameter_missing"
    assert e.param == "currency"


def test_invalid_integer(server):
    r = raw(server).post("/v1/payment_intents", {"amount": "ten", "currency": "usd",
                                                 "payment_method_types[]": "card_present"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "parameter_invalid_integer"
    assert err["param"] == "amount"


def test_invalid_capture_method():
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.create, amount=1000, currency="usd",
                     payment_method_types=["card_present"], capture_method="whenever")
    assert e.http_status == 400
    assert e.param == "capture_method"


def test_request_id_on_success_and_error(server):
    api = raw(server)
    ok = api.get("/v1/payment_intents", params={"limit": 1})
    assert ok.status_code == 200
    assert ok.headers.get("Request-Id", "").startswith("req_")
    missing = api.get("/v1/payment_intents/pi_doesnotexist")
    assert missing.status_code == 404
    assert missing.headers.get("Request-Id", "").startswith("req_")
    assert missing.headers["Request-Id"] != ok.headers["Request-Id"]
    body = missing.json()["error"]
    assert body["type"] == "invalid_request_error" and body["code"] == "resource_missing"


def test_request_id_via_library():
    pi = stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method_types=["card_present"])
    assert pi.last_response.request_id.startswith("req_")


def test_stripe_version_header_echoed(server):
    r = raw(server).get("/v1/payment_intents", params={"limit": 1}, headers={"Stripe-Version": "2024-06-20"})
    assert r.status_code == 200
    assert r.headers.get("Stripe-Version") == "2024-06-20"


def test_stripe_account_header_accepted(server):
    r = raw(server).get("/v1/payment_intents", params={"limit": 1},
                        headers={"Stripe-Account": "acct_123"})
    assert r.status_code in (200, 403), r.text  # accepted (ignored) or refused cleanly, never a 5xx


def test_json_content_type_on_errors(server):
    r = raw(server).get("/v1/payment_intents/pi_doesnotexist")
    assert r.headers.get("Content-Type", "").startswith("application/json")


def test_unknown_path_is_404_json(server):
    r = raw(server).get("/v1/no_such_thing")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_limit_out_of_range():
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.list, limit=101)
    assert e.http_status == 400
    assert e.param == "limit"
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.list, limit=0)
    assert e.http_status == 400
