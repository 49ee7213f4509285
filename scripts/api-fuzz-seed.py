#!/usr/bin/env python3
"""Seeds a running tillgate for scripts/api-fuzz.sh and writes a schemathesis config that points each
operation's `{id}` at a real object, so the second fuzzing pass sends generated parameters to real
objects (a paid PaymentIntent, its charge, a refund, a reader with history, ...) instead of 404s.

    api-fuzz-seed.py BASE_URL API_KEY OUT.toml

Standard library only. Every request is to BASE_URL (loopback).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def call(base: str, key: str, method: str, path: str, form: dict | None = None) -> dict:
    data = urllib.parse.urlencode(form or {}).encode() if method == "POST" else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {key}"})
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=20) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        raise SystemExit(f"seed: {method} {path} answered {e.code}: {e.read().decode(errors='replace')}")


def main() -> int:
    base, key, out = sys.argv[1:4]
    c = lambda m, p, f=None: call(base, key, m, p, f)  # noqa: E731
    loc = c("POST", "/v1/terminal/locations", {"display_name": "Seeded store", "address[line1]": "1 Main St",
                                                "address[city]": "Springfield", "address[country]": "US"})
    reader = c("POST", "/v1/terminal/readers", {"registration_code": "simulated-wpe", "label": "Seeded till",
                                                "location": loc["id"]})
    pi = c("POST", "/v1/payment_intents", {"amount": "2000", "currency": "usd",
                                           "payment_method_types[]": "card_present"})
    c("POST", f"/v1/terminal/readers/{reader['id']}/process_payment_intent", {"payment_intent": pi["id"]})
    c("POST", f"/v1/test_helpers/terminal/readers/{reader['id']}/present_payment_method",
      {"card_present[number]": "4242424242424242"})
    deadline = time.monotonic() + 15
    while True:
        pi = c("GET", f"/v1/payment_intents/{pi['id']}")
        if pi["status"] == "succeeded":
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"seed: payment did not succeed: {pi}")
        time.sleep(0.05)
    held = c("POST", "/v1/payment_intents", {"amount": "3000", "currency": "usd", "capture_method": "manual",
                                             "payment_method_types[]": "card_present"})
    refund = c("POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": "500"})
    charge = c("GET", f"/v1/charges/{pi['latest_charge']}")
    event = c("GET", "/v1/events?limit=1")["data"][0]
    hook = c("POST", "/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/hook",
                                               "enabled_events[]": "payment_intent.succeeded"})
    config = c("POST", "/v1/terminal/configurations", {"name": "Seeded configuration"})
    rule = c("POST", "/v1/alert_rules", {"type": "reader_offline", "threshold_secs": "300"})

    ids = [
        (r"^/v1/terminal/locations/\{id\}", loc["id"]),
        (r"^/v1/(test_helpers/)?terminal/readers/\{id\}", reader["id"]),
        (r"^/v1/payment_intents/\{id\}/capture$", held["id"]),
        (r"^/v1/payment_intents/\{id\}(/(cancel|confirm|increment_authorization))?$", pi["id"]),
        (r"^/v1/charges/\{id\}$", charge["id"]),
        (r"^/v1/payment_methods/\{id\}$", charge["payment_method"]),
        (r"^/v1/refunds/\{id\}$", refund["id"]),
        (r"^/v1/events/\{id\}$", event["id"]),
        (r"^/v1/webhook_endpoints/\{id\}", hook["id"]),
        (r"^/v1/terminal/configurations/\{id\}$", config["id"]),
        (r"^/v1/alert_rules/\{id\}$", rule["id"]),
    ]
    lines = ["# Written by scripts/api-fuzz-seed.py for one run: real objects behind every {id}.", ""]
    for regex, oid in ids:
        lines += ["[[operations]]", f"include-path-regex = {json.dumps(regex)}",
                  f"parameters = {{ \"path.id\" = {json.dumps(oid)} }}", ""]
    with open(out, "w") as f:
        f.write("\n".join(lines))
    print(f"seed: {len(ids)} operation groups point at real objects (reader {reader['id']}, payment {pi['id']})",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
