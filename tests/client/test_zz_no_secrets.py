"""Runs last (by name): after the whole suite, no database file, write-ahead log, terminal state file
or server log of any server the session started holds a full card number or a secret key in clear.

The card numbers are every 13–19 digit number the suite's sources send; the keys are every key the
session's servers were started with or created with `tillgate keys create`."""

import re
from pathlib import Path

import pytest

from conftest import KEYS, SERVERS

HERE = Path(__file__).resolve().parent
PAN = re.compile(rb"(?<![0-9])[0-9]{13,19}(?![0-9])")


def card_numbers() -> set[bytes]:
    found = set()
    for src in HERE.glob("*.py"):
        if src.name == Path(__file__).name:
            continue
        for m in PAN.finditer(src.read_bytes()):
            n = m.group()
            if n[:1] in b"3456":  # card networks' leading digits; not ids, amounts or timestamps
                found.add(n)
    return found


def test_no_card_number_or_secret_key_is_stored_or_logged():
    if not SERVERS:
        pytest.skip("no server ran in this session (a single test was selected)")
    files = [f for srv in SERVERS for f in srv.workdir.rglob("*") if f.is_file()]
    names = {f.name for f in files}
    assert "tillgate.db" in names and "server.log" in names, sorted(names)
    assert any(n.endswith("-wal") for n in names), "the write-ahead logs are checked too"
    pans = card_numbers()
    assert b"4242424242424242" in pans and len(pans) >= 5, pans
    keys = {k.encode() for k in KEYS}
    assert keys, "the session's keys are known"
    blob_hits = []
    last4_seen = False
    for f in files:
        data = f.read_bytes()
        last4_seen |= b'"last4":"4242"' in data
        for pan in pans:
            if pan in data:
                blob_hits.append(f"{f}: card number {pan.decode()[:6]}…")
        for key in keys:
            if key in data:
                blob_hits.append(f"{f}: secret key {key.decode()[:12]}…")
    # The check reads what the servers wrote: the card facts they keep (last 4) are there.
    assert last4_seen, "no stored card facts found: the files checked are not the servers' data"
    assert not blob_hits, "\n".join(blob_hits)
