"""What a faulty server sends: proxy pages, the providers' error bodies, and spoiled JSON.

Pure functions of their arguments (and a random generator), used by the fault middleware.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

NESTED_DEPTH = 100_000
INVALID_UTF8 = b"\xff\xfe\xc3("
"""Bytes that are never UTF-8: two bytes no encoding uses, and a lead byte left unfinished."""
JAMSOCKET_ERROR_ID = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RETRY_AFTER_STATUSES = frozenset({429, 503})

ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n"
    "<body><center><h1>500 Internal Server Error</h1></center>\n"
    "<hr><center>nginx</center></body></html>\n"
)

# A JSON string (escapes skipped whole), then whether a colon follows: a key, else a value.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"(\s*:)?', re.DOTALL)
_STRINGS_LOOKED_AT = 200
"""How many strings of a body are candidates; enough to vary, cheap on a 10 MB list."""


def phrase(status: int) -> str:
    """The reason phrase of ``status`` (``Error`` for a code HTTP does not name)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def proxy_page(status: int) -> bytes:
    """The HTML page nginx sends for ``status`` (a 5xx, or the body of a redirect)."""
    title = f"{status} {phrase(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def provider_error(provider: str, status: int, token: Callable[[str, int], str]) -> bytes:
    """The JSON error ``provider``'s own API answers ``status`` with (``token`` makes ids)."""
    words = phrase(status)
    body: dict[str, Any]
    if provider == "joy":
        error = words.lower().replace(" ", "_").replace("-", "_")
        body = {"success": "false", "error": error, "message": words}
    elif provider == "jamsocket":
        code = words.title().replace(" ", "").replace("-", "")
        ident = token(JAMSOCKET_ERROR_ID, 26)
        body = {"error": {"message": words, "status": status, "code": code, "id": ident}}
    else:  # cockpit and instances answer {"error": "..."}
        body = {"error": words.lower() if provider == "cockpit" else words}
    return json.dumps(body, separators=(",", ":")).encode()


def status_answer(
    provider: str, status: int, retry_after: int, token: Callable[[str, int], str]
) -> tuple[bytes, str, list[tuple[bytes, bytes]]]:
    """Body, content type and extra headers of a ``status`` answer from ``provider``: a 4xx
    from the API itself (its JSON error), a 5xx from the proxy in front (an HTML page)."""
    headers = []
    if status in RETRY_AFTER_STATUSES:
        headers.append((b"retry-after", str(retry_after).encode()))
    if status >= 500:
        return proxy_page(status), "text/html; charset=utf-8", headers
    return provider_error(provider, status, token), "application/json", headers


def mangle(value: Any, rng: random.Random) -> Any:
    """Drop one field or give one field the wrong type, somewhere inside ``value``."""
    containers: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                containers.append((node, k))
                walk(v)
        elif isinstance(node, list):
            for i, v in enumerate(node[:50]):
                containers.append((node, i))
                walk(v)

    walk(value)
    if not containers:
        return {"unexpected": value}
    parent, key = rng.choice(containers)
    old = parent[key]
    if isinstance(parent, dict) and rng.random() < 0.4:
        del parent[key]
    elif isinstance(old, bool):
        parent[key] = "maybe"
    elif isinstance(old, int | float):
        parent[key] = "n/a"
    elif isinstance(old, str):
        parent[key] = [old]
    elif isinstance(old, list):
        parent[key] = {"items": old}
    elif isinstance(old, dict):
        parent[key] = "object"
    else:
        parent[key] = 42
    return value


def break_utf8(body: bytes, rng: random.Random) -> bytes:
    """``body`` with :data:`INVALID_UTF8` inserted just inside one string value (a key when
    there is no value; unchanged when it holds no string at all)."""
    values: list[int] = []
    keys: list[int] = []
    for match in itertools.islice(_JSON_STRING.finditer(body), _STRINGS_LOOKED_AT):
        (keys if match.group(1) else values).append(match.start() + 1)
    spots = values or keys
    if not spots:
        return body
    at = rng.choice(spots)
    return body[:at] + INVALID_UTF8 + body[at:]


def nested_json(depth: int = NESTED_DEPTH) -> bytes:
    """``depth`` arrays, each holding the next: ``[[[...]]]``."""
    return b"[" * depth + b"]" * depth
