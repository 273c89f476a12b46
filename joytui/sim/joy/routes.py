"""The simulated Joy ``/api/connect`` endpoint: every ``type`` the spec documents."""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from joytui.sim.base import SimContext, SimRefusal
from joytui.sim.clock import counter, smooth_noise, unit
from joytui.sim.joy.fleet import (
    ACTIONS,
    DEMO_KEY,
    DEMO_TOKEN,
    FULL_NAMES,
    INCIDENT_RATE,
    INITIAL_STATES,
    INITIAL_WEIGHTS,
    NO_EXPIRY,
    NODES,
    PLAN_WEIGHTS,
    PLANS,
    PLATFORM_WEIGHTS,
    PLATFORMS,
    SETTLED_QMP,
    GiB,
    SimMachine,
    _Action,
    _created,
    _vm_name,
)
from joytui.sim.joy.wire import (
    _datetime,
    _dumps,
    _flipped,
    _json_body,
    _protocol_error,
    _same,
    _stringify,
    _total,
)


class JoySim:
    """A seeded fleet of Joy machines behind ``POST /api/connect/``, with the spec's quirks."""

    name = "joy"

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.machines: list[SimMachine] = []
        self.by_hash: dict[str, SimMachine] = {}
        self._due: list[tuple[float, int, str, int]] = []  # (when, serial, ihash, gen)
        self._serial = 0
        self._list_cache: dict[bool, bytes] = {}  # numbers-as-strings? -> JSON array
        self._incident_window = int(ctx.clock.elapsed() // 60)
        self._build_fleet()
        self._build_account()
        self._handlers = {
            "dashboardinfo": self._dashboardinfo,
            "account_info": self._account_info,
            "machine_list": self._machine_list,
            "machine_info": self._machine_info,
            "change_machine_state": self._change_machine_state,
        }

    # -- the fleet ----------------------------------------------------------------------------

    def _build_fleet(self) -> None:
        n = max(0, int(self.ctx.options.machines))
        rng = self.ctx.rng("joy", "fleet")
        now = self.ctx.now()
        # Expiry dates count from the start of the day so one seed gives one list all day.
        day0 = math.floor(now / 86400) * 86400
        vmids = rng.sample(range(100, 100 + max(10_000, 4 * n)), n)
        states = rng.choices(INITIAL_STATES, INITIAL_WEIGHTS, k=n)
        platforms = rng.choices(PLATFORMS, PLATFORM_WEIGHTS, k=n)
        plans = rng.choices(PLANS, PLAN_WEIGHTS, k=n)
        nodes = rng.choices(NODES, k=n)
        rand = rng.random
        bits = rng.getrandbits
        record = 150 + bits(8)
        for i in range(n):
            record += 1 + bits(2)
            octets = bits(16)
            net = "10.10" if rand() < 0.6 else "192.168"
            price = round(3 + rand() * 77, 2) if rand() < 0.3 else None
            expire = None
            if rand() < 0.3:
                extime = NO_EXPIRY
            else:
                ends = int(day0 + (5 + rand() * 540) * 86400)
                extime = str(ends)
                if rand() < 0.2:
                    expire = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ends))
            ram, core, storage = plans[i]
            status = states[i]
            uptime = 600 + rand() * 90 * 86400
            machine = SimMachine(
                id=record,
                vmid=vmids[i],
                node=nodes[i],
                ip=f"{net}.{octets >> 8}.{2 + (octets & 0xFF) % 252}",
                platform=platforms[i],
                price=price,
                extime=extime,
                expire=expire,
                ram=ram,
                core=core,
                storage=storage,
                ihash=f"{bits(128):032x}",
                status=status,
                qmp=SETTLED_QMP.get(status, "prelaunch"),
                run_seconds=3600 + rand() * 300 * 86400,
                started_at=now - uptime if status == "running" else None,
                index=i,
            )
            while machine.ihash in self.by_hash:  # 128 random bits: never, but cheap to rule out
                machine.ihash = f"{bits(128):032x}"
            self.machines.append(machine)
            self.by_hash[machine.ihash] = machine
            if status == "starting":
                machine.target = "running"
                self._schedule(machine, now + 2 + rand() * 6)
        if n >= 8:
            self._fail(self.machines[rng.randrange(n)], now)

    def _build_account(self) -> None:
        rng = self.ctx.rng("joy", "account")
        now = self.ctx.now()
        self.amount = f"{rng.uniform(40, 4000):.2f}"
        self.extra_counts = {
            "hostings": rng.randint(0, 40),
            "databases": rng.randint(0, 20),
            "dns_domains": rng.randint(0, 30),
            "cdn_domains": rng.randint(0, 5),
        }
        self.iram = sum(m.ram for m in self.machines)
        self.icore = sum(m.core for m in self.machines)
        username = f"joyuser{rng.randint(1, 99)}"
        self.account = {
            "email": f"{username}@example.com",
            "verify": 1,
            "ip": f"10.10.{rng.randint(0, 255)}.{rng.randint(2, 254)}",
            "time": _datetime(now - rng.uniform(3600, 30 * 86400)),
            "twofa": rng.choice([0, 1]),
            "username": username,
            "full_name": rng.choice(FULL_NAMES),
            "gender": rng.choice([1, 2]),
            "profile_pic": "https://www.gravatar.com/avatar/"
            + hashlib.md5(username.encode()).hexdigest()
            + "?d=identicon",
        }
        self.api_reg_ip = f"10.10.{rng.randint(0, 255)}.{rng.randint(2, 254)}"

    # -- time ---------------------------------------------------------------------------------

    def _schedule(self, machine: SimMachine, when: float) -> None:
        self._serial += 1
        heapq.heappush(self._due, (when, self._serial, machine.ihash, machine.gen))

    def advance(self, now: float) -> None:
        """Settle transitions due by ``now`` and play each simulated minute's incident, in order."""
        epoch = self.ctx.clock.epoch
        incidents = self.ctx.options.incidents
        while True:
            next_due = self._due[0][0] if self._due else math.inf
            next_window = epoch + (self._incident_window + 1) * 60 if incidents else math.inf
            if min(next_due, next_window) > now:
                break
            if next_due <= next_window:
                when, _, ihash, gen = heapq.heappop(self._due)
                machine = self.by_hash[ihash]
                if machine.gen == gen and machine.target is not None:
                    self._settle(machine, when)
            else:
                self._incident_window += 1
                self._incident(self._incident_window, next_window)

    def _incident(self, window: int, when: float) -> None:
        rng = self.ctx.rng("joy", "incident", window)
        if not self.machines or rng.random() >= INCIDENT_RATE:
            return
        # A few random picks rather than a scan of the fleet: O(1) per minute at any size.
        for _ in range(4):
            machine = self.machines[rng.randrange(len(self.machines))]
            if machine.status == "running":
                self._fail(machine, when)
                return

    def _stop_clock(self, machine: SimMachine, when: float) -> None:
        if machine.started_at is not None:
            machine.run_seconds += max(0.0, when - machine.started_at)
            machine.started_at = None

    def _settle(self, machine: SimMachine, when: float) -> None:
        target = machine.target or machine.status
        self._stop_clock(machine, when)
        if target == "running":
            machine.started_at = when
        machine.status = target
        machine.qmp = SETTLED_QMP[target]
        machine.target = None

    def _fail(self, machine: SimMachine, when: float) -> None:
        self._stop_clock(machine, when)
        machine.status = "error"
        machine.qmp = SETTLED_QMP["error"]
        machine.target = None
        machine.gen += 1

    def _begin(self, machine: SimMachine, action: _Action, when: float) -> None:
        machine.gen += 1
        rng = self.ctx.rng("joy", "transition", machine.ihash, machine.gen)
        if action.transitional in ("starting", "resuming"):
            # The guest is not up until the transition settles.
            self._stop_clock(machine, when)
            machine.qmp = "prelaunch"
        machine.status = action.transitional
        machine.target = action.target
        self._schedule(machine, when + rng.uniform(*action.seconds))

    # -- wire shapes --------------------------------------------------------------------------

    def _list_items(self, numbers_as_strings: bool) -> bytes:
        # Nothing in a list item changes over time, so each variant is serialized only once.
        cached = self._list_cache.get(numbers_as_strings)
        if cached is not None:
            return cached
        conv = str if numbers_as_strings else _same
        items = [
            {
                "id": conv(m.id),
                "machine": str(m.vmid),
                "machine_node": m.node,
                "ip": m.ip,
                "platform": m.platform,
                "price": None if m.price is None else conv(m.price),
                "extime": m.extime,
                "expire": m.expire,
                "ram": conv(m.ram),
                "core": conv(m.core),
                "storage": conv(m.storage),
                "ihash": m.ihash,
            }
            for m in self.machines
        ]
        body = _dumps(items).encode()
        self._list_cache[numbers_as_strings] = body
        return body

    def _current(self, m: SimMachine, now: float) -> dict[str, Any]:
        key = (self.ctx.seed, m.ihash)
        running = m.status == "running"
        process = m.status not in ("stopped", "suspended", "starting")
        ran = m.run_seconds + (now - m.started_at if m.started_at is not None else 0.0)
        netin = counter(ran, 4_000 + 160_000 * unit(*key, "netin") ** 2, 900)
        netout = counter(ran, 500 + 40_000 * unit(*key, "netout") ** 2, 700)
        diskread = counter(ran, 2_000 + 20_000 * unit(*key, "diskread"), 1100)
        diskwrite = counter(ran, 5_000 + 50_000 * unit(*key, "diskwrite"), 1300)
        maxmem = m.ram * GiB
        cpu = 0.0
        if running:
            load = 0.01 + 0.7 * unit(*key, "load") ** 2
            cpu = min(1.0, load * (0.3 + 1.4 * smooth_noise(now, 60, *key, "cpu")))
        mem = 0
        freemem = 0
        if process:
            mem = int(maxmem * (0.25 + 0.6 * smooth_noise(now, 300, *key, "mem")))
            freemem = max(0, maxmem - mem - maxmem // 24)
        return {
            "name": self._name(m),
            "netout": netout,
            "uptime": int(now - m.started_at) if m.started_at is not None else 0,
            "agent": 1,
            "running-machine": "pc-i440fx-9.0+pve0",
            "diskread": diskread,
            "diskwrite": diskwrite,
            "disk": 0,
            "maxdisk": m.storage * GiB,
            "running-qemu": "9.0.2",
            "clipboard": None,
            "cpu": round(cpu, 15),
            "vmid": m.vmid,
            "maxmem": maxmem,
            "cpus": m.core,
            "nics": {f"tap{m.vmid}i0": {"netin": netin, "netout": netout}},
            "tags": m.ip,
            "pid": 1000 + int(unit(*key, "pid", m.started_at) * 4_000_000) if process else None,
            "netin": netin,
            "ha": {"managed": 0},
            "status": m.status,
            "mem": mem,
            "freemem": freemem,
            "qmpstatus": m.qmp,
            "balloon": maxmem,
        }

    def _name(self, m: SimMachine) -> str:
        shown = self.ctx.faults.name_for("joy", m.index)
        return _vm_name(self.ctx.seed, m) if shown is None else shown

    def _qemu_config(self, m: SimMachine) -> dict[str, Any]:
        digest = hashlib.sha1(f"{self.ctx.seed}-{m.ihash}".encode()).hexdigest()
        sockets = 2 if m.core % 2 == 0 else 1
        mac = ":".join(digest[i : i + 2].upper() for i in (0, 2, 4))
        created = _created(self.ctx.seed, m)
        return {
            "tags": m.ip,
            "digest": digest,
            "numa": 0,
            "cpu": "host",
            "sockets": sockets,
            "ostype": "win10" if m.platform == "windows" else "l26",
            "cores": m.core // sockets,
            "memory": str(m.ram * 1024),
            "smbios1": f"uuid={digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-"
            f"{digest[20:32]}",
            "scsi0": f"ssd-raid:{m.vmid}/vm-{m.vmid}-disk-0.raw,aio=threads,cache=unsafe,"
            f"format=raw,iothread=1,size={m.storage}G,ssd=1",
            "name": self._name(m),
            "onboot": 1,
            "scsihw": "virtio-scsi-single",
            "agent": "1",
            "meta": f"creation-qemu=8.1.5,ctime={created}",
            "boot": "order=scsi0;ide2;net0",
            "net0": f"virtio=BC:24:11:{mac},bridge=vmbr0,firewall=1",
            "vga": "std",
        }

    # -- answers ------------------------------------------------------------------------------

    def _quirks(self) -> tuple[bool, bool, bool]:
        """Roll (double-encode, flip success, numbers as strings) for one answer."""
        rate = self.ctx.faults.get("joy").quirk_rate
        roll = self.ctx.faults.roll
        return roll(rate), roll(rate), roll(rate)

    def _answer(self, doc: dict[str, Any], status: int = 200) -> Response:
        double, flip, strings = self._quirks()
        if flip:
            doc["success"] = _flipped(doc["success"])
        if strings:
            doc = _stringify(doc)
        return _json_body(_dumps(doc), status, double)

    def _dashboardinfo(self, body: dict[str, Any]) -> Response:
        counts = {"instances": len(self.machines), "iram": self.iram, "icore": self.icore}
        counts |= self.extra_counts
        return self._answer(
            {"success": "true", "amount": self.amount, **counts, "total": _total(counts)}
        )

    def _account_info(self, body: dict[str, Any]) -> Response:
        api_token = {
            "id": 1,
            "api_token": DEMO_TOKEN,
            "api_key": DEMO_KEY,
            "timestamp": None,
            "api_date": None,
            "api_reg_ip": self.api_reg_ip,
            "status": "enabled",
        }
        return self._answer(
            {
                "success": "true",
                "amount": f"$ {self.amount}",
                **self.account,
                "api_token": api_token,
            }
        )

    def _machine_list(self, body: dict[str, Any]) -> Response:
        double, flip, strings = self._quirks()
        success = b"true" if flip else b'"true"'
        text = b'{"success":' + success + b',"value":' + self._list_items(strings) + b"}"
        return _json_body(text, 200, double)

    def _find(self, body: dict[str, Any]) -> SimMachine:
        token = body.get("instance_token")
        if not isinstance(token, str) or not token:
            raise SimRefusal(
                self._answer({"success": False, "error": "instance_token_required"}, 400)
            )
        machine = self.by_hash.get(token)
        if machine is None:
            raise SimRefusal(self._answer({"success": False, "error": "machine_not_found"}, 404))
        return machine

    def _machine_info(self, body: dict[str, Any]) -> Response:
        found = self._find(body)
        now = self.ctx.now()
        return self._answer(
            {
                "success": True,
                "value": found.ihash,
                "Current": self._current(found, now),
                "qemuConfig": self._qemu_config(found),
                "osinfo": None,
                "ip": found.ip,
                "extime": found.extime,
                "os": found.platform,
            }
        )

    def _change_machine_state(self, body: dict[str, Any]) -> Response:
        found = self._find(body)
        state = body.get("machine_state")
        action = ACTIONS.get(state) if isinstance(state, str) else None
        if action is None:
            return self._answer({"success": False, "error": "invalid_state"}, 400)
        # Judge by where the machine is heading, so a second click supersedes the first.
        if (found.target or found.status) in action.applies_to:
            self._begin(found, action, self.ctx.now())
        return self._answer({"success": True, "value": action.reply})

    # -- routes -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """``POST /api/connect/``, with or without the trailing slash."""
        return [
            Route("/api/connect/", self._connect, methods=["POST"]),
            Route("/api/connect", self._connect, methods=["POST"]),
        ]

    def control_routes(self) -> list[BaseRoute]:
        """``POST /fail/{ihash}`` puts a machine in error at once."""
        return [Route("/fail/{ihash}", self._force_error, methods=["POST"])]

    def _authorize(self, request: Request) -> None:
        """Raise a 401 unless the demo token and key are both sent."""
        token = request.headers.get("x-api-token")
        key = request.headers.get("x-api-key")
        if self.ctx.faults.get("joy").auth_fail or token != DEMO_TOKEN or key != DEMO_KEY:
            raise SimRefusal(
                _protocol_error(
                    401, "invalid_api_credentials", "Token or key is invalid or disabled."
                )
            )

    async def _connect(self, request: Request) -> Response:
        self._authorize(request)
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return _protocol_error(400, "invalid_json", "Request body is not valid JSON.")
        if not isinstance(body, dict):
            return _protocol_error(400, "invalid_json", "Request body must be a JSON object.")
        kind = body.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            allowed = ", ".join(self._handlers)
            return _protocol_error(
                400, "unsupported_type", f"Unsupported type {kind!r}; expected one of {allowed}."
            )
        return handler(body)

    async def _force_error(self, request: Request) -> Response:
        machine = self.by_hash.get(request.path_params["ihash"])
        if machine is None:
            return JSONResponse({"error": "machine not found"}, status_code=404)
        self._fail(machine, self.ctx.now())
        return JSONResponse({"ihash": machine.ihash, "status": machine.status})

    # -- simulator plumbing -------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Machine count and counts by ``Current.status``."""
        by_status: dict[str, int] = {}
        for m in self.machines:
            by_status[m.status] = by_status.get(m.status, 0) + 1
        return {"machines": len(self.machines), "by_status": by_status}

    def demo_account(self, base_url: str) -> dict[str, Any]:
        """A ``[[joy]]`` config account with the simulator's demo credentials."""
        return {
            "name": "sim-joy",
            "base_url": base_url,
            "api_token": DEMO_TOKEN,
            "api_key": DEMO_KEY,
        }


# -- helpers ----------------------------------------------------------------------------------
