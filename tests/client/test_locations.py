"""Locations: create, retrieve, update, list, delete."""

import secrets

import pytest
import stripe

from tg import expect_error, field

Location = stripe.terminal.Location

ADDRESS = {"line1": "221B Baker St", "line2": "Flat B", "city": "London", "postal_code": "NW1 6XE",
           "state": "LND", "country": "GB"}


def test_create_and_retrieve():
    name = "Baker Street " + secrets.token_hex(3)
    loc = Location.create(display_name=name, address=ADDRESS, metadata={"store": "42"})
    assert loc.id.startswith("tml_")
    assert loc.object == "terminal.location"
    assert loc.display_name == name
    assert loc.address.to_dict() == ADDRESS
    assert loc.metadata.to_dict() == {"store": "42"}
    assert loc.livemode is False

    got = Location.retrieve(loc.id)
    assert got.id == loc.id
    assert got.display_name == name
    assert got.address.to_dict() == ADDRESS
    assert got.metadata.to_dict() == {"store": "42"}


def test_update_display_name_and_address():
    loc = Location.create(display_name="Old name", address=ADDRESS)
    upd = Location.modify(loc.id, display_name="New name", address={"line1": "1 New Rd", "city": "Leeds",
                                                                     "postal_code": "LS1 1AA", "country": "GB"})
    assert upd.id == loc.id
    assert upd.display_name == "New name"
    assert upd.address.line1 == "1 New Rd"
    assert upd.address.city == "Leeds"
    got = Location.retrieve(loc.id)
    assert got.display_name == "New name"
    assert got.address.city == "Leeds"


def test_configuration_overrides_roundtrip():
    # Stripe: configuration_overrides is the id of a terminal.configuration (a string).
    cfg = stripe.terminal.Configuration.create(name="Store override")
    loc = Location.create(display_name="With overrides", address=ADDRESS, configuration_overrides=cfg.id)
    assert field(loc, "configuration_overrides") == cfg.id
    assert Location.retrieve(loc.id).configuration_overrides == cfg.id
    # An id that names no configuration of this account is refused, as Stripe does.
    with pytest.raises(stripe.InvalidRequestError) as e:
        Location.create(display_name="Dangling", address=ADDRESS, configuration_overrides="tmc_test123")
    assert e.value.http_status == 404


def test_list_contains_created_newest_first():
    a = Location.create(display_name="List A", address=ADDRESS)
    b = Location.create(display_name="List B", address=ADDRESS)
    page = Location.list(limit=100)
    assert page.object == "list"
    assert page.url == "/v1/terminal/locations"
    ids = [l.id for l in page.data]
    assert a.id in ids and b.id in ids
    assert ids.index(b.id) < ids.index(a.id), "newest first"
    assert all(l.object == "terminal.location" for l in page.data)


def test_delete():
    loc = Location.create(display_name="Doomed", address=ADDRESS)
    res = Location.delete(loc.id)
    assert res.id == loc.id
    assert res.deleted is True
    e = expect_error(stripe.InvalidRequestError, Location.retrieve, loc.id)
    assert e.http_status == 404
    assert e.code == "resource_missing"
    assert loc.id not in [l.id for l in Location.list(limit=100).data]


def test_missing_display_name():
    e = expect_error(stripe.InvalidRequestError, Location.create, address=ADDRESS)
    assert e.http_status == 400
    assert e.code == "parameter_missing"
    assert e.param == "display_name"
