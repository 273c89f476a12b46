"""The audit log: one JSON line per attempted action, in ``audit.jsonl`` under the user state
directory (``~/.local/state/joytui`` on Linux; ``JOYTUI_AUDIT_LOG`` names another file).

Each line holds the time, the local user, the provider, account, kind, id and name of the
resource, the action and its parameters (secrets masked: env values, anything named like a
token or password, and every live client's secret), the outcome (``ok``, ``refused``,
``error``, ``unknown``), the message and the duration. The file is created mode 0600 and kept
so; lines are appended whole, so the dashboard and scripts can share one file.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

AUDIT_FILE = "audit.jsonl"
ENV_PATH = "JOYTUI_AUDIT_LOG"
MASK = "***"
OUTCOMES = ("ok", "refused", "error", "unknown")

_SECRET_NAME = re.compile(r"(?i)(token|secret|passw|api_?key|auth|credential|cookie)")
"""Parameter names whose values are never written (a Jamsocket ``key`` is a lock name, not a
secret, so it is kept)."""


def audit_path() -> Path:
    """Where the audit log lives: ``$JOYTUI_AUDIT_LOG``, else the user state dir (read at each
    call, so tests can point ``XDG_STATE_HOME`` elsewhere)."""
    override = os.environ.get(ENV_PATH)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_state_path("joytui") / AUDIT_FILE


def local_user() -> str:
    """The local login name (the uid when there is none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        return str(os.getuid())


def safe_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` fit for the log: env values and secret-looking fields masked, every live
    client's secret masked inside strings."""
    from joytui.providers.base import mask_secrets  # not at import: no provider code on start

    safe: dict[str, Any] = {}
    for name, value in params.items():
        if _SECRET_NAME.search(name):
            safe[name] = MASK
        elif name == "env":
            safe[name] = _masked_env(value)
        elif isinstance(value, str):
            safe[name] = mask_secrets(value)
        elif isinstance(value, bool | int | float) or value is None:
            safe[name] = value
        else:
            safe[name] = mask_secrets(str(value))
    return safe


def _masked_env(value: Any) -> Any:
    # Env vars are how secrets reach a backend: keep the names, never the values.
    if isinstance(value, Mapping):
        return {str(k): MASK for k in value}
    words = value.split() if isinstance(value, str) else list(value or [])
    return [f"{str(w).partition('=')[0]}={MASK}" for w in words]


@dataclass(frozen=True)
class AuditEntry:
    """One attempted action."""

    time: float
    """Unix seconds when it was attempted."""
    user: str
    provider: str
    account: str
    kind: str
    id: str
    name: str
    action: str
    outcome: str
    """ok, refused (joytui sent nothing), error (the provider refused or failed) or unknown
    (no answer: it may have been done)."""
    message: str
    duration_ms: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The entry as one JSON line (no newline), the time as ISO 8601 UTC."""
        data = asdict(self)
        data["time"] = iso_time(self.time)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> AuditEntry | None:
        """The entry of one line, or None if it is not one."""
        try:
            data = json.loads(line)
            data["time"] = datetime.fromisoformat(data["time"].replace("Z", "+00:00")).timestamp()
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def public(self) -> dict[str, Any]:
        """The JSON object ``joytui audit --format json`` prints."""
        return json.loads(self.to_json())


def iso_time(epoch: float) -> str:
    """``2026-11-18T09:14:03.123Z``."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class AuditLog:
    """Appends entries to the audit file and reads them back."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        """The file written to."""
        return self._path if self._path is not None else audit_path()

    def write(self, entry: AuditEntry) -> None:
        """Append ``entry`` as one line (the file made 0600, its directory 0700, if new).
        Raises OSError if it cannot be written."""
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)  # someone loosened it: the log names what was done
            os.write(fd, (entry.to_json() + "\n").encode("utf-8"))
        finally:
            os.close(fd)

    def read(self, since: float | None = None) -> list[AuditEntry]:
        """Every entry (at or after ``since``, Unix seconds), oldest first; lines that are not
        entries are skipped. No file: no entries."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        entries = []
        for line in text.splitlines():
            entry = AuditEntry.from_json(line) if line.strip() else None
            if entry is not None and (since is None or entry.time >= since):
                entries.append(entry)
        return entries


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m`` (or plain seconds) -> seconds; ValueError
    for anything else."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds < 0:
            raise ValueError(f"{text!r}: a duration cannot be negative")
        return seconds
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        raise ValueError(f"{text!r}: expected a duration such as 90s, 30m, 2h, 1d or 1h30m")
    return sum(float(n) * _UNIT[u.lower()] for n, u in parts)


def entry_for(
    *,
    provider: str,
    account: str,
    kind: str,
    resource_id: str,
    name: str,
    action: str,
    params: Mapping[str, Any],
    outcome: str,
    message: str,
    duration: float,
    at: float | None = None,
) -> AuditEntry:
    """An entry for an attempt now (or ``at``), the params and message made safe."""
    from joytui.providers.base import mask_secrets

    return AuditEntry(
        time=time.time() if at is None else at,
        user=local_user(),
        provider=provider,
        account=account,
        kind=kind,
        id=resource_id,
        name=name,
        action=action,
        params=safe_params(params),
        outcome=outcome,
        message=mask_secrets(message),
        duration_ms=round(duration * 1000, 1),
    )


__all__ = [
    "AUDIT_FILE",
    "OUTCOMES",
    "AuditEntry",
    "AuditLog",
    "audit_path",
    "entry_for",
    "local_user",
    "parse_duration",
    "safe_params",
]
