"""The Joy client: the ``/api/connect`` calls, the spreading of machine_info over polls, and
the adapter to the normalized model (see :mod:`joytui.providers.joy`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx

from joytui.model import Action, ActionResult, MetricSample, PollHints, Resource, Snapshot, Status
from joytui.providers.base import ProviderClient, gather_first_error
from joytui.providers.errors import AuthError, NotFoundError, ProviderError, RejectedError
from joytui.providers.joy.wire import (
    _ERRORS,
    CATCH_UP_POLLS,
    CATCH_UP_SECONDS,
    CHUNK,
    CYCLE_POLLS,
    FIRST_POLL_INFOS,
    PATH,
    POWER_FITS,
    POWER_STATES,
    POWER_WORDS,
    ROTATION_INFOS,
    AccountInfo,
    DashboardInfo,
    GiB,
    KnownMachine,
    MachineInfo,
    MachineListItem,
    envelope_error,
    read_account_info,
    read_answer,
    read_dashboardinfo,
    read_machine_info,
    read_machine_list,
)
from joytui.providers.wire import decode_json, percent, scaled_int

# -- the client ---------------------------------------------------------------------------------


class JoyClient(ProviderClient):
    """A client for one Joy account."""

    provider = "joy"
    auth_hint = "check api_token and api_key"
    secret_fields = ("api_token", "api_key")

    init_ip = "127.0.0.1"
    """``init_ip`` sent with every call, as the spec's examples do."""
    info_concurrency: int | None = None
    """At most this many machine_info calls in flight; None: as many as the account's
    request limit allows (``max_concurrency``, halved by a 429; see :attr:`limit`)."""
    first_poll_infos: int = FIRST_POLL_INFOS
    """machine_info calls in the first repeating poll, and most per poll for the rotation."""
    rotation_infos: int = ROTATION_INFOS
    """machine_info calls per repeating poll beyond the priority machines, at least."""
    cycle_polls: int = CYCLE_POLLS
    """A big fleet's rotation visits every machine within about this many polls."""
    catch_up_polls: int = CATCH_UP_POLLS
    """More machines without a status than the rotation reaches in this many polls: a poll
    catches up (see :meth:`poll_budget`)."""
    catch_up_seconds: float = CATCH_UP_SECONDS
    """About how long a catch-up poll may spend on machine_info."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known: dict[str, KnownMachine] = {}  # ihash -> its last machine_info's facts
        # ihash -> None, least recently asked first (re-asking moves a machine to the end).
        self._asked: dict[str, None] = {}
        self._listed: set[str] = set()  # the ihashes of the last machine_list
        self._unknown = 0  # listed machines not in _known
        self._info_rate: float | None = None  # machine_info/s of the last big fan-out
        self._polled = False  # has a snapshot succeeded yet (see poll_budget)
        self._built: dict[str, tuple[tuple[Any, ...], KnownMachine | None, Resource]] = {}
        """ihash -> the list item's values and the known facts its last Resource was built
        from, and that Resource."""
        self.info_errors: dict[str, ProviderError] = {}
        """ihash -> why its last machine_info failed, for the machines of the last snapshot."""

    def _default_headers(self) -> dict[str, str]:
        return {"x-api-token": self._secret("api_token"), "x-api-key": self._secret("api_key")}

    def error_for_response(self, response: httpx.Response, call: str) -> ProviderError:
        """A Joy error code the spec or the API is known to use (``invalid_api_credentials``,
        ``machine_not_found``, ``invalid_state``...) decides the kind; otherwise the HTTP
        status does."""
        error = None
        if response.status_code < 500 and response.content[:1] in (b"{", b'"'):
            try:
                data = decode_json(response.content, call)
                code = data.get("error") if isinstance(data, dict) else None
                if isinstance(code, str) and code.strip() in _ERRORS:
                    error = envelope_error(call, data, response.status_code)
            except ProviderError:
                error = None
        return error if error is not None else super().error_for_response(response, call)

    async def connect(self, kind: str, *, retry: bool, **fields: Any) -> dict[str, Any]:
        """``POST /api/connect/`` with ``type=kind``; the decoded answer, or a taxonomy error."""
        body = {"type": kind, "init_ip": self.init_ip, "init_browser": "joytui", **fields}
        response = await self.request("POST", PATH, call=kind, json=body, retry=retry)
        try:
            return read_answer(kind, response.content, response.status_code)
        except ProviderError as err:
            self._bind(err)
            raise

    # -- typed operations ---------------------------------------------------------------------

    async def check(self) -> None:
        """Probe the account with one cheap authenticated call (dashboardinfo)."""
        await self.dashboardinfo()

    async def dashboardinfo(self) -> DashboardInfo:
        """``type=dashboardinfo``: wallet amount and counts."""
        return self.apply_reader(
            read_dashboardinfo, await self.connect("dashboardinfo", retry=True)
        )

    async def account_info(self) -> AccountInfo:
        """``type=account_info``: the profile, with the API token and key masked."""
        data = await self.connect("account_info", retry=True)
        return self.apply_reader(read_account_info, data)

    async def machine_list(self) -> list[MachineListItem]:
        """``type=machine_list``: every machine (without state).

        A big list is read in chunks, yielding to the event loop between them, so a
        dashboard on the same loop keeps drawing while 50,000 machines are parsed.
        """
        data = await self.connect("machine_list", retry=True)
        raw = data.get("value") if isinstance(data, dict) else None
        if not isinstance(raw, list) or len(raw) <= CHUNK:
            return self.apply_reader(read_machine_list, data)
        items: list[MachineListItem] = []
        for start in range(0, len(raw), CHUNK):
            chunk = raw[start : start + CHUNK]
            raw[start : start + CHUNK] = [None] * len(chunk)  # read: let its dicts go now
            items.extend(self.apply_reader(read_machine_list, {**data, "value": chunk}))
            del chunk
            await asyncio.sleep(0)
        return items

    async def machine_info(self, ihash: str) -> MachineInfo:
        """``type=machine_info`` for one machine (``instance_token`` = its ihash)."""
        data = await self.connect("machine_info", retry=True, instance_token=ihash)
        info: MachineInfo = self.apply_reader(read_machine_info, data)
        self._remember(ihash, KnownMachine.of(info, time.time()))
        return info

    def _remember(self, ihash: str, known: KnownMachine) -> None:
        if ihash not in self._known and ihash in self._listed:
            self._unknown -= 1
        self._known[ihash] = known

    async def change_machine_state(self, ihash: str, machine_state: str) -> str:
        """``type=change_machine_state``; returns the API's answer (e.g. ``shutdown_success``).

        Never retried. A state outside :data:`POWER_STATES` is refused before sending, and an
        ``invalid_state`` answer raises :class:`RejectedError`.
        """
        if machine_state not in POWER_STATES:
            raise self.error(
                RejectedError,
                f"unknown machine_state {machine_state!r}",
                hint=f"expected one of {', '.join(POWER_STATES)}",
            )
        data = await self.connect(
            "change_machine_state",
            retry=False,
            instance_token=ihash,
            machine_state=machine_state,
        )
        value = data.get("value")
        return value if isinstance(value, str) and value else "ok"

    # -- the normalized model -----------------------------------------------------------------

    def to_resource(self, item: MachineListItem, info: MachineInfo | None) -> Resource:
        """The normalized :class:`Resource` of a machine, from its list item and its last
        ``machine_info`` (None: status unknown)."""
        if info is None:
            return self.machine_resource(item, None)
        seen = self._known.get(item.ihash)
        fetched_at = seen.fetched_at if seen is not None else time.time()
        return self.machine_resource(item, KnownMachine.of(info, fetched_at))

    def _resource_of(self, item: MachineListItem, known: KnownMachine | None) -> Resource:
        """:meth:`machine_resource`, the one of the last poll again when neither the list
        item nor what is known of the machine changed: a poll builds only what changed, not
        a Resource per machine of the fleet."""
        facts = tuple(item.__dict__.values())  # not the item: 50,000 of them add up
        kept = self._built.get(item.ihash)
        if kept is not None and kept[1] is known and kept[0] == facts:
            return kept[2]
        resource = self.machine_resource(item, known)
        self._built[item.ihash] = (facts, known, resource)
        return resource

    def machine_resource(self, item: MachineListItem, known: KnownMachine | None) -> Resource:
        """:meth:`to_resource` from what the client keeps of the last machine_info."""
        memory_total = known.memory_total if known is not None else None
        if memory_total is None and item.ram is not None:
            memory_total = scaled_int(item.ram, GiB)
        if known is None:
            return self.resource(
                kind="machine",
                id=item.ihash,
                name=item.machine or item.ihash,
                status=Status.UNKNOWN,
                ip=item.ip,
                location=item.machine_node,
                memory_total=memory_total,
                vcpus=item.core,
                detail={
                    "machine": item.machine,
                    "platform": item.platform,
                    "storage_gb": item.storage,
                    "ram_gb": item.ram,
                    "record_id": item.id,
                    "price": item.price,
                    "expire": item.expire,
                    "extime": item.extime,
                },
            )
        return self.resource(
            kind="machine",
            id=item.ihash,
            # The VM name once known; the machine number (detail["machine"]) before.
            name=known.qemu_name or known.vm_name or item.machine or item.ihash,
            status=known.status,
            raw_status=known.raw_status,
            ip=item.ip or known.ip,
            location=item.machine_node,
            cpu_percent=known.cpu_percent,
            memory_used=known.memory_used,
            memory_total=memory_total,
            vcpus=item.core if item.core is not None else known.cpus,
            created_at=known.created_at,
            detail={
                "machine": item.machine,
                "vm_name": known.vm_name,
                "platform": item.platform or known.os,
                "storage_gb": item.storage,
                "ram_gb": item.ram,
                "uptime_seconds": known.uptime,
                "qmpstatus": known.qmpstatus,
                "vmid": known.vmid,
                "record_id": item.id,
                "price": item.price,
                "expire": item.expire,
                "extime": item.extime,
                "status_age_seconds": round(max(0.0, time.time() - known.fetched_at), 1),
            },
        )

    @property
    def unknown_count(self) -> int:
        """How many machines of the last machine_list have no status yet (no machine_info
        answered): cheap, for a progress display. It falls while a poll's answers arrive."""
        return max(0, self._unknown)

    def _choose(self, ids: list[str], budget: int | None, priority_ids: Iterable[str]) -> list[str]:
        """Which machines get a machine_info this poll: all, or the budget's worth: the
        priority ones first, then those never asked, then the least recently asked."""
        if budget is None:
            return ids
        budget = max(0, budget)
        listed = self._listed
        chosen: list[str] = []
        seen: set[str] = set()
        for ihash in priority_ids:
            if len(chosen) >= budget:
                break
            if ihash in listed and ihash not in seen:
                chosen.append(ihash)
                seen.add(ihash)
        if len(chosen) < budget:
            asked = self._asked
            for ihash in ids:  # never asked, in list order
                if ihash not in asked and ihash not in seen:
                    chosen.append(ihash)
                    seen.add(ihash)
                    if len(chosen) >= budget:
                        break
        if len(chosen) < budget:
            for ihash in self._asked:  # least recently asked first
                if ihash not in seen:
                    chosen.append(ihash)
                    if len(chosen) >= budget:
                        break
        for ihash in chosen:
            self._asked.pop(ihash, None)
            self._asked[ihash] = None
        return chosen

    def _fan_out_width(self) -> int:
        """How many machine_info calls may be in flight now."""
        if self.info_concurrency is None:
            return self.limit.limit
        return max(1, min(self.info_concurrency, self.limit.limit))

    async def _fetch_infos(
        self, ids: list[str], on_known: Callable[[str], None] | None = None
    ) -> dict[str, ProviderError]:
        """machine_info for ``ids``, at most :meth:`_fan_out_width` at a time; the failures.
        ``on_known(ihash)`` is called as each answer arrives."""
        failures: dict[str, ProviderError] = {}
        pending = iter(ids)

        async def worker() -> None:
            for ihash in pending:  # a shared iterator: each id is taken once
                try:
                    await self.machine_info(ihash)
                except ProviderError as err:
                    failures[ihash] = err
                    if isinstance(err, AuthError):
                        return
                else:
                    if on_known is not None:
                        on_known(ihash)

        # Workers for the whole configured width: the limit bounds them, and may grow back.
        width = self.limit.maximum if self.info_concurrency is None else self.info_concurrency
        workers = max(1, min(width, len(ids)))
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.monotonic() - started
        if len(ids) >= 2 * workers and elapsed > 0 and len(failures) < len(ids):
            # A fan-out that kept every worker busy measures what a catch-up poll can do.
            self._info_rate = (len(ids) - len(failures)) / elapsed
        return failures

    def poll_budget(self, ids: Sequence[str], priority_ids: Sequence[str]) -> int:
        """How many machine_info calls a repeating poll of the machines ``ids`` makes: the
        first one :attr:`first_poll_infos`; later ones the priority machines plus a rotation
        of ``len(ids) // cycle_polls``, within :attr:`rotation_infos`..:attr:`first_poll_infos`
        (the visible rows are fresh every poll, the rest within about :attr:`cycle_polls`).

        Catching up: while more listed machines have no status (:attr:`unknown_count`) than
        that rotation reaches in :attr:`catch_up_polls` polls, a later poll asks as many of
        them as the last polls' rate gets through in about :attr:`catch_up_seconds` (the
        account's concurrency bounds what is in flight), so a big fleet is known in a few
        polls instead of minutes."""
        if not self._polled:
            return self.first_poll_infos  # quick, so the first rows show at once
        known = set(ids)
        priority = len({i for i in priority_ids if i in known})
        share = len(ids) // max(1, self.cycle_polls)
        rotation = max(self.rotation_infos, min(self.first_poll_infos, share))
        unknown = self.unknown_count
        if unknown > (priority + rotation) * max(1, self.catch_up_polls):
            rotation = max(rotation, min(unknown, self._catch_up_infos()))
        return priority + rotation

    def _catch_up_infos(self) -> int:
        """machine_info calls a catch-up poll makes: the measured rate (else the concurrency
        over a typical round trip) times :attr:`catch_up_seconds`."""
        rate = self._info_rate
        if rate is None:
            rate = self._fan_out_width() / max(self.typical_round_trip(), 0.001)
        return max(self.first_poll_infos, int(rate * self.catch_up_seconds))

    async def snapshot(
        self,
        hints: PollHints | None = None,
        *,
        info_budget: int | None = None,
        priority_ids: Sequence[str] = (),
    ) -> Snapshot:
        """Every machine with its status, and the dashboard totals.

        ``hints=None`` fetches machine_info for every machine; with hints, a repeating poll
        fetches :meth:`poll_budget`'s worth, ``hints.priority_ids`` first, the rest in
        rotation, and the others keep their last known status. ``info_budget`` sets the
        number of calls outright (``priority_ids`` first), whatever the hints say. A few
        failed machine_info calls leave those machines' last status (see
        :attr:`info_errors`); an auth failure, or every call failing, raises.
        """
        if info_budget is None:
            return await super().snapshot(hints)
        priority = priority_ids or (hints.priority_ids if hints is not None else ())
        return await self.timed(self._collect(info_budget, priority))

    async def _snapshot(self, hints: PollHints | None) -> Snapshot:
        if hints is None:
            return await self._collect(None, ())
        return await self._collect(self.poll_budget, hints.priority_ids)

    async def _collect(
        self,
        budget: int | Callable[[Sequence[str], Sequence[str]], int] | None,
        priority_ids: Sequence[str],
    ) -> Snapshot:
        """The machine list, dashboardinfo, and machine_info for ``budget`` machines (None:
        all; a callable: decided from the ids and the priority ones), as a snapshot."""
        machines, dash = await gather_first_error([self.machine_list(), self.dashboardinfo()])
        assert isinstance(machines, list) and isinstance(dash, DashboardInfo)
        ids = list(dict.fromkeys(m.ihash for m in machines))
        listed = set(ids)
        for gone in set(self._known) - listed:
            del self._known[gone]
        for gone in set(self._asked) - listed:
            del self._asked[gone]
        for gone in set(self._built) - listed:
            del self._built[gone]
        self._listed = listed
        self._unknown = len(listed) - len(self._known)
        if callable(budget):
            budget = budget(ids, priority_ids)
        chosen = self._choose(ids, budget, priority_ids)
        first: dict[str, MachineListItem] = {}
        for m in machines:
            first.setdefault(m.ihash, m)
        built: dict[str, Resource] = {}

        def adapt(ihash: str) -> None:
            # Adapted as its answer arrives, while the rest are in flight.
            built[ihash] = self._resource_of(first[ihash], self._known[ihash])

        failures = await self._fetch_infos(chosen, adapt) if chosen else {}
        for ihash in chosen:
            if ihash in failures and isinstance(failures[ihash], NotFoundError):
                if self._known.pop(ihash, None) is not None:  # deleted between list and info
                    self._unknown += 1
                built.pop(ihash, None)
        self.info_errors = failures
        auth = next((e for e in failures.values() if isinstance(e, AuthError)), None)
        if auth is not None:
            raise auth
        if chosen and len(failures) == len(chosen):
            raise next(iter(failures.values()))
        resources: list[Resource] = []
        for start in range(0, len(machines), CHUNK):
            for m in machines[start : start + CHUNK]:
                done = built.get(m.ihash)
                if done is None or first[m.ihash] is not m:
                    known = self._known.get(m.ihash)
                    if first[m.ihash] is m:
                        done = self._resource_of(m, known)
                    else:  # a duplicate in the list: not kept
                        done = self.machine_resource(m, known)
                resources.append(done)
            await asyncio.sleep(0)  # see machine_list: keep a UI on this loop drawing
        self._polled = True
        return self.make_snapshot(resources, dash.figures())

    async def actions(self, resource: Resource) -> list[Action]:
        """The power states that fit the machine's status (all eight while it is unknown);
        force_shutdown and force_reboot are destructive. Only machines have any."""
        if resource.kind != "machine":
            return []
        fits = POWER_FITS.get(resource.status, tuple(POWER_STATES))
        return [
            Action(id=state, label=label, destructive=destructive)
            for state, (label, destructive) in POWER_STATES.items()
            if state in fits
        ]

    async def perform(self, resource: Resource, action_id: str, **params: Any) -> ActionResult:
        """change_machine_state to ``action_id``; never retried. The answer is put in words
        (``graceful shutdown accepted (shutdown_success)``); ``invalid_state`` comes back as
        a refusal naming the state."""
        if action_id not in POWER_STATES:
            raise self.unknown_action(resource, action_id, tuple(POWER_STATES))
        result = await self.run_action(self._changed(resource.id, action_id))
        if not result.ok and "invalid_state" in result.message:
            said = f"the API refused machine_state {action_id!r} (invalid_state)"
            return ActionResult(ok=False, message=said)
        return result

    async def _changed(self, ihash: str, state: str) -> ActionResult:
        value = await self.change_machine_state(ihash, state)
        words = POWER_WORDS.get(value)
        return ActionResult(ok=True, message=f"{words} ({value})" if words else value)

    async def metrics(self, resource: Resource) -> MetricSample | None:
        """A reading from machine_info's ``Current``."""
        cur = (await self.machine_info(resource.id)).current
        assert cur is not None  # read_machine_info guarantees it
        return self.sample(
            resource.id,
            cpu_percent=percent(cur.cpu),
            memory_used=cur.mem,
            memory_total=cur.maxmem,
            net_in=cur.netin,
            net_out=cur.netout,
            disk_read=cur.diskread,
            disk_write=cur.diskwrite,
            uptime_seconds=cur.uptime,
        )
