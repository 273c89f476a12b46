"""The Jamsocket fleet's seeded past: which services, images and backends a seed makes.

Each seeded backend is spawned in the past with its fate (ready, idle, swept, crashed, ...)
queued in the fleet's heap, and the fleet plays the heap up to now.
"""

from __future__ import annotations

from joytui.sim.jamsocket.fleet import (
    CLUSTER,
    MIB,
    NAME,
    AppProfile,
    JamsocketFleet,
    SimEnvironment,
    SimImage,
    SimService,
    SpawnConfig,
)

SERVICE_APPS = {
    "whiteboard": AppProfile(
        "whiteboard-server@2.4.1",
        "node dist/server.js",
        "whiteboard server listening on port 8080",
        "board",
    ),
    "doc-sync": AppProfile(
        "doc-sync@1.9.0", "node build/index.js", "y-websocket sync server ready on :8080", "doc"
    ),
    "game-lobby": AppProfile(
        "lobby@0.7.3", "node src/lobby.js", "lobby accepting players on port 8080", "lobby"
    ),
    "notebook-kernel": AppProfile(
        "kernel-gateway@3.0.1",
        "python -m kernel_gateway",
        "Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)",
        "nb",
    ),
    "pdf-render": AppProfile(
        "pdf-render@3.1.0", "node server.mjs", "render worker listening on 8080", "job"
    ),
}
COMMIT_MESSAGES = (
    "Fix reconnect loop when the socket closes early",
    "Bump yjs to 13.6",
    "Add snapshot compression",
    "Handle SIGTERM gracefully",
    "Log slow handlers",
    "Cap room size at 64 peers",
    "Update base image to node 20",
)
BASE_FATES = (
    ("ready",) * 6
    + ("idle",) * 2
    + ("booting",) * 2
    + ("terminating",)
    + ("swept", "external", "external-hard", "keyexpired", "lost", "startuptimeout")
    + ("internalerror", "exited", "crashed")
)
EXTRA_FATES = ("ready", "ready", "swept", "external", "oom", "crashed", "idle")


def seed_fleet(fleet: JamsocketFleet, now: float) -> None:
    """Seed the services and backends of the demo account, each backend's fate queued."""
    rng = fleet.ctx.rng(NAME, "fleet")
    names = rng.sample(sorted(SERVICE_APPS), rng.choice([3, 4]))
    for index, name in enumerate(names):
        _seed_service(fleet, name, now, index)
    fates = list(BASE_FATES) + rng.choices(EXTRA_FATES, k=rng.randint(0, 4))
    rng.shuffle(fates)
    for i, fate in enumerate(fates):
        _seed_backend(fleet, i, fate, now)


def _seed_service(fleet: JamsocketFleet, name: str, now: float, index: int) -> None:
    rng = fleet.ctx.rng(NAME, "service", name)
    upload = now - rng.uniform(2.5, 6) * 86400
    uploads = [upload]
    count = rng.randint(3, 5)
    for _ in range(count - 1):
        upload -= rng.uniform(2, 10) * 86400
        uploads.append(upload)
    uploads.reverse()
    created = uploads[0] - rng.uniform(1, 30) * 86400
    images = []
    for k, uploaded in enumerate(uploads):
        newest = k == count - 1
        tag = "latest" if newest or rng.random() < 0.3 else f"v1.{k}.{rng.randint(0, 4)}"
        # The newest image was pushed by the GitHub action, the oldest by hand.
        with_commit = newest or (k > 0 and rng.random() < 0.5)
        commit = None
        if with_commit:
            commit = {
                "branch": rng.choice(["main", "main", "release"]),
                "hash": "".join(rng.choices("0123456789abcdef", k=40)),
                "message": rng.choice(COMMIT_MESSAGES),
                "repository": f"demo-org/{name}",
            }
        digest = "sha256:" + "".join(rng.choices("0123456789abcdef", k=64))
        images.append(SimImage(digest, tag, uploaded, commit))
    env = SimEnvironment("default", CLUSTER, created, "latest")
    fleet.services[name] = SimService(
        name=name,
        created_at=created,
        environments=[env],
        images=images,
        default_mem=rng.choice([512 * MIB, 1024 * MIB, 2048 * MIB]),
        app=SERVICE_APPS[name],
        name_index=index,
    )


def _seed_backend(fleet: JamsocketFleet, i: int, fate: str, now: float) -> None:
    rng = fleet.ctx.rng(NAME, "fleet", "backend", i)
    service = rng.choice(list(fleet.services.values()))
    key = None
    if rng.random() < 0.6:
        # The index suffix keeps keys unique, so no two seeded backends contend for one.
        key = f"{service.app.key_prefix}-{rng.randint(100, 999)}{i}"
    cfg = SpawnConfig(max_idle=rng.choice([300.0, 600.0, 900.0]))
    if fate == "oom":
        cfg.memory_limit = 16 * MIB
    elif rng.random() < 0.25:
        cfg.memory_limit = rng.choice([256, 768, 4096]) * MIB
    live = fate in ("ready", "idle", "booting", "terminating")
    if fate == "booting":
        created = now - rng.uniform(0.0, 1.5)
    elif live:
        created = now - rng.uniform(cfg.max_idle + 120, 6 * 3600)
    else:
        created = now - rng.uniform(3600, 2 * 86400)
    age = now - created
    if fate == "ready" and rng.random() < 0.3:
        cfg.lifetime = round(age + rng.uniform(3600, 86400))
    image = fleet.resolve_image(service, "latest", created) or service.images[-1]
    backend = fleet.spawn(
        service,
        created,
        key=key,
        user=None,
        cfg=cfg,
        image=image,
        rng=rng,
        connected=True,
        slow_pull=fate == "booting",
        stop_after="waiting" if fate == "startuptimeout" else "ready",
    )
    died = created + rng.uniform(120, max(180.0, min(age - 60, 6 * 3600)))
    if fate == "idle":
        fleet.schedule(now - rng.uniform(10, cfg.max_idle - 120), "idle", backend, None)
    elif fate == "terminating":
        at = now - rng.uniform(0.5, 5)
        delay = (now - at) + rng.uniform(20, 90)
        fleet.schedule(at, "terminate", backend, ("external", False, delay, None))
    elif fate == "swept":
        fleet.schedule(created + rng.uniform(60, age - cfg.max_idle - 60), "idle", backend, None)
    elif fate in ("external", "external-hard"):
        hard = fate == "external-hard"
        fleet.schedule(died, "terminate", backend, ("external", hard, None, None))
    elif fate == "keyexpired":
        fleet.schedule(died, "terminate", backend, ("keyexpired", False, None, 143))
    elif fate == "startuptimeout":
        fleet.schedule(created + 70, "terminate", backend, ("startuptimeout", True, None, None))
    elif fate in ("lost", "internalerror"):
        fleet.schedule(died, "die", backend, (fate, None, True))
    elif fate == "exited":
        fleet.schedule(died, "die", backend, (None, 0, False))
    elif fate == "crashed":
        fleet.schedule(died, "die", backend, (None, 1, True))
