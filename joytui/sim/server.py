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


class IdleServer(uvicorn.Server):
    """uvicorn's server, woken once a second instead of ten times while idle, and at once when
    told to stop.

    uvicorn's main loop sleeps 0.1 s at a time to refresh the ``Date`` header (once a second)
    and to notice ``should_exit``; that tick was all an idle simulator did. Here the loop
    sleeps a whole second, and setting ``should_exit`` (Ctrl-C, :meth:`SimServer.stop`)
    wakes it.
    """

    TICK_SECONDS = 1.0
    TICKS = 10
    """uvicorn counts its ticks in tenths of a second; one of ours is ten of theirs."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None
        self._exit = False
        super().__init__(config)

    @property
    def should_exit(self) -> bool:
        """Whether to stop serving; setting it true wakes the main loop (from any thread)."""
        return self._exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._exit = value
        loop, woken = self._loop, self._woken
        if value and loop is not None and woken is not None and not loop.is_closed():
            loop.call_soon_threadsafe(woken.set)

    async def main_loop(self) -> None:
        """Tick once a second (Date header, exit checks) until ``should_exit``."""
        self._woken = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + self.TICKS) % 864000
            alarm = self._loop.call_later(self.TICK_SECONDS, self._woken.set)
            await self._woken.wait()
            alarm.cancel()
            self._woken.clear()
            should_exit = await self.on_tick(counter)


def make_server(simulator: Simulator, sock: socket.socket) -> uvicorn.Server:
    """A quiet uvicorn server for ``simulator`` (no access log; warnings on stderr; one
    wake-up a second while idle)."""
    config = uvicorn.Config(
        simulator.app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        # Like the servers in front of real APIs (nginx's 75 s), not uvicorn's 5 s: a client
        # polling every 5 s keeps its connections instead of reconnecting each time.
        timeout_keep_alive=75,
    )
    return IdleServer(config)


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
