"""How values read on screen: status glyphs and order, health glyphs, bytes, ages."""

from __future__ import annotations

from joytui.core.store import Health
from joytui.model import Status

STATUS_GLYPHS = {
    Status.RUNNING: "●",
    Status.PENDING: "◐",
    Status.PAUSED: "‖",
    Status.STOPPED: "■",
    Status.ERROR: "✖",
    Status.UNKNOWN: "?",
}
# Trouble first; unknown last, since it mostly means "not asked yet" (Joy's status needs a
# machine_info per machine, fetched for the visible rows first).
STATUS_ORDER = {
    s: i
    for i, s in enumerate(
        [
            Status.ERROR,
            Status.PENDING,
            Status.PAUSED,
            Status.STOPPED,
            Status.RUNNING,
            Status.UNKNOWN,
        ]
    )
}


def human_bytes(value: float | None) -> str:
    """1536 -> '1.5K'; None -> ''."""
    if value is None:
        return ""
    for unit in ("", "K", "M", "G", "T"):
        if abs(value) < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "" else f"{value:.1f}{unit}"
        value /= 1024
    return ""


def human_age(seconds: float | None) -> str:
    """42 -> '42s', 150 -> '2m', 7200 -> '2h'."""
    if seconds is None:
        return "never"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


STATUS_SHORT = {
    Status.RUNNING: "RUN",
    Status.PENDING: "PEND",
    Status.PAUSED: "PAUSE",
    Status.STOPPED: "STOP",
    Status.ERROR: "ERR",
    Status.UNKNOWN: "UNKN",
}
HEALTH_GLYPHS = {Health.OK: "✔", Health.DEGRADED: "▲", Health.DOWN: "✖", Health.WAITING: "…"}


def health_style(health: Health) -> str:
    """The theme variable an account's health is drawn in."""
    return {
        Health.OK: "success",
        Health.DEGRADED: "warning",
        Health.DOWN: "error",
        Health.WAITING: "foreground-muted",
    }[health]


def human_duration(seconds: float | None) -> str:
    """``3d 4h``, ``4h 12m``, ``12m 5s``, ``42s``; '' for None."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def human_rate(value: float | None) -> str:
    """Bytes per second: ``1.5M/s``; '' for None."""
    return "" if value is None else f"{human_bytes(value)}/s"


def local_time(epoch: float | None, now: float) -> str:
    """``2026-11-18 09:14 (3d 4h ago)`` in local time; '' for None."""
    if epoch is None:
        return ""
    import time

    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))
    age = now - epoch
    when = f"{human_duration(age)} ago" if age >= 0 else f"in {human_duration(-age)}"
    return f"{stamp} ({when})"
