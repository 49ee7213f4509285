"""ZVT terminals through the official stripe library: `tillgate sim zvt` subprocesses on free loopback
ports, registered with zvt://HOST:PORT?password=…, paid (20 at once), declined, canceled, reversed,
refunded and their day closed — each terminal's journal (`--journal`) matched against the charges —
tillgate SIGKILLed while a customer is at the terminal, diagnosis on demand, and ZVT over TLS."""

import contextlib
import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import stripe

from conftest import BIN, METRICS, free_port, using
from tg import assert_record_in_database, expect_error, field, idof, wait_for

PASSWORD = "314159"


@pytest.fixture
def zvt_sim(tmp_path):
    port = free_port()
    log = open(tmp_path / "sim.log", "wb")
    proc = subprocess.Popen(
        [str(BIN), "sim", "zvt", "--listen", f"127.0.0.1:{port}", "--password", PASSWORD,
         "--authorization-delay-ms", "50"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 15
    while "zvt://" not in (tmp_path / "sim.log").read_text(errors="replace"):
        assert proc.poll() is None, (tmp_path / "sim.log").read_text(errors="replace")
        assert time.monotonic() < deadline, "simulator did not start within 15 s"
        time.sleep(0.05)
    yield f"zvt://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_pay_refund_and_close_the_day_on_a_zvt_terminal(server, zvt_sim):
    reader = stripe.terminal.Reader.create(registration_code=f"{zvt_sim}?password={PASSWORD}",
                                           label="ZVT till")
    assert reader.device_type == "zvt:tillgate-sim"
    assert PASSWORD not in str(reader)

    pi = stripe.PaymentIntent.create(amount=1250, currency="eur",
                                     payment_method_types=["card_present"])
    stripe.terminal.Reader.process_payment_intent(reader.id, payment_intent=pi.id)
    pi = wait_for(lambda: stripe.PaymentIntent.retrieve(pi.id),
                  lambda p: p.status == "succeeded", 15, what="the ZVT payment")
    charge = stripe.Charge.retrieve(pi.latest_charge)
    assert charge.payment_method_details.card_present.last4 == "4444"

    refund = stripe.Refund.create(payment_intent=pi.id)
    assert refund.status == "succeeded"

    r = requests.post(f"{server.base_url}/v1/terminal/readers/{reader.id}/end_of_day",
                      auth=(server.api_key, ""), timeout=20)
    assert r.status_code == 200, r.text
    assert "END OF DAY" in str(r.json()["report"]["receipt_lines"])

    # Diagnosis (06 70) on demand: the terminal checks its host link and prints the result.
    r = requests.post(f"{server.base_url}/v1/terminal/readers/{reader.id}/terminal_diagnosis",
                      auth=(server.api_key, ""), timeout=20)
    assert r.status_code == 200, r.text
    assert r.json()["report"]["succeeded"] is True, r.text
    assert "HOST CONNECTION OK" in str(r.json()["report"]["receipt_lines"])
    # A simulated (non-ZVT) reader has no such command: a Stripe-shaped error, not a fake success.
    sim_reader = stripe.terminal.Reader.create(registration_code="simulated-wpe")
    r = requests.post(f"{server.base_url}/v1/terminal/readers/{sim_reader.id}/terminal_diagnosis",
                      auth=(server.api_key, ""), timeout=20)
    assert r.status_code == 400, r.text
    assert "error" in r.json()


# ---------------------------------------------------------------------------------------------------
# Many terminals at once, and every booking accounted for.

class ZvtSim:
    """One `tillgate sim zvt` subprocess on a free loopback port, its journal mirrored to a file."""

    def __init__(self, workdir, name, *args):
        self.name = name
        self.args = args
        self.log_path = workdir / f"{name}.log"
        self.journal_path = workdir / f"{name}.journal.jsonl"
        self.tries = 0
        self._spawn()

    def _spawn(self):
        # A free port can be taken by another process before the simulator binds it: a few tries.
        self.tries += 1
        self.port = free_port()
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN), "sim", "zvt", "--listen", f"127.0.0.1:{self.port}", "--password", PASSWORD,
             "--journal", str(self.journal_path), *self.args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    def wait_ready(self, deadline):
        while "zvt://" not in self.log_path.read_text(errors="replace"):
            if (self.proc.poll() is not None and self.tries < 5
                    and "Address already in use" in self.log_path.read_text(errors="replace")):
                self._spawn()
                continue
            assert self.proc.poll() is None, f"{self.name} exited:\n{self.log_path.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"{self.name} did not start in time"
            time.sleep(0.05)

    @property
    def code(self):
        return f"zvt://127.0.0.1:{self.port}?password={PASSWORD}"

    def journal(self):
        """What the terminal booked: one dict per payment/refund (reversals mark their payment)."""
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
def zvt_sims(tmp_path, n, *args):
    sims = [ZvtSim(tmp_path, f"sim{i:02d}", "--serial-number", f"TGSIM{i:07d}",
                   "--terminal-id", str(52_600_000 + i), *args) for i in range(n)]
    try:
        deadline = time.monotonic() + 30
        for sim in sims:
            sim.wait_ready(deadline)
        yield sims
    finally:
        for sim in sims:
            sim.stop()


def eod(server, reader_id):
    r = requests.post(f"{server.base_url}/v1/terminal/readers/{reader_id}/end_of_day",
                      auth=(server.api_key, ""), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["report"]


N_SIMS = 20
DELAY_MS = 1000  # the simulated customer takes 1 s at every terminal


def test_twenty_zvt_terminals_at_once_every_booking_matches_a_charge(server, tmp_path):
    with zvt_sims(tmp_path, N_SIMS, "--authorization-delay-ms", str(DELAY_MS)) as sims, \
            ThreadPoolExecutor(N_SIMS) as ex:
        readers = list(ex.map(lambda s: stripe.terminal.Reader.create(
            registration_code=s.code, label=f"ZVT lane {s.name}").id, sims))
        assert len(set(readers)) == N_SIMS
        serials = {stripe.terminal.Reader.retrieve(r).serial_number for r in readers}
        assert serials == {f"TGSIM{i:07d}" for i in range(N_SIMS)}, "each reader is its own terminal"
        pis = {i: [] for i in range(N_SIMS)}  # every PaymentIntent tried on lane i

        def pay(i, amount):
            pi = stripe.PaymentIntent.create(amount=amount, currency="eur",
                                             payment_method_types=["card_present"])
            pis[i].append(pi.id)
            stripe.terminal.Reader.process_payment_intent(readers[i], payment_intent=pi.id)
            return wait_for(lambda: stripe.PaymentIntent.retrieve(pi.id),
                            lambda p: p.status == "succeeded" or p.last_payment_error is not None,
                            30, interval=0.1, what=f"the payment on lane {i}")

        # 1. Twenty payments at once.
        t0 = time.monotonic()
        paid = list(ex.map(lambda i: pay(i, 1000 + 100 * i), range(N_SIMS)))
        elapsed = time.monotonic() - t0
        assert [p.status for p in paid] == ["succeeded"] * N_SIMS, [p.last_payment_error for p in paid]
        # Sequentially this would take at least N × 1 s of customer time.
        assert elapsed < N_SIMS * DELAY_MS / 1000 / 2, f"20 payments took {elapsed:.1f} s: not concurrent"
        METRICS["20 ZVT terminals paying at once (1 s customer each)"] = f"{elapsed:.2f} s wall"

        # 2. Declines (amount …05 do not honour, …51 insufficient funds, …54 expired, …55 PIN, …62 card
        # not readable), at once.
        decline_amounts = {0: 1005, 1: 1051, 2: 1054, 3: 1055, 4: 1062}
        declined = list(ex.map(lambda kv: pay(*kv), decline_amounts.items()))
        assert [p.status for p in declined] == ["requires_payment_method"] * 5, declined
        got = {p.amount: (p.last_payment_error.code, p.last_payment_error.decline_code) for p in declined}
        assert got == {1005: ("card_declined", "generic_decline"),
                       1051: ("card_declined", "insufficient_funds"),
                       1054: ("expired_card", "expired_card"),
                       1055: ("incorrect_pin", "incorrect_pin"),
                       1062: ("processing_error", "processing_error")}, got

        # 3. Cancel: the customer is still at the terminal; the abort reaches it.
        pi = stripe.PaymentIntent.create(amount=4200, currency="eur", payment_method_types=["card_present"])
        pis[5].append(pi.id)
        stripe.terminal.Reader.process_payment_intent(readers[5], payment_intent=pi.id)
        wait_for(lambda: stripe.terminal.Reader.retrieve(readers[5]),
                 lambda r: field(r, "tillgate", "prompt") is not None, 10, what="the terminal's prompt")
        canceled = stripe.terminal.Reader.cancel_action(readers[5])
        assert canceled.action.status == "failed", canceled
        assert stripe.PaymentIntent.retrieve(pi.id).status == "requires_payment_method"

        # 4. Full refunds (reversal, same batch) on lanes 0–9, partial refunds on 10–19, at once.
        def refund(i):
            if i < 10:
                return stripe.Refund.create(payment_intent=paid[i].id)
            return stripe.Refund.create(payment_intent=paid[i].id, amount=300)
        refunds = list(ex.map(refund, range(N_SIMS)))
        assert [r.status for r in refunds] == ["succeeded"] * N_SIMS, refunds

        # 5. End of day on every terminal: its totals are what tillgate booked.
        reports = list(ex.map(lambda r: eod(server, r), readers))

    # The terminals have stopped: their journals are final.
    for i, (sim, report) in enumerate(zip(sims, reports)):
        journal = sim.journal()
        succeeded = [p for p in (stripe.PaymentIntent.retrieve(x) for x in pis[i]) if p.status == "succeeded"]
        charges = [stripe.Charge.retrieve(idof(p.latest_charge)) for p in succeeded]
        booked = sorted((e["receipt_no"], e["amount"]) for e in journal if e["kind"] == "payment")
        charged = sorted((field(c, "tillgate", "terminal", "receipt_no"), c.amount) for c in charges)
        assert booked == charged, f"lane {i}: terminal journal {journal} vs charges {charged}"
        assert len(booked) == 1, f"lane {i}: exactly one payment booked (declines and aborts book nothing)"
        assert all(e["currency"] == 978 for e in journal)
        payment = next(e for e in journal if e["kind"] == "payment")
        refunds_booked = [e["amount"] for e in journal if e["kind"] == "refund"]
        if i < 10:
            assert payment["reversed"] and charges[0].refunded, f"lane {i}: reversal {journal}"
            assert refunds_booked == []
            expected_total = 0
        else:
            assert not payment["reversed"] and charges[0].amount_refunded == 300, f"lane {i}: {journal}"
            assert refunds_booked == [300]
            expected_total = 1000 + 100 * i - 300
        assert report["succeeded"] is True, report
        assert report["total"] == expected_total, f"lane {i}: {report}"
        assert "END OF DAY" in str(report["receipt_lines"])


# ---------------------------------------------------------------------------------------------------
# tillgate dies while the customer is at the terminal.

@pytest.mark.parametrize("behaviour, expected", [
    # The customer had not presented the card: the terminal drops the payment with the link.
    ("slow-customer", "requires_payment_method"),
    # The card was in: the terminal completes and books the payment although tillgate is gone.
    ("slow-customer-charges", "succeeded"),
])
def test_tillgate_killed_mid_payment_settles_after_restart_without_a_second_authorisation(
        server_factory, tmp_path, behaviour, expected):
    srv = server_factory("zvt_kill")
    with using(srv), zvt_sims(tmp_path, 1, "--behaviour", behaviour,
                              "--slow-customer-ms", "3000") as (sim,):
        reader = stripe.terminal.Reader.create(registration_code=sim.code)
        assert PASSWORD not in str(reader), "the default label must not show the terminal's password"
        assert reader.label == f"zvt://127.0.0.1:{sim.port}"
        reader = reader.id
        pi = stripe.PaymentIntent.create(amount=2500, currency="eur", payment_method_types=["card_present"])
        stripe.terminal.Reader.process_payment_intent(reader, payment_intent=pi.id)
        wait_for(lambda: stripe.terminal.Reader.retrieve(reader),
                 lambda r: field(r, "tillgate", "prompt") is not None, 10,
                 what="the terminal to ask for the card")
        assert stripe.PaymentIntent.retrieve(pi.id).status != "succeeded"

        srv.restart()  # SIGKILL while the terminal authorises, then the same database
        assert_record_in_database(srv, "zvt", reader)

        # The restarted gateway asks the terminal (repeat receipt) before it settles the action.
        action = wait_for(lambda: stripe.terminal.Reader.retrieve(reader),
                          lambda r: field(r, "action", "status") in ("succeeded", "failed"), 30,
                          interval=0.2, what="the interrupted action to be settled after the restart")
        settled = stripe.PaymentIntent.retrieve(pi.id)
        assert settled.status == expected, settled
        assert (action.action.status == "succeeded") == (settled.status == "succeeded"), action
        time.sleep(1.0)  # give a (wrong) second authorisation the time to show in the journal
        journal = sim.journal()
        METRICS[f"ZVT: tillgate SIGKILLed mid-payment ({behaviour})"] = (
            f"settled after restart as {settled.status}, terminal journal {len(journal)} booking(s)")
        payments = [e for e in journal if e["kind"] == "payment"]
        charges = stripe.Charge.list(payment_intent=pi.id).data
        if settled.status == "succeeded":
            assert len(payments) == 1 and payments[0]["amount"] == 2500, journal
            assert [c.status for c in charges] == ["succeeded"], charges
            assert field(charges[0], "tillgate", "terminal", "receipt_no") == payments[0]["receipt_no"]
        else:
            assert payments == [], f"the PaymentIntent is unpaid, yet the terminal booked {journal}"
            assert [c for c in charges if c.status == "succeeded"] == []

        # The reader works again, and the retry is the only other authorisation the terminal sees.
        if settled.status != "succeeded":
            stripe.terminal.Reader.process_payment_intent(reader, payment_intent=pi.id)
            settled = wait_for(lambda: stripe.PaymentIntent.retrieve(pi.id),
                               lambda p: p.status == "succeeded" or p.last_payment_error is not None,
                               30, interval=0.2, what="the retried payment")
            assert settled.status == "succeeded", settled
        payments = [e for e in sim.journal() if e["kind"] == "payment"]
        assert len(payments) == 1, f"exactly one booking for one PaymentIntent: {payments}"
        assert [c.status for c in stripe.Charge.list(payment_intent=pi.id).data
                if c.status == "succeeded"] == ["succeeded"]


# ---------------------------------------------------------------------------------------------------
# ZVT inside TLS.

@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI to make a certificate")
def test_zvt_over_tls_pays_and_refuses_an_untrusted_terminal(tmp_path):
    def self_signed(name):
        cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
                        "-addext", "subjectAltName=IP:127.0.0.1",
                        # A self-signed *end-entity* certificate; openssl's default CA:TRUE is refused
                        # by rustls as CaUsedAsEndEntity (see README, ZVT terminals → TLS).
                        "-addext", "basicConstraints=critical,CA:FALSE"],
                       check=True, capture_output=True, timeout=30)
        return cert, key

    cert, key = self_signed("terminal")
    other, _ = self_signed("impostor")
    with zvt_sims(tmp_path, 1, "--tls-cert", str(cert), "--tls-key", str(key)) as (sim,):
        printed = sim.log_path.read_text()
        assert f"tls=true&ca={cert}" in printed, printed

        err = expect_error(stripe.InvalidRequestError, stripe.terminal.Reader.create,
                           registration_code=f"{sim.code}&tls=true&ca={other}")
        assert "TLS" in str(err) and "UnknownIssuer" in str(err), str(err)
        assert sim.journal() == []

        reader = stripe.terminal.Reader.create(registration_code=f"{sim.code}&tls=true&ca={cert}")
        pi = stripe.PaymentIntent.create(amount=1990, currency="eur", payment_method_types=["card_present"])
        stripe.terminal.Reader.process_payment_intent(reader.id, payment_intent=pi.id)
        pi = wait_for(lambda: stripe.PaymentIntent.retrieve(pi.id),
                      lambda p: p.status == "succeeded" or p.last_payment_error is not None,
                      15, what="the payment over TLS")
        assert pi.status == "succeeded", pi.last_payment_error
        assert [(e["kind"], e["amount"]) for e in sim.journal()] == [("payment", 1990)]
