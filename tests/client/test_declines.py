"""Declines: test cards and test amounts decide the outcome; the PaymentIntent goes back to
requires_payment_method with last_payment_error, the reader action fails with failure_code."""

import pytest
import stripe

from tg import Reader, field, idof, new_pi, pay

# number -> (accepted last_payment_error.code values, decline_code or None if not asserted)
DECLINE_CARDS = {
    "4000000000000002": ({"card_declined"}, "generic_decline"),
    "4000000000009995": ({"card_declined"}, "insufficient_funds"),
    "4000000000009987": ({"card_declined"}, "lost_card"),
    "4000000000009979": ({"card_declined"}, "stolen_card"),
    # Stripe reports an expired card as code expired_card (decline_code expired_card).
    "4000000000000069": ({"expired_card", "card_declined"}, "expired_card"),
    "4000000000000119": ({"processing_error"}, None),
}

DECLINE_AMOUNTS = {
    1001: "call_issuer",
    1005: "generic_decline",
    1055: "incorrect_pin",
    1065: "withdrawal_count_limit_exceeded",
    1075: "pin_try_exceeded",
}


def assert_declined(r, pi, codes, decline_code):
    assert pi.status == "requires_payment_method", pi
    err = pi.last_payment_error
    assert err is not None, "last_payment_error not set after a decline"
    assert err.type == "card_error"
    assert err.code in codes, err
    if decline_code is not None:
        assert err.decline_code == decline_code, err
    assert isinstance(err.message, str) and err.message
    assert pi.amount_received == 0
    assert r.action.type == "process_payment_intent"
    assert r.action.status == "failed", r.action
    assert r.action.failure_code == err.code, r.action
    assert isinstance(field(r.action, "failure_message"), str) and r.action.failure_message


@pytest.mark.parametrize("number", sorted(DECLINE_CARDS), ids=lambda n: DECLINE_CARDS[n][1] or "processing_error")
def test_decline_card(reader, number):
    codes, decline_code = DECLINE_CARDS[number]
    pi = new_pi(1000)
    r, pi = pay(reader.id, pi.id, number)
    assert_declined(r, pi, codes, decline_code)


@pytest.mark.parametrize("amount", sorted(DECLINE_AMOUNTS), ids=lambda a: DECLINE_AMOUNTS[a])
def test_decline_amount(reader, amount):
    pi = new_pi(amount)
    r, pi = pay(reader.id, pi.id, "4242424242424242")
    # Stripe reports PIN declines from a reader with their own error code (incorrect_pin is in
    # Stripe's error-code list "for payments made with card readers"); either form is Stripe's.
    code = DECLINE_AMOUNTS[amount]
    assert_declined(r, pi, {"card_declined", code}, code)


def test_amount_ending_00_approved(reader):
    pi = new_pi(1100)
    r, pi = pay(reader.id, pi.id, "4242424242424242")
    assert r.action.status == "succeeded"
    assert pi.status == "succeeded"


def test_declined_charge_recorded_as_failed(reader):
    pi = new_pi(1000)
    _, pi = pay(reader.id, pi.id, "4000000000009995")
    charges = [c for c in stripe.Charge.list(payment_intent=pi.id).data if c.payment_intent == pi.id]
    # Stripe records the declined attempt as a failed charge; at minimum, nothing was paid.
    assert all(not c.paid and c.status == "failed" for c in charges), charges
    for c in charges:
        assert c.failure_code == "card_declined"


def test_retry_after_decline_succeeds(reader):
    pi = new_pi(1000)
    _, pi = pay(reader.id, pi.id, "4000000000000002")
    assert pi.status == "requires_payment_method"
    r, pi = pay(reader.id, pi.id, "4242424242424242")
    assert r.action.status == "succeeded"
    assert pi.status == "succeeded"
    assert pi.amount_received == 1000
    succeeded = [c for c in stripe.Charge.list(payment_intent=pi.id, limit=100).data
                 if c.payment_intent == pi.id and c.status == "succeeded"]
    assert [c.id for c in succeeded] == [idof(pi.latest_charge)]
