"""Crash under load: a stream of payments (with refunds and cancellations) on simulated readers and on
ZVT terminals (`tillgate sim zvt` subprocesses) while tillgate is killed with SIGKILL at random moments
and restarted on the same database.

Every other ZVT payment is a manual capture (captured in full, in part, or canceled); every 8th
payment goes to a Caisse-AP terminal (`tillgate sim caisse-ap`). At the end: every PaymentIntent is
final, none is charged twice, each ZVT terminal's journal matches the succeeded charges and refunds
on its reader one to one (reservations settled by exactly one book total or release, the terminal's
net equal to tillgate's), the Caisse-AP journal likewise by authorisation number, and the webhook
receiver holds every event at least once. CI size: 200 payments and 10 kills (TILLGATE_CRASH_PAYMENTS /
TILLGATE_CRASH_KILLS for the long run, e.g. 10000 and 200).

The cluster variant runs the same stream against three `serve --cluster` instances on one throwaway
PostgreSQL database (from TILLGATE_TEST_POSTGRES_URL; skipped without it unless
TILLGATE_REQUIRE_POSTGRES=1): the POS sends each request to a random instance, and each SIGKILL hits
a random one of the three, restarted at once under its own instance id. CI size: 120 payments and 9
kills (TILLGATE_CRASH_CLUSTER_PAYMENTS / TILLGATE_CRASH_CLUSTER_KILLS).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from conftest import METRICS, using
from test_caisse_ap import caisse_sim
from test_zvt import zvt_sims
from tg import Reader, field

PAYMENTS = int(os.environ.get("TILLGATE_CRASH_PAYMENTS", "200"))
KILLS = int(os.environ.get("TILLGATE_CRASH_KILLS", "10"))
READERS = 8
ZVT_TERMINALS = 2
ZVT_EVERY = 4  # every 4th payment goes to a ZVT terminal
CAISSE_EVERY = 8  # and every 8th (another one) to the Caisse-AP terminal
DEADLINE = float(os.environ.get("TILLGATE_CRASH_DEADLINE", "600"))
CLUSTER_PAYMENTS = int(os.environ.get("TILLGATE_CRASH_CLUSTER_PAYMENTS", "120"))
CLUSTER_KILLS = int(os.environ.get("TILLGATE_CRASH_CLUSTER_KILLS", "9"))
INSTANCES = 3

# The instances the POS talks to (one, or a cluster's three) and the random choice among them.
_targets: list = []
_pick = random.Random(11)


def pick():
    """Points the stripe library at one of the instances, at random: a POS behind a load balancer."""
    stripe.api_base = _pick.choice(_targets).base_url


class Receiver:
    """A webhook receiver on 127.0.0.1 that remembers every event id it was sent."""

    def __init__(self):
        self.ids: set[str] = set()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    with outer.lock:
                        outer.ids.add(json.loads(body)["id"])
                finally:
                    self.send_response(200)
                    self.end_headers()

            def log_message(self, *_):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks"


def retrying(fn, deadline):
    """Calls fn, riding out the gateway's restarts (connection errors, 5xx) until the deadline."""
    while True:
        pick()
        try:
            return fn()
        except (stripe.APIConnectionError, stripe.APIError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def settle_hold(pi_id, end, amount, key, deadline):
    """Captures (in full or 5.00 less) or cancels an authorised manual PaymentIntent, as its POS
    would: a terminal that could not answer gives a 400 that its key replays, so each retry takes a
    new key; the driver's in-flight record makes sure a book total or release the terminal did make
    is reported, not made again."""
    attempt = 0
    while True:
        cur = retrying(lambda: stripe.PaymentIntent.retrieve(pi_id), deadline)
        if cur.status in ("succeeded", "canceled"):
            return cur
        try:
            k = f"{key}-{attempt}"
            if end == "canceled":
                retrying(lambda: stripe.PaymentIntent.cancel(pi_id, idempotency_key=k), deadline)
            elif end == "partial":
                retrying(lambda: stripe.PaymentIntent.capture(pi_id, amount_to_capture=amount - 500,
                                                              idempotency_key=k), deadline)
            else:
                retrying(lambda: stripe.PaymentIntent.capture(pi_id, idempotency_key=k), deadline)
        except stripe.InvalidRequestError as e:
            if not (e.code or "").startswith("terminal_reader_") or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        attempt += 1


def refund(pi_id, key, deadline):
    """Refunds 1.00 of a payment. A terminal that could not answer (tillgate restarting, the link
    not back yet) gives a 400 that its key replays, so the retry takes a new key: the driver's
    in-flight record makes sure a refund the terminal did book is reported, not made again."""
    attempt = 0
    while True:
        try:
            return retrying(lambda: stripe.Refund.create(payment_intent=pi_id, amount=100,
                                                         idempotency_key=f"{key}-{attempt}"), deadline)
        except stripe.InvalidRequestError as e:
            if not (e.code or "").startswith("terminal_reader_") or time.monotonic() > deadline:
                raise
            attempt += 1
            time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.timeout(DEADLINE + 300)
def test_payments_survive_random_sigkills(server_factory, tmp_path):
    srv = server_factory("crashstream", extra_args=["--sim-auth-delay-ms", "40"],
                         extra_env={"TILLGATE_WEBHOOK_RETRY_BASE_MS": "200"})
    stream([srv], tmp_path, PAYMENTS, KILLS, "crash stream")


def scratch_postgres() -> str | None:
    """A new empty database on the test cluster; None (the test skips) without one."""
    url = os.environ.get("TILLGATE_TEST_POSTGRES_URL", "").strip()
    if not url:
        if os.environ.get("TILLGATE_REQUIRE_POSTGRES") == "1":
            pytest.fail("TILLGATE_REQUIRE_POSTGRES=1 but TILLGATE_TEST_POSTGRES_URL is not set")
        return None
    name = "tg_crash_" + secrets.token_hex(4)
    subprocess.run(["psql", url, "-q", "-c", f"CREATE DATABASE {name}"], check=True, timeout=60,
                   capture_output=True)
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.mark.slow
@pytest.mark.timeout(DEADLINE + 300)
def test_payments_survive_random_sigkills_across_a_cluster(server_factory, tmp_path):
    url = scratch_postgres()
    if url is None:
        pytest.skip("no PostgreSQL to test against: set TILLGATE_TEST_POSTGRES_URL "
                    "(scripts/pg-test-cluster.sh start prints one)")
    key = "sk_test_" + secrets.token_hex(12)
    state = tmp_path / "state"  # one host: the instances share its per-host files
    state.mkdir()
    servers = []
    for n in range(INSTANCES):
        srv = server_factory(f"crashcluster{n}", api_key=key, start=False,
                             extra_args=["--sim-auth-delay-ms", "40", "--cluster",
                                         "--instance-id", f"gw{n}"],
                             extra_env={"TILLGATE_WEBHOOK_RETRY_BASE_MS": "200",
                                        "TILLGATE_MASTER_KEY": "ab" * 32,
                                        "TILLGATE_STATE_DIR": str(state)})
        srv.database_url = url
        srv.start()
        servers.append(srv)
    stream(servers, tmp_path, CLUSTER_PAYMENTS, CLUSTER_KILLS, "crash stream, 3-instance cluster")


def stream(servers, tmp_path, PAYMENTS, KILLS, label):  # noqa: N803 (the sizes, as above)
    """The stream of payments against `servers` (one, or a cluster's instances) with SIGKILLs."""
    _targets[:] = servers
    srv = servers[0]
    receiver = Receiver()
    deadline = time.monotonic() + DEADLINE
    rng = random.Random(7)
    with using(srv), zvt_sims(tmp_path, ZVT_TERMINALS, "--authorization-delay-ms", "40") as sims, \
            caisse_sim(tmp_path, "caisse", "--answer-delay-ms", "40") as caisse:
        stripe.WebhookEndpoint.create(url=receiver.url, enabled_events=["*"])
        readers = [Reader.create(registration_code="simulated-wpe", label=f"till {i}").id
                   for i in range(READERS)]
        zvt_readers = [Reader.create(registration_code=sim.code, label=f"zvt {k}").id
                       for k, sim in enumerate(sims)]
        caisse_reader = Reader.create(registration_code=caisse.code, label="caisse").id
        on_caisse: list[str] = []

        stop = threading.Event()
        kills = []

        progress = [0]  # the payment the stream is at

        def killer():
            # Kills spread over the whole stream, however long: each waits for its payment to come
            # up, then lands a random moment into it (creating, processing, presenting, refunding).
            for at in sorted(rng.sample(range(1, PAYMENTS), KILLS)):
                while progress[0] < at and not stop.is_set():
                    time.sleep(0.01)
                if stop.is_set():
                    break
                time.sleep(rng.uniform(0.0, 0.3))
                rng.choice(servers).restart()
                kills.append(time.monotonic())

        t = threading.Thread(target=killer, daemon=True)
        t.start()

        intents: list[tuple[str, str]] = []  # (pi id, intended end)
        on_zvt: dict[str, list[str]] = {r: [] for r in zvt_readers}  # ZVT reader -> its paid intents
        for i in range(PAYMENTS):
            progress[0] = i
            zvt = i % ZVT_EVERY == ZVT_EVERY - 1
            on_french = i % CAISSE_EVERY == 1
            reader = zvt_readers[(i // ZVT_EVERY) % ZVT_TERMINALS] if zvt else readers[i % READERS]
            if on_french:
                reader = caisse_reader
            cancel = i % 10 == 9
            # Every other ZVT payment is a manual capture: captured, captured in part, or canceled.
            hold = zvt and not cancel and (i // ZVT_EVERY) % 2 == 0
            end = ("captured", "partial", "canceled")[(i // ZVT_EVERY // 2) % 3] if hold else None
            amount = 1000 + i * 100
            pi = retrying(lambda: stripe.PaymentIntent.create(
                amount=amount, currency="eur", payment_method_types=["card_present"],
                capture_method="manual" if hold else "automatic",
                idempotency_key=f"crash-pi-{i}"), deadline)
            want = "canceled" if cancel or end == "canceled" else "succeeded"
            intents.append((pi.id, want, amount - 500 if end == "partial" else amount, hold))
            if cancel:
                retrying(lambda: stripe.PaymentIntent.cancel(pi.id, idempotency_key=f"crash-cancel-{i}"),
                         deadline)
                continue
            if zvt:
                on_zvt[reader].append(pi.id)
            if on_french:
                on_caisse.append(pi.id)
            while True:
                assert time.monotonic() < deadline, f"payment {i} not final before the deadline"
                cur = retrying(lambda: stripe.PaymentIntent.retrieve(pi.id), deadline)
                if cur.status in ("succeeded", "requires_capture"):
                    break
                if cur.status == "processing":
                    time.sleep(0.02)
                    continue
                pick()
                try:
                    r = Reader.retrieve(reader)
                    busy = field(r, "action", "status") == "in_progress" and \
                        field(r, "action", "process_payment_intent", "payment_intent") == pi.id
                    if not busy:
                        Reader.process_payment_intent(reader, payment_intent=pi.id)
                    if zvt or on_french:
                        time.sleep(0.03)  # the terminal's customer presents the card by herself
                    else:
                        Reader.TestHelpers.present_payment_method(reader)
                except (stripe.APIConnectionError, stripe.APIError, stripe.InvalidRequestError):
                    time.sleep(0.05)
            if hold:
                settle_hold(pi.id, end, amount, f"crash-hold-{i}", deadline)
            if i % 7 == 0 and end != "canceled":
                refund(pi.id, f"crash-refund-{i}", deadline)
        stop.set()
        t.join(timeout=30)
        # Make sure the kills really happened (in CI: at least 10); the last may land after the stream.
        during_stream = len(kills)
        while len(kills) < KILLS:
            rng.choice(servers).restart()
            kills.append(time.monotonic())

        # Every PaymentIntent final, as intended; never charged twice.
        pick()
        for pi_id, want, received, hold in intents:
            pi = retrying(lambda: stripe.PaymentIntent.retrieve(pi_id), deadline)
            assert pi.status == want, f"{pi_id}: {pi.status}, wanted {want}"
            paid = [c for c in stripe.Charge.list(payment_intent=pi_id, limit=100).data
                    if c.status == "succeeded" and c.captured]
            assert len(paid) == (1 if want == "succeeded" else 0), f"{pi_id}: {len(paid)} charges"
            if want == "succeeded":
                assert pi.amount_received == received, f"{pi_id}: {pi.amount_received} != {received}"

        # Each ZVT terminal booked exactly what tillgate recorded on its reader: every payment once,
        # every refund once.
        # Manual captures are reservations settled by one book total or one release each.
        zvt_payments = 0
        for sim, reader in zip(sims, zvt_readers):
            journal = sim.journal()
            booked = sorted((e["receipt_no"], e["amount"]) for e in journal
                            if e["kind"] in ("payment", "book_total") and not e["reversed"])
            charged, refunds, net = [], [], 0
            for pi_id in on_zvt[reader]:
                for c in stripe.Charge.list(payment_intent=pi_id, limit=100).data:
                    if c.status == "succeeded" and c.captured:
                        receipt = field(c, "tillgate", "terminal", "book_total", "receipt_no") \
                            or field(c, "tillgate", "terminal", "receipt_no")
                        charged.append((receipt, c.amount_captured))
                        net += c.amount_captured - c.amount_refunded
                refunds += [r.amount for r in stripe.Refund.list(payment_intent=pi_id, limit=100).data
                            if r.status == "succeeded"]
            assert booked == sorted(charged), f"{sim.name}: journal {journal} vs charges {charged}"
            booked_refunds = [e["amount"] for e in journal if e["kind"] == "refund"]
            assert sorted(booked_refunds) == sorted(refunds), \
                f"{sim.name}: terminal refunds {booked_refunds} vs tillgate refunds {refunds}"
            terminal_net = sum(e["amount"] for e in journal
                               if e["kind"] in ("payment", "book_total") and not e["reversed"]) \
                - sum(booked_refunds)
            assert terminal_net == net, f"{sim.name}: the terminal holds {terminal_net}, tillgate {net}"
            reservations = [e["receipt_no"] for e in journal if e["kind"] == "reservation"]
            settled = [e["of"] for e in journal if e["kind"] in ("book_total", "release")]
            assert sorted(reservations) == sorted(settled), \
                f"{sim.name}: every hold settled exactly once: {journal}"
            zvt_payments += len(booked)
        assert zvt_payments >= PAYMENTS // ZVT_EVERY // 2, "the ZVT terminals took part in the stream"

        # The Caisse-AP terminal booked what tillgate recorded, matched by authorisation number.
        journal = caisse.journal()
        booked = sorted((e["auth_code"], e["amount"]) for e in journal
                        if e["kind"] == "payment" and not e["cancelled"])
        charged, refunds, net = [], [], 0
        for pi_id in on_caisse:
            for c in stripe.Charge.list(payment_intent=pi_id, limit=100).data:
                if c.status == "succeeded" and c.captured:
                    charged.append((field(c, "tillgate", "terminal", "auth_code"), c.amount_captured))
                    net += c.amount_captured - c.amount_refunded
            refunds += [(field(r, "tillgate", "terminal", "auth_code"), r.amount)
                        for r in stripe.Refund.list(payment_intent=pi_id, limit=100).data
                        if r.status == "succeeded"]
        booked_refunds = sorted((e["auth_code"], e["amount"]) for e in journal if e["kind"] == "refund")
        assert booked == sorted(charged), f"caisse-ap: journal {journal} vs charges {charged}"
        assert booked_refunds == sorted(refunds), f"caisse-ap: refunds {booked_refunds} vs {refunds}"
        caisse_net = sum(a for _, a in booked) - sum(a for _, a in booked_refunds)
        assert caisse_net == net, f"caisse-ap: the terminal holds {caisse_net}, tillgate {net}"
        assert len(booked) >= PAYMENTS // CAISSE_EVERY // 2, "the Caisse-AP terminal took part"

        # Every committed event reaches the receiver at least once.
        stored = {e.id for e in stripe.Event.list(limit=100).auto_paging_iter()}
        wait_until = time.monotonic() + 90
        while time.monotonic() < wait_until:
            with receiver.lock:
                missing = stored - receiver.ids
            if not missing:
                break
            time.sleep(0.25)
        assert not missing, f"{len(missing)} of {len(stored)} events never delivered, e.g. {sorted(missing)[:3]}"
        METRICS[label] = (f"{PAYMENTS} payments ({zvt_payments} on {ZVT_TERMINALS} ZVT terminals, "
                                   f"{len(booked)} on a Caisse-AP terminal, journals matching), {len(kills)} SIGKILLs ({during_stream} during the stream), {len(stored)} events "
                                   f"all delivered, no double charge")
        if len(servers) > 1:
            METRICS[label] += f", restarts per instance {[s.starts - 1 for s in servers]}"
        receiver.httpd.shutdown()
