"""The Jamsocket v2 API's endpoints (``/v2/...``) and the simulator's controls for it.

Where the spec is silent the simulator is plausible:

- Errors: 400 ``InvalidRequest``, 401 ``Unauthorized``, 403 ``Forbidden`` (an account other
  than the demo one), 404 ``NotFound``, 405 ``MethodNotAllowed``, 409 ``Conflict``, 415
  ``UnsupportedMediaType`` (a body-taking endpoint called without
  ``Content-Type: application/json``).
- Keys are scoped to a service; a backend holds its key until it starts terminating.
  ``spawn: false`` with no holder answers 404, and without a key 400.
- ``url`` and ``ready_url`` point into the simulator (``/__sim__/jamsocket/b/...`` and
  ``/__sim__/jamsocket/ready/...``) so they can be opened; each connect mints a new token.
- Terminating a backend that is already terminating or terminated answers ``{"status":"ok"}``
  and changes nothing (a hard terminate still upgrades a soft one).
- Deleting a service terminates its running backends (reason ``external``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route, request_response
from starlette.types import Receive, Scope, Send

from joytui.sim.base import SimContext, SimRefusal
from joytui.sim.jamsocket.fleet import (
    CLUSTER,
    DEMO_ACCOUNT,
    DEMO_TOKEN,
    GENERIC_APP,
    MIB,
    NAME,
    TERMINATION_REASONS,
    JamsocketFleet,
    SimBackend,
    SimEnvironment,
    SimService,
)
from joytui.sim.jamsocket.seed import seed_fleet
from joytui.sim.jamsocket.streams import (
    LogFeed,
    MetricsFeed,
    StatusFeed,
    last_event_id,
    sse_response,
    stream_events,
)
from joytui.sim.jamsocket.wire import (
    SERVICE_NAME,
    ShownNames,
    SpawnConfigError,
    backend_item,
    backend_metadata,
    connection,
    error_wire,
    image_wire,
    millis,
    parse_connect,
    parse_timestamp,
    public_status,
    service_wire,
)

Endpoint = Callable[[Request], Awaitable[Response]]


class _ShownServiceRoute(BaseRoute):
    """Serves the service endpoints whose shown name no path pattern can hold (see
    :meth:`JamsocketSim._shown_service_endpoint`); matches nothing when names are the fleet's."""

    def __init__(self, resolve: Callable[[Scope], tuple[Endpoint, dict[str, str]] | None]) -> None:
        self._resolve = resolve

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        found = self._resolve(scope) if scope["type"] == "http" else None
        if found is None:
            return Match.NONE, {}
        endpoint, params = found
        return Match.FULL, {"endpoint": endpoint, "path_params": params}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await request_response(scope["endpoint"])(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)


