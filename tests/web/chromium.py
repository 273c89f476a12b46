"""A real headless Chromium, driven through its DevTools protocol (CDP) over a websocket.

The browser may talk to loopback only: host names other than localhost resolve to nothing
and everything else goes to a proxy that does not exist, so no page, font or background
service reaches another machine.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

LOOPBACK_ONLY = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",  # loopback bypasses proxies; the rest fails here
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-pings",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
)

TERMINAL_TAP = """
(() => {
  // Keep what the dashboard's websocket sends (the terminal's output) where a test can read
  // it: xterm.js draws on a canvas, so the page's DOM holds no text.
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__terminalOutput = [];
  function Tapped(...args) {
    const socket = new Native(...args);
    socket.addEventListener("message", (event) => {
      const data = event.data;
      if (typeof data === "string") window.__terminalOutput.push(data);
      else if (data instanceof ArrayBuffer)
        window.__terminalOutput.push(decoder.decode(data, { stream: true }));
      else if (data instanceof Blob) data.text().then((t) => window.__terminalOutput.push(t));
    });
    return socket;
  }
  Tapped.prototype = Native.prototype;
  Object.assign(Tapped, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Tapped;
})();
"""


class Chromium:
    """One headless Chromium with one page; ``async with Chromium(tmp) as browser``."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 800) -> None:
        assert CHROMIUM is not None
        self.profile = profile
        self.width, self.height = width, height
        self.process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Chromium:
        self.profile.mkdir(parents=True, exist_ok=True)
        (self.profile / "DevToolsActivePort").unlink(missing_ok=True)  # a previous run's
        with (self.profile / "chromium.log").open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                f"--window-size={self.width},{self.height}",
                "--hide-scrollbars",
                *LOOPBACK_ONLY,
                "about:blank",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
            )
        try:
            async with asyncio.timeout(30):
                port = await self._devtools_port()
            self._session = aiohttp.ClientSession()
            async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json(content_type=None)
            page = next(t for t in targets if t["type"] == "page")
            self._socket = await self._session.ws_connect(
                page["webSocketDebuggerUrl"], max_msg_size=0
            )
            await self.send("Page.enable")
            await self.send("Runtime.enable")
            await self.send(
                "Emulation.setDeviceMetricsOverride",
                width=self.width,
                height=self.height,
                deviceScaleFactor=1,
                mobile=False,
            )
            await self.send("Page.addScriptToEvaluateOnNewDocument", source=TERMINAL_TAP)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _devtools_port(self) -> int:
        """The port Chromium wrote to its profile (it picks a free one)."""
        path = self.profile / "DevToolsActivePort"
        while True:
            written = path.read_text() if path.exists() else ""
            if written.strip():
                return int(written.split()[0])
            assert self.process is not None
            if self.process.returncode is not None:
                raise RuntimeError(f"chromium exited {self.process.returncode}; see chromium.log")
            await asyncio.sleep(0.1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One CDP command; returns its result (events in between are skipped)."""
        assert self._socket is not None
        ident = next(self._ids)
        await self._socket.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = await asyncio.wait_for(self._socket.receive_json(), timeout=30)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript ``expression`` in the page."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self) -> bytes:
        """A PNG of the page as it is now."""
        result = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(result["data"])

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            try:
                await asyncio.wait_for(self._socket.send_str(
                    json.dumps({"id": next(self._ids), "method": "Browser.close"})
                ), timeout=5)  # fmt: skip
            except Exception:
                pass  # it is killed below anyway
            await self._socket.close()
        if self._session is not None:
            await self._session.close()
        if self.process is not None:
            try:
                async with asyncio.timeout(5):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
