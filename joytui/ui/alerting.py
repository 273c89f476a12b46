"""How the dashboard tells of alerts: the terminal bell (tmux flags the window with
monitor-bell) and a notification per alert, as ``[alerts]`` says."""

from __future__ import annotations

from textual.app import App

from joytui.config import AlertSettings
from joytui.core.alerts import AlertsRaised


def tell_alerts(app: App[object], settings: AlertSettings, event: AlertsRaised) -> None:
    """Ring the bell and notify, each if ``settings`` has it on."""
    if settings.bell:
        app.bell()
    if settings.notify:
        for alert in event.alerts:
            app.notify(
                alert.message,
                title=alert.title,
                severity="error" if alert.severity == "error" else "warning",
                markup=False,  # names are text, never markup
                timeout=10,
            )