class JamsocketSim:
    """Services, images and session backends of one demo account, behind the v2 API."""

    name = NAME

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self._spawns = 0
        self._errors = 0
        self._api_routes = self._build_routes()
        self._service_endpoints: dict[tuple[str, str], Endpoint] = {
            ("", "GET"): self._get_service,
            ("connect", "POST"): self._connect,
            ("backends", "GET"): self._service_backends,
            ("images", "GET"): self._images,
            ("update", "POST"): self._update_service,
            ("delete", "POST"): self._delete_service,
        }
        self.fleet = JamsocketFleet(ctx, seed_fleet)

    @property
    def services(self) -> dict[str, SimService]:
        """The account's services, by name."""
        return self.fleet.services

    @property
    def backends(self) -> dict[str, SimBackend]:
        """Every backend ever spawned (terminated ones too), by id."""
        return self.fleet.backends

    def advance(self, now: float) -> None:
        """Apply every queued change due by ``now``."""
        self.fleet.advance(now)

    # -- routes -------------------------------------------------------------------------------

    def _build_routes(self) -> list[Route]:
        svc = "/v2/service/{account}/{service}"
        acct = "/v2/account/{account}"
        backend = "/v2/backend/{backend_id}"
        return [
            Route(f"{svc}/connect", self._connect, methods=["POST"]),
            Route(f"{svc}/backends", self._service_backends, methods=["GET"]),
            Route(f"{svc}/images", self._images, methods=["GET"]),
            Route(f"{svc}/update", self._update_service, methods=["POST"]),
            Route(f"{svc}/delete", self._delete_service, methods=["POST"]),
            Route(svc, self._get_service, methods=["GET"]),
            Route(f"{acct}/backends", self._running_backends, methods=["GET"]),
            Route(f"{acct}/services", self._list_services, methods=["GET"]),
            Route(f"{acct}/service", self._create_service, methods=["POST"]),
            Route(f"{backend}/status", self._status, methods=["GET"]),
            Route(f"{backend}/status/stream", self._status_stream, methods=["GET"]),
            Route(f"{backend}/logs/stream", self._logs_stream, methods=["GET"]),
            Route(f"{backend}/metrics/stream", self._metrics_stream, methods=["GET"]),
            Route(f"{backend}/terminate", self._terminate_route, methods=["POST"]),
            Route(backend, self._get_backend, methods=["GET"]),
        ]

    def routes(self) -> list[BaseRoute]:
        """The v2 API, then a catch-all so unknown ``/v2/`` paths also answer JSON errors."""
        return [
            _ShownServiceRoute(self._shown_service_endpoint),
            *self._api_routes,
            Route("/v2/{rest:path}", self._fallback, methods=None),
        ]

    def control_routes(self) -> list[BaseRoute]:
        """``POST /kill/{id}`` (die now), and the pages ``url`` and ``ready_url`` point at."""
        return [
            Route("/kill/{backend_id}", self._kill, methods=["POST"]),
            Route("/ready/{backend_id}/{token}/", self._ready_page, methods=["GET"]),
            Route("/b/{backend_id}/{token}/", self._backend_page, methods=["GET"]),
        ]

    # -- request helpers ----------------------------------------------------------------------

    def _error(self, status: int, code: str, message: str) -> JSONResponse:
        self._errors += 1
        rng = self.ctx.rng(NAME, "error", self._errors)
        return JSONResponse(error_wire(status, code, message, rng), status_code=status)

    def _shown_service_endpoint(self, scope: Scope) -> tuple[Endpoint, dict[str, str]] | None:
        """Under a names fault, the service endpoint a path names when the route patterns
        cannot: a shown service name that is empty or holds a slash (sent as ``%2F``)."""
        if self.ctx.faults.names(NAME) is None:
            return None
        raw = scope.get("raw_path") or scope["path"].encode()
        parts = [unquote_to_bytes(p).decode("utf-8", "replace") for p in raw.split(b"/")]
        if len(parts) not in (5, 6) or parts[:3] != ["", "v2", "service"]:
            return None
        if parts[4] and "/" not in parts[4]:
            return None  # the ordinary routes match it
        tail = parts[5] if len(parts) == 6 else ""
        endpoint = self._service_endpoints.get((tail, scope["method"]))
        if endpoint is None:
            return None
        return endpoint, {"account": parts[3], "service": parts[4]}

    def _refuse(self, status: int, code: str, message: str) -> SimRefusal:
        return SimRefusal(self._error(status, code, message))

    def _authorize(self, request: Request) -> None:
        """Raise a 401 (or a 403 for another account) unless the demo token is sent."""
        if self.ctx.faults.get(NAME).auth_fail:
            raise self._refuse(401, "Unauthorized", "The access token was revoked or is invalid.")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise self._refuse(
                401, "Unauthorized", "Missing access token: send 'Authorization: Bearer <token>'."
            )
        if token.strip() != DEMO_TOKEN:
            raise self._refuse(401, "Unauthorized", "The access token is invalid or expired.")
        account = request.path_params.get("account")
        if account is not None and account != DEMO_ACCOUNT:
            raise self._refuse(
                403, "Forbidden", f"The access token has no access to account {account!r}."
            )

    def _shown(self) -> ShownNames:
        return ShownNames(self.ctx.faults.names(NAME), self.services.values())

    def _find_service(self, request: Request) -> SimService:
        service = self._shown().find_service(request.path_params["service"])
        if service is None:
            name = request.path_params["service"]
            raise self._refuse(404, "NotFound", f"Service {name!r} not found in {DEMO_ACCOUNT!r}.")
        return service

    def _find_backend(self, request: Request) -> SimBackend:
        backend = self.backends.get(request.path_params["backend_id"])
        if backend is None:
            ident = request.path_params["backend_id"]
            raise self._refuse(404, "NotFound", f"Backend {ident!r} not found.")
        return backend

    async def _json_body(self, request: Request, require_json: bool) -> Any:
        """The parsed body (None when empty); a 415 or 400 refusal when it cannot be read."""
        ctype = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if require_json and ctype != "application/json":
            raise self._refuse(
                415, "UnsupportedMediaType", "This endpoint needs 'Content-Type: application/json'."
            )
        raw = await request.body()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise self._refuse(
                400, "InvalidRequest", "The request body is not valid JSON."
            ) from None

    # -- service endpoints --------------------------------------------------------------------

    async def _list_services(self, request: Request) -> Response:
        self._authorize(request)
        shown = self._shown()
        return JSONResponse({"services": sorted(shown.service(s) for s in self.services.values())})

    async def _create_service(self, request: Request) -> Response:
        self._authorize(request)
        body = await self._json_body(request, require_json=True)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            return self._error(
                400,
                "InvalidRequest",
                'Body must be {"name": string}: lowercase letters, digits and dashes.',
            )
        if name in self.services or self._shown().find_service(name) is not None:
            return self._error(409, "Conflict", f"Service {name!r} already exists.")
        now = self.fleet.sync()
        self.services[name] = SimService(
            name=name,
            created_at=now,
            environments=[SimEnvironment("default", CLUSTER, now, "latest")],
            images=[],
            default_mem=1024 * MIB,
            app=GENERIC_APP,
        )
        return JSONResponse({"status": "ok"})

    async def _get_service(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find_service(request)
        return JSONResponse(service_wire(found, self._shown()))

    async def _delete_service(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find_service(request)
        now = self.fleet.sync()
        for backend in [b for b in self.fleet.live.values() if b.service is found]:
            self.fleet.terminate(backend, now, "external", hard=False)
        del self.services[found.name]
        return JSONResponse({"status": "ok"})

    async def _images(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find_service(request)
        newest_first = sorted(found.images, key=lambda i: i.upload_time, reverse=True)
        shown = self._shown()
        return JSONResponse({"images": [image_wire(found, i, shown) for i in newest_first]})

    async def _update_service(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find_service(request)
        body = await self._json_body(request, require_json=True)
        tag = body.get("image_tag") if isinstance(body, dict) else None
        if not isinstance(tag, str) or not tag:
            return self._error(400, "InvalidRequest", 'Body must be {"image_tag": string}.')
        if self.fleet.resolve_image(found, tag, self.ctx.now()) is None:
            name = self._shown().service(found)
            return self._error(
                400, "InvalidRequest", f"No image of {name!r} has tag or digest {tag!r}."
            )
        for environment in found.environments:
            environment.image_tag = tag
        return JSONResponse({"status": "ok"})

    # -- backend endpoints --------------------------------------------------------------------

    async def _connect(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find_service(request)
        body = await self._json_body(request, require_json=True)
        try:
            key, user, spawn = parse_connect(body)
        except SpawnConfigError as exc:
            return self._error(400, "InvalidRequest", str(exc))
        now = self.fleet.sync()
        shown = self._shown()
        if key is not None and (holder := shown.holder(found, key)) is not None:
            self.fleet.touch(holder, now)
            return JSONResponse(connection(self.ctx, holder, spawned=False))
        if spawn is None:
            if key is None:
                return self._error(400, "InvalidRequest", "spawn: false needs a key to look up.")
            return self._error(
                404, "NotFound", f"No running backend holds key {key!r} and spawn is false."
            )
        if not found.images:
            return self._error(
                400,
                "InvalidRequest",
                f"Service {shown.service(found)!r} has no images; push one first.",
            )
        tag = spawn.tag or found.environments[0].image_tag
        image = self.fleet.resolve_image(found, tag, now)
        if image is None:
            name = shown.service(found)
            return self._error(
                400, "InvalidRequest", f"No image of {name!r} has tag or digest {tag!r}."
            )
        self._spawns += 1
        backend = self.fleet.spawn(
            found,
            now,
            key=key,
            user=user,
            cfg=spawn,
            image=image,
            rng=self.ctx.rng(NAME, "spawn", self._spawns),
            key_from_client=True,
        )
        return JSONResponse(connection(self.ctx, backend, spawned=True))

    async def _status(self, request: Request) -> Response:
        found = self._find_backend(request)
        body = public_status(found.statuses[-1])
        return JSONResponse(body, headers={"Access-Control-Allow-Origin": "*"})

    async def _get_backend(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find_backend(request)
        return JSONResponse(backend_metadata(found, self._shown()))

    async def _service_backends(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find_service(request)
        bounds = []
        for name in ("start", "end"):
            raw = request.query_params.get(name, "").strip()
            if not raw:
                bounds.append(None)
                continue
            when = parse_timestamp(raw)
            if when is None:
                return self._error(
                    400, "InvalidRequest", f"{name} must be an ISO 8601 datetime, got {raw!r}."
                )
            bounds.append(when)
        start, end = bounds
        chosen = []
        for b in self.backends.values():
            created = millis(b.created_at)
            if b.service is not found:
                continue
            if (start is not None and created < start) or (end is not None and created >= end):
                continue
            chosen.append(b)
        chosen.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        shown = self._shown()
        return JSONResponse({"backends": [backend_item(b, shown) for b in chosen]})

    async def _running_backends(self, request: Request) -> Response:
        self._authorize(request)
        running = [b for b in self.backends.values() if b.status != "terminated"]
        running.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        shown = self._shown()
        return JSONResponse({"running_backends": [backend_item(b, shown) for b in running]})

    async def _terminate_route(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find_backend(request)
        body = await self._json_body(request, require_json=True)
        hard = False
        if body is not None:
            if not isinstance(body, dict) or not isinstance(body.get("hard", False), bool):
                return self._error(400, "InvalidRequest", 'Body must be {"hard": boolean}.')
            hard = body.get("hard", False)
        now = self.fleet.sync()
        self.fleet.terminate(found, now, "external", hard=hard)
        return JSONResponse({"status": "ok"})

    async def _fallback(self, request: Request) -> Response:
        for route in self._api_routes:
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL:
                return self._error(
                    405, "MethodNotAllowed", f"{request.method} is not allowed on this endpoint."
                )
        return self._error(404, "NotFound", f"No such endpoint: {request.url.path}")

    # -- streams ------------------------------------------------------------------------------

    async def _status_stream(self, request: Request) -> Response:
        found = self._find_backend(request)
        feed = StatusFeed(self.fleet, found, last_event_id(request))
        return sse_response(stream_events(self.fleet, found, feed), cors=True)

    async def _logs_stream(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find_backend(request)
        feed = LogFeed(self.fleet, found, last_event_id(request), self.ctx.now())
        return sse_response(stream_events(self.fleet, found, feed))

    async def _metrics_stream(self, request: Request) -> Response:
        self._authorize(request)
        found = self._find_backend(request)
        feed = MetricsFeed(self.fleet, found, last_event_id(request))
        return sse_response(stream_events(self.fleet, found, feed))

    # -- controls -----------------------------------------------------------------------------

    async def _kill(self, request: Request) -> Response:
        now = self.fleet.sync()
        found = self._find_backend(request)
        body = await self._json_body(request, require_json=False)
        reason = body.get("reason", "lost") if isinstance(body, dict) else "lost"
        if reason not in TERMINATION_REASONS:
            return self._error(
                400, "InvalidRequest", f"reason must be one of {TERMINATION_REASONS}"
            )
        if found.status == "terminated":
            return self._error(409, "Conflict", f"Backend {found.id!r} is already terminated.")
        self.fleet.die(found, now, reason, None, True)
        return JSONResponse(public_status(found.statuses[-1]))

    async def _ready_page(self, request: Request) -> Response:
        self.fleet.sync()
        found = self.backends.get(request.path_params["backend_id"])
        token = request.path_params["token"]
        if found is None or token not in found.tokens:
            return HTMLResponse("<h1>No such backend</h1>", status_code=404)
        if found.status == "ready":
            base = self.ctx.base_url.rstrip("/")
            return RedirectResponse(f"{base}/__sim__/{NAME}/b/{found.id}/{token}/")
        refresh = '<meta http-equiv="refresh" content="1">' if found.live else ""
        return HTMLResponse(
            f"<html><head>{refresh}</head><body><p>Backend {found.id} is {found.status}.</p>"
            "</body></html>"
        )

    async def _backend_page(self, request: Request) -> Response:
        now = self.fleet.sync()
        found = self.backends.get(request.path_params["backend_id"])
        if found is None or request.path_params["token"] not in found.tokens:
            return HTMLResponse("<h1>No such backend</h1>", status_code=404)
        if found.status != "ready":
            return HTMLResponse(f"<p>Backend {found.id} is {found.status}.</p>", status_code=502)
        self.fleet.touch(found, now)
        return HTMLResponse(
            f"<html><body><h1>{found.service.name}</h1><p>Session backend {found.id}"
            f" (key {found.key or 'none'}) is ready.</p></body></html>"
        )

    # -- simulator plumbing -------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Counts of services and backends, by status."""
        return self.fleet.summary()

    def demo_account(self, base_url: str) -> dict[str, Any]:
        """The config account for this simulator, with the demo token."""
        return {
            "name": "sim-jamsocket",
            "base_url": base_url,
            "account": DEMO_ACCOUNT,
            "token": DEMO_TOKEN,
        }
