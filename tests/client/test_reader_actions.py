"""Other reader actions: collect + confirm, set_reader_display, cancel_action, replace, busy."""

import time

import pytest
import stripe

from conftest import using
from tg import (Reader, expect_error, field, idof, new_pi, pay, present, wait_action_done,
                wait_pi_settled)


def test_collect_then_confirm(reader):
    pi = new_pi(2500)
    r = Reader.collect_payment_method(reader.id, payment_intent=pi.id)
    assert r.action.type == "collect_payment_method"
    assert r.action.status == "in_progress"
    assert idof(r.action.collect_payment_method.payment_intent) == pi.id

    present(reader.id, "5555555555554444")
    r = wait_action_done(reader.id, action_type="collect_payment_method")
    assert r.action.status == "succeeded", r.action
    # The POS can inspect the card before authorising.
    pm_id = idof(field(r.action, "collect_payment_method", "payment_method"))
    assert pm_id and pm_id.startswith("pm_"), r.action
    pm = stripe.PaymentMethod.retrieve(pm_id)
    assert pm.card_present.brand == "mastercard" and pm.card_present.last4 == "4444"
    pi = stripe.PaymentIntent.retrieve(pi.id)
    assert pi.status == "requires_confirmation", "Stripe: collected, not yet authorised"
    assert idof(pi.payment_method) == pm_id
    assert pi.amount_received == 0

    r = Reader.confirm_payment_intent(reader.id, payment_intent=pi.id)
    assert r.action.type == "confirm_payment_intent"
    assert idof(r.action.confirm_payment_intent.payment_intent) == pi.id
    r = wait_action_done(reader.id, action_type="confirm_payment_intent")
    assert r.action.status == "succeeded", r.action
    pi = wait_pi_settled(pi.id)
    assert pi.status == "succeeded"
    assert pi.amount_received == 2500
    assert idof(pi.payment_method) == pm_id


