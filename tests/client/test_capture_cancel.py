"""Manual capture (full and partial) and cancelling PaymentIntents."""

import time

import stripe

from tg import Reader, expect_error, idof, new_pi, paid_pi


def test_manual_capture_full(reader):
    pi = paid_pi(reader.id, 3000, capture_method="manual")
    assert pi.status == "requires_capture"
    assert pi.capture_method == "manual"
    assert pi.amount_capturable == 3000
    assert pi.amount_received == 0
    ch = stripe.Charge.retrieve(idof(pi.latest_charge))
    assert ch.captured is False
    assert ch.paid is True
    assert ch.amount_captured == 0

    cap = stripe.PaymentIntent.capture(pi.id)
    assert cap.status == "succeeded"
    assert cap.amount_received == 3000
    assert cap.amount_capturable == 0
    ch = stripe.Charge.retrieve(idof(cap.latest_charge))
    assert ch.captured is True
    assert ch.amount_captured == 3000
    assert stripe.PaymentIntent.retrieve(pi.id).status == "succeeded"


def test_manual_capture_partial(reader):
    pi = paid_pi(reader.id, 2000, capture_method="manual")
    cap = stripe.PaymentIntent.capture(pi.id, amount_to_capture=1500)
    assert cap.status == "succeeded"
    assert cap.amount_received == 1500
    assert cap.amount_capturable == 0
    ch = stripe.Charge.retrieve(idof(cap.latest_charge))
    assert ch.captured is True
    assert ch.amount == 2000
    assert ch.amount_captured == 1500


def test_capture_more_than_capturable_refused(reader):
    pi = paid_pi(reader.id, 1000, capture_method="manual")
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.capture, pi.id, amount_to_capture=1001)
    assert e.http_status == 400
    assert stripe.PaymentIntent.retrieve(pi.id).status == "requires_capture"


def test_capture_twice_refused(reader):
    pi = paid_pi(reader.id, 1000, capture_method="manual")
    stripe.PaymentIntent.capture(pi.id)
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.capture, pi.id)
    assert e.http_status == 400
    got = stripe.PaymentIntent.retrieve(pi.id)
    assert got.status == "succeeded" and got.amount_received == 1000


def test_capture_requires_capture_state():
    pi = new_pi(1000, capture_method="manual")
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.capture, pi.id)
    assert e.http_status == 400


def test_cancel_unpaid_intent():
    pi = new_pi(1000)
    before = int(time.time()) - 5
    c = stripe.PaymentIntent.cancel(pi.id, cancellation_reason="requested_by_customer")
    assert c.status == "canceled"
    assert c.cancellation_reason == "requested_by_customer"
    assert isinstance(c.canceled_at, int) and c.canceled_at >= before
    got = stripe.PaymentIntent.retrieve(pi.id)
    assert got.status == "canceled"
    assert got.cancellation_reason == "requested_by_customer"


def test_cancel_without_reason():
    pi = new_pi(1000)
    c = stripe.PaymentIntent.cancel(pi.id)
    assert c.status == "canceled"
    assert c.cancellation_reason is None


def test_cancel_uncaptured_releases_authorisation(reader):
    pi = paid_pi(reader.id, 1800, capture_method="manual")
    c = stripe.PaymentIntent.cancel(pi.id, cancellation_reason="abandoned")
    assert c.status == "canceled"
    assert c.cancellation_reason == "abandoned"
    assert c.amount_received == 0
    assert c.amount_capturable == 0
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.capture, pi.id)
    assert e.http_status == 400


def test_cancel_succeeded_refused(reader):
    pi = paid_pi(reader.id, 1000)
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.cancel, pi.id)
    assert e.http_status == 400
    assert stripe.PaymentIntent.retrieve(pi.id).status == "succeeded"


def test_cancel_invalid_reason():
    pi = new_pi(1000)
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.cancel, pi.id,
                     cancellation_reason="because")
    assert e.http_status == 400
    assert e.param == "cancellation_reason"
