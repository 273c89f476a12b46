"""How the simulated Joy API answers: JSON (encoded twice when a quirk says so), the
spec's string-for-everything quirks, and the shapes of its errors."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.responses import JSONResponse, Response


def _same(value: Any) -> Any:
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _json_body(text: str | bytes, status: int, double: bool) -> Response:
    if double:
        # The whole document becomes one JSON string, as a layer that encodes twice sends it.
        text = json.dumps(text.decode() if isinstance(text, bytes) else text)
    body = text if isinstance(text, bytes) else text.encode()
    return Response(body, status_code=status, media_type="application/json")


def _protocol_error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"success": "false", "error": error, "message": message}, status)


def _flipped(success: Any) -> Any:
    flips = {True: "true", False: "false", "true": True, "false": False}
    return flips.get(success, success) if isinstance(success, bool | str) else success


def _stringify(value: Any) -> Any:
    """``value`` with every number turned into a string, as some serializers answer."""
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _total(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if k not in ("iram", "icore"))


def _datetime(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
