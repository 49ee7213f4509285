"""Lists: limit / starting_after / ending_before / has_more, newest first, auto_paging_iter."""

import stripe

from tg import new_pi


def test_walk_25_payment_intents():
    created = [new_pi(100 + i, metadata={"seq": str(i)}).id for i in range(25)]
    newest_first = list(reversed(created))

    first = stripe.PaymentIntent.list(limit=10)
    assert first.object == "list"
    assert first.url == "/v1/payment_intents"
    assert len(first.data) == 10
    assert first.has_more is True
    assert [p.id for p in first.data] == newest_first[:10], "newest first"
    createds = [p.created for p in first.data]
    assert createds == sorted(createds, reverse=True)

    # Walk forward with starting_after.
    seen, after = [], None
    for _ in range(10):
        kw = {"limit": 10}
        if after:
            kw["starting_after"] = after
        page = stripe.PaymentIntent.list(**kw)
        seen += [p.id for p in page.data]
        if len(seen) >= 25:
            break
        assert page.has_more is True
        after = page.data[-1].id
    assert seen[:25] == newest_first

    # The last page of ours: starting after the 20th newest, 5 of ours remain.
    page = stripe.PaymentIntent.list(limit=5, starting_after=newest_first[19])
    assert [p.id for p in page.data] == newest_first[20:25]

    # ending_before: the items newer than the cursor, still newest first.
    page = stripe.PaymentIntent.list(limit=3, ending_before=newest_first[10])
    assert [p.id for p in page.data] == newest_first[7:10]
    assert page.has_more is True
    page = stripe.PaymentIntent.list(limit=10, ending_before=newest_first[4])
    assert [p.id for p in page.data] == newest_first[0:4]
    assert page.has_more is False

    # Default limit is 10.
    assert len(stripe.PaymentIntent.list().data) == 10


def test_auto_paging_iter_yields_all_without_duplicates():
    ours = {new_pi(200 + i).id for i in range(25)}
    full = []
    after = None
    while True:  # reference walk with the maximum page size
        kw = {"limit": 100}
        if after:
            kw["starting_after"] = after
        page = stripe.PaymentIntent.list(**kw)
        full += [p.id for p in page.data]
        if not page.has_more:
            break
        after = page.data[-1].id
        assert len(full) < 100_000
    auto = [p.id for p in stripe.PaymentIntent.list(limit=7).auto_paging_iter()]
    assert len(auto) == len(set(auto)), "auto_paging_iter yielded duplicates"
    assert ours <= set(auto)
    assert auto == full


def test_limit_1_has_more():
    new_pi(1)
    new_pi(2)
    page = stripe.PaymentIntent.list(limit=1)
    assert len(page.data) == 1 and page.has_more is True


def test_reader_list_pagination(location):
    ids = [stripe.terminal.Reader.create(registration_code="simulated-wpe", location=location.id).id
           for _ in range(5)]
    got = [r.id for r in stripe.terminal.Reader.list(location=location.id, limit=2).auto_paging_iter()]
    assert got == list(reversed(ids))


def test_starting_after_unknown_id():
    try:
        page = stripe.PaymentIntent.list(starting_after="pi_doesnotexist")
    except stripe.InvalidRequestError as e:
        assert e.http_status in (400, 404)
    else:
        raise AssertionError(f"starting_after an unknown id should be an error (Stripe: resource_missing), "
                             f"got {len(page.data)} items")
