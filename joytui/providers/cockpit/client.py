"""The Cockpit client: the JWT login and refresh, the typed operations, and the adapter to
the normalized model (see :mod:`joytui.providers.cockpit`)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import quote

import httpx

from joytui.model import (
    Action,
    ActionResult,
    MetricSample,
    PollHints,
    Resource,
    Snapshot,
    Status,
)
from joytui.providers.base import ProviderClient, gather_first_error
from joytui.providers.cockpit.wire import (
    API,
    COPY_STORAGE,
    TOKEN_EXPIRED_HINT,
    VM_ACTIONS,
    WRITE_NOT_DONE_HINT,
    ActionAnswer,
    CockpitHost,
    CockpitVM,
    MiB,
    Migration,
    TokenPair,
    host_status,
    migration_words,
    read_hosts,
    read_migration,
    read_vm,
    read_vms,
    vm_status,
)
from joytui.providers.errors import (
    AuthError,
    ProviderError,
    RejectedError,
    TransportError,
)
from joytui.providers.wire import scaled_int


class CockpitClient(ProviderClient):
    """A client for one Cockpit cluster."""

    provider = "cockpit"
    auth_hint = "check username and password"
    secret_fields = ("password",)

    refresh_margin_max = 60.0
    """Refresh at most this many seconds before expiry..."""
    refresh_margin_share = 0.2
    """...and at most this share of the token's lifetime before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token: str | None = None
        self._refresh_token: str | None = None
        self._expires_at = math.inf
        self._generation = 0
        self._auth_lock = asyncio.Lock()
        self.clock: Callable[[], float] = time.monotonic
        """Monotonic seconds, for token expiry (tests put in a clock they control)."""
        self.logins = 0
        self.refreshes = 0

    # -- tokens -------------------------------------------------------------------------------

    def secret_values(self) -> list[str]:
        """The password, and the live token and refresh token too."""
        tokens = (getattr(self, "_token", None), getattr(self, "_refresh_token", None))
        return [*super().secret_values(), *(t for t in tokens if t)]

    def _token_fresh(self, margin: float = 0.0) -> bool:
        """Whether the token is good for ``margin`` seconds more (and the refresh margin)."""
        return self._token is not None and self.clock() + margin < self._expires_at

    def _keep(self, pair: TokenPair, asked_at: float) -> None:
        self._token = pair.token
        if pair.refresh_token:
            self._refresh_token = pair.refresh_token
        lifetime = pair.expires_in
        if lifetime is None or lifetime <= 0:
            self._expires_at = math.inf  # no expiry given: a 401 will tell us
        else:
            margin = min(self.refresh_margin_max, self.refresh_margin_share * lifetime)
            # From when we asked: the server issued it no earlier, so this is never late.
            self._expires_at = asked_at + lifetime - margin
        self._generation += 1

    def _drop_token(self, generation: int) -> None:
        """Make the next call renew the token, unless someone renewed it already."""
        if self._generation == generation:
            self._expires_at = -math.inf

    def write_margin(self) -> float:
        """Seconds of life a token needs before a write is sent with it: twice the slowest
        recent round trip (the write must reach the server before the token expires)."""
        return 2 * self.slowest_round_trip()

    def error_for_response(self, response: httpx.Response, call: str) -> ProviderError:
        """A 401 for an expired token says so, with advice about tokens, not passwords."""
        err = super().error_for_response(response, call)
        if (
            response.status_code == 401
            and call not in ("login", "refresh")
            and "expired" in self.provider_message(response).lower()
        ):
            return AuthError("token expired (401)", status=401, hint=TOKEN_EXPIRED_HINT)
        return err

    async def _login(self) -> None:
        call = "login"
        username = getattr(self.account, "username", "")
        body = {"username": username, "password": self._secret("password")}
        self.logins += 1
        asked_at = self.clock()
        failure: ProviderError | None = None
        try:
            data = await self.request_json(
                "POST", f"{API}/auth/login", call=call, json=body, retry=True
            )
        except AuthError as err:
            failure = AuthError(
                f"login refused ({err.status or 401})", status=err.status, hint=self.auth_hint
            )
        if failure is not None:
            raise self._bind(failure)
        self._keep(self.parse(TokenPair, data, call), asked_at)

    async def _refresh(self) -> None:
        if self._refresh_token is None:
            raise self.error(AuthError, "no refresh token yet")
        call = "refresh"
        self.refreshes += 1
        asked_at = self.clock()
        # Not retried: the server may have spent the refresh token on a lost answer.
        data = await self.request_json(
            "POST", f"{API}/auth/refresh", call=call, json={"refresh_token": self._refresh_token}
        )
        self._keep(self.parse(TokenPair, data, call), asked_at)

    async def _renew(self, seen: int) -> None:
        """Get a new token unless someone did since generation ``seen``: refresh if we can,
        else (or if that fails) log in. One caller at a time; the others wait and reuse it."""
        async with self._auth_lock:
            if self._generation != seen and self._token is not None:
                return
            if self._refresh_token is not None:
                try:
                    await self._refresh()
                    return
                except TransportError:
                    raise
                except ProviderError:
                    self._refresh_token = None  # spent or refused: start over
            await self._login()

    async def login(self) -> None:
        """``POST /api/v1/auth/login`` with the account's username and password."""
        async with self._auth_lock:
            await self._login()

    async def refresh(self) -> None:
        """``POST /api/v1/auth/refresh``; falls back to a login if the refresh is refused."""
        await self._renew(self._generation)

    async def _bearer(self, margin: float = 0.0) -> tuple[str, int]:
        """The token to send and its generation, renewed first (once) unless it is good for
        ``margin`` seconds more."""
        if not self._token_fresh(margin):
            await self._renew(self._generation)
        assert self._token is not None
        return self._token, self._generation

    async def call(
        self, method: str, path: str, *, call: str, json: Any = None, retry: bool = False
    ) -> Any:
        """An authenticated request. A read (``retry=True``) refused with a 401 renews the
        token once and is sent once more. A write is sent once: with a token renewed first if
        it might expire on the way (:meth:`write_margin`); a 401 raises, naming the cause."""
        token, generation = await self._bearer(0.0 if retry else self.write_margin())
        headers = {"Authorization": f"Bearer {token}"}
        failure: AuthError | None = None
        try:
            return await self.request_json(
                method, path, call=call, json=json, headers=headers, retry=retry
            )
        except AuthError as err:
            if not retry:
                failure = err
        if failure is not None:
            self._drop_token(generation)
            if failure.hint == TOKEN_EXPIRED_HINT:
                failure.hint = WRITE_NOT_DONE_HINT
            raise failure
        await self._renew(generation)
        token, _ = await self._bearer()
        headers = {"Authorization": f"Bearer {token}"}
        return await self.request_json(
            method, path, call=call, json=json, headers=headers, retry=retry
        )

    # -- typed operations ---------------------------------------------------------------------

    async def hosts(self) -> list[CockpitHost]:
        """``GET /api/v1/hosts``."""
        data = await self.call("GET", f"{API}/hosts", call="GET /api/v1/hosts", retry=True)
        return self.apply_reader(read_hosts, data)

    async def vms(self) -> list[CockpitVM]:
        """``GET /api/v1/vms``."""
        data = await self.call("GET", f"{API}/vms", call="GET /api/v1/vms", retry=True)
        return self.apply_reader(read_vms, data)

    async def vm(self, vm_id: str) -> CockpitVM:
        """``GET /api/v1/vms/:id``."""
        path = f"{API}/vms/{quote(vm_id, safe='')}"
        data = await self.call("GET", path, call="GET /api/v1/vms/:id", retry=True)
        return self.apply_reader(read_vm, data)

    async def vm_action(
        self,
        vm_id: str,
        action: Literal["start", "stop", "restart", "pause", "resume"],
        *,
        force: bool = False,
    ) -> ActionAnswer:
        """``POST /api/v1/vms/:id/action``; never retried."""
        if action not in VM_ACTIONS:
            raise self.error(
                RejectedError,
                f"unknown vm action {action!r}",
                hint=f"expected one of {', '.join(VM_ACTIONS)}",
            )
        body: dict[str, Any] = {"action": action}
        if force:
            body["force"] = True
        path = f"{API}/vms/{quote(vm_id, safe='')}/action"
        data = await self.call("POST", path, call=f"vm {action}", json=body)
        return self.parse(ActionAnswer, data if data is not None else {}, f"vm {action}")

    async def migrate(
        self,
        vm_id: str,
        destination_host_id: str,
        *,
        live: bool = True,
        persistent: bool = True,
        undefine_source: bool = True,
        copy_storage: Literal["none", "all", "inc"] = "none",
    ) -> Migration:
        """``POST /api/v1/vms/:id/migrate``; never retried."""
        if copy_storage not in COPY_STORAGE:
            raise self.error(
                RejectedError,
                f"copy_storage {copy_storage!r} is not allowed",
                hint="expected none, all or inc",
            )
        body = {
            "destination_host_id": destination_host_id,
            "live": live,
            "persistent": persistent,
            "undefine_source": undefine_source,
            "copy_storage": copy_storage,
        }
        path = f"{API}/vms/{quote(vm_id, safe='')}/migrate"
        data = await self.call("POST", path, call="migrate", json=body)
        return self.apply_reader(lambda d: read_migration(d, "migrate"), data)

    async def migration(self, migration_id: str) -> Migration:
        """``GET /api/v1/migrations/:id``: how a migration is going."""
        path = f"{API}/migrations/{quote(migration_id, safe='')}"
        data = await self.call("GET", path, call="migration status", retry=True)
        return self.apply_reader(lambda d: read_migration(d, "migration status"), data)

    # -- the normalized model -----------------------------------------------------------------

    def host_resource(self, host: CockpitHost) -> Resource:
        """The normalized :class:`Resource` of a host."""
        return self.resource(
            kind="host",
            id=host.id,
            name=host.hostname or host.id,
            status=host_status(host.status),
            raw_status=host.status,
            vcpus=host.cpus,
            memory_total=host.memory_bytes,
            detail={"sync_cursor": host.sync_cursor, "vm_count": host.vm_count},
        )

    def vm_resource(self, vm: CockpitVM, hostnames: dict[str, str] | None = None) -> Resource:
        """The normalized :class:`Resource` of a VM (``hostnames``: host id -> hostname)."""
        return self.resource(
            kind="vm",
            id=vm.id,
            name=vm.name or vm.id,
            status=vm_status(vm.status),
            raw_status=vm.status,
            ip=vm.ip,
            location=(hostnames or {}).get(vm.host_id or "", vm.host_id),
            parent=vm.host_id,
            cpu_percent=vm.cpu_percent,
            memory_used=_mib(vm.memory_used_mb),
            memory_total=_mib(vm.memory_mb),
            vcpus=vm.vcpus,
            created_at=vm.created_at,
            detail={
                "os": vm.os,
                "disk_gb": vm.disk_gb,
                "uptime_seconds": vm.uptime_seconds,
                "migration_id": vm.migration_id,
            },
        )

    async def _snapshot(self, hints: PollHints | None) -> Snapshot:
        """Every host and VM (two requests, after a login if needed)."""
        await self._bearer()  # one login for both calls, not one each
        hosts, vms = await gather_first_error([self.hosts(), self.vms()])
        assert isinstance(hosts, list) and isinstance(vms, list)
        names = {h.id: h.hostname or h.id for h in hosts}
        resources = [self.host_resource(h) for h in hosts]
        resources += [self.vm_resource(v, names) for v in vms]
        return self.make_snapshot(resources)

    async def check(self) -> None:
        """Probe the account: log in and list the hosts."""
        await self.hosts()

    async def actions(self, resource: Resource) -> list[Action]:
        """A VM's power actions that fit its status, and migrate; none while it migrates;
        hosts offer none."""
        if resource.kind != "vm" or (resource.raw_status or "").lower() == "migrating":
            return []
        every = {
            "start": Action(id="start", label="Start"),
            "stop": Action(id="stop", label="Stop"),
            "force_stop": Action(id="force_stop", label="Force stop", destructive=True),
            "restart": Action(id="restart", label="Restart"),
            "force_restart": Action(id="force_restart", label="Force restart", destructive=True),
            "pause": Action(id="pause", label="Pause"),
            "resume": Action(id="resume", label="Resume"),
            "migrate": Action(id="migrate", label="Migrate to another host"),
        }
        fits = {
            Status.RUNNING: ("stop", "force_stop", "restart", "force_restart", "pause", "migrate"),
            Status.STOPPED: ("start", "migrate"),
            Status.PAUSED: ("resume", "stop", "force_stop", "migrate"),
            Status.ERROR: ("start", "stop", "force_stop", "restart", "force_restart"),
            Status.PENDING: ("stop", "force_stop"),
        }
        return [every[i] for i in fits.get(resource.status, tuple(every))]

    async def perform(self, resource: Resource, action_id: str, **params: Any) -> ActionResult:
        """A power action (``force_stop``/``force_restart`` send ``force: true``) or
        ``migrate`` (params: destination_host_id, live, persistent, undefine_source,
        copy_storage; booleans may come as ``true``/``false`` words). Never retried."""
        known = (*VM_ACTIONS, "force_stop", "force_restart", "migrate")
        if resource.kind != "vm" or action_id not in known:
            raise self.unknown_action(resource, action_id, known if resource.kind == "vm" else ())
        if action_id == "migrate":
            return await self.run_action(self._migrated(resource, params))
        force = action_id.startswith("force_") or params.get("force") is True
        action = action_id.removeprefix("force_")
        return await self.run_action(self._acted(resource.id, action, force))

    async def _acted(self, vm_id: str, action: Any, force: bool) -> ActionResult:
        answer = await self.vm_action(vm_id, action, force=force)
        return ActionResult(ok=True, message=answer.status or "accepted")

    async def _migrated(self, resource: Resource, params: dict[str, Any]) -> ActionResult:
        destination = params.get("destination_host_id")
        if not isinstance(destination, str) or not destination:
            raise self.error(
                RejectedError,
                "migrate needs a destination_host_id",
                hint="choose the host to move the VM to",
            )
        options: dict[str, Any] = {}
        for flag in ("live", "persistent", "undefine_source"):
            if flag in params:
                value = _flag(params[flag])
                if value is None:
                    raise self.error(
                        RejectedError, f"{flag}: expected true or false, got {params[flag]!r}"
                    )
                options[flag] = value
        if "copy_storage" in params:
            options["copy_storage"] = params["copy_storage"]
        mig = await self.migrate(resource.id, destination, **options)
        return ActionResult(
            ok=True,
            message=f"migration {mig.migration_id} {mig.status or 'sent'} to host {destination}",
        )

    async def related(self, resource: Resource) -> dict[str, list[str]]:
        """A migrating VM's migration: its id, status, destination, options and age."""
        migration_id = resource.detail.get("migration_id") if resource.kind == "vm" else None
        if not isinstance(migration_id, str) or not migration_id:
            return {}
        return {"migration": [migration_words(await self.migration(migration_id))]}

    async def metrics(self, resource: Resource) -> MetricSample | None:
        """A VM's reading from ``GET /api/v1/vms/:id``; hosts have none."""
        if resource.kind != "vm":
            return None
        vm = await self.vm(resource.id)
        return self.sample(
            resource.id,
            cpu_percent=vm.cpu_percent,
            memory_used=_mib(vm.memory_used_mb),
            memory_total=_mib(vm.memory_mb),
            uptime_seconds=vm.uptime_seconds,
        )


def _flag(value: Any) -> bool | None:
    """A boolean, or one in words (``true``/``false``, ``yes``/``no``, ``1``/``0``)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "yes", "1", "on"):
        return True
    if word in ("false", "no", "0", "off"):
        return False
    return None


def _mib(value: float | None) -> int | None:
    return scaled_int(value, MiB)
