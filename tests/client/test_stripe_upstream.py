"""A merchant's Stripe readers driven through tillgate, with the official `stripe` library.

Without internet, "Stripe" is a second `tillgate serve` (B) with simulated readers, as Stripe's test
mode has; gateway A is connected to it with the real `tillgate upstream add --api-base` and drives
B's readers with driver `stripe`. Both ledgers are compared: every payment A reports is exactly one
succeeded PaymentIntent at B for the same amount, every refund one refund at B.

The stream kills A with SIGKILL at random moments (CI size 150 payments, 8 kills;
TILLGATE_UPSTREAM_CRASH_PAYMENTS / _KILLS for the 500-payment run): every payment ends in its
intended final state at A and at B, and none is doubled at B.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time

import pytest
import stripe

from conftest import BIN, METRICS, Server, using
from stripe_spec import RecordingProxy, problems
from tg import field, raw, wait_for

Reader = stripe.terminal.Reader

PAYMENTS = int(os.environ.get("TILLGATE_UPSTREAM_CRASH_PAYMENTS", "150"))
KILLS = int(os.environ.get("TILLGATE_UPSTREAM_CRASH_KILLS", "8"))
DEADLINE = float(os.environ.get("TILLGATE_UPSTREAM_CRASH_DEADLINE", "600"))
B_READERS = 4


def upstream_pair(tmp_path_factory, server_factory, name: str, readers: int = B_READERS,
                  through=None):
    """B ("Stripe") with a location and `readers` simulated readers; A connected to B (through
    `through(b)`'s URL if given) and started; returns (a, b, {A reader id: B reader id}) once A
    imported every reader and shows it online."""
    b = server_factory(f"{name}-b", extra_args=["--heartbeat-interval", "1s"])
    with using(b):
        loc = stripe.terminal.Location.create(
            display_name="Filiale Nord",
            address={"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"})
        b_readers = [Reader.create(registration_code="simulated-wpe", location=loc.id,
                                   label=f"Kasse {i}").id for i in range(readers)]
    a = server_factory(f"{name}-a", extra_args=["--upstream-sync-interval", "500ms",
                                                "--heartbeat-interval", "500ms"], start=False)
    cmd = [str(BIN), "upstream", "add", "--account", "default", "--provider", "stripe",
           "--api-key-stdin", "--api-base", through(b) if through else b.base_url,
           "--database-url", a.database_url]
    p = subprocess.run(cmd, input=b.api_key + "\n", capture_output=True, text=True, timeout=60,
                       cwd=a.workdir)
    assert p.returncode == 0, f"upstream add failed: {p.stdout} {p.stderr}"
    assert b.api_key not in p.stdout + p.stderr, "the upstream key was echoed"
    a.start()
    with using(a):
        listed = wait_for(lambda: Reader.list(limit=100).data,
                          lambda d: len(d) == readers, timeout=30, what="A to import B's readers")
        mine = {r.id: field(r, "tillgate", "upstream", "reader") for r in listed}
        assert sorted(mine.values()) == sorted(b_readers)
        for r in mine:
            wait_for(lambda: Reader.retrieve(r), lambda x: x.status == "online", timeout=30,
                     what=f"{r} online in A")
    return a, b, mine


def mirrors(b: Server, pi_id: str) -> list:
    """B's PaymentIntents made for A's `pi_id`."""
    with using(b):
        return [p for p in stripe.PaymentIntent.list(limit=100).auto_paging_iter()
                if field(p, "metadata", "tillgate_payment_intent") == pi_id]


def charge_of(pi):
    ch = pi.latest_charge
    return stripe.Charge.retrieve(ch if isinstance(ch, str) else ch.id) if ch else None


def present_and_wait(reader_id: str, pi_id: str, number: str):
    Reader.process_payment_intent(reader_id, payment_intent=pi_id)
    Reader.TestHelpers.present_payment_method(reader_id, card_present={"number": number})
    wait_for(lambda: Reader.retrieve(reader_id), lambda r: field(r, "action", "status") != "in_progress",
             timeout=30, what=f"{reader_id} to finish")
    return stripe.PaymentIntent.retrieve(pi_id)


@pytest.mark.slow
def test_payments_declines_holds_and_refunds_on_a_stripe_reader_match_stripe(
        tmp_path_factory, server_factory):
    proxies = []

    def recorded(b):
        proxies.append(RecordingProxy(("127.0.0.1", b.port)))
        return proxies[0].url

    a, b, readers = upstream_pair(tmp_path_factory, server_factory, "upflows", through=recorded)
    reader = sorted(readers)[0]
    with using(a):
        # Approved.
        pi = stripe.PaymentIntent.create(amount=2500, currency="eur",
                                         payment_method_types=["card_present"], description="Kaffee")
        pi = present_and_wait(reader, pi.id, "4242424242424242")
        assert pi.status == "succeeded" and pi.amount_received == 2500
        ch = charge_of(pi)
        assert field(ch, "payment_method_details", "card_present", "last4") == "4242"
        approved = pi.id
        # Declined, with Stripe's codes, for each declining test card.
        declined = {}
        for number, code in [("4000000000000002", "card_declined"),
                             ("4000000000009995", "card_declined"),
                             ("4000000000000069", "expired_card")]:
            pi = stripe.PaymentIntent.create(amount=1000, currency="eur",
                                             payment_method_types=["card_present"])
            pi = present_and_wait(reader, pi.id, number)
            assert pi.status == "requires_payment_method", pi
            r = Reader.retrieve(reader)
            assert field(r, "action", "status") == "failed"
            assert field(r, "action", "failure_code") == code, r
            declined[pi.id] = number
        # Manual capture of part of the hold.
        pi = stripe.PaymentIntent.create(amount=4000, currency="eur", capture_method="manual",
                                         payment_method_types=["card_present"])
        pi = present_and_wait(reader, pi.id, "4242424242424242")
        assert pi.status == "requires_capture"
        pi = stripe.PaymentIntent.capture(pi.id, amount_to_capture=3000)
        assert pi.status == "succeeded" and pi.amount_received == 3000
        held = pi.id
        # A canceled hold.
        pi = stripe.PaymentIntent.create(amount=1500, currency="eur", capture_method="manual",
                                         payment_method_types=["card_present"])
        pi = present_and_wait(reader, pi.id, "4242424242424242")
        canceled = stripe.PaymentIntent.cancel(pi.id).id
        # Partial, then the rest, refunded.
        stripe.Refund.create(payment_intent=approved, amount=500)
        stripe.Refund.create(payment_intent=approved)
        stripe.Refund.create(payment_intent=held, amount=1000)
        ours = {p: stripe.PaymentIntent.retrieve(p) for p in [approved, held, canceled, *declined]}
        refunded = {p: charge_of(ours[p]).amount_refunded for p in [approved, held]}
        # The cart on the reader's screen, cleared by cancel_action.
        r = Reader.set_reader_display(reader, type="cart", cart={
            "currency": "eur", "total": 700, "tax": 0,
            "line_items": [{"description": "Brezel", "amount": 350, "quantity": 2}]})
        assert field(r, "action", "status") == "in_progress", r
        Reader.cancel_action(reader)
        # A new reader paired through A, registered at Stripe under the store's location.
        loc = stripe.terminal.Location.list(limit=10).data[0].id
        paired = Reader.create(registration_code="stripe:simulated-s700", location=loc, label="Kasse neu")
        assert field(paired, "tillgate", "upstream", "reader"), paired
    # Stripe pushes A's events to A (the endpoint created at Stripe by the CLI).
    p = subprocess.run([str(BIN), "upstream", "webhook", "--account", "default", "--public-url",
                        a.base_url, "--database-url", a.database_url],
                       capture_output=True, text=True, timeout=60, cwd=a.workdir)
    assert p.returncode == 0, f"upstream webhook failed: {p.stdout} {p.stderr}"

    # Every request A sent to "Stripe" is one Stripe's API has, with parameters its description
    # (the official library's, generated from Stripe's OpenAPI spec) allows.
    sent = list(proxies[0].requests)
    proxies[0].close()
    assert sent, "A sent nothing upstream"
    paths = {f"{m} {'/'.join(x if not x.startswith(('tmr_', 'pi_', 'ch_', 'tml_', 'evt_', 're_')) else '{id}' for x in path.split('/'))}"
             for m, path, _ in sent}
    for must in ["post /v1/payment_intents", "post /v1/terminal/readers/{id}/process_payment_intent",
                 "post /v1/test_helpers/terminal/readers/{id}/present_payment_method",
                 "post /v1/payment_intents/{id}/capture", "post /v1/payment_intents/{id}/cancel",
                 "post /v1/refunds", "post /v1/terminal/readers/{id}/set_reader_display",
                 "post /v1/terminal/readers/{id}/cancel_action", "post /v1/terminal/readers",
                 "get /v1/terminal/readers", "get /v1/terminal/locations", "get /v1/events",
                 "post /v1/webhook_endpoints"]:
        assert must in paths, f"{must} never sent upstream: {sorted(paths)}"
    wrong = problems(sent)
    assert not wrong, "requests Stripe's API description does not allow:\n" + "\n".join(sorted(set(wrong)))
    METRICS["upstream requests checked against Stripe's API description"] = \
        f"{len(sent)} requests, {len(paths)} operations"

    # Stripe's side: one PaymentIntent per payment, the same money.
    for p, mine in ours.items():
        theirs = mirrors(b, p)
        if p in declined:
            assert all(t.status != "succeeded" for t in theirs), theirs
            continue
        assert len(theirs) == 1, f"{p}: {len(theirs)} upstream PaymentIntents"
        t = theirs[0]
        assert t.status == mine.status, (t.status, mine.status)
        assert t.amount_received == mine.amount_received
        if p in refunded:
            with using(b):
                assert charge_of(t).amount_refunded == refunded[p]
    assert refunded == {approved: 2500, held: 1000}


def test_a_stripe_reader_powered_off_at_stripe_is_offline_in_tillgate_with_a_reason(
        tmp_path_factory, server_factory):
    a, b, readers = upstream_pair(tmp_path_factory, server_factory, "upoff", readers=2)
    mine, up = sorted(readers.items())[0]
    t0 = time.monotonic()
    res = raw(b, b.api_key).post(f"/v1/test_helpers/terminal/readers/{up}/power_off")
    assert res.status_code == 200, res.text
    with using(b):
        wait_for(lambda: Reader.retrieve(up), lambda r: r.status == "offline", timeout=30,
                 what="B to see its reader offline")
    t_b = time.monotonic() - t0
    with using(a):
        r = wait_for(lambda: Reader.retrieve(mine), lambda r: r.status == "offline", timeout=30,
                     what="A to show the reader offline")
        t_a = time.monotonic() - t0
        reason = field(r, "tillgate", "health", "last_disconnect", "reason")
        assert reason, r
        other = [x for x in readers if x != mine][0]
        assert Reader.retrieve(other).status == "online"
    # A's poll (500 ms sync, 500 ms heartbeat) adds at most a few of its intervals to B's detection.
    assert t_a - t_b < 3.0, f"B saw it after {t_b:.1f} s, A after {t_a:.1f} s"
    METRICS["Stripe reader offline: upstream detection → tillgate"] = f"+{t_a - t_b:.2f} s"


def retrying(fn, deadline):
    while True:
        try:
            return fn()
        except (stripe.APIConnectionError, stripe.APIError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(DEADLINE + 300)
def test_sigkills_of_the_gateway_never_lose_or_double_a_payment_at_stripe(
        tmp_path_factory, server_factory):
    a, b, readers = upstream_pair(tmp_path_factory, server_factory, "upcrash")
    ids = sorted(readers)
    rng = random.Random(13)
    deadline = time.monotonic() + DEADLINE
    progress = [0]
    kills = []
    stop = threading.Event()

    def killer():
        for at in sorted(rng.sample(range(1, PAYMENTS), KILLS)):
            while progress[0] < at and not stop.is_set():
                time.sleep(0.01)
            if stop.is_set():
                break
            time.sleep(rng.uniform(0.0, 0.4))
            a.restart()
            stripe.api_base = a.base_url
            kills.append(time.monotonic())

    intents = []  # (pi, intended status, amount)
    errors: list[str] = []  # refusals ridden out, shown if the stream fails
    t_start = time.monotonic()
    with using(a):
        t = threading.Thread(target=killer, daemon=True)
        t.start()
        for i in range(PAYMENTS):
            progress[0] = i
            reader = ids[i % len(ids)]
            cancel = i % 10 == 9
            amount = 1000 + i * 100  # whole euros: Stripe's test amounts ending in 01, 05, … decline
            pi = retrying(lambda: stripe.PaymentIntent.create(
                amount=amount, currency="eur", payment_method_types=["card_present"],
                idempotency_key=f"upcrash-pi-{i}"), deadline)
            intents.append((pi.id, "canceled" if cancel else "succeeded", amount))
            if cancel:
                retrying(lambda: stripe.PaymentIntent.cancel(pi.id, idempotency_key=f"upcrash-c-{i}"),
                         deadline)
                continue
            while True:
                assert time.monotonic() < deadline, \
                    f"payment {i} not final before the deadline; last refusals: {errors[-5:]}"
                cur = retrying(lambda: stripe.PaymentIntent.retrieve(pi.id), deadline)
                if cur.status == "succeeded":
                    break
                if cur.status == "processing":
                    time.sleep(0.02)
                    continue
                try:
                    r = Reader.retrieve(reader)
                    busy = field(r, "action", "status") == "in_progress" and \
                        field(r, "action", "process_payment_intent", "payment_intent") == pi.id
                    if not busy:
                        Reader.process_payment_intent(reader, payment_intent=pi.id)
                    Reader.TestHelpers.present_payment_method(reader)
                except (stripe.APIConnectionError, stripe.APIError, stripe.InvalidRequestError) as e:
                    errors.append(f"payment {i}: {type(e).__name__}: {e}")
                    time.sleep(0.05)
        stop.set()
        t.join(timeout=30)
        elapsed = time.monotonic() - t_start
        assert len(kills) >= KILLS // 2, f"only {len(kills)} kills landed during the stream"
        final = {p: retrying(lambda: stripe.PaymentIntent.retrieve(p), deadline) for p, _, _ in intents}
    for p, want, amount in intents:
        assert final[p].status == want, f"{p}: {final[p].status} at A, wanted {want}"
    # Stripe's ledger: exactly one succeeded PaymentIntent for each succeeded payment, none for a
    # canceled one, the same amount.
    with using(b):
        theirs = {}
        for up in stripe.PaymentIntent.list(limit=100).auto_paging_iter():
            mine = field(up, "metadata", "tillgate_payment_intent")
            if mine:
                theirs.setdefault(mine, []).append(up)
    for p, want, amount in intents:
        ok = [u for u in theirs.get(p, []) if u.status == "succeeded"]
        if want == "succeeded":
            assert len(ok) == 1, f"{p}: {len(ok)} succeeded upstream PaymentIntents"
            assert ok[0].amount_received == amount == final[p].amount_received
        else:
            assert not ok, f"{p} was canceled at A but paid at Stripe"
    METRICS[f"upstream crash stream ({PAYMENTS} payments, {len(kills)} SIGKILLs)"] = \
        f"{elapsed:.0f} s, {PAYMENTS / elapsed:.1f} payments/s"
