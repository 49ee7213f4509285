"""Metadata: set, update (merge), unset a key with "", clear all with metadata=""; limits."""

import stripe

from tg import expect_error, new_pi


def test_payment_intent_metadata_merge_and_unset():
    pi = new_pi(1000, metadata={"order": "42", "till": "3"})
    assert pi.metadata.to_dict() == {"order": "42", "till": "3"}
    upd = stripe.PaymentIntent.modify(pi.id, metadata={"till": "", "clerk": "ann"})
    assert upd.metadata.to_dict() == {"order": "42", "clerk": "ann"}
    assert stripe.PaymentIntent.retrieve(pi.id).metadata.to_dict() == {"order": "42", "clerk": "ann"}
    upd = stripe.PaymentIntent.modify(pi.id, metadata={"order": "43"})
    assert upd.metadata.to_dict() == {"order": "43", "clerk": "ann"}


def test_clear_all_metadata():
    pi = new_pi(1000, metadata={"a": "1", "b": "2"})
    upd = stripe.PaymentIntent.modify(pi.id, metadata="")
    assert upd.metadata.to_dict() == {}
    assert stripe.PaymentIntent.retrieve(pi.id).metadata.to_dict() == {}


def test_reader_and_location_metadata(reader, location):
    r = stripe.terminal.Reader.modify(reader.id, metadata={"lane": "1", "kiosk": "yes"})
    r = stripe.terminal.Reader.modify(reader.id, metadata={"kiosk": ""})
    assert r.metadata.to_dict() == {"lane": "1"}
    loc = stripe.terminal.Location.modify(location.id, metadata={"region": "north"})
    loc = stripe.terminal.Location.modify(location.id, metadata={"region": "", "manager": "bo"})
    assert loc.metadata.to_dict() == {"manager": "bo"}
    assert stripe.terminal.Location.retrieve(location.id).metadata.to_dict() == {"manager": "bo"}


def test_default_metadata_is_empty_object():
    pi = new_pi(1000)
    assert pi.metadata.to_dict() == {}


def test_more_than_50_keys_refused():
    md = {f"k{i}": "v" for i in range(51)}
    e = expect_error(stripe.InvalidRequestError, new_pi, 1000, metadata=md)
    assert e.http_status == 400
    ok = new_pi(1000, metadata={f"k{i}": "v" for i in range(50)})
    assert len(ok.metadata.to_dict()) == 50
    e = expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.modify, ok.id, metadata={"one_more": "x"})
    assert e.http_status == 400


def test_metadata_values_are_strings():
    pi = new_pi(1000, metadata={"n": 5})  # the library sends the form value "5"
    assert pi.metadata.n == "5"
