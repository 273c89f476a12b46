"""Tolerant reading of what providers send: field readers for the wire models, the
:class:`WireModel` base, validation errors in words, a tolerant JSON decoder, Retry-After and
status-word mapping. Pure functions, no I/O; errors are unbound :class:`BadPayloadError`s that
a client names its account in.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from joytui.model import Status
from joytui.providers.errors import BadPayloadError, snippet

MS_THRESHOLD = 1e11
"""Epoch values at or above this are milliseconds (1e11 seconds is the year 5138)."""

M = TypeVar("M", bound=BaseModel)


# -- tolerant readers ---------------------------------------------------------------------------


def to_float(value: Any) -> float | None:
    """A number from a number or a numeric string; None for null or ``""``.

    Raises ``ValueError("expected a number")`` for anything else (booleans included).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    else:
        raise ValueError("expected a number")
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def to_int(value: Any) -> int | None:
    """An integer from an int, a float (rounded) or a numeric string; None for null or ``""``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = to_float(value)
    if number is None:
        return None
    if abs(number) > 2**63:
        raise ValueError("expected an integer of a sane size")
    return round(number)


_TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "off", "n", "f"})


def to_bool(value: Any) -> bool | None:
    """A boolean from true/false, 1/0 or the strings ``"true"``/``"false"``/``"1"``/``"0"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError("expected true or false")


def to_timestamp(value: Any) -> float | None:
    """Unix seconds from ISO 8601 text, epoch seconds or epoch milliseconds (number or string).

    A time without a zone is taken as UTC. None for null or ``""``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if len(text) >= 10 and text[4] == "-":  # ISO 8601 (the common case): no float() try
            return _iso_timestamp(text)
        try:
            number = float(text)
        except ValueError:
            return _iso_timestamp(text)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise ValueError("expected a time (ISO 8601 or epoch seconds)")
    if not math.isfinite(number):
        raise ValueError("expected a finite time")
    return number / 1000 if abs(number) >= MS_THRESHOLD else number


def _iso_timestamp(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a time (ISO 8601 or epoch seconds)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def scaled_int(value: float | None, factor: float = 1.0) -> int | None:
    """``value * factor`` as an int (bytes from MiB, say); None if missing or absurdly large."""
    if value is None:
        return None
    result = value * factor
    if not math.isfinite(result) or abs(result) >= 2**63:
        return None
    return int(result)


def percent(fraction: float | None) -> float | None:
    """A 0-1 fraction as a percentage rounded to 0.01; None if missing or not finite."""
    if fraction is None:
        return None
    result = fraction * 100
    return round(result, 2) if math.isfinite(result) else None


def to_text(value: Any) -> str | None:
    """A string from a string or a number (ids sometimes arrive as numbers); None for null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected a string")


Num = Annotated[float | None, BeforeValidator(to_float)]
"""A tolerant number field: ``1.5``, ``"1.5"``, null."""
Int = Annotated[int | None, BeforeValidator(to_int)]
"""A tolerant integer field: ``4``, ``"4"``, ``4.0``, null."""
Bool = Annotated[bool | None, BeforeValidator(to_bool)]
"""A tolerant boolean field: ``true``, ``"true"``, ``1``, ``"0"``, null."""
Timestamp = Annotated[float | None, BeforeValidator(to_timestamp)]
"""A tolerant time field, read as Unix seconds."""
Text = Annotated[str | None, BeforeValidator(to_text)]
"""A tolerant string field: numbers become their decimal text."""
Ident = Annotated[str, BeforeValidator(to_text), Field(min_length=1)]
"""A required, non-empty id (a number is taken as its decimal text)."""


