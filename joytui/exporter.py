"""``joytui exporter``: the pollers headless, the fleet served as Prometheus metrics.

A :class:`~joytui.core.session.Session` polls every account as the dashboard would; the
metrics are read from its store when Prometheus scrapes (:class:`StoreCollector`), so a poll
costs nothing extra. Only the poll durations and the error counts are kept between scrapes,
from the session's :class:`~joytui.core.session.AccountPolled` events.

The metric names and labels are a contract (README, "The exporter"). No secret is ever a
label value; names from outside pass through :func:`joytui.safe_text.printable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import uvicorn
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    make_asgi_app,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from joytui.config import Config
from joytui.core.session import AccountPolled, AccountsOpened, Session
from joytui.core.store import AccountState, Health, Store
from joytui.model import Status
from joytui.providers.errors import KINDS as PROVIDER_ERROR_KINDS
from joytui.safe_text import printable

DEFAULT_LISTEN = "127.0.0.1:9877"
ACCOUNT_LABELS = ("provider", "account")
RESOURCE_LABELS = ("provider", "account", "kind", "id", "name")
ERROR_KINDS = (*PROVIDER_ERROR_KINDS, "other")
"""The ``kind`` label of ``joytui_account_poll_errors_total``: the provider error taxonomy's
kinds, and ``other`` for anything else (a setup error, a surprise)."""
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ListenError(ValueError):
    """A ``--listen`` address that cannot be used."""


def error_kind(error: BaseException | None) -> str:
    """The ``kind`` label for ``error``: its ``kind`` attribute if it is a known one."""
    kind = getattr(error, "kind", None)
    return kind if isinstance(kind, str) and kind in ERROR_KINDS else "other"


def _account_labels(state: AccountState) -> list[str]:
    return [state.provider, printable(state.account)]


class StoreCollector(Collector):
    """Reads the store at scrape time: accounts up and their data's age, resource counts, and
    (while the fleet has at most ``max_resource_series`` resources) one series per resource.

    A failing account exports ``up`` 0 and keeps its last counts, with their age.
    """

    def __init__(
        self,
        store: Store,
        max_resource_series: int,
        *,
        clock: Callable[[], float] = time.time,
        err: TextIO | None = None,
    ) -> None:
        self.store = store
        self.max_resource_series = max_resource_series
        self._clock = clock
        self._err = err
        self._said_limited = False

    def collect(self) -> Iterator[Metric]:
        """Every store-backed metric family, as of now."""
        now = self._clock()
        accounts = list(self.store.accounts.values())
        total = sum(len(state.resources) for state in accounts)
        per_resource = total <= self.max_resource_series
        if not per_resource and not self._said_limited:
            self._said_limited = True
            print(
                f"joytui exporter: {total} resources is more than max_resource_series "
                f"({self.max_resource_series}): exporting counts only, no per-resource series",
                file=self._err or sys.stderr,
            )
        up = GaugeMetricFamily(
            "joytui_account_up",
            "1 when the account's last poll succeeded and its data is fresh, else 0.",
            labels=ACCOUNT_LABELS,
        )
        age = GaugeMetricFamily(
            "joytui_account_data_age_seconds",
            "Seconds since the account's last good poll (absent before the first).",
            labels=ACCOUNT_LABELS,
        )
        counts = GaugeMetricFamily(
            "joytui_resources",
            "Resources by kind and status, as of the account's last good poll.",
            labels=(*ACCOUNT_LABELS, "kind", "status"),
        )
        status = GaugeMetricFamily(
            "joytui_resource_status",
            "1 for each resource, labelled with its current status.",
            labels=(*RESOURCE_LABELS, "status"),
        )
        cpu = GaugeMetricFamily(
            "joytui_resource_cpu_ratio",
            "A resource's CPU use, 0-1, where the provider reports it.",
            labels=RESOURCE_LABELS,
        )
        memory = GaugeMetricFamily(
            "joytui_resource_memory_bytes",
            "A resource's memory in use, in bytes, where the provider reports it.",
            labels=RESOURCE_LABELS,
        )
        for state in accounts:
            labels = _account_labels(state)
            up.add_metric(labels, 1.0 if state.health_at(now) is Health.OK else 0.0)
            data_age = state.age(now)
            if data_age is not None:
                age.add_metric(labels, data_age)
            by_kind: dict[str, dict[str, int]] = {}
            for resource in state.resources.values():
                by_status = by_kind.setdefault(resource.kind, {})
                by_status[resource.status.value] = by_status.get(resource.status.value, 0) + 1
                if not per_resource:
                    continue
                ids = [*labels, resource.kind, printable(resource.id), printable(resource.name)]
                status.add_metric([*ids, resource.status.value], 1.0)
                if resource.cpu_percent is not None:
                    cpu.add_metric(ids, resource.cpu_percent / 100.0)
                if resource.memory_used is not None:
                    memory.add_metric(ids, float(resource.memory_used))
            for kind, by_status in by_kind.items():
                # Every status, zeros too, so "count in error > 0" falls back to 0, not absent.
                for value in Status:
                    counts.add_metric([*labels, kind, value.value], by_status.get(value.value, 0))
        yield up
        yield age
        yield counts
        if per_resource:
            yield status
            yield cpu
            yield memory


class ExporterMetrics:
    """The exporter's registry: the store collector, plus poll durations and error counts fed
    from the session's events."""

    def __init__(self, session: Session, *, err: TextIO | None = None) -> None:
        self.registry = CollectorRegistry()
        self.collector = StoreCollector(session.store, session.config.max_resource_series, err=err)
        self.registry.register(self.collector)
        self.durations = Histogram(
            "joytui_account_poll_duration_seconds",
            "How long each good poll of the account took.",
            ACCOUNT_LABELS,
            buckets=POLL_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "joytui_account_poll_errors",
            "Failed polls of the account, by error kind.",
            (*ACCOUNT_LABELS, "kind"),
            registry=self.registry,
        )
        session.subscribe(self.on_event)

    def _known(self, state: AccountState) -> None:
        # Series exist from the start at 0, so rate() and increase() see the first failure.
        labels = _account_labels(state)
        self.durations.labels(*labels)
        for kind in ERROR_KINDS:
            self.errors.labels(*labels, kind)

    def on_event(self, event: object) -> None:
        """Feed one session event into the histogram and the counter."""
        if isinstance(event, AccountsOpened):
            for handle in event.handles:
                state = self._state(handle.provider, handle.name)
                if state is None:
                    continue
                self._known(state)
                if handle.client is None:  # it never got a client: count its setup error once
                    self.errors.labels(*_account_labels(state), error_kind(state.error)).inc()
        elif isinstance(event, AccountPolled):
            state = event.result.account
            labels = _account_labels(state)
            if event.result.changes is None:
                self.errors.labels(*labels, error_kind(state.error)).inc()
            elif state.latency_ms is not None:
                self.durations.labels(*labels).observe(state.latency_ms / 1000.0)

    def _state(self, provider: str, account: str) -> AccountState | None:
        return self.collector.store.accounts.get((provider, account))


