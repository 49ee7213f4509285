"""100 simulated readers paying at once through the official library; prints the payments/s reached."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe

from conftest import METRICS
from tg import Reader, field, idof, wait_for

N_READERS = 100
WORKERS = 32


@pytest.mark.slow
def test_100_readers_pay_concurrently(location, capsys):
    with ThreadPoolExecutor(WORKERS) as ex:
        readers = list(ex.map(lambda i: Reader.create(registration_code="simulated-wpe", location=location.id,
                                                      label=f"lane {i}").id, range(N_READERS)))
    assert len(set(readers)) == N_READERS

    def one_payment(i_reader):
        i, rid = i_reader
        amount = 1000 + i * 100  # .00 amounts: approved
        pi = stripe.PaymentIntent.create(amount=amount, currency="usd", payment_method_types=["card_present"],
                                         metadata={"lane": str(i)})
        Reader.process_payment_intent(rid, payment_intent=pi.id)
        Reader.TestHelpers.present_payment_method(rid, card_present={"number": "4242424242424242"})
        pi = wait_for(lambda: stripe.PaymentIntent.retrieve(pi.id),
                      lambda p: p.status not in ("requires_payment_method", "processing")
                      or p.last_payment_error is not None,
                      timeout=60, interval=0.1, what=f"payment on lane {i}")
        return pi, amount

    t0 = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as ex:
        results = list(ex.map(one_payment, enumerate(readers)))
    elapsed = time.monotonic() - t0

    rate = N_READERS / elapsed
    msg = (f"{N_READERS} concurrent payments ({WORKERS} client threads, stripe-python) in {elapsed:.2f} s "
           f"= {rate:.1f} payments/s")
    METRICS["concurrent payments"] = msg
    with capsys.disabled():
        print(f"\n[tillgate] {msg}")

    bad = [(p.id, p.status, field(p, "last_payment_error", "code")) for p, _ in results if p.status != "succeeded"]
    assert not bad, f"{len(bad)} payments did not succeed: {bad[:10]}"
    assert all(p.amount_received == amt for p, amt in results)
    charges = {idof(p.latest_charge) for p, _ in results}
    assert len(charges) == N_READERS, "every payment has its own charge"
    for rid in readers[:10]:
        assert Reader.retrieve(rid).action.status == "succeeded"
