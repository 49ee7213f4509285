#!/usr/bin/env python3
"""Writes crates/tillgate/src/api/openapi.json: the OpenAPI 3.1 description of the operations tillgate
serves (the document `GET /openapi.json` answers).

    python3 scripts/openapi-gen.py            # rewrite the file
    python3 scripts/openapi-gen.py --check    # exit 1 if the committed file differs

The description is kept here, as Python, because 60 operations of Stripe-style form parameters are
far shorter to state as code than as JSON; the JSON file is the artefact tillgate embeds, and
crates/tillgate/tests/openapi.rs checks that it names exactly the routes the router serves.
Request bodies are form-encoded (application/x-www-form-urlencoded, nested values as a[b]=c and
lists as a[]=x, as Stripe takes them). Response schemas state the fields a client relies on, with
their JSON types and Stripe's enums; other fields are allowed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "crates" / "tillgate" / "src" / "api" / "openapi.json"

# ---- schema helpers -------------------------------------------------------------------------------


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
NUM = {"type": "number"}
OBJ = {"type": "object"}
ANY = {}


def null(s):
    """s or null."""
    return {"anyOf": [s, {"type": "null"}]}


def enum(*values):
    return {"type": "string", "enum": list(values)}


def arr(items):
    return {"type": "array", "items": items}


def const(v):
    return {"type": "string", "const": v}


def expandable(name, nullable=False):
    """An id, or the object itself when expanded with expand[]."""
    s = {"anyOf": [STR, ref(name)]}
    return null(s) if nullable else s


def obj(props, required=None, **extra):
    s = {"type": "object", "properties": props}
    req = list(props) if required is None else required
    if req:
        s["required"] = req
    s.update(extra)
    return s


METADATA = {"type": "object", "additionalProperties": {"type": "string"}}

# ---- component schemas ----------------------------------------------------------------------------

SCHEMAS = {
    "Error": obj(
        {
            "error": obj(
                {
                    "type": enum(
                        "invalid_request_error",
                        "authentication_error",
                        "card_error",
                        "idempotency_error",
                        "rate_limit_error",
                        "api_error",
                    ),
                    "message": STR,
                    "code": STR,
                    "param": STR,
                    "decline_code": STR,
                },
                required=["type", "message"],
            )
        }
    ),
    "Deleted": obj({"id": STR, "object": STR, "deleted": {"type": "boolean", "const": True}}),
    "Address": obj(
        {
            "line1": null(STR),
            "line2": null(STR),
            "city": null(STR),
            "postal_code": null(STR),
            "state": null(STR),
            "country": null(STR),
        },
        required=[],
    ),
    "Location": obj(
        {
            "id": STR,
            "object": const("terminal.location"),
            "address": ref("Address"),
            "configuration_overrides": null(STR),
            "display_name": STR,
            "livemode": BOOL,
            "metadata": METADATA,
        }
    ),
    "ReaderAction": obj(
        {
            "type": enum(
                "process_payment_intent",
                "collect_payment_method",
                "confirm_payment_intent",
                "process_setup_intent",
                "refund_payment",
                "set_reader_display",
                "collect_inputs",
            ),
            "status": enum("in_progress", "succeeded", "failed"),
            "failure_code": null(STR),
            "failure_message": null(STR),
        },
        required=["type", "status", "failure_code", "failure_message"],
    ),
    "Reader": obj(
        {
            "id": STR,
            "object": const("terminal.reader"),
            "action": null(ref("ReaderAction")),
            "device_sw_version": null(STR),
            "device_type": STR,
            "ip_address": null(STR),
            "label": STR,
            "last_seen_at": null(INT),
            "livemode": BOOL,
            "location": expandable("Location", nullable=True),
            "metadata": METADATA,
            "serial_number": STR,
            "status": null(enum("online", "offline")),
        }
    ),
    "LastPaymentError": obj(
        {"type": STR, "code": STR, "decline_code": null(STR), "message": STR},
        required=["type", "message"],
    ),
    "PaymentIntent": obj(
        {
            "id": STR,
            "object": const("payment_intent"),
            "amount": INT,
            "amount_capturable": INT,
            "amount_received": INT,
            "canceled_at": null(INT),
            "cancellation_reason": null(STR),
            "capture_method": enum("automatic", "automatic_async", "manual"),
            "client_secret": null(STR),
            "confirmation_method": enum("automatic", "manual"),
            "created": INT,
            "currency": STR,
            "customer": null(STR),
            "description": null(STR),
            "last_payment_error": null(ref("LastPaymentError")),
            "latest_charge": expandable("Charge", nullable=True),
            "livemode": BOOL,
            "metadata": METADATA,
            "next_action": null(OBJ),
            "payment_method": expandable("PaymentMethod", nullable=True),
            "payment_method_types": arr(STR),
            "processing": null(OBJ),
            "receipt_email": null(STR),
            "setup_future_usage": null(STR),
            "statement_descriptor": null(STR),
            "status": enum(
                "requires_payment_method",
                "requires_confirmation",
                "requires_action",
                "processing",
                "requires_capture",
                "canceled",
                "succeeded",
            ),
        }
    ),
    "CardPresent": obj(
        {
            "brand": STR,
            "last4": STR,
            "exp_month": INT,
            "exp_year": INT,
            "network": null(STR),
            "read_method": null(STR),
        },
        required=["brand", "last4", "exp_month", "exp_year"],
    ),
    "Charge": obj(
        {
            "id": STR,
            "object": const("charge"),
            "amount": INT,
            "amount_captured": INT,
            "amount_refunded": INT,
            "balance_transaction": null(STR),
            "billing_details": OBJ,
            "captured": BOOL,
            "created": INT,
            "currency": STR,
            "failure_code": null(STR),
            "failure_message": null(STR),
            "livemode": BOOL,
            "metadata": METADATA,
            "outcome": null(OBJ),
            "paid": BOOL,
            "payment_intent": expandable("PaymentIntent", nullable=True),
            "payment_method": null(STR),
            "payment_method_details": null(
                obj({"type": STR, "card_present": ref("CardPresent")}, required=["type"])
            ),
            "receipt_number": null(STR),
            "receipt_url": null(STR),
            "refunded": BOOL,
            "refunds": null(ref("RefundList")),
            "status": enum("succeeded", "pending", "failed"),
        }
    ),
    "PaymentMethod": obj(
        {
            "id": STR,
            "object": const("payment_method"),
            "allow_redisplay": null(STR),
            "billing_details": OBJ,
            "card_present": ref("CardPresent"),
            "created": INT,
            "customer": null(STR),
            "livemode": BOOL,
            "metadata": null(METADATA),
            "type": STR,
        },
        required=["id", "object", "billing_details", "created", "customer", "livemode", "type"],
    ),
    "Refund": obj(
        {
            "id": STR,
            "object": const("refund"),
            "amount": INT,
            "balance_transaction": null(STR),
            "charge": expandable("Charge", nullable=True),
            "created": INT,
            "currency": STR,
            "destination_details": null(OBJ),
            "failure_reason": null(STR),
            "metadata": null(METADATA),
            "payment_intent": expandable("PaymentIntent", nullable=True),
            "reason": null(enum("duplicate", "fraudulent", "requested_by_customer", "expired_uncaptured_charge")),
            "receipt_number": null(STR),
            "status": null(enum("pending", "requires_action", "succeeded", "failed", "canceled")),
        }
    ),
    "Event": obj(
        {
            "id": STR,
            "object": const("event"),
            "api_version": null(STR),
            "created": INT,
            "data": obj({"object": OBJ, "previous_attributes": OBJ}, required=["object"]),
            "livemode": BOOL,
            "pending_webhooks": INT,
            "request": null(obj({"id": null(STR), "idempotency_key": null(STR)})),
            "type": STR,
        }
    ),
    "WebhookEndpoint": obj(
        {
            "id": STR,
            "object": const("webhook_endpoint"),
            "api_version": null(STR),
            "application": null(STR),
            "created": INT,
            "description": null(STR),
            "enabled_events": arr(STR),
            "livemode": BOOL,
            "metadata": METADATA,
            "secret": STR,
            "status": enum("enabled", "disabled"),
            "url": STR,
        },
        required=[
            "id", "object", "api_version", "application", "created", "description",
            "enabled_events", "livemode", "metadata", "status", "url",
        ],
    ),
    "Configuration": obj(
        {
            "id": STR,
            "object": const("terminal.configuration"),
            "is_account_default": null(BOOL),
            "livemode": BOOL,
            "name": null(STR),
        }
    ),
    # tillgate's own objects: the fields every one of them has.
    "TillgateObject": obj({"object": STR}, required=["object"]),
}

LIST_OF = {
    "PaymentIntentList": "PaymentIntent",
    "ChargeList": "Charge",
    "PaymentMethodList": "PaymentMethod",
    "RefundList": "Refund",
    "ReaderList": "Reader",
    "LocationList": "Location",
    "EventList": "Event",
    "WebhookEndpointList": "WebhookEndpoint",
    "ConfigurationList": "Configuration",
    "TillgateObjectList": "TillgateObject",
}
for list_name, item in LIST_OF.items():
    SCHEMAS[list_name] = obj(
        {"object": const("list"), "data": arr(ref(item)), "has_more": BOOL, "url": STR}
    )

# ---- parameters -----------------------------------------------------------------------------------

ID = {"name": "id", "in": "path", "required": True, "schema": STR}


def q(name, schema=STR, required=False, description=None):
    p = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        p["description"] = description
    return p


EXPAND_Q = {
    "name": "expand[]",
    "in": "query",
    "required": False,
    "description": "Fields to expand (Stripe's expand[]).",
    "schema": arr(STR),
    "style": "form",
    "explode": True,
}
CREATED = obj({"gt": INT, "gte": INT, "lt": INT, "lte": INT}, required=[])
PAGING_Q = [
    q("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
    q("starting_after"),
    q("ending_before"),
    {"name": "created", "in": "query", "required": False, "schema": CREATED, "style": "deepObject", "explode": True},
]
LANG = enum("en", "de", "fr", "zh")


def form(props, required=()):
    """A form-encoded request body (optional when nothing is required)."""
    schema = {"type": "object", "properties": dict(props), "additionalProperties": False}
    props_with_expand = schema["properties"]
    props_with_expand.setdefault("expand", arr(STR))
    if required:
        schema["required"] = list(required)
    encoding = {
        k: {"style": "deepObject", "explode": True}
        for k, v in props_with_expand.items()
        if v.get("type") in ("object", "array")
    }
    media = {"schema": schema}
    if encoding:
        media["encoding"] = encoding
    return {"required": bool(required), "content": {"application/x-www-form-urlencoded": media}}


def ok(schema, description="OK"):
    return {
        "200": {"description": description, "content": {"application/json": {"schema": schema}}},
        "default": {"description": "Error", "content": {"application/json": {"schema": ref("Error")}}},
    }


def op(summary, responses, params=(), body=None, tag=None, security=True, op_id=None):
    o = {"summary": summary, "operationId": op_id, "parameters": list(params), "responses": responses}
    if body is not None:
        o["requestBody"] = body
    if tag:
        o["tags"] = [tag]
    if not security:
        o["security"] = []
    if not o["parameters"]:
        del o["parameters"]
    return o


PATHS: dict[str, dict] = {}


def add(path, method, operation_id, summary, responses, params=(), body=None, tag=None, security=True):
    assert operation_id not in {o["operationId"] for p in PATHS.values() for o in p.values()}, operation_id
    PATHS.setdefault(path, {})[method] = op(summary, responses, params, body, tag, security, operation_id)


def unsupported(path, operation_id, summary, tag, params=(ID,)):
    add(
        path, "post", operation_id, summary + " (not supported by tillgate: always a 400 naming it)",
        {"400": {"description": "Not supported", "content": {"application/json": {"schema": ref("Error")}}},
         "default": {"description": "Error", "content": {"application/json": {"schema": ref("Error")}}}},
        list(params), tag=tag,
    )


# -- service
add("/healthz", "get", "GetHealthz", "Liveness: 200 while the server runs.",
    {"200": {"description": "OK", "content": {"application/json": {"schema": obj({"status": const("ok")})}}}},
    tag="service", security=False)
add("/metrics", "get", "GetMetrics", "Prometheus metrics (OpenMetrics text format).",
    {"200": {"description": "OK", "content": {"application/openmetrics-text": {"schema": STR}}}}, tag="service",
    security=False)
add("/openapi.json", "get", "GetOpenapi", "This document.",
    {"200": {"description": "OK", "content": {"application/json": {"schema": obj({"openapi": STR, "paths": OBJ})}}}},
    tag="service", security=False)

# -- payment intents
PI_WRITE = {
    "amount": {"type": "integer", "minimum": 1},
    "currency": {"type": "string", "pattern": "^[a-zA-Z]{3}$"},
    "description": STR,
    "metadata": METADATA,
    "statement_descriptor": {"type": "string", "maxLength": 22},
    "capture_method": enum("automatic", "automatic_async", "manual"),
    "receipt_email": STR,
}
add("/v1/payment_intents", "get", "GetPaymentIntents", "List PaymentIntents, newest first.",
    ok(ref("PaymentIntentList")), [*PAGING_Q, EXPAND_Q], tag="payment_intents")
add("/v1/payment_intents", "post", "PostPaymentIntents", "Create a PaymentIntent.",
    ok(ref("PaymentIntent")),
    body=form({**PI_WRITE, "payment_method_types": arr(enum("card_present", "interac_present")),
               # Stripe's name from 2026-07-29; exclusive with payment_method_types.
               "allowed_payment_method_types": arr(enum("card_present", "interac_present"))},
              required=["amount", "currency"]),
    tag="payment_intents")
add("/v1/payment_intents/{id}", "get", "GetPaymentIntentsId", "Retrieve a PaymentIntent.",
    ok(ref("PaymentIntent")), [ID, q("client_secret"), EXPAND_Q], tag="payment_intents")
add("/v1/payment_intents/{id}", "post", "PostPaymentIntentsId", "Update a PaymentIntent.",
    ok(ref("PaymentIntent")), [ID], form(PI_WRITE), tag="payment_intents")
add("/v1/payment_intents/{id}/cancel", "post", "PostPaymentIntentsIdCancel", "Cancel a PaymentIntent.",
    ok(ref("PaymentIntent")), [ID],
    form({"cancellation_reason": enum("duplicate", "fraudulent", "requested_by_customer", "abandoned")}),
    tag="payment_intents")
add("/v1/payment_intents/{id}/capture", "post", "PostPaymentIntentsIdCapture",
    "Capture an authorised PaymentIntent (all, or amount_to_capture).",
    ok(ref("PaymentIntent")), [ID],
    form({"amount_to_capture": {"type": "integer", "minimum": 1}, "metadata": METADATA,
          "statement_descriptor": {"type": "string", "maxLength": 22}}),
    tag="payment_intents")
unsupported("/v1/payment_intents/{id}/confirm", "PostPaymentIntentsIdConfirm", "Confirm a PaymentIntent",
            "payment_intents")
unsupported("/v1/payment_intents/{id}/increment_authorization", "PostPaymentIntentsIdIncrementAuthorization",
            "Increment an authorisation", "payment_intents")

# -- charges, payment methods, refunds
add("/v1/charges", "get", "GetCharges", "List charges, newest first.", ok(ref("ChargeList")),
    [*PAGING_Q, q("payment_intent"), EXPAND_Q], tag="charges")
add("/v1/charges/{id}", "get", "GetChargesId", "Retrieve a charge.", ok(ref("Charge")), [ID, EXPAND_Q], tag="charges")
add("/v1/payment_methods", "get", "GetPaymentMethods", "List payment methods (cards presented).",
    ok(ref("PaymentMethodList")), [*PAGING_Q, q("type"), EXPAND_Q], tag="payment_methods")
add("/v1/payment_methods/{id}", "get", "GetPaymentMethodsId", "Retrieve a payment method.",
    ok(ref("PaymentMethod")), [ID, EXPAND_Q], tag="payment_methods")
add("/v1/refunds", "get", "GetRefunds", "List refunds, newest first.", ok(ref("RefundList")),
    [*PAGING_Q, q("charge"), q("payment_intent"), EXPAND_Q], tag="refunds")
add("/v1/refunds", "post", "PostRefunds", "Refund a charge (all or part).", ok(ref("Refund")),
    body=form({"charge": STR, "payment_intent": STR, "amount": {"type": "integer", "minimum": 1},
               "reason": enum("duplicate", "fraudulent", "requested_by_customer"), "metadata": METADATA}),
    tag="refunds")
add("/v1/refunds/{id}", "get", "GetRefundsId", "Retrieve a refund.", ok(ref("Refund")), [ID, EXPAND_Q], tag="refunds")

# -- events and webhooks
add("/v1/events", "get", "GetEvents", "List events, newest first.", ok(ref("EventList")),
    [*PAGING_Q, q("type"), {"name": "types[]", "in": "query", "required": False, "schema": arr(STR),
                             "style": "form", "explode": True},
     q("delivery_success", BOOL), EXPAND_Q], tag="events")
add("/v1/events/{id}", "get", "GetEventsId", "Retrieve an event.", ok(ref("Event")), [ID, EXPAND_Q], tag="events")
add("/v1/events/stream", "get", "GetEventsStream",
    "tillgate: the account's events live, as server-sent events (text/event-stream; never ends by itself).",
    {"200": {"description": "An event stream", "content": {"text/event-stream": {"schema": STR}}},
     "default": {"description": "Error", "content": {"application/json": {"schema": ref("Error")}}}},
    [q("type"), {"name": "types[]", "in": "query", "required": False, "schema": arr(STR), "style": "form",
                 "explode": True},
     q("reader"), q("location"), q("last_event_id"),
     {"name": "Last-Event-ID", "in": "header", "required": False, "schema": STR}],
    tag="events")
WH_WRITE = {
    "url": {"type": "string", "format": "uri"},
    "enabled_events": arr(STR),
    "description": STR,
    "metadata": METADATA,
    "disabled": BOOL,
    "api_version": STR,
}
add("/v1/webhook_endpoints", "get", "GetWebhookEndpoints", "List webhook endpoints.",
    ok(ref("WebhookEndpointList")),
    [q("limit", {"type": "integer", "minimum": 1, "maximum": 100}), q("starting_after"), q("ending_before"), EXPAND_Q],
    tag="webhook_endpoints")
add("/v1/webhook_endpoints", "post", "PostWebhookEndpoints", "Create a webhook endpoint (the answer carries its secret).",
    ok(ref("WebhookEndpoint")), body=form(WH_WRITE, required=["url", "enabled_events"]), tag="webhook_endpoints")
add("/v1/webhook_endpoints/{id}", "get", "GetWebhookEndpointsId", "Retrieve a webhook endpoint.",
    ok(ref("WebhookEndpoint")), [ID, EXPAND_Q], tag="webhook_endpoints")
add("/v1/webhook_endpoints/{id}", "post", "PostWebhookEndpointsId", "Update a webhook endpoint.",
    ok(ref("WebhookEndpoint")), [ID], form(WH_WRITE), tag="webhook_endpoints")
add("/v1/webhook_endpoints/{id}", "delete", "DeleteWebhookEndpointsId", "Delete a webhook endpoint.",
    ok(ref("Deleted")), [ID], tag="webhook_endpoints")
add("/v1/webhook_endpoints/{id}/deliveries", "get", "GetWebhookEndpointsIdDeliveries",
    "tillgate: the delivery attempts to an endpoint, newest first.", ok(ref("TillgateObjectList")),
    [ID, q("limit", {"type": "integer", "minimum": 1, "maximum": 100}), q("starting_after"), q("ending_before"),
     q("event")], tag="webhook_endpoints")

# -- terminal locations
LOC_WRITE = {
    "display_name": {"type": "string", "minLength": 1},
    "address": obj({"line1": STR, "line2": STR, "city": STR, "postal_code": STR, "state": STR, "country": STR},
                   required=[]),
    "metadata": METADATA,
    "configuration_overrides": STR,
}
add("/v1/terminal/locations", "get", "GetTerminalLocations", "List locations.", ok(ref("LocationList")),
    [*PAGING_Q, EXPAND_Q], tag="terminal")
add("/v1/terminal/locations", "post", "PostTerminalLocations", "Create a location.", ok(ref("Location")),
    body=form(LOC_WRITE, required=["display_name", "address"]), tag="terminal")
add("/v1/terminal/locations/{id}", "get", "GetTerminalLocationsId", "Retrieve a location.", ok(ref("Location")),
    [ID, EXPAND_Q], tag="terminal")
add("/v1/terminal/locations/{id}", "post", "PostTerminalLocationsId", "Update a location.", ok(ref("Location")),
    [ID], form(LOC_WRITE), tag="terminal")
add("/v1/terminal/locations/{id}", "delete", "DeleteTerminalLocationsId", "Delete a location.", ok(ref("Deleted")),
    [ID], tag="terminal")
add("/v1/terminal/locations/{id}/diagnose", "post", "PostTerminalLocationsIdDiagnose",
    "tillgate: diagnose every reader of a location.", ok(ref("TillgateObject")), [ID],
    form({"lang": LANG}), tag="diagnosis")

# -- terminal readers
add("/v1/terminal/readers", "get", "GetTerminalReaders", "List readers.", ok(ref("ReaderList")),
    [*PAGING_Q, q("device_type"), q("location"), q("serial_number"), q("status", enum("online", "offline")), EXPAND_Q],
    tag="terminal")
add("/v1/terminal/readers", "post", "PostTerminalReaders",
    "Register a reader (registration_code simulated-wpe etc. for simulated readers).", ok(ref("Reader")),
    body=form({"registration_code": {"type": "string", "minLength": 1}, "label": STR, "location": STR,
               "metadata": METADATA}, required=["registration_code"]),
    tag="terminal")
add("/v1/terminal/readers/{id}", "get", "GetTerminalReadersId", "Retrieve a reader.", ok(ref("Reader")),
    [ID, EXPAND_Q], tag="terminal")
add("/v1/terminal/readers/{id}", "post", "PostTerminalReadersId", "Update a reader's label or metadata.",
    ok(ref("Reader")), [ID], form({"label": {"type": "string", "minLength": 1}, "metadata": METADATA}), tag="terminal")
add("/v1/terminal/readers/{id}", "delete", "DeleteTerminalReadersId", "Delete a reader.", ok(ref("Deleted")),
    [ID], tag="terminal")
CONFIG = obj({"skip_tipping": BOOL, "enable_customer_cancellation": BOOL}, required=[])
add("/v1/terminal/readers/{id}/process_payment_intent", "post", "PostTerminalReadersIdProcessPaymentIntent",
    "Hand a PaymentIntent to the reader: it collects a card and authorises.", ok(ref("Reader")), [ID],
    form({"payment_intent": STR, "process_config": CONFIG}, required=["payment_intent"]), tag="terminal")
add("/v1/terminal/readers/{id}/collect_payment_method", "post", "PostTerminalReadersIdCollectPaymentMethod",
    "Collect a card for a PaymentIntent without authorising it yet.", ok(ref("Reader")), [ID],
    form({"payment_intent": STR, "collect_config": CONFIG}, required=["payment_intent"]), tag="terminal")
add("/v1/terminal/readers/{id}/confirm_payment_intent", "post", "PostTerminalReadersIdConfirmPaymentIntent",
    "Authorise the card a collect_payment_method collected.", ok(ref("Reader")), [ID],
    form({"payment_intent": STR, "confirm_config": OBJ}, required=["payment_intent"]), tag="terminal")
add("/v1/terminal/readers/{id}/refund_payment", "post", "PostTerminalReadersIdRefundPayment",
    "Refund a card-present payment on the reader.", ok(ref("Reader")), [ID],
    form({"payment_intent": STR, "charge": STR, "amount": {"type": "integer", "minimum": 1}, "metadata": METADATA,
          "refund_application_fee": BOOL, "reverse_transfer": BOOL}),
    tag="terminal")
CART = obj(
    {
        "currency": {"type": "string", "pattern": "^[a-zA-Z]{3}$"},
        "line_items": arr(obj({"amount": INT, "description": STR, "quantity": {"type": "integer", "minimum": 1}})),
        "tax": INT,
        "total": INT,
    },
    required=["currency", "line_items", "total"],
)
add("/v1/terminal/readers/{id}/set_reader_display", "post", "PostTerminalReadersIdSetReaderDisplay",
    "Show a cart on the reader; it stays the reader's in_progress action until replaced or cancel_action.",
    ok(ref("Reader")), [ID], form({"type": enum("cart"), "cart": CART}, required=["type"]), tag="terminal")
add("/v1/terminal/readers/{id}/cancel_action", "post", "PostTerminalReadersIdCancelAction",
    "Cancel the reader's action in progress.", ok(ref("Reader")), [ID], form({}), tag="terminal")
unsupported("/v1/terminal/readers/{id}/process_setup_intent", "PostTerminalReadersIdProcessSetupIntent",
            "Save a card with a SetupIntent", "terminal")
unsupported("/v1/terminal/readers/{id}/collect_inputs", "PostTerminalReadersIdCollectInputs",
            "Collect customer inputs", "terminal")
add("/v1/terminal/readers/{id}/end_of_day", "post", "PostTerminalReadersIdEndOfDay",
    "tillgate: close the terminal's day (ZVT end-of-day) and reconcile its batch.", ok(ref("TillgateObject")),
    [ID], form({}), tag="tillgate")
add("/v1/terminal/readers/{id}/terminal_diagnosis", "post", "PostTerminalReadersIdTerminalDiagnosis",
    "tillgate: run the terminal's own diagnosis (ZVT 06 70).", ok(ref("TillgateObject")), [ID], form({}),
    tag="tillgate")
add("/v1/terminal/readers/{id}/events", "get", "GetTerminalReadersIdEvents",
    "tillgate: a reader's own history (online, offline, actions...).", ok(ref("TillgateObjectList")),
    [ID, *PAGING_Q, q("type")], tag="tillgate")
add("/v1/terminal/readers/{id}/batches", "get", "GetTerminalReadersIdBatches",
    "tillgate: a terminal's end-of-day batches.", ok(ref("TillgateObjectList")),
    [ID, *PAGING_Q, q("status", enum("matched", "mismatch", "unverified"))], tag="tillgate")
add("/v1/terminal/readers/{id}/configuration", "get", "GetTerminalReadersIdConfiguration",
    "tillgate: the configuration in force for a reader.", ok(ref("TillgateObject")), [ID], tag="terminal")
add("/v1/terminal/readers/{id}/diagnose", "post", "PostTerminalReadersIdDiagnose",
    "tillgate: diagnose a reader (what is wrong, in words, with the evidence).", ok(ref("TillgateObject")), [ID],
    form({"lang": LANG}), tag="diagnosis")
add("/v1/terminal/readers/{id}/diagnoses", "get", "GetTerminalReadersIdDiagnoses",
    "tillgate: a reader's past diagnoses.", ok(ref("TillgateObjectList")), [ID, *PAGING_Q], tag="diagnosis")
add("/v1/terminal/readers/{id}/support_bundle", "get", "GetTerminalReadersIdSupportBundle",
    "tillgate: everything support needs about a reader, in one JSON document.", ok(ref("TillgateObject")),
    [ID, q("include_doctor", BOOL), q("lang", LANG)], tag="diagnosis")

# -- terminal configurations
DEVICE = obj({"splashscreen": STR}, required=[])
CFG_WRITE = {
    "bbpos_wisepos_e": DEVICE,
    "stripe_s700": DEVICE,
    "stripe_s710": DEVICE,
    "verifone_p400": DEVICE,
    "name": STR,
    "is_account_default": BOOL,
    "reboot_window": obj({"start_hour": {"type": "integer", "minimum": 0, "maximum": 23},
                          "end_hour": {"type": "integer", "minimum": 0, "maximum": 23}}),
    "offline": obj({"enabled": BOOL}),
    "tipping": OBJ,
    "tillgate": OBJ,
}
add("/v1/terminal/configurations", "get", "GetTerminalConfigurations", "List configurations.",
    ok(ref("ConfigurationList")), [*PAGING_Q, q("is_account_default", BOOL), EXPAND_Q], tag="terminal")
add("/v1/terminal/configurations", "post", "PostTerminalConfigurations", "Create a configuration.",
    ok(ref("Configuration")), body=form(CFG_WRITE), tag="terminal")
add("/v1/terminal/configurations/{id}", "get", "GetTerminalConfigurationsId", "Retrieve a configuration.",
    ok(ref("Configuration")), [ID, EXPAND_Q], tag="terminal")
add("/v1/terminal/configurations/{id}", "post", "PostTerminalConfigurationsId", "Update a configuration.",
    ok(ref("Configuration")), [ID], form(CFG_WRITE), tag="terminal")
add("/v1/terminal/configurations/{id}", "delete", "DeleteTerminalConfigurationsId", "Delete a configuration.",
    ok(ref("Deleted")), [ID], tag="terminal")

# -- test helpers (simulated readers)
add("/v1/test_helpers/terminal/readers/{id}/present_payment_method", "post",
    "PostTestHelpersTerminalReadersIdPresentPaymentMethod",
    "Present a (test) card to a simulated reader's action in progress.", ok(ref("Reader")), [ID],
    form({"type": enum("card_present", "interac_present"),
          "card_present": obj({"number": STR, "exp_month": INT, "exp_year": INT}, required=[]),
          "interac_present": obj({"number": STR}, required=[]),
          "amount_tip": {"type": "integer", "minimum": 0}}),
    tag="test_helpers")
add("/v1/test_helpers/terminal/readers/{id}/{change}", "post", "PostTestHelpersTerminalReadersIdChange",
    "tillgate: simulate a fault or recovery on a simulated reader.", ok(ref("TillgateObject")),
    [ID, {"name": "change", "in": "path", "required": True,
          "schema": enum("power_off", "power_on", "link_down", "link_up", "reboot", "change_ip", "set_signal")}],
    form({"ip_address": STR, "rssi_dbm": {"type": "integer", "minimum": -120, "maximum": 0},
          "loss": {"type": "number", "minimum": 0, "maximum": 1},
          "latency_ms": {"type": "integer", "minimum": 0, "maximum": 60000}}),
    tag="test_helpers")

# -- fleet and alerts (tillgate)
add("/v1/fleet/summary", "get", "GetFleetSummary", "tillgate: readers and today's takings per location.",
    ok(ref("TillgateObject")), tag="tillgate")
add("/v1/fleet/diagnose", "post", "PostFleetDiagnose", "tillgate: diagnose the whole fleet.",
    ok(ref("TillgateObject")), body=form({"lang": LANG}), tag="diagnosis")
RULE_WRITE = {
    "type": enum("reader_offline", "location_offline_share"),
    "threshold_secs": {"type": "integer", "minimum": 1},
    "threshold_share": {"type": "number", "minimum": 0, "maximum": 1},
    "during_opening_hours": BOOL,
    "location": STR,
    "enabled": BOOL,
    "metadata": METADATA,
}
add("/v1/alert_rules", "get", "GetAlertRules", "tillgate: list alert rules.", ok(ref("TillgateObjectList")),
    PAGING_Q, tag="alerts")
add("/v1/alert_rules", "post", "PostAlertRules", "tillgate: create an alert rule.", ok(ref("TillgateObject")),
    body=form(RULE_WRITE, required=["type"]), tag="alerts")
add("/v1/alert_rules/{id}", "get", "GetAlertRulesId", "tillgate: retrieve an alert rule.",
    ok(ref("TillgateObject")), [ID], tag="alerts")
add("/v1/alert_rules/{id}", "post", "PostAlertRulesId", "tillgate: update an alert rule.",
    ok(ref("TillgateObject")), [ID], form({k: v for k, v in RULE_WRITE.items() if k != "type"}), tag="alerts")
add("/v1/alert_rules/{id}", "delete", "DeleteAlertRulesId", "tillgate: delete an alert rule.", ok(ref("Deleted")),
    [ID], tag="alerts")
add("/v1/alerts", "get", "GetAlerts", "tillgate: list alerts, newest first.", ok(ref("TillgateObjectList")),
    [*PAGING_Q, q("status", enum("firing", "resolved")), q("reader"), q("location"), q("rule")], tag="alerts")
add("/v1/alerts/{id}", "get", "GetAlertsId", "tillgate: retrieve an alert.", ok(ref("TillgateObject")), [ID],
    tag="alerts")

# ---- examples and links ---------------------------------------------------------------------------
# Request examples that succeed (so the examples phase makes real objects), and links from each create
# to the operations on the created object (so the stateful phase works on real objects).

EXAMPLES = {
    "PostTerminalLocations": {"display_name": "Fuzz store", "address": {"line1": "1 Main St", "city": "Springfield",
                                                                        "postal_code": "12345", "country": "US"}},
    "PostTerminalReaders": {"registration_code": "simulated-wpe", "label": "Fuzz till"},
    "PostPaymentIntents": {"amount": 1000, "currency": "usd", "payment_method_types": ["card_present"]},
    "PostWebhookEndpoints": {"url": "http://127.0.0.1:9/hook", "enabled_events": ["payment_intent.succeeded"]},
    "PostTerminalConfigurations": {"name": "Fuzz configuration"},
    "PostAlertRules": {"type": "reader_offline", "threshold_secs": 300},
}

LINKS = {
    "PostTerminalLocations": [
        "GetTerminalLocationsId", "PostTerminalLocationsId", "DeleteTerminalLocationsId",
        "PostTerminalLocationsIdDiagnose",
    ],
    "PostTerminalReaders": [
        "GetTerminalReadersId", "PostTerminalReadersId", "DeleteTerminalReadersId",
        "PostTerminalReadersIdProcessPaymentIntent", "PostTerminalReadersIdCollectPaymentMethod",
        "PostTerminalReadersIdSetReaderDisplay", "PostTerminalReadersIdCancelAction",
        "PostTerminalReadersIdRefundPayment", "GetTerminalReadersIdEvents", "GetTerminalReadersIdBatches",
        "GetTerminalReadersIdConfiguration", "PostTerminalReadersIdDiagnose", "GetTerminalReadersIdDiagnoses",
        "GetTerminalReadersIdSupportBundle", "PostTestHelpersTerminalReadersIdPresentPaymentMethod",
        "PostTestHelpersTerminalReadersIdChange",
    ],
    "PostPaymentIntents": [
        "GetPaymentIntentsId", "PostPaymentIntentsId", "PostPaymentIntentsIdCancel", "PostPaymentIntentsIdCapture",
    ],
    "PostWebhookEndpoints": [
        "GetWebhookEndpointsId", "PostWebhookEndpointsId", "DeleteWebhookEndpointsId",
        "GetWebhookEndpointsIdDeliveries",
    ],
    "PostTerminalConfigurations": [
        "GetTerminalConfigurationsId", "PostTerminalConfigurationsId", "DeleteTerminalConfigurationsId",
    ],
    "PostAlertRules": ["GetAlertRulesId", "PostAlertRulesId", "DeleteAlertRulesId"],
}


def operations():
    for item in PATHS.values():
        yield from item.values()


BY_ID = {o["operationId"]: o for o in operations()}
for op_id, example in EXAMPLES.items():
    BY_ID[op_id]["requestBody"]["content"]["application/x-www-form-urlencoded"]["example"] = example
for op_id, targets in LINKS.items():
    links = {}
    for target in targets:
        assert target in BY_ID, target
        links[target] = {"operationId": target, "parameters": {"path.id": "$response.body#/id"}}
    BY_ID[op_id]["responses"]["200"]["links"] = links

DOC = {
    "openapi": "3.1.0",
    "info": {
        "title": "tillgate API",
        "version": "1",
        "description": (
            "The Stripe-compatible Terminal API tillgate serves, plus its own extensions (marked "
            "'tillgate:'). Requests authenticate with a secret key (Authorization: Bearer sk_test_..., "
            "or HTTP Basic with the key as user name); bodies are form-encoded as Stripe's are. "
            "Generated by scripts/openapi-gen.py: edit that, not this file."
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{"bearerAuth": []}, {"basicAuth": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "basicAuth": {"type": "http", "scheme": "basic"},
        },
        "schemas": SCHEMAS,
    },
}


def render() -> str:
    return json.dumps(DOC, indent=2, sort_keys=False) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is not what scripts/openapi-gen.py writes: run it", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(PATHS)} paths, "
          f"{sum(len(v) for v in PATHS.values())} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
