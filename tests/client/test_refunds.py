"""Refunds: partial, full, over-refund refused, via /v1/refunds and via the reader; failing refund card."""

import stripe

from tg import (Reader, expect_error, field, idof, paid_pi, present, wait_action_done, wait_for)


def charge_of(pi):
    return stripe.Charge.retrieve(idof(stripe.PaymentIntent.retrieve(pi.id).latest_charge))


def test_partial_then_full_refund(reader):
    pi = paid_pi(reader.id, 1000)
    ch_id = idof(pi.latest_charge)

    r1 = stripe.Refund.create(payment_intent=pi.id, amount=300, reason="requested_by_customer",
                              metadata={"rma": "7"})
    assert r1.id.startswith("re_")
    assert r1.object == "refund"
    assert r1.amount == 300
    assert r1.status == "succeeded"
    assert r1.charge == ch_id
    assert r1.payment_intent == pi.id
    assert r1.currency == "usd"
    assert r1.reason == "requested_by_customer"
    assert r1.metadata.to_dict() == {"rma": "7"}
    ch = charge_of(pi)
    assert ch.amount_refunded == 300
    assert ch.refunded is False

    r2 = stripe.Refund.create(payment_intent=pi.id)  # the rest
    assert r2.amount == 700
    assert r2.status == "succeeded"
    ch = charge_of(pi)
    assert ch.amount_refunded == 1000
    assert ch.refunded is True

    got = stripe.Refund.retrieve(r1.id)
    assert got.amount == 300 and got.charge == ch_id
    listed = [r.id for r in stripe.Refund.list(payment_intent=pi.id).data]
    assert set(listed) == {r1.id, r2.id}
    assert listed == [r2.id, r1.id], "newest first"
    # The PaymentIntent itself stays succeeded.
    assert stripe.PaymentIntent.retrieve(pi.id).status == "succeeded"


def test_refund_by_charge(reader):
    pi = paid_pi(reader.id, 1500)
    ch_id = idof(pi.latest_charge)
    r = stripe.Refund.create(charge=ch_id, amount=500)
    assert r.charge == ch_id
    assert r.payment_intent == pi.id
    assert r.amount == 500
    assert stripe.Charge.retrieve(ch_id).amount_refunded == 500
    assert stripe.Refund.list(charge=ch_id).data[0].id == r.id


def test_over_refund_refused(reader):
    pi = paid_pi(reader.id, 1000)
    stripe.Refund.create(payment_intent=pi.id, amount=400)
    e = expect_error(stripe.InvalidRequestError, stripe.Refund.create, payment_intent=pi.id, amount=601)
    assert e.http_status == 400
    assert e.code in ("amount_too_large", "charge_already_refunded"), e.code
    assert charge_of(pi).amount_refunded == 400


def test_refund_after_full_refund_refused(reader):
    pi = paid_pi(reader.id, 1000)
    stripe.Refund.create(payment_intent=pi.id)
    e = expect_error(stripe.InvalidRequestError, stripe.Refund.create, payment_intent=pi.id, amount=1)
    assert e.http_status == 400
    assert e.code in ("amount_too_large", "charge_already_refunded"), e.code
    e = expect_error(stripe.InvalidRequestError, stripe.Refund.create, payment_intent=pi.id)
    assert e.code in ("amount_too_large", "charge_already_refunded"), e.code
    ch = charge_of(pi)
    assert ch.amount_refunded == 1000 and ch.refunded is True


def test_refund_more_than_amount_refused(reader):
    pi = paid_pi(reader.id, 1000)
    e = expect_error(stripe.InvalidRequestError, stripe.Refund.create, payment_intent=pi.id, amount=1001)
    assert e.http_status == 400
    assert e.code in ("amount_too_large", "charge_already_refunded"), e.code
    assert charge_of(pi).amount_refunded == 0


def test_refund_of_partially_captured_limited_to_captured(reader):
    pi = paid_pi(reader.id, 2000, capture_method="manual")
    stripe.PaymentIntent.capture(pi.id, amount_to_capture=1200)
    e = expect_error(stripe.InvalidRequestError, stripe.Refund.create, payment_intent=pi.id, amount=1201)
    assert e.code in ("amount_too_large", "charge_already_refunded"), e.code
    r = stripe.Refund.create(payment_intent=pi.id)
    assert r.amount == 1200


def test_refund_unpaid_intent_refused():
    pi = stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method_types=["card_present"])
    e = expect_error(stripe.InvalidRequestError, stripe.Refund.create, payment_intent=pi.id)
    assert e.http_status == 400


def finish_reader_refund(reader_id, number="4242424242424242"):
    """Wait for the refund_payment action; if the simulated reader waits for the card, present it."""
    try:
        return wait_action_done(reader_id, timeout=1.5, action_type="refund_payment")
    except AssertionError:
        present(reader_id, number)
        return wait_action_done(reader_id, action_type="refund_payment")


def test_refund_payment_on_reader(reader):
    pi = paid_pi(reader.id, 1000)
    r = Reader.refund_payment(reader.id, payment_intent=pi.id, amount=400, metadata={"why": "broken cup"})
    assert r.action.type == "refund_payment"
    assert r.action.status in ("in_progress", "succeeded")
    assert idof(field(r.action, "refund_payment", "payment_intent")) == pi.id
    assert r.action.refund_payment.amount == 400
    r = finish_reader_refund(reader.id)
    assert r.action.status == "succeeded", r.action
    refund_id = idof(field(r.action, "refund_payment", "refund"))
    assert refund_id and refund_id.startswith("re_"), r.action
    refund = stripe.Refund.retrieve(refund_id)
    assert refund.amount == 400 and refund.status == "succeeded"
    assert refund.payment_intent == pi.id
    ch = charge_of(pi)
    assert ch.amount_refunded == 400 and ch.refunded is False


def test_refund_payment_on_reader_by_charge_full(reader):
    pi = paid_pi(reader.id, 800)
    ch_id = idof(pi.latest_charge)
    r = Reader.refund_payment(reader.id, charge=ch_id)
    assert idof(field(r.action, "refund_payment", "charge")) == ch_id
    r = finish_reader_refund(reader.id)
    assert r.action.status == "succeeded", r.action
    ch = stripe.Charge.retrieve(ch_id)
    assert ch.amount_refunded == 800 and ch.refunded is True


def test_refund_payment_on_reader_over_refund(reader):
    pi = paid_pi(reader.id, 1000)
    stripe.Refund.create(payment_intent=pi.id, amount=900)
    try:
        r = Reader.refund_payment(reader.id, payment_intent=pi.id, amount=200)
    except stripe.InvalidRequestError as e:  # refused up front: fine
        assert e.http_status == 400
        assert e.code in ("amount_too_large", "charge_already_refunded"), e.code
    else:  # or accepted by the reader and failed
        r = finish_reader_refund(reader.id)
        assert r.action.status == "failed", r.action
        assert r.action.failure_code in ("amount_too_large", "charge_already_refunded"), r.action
    assert charge_of(pi).amount_refunded == 900


def test_refund_fails_later_for_card_5126(reader):
    pi = paid_pi(reader.id, 1000, number="4000000000005126")
    r = stripe.Refund.create(payment_intent=pi.id, amount=1000)
    assert r.status in ("pending", "succeeded", "failed")
    r = wait_for(lambda: stripe.Refund.retrieve(r.id), lambda x: x.status == "failed",
                 what="refund to fail (card 4000000000005126)")
    assert r.status == "failed"
    ch = wait_for(lambda: charge_of(pi), lambda c: c.amount_refunded == 0,
                  what="failed refund to be given back on the charge")
    assert ch.refunded is False
