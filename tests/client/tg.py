"""Small helpers shared by the client-library tests (bounded polling, payments on simulated readers)."""

from __future__ import annotations

import time
from typing import Any, Callable

import requests
import stripe

Reader = stripe.terminal.Reader

# Terminal outcome of a reader action.
FINAL_ACTION = ("succeeded", "failed")
OUTCOME_WAIT = 5.0  # seconds; simulated authorisation delay is 0 on the shared server


def idof(x: Any) -> str | None:
    """An id whether the field is expanded (object) or not (string)."""
    if x is None or isinstance(x, str):
        return x
    return x.id


def field(obj: Any, *path: str, default=None):
    """obj.a.b.c, or default if any step is missing/None (StripeObject is not a dict in stripe>=14)."""
    cur = obj
    for p in path:
        if cur is None:
            return default
        try:
            cur = cur[p]
        except (KeyError, TypeError, IndexError):
            return default
    return cur


def wait_for(fetch: Callable[[], Any], cond: Callable[[Any], bool], timeout: float = OUTCOME_WAIT,
             interval: float = 0.05, what: str = "condition") -> Any:
    """Poll fetch() until cond(value) holds; bounded. Returns the last value, fails with it otherwise."""
    deadline = time.monotonic() + timeout
    val = fetch()
    while not cond(val):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value:\n{val}")
        time.sleep(interval)
        val = fetch()
    return val


def action_status(reader) -> str | None:
    return field(reader, "action", "status")


def wait_action_done(reader_id: str, timeout: float = OUTCOME_WAIT, action_type: str | None = None):
    """Wait until the reader's action has a final status (and, optionally, is of the given type)."""
    def ok(r):
        if action_type is not None and field(r, "action", "type") != action_type:
            return False
        return action_status(r) in FINAL_ACTION
    return wait_for(lambda: Reader.retrieve(reader_id), ok, timeout,
                    what=f"reader {reader_id} action{' ' + action_type if action_type else ''} to finish")


def new_pi(amount: int = 1000, currency: str = "usd", **kw):
    kw.setdefault("payment_method_types", ["card_present"])
    return stripe.PaymentIntent.create(amount=amount, currency=currency, **kw)


def present(reader_id: str, number: str | None = None, **kw):
    if number is not None:
        kw["card_present"] = {"number": number}
    return Reader.TestHelpers.present_payment_method(reader_id, **kw)


def pay(reader_id: str, pi_id: str, number: str | None = "4242424242424242", timeout: float = OUTCOME_WAIT,
        **process_kw):
    """process_payment_intent + present a card; wait for the outcome. Returns (reader, payment_intent)."""
    r = Reader.process_payment_intent(reader_id, payment_intent=pi_id, **process_kw)
    assert field(r, "action", "type") == "process_payment_intent", r
    present(reader_id, number)
    r = wait_action_done(reader_id, timeout, "process_payment_intent")
    pi = wait_pi_settled(pi_id, timeout)
    return r, pi


def wait_pi_settled(pi_id: str, timeout: float = OUTCOME_WAIT, **retrieve_kw):
    """Wait until the PaymentIntent is out of `processing` (the outcome of a presentation has landed)."""
    return wait_for(lambda: stripe.PaymentIntent.retrieve(pi_id, **retrieve_kw),
                    lambda p: p.status != "processing", timeout, what=f"{pi_id} to leave processing")


def paid_pi(reader_id: str, amount: int = 1000, number: str = "4242424242424242", **pi_kw):
    pi = new_pi(amount, **pi_kw)
    _, pi = pay(reader_id, pi.id, number)
    expected = "requires_capture" if pi_kw.get("capture_method") == "manual" else "succeeded"
    assert pi.status == expected, pi
    return pi


class Raw:
    """Plain HTTP (requests) against the server, for headers the library hides."""

    def __init__(self, base_url: str, api_key: str | None):
        self.base_url = base_url
        self.s = requests.Session()
        if api_key:
            self.s.headers["Authorization"] = f"Bearer {api_key}"

    def get(self, path, **kw):
        kw.setdefault("timeout", 20)
        return self.s.get(self.base_url + path, **kw)

    def post(self, path, data=None, **kw):
        kw.setdefault("timeout", 20)
        return self.s.post(self.base_url + path, data=data, **kw)

    def delete(self, path, **kw):
        kw.setdefault("timeout", 20)
        return self.s.delete(self.base_url + path, **kw)


def raw(server, api_key: str | None = "default") -> Raw:
    return Raw(server.base_url, server.api_key if api_key == "default" else api_key)


def expect_error(exc_type, fn, *args, **kw):
    """Call fn and return the stripe error it raises (fails if it does not raise exc_type)."""
    try:
        res = fn(*args, **kw)
    except exc_type as e:
        return e
    raise AssertionError(f"expected {exc_type.__name__}, call succeeded with:\n{res}")


def assert_record_in_database(server, driver: str, reader: str):
    """The driver's durable record of `reader` is a row of the server's database (where an instance
    taking the reader over reads it), and no state directory of files is kept beside it."""
    import sqlite3
    con = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = con.execute("SELECT data FROM driver_records WHERE driver = ? AND reader = ?",
                           (driver, reader)).fetchall()
    finally:
        con.close()
    assert len(rows) == 1, f"no {driver} record of {reader} in the database"
    for legacy in ("zvt-state", "caisse-ap-state", "stripe-state"):
        assert not (server.workdir / legacy).exists(), f"{legacy} kept beside the database"
