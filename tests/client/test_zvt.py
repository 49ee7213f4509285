"""A ZVT terminal through the official stripe library: `tillgate sim zvt` as a subprocess on a free
loopback port, registered with zvt://HOST:PORT?password=…, paid, refunded and its day closed."""

import subprocess
import time

import pytest
import requests
import stripe

from conftest import BIN, free_port
from tg import wait_for

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
