"""The main flow: process_payment_intent on a simulated reader, present a card, PaymentIntent succeeds."""

import pytest
import stripe

from tg import Reader, field, idof, new_pi, pay, present, wait_action_done, wait_pi_settled

CARDS = [
    ("4242424242424242", "visa", "4242"),
    ("5555555555554444", "mastercard", "4444"),
    ("378282246310005", "amex", "0005"),
]


def test_process_payment_intent_happy_path(reader):
    pi = new_pi(1234, description="2 coffees", metadata={"order": "A-1"})
    assert pi.id.startswith("pi_")
    assert pi.object == "payment_intent"
    assert pi.status == "requires_payment_method"
    assert pi.amount == 1234 and pi.currency == "usd"
    assert list(pi.payment_method_types) == ["card_present"]
    assert pi.capture_method == "automatic"

    r = Reader.process_payment_intent(reader.id, payment_intent=pi.id)
    assert r.id == reader.id
    assert r.action.type == "process_payment_intent"
    assert r.action.status == "in_progress"
    assert idof(r.action.process_payment_intent.payment_intent) == pi.id
    # 200 means "the reader has the command", not "paid".
    assert stripe.PaymentIntent.retrieve(pi.id).status == "requires_payment_method"

    present(reader.id, "4242424242424242")
    r = wait_action_done(reader.id, action_type="process_payment_intent")
    assert r.action.status == "succeeded", r.action
    assert field(r.action, "failure_code") is None

    pi = wait_pi_settled(pi.id)
    assert pi.status == "succeeded"
    assert pi.amount_received == 1234
    assert pi.amount_capturable == 0
    assert pi.last_payment_error is None
    assert idof(pi.latest_charge).startswith("ch_")
    assert idof(pi.payment_method).startswith("pm_")
    assert pi.metadata.to_dict() == {"order": "A-1"}


@pytest.mark.parametrize("number,brand,last4", CARDS)
def test_charge_and_payment_method_details(reader, number, brand, last4):
    pi = new_pi(2000)
    _, pi = pay(reader.id, pi.id, number)
    assert pi.status == "succeeded"

    ch = stripe.Charge.retrieve(idof(pi.latest_charge))
    assert ch.object == "charge"
    assert ch.amount == 2000
    assert ch.amount_captured == 2000
    assert ch.amount_refunded == 0
    assert ch.captured is True and ch.paid is True and ch.refunded is False
    assert ch.status == "succeeded"
    assert ch.payment_intent == pi.id
    assert ch.payment_method == idof(pi.payment_method)
    pmd = ch.payment_method_details
    assert pmd.type == "card_present"
    assert pmd.card_present.brand == brand
    assert pmd.card_present.last4 == last4
    assert isinstance(pmd.card_present.exp_month, int) and 1 <= pmd.card_present.exp_month <= 12
    assert isinstance(pmd.card_present.exp_year, int) and pmd.card_present.exp_year >= 2024

    pm = stripe.PaymentMethod.retrieve(idof(pi.payment_method))
    assert pm.id.startswith("pm_")
    assert pm.object == "payment_method"
    assert pm.type == "card_present"
    assert pm.card_present.brand == brand
    assert pm.card_present.last4 == last4


def test_default_card_is_visa_4242(reader):
    pi = new_pi(500)
    _, pi = pay(reader.id, pi.id, number=None)
    assert pi.status == "succeeded"
    ch = stripe.Charge.retrieve(idof(pi.latest_charge))
    assert ch.payment_method_details.card_present.brand == "visa"
    assert ch.payment_method_details.card_present.last4 == "4242"


def test_expand_latest_charge_and_payment_method(reader):
    pi = new_pi(1500)
    pay(reader.id, pi.id, "5555555555554444")
    pi = stripe.PaymentIntent.retrieve(pi.id, expand=["latest_charge", "payment_method"])
    assert not isinstance(pi.latest_charge, str), "latest_charge not expanded"
    assert not isinstance(pi.payment_method, str), "payment_method not expanded"
    assert pi.latest_charge.object == "charge"
    assert pi.latest_charge.id.startswith("ch_")
    assert pi.latest_charge.payment_method_details.card_present.brand == "mastercard"
    assert pi.latest_charge.payment_method_details.card_present.last4 == "4444"
    assert pi.payment_method.object == "payment_method"
    assert pi.payment_method.type == "card_present"
    assert pi.payment_method.card_present.last4 == "4444"


def test_charge_list_by_payment_intent(reader):
    pi = new_pi(700)
    _, pi = pay(reader.id, pi.id)
    charges = stripe.Charge.list(payment_intent=pi.id)
    assert [c.id for c in charges.data] == [idof(pi.latest_charge)]


def test_payment_intent_list_and_retrieve_fields(reader):
    pi = new_pi(333, statement_descriptor="TILLGATE TEST")
    got = stripe.PaymentIntent.retrieve(pi.id)
    assert got.amount == 333
    assert isinstance(got.created, int) and got.created < 10**11, "created is Unix seconds"
    assert got.latest_charge is None and got.payment_method is None
    assert pi.id in [p.id for p in stripe.PaymentIntent.list(limit=10).data]


def test_update_amount_before_payment(reader):
    pi = new_pi(1000)
    upd = stripe.PaymentIntent.modify(pi.id, amount=1200)
    assert upd.amount == 1200
    _, pi = pay(reader.id, pi.id)
    assert pi.status == "succeeded"
    assert pi.amount_received == 1200


def test_reader_action_after_success_is_kept(reader):
    """The reader's `action` is the most recent action, still visible after it finished."""
    pi = new_pi(900)
    pay(reader.id, pi.id)
    r = Reader.retrieve(reader.id)
    assert r.action is not None
    assert r.action.type == "process_payment_intent"
    assert r.action.status == "succeeded"
    assert idof(r.action.process_payment_intent.payment_intent) == pi.id


def test_process_config_accepted(reader):
    pi = new_pi(1000)
    r = Reader.process_payment_intent(reader.id, payment_intent=pi.id,
                                      process_config={"skip_tipping": True,
                                                      "enable_customer_cancellation": True})
    assert r.action.status == "in_progress"
    present(reader.id)
    wait_action_done(reader.id)
    assert wait_pi_settled(pi.id).status == "succeeded"


def test_tip_on_reader(reader):
    pi = new_pi(1000)
    Reader.process_payment_intent(reader.id, payment_intent=pi.id,
                                  process_config={"tipping": {"amount_eligible": 1000}})
    present(reader.id, amount_tip=150)
    r = wait_action_done(reader.id)
    assert r.action.status == "succeeded", r.action
    pi = wait_pi_settled(pi.id)
    assert pi.status == "succeeded"
    assert pi.amount_received == 1150, "Stripe adds an on-reader tip to the amount"
