"""The normalized model every provider adapts to (DESIGN.md, "Normalized model").

``Resource.public()`` is exactly what ``joytui list --format json`` prints for one resource.
Nothing secret is ever put in these objects.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int | float | bool | None


class Status(StrEnum):
    """The six normalized statuses."""

    RUNNING = "running"
    PENDING = "pending"
    PAUSED = "paused"
    STOPPED = "stopped"
    ERROR = "error"
    UNKNOWN = "unknown"


PROVIDERS = ("joy", "cockpit", "jamsocket", "instances")
"""The provider keys: config sections, ``Resource.provider`` values, simulated APIs."""

KINDS = ("machine", "host", "vm", "service", "backend", "instance")


class Resource(BaseModel):
    """One thing a provider runs: a Joy machine, a Cockpit host or VM, a Jamsocket service or
    backend, an instance."""

    model_config = ConfigDict(frozen=True)

    provider: str = Field(description="joy, cockpit, jamsocket or instances.")
    account: str = Field(description="The account's name from the config.")
    kind: str = Field(description="machine, host, vm, service, backend or instance.")
    id: str = Field(description="The provider's own id.")
    name: str = Field(description="The best human label.")
    status: Status = Field(description="The normalized status.")
    raw_status: str | None = Field(None, description="The provider's own status word.")
    ip: str | None = Field(None, description="Primary IP address, where there is one.")
    location: str | None = Field(
        None, description="Node, host, region or cluster the resource runs in."
    )
    parent: str | None = Field(
        None, description="Id of the resource this belongs to (a VM's host, a backend's service)."
    )
    cpu_percent: float | None = Field(None, description="CPU use now, 0-100 (per resource).")
    memory_used: int | None = Field(None, description="Memory in use, bytes.")
    memory_total: int | None = Field(None, description="Memory allocated, bytes.")
    vcpus: int | None = Field(None, description="Allocated virtual CPUs.")
    created_at: float | None = Field(None, description="Creation time, Unix seconds.")
    detail: dict[str, Scalar] = Field(
        default_factory=dict, description="Further non-secret facts for the detail pane."
    )

    def model_post_init(self, context: Any, /) -> None:
        # pydantic gives every instance its own set of the fields it was given (~0.7 KiB each);
        # 50,000 resources share one instead. Nothing here uses exclude_unset.
        object.__setattr__(self, "__pydantic_fields_set__", _ALL_RESOURCE_FIELDS)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity across refreshes: (provider, account, kind, id)."""
        return (self.provider, self.account, self.kind, self.id)

    def public(self) -> dict[str, Any]:
        """The JSON object of ``joytui list --format json``: the contract fields first."""
        data = self.model_dump(mode="json")
        return data


_ALL_RESOURCE_FIELDS = set(Resource.model_fields)


class Totals(BaseModel):
    """Counts for one account, plus the provider's own dashboard figures (Joy's dashboardinfo)."""

    model_config = ConfigDict(frozen=True)

    provider: str
    account: str
    counts: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="kind -> normalized status -> count."
    )
    figures: dict[str, Scalar] = Field(
        default_factory=dict, description="Provider dashboard figures, e.g. wallet amount."
    )

    @classmethod
    def from_resources(
        cls,
        provider: str,
        account: str,
        resources: list[Resource],
        figures: dict[str, Scalar] | None = None,
    ) -> Totals:
        """Count ``resources`` by kind and status."""
        counts: dict[str, dict[str, int]] = {}
        for r in resources:
            by_status = counts.setdefault(r.kind, {})
            by_status[r.status.value] = by_status.get(r.status.value, 0) + 1
        return cls(provider=provider, account=account, counts=counts, figures=figures or {})


class MetricSample(BaseModel):
    """One reading of a resource's live metrics (polled, or from an SSE metrics stream)."""

    model_config = ConfigDict(frozen=True)

    provider: str
    account: str
    resource_id: str
    time: float = Field(description="Unix seconds when the reading was taken.")
    cpu_percent: float | None = None
    memory_used: int | None = None
    memory_total: int | None = None
    net_in: int | None = Field(None, description="Cumulative bytes received.")
    net_out: int | None = Field(None, description="Cumulative bytes sent.")
    disk_read: int | None = Field(None, description="Cumulative bytes read.")
    disk_write: int | None = Field(None, description="Cumulative bytes written.")
    uptime_seconds: float | None = None


class Action(BaseModel):
    """A state-changing operation a resource offers (power actions, terminate, migrate...)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable id, e.g. 'start', 'force_shutdown', 'terminate_hard'.")
    label: str = Field(description="What a person reads: 'Force shutdown'.")
    destructive: bool = Field(False, description="Loses work or data: confirm harder.")


class ActionResult(BaseModel):
    """What the provider said to an action."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    message: str = Field(description="The provider's answer in words, e.g. 'shutdown_success'.")


class Snapshot(BaseModel):
    """Everything one poll of one account returned."""

    model_config = ConfigDict(frozen=True)

    provider: str
    account: str
    resources: list[Resource]
    totals: Totals
    fetched_at: float = Field(description="Unix seconds when the poll finished.")
    latency_ms: float = Field(0.0, description="How long the poll took.")


class PollHints(BaseModel):
    """Given to ``snapshot(hints)`` by a poll that repeats (the dashboard, the exporter).

    ``snapshot(None)`` is a one-shot and complete (``joytui list``). With hints, a provider
    that cannot fetch everything every poll (Joy's per-machine ``machine_info``) may spread
    the work over polls, fetching ``priority_ids`` (the rows on screen) first. Providers that
    fetch everything at once ignore the hints.
    """

    model_config = ConfigDict(frozen=True)

    priority_ids: tuple[str, ...] = Field(
        (), description="Resource ids to refresh first, e.g. the rows on screen."
    )


class StatusEvent(BaseModel):
    """One status a resource passed through, as a status stream reports it."""

    model_config = ConfigDict(frozen=True)

    time: float = Field(description="Unix seconds of the change.")
    status: Status
    raw_status: str | None = None
    reason: str | None = Field(None, description="Why it ended, e.g. 'lifetime limit'.")
    exit_code: int | None = None
    final: bool = Field(False, description="No status follows this one (terminated).")


class LogLine(BaseModel):
    """One line of a resource's log, as plain text (never markup)."""

    model_config = ConfigDict(frozen=True)

    time: float | None = Field(None, description="Unix seconds, where the provider gives it.")
    text: str
    stream: str | None = Field(None, description="stdout or stderr, where known.")
