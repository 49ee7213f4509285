"""Stripe's published description of its API operations, as the official `stripe` Python library
ships it (its `*_service.py` methods and `params/` TypedDicts are generated from Stripe's OpenAPI
spec): which method and path exist, and the parameters each takes with their types and enums.

`RecordingProxy` sits between a gateway and its upstream and keeps every request; `problems()`
checks each against the description, so the `stripe` driver is judged by Stripe's spec and not only
by a second tillgate that happens to accept what it sends.
"""

from __future__ import annotations

import http.client
import re
import threading
import typing
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import types

import stripe
import typing_extensions
from stripe._request_options import RequestOptions

STRIPE_DIR = Path(stripe.__file__).parent
_DEF = re.compile(r"\n    (?:async )?def (\w+)\(")
_PARAMS = re.compile(r'params: (?:Optional\[)?"(\w+)"')
_REQUEST = re.compile(r'self\._request(?:_async)?\(\s*"(get|post|delete)",\s*"(/v1/[^"]+)"')


class Operation(typing.NamedTuple):
    method: str
    template: str
    pattern: re.Pattern
    params: type | None


def _params_class(name: str):
    return getattr(stripe.params, name, None) or _find_params(name)


def _find_params(name: str):
    for sub in ("terminal", "test_helpers", "test_helpers.terminal"):
        mod = stripe.params
        try:
            for part in sub.split("."):
                mod = getattr(mod, part)
        except AttributeError:
            continue
        if hasattr(mod, name):
            return getattr(mod, name)
    return None


def operations() -> list[Operation]:
    """Every operation the library's services call, with its parameters class."""
    ops: dict[tuple[str, str], Operation] = {}
    for f in STRIPE_DIR.rglob("*_service.py"):
        text = f.read_text()
        starts = [m.start() for m in _DEF.finditer(text)] + [len(text)]
        for a, b in zip(starts, starts[1:]):
            seg = text[a:b]
            req = _REQUEST.search(seg)
            if not req:
                continue
            method, template = req.groups()
            p = _PARAMS.search(seg)
            cls = _params_class(p.group(1)) if p else None
            pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$")
            ops[(method, template)] = Operation(method, template, pattern, cls)
    return list(ops.values())


def decode_form(text: str) -> dict:
    """Stripe's bracket form (`a[b][c]=v`, `l[]=x`, `l[0]=x`) as nested dicts and lists."""
    out: dict = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        m = re.fullmatch(r"([^\[]*)((?:\[[^\]]*\])*)", key)
        tokens = [m.group(1)] + re.findall(r"\[([^\]]*)\]", m.group(2)) if m else [key]
        _insert(out, tokens, value)
    return out


def _container(next_token: str):
    return [] if next_token == "" or next_token.isdigit() else {}


def _insert(node, tokens: list[str], value: str):
    tok, rest = tokens[0], tokens[1:]
    if isinstance(node, list):
        idx = len(node) if tok == "" else int(tok) if tok.isdigit() else len(node)
        while len(node) <= idx:
            node.append(None)
        if not rest:
            node[idx] = value
            return
        if not isinstance(node[idx], (list, dict)):
            node[idx] = _container(rest[0])
        _insert(node[idx], rest, value)
        return
    if not rest:
        node[tok] = value
        return
    if not isinstance(node.get(tok), (list, dict)):
        node[tok] = _container(rest[0])
    _insert(node[tok], rest, value)


_OPTIONS = set(RequestOptions.__annotations__)


def hints(cls) -> dict:
    """The annotations of a params TypedDict, evaluated where they can be (a name only imported
    for type checkers counts as Any)."""
    out = {}
    import sys
    for klass in reversed(cls.__mro__):
        ns = dict(vars(sys.modules.get(klass.__module__, typing)))
        ns.update({k: getattr(typing_extensions, k) for k in ("Literal", "NotRequired", "Required", "TypedDict")})
        ns.update({"List": typing.List, "Dict": typing.Dict, "Union": typing.Union, "Any": typing.Any})
        for k, v in getattr(klass, "__annotations__", {}).items():
            if isinstance(v, typing.ForwardRef):
                v = v.__forward_arg__
            if isinstance(v, str):
                try:
                    v = eval(v, ns)
                except Exception:
                    v = typing.Any
            out[k] = _resolve(v, ns)
    return out


