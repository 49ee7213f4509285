"""The merchant's day from issue 12, through the official stripe library against `tillgate serve` and a
`tillgate sim zvt` subprocess whose journal (`--journal`) is the terminal's own ledger: a manual
PaymentIntent held and canceled, one captured in part, one paid and partly refunded. For each, the
terminal's net booking equals tillgate's amount_received minus refunds; the end of day settles what
tillgate says it took and is recorded as a matched batch."""

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