def _asgi(metrics: Callable[..., Any]) -> Callable[..., Any]:
    """``/metrics`` from the registry; ``/`` says where they are; anything else is 404."""

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]):
        if scope["type"] != "http":
            return
        if scope.get("path") == "/metrics":
            await metrics(scope, receive, send)
            return
        found = scope.get("path") == "/"
        body = b"joytui exporter: the metrics are at /metrics\n" if found else b"not found\n"
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        status = 200 if found else 404
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: the exporter stops on SIGINT and
    SIGTERM itself, closes its clients and exits 0 (uvicorn would re-raise the signal)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the signals to the exporter."""
        yield


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9877`` for IPv6) or a bare ``PORT`` (on 127.0.0.1)."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", text
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise ListenError(
            f"--listen {text}: give a host, e.g. 127.0.0.1:9877 (0.0.0.0:9877 for every interface)"
        )
    try:
        port = int(port_text)
    except ValueError:
        raise ListenError(f"--listen {text}: the port must be a number") from None
    if not 0 <= port <= 65535:
        raise ListenError(f"--listen {text}: the port must be between 0 and 65535")
    return host, port


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def bind(host: str, port: int) -> socket.socket:
    """A bound TCP socket on ``host``:``port`` (uvicorn listens on it)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ListenError(f"--listen {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ListenError(f"--listen {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"


async def serve(config: Config, sock: socket.socket, *, err: TextIO | None = None) -> None:
    """Poll every account of ``config`` and serve ``/metrics`` on ``sock`` until SIGINT or
    SIGTERM; then stop polling, close the clients and return."""
    session = Session(config, read_only=True)
    session.register_accounts()  # every account is exported (up 0) before it opens
    metrics = ExporterMetrics(session, err=err)
    server = _Server(
        uvicorn.Config(
            _asgi(make_asgi_app(metrics.registry)),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    polling = asyncio.create_task(session.run(), name="exporter polls")
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="exporter server")
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        server.should_exit = True
        # A poll of a hanging server would take its whole timeout: cancel, don't wait.
        polling.cancel()
        stopped.cancel()
        await asyncio.gather(serving, polling, stopped, return_exceptions=True)
        await session.aclose()


def cmd_exporter(config: Config, listen: str = DEFAULT_LISTEN, err: TextIO | None = None) -> int:
    """``joytui exporter``: serve the fleet's metrics until Ctrl-C; exit status 0."""
    err = err or sys.stderr
    host, port = parse_listen(listen)
    # One process, one exporter: the *_created series only double what Prometheus stores.
    disable_created_metrics()
    sock = bind(host, port)
    url = _url(sock)
    if not is_loopback(host):
        print(
            f"joytui exporter: warning: {url} is reachable from other machines and has no "
            "authentication: anyone who reaches it reads your accounts' and resources' names "
            "and states (bind 127.0.0.1 and tunnel, or put a proxy with auth in front)",
            file=err,
        )
    count = len(config.accounts())
    print(
        f"joytui exporter: serving {url} for {count} account{'s' * (count != 1)}; Ctrl-C stops",
        file=err,
    )
    err.flush()
    try:
        asyncio.run(serve(config, sock, err=err))
    except KeyboardInterrupt:
        pass  # Ctrl-C before the loop took over the signal: still a clean stop
    finally:
        sock.close()
    return 0
