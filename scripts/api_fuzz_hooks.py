"""schemathesis hooks for scripts/api-fuzz.sh: send form bodies the way Stripe's clients do.

schemathesis hands a generated form body to its HTTP client as a dict, which encodes a nested
value as its keys only (`address=line1`) — no Stripe client sends that. This hook flattens each
body into Stripe's bracket notation before it is sent: `address[line1]=…`, `metadata[k]=…`,
`payment_method_types[]=…`, `cart[line_items][0][amount]=…`, booleans as `true`/`false`.
"""

from __future__ import annotations

from typing import Any

import schemathesis


def _leaf(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    return str(v)


def flatten(value: Any, prefix: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        if not value and prefix:
            out.append((prefix, ""))
        for k, v in value.items():
            flatten(v, f"{prefix}[{k}]" if prefix else str(k), out)
    elif isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            out.extend((f"{prefix}[]", _leaf(v)) for v in value)
        else:
            for i, v in enumerate(value):
                flatten(v, f"{prefix}[{i}]", out)
    else:
        out.append((prefix, _leaf(value)))


@schemathesis.hook
def map_case(context, case):
    media = (case.media_type or "").split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded" and isinstance(case.body, dict):
        pairs: list[tuple[str, str]] = []
        flatten(case.body, "", pairs)
        case.body = pairs
    return case
