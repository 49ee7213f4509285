"""Fixtures for the client-library suite.

A real `tillgate serve` process (target/debug/tillgate, or $TILLGATE_BIN) on a free loopback port
with a throw-away SQLite database; the official `stripe` library is pointed at it through
`stripe.api_base` / `stripe.api_key`, exactly as a POS written against Stripe would be.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import stripe

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TILLGATE_BIN") or REPO / "target" / "debug" / "tillgate")
START_TIMEOUT = float(os.environ.get("TILLGATE_START_TIMEOUT", "30"))

# Figures the suite measures, printed in the terminal summary (so they show with -q too).
METRICS: dict[str, str] = {}
# Every server the session started and every secret key it used, for the final leak check
# (test_zz_no_secrets.py).
SERVERS: list["Server"] = []
KEYS: set[str] = set()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One tillgate server process bound to a database file; restartable on the same database."""

    def __init__(self, workdir: Path, api_key: str, extra_args=(), extra_env=None, name="server"):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = workdir / "tillgate.db"
        self.database_url = f"sqlite://{self.db_path}"
        self.api_key = api_key
        self.extra_args = list(extra_args)
        self.extra_env = dict(extra_env or {})
        self.name = name
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "server.log"
        self.starts = 0
        self.last_start_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not BIN.exists():
            pytest.fail(f"server binary {BIN} does not exist (run scripts/client-tests.sh, which builds it)")
        env = dict(os.environ)
        env.update(self.extra_env)
        env["TILLGATE_API_KEY"] = self.api_key
        env.setdefault("RUST_LOG", "info")
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts} on port {self.port} =====\n".encode())
        log.flush()
        cmd = [
            str(BIN), "serve",
            "--listen", f"127.0.0.1:{self.port}",
            "--database-url", self.database_url,
            *self.extra_args,
        ]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.workdir)
        log.close()
        deadline = t0 + START_TIMEOUT
        last_err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name}: `{' '.join(cmd)}` exited with {self.proc.returncode} before "
                            f"answering /healthz\n--- log tail ---\n{self.log_tail()}")
            try:
                r = requests.get(self.base_url + "/healthz", timeout=1)
                if r.status_code == 200:
                    self.last_start_seconds = time.monotonic() - t0
                    return
                last_err = f"HTTP {r.status_code}"
            except requests.RequestException as e:  # not listening yet
                last_err = repr(e)
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"{self.name}: /healthz not 200 within {START_TIMEOUT}s (last: {last_err})\n"
                    f"--- log tail ---\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: a crash, no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 10) -> int | None:
        """SIGTERM: graceful shutdown; returns the exit code (None if it had to be killed)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def restart(self) -> None:
        """SIGKILL the server, then start it again on the same database (and port, if still free)."""
        self.kill()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", self.port))
        except OSError:
            self.port = free_port()
        self.start()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def create_key(self, account: str) -> str:
        """`tillgate keys create --account NAME` against this server's database; returns the new key."""
        cmd = [str(BIN), "keys", "create", "--account", account, "--database-url", self.database_url]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=self.workdir)
        assert p.returncode == 0, f"`{' '.join(cmd)}` failed ({p.returncode}): {p.stderr}"
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        assert len(lines) == 1, f"`keys create` should print exactly one line on stdout, got {p.stdout!r}"
        key = lines[0].strip()
        assert key.startswith("sk_test_"), f"`keys create` printed {key!r}, expected sk_test_..."
        KEYS.add(key)
        return key


def new_key() -> str:
    return "sk_test_" + secrets.token_hex(12)


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory):
    """Start extra servers (own database each); all are stopped at the end of the session."""
    started: list[Server] = []

    def make(name: str, extra_args=(), extra_env=None, api_key=None, start=True) -> Server:
        """A server (started unless `start=False`, for a test that prepares its database first);
        stopped at the end of the session either way."""
        srv = Server(tmp_path_factory.mktemp(name), api_key or new_key(), extra_args, extra_env, name)
        KEYS.add(srv.api_key)
        SERVERS.append(srv)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    for srv in started:
        srv.terminate()


@pytest.fixture(scope="session")
def server(server_factory) -> Server:
    """The shared server: default account, simulated authorisation delay 0."""
    srv = server_factory("main")
    METRICS["server start to /healthz 200 (debug build, new SQLite db)"] = f"{srv.last_start_seconds:.2f} s"
    return srv


@pytest.fixture(scope="session")
def slow_server(server_factory) -> Server:
    """A second server whose simulated readers take 1.5 s to authorise (to catch a reader mid-payment)."""
    return server_factory("slow", extra_args=["--sim-auth-delay-ms", "1500"])


def configure_stripe(srv: Server) -> None:
    stripe.api_base = srv.base_url
    stripe.api_key = srv.api_key
    stripe.max_network_retries = 0


@contextmanager
def using(srv: Server):
    """Point the global stripe configuration at another server for the duration of a block."""
    old = (stripe.api_base, stripe.api_key)
    configure_stripe(srv)
    try:
        yield srv
    finally:
        stripe.api_base, stripe.api_key = old


@pytest.fixture(scope="session", autouse=True)
def _stripe_http_client():
    # Bounded requests: a hung server fails a test instead of hanging the suite (library default is 80 s).
    stripe.default_http_client = stripe.RequestsClient(timeout=20)
    stripe.max_network_retries = 0
    stripe.enable_telemetry = False
    yield


@pytest.fixture(autouse=True)
def _stripe_points_at_server(server):
    configure_stripe(server)
    yield
    configure_stripe(server)


@pytest.fixture(scope="session")
def key_b(server) -> str:
    """A secret key for a second account, made with `tillgate keys create` on the live database."""
    return server.create_key("acct_b_" + secrets.token_hex(3))


@pytest.fixture
def location():
    return stripe.terminal.Location.create(
        display_name="Test store " + secrets.token_hex(3),
        address={"line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
                 "state": "IL", "country": "US"},
    )


@pytest.fixture
def reader(location):
    return stripe.terminal.Reader.create(registration_code="simulated-wpe", location=location.id,
                                         label="Till " + secrets.token_hex(3))


def pytest_terminal_summary(terminalreporter):
    if METRICS:
        terminalreporter.section("tillgate measurements")
        for k, v in METRICS.items():
            terminalreporter.write_line(f"{k}: {v}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of each running server's log to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for name in ("server", "slow_server"):
            srv = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if isinstance(srv, Server):
                rep.sections.append((f"{srv.name} log tail ({srv.log_path})", srv.log_tail(25)))
