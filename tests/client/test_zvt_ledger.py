"""The merchant's day from issue 12, through the official stripe library against `tillgate serve` and a
`tillgate sim zvt` subprocess whose journal (`--journal`) is the terminal's own ledger: a manual
PaymentIntent held and canceled, one captured in part, one paid and partly refunded. For each, the
terminal's net booking equals tillgate's amount_received minus refunds; the end of day settles what
tillgate says it took and is recorded as a matched batch. And a SIGKILL while the terminal books a
capture or a release: after the restart the retry reports the terminal's booking, never a second."""

import time

import requests
import stripe

from conftest import using
from test_zvt import zvt_sims
from tg import field, wait_for


def net_on_terminal(journal, charge, refunds):
    """What the journal books for one charge: its payment or book total, less its refunds."""
    receipts = {field(charge, "tillgate", "terminal", "receipt_no"),
                field(charge, "tillgate", "terminal", "book_total", "receipt_no")}
    receipts |= {field(r, "tillgate", "terminal", "receipt_no") for r in refunds if r.status == "succeeded"}
    net = 0
    for e in journal:
        if e["receipt_no"] in receipts and not e["reversed"]:
            if e["kind"] in ("payment", "book_total"):
                net += e["amount"]
            elif e["kind"] == "refund":
                net -= e["amount"]
    return net


def test_manual_capture_cancel_refund_and_end_of_day_agree_with_the_terminal(server_factory, tmp_path):
    srv = server_factory("ledger")
    with using(srv), zvt_sims(tmp_path, 1, "--authorization-delay-ms", "30") as (sim,):
        reader = stripe.terminal.Reader.create(registration_code=sim.code, label="Kasse 1")

        def pay(amount, manual, until):
            pi = stripe.PaymentIntent.create(amount=amount, currency="eur",
                                             payment_method_types=["card_present"],
                                             capture_method="manual" if manual else "automatic")
            stripe.terminal.Reader.process_payment_intent(reader.id, payment_intent=pi.id)
            return wait_for(lambda: stripe.PaymentIntent.retrieve(pi.id),
                            lambda p: p.status == until, 15, what=f"{amount} {until}")

        held = pay(5000, True, "requires_capture")
        assert [e["kind"] for e in sim.journal()] == ["reservation"], sim.journal()
        canceled = stripe.PaymentIntent.cancel(held.id)
        assert canceled.status == "canceled"

        partial = pay(3000, True, "requires_capture")
        captured = stripe.PaymentIntent.capture(partial.id, amount_to_capture=2000)
        assert captured.amount_received == 2000

        paid = pay(1500, False, "succeeded")
        refund = stripe.Refund.create(payment_intent=paid.id, amount=500)
        assert refund.status == "succeeded"

        journal = sim.journal()
        total = 0
        for pi in (canceled, captured, paid):
            pi = stripe.PaymentIntent.retrieve(pi.id)
            charge = stripe.Charge.retrieve(pi.latest_charge)
            refunds = stripe.Refund.list(payment_intent=pi.id).data
            ours = pi.amount_received - sum(r.amount for r in refunds if r.status == "succeeded")
            theirs = net_on_terminal(journal, charge, refunds)
            assert ours == theirs, f"{pi.id}: tillgate {ours}, terminal {theirs}: {journal}"
            total += ours
        assert total == 3000
        reservations = [e["receipt_no"] for e in journal if e["kind"] == "reservation"]
        settled = [e["of"] for e in journal if e["kind"] in ("book_total", "release")]
        assert sorted(reservations) == sorted(settled), journal

        r = requests.post(f"{srv.base_url}/v1/terminal/readers/{reader.id}/end_of_day",
                          auth=(srv.api_key, ""), timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["report"]["total"] == total
        r = requests.get(f"{srv.base_url}/v1/terminal/readers/{reader.id}/batches",
                         auth=(srv.api_key, ""), timeout=30)
        batch = r.json()["data"][0]
        assert batch["status"] == "matched", batch
        assert batch["terminal"]["amount"] == batch["tillgate"]["amount"] == 3000, batch


def test_a_kill_while_the_terminal_books_a_capture_or_a_release_is_settled_from_the_terminal(
        server_factory, tmp_path):
    """SIGKILL of tillgate while Book Total and Pre-Authorisation Reversal are at the terminal's host:
    the terminal books them anyway. After the restart the POS retries (with a new key, since the
    first request never got an answer); tillgate reads the terminal's record first and reports that
    booking — one book total, one release, the same money on both sides."""
    import threading

    srv = server_factory("ledger-kill")
    with using(srv), zvt_sims(tmp_path, 1, "--authorization-delay-ms", "30",
                              "--host-delay-ms", "1500") as (sim,):
        reader = stripe.terminal.Reader.create(registration_code=sim.code, label="Kasse 2")

        def held(amount):
            pi = stripe.PaymentIntent.create(amount=amount, currency="eur", capture_method="manual",
                                             payment_method_types=["card_present"])
            stripe.terminal.Reader.process_payment_intent(reader.id, payment_intent=pi.id)
            wait_for(lambda: stripe.PaymentIntent.retrieve(pi.id),
                     lambda p: p.status == "requires_capture", 15, what="the hold")
            return pi.id

        def killed_during(call, kind):
            before = sum(1 for e in sim.journal() if e["kind"] == kind)
            t = threading.Thread(target=lambda: _swallow(call), daemon=True)
            t.start()
            time.sleep(0.6)  # the command is at the terminal, its host still deciding
            srv.restart()
            stripe.api_base = srv.base_url
            t.join(timeout=30)
            wait_for(lambda: sum(1 for e in sim.journal() if e["kind"] == kind),
                     lambda n: n == before + 1, 15, what=f"the terminal's {kind}")

        def retried(call, until, pi_id):
            for attempt in range(100):
                cur = stripe.PaymentIntent.retrieve(pi_id)
                if cur.status == until:
                    return cur
                try:
                    call(f"{pi_id}-retry-{attempt}")
                except (stripe.InvalidRequestError, stripe.APIConnectionError, stripe.APIError) as e:
                    assert not isinstance(e, stripe.InvalidRequestError) or \
                        (e.code or "").startswith("terminal_reader_"), str(e)
                    time.sleep(0.3)
            raise AssertionError(f"{pi_id} never reached {until}")

        capture = held(2000)
        killed_during(lambda: stripe.PaymentIntent.capture(capture, amount_to_capture=1500,
                                                           idempotency_key=f"{capture}-first"),
                      "book_total")
        captured = retried(lambda k: stripe.PaymentIntent.capture(capture, amount_to_capture=1500,
                                                                  idempotency_key=k),
                           "succeeded", capture)
        assert captured.amount_received == 1500

        cancel = held(900)
        killed_during(lambda: stripe.PaymentIntent.cancel(cancel, idempotency_key=f"{cancel}-first"),
                      "release")
        retried(lambda k: stripe.PaymentIntent.cancel(cancel, idempotency_key=k), "canceled", cancel)

        journal = sim.journal()
        assert [e["amount"] for e in journal if e["kind"] == "book_total"] == [1500], journal
        assert len([e for e in journal if e["kind"] == "release"]) == 1, journal
        reservations = sorted(e["receipt_no"] for e in journal if e["kind"] == "reservation")
        assert reservations == sorted(e["of"] for e in journal if e["kind"] in ("book_total", "release"))
        booked = sum(e["amount"] for e in journal if e["kind"] in ("payment", "book_total"))
        assert booked == 1500


def _swallow(call):
    try:
        call()
    except Exception:  # the server was killed under this request: no answer is the point
        pass
