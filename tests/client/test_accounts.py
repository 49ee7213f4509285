"""Two accounts on one server are isolated: B neither sees nor touches A's objects."""

import pytest
import stripe

from tg import Reader, expect_error, idof, new_pi, paid_pi, present, wait_action_done, wait_pi_settled


@pytest.fixture
def a_objects(reader, location):
    pi = paid_pi(reader.id, 1000)
    open_pi = new_pi(500)
    return {"reader": reader, "location": location, "pi": pi, "open_pi": open_pi,
            "charge": idof(pi.latest_charge), "pm": idof(pi.payment_method)}


def test_b_gets_404_on_a_objects(a_objects, key_b):
    checks = [
        (Reader.retrieve, a_objects["reader"].id),
        (stripe.terminal.Location.retrieve, a_objects["location"].id),
        (stripe.PaymentIntent.retrieve, a_objects["pi"].id),
        (stripe.PaymentIntent.retrieve, a_objects["open_pi"].id),
        (stripe.Charge.retrieve, a_objects["charge"]),
        (stripe.PaymentMethod.retrieve, a_objects["pm"]),
    ]
    for fn, oid in checks:
        e = expect_error(stripe.InvalidRequestError, fn, oid, api_key=key_b)
        assert e.http_status == 404, (oid, e)
        assert e.code == "resource_missing", (oid, e)


def test_b_cannot_modify_or_act_on_a_objects(a_objects, key_b):
    rid, pid = a_objects["reader"].id, a_objects["open_pi"].id
    e = expect_error(stripe.InvalidRequestError, Reader.modify, rid, label="hijacked", api_key=key_b)
    assert e.http_status == 404
    e = expect_error(stripe.InvalidRequestError, Reader.delete, rid, api_key=key_b)
    assert e.http_status == 404
    e = expect_error(stripe.InvalidRequestError, Reader.process_payment_intent, rid, payment_intent=pid,
                     api_key=key_b)
    assert e.http_status == 404
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.cancel, pid, api_key=key_b)
    assert e.http_status == 404
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.modify, pid, metadata={"x": "y"},
                     api_key=key_b)
    assert e.http_status == 404
    e = expect_error(stripe.InvalidRequestError, stripe.Refund.create, payment_intent=a_objects["pi"].id,
                     api_key=key_b)
    assert e.code == "resource_missing"
    e = expect_error(stripe.InvalidRequestError, stripe.Refund.create, charge=a_objects["charge"],
                     api_key=key_b)
    assert e.code == "resource_missing"
    # Nothing changed for A.
    assert Reader.retrieve(rid).label == a_objects["reader"].label
    assert stripe.PaymentIntent.retrieve(pid).status == "requires_payment_method"
    assert stripe.Charge.retrieve(a_objects["charge"]).amount_refunded == 0


def test_b_cannot_use_a_payment_intent_on_own_reader(a_objects, key_b):
    loc_b = stripe.terminal.Location.create(display_name="B store", address={
        "line1": "9 B St", "city": "Springfield", "postal_code": "12345", "country": "US"}, api_key=key_b)
    rd_b = Reader.create(registration_code="simulated-wpe", location=loc_b.id, api_key=key_b)
    e = expect_error(stripe.InvalidRequestError, Reader.process_payment_intent, rd_b.id,
                     payment_intent=a_objects["open_pi"].id, api_key=key_b)
    assert e.code == "resource_missing"
    # A cannot register on B's location either.
    e = expect_error(stripe.InvalidRequestError, Reader.create, registration_code="simulated-wpe",
                     location=loc_b.id)
    assert e.code == "resource_missing"


def test_lists_are_per_account(a_objects, key_b):
    b_pis = [p.id for p in stripe.PaymentIntent.list(limit=100, api_key=key_b).auto_paging_iter()]
    assert a_objects["pi"].id not in b_pis and a_objects["open_pi"].id not in b_pis
    b_readers = [r.id for r in Reader.list(limit=100, api_key=key_b).auto_paging_iter()]
    assert a_objects["reader"].id not in b_readers
    b_locs = [l.id for l in stripe.terminal.Location.list(limit=100, api_key=key_b).auto_paging_iter()]
    assert a_objects["location"].id not in b_locs
    b_charges = [c.id for c in stripe.Charge.list(limit=100, api_key=key_b).auto_paging_iter()]
    assert a_objects["charge"] not in b_charges
    # Filtering by A's location from B yields nothing of A's.
    try:
        page = Reader.list(location=a_objects["location"].id, api_key=key_b)
        assert page.data == []
    except stripe.InvalidRequestError as e:
        assert e.code == "resource_missing"


def test_b_can_take_its_own_payment(key_b):
    loc = stripe.terminal.Location.create(display_name="B shop", address={
        "line1": "9 B St", "city": "Springfield", "postal_code": "12345", "country": "US"}, api_key=key_b)
    rd = Reader.create(registration_code="simulated-s700", location=loc.id, api_key=key_b)
    pi = stripe.PaymentIntent.create(amount=4200, currency="usd", payment_method_types=["card_present"],
                                     api_key=key_b)
    Reader.process_payment_intent(rd.id, payment_intent=pi.id, api_key=key_b)
    Reader.TestHelpers.present_payment_method(rd.id, card_present={"number": "4242424242424242"}, api_key=key_b)
    pi = wait_for_pi(pi.id, key_b)
    assert pi.status == "succeeded"
    # ...which A cannot see.
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.retrieve, pi.id)
    assert e.http_status == 404
    e = expect_error(stripe.InvalidRequestError, Reader.retrieve, rd.id)
    assert e.http_status == 404
    # ...and A's present_payment_method on B's reader is refused.
    e = expect_error(stripe.InvalidRequestError, present, rd.id, "4242424242424242")
    assert e.http_status == 404


def wait_for_pi(pi_id, key):
    from tg import wait_for
    return wait_for(lambda: stripe.PaymentIntent.retrieve(pi_id, api_key=key),
                    lambda p: p.status in ("succeeded", "requires_capture") or p.last_payment_error is not None,
                    what="B's payment to finish")