class WireModel(BaseModel):
    """Base of every wire model: unknown fields ignored, fields settable by name or alias."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


_PROBLEMS = {
    "missing": "missing",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "literal_error": "unexpected value",
    "too_long": "too many items",
    "string_too_short": "empty",
    "recursion_loop": "nested too deeply",
}


def describe_validation_error(exc: ValidationError) -> tuple[str | None, str]:
    """(dotted field path, problem) of the first error, never quoting the offending value."""
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    kind = first["type"]
    problem = _PROBLEMS.get(kind)
    if problem is None:
        if kind == "value_error":
            # Our own readers' messages ("expected a number"), without pydantic's prefix.
            problem = str(first.get("ctx", {}).get("error", "")) or "invalid value"
        else:
            problem = kind.replace("_", " ")
    return field, snippet(problem, 80)


def parse_model(model: type[M], data: Any, call: str) -> M:
    """Validate ``data`` into ``model``; any mismatch raises :class:`BadPayloadError` for
    ``call`` naming the field (never quoting the value)."""
    # Raised outside the except blocks: pydantic's error holds the input, which may hold a
    # secret (Joy's account_info), so it must not ride along as __context__.
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, problem = describe_validation_error(exc)
    except (ValueError, TypeError, RecursionError):
        field, problem = None, "could not be read"
    raise BadPayloadError(problem, call=call, field=field)


def looks_like_html(text: str) -> bool:
    """Whether ``text`` starts like an HTML page (a proxy's error page, a login form)."""
    head = text.lstrip()[:200].lower()
    return head.startswith("<") and ("html" in head or "<body" in head or "<head" in head)


def _loads(text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, the problem)."""
    try:
        return json.loads(text), None
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as exc:
        if looks_like_html(text):
            return None, "an HTML page, not JSON"
        cut = isinstance(exc, json.JSONDecodeError) and exc.pos >= len(text.rstrip()) - 1
        return None, "JSON cut short" if cut else "not valid JSON"


def decode_json(content: bytes | str, call: str) -> Any:
    """Parse a JSON answer once and, if that gives a string, parse it again (some layers
    encode the document twice). Anything unreadable raises :class:`BadPayloadError`."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    if not text.strip():
        raise BadPayloadError("an empty answer, not JSON", call=call)
    value, problem = _loads(text)
    if problem is None and isinstance(value, str):
        inner = value
        value, problem = _loads(inner)
        if problem is not None and problem != "JSON nested too deeply":
            problem = f"a string holding {problem}" if inner.strip() else "an empty string"
        elif problem is None and isinstance(value, str):
            problem = "a bare string, not a JSON document"
    if problem is not None:
        raise BadPayloadError(problem, call=call)
    return value


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date); None if unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def map_status(
    raw: str | None,
    table: Mapping[str, Status],
    pending: Collection[str] = (),
    pending_suffixes: Sequence[str] = (),
) -> Status:
    """Normalize a provider's status word: ``table`` first, then the words in ``pending`` or
    ending in one of ``pending_suffixes`` (transitions like ``stopping``) are pending, and
    anything else is unknown."""
    if not isinstance(raw, str):
        return Status.UNKNOWN
    word = raw.strip().lower()
    if word in table:
        return table[word]
    if word in pending or (word and word.endswith(tuple(pending_suffixes))):
        return Status.PENDING
    return Status.UNKNOWN


def error_message_in(data: Any) -> str:
    """The human part of an error document: ``error``/``message``/``detail``, nested or not."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "error_description", "msg"):
            value = data.get(key)
            if isinstance(value, str) and value:
                # Joy: {"error": "invalid_state", "message": "..."} — keep both.
                other = data.get("error") if key == "message" else None
                if isinstance(other, str) and other and other != value:
                    return f"{other}: {value}"
                return value
            if isinstance(value, dict):
                inner = error_message_in(value)
                if inner:
                    return inner
    return ""


__all__ = [
    "MS_THRESHOLD",
    "Bool",
    "Ident",
    "Int",
    "Num",
    "Text",
    "Timestamp",
    "WireModel",
    "decode_json",
    "describe_validation_error",
    "error_message_in",
    "looks_like_html",
    "map_status",
    "parse_model",
    "parse_retry_after",
    "percent",
    "scaled_int",
    "to_bool",
    "to_float",
    "to_int",
    "to_text",
    "to_timestamp",
]
