"""Caisse-AP (French) terminals through the official stripe library: `tillgate sim caisse-ap` subprocesses
on free loopback ports, registered with caisse-ap://HOST:PORT, paid, refused, abandoned, timed out,
refunded (CD=1) and cancelled (CD=2); a lost answer recovered from the duplicate ticket (CD=3) without a
second charge; tillgate SIGKILLed while the customer is at the terminal. Each terminal's journal
(`--journal`) is matched one to one against tillgate's charges and refunds by authorisation number."""

import contextlib
import json
import subprocess
import time

import stripe

from conftest import BIN, METRICS, free_port, using
from tg import assert_record_in_database, field, wait_for


class CaisseSim:
    def __init__(self, tmp_path, name, *args):
        self.name = name
        self.port = free_port()
        self.log_path = tmp_path / f"{name}.log"
        self.journal_path = tmp_path / f"{name}.jsonl"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN), "sim", "caisse-ap", "--listen", f"127.0.0.1:{self.port}",
             "--journal", str(self.journal_path), *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    def wait_ready(self, deadline):
        while "caisse-ap://" not in self.log_path.read_text(errors="replace"):
            assert self.proc.poll() is None, f"{self.name} exited:\n{self.log_path.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"{self.name} did not start in time"
            time.sleep(0.05)

    @property
    def code(self):
        return f"caisse-ap://127.0.0.1:{self.port}"

    def journal(self):
        if not self.journal_path.exists():
            return []
        return [json.loads(l) for l in self.journal_path.read_text().splitlines() if l.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextlib.contextmanager
def caisse_sim(tmp_path, name, *args):
    defaults = () if "--answer-delay-ms" in args else ("--answer-delay-ms", "50")
    sim = CaisseSim(tmp_path, name, *defaults, *args)
    try:
        sim.wait_ready(time.monotonic() + 30)
        yield sim
    finally:
        sim.stop()


def pay(reader_id, amount, until=None):
    pi = stripe.PaymentIntent.create(amount=amount, currency="eur", payment_method_types=["card_present"])
    stripe.terminal.Reader.process_payment_intent(reader_id, payment_intent=pi.id)
    wait_for(lambda: stripe.terminal.Reader.retrieve(reader_id),
             lambda r: field(r, "action", "status") in ("succeeded", "failed"), 20,
             what=f"the payment of {amount}")
    pi = stripe.PaymentIntent.retrieve(pi.id)
    if until:
        assert pi.status == until, pi
    return pi


def assert_ledgers_agree(sim, pis):
    """Every journal entry belongs to exactly one charge or refund (by authorisation number), and per
    PaymentIntent the terminal's net booking equals amount_received minus amount_refunded."""
    journal = sim.journal()
    by_auth = {e["auth_code"]: e for e in journal}
    assert len(by_auth) == len(journal), journal
    seen = set()
    for pi in pis:
        pi = stripe.PaymentIntent.retrieve(pi.id)
        if not pi.latest_charge:
            continue
        charge = stripe.Charge.retrieve(pi.latest_charge)
        codes = [field(charge, "tillgate", "terminal", "auth_code")]
        codes += [field(r, "tillgate", "terminal", "auth_code")
                  for r in stripe.Refund.list(charge=charge.id).data if r.status == "succeeded"]
        entries = [by_auth[c] for c in codes]  # KeyError: tillgate reports a booking the terminal lacks
        seen.update(codes)
        net = 0
        for e in entries:
            if e["kind"] == "payment" and not e["cancelled"]:
                net += e["amount"]
            elif e["kind"] == "refund":
                net -= e["amount"]
        assert net == pi.amount_received - charge.amount_refunded, (pi.id, entries)
    assert seen == set(by_auth), f"terminal bookings tillgate does not know: {set(by_auth) - seen}"


def test_pay_refund_cancel_and_the_journal_matches_one_to_one(server, tmp_path):
    with caisse_sim(tmp_path, "caisse") as sim:
        reader = stripe.terminal.Reader.create(registration_code=sim.code, label="Caisse 1")
        assert reader.device_type == "caisse-ap"
        assert reader.status == "online"

        paid = pay(reader.id, 1250, "succeeded")
        charge = stripe.Charge.retrieve(paid.latest_charge)
        card = charge.payment_method_details.card_present
        assert (card.last4, card.brand, card.exp_month, card.exp_year) == ("0674", "visa", 12, 2030)
        assert "MONTANT 12,50 EUR" in str(field(charge, "tillgate", "receipt_lines"))

        refund = stripe.Refund.create(payment_intent=paid.id, amount=250)
        assert refund.status == "succeeded"
        assert field(refund, "tillgate", "terminal", "kind") == "refund"

        cancelled = pay(reader.id, 3000, "succeeded")
        refund = stripe.Refund.create(payment_intent=cancelled.id)
        assert refund.status == "succeeded"
        assert field(refund, "tillgate", "terminal", "kind") == "cancellation"

        assert [(e["kind"], e["amount"]) for e in sim.journal()] == [
            ("payment", 1250), ("refund", 250), ("payment", 3000), ("cancellation", 3000)]
        assert_ledgers_agree(sim, [paid, cancelled])
        METRICS["Caisse-AP: journal vs charges/refunds"] = f"{len(sim.journal())} bookings matched one to one"


def test_refused_abandoned_and_timed_out_payments_book_nothing(server_factory, tmp_path):
    srv = server_factory("caisse_faults", extra_args=["--caisse-ap-answer-timeout", "2s"])
    with using(srv):
        for behaviour, check in [
            ("refuse", lambda p, a: p.last_payment_error.code == "card_declined"
                and p.last_payment_error.decline_code == "generic_decline"),
            # The customer left on the terminal: the reader's action says so, the intent stays payable.
            ("abandon", lambda p, a: a.failure_code == "canceled"),
            ("timeout", lambda p, a: a.failure_code == "terminal_reader_timeout"
                and "nothing was charged" in a.failure_message),
        ]:
            with caisse_sim(tmp_path, behaviour, "--behaviour", behaviour) as sim:
                reader = stripe.terminal.Reader.create(registration_code=sim.code)
                pi = pay(reader.id, 1000, "requires_payment_method")
                action = stripe.terminal.Reader.retrieve(reader.id).action
                assert action.status == "failed", (behaviour, action)
                assert check(pi, action), (behaviour, pi.last_payment_error, action)
                assert sim.journal() == [], (behaviour, sim.journal())
                assert stripe.Charge.list(payment_intent=pi.id).data == [] or all(
                    c.status != "succeeded" for c in stripe.Charge.list(payment_intent=pi.id).data)


def test_a_lost_answer_is_recovered_without_a_second_charge(server, tmp_path):
    with caisse_sim(tmp_path, "drop", "--behaviour", "drop-after-booking-always") as sim:
        reader = stripe.terminal.Reader.create(registration_code=sim.code)
        pis = [pay(reader.id, amount, "succeeded") for amount in (1800, 2200, 2200)]
        time.sleep(0.5)  # a (wrong) second debit would show in the journal by now
        assert [e["kind"] for e in sim.journal()] == ["payment"] * 3, sim.journal()
        assert_ledgers_agree(sim, pis)


def test_tillgate_killed_mid_payment_settles_after_restart_without_a_second_debit(server_factory, tmp_path):
    srv = server_factory("caisse_kill")
    with using(srv), caisse_sim(tmp_path, "slow", "--answer-delay-ms", "3000") as sim:
        reader = stripe.terminal.Reader.create(registration_code=sim.code).id
        pi = stripe.PaymentIntent.create(amount=2500, currency="eur", payment_method_types=["card_present"])
        stripe.terminal.Reader.process_payment_intent(reader, payment_intent=pi.id)
        time.sleep(0.5)
        assert stripe.PaymentIntent.retrieve(pi.id).status != "succeeded"

        srv.restart()  # SIGKILL while the customer is at the terminal; same database
        assert_record_in_database(srv, "caisse-ap", reader)
        wait_for(lambda: stripe.terminal.Reader.retrieve(reader),
                 lambda r: field(r, "action", "status") in ("succeeded", "failed"), 60,
                 interval=0.2, what="the interrupted action to be settled after the restart")
        settled = stripe.PaymentIntent.retrieve(pi.id)
        assert settled.status == "succeeded", settled
        time.sleep(1.0)
        journal = sim.journal()
        assert [(e["kind"], e["amount"]) for e in journal] == [("payment", 2500)], journal
        assert_ledgers_agree(sim, [settled])
        METRICS["Caisse-AP: tillgate SIGKILLed mid-payment"] = (
            f"settled after restart as {settled.status}, terminal journal {len(journal)} booking(s)")