def _resolve(t, ns):
    """Evaluates forward references nested in `t`."""
    if isinstance(t, typing.ForwardRef):
        try:
            return _resolve(eval(t.__forward_arg__, ns), ns)
        except Exception:
            return typing.Any
    if isinstance(t, str):
        try:
            return _resolve(eval(t, ns), ns)
        except Exception:
            return typing.Any
    args = typing.get_args(t)
    origin = typing.get_origin(t)
    if not args or origin in (typing.Literal, typing_extensions.Literal):
        return t
    new = tuple(_resolve(a, ns) for a in args)
    if origin is typing.Union or isinstance(t, types.UnionType):
        return typing.Union[new]
    if origin in (list, typing.List):
        return typing.List[new[0]]
    if origin in (dict, typing.Dict):
        return typing.Dict[new[0], new[1]]
    if origin in (typing_extensions.NotRequired, typing_extensions.Required):
        return new[0]
    return t


def _strip(t):
    origin = typing.get_origin(t)
    if origin in (typing_extensions.NotRequired, typing_extensions.Required):
        return typing.get_args(t)[0]
    return t


def check(value, t, where: str) -> list[str]:
    """Problems of `value` (as decoded from the form) against the annotation `t`."""
    t = _strip(t)
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if t is typing.Any:
        return []
    if origin is typing.Union or isinstance(t, types.UnionType):
        results = [check(value, a, where) for a in args]
        return [] if any(not r for r in results) else min(results, key=len)
    if origin is typing_extensions.Literal or origin is typing.Literal:
        return [] if value in [str(a) if not isinstance(a, bool) else str(a).lower() for a in args] \
            else [f"{where}={value!r} is not one of {list(args)}"]
    if origin in (list, typing.List):
        if not isinstance(value, list):
            return [f"{where} must be a list"]
        return [p for i, v in enumerate(value) for p in check(v, args[0], f"{where}[{i}]")]
    if origin in (dict, typing.Dict):
        if not isinstance(value, dict):
            return [f"{where} must be a hash"]
        return [p for k, v in value.items() for p in check(v, args[1], f"{where}[{k}]")]
    if t is str:
        return [] if isinstance(value, str) else [f"{where} must be a string"]
    if t is int:
        return [] if isinstance(value, str) and re.fullmatch(r"-?\d+", value) else [f"{where}={value!r} is not an integer"]
    if t is float:
        return [] if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) else [f"{where}={value!r} is not a number"]
    if t is bool:
        return [] if value in ("true", "false") else [f"{where}={value!r} is not a boolean"]
    if isinstance(t, type) and typing_extensions.is_typeddict(t):
        return check_params(value, t, where)
    return []


def check_params(value, cls, where: str = "") -> list[str]:
    if not isinstance(value, dict):
        return [f"{where or 'params'} must be a hash"]
    hs = hints(cls)
    problems = []
    for k, v in value.items():
        if k in _OPTIONS and not where:
            continue
        if k not in hs:
            problems.append(f"unknown parameter {where + '[' + k + ']' if where else k}")
            continue
        problems += check(v, hs[k], f"{where}[{k}]" if where else k)
    required = getattr(cls, "__required_keys__", frozenset()) - _OPTIONS
    for k in required:
        if k not in value:
            problems.append(f"missing required parameter {where + '[' + k + ']' if where else k}")
    return problems


def problems(recorded: list[tuple[str, str, dict]], ops: list[Operation] | None = None) -> list[str]:
    """Every way the recorded requests (method, path, decoded params) leave Stripe's description."""
    ops = ops or operations()
    out = []
    for method, path, params in recorded:
        matching = [o for o in ops if o.method == method and o.pattern.match(path)]
        # The most specific template (fewest placeholders) wins: /readers/{reader}/cancel_action
        # before /readers/{reader}.
        if not matching:
            out.append(f"{method.upper()} {path}: no such operation in Stripe's API")
            continue
        op = min(matching, key=lambda o: o.template.count("{"))
        if op.params is None:
            if params:
                out.append(f"{method.upper()} {path}: takes no parameters, got {sorted(params)}")
            continue
        out += [f"{method.upper()} {op.template}: {p}" for p in check_params(params, op.params)]
    return out


class RecordingProxy:
    """A loopback HTTP proxy in front of `upstream` (host, port) that records every request."""

    def __init__(self, upstream: tuple[str, int]):
        self.requests: list[tuple[str, str, dict]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                params = decode_form(body.decode() if self.command == "POST" else url.query)
                proxy.requests.append((self.command.lower(), url.path, params))
                conn = http.client.HTTPConnection(*upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                res = conn.getresponse()
                data = res.read()
                self.send_response(res.status)
                for k, v in res.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
