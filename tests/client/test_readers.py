"""Readers: register simulated readers, retrieve, update, delete, list filters, expand."""

import time

import pytest
import stripe

from tg import expect_error, field, idof

Reader = stripe.terminal.Reader
Location = stripe.terminal.Location

CODES = {
    "simulated-wpe": "simulated_wisepos_e",
    "simulated-s700": "simulated_stripe_s700",
    "simulated-s710": "simulated_stripe_s710",
}


@pytest.mark.parametrize("code,device_type", sorted(CODES.items()))
def test_register_simulated_reader(location, code, device_type):
    before_ms = int(time.time() * 1000) - 5 * 60 * 1000
    r = Reader.create(registration_code=code, location=location.id, label="Front till",
                      metadata={"lane": "1"})
    assert r.id.startswith("tmr_")
    assert r.object == "terminal.reader"
    assert r.device_type == device_type
    assert r.label == "Front till"
    assert idof(r.location) == location.id
    assert r.metadata.to_dict() == {"lane": "1"}
    assert r.status == "online"
    assert r.livemode is False
    assert r.action is None
    assert isinstance(r.serial_number, str) and r.serial_number
    assert field(r, "device_sw_version") is None or isinstance(r.device_sw_version, str)
    assert "ip_address" in r
    # last_seen_at is in milliseconds since the epoch (unlike every other timestamp).
    assert isinstance(r.last_seen_at, int)
    assert r.last_seen_at > before_ms, f"last_seen_at={r.last_seen_at} does not look like epoch milliseconds"
    assert r.last_seen_at < int(time.time() * 1000) + 60_000


def test_label_defaults_to_registration_code(location):
    r = Reader.create(registration_code="simulated-wpe", location=location.id)
    assert r.label == "simulated-wpe"


def test_retrieve(reader, location):
    got = Reader.retrieve(reader.id)
    assert got.id == reader.id
    assert got.label == reader.label
    assert got.device_type == "simulated_wisepos_e"
    assert idof(got.location) == location.id
    assert got.serial_number == reader.serial_number


def test_update_label_and_metadata(reader):
    upd = Reader.modify(reader.id, label="Back till", metadata={"lane": "7", "floor": "2"})
    assert upd.label == "Back till"
    assert upd.metadata.to_dict() == {"lane": "7", "floor": "2"}
    got = Reader.retrieve(reader.id)
    assert got.label == "Back till"
    assert got.metadata.to_dict() == {"lane": "7", "floor": "2"}


def test_delete(location):
    r = Reader.create(registration_code="simulated-wpe", location=location.id)
    res = Reader.delete(r.id)
    assert res.id == r.id
    assert res.deleted is True
    e = expect_error(stripe.InvalidRequestError, Reader.retrieve, r.id)
    assert e.http_status == 404 and e.code == "resource_missing"
    assert r.id not in [x.id for x in Reader.list(location=location.id, limit=100).data]


def test_list_filters(location):
    other = Location.create(display_name="Other store", address={"line1": "2 Side St", "city": "Springfield",
                                                                 "postal_code": "12345", "country": "US"})
    wpe = Reader.create(registration_code="simulated-wpe", location=location.id)
    s700 = Reader.create(registration_code="simulated-s700", location=location.id)
    s710 = Reader.create(registration_code="simulated-s710", location=other.id)

    by_loc = Reader.list(location=location.id, limit=100)
    assert by_loc.object == "list"
    assert by_loc.url == "/v1/terminal/readers"
    assert {r.id for r in by_loc.data} == {wpe.id, s700.id}
    assert [r.id for r in by_loc.data] == [s700.id, wpe.id], "newest first"

    by_other = Reader.list(location=other.id)
    assert [r.id for r in by_other.data] == [s710.id]

    by_type = Reader.list(device_type="simulated_stripe_s700", limit=100)
    assert by_type.data, "device_type filter returned nothing"
    assert all(r.device_type == "simulated_stripe_s700" for r in by_type.data)
    assert s700.id in [r.id for r in by_type.data]

    both = Reader.list(device_type="simulated_wisepos_e", location=location.id)
    assert [r.id for r in both.data] == [wpe.id]

    online = Reader.list(status="online", location=location.id)
    assert {r.id for r in online.data} == {wpe.id, s700.id}
    offline = Reader.list(status="offline", location=location.id)
    assert offline.data == []

    by_serial = Reader.list(serial_number=s710.serial_number)
    assert [r.id for r in by_serial.data] == [s710.id]


def test_expand_location_on_retrieve(reader, location):
    got = Reader.retrieve(reader.id, expand=["location"])
    assert not isinstance(got.location, str), "location not expanded"
    assert got.location.id == location.id
    assert got.location.object == "terminal.location"
    assert got.location.display_name == location.display_name


def test_expand_data_location_on_list(location):
    Reader.create(registration_code="simulated-wpe", location=location.id)
    Reader.create(registration_code="simulated-s700", location=location.id)
    page = Reader.list(location=location.id, expand=["data.location"])
    assert len(page.data) == 2
    for r in page.data:
        assert not isinstance(r.location, str), "data.location not expanded"
        assert r.location.id == location.id
        assert r.location.object == "terminal.location"


def test_register_requires_registration_code(location):
    e = expect_error(stripe.InvalidRequestError, Reader.create, location=location.id)
    assert e.http_status == 400
    assert e.code == "parameter_missing"
    assert e.param == "registration_code"


def test_register_unknown_location():
    e = expect_error(stripe.InvalidRequestError, Reader.create, registration_code="simulated-wpe",
                     location="tml_doesnotexist")
    assert e.code == "resource_missing"
    assert e.http_status in (400, 404)
