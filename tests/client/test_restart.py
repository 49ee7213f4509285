"""Crash safety: SIGKILL the server, start it again on the same database.

Everything created before the crash is still there; a payment that was in flight on a reader ends in a
definite state (never stuck in_progress / processing), and nothing is charged twice.
"""

import time

import pytest
import stripe

from conftest import using
from tg import (Reader, field, idof, new_pi, pay, present, wait_action_done, wait_for,
                wait_pi_settled)

SETTLE = 15.0  # seconds allowed after a restart for in-flight work to reach a definite state


def succeeded_charges(pi_id):
    return [c for c in stripe.Charge.list(payment_intent=pi_id, limit=100).auto_paging_iter()
            if c.payment_intent == pi_id and c.status == "succeeded"]


@pytest.fixture
def crash_server(server_factory):
    # Own database; authorisation takes 1.5 s so the server can be killed mid-authorisation.
    srv = server_factory("crash", extra_args=["--sim-auth-delay-ms", "1500"])
    with using(srv):
        yield srv
    srv.terminate()


@pytest.mark.slow
def test_sigkill_and_restart(crash_server):
    srv = crash_server
    loc = stripe.terminal.Location.create(display_name="Crash store", address={
        "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
        metadata={"k": "v"})
    r_paid = Reader.create(registration_code="simulated-wpe", location=loc.id, label="paid till")
    r_auth = Reader.create(registration_code="simulated-s700", location=loc.id, label="authorising till")
    r_wait = Reader.create(registration_code="simulated-s710", location=loc.id, label="waiting till")

    paid = new_pi(1000, metadata={"order": "1"})
    _, paid = pay(r_paid.id, paid.id, timeout=10)
    assert paid.status == "succeeded"
    refund = stripe.Refund.create(payment_intent=paid.id, amount=100)
    manual = new_pi(700, capture_method="manual")
    _, manual = pay(r_paid.id, manual.id, timeout=10)
    assert manual.status == "requires_capture"

    # A card presented, authorisation under way (1.5 s) when the server dies.
    authorising = new_pi(2500)
    Reader.process_payment_intent(r_auth.id, payment_intent=authorising.id)
    present(r_auth.id, "4242424242424242")
    # A reader that has the command but no card yet.
    waiting = new_pi(3300)
    Reader.process_payment_intent(r_wait.id, payment_intent=waiting.id)
    assert Reader.retrieve(r_auth.id).action.status == "in_progress"

    srv.restart()  # SIGKILL + start on the same database
    stripe.api_base = srv.base_url

    # Everything is retrievable.
    assert stripe.terminal.Location.retrieve(loc.id).metadata.to_dict() == {"k": "v"}
    for r in (r_paid, r_auth, r_wait):
        got = Reader.retrieve(r.id)
        assert got.label == r.label and got.device_type == r.device_type
    got = stripe.PaymentIntent.retrieve(paid.id)
    assert got.status == "succeeded" and got.amount_received == 1000
    assert got.metadata.to_dict() == {"order": "1"}
    assert stripe.Charge.retrieve(idof(paid.latest_charge)).amount_refunded == 100
    assert stripe.Refund.retrieve(refund.id).amount == 100
    assert stripe.PaymentIntent.retrieve(manual.id).status == "requires_capture"
    assert stripe.PaymentIntent.capture(manual.id).status == "succeeded"

    # The in-flight authorisation ends in a definite state.
    pi = wait_for(lambda: stripe.PaymentIntent.retrieve(authorising.id),
                  lambda p: p.status in ("succeeded", "requires_payment_method"), SETTLE,
                  what="the payment interrupted mid-authorisation to reach a definite state")
    r = wait_for(lambda: Reader.retrieve(r_auth.id),
                 lambda x: x.action is None or x.action.status != "in_progress", SETTLE,
                 what="the interrupted reader action to leave in_progress")
    ch = succeeded_charges(authorising.id)
    if pi.status == "succeeded":
        assert len(ch) == 1, ch
        assert pi.amount_received == 2500
        assert r.action is None or r.action.status == "succeeded"
    else:
        assert ch == [], "requires_payment_method but a charge succeeded"
        assert r.action is None or r.action.status == "failed"
        # The POS retries on the same PaymentIntent: exactly one charge in the end.
        _, pi = pay(r_auth.id, authorising.id, timeout=10)
        assert pi.status == "succeeded"
        assert len(succeeded_charges(authorising.id)) == 1

    # The reader that was waiting for a card is not stuck: either the action ended, or it still
    # accepts the card and completes.
    try:
        r = wait_for(lambda: Reader.retrieve(r_wait.id),
                     lambda x: x.action is None or x.action.status != "in_progress", 3.0)
    except AssertionError:
        present(r_wait.id, "4242424242424242")
        r = wait_action_done(r_wait.id, timeout=10)
        assert r.action.status == "succeeded"
        assert wait_pi_settled(waiting.id, timeout=10).status == "succeeded"
    else:
        w = stripe.PaymentIntent.retrieve(waiting.id)
        assert w.status == "requires_payment_method"
        _, w = pay(r_wait.id, waiting.id, timeout=10)
        assert w.status == "succeeded"
    assert len(succeeded_charges(waiting.id)) == 1

    # Readers are usable after the restart.
    fresh = new_pi(1200)
    _, fresh = pay(r_paid.id, fresh.id, timeout=10)
    assert fresh.status == "succeeded"


@pytest.mark.slow
def test_sigterm_is_graceful(server_factory):
    srv = server_factory("graceful")
    with using(srv):
        pi = new_pi(1000)
    rc = srv.terminate(timeout=15)
    assert rc == 0, f"SIGTERM should exit 0, got {rc}"
    srv.start()
    with using(srv):
        assert stripe.PaymentIntent.retrieve(pi.id).amount == 1000
    srv.terminate()
