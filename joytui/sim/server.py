"""Serving a :class:`Simulator` with uvicorn on loopback: in a thread (tests, demo) or in front."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType

import uvicorn

from joytui.sim.app import Simulator
from joytui.sim.base import SimOptions


def bind_loopback(port: int = 0) -> socket.socket:
    """A listening-ready TCP socket on 127.0.0.1 (``port`` 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this; without it every answer waits on Nagle + delayed ACK (~40 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    return sock


def make_server(simulator: Simulator, sock: socket.socket) -> uvicorn.Server:
    """A quiet uvicorn server for ``simulator`` (no access log; warnings on stderr)."""
    config = uvicorn.Config(
        simulator.app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


class SimServer:
    """A simulator on a free loopback port, served from a background thread.

    Use as a context manager: ``with SimServer(SimOptions(seed=1)) as sim: sim.base_url``.
    """

    def __init__(
        self, options: SimOptions | None = None, port: int = 0, faults: str | None = None
    ) -> None:
        self.simulator = Simulator(options, faults=faults)
        self._sock = bind_loopback(port)
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.simulator.set_base_url(self.base_url)
        self._server = make_server(self.simulator, self._sock)
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> SimServer:
        """Start serving; returns once the port accepts connections."""
        self._thread = threading.Thread(target=self._run, name="joytui-sim", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