def test_collect_then_confirm_declined(reader):
    pi = new_pi(1000)
    Reader.collect_payment_method(reader.id, payment_intent=pi.id)
    present(reader.id, "4000000000009995")
    wait_action_done(reader.id, action_type="collect_payment_method")
    Reader.confirm_payment_intent(reader.id, payment_intent=pi.id)
    r = wait_action_done(reader.id, action_type="confirm_payment_intent")
    assert r.action.status == "failed"
    assert r.action.failure_code == "card_declined"
    pi = wait_pi_settled(pi.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.decline_code == "insufficient_funds"


def test_set_reader_display_cart(reader):
    cart = {"currency": "usd", "line_items": [{"amount": 450, "description": "Flat white", "quantity": 2},
                                              {"amount": 300, "description": "Croissant", "quantity": 1}],
            "tax": 120, "total": 1320}
    r = Reader.set_reader_display(reader.id, type="cart", cart=cart)
    assert r.action.type == "set_reader_display"
    # As Stripe documents it: the cart stays the reader's action in progress while it is shown.
    assert r.action.status == "in_progress"
    disp = r.action.set_reader_display
    assert disp.type == "cart"
    assert disp.cart.currency == "usd"
    assert disp.cart.tax == 120 and disp.cart.total == 1320
    items = [(li.amount, li.description, li.quantity) for li in disp.cart.line_items]
    assert items == [(450, "Flat white", 2), (300, "Croissant", 1)]
    time.sleep(0.3)
    r = Reader.retrieve(reader.id)
    assert r.action.type == "set_reader_display" and r.action.status == "in_progress", r.action
    # cancel_action clears the screen, as POS code does after the sale.
    r = Reader.cancel_action(reader.id)
    assert r.action is None, r.action
    # A cart on the screen does not block taking the payment: the payment replaces it.
    Reader.set_reader_display(reader.id, type="cart", cart=cart)
    pi = new_pi(1320)
    _, pi = pay(reader.id, pi.id)
    assert pi.status == "succeeded"


def test_set_reader_display_requires_cart(reader):
    e = expect_error(stripe.InvalidRequestError, Reader.set_reader_display, reader.id, type="cart")
    assert e.http_status == 400
    assert e.code == "parameter_missing"


def test_cancel_action_before_card(reader):
    pi = new_pi(1000)
    Reader.process_payment_intent(reader.id, payment_intent=pi.id)
    r = Reader.cancel_action(reader.id)
    assert r.id == reader.id
    r = wait_for_not_in_progress(reader.id)
    assert r.action is None or r.action.status == "failed", r.action
    pi = stripe.PaymentIntent.retrieve(pi.id)
    assert pi.status == "requires_payment_method", "cancel_action must not cancel the PaymentIntent"
    assert pi.amount_received == 0
    # A card presented after the cancel takes no money.
    try:
        present(reader.id, "4242424242424242")
    except stripe.InvalidRequestError:
        pass
    time.sleep(0.3)
    assert stripe.PaymentIntent.retrieve(pi.id).status == "requires_payment_method"
    # The reader is free again and the same PaymentIntent can still be paid.
    _, pi = pay(reader.id, pi.id)
    assert pi.status == "succeeded"


def wait_for_not_in_progress(reader_id):
    from tg import wait_for
    return wait_for(lambda: Reader.retrieve(reader_id),
                    lambda r: r.action is None or r.action.status != "in_progress",
                    what="action to stop being in_progress")


def test_replace_before_card(reader):
    first = new_pi(1000)
    second = new_pi(2000)
    Reader.process_payment_intent(reader.id, payment_intent=first.id)
    r = Reader.process_payment_intent(reader.id, payment_intent=second.id)
    assert r.action.type == "process_payment_intent"
    assert r.action.status == "in_progress"
    assert idof(r.action.process_payment_intent.payment_intent) == second.id

    present(reader.id, "4242424242424242")
    r = wait_action_done(reader.id)
    assert r.action.status == "succeeded"
    assert idof(r.action.process_payment_intent.payment_intent) == second.id
    assert wait_pi_settled(second.id).status == "succeeded"
    first = stripe.PaymentIntent.retrieve(first.id)
    assert first.status == "requires_payment_method", "the replaced intent must not be charged"
    assert first.amount_received == 0 and first.latest_charge is None


def test_process_requires_payment_method_state(reader):
    pi = new_pi(1000)
    pay(reader.id, pi.id)
    e = expect_error(stripe.InvalidRequestError, Reader.process_payment_intent, reader.id, payment_intent=pi.id)
    assert e.http_status == 400
    assert e.code == "intent_invalid_state"

    canceled = new_pi(1000)
    stripe.PaymentIntent.cancel(canceled.id)
    e = expect_error(stripe.InvalidRequestError, Reader.process_payment_intent, reader.id,
                     payment_intent=canceled.id)
    assert e.code == "intent_invalid_state"


def test_process_requires_payment_intent_param(reader):
    e = expect_error(stripe.InvalidRequestError, Reader.process_payment_intent, reader.id)
    assert e.http_status == 400
    assert e.code == "parameter_missing"
    assert e.param == "payment_intent"


def test_present_without_action_is_refused(location):
    r = Reader.create(registration_code="simulated-wpe", location=location.id)
    e = expect_error(stripe.InvalidRequestError, present, r.id, "4242424242424242")
    assert e.http_status == 400


class TestBusyAfterCard:
    """Once a card is presented and authorisation is under way, the reader is busy."""

    def test_busy_after_card(self, slow_server):
        with using(slow_server):
            loc = stripe.terminal.Location.create(display_name="Slow store", address={
                "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"})
            rd = Reader.create(registration_code="simulated-wpe", location=loc.id)
            first = new_pi(1000)
            second = new_pi(2000)
            Reader.process_payment_intent(rd.id, payment_intent=first.id)
            present(rd.id, "4242424242424242")
            t0 = time.monotonic()

            e = expect_error(stripe.InvalidRequestError, Reader.process_payment_intent, rd.id,
                             payment_intent=second.id)
            assert e.http_status == 400
            assert e.code == "terminal_reader_busy"
            assert e.error.type == "invalid_request_error"

            e = expect_error(stripe.InvalidRequestError, Reader.cancel_action, rd.id)
            assert e.http_status == 400
            assert e.code == "terminal_reader_busy"

            e = expect_error(stripe.InvalidRequestError, Reader.set_reader_display, rd.id, type="cart",
                             cart={"currency": "usd", "line_items": [{"amount": 1, "description": "x",
                                                                       "quantity": 1}], "total": 1})
            assert e.code == "terminal_reader_busy"
            assert time.monotonic() - t0 < 1.5, "checks ran after the simulated authorisation ended"

            r = Reader.retrieve(rd.id)
            assert r.action.status == "in_progress"
            assert idof(r.action.process_payment_intent.payment_intent) == first.id

            r = wait_action_done(rd.id, timeout=10)
            assert r.action.status == "succeeded"
            assert wait_pi_settled(first.id, timeout=10).status == "succeeded"
            assert stripe.PaymentIntent.retrieve(second.id).status == "requires_payment_method"
            # Free again afterwards.
            r = Reader.process_payment_intent(rd.id, payment_intent=second.id)
            assert r.action.status == "in_progress"
            Reader.cancel_action(rd.id)

    def test_processing_status_while_authorising(self, slow_server):
        with using(slow_server):
            loc = stripe.terminal.Location.create(display_name="Slow store 2", address={
                "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"})
            rd = Reader.create(registration_code="simulated-wpe", location=loc.id)
            pi = new_pi(1000)
            Reader.process_payment_intent(rd.id, payment_intent=pi.id)
            present(rd.id)
            got = stripe.PaymentIntent.retrieve(pi.id)
            assert got.status in ("processing", "requires_payment_method"), got.status
            wait_action_done(rd.id, timeout=10)
            assert wait_pi_settled(pi.id, timeout=10).status == "succeeded"
