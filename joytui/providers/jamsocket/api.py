"""The Jamsocket v2 endpoints: paths, error answers, reads and writes of one account."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr

from joytui.config import Account, JamsocketAccount
from joytui.model import Resource
from joytui.providers.base import ProviderClient
from joytui.providers.errors import BadPayloadError, ProviderError, snippet
from joytui.providers.jamsocket.wire import (
    ApiError,
    BackendItem,
    BackendMetadata,
    BackendStatus,
    Connection,
    Image,
    ImageList,
    OkAnswer,
    RunningBackends,
    Service,
    ServiceBackends,
    ServiceList,
    SpawnConfig,
)
from joytui.providers.wire import decode_json, parse_model

log = logging.getLogger("joytui.providers.jamsocket")

B = TypeVar("B", bound=BaseModel)


def _iso_param(when: datetime) -> str:
    """A query-string datetime as the spec writes them (UTC, ``Z``); naive means UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


# -- the endpoints ------------------------------------------------------------------------------


class JamsocketApi(ProviderClient):
    """The Jamsocket v2 endpoints of one account as typed methods (the base of
    :class:`~joytui.providers.jamsocket.JamsocketClient`)."""

    provider = "jamsocket"
    auth_hint = "check the account's access token (Jamsocket settings page)"
    secret_fields = ("token",)

    recent_seconds: float = 86400.0
    """Terminated backends created this recently appear in snapshots."""
    concurrency: int = 8
    """Most requests one snapshot has in flight at once."""
    stream_max_reconnects: int = 5
    """Reconnections in a row, with no event in between, before a stream gives up."""
    stream_backoff_seconds: float = 0.5
    """First pause before reconnecting; doubles with each failure in a row."""
    stream_backoff_cap: float = 30.0
    """Longest pause before reconnecting (also caps the server's ``retry``)."""
    metrics_timeout: float = 5.0
    """How long :meth:`metrics` waits for one event before answering None."""

    def __init__(
        self,
        account: Account,
        secrets: Mapping[str, SecretStr],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        stream_read_timeout: float | None = 60.0,
    ) -> None:
        if not isinstance(account, JamsocketAccount):
            raise TypeError("JamsocketClient needs a JamsocketAccount")
        super().__init__(account, secrets, transport=transport)
        self.jamsocket_account: str = account.account
        self.stream_read_timeout = stream_read_timeout
        """Longest silence on an open stream (longer than the server's keep-alive), or None."""

    def _default_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._secret('token')}"}

    # -- paths and errors ---------------------------------------------------------------------

    def _account_path(self, tail: str = "") -> str:
        return f"/v2/account/{quote(self.jamsocket_account, safe='')}{tail}"

    def _service_path(self, service: str, tail: str = "") -> str:
        account = quote(self.jamsocket_account, safe="")
        return f"/v2/service/{account}/{quote(service, safe='')}{tail}"

    @staticmethod
    def _backend_path(backend_id: str, tail: str = "") -> str:
        return f"/v2/backend/{quote(backend_id, safe='')}{tail}"

    def provider_message(self, response: httpx.Response) -> str:
        """The error answer's message, code and error id (quote the id to Jamsocket support)."""
        try:
            found = parse_model(ApiError, decode_json(response.content[:8192], "error"), "error")
        except ProviderError:
            return super().provider_message(response)
        body = found.error
        if not body.message:
            return super().provider_message(response)
        extra = ", ".join(x for x in (body.code, f"error id {body.id}" if body.id else None) if x)
        return snippet(f"{body.message} ({extra})" if extra else body.message, 200)

    async def _get_model(self, model: type[B], path: str, call: str, **kwargs: Any) -> B:
        """A read (retried on transport, server and rate-limit failures), parsed as ``model``."""
        data = await self.request_json("GET", path, call=call, retry=True, **kwargs)
        return self.parse(model, data, call)

    async def _write_ok(self, method: str, path: str, call: str, body: Any = None) -> OkAnswer:
        """Send a write once; a 2xx is acceptance, whatever shape the body is in."""
        response = await self.request(method, path, call=call, json=body)
        try:
            return self.parse(OkAnswer, self.decode(response, call), call)
        except BadPayloadError as err:
            log.warning("%s %r: %s accepted, but %s", self.provider, self.name, call, err.message)
            return OkAnswer(status=None)

    # -- backends -----------------------------------------------------------------------------

    async def connect(
        self,
        service: str,
        *,
        key: str | None = None,
        user: str | None = None,
        auth: Mapping[str, Any] | None = None,
        spawn: SpawnConfig | Mapping[str, Any] | bool | None = None,
    ) -> Connection:
        """``POST /v2/service/{account}/{service}/connect``: a backend holding ``key`` (spawned
        if none does, unless ``spawn`` is False; None or True spawn with the service's
        defaults). Never retried. The answer's secrets stay masked in the returned
        :class:`Connection`."""
        body: dict[str, Any] = {}
        if key is not None:
            body["key"] = key
        if user is not None:
            body["user"] = user
        if auth is not None:
            body["auth"] = dict(auth)
        if isinstance(spawn, SpawnConfig):
            body["spawn"] = spawn.model_dump(exclude_none=True)
        elif isinstance(spawn, Mapping):
            body["spawn"] = dict(spawn)
        elif spawn is False:
            body["spawn"] = False
        call = f"connect to service {service!r}"
        response = await self.request(
            "POST", self._service_path(service, "/connect"), call=call, json=body
        )
        try:
            return self.parse(Connection, self.decode(response, call), call)
        except BadPayloadError as err:
            err.hint = "a backend may have been spawned anyway; check the service's backends"
            raise

    async def backend_status(self, backend_id: str) -> BackendStatus:
        """``GET /v2/backend/{id}/status``: its most recent status."""
        call = f"status of backend {backend_id!r}"
        return await self._get_model(BackendStatus, self._backend_path(backend_id, "/status"), call)

    async def backend(self, backend_id: str) -> BackendMetadata:
        """``GET /v2/backend/{id}``: metadata and the whole status history."""
        call = f"backend {backend_id!r}"
        return await self._get_model(BackendMetadata, self._backend_path(backend_id), call)

    async def service_backends(
        self, service: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[BackendItem]:
        """``GET /v2/service/{account}/{service}/backends``, newest first; ``start`` (inclusive)
        and ``end`` filter on ``created_at`` (naive datetimes are UTC)."""
        params = {}
        if start is not None:
            params["start"] = _iso_param(start)
        if end is not None:
            params["end"] = _iso_param(end)
        call = f"backends of service {service!r}"
        path = self._service_path(service, "/backends")
        found = await self._get_model(ServiceBackends, path, call, params=params or None)
        return found.backends

    async def running_backends(self) -> list[BackendItem]:
        """``GET /v2/account/{account}/backends``: every backend not yet terminated."""
        call = "running backends"
        found = await self._get_model(RunningBackends, self._account_path("/backends"), call)
        return found.running_backends

    async def terminate(self, backend_id: str, *, hard: bool = False) -> OkAnswer:
        """``POST /v2/backend/{id}/terminate``: SIGTERM, or a forced stop when ``hard``.
        Never retried (terminating twice is harmless, but the rule is the rule)."""
        call = f"{'hard ' if hard else ''}terminate backend {backend_id!r}"
        body = {"hard": True} if hard else {}
        return await self._write_ok(
            "POST", self._backend_path(backend_id, "/terminate"), call, body
        )

    # -- services -----------------------------------------------------------------------------

    async def create_service(self, name: str) -> OkAnswer:
        """``POST /v2/account/{account}/service``. Never retried."""
        call = f"create service {name!r}"
        return await self._write_ok("POST", self._account_path("/service"), call, {"name": name})

    async def check(self) -> None:
        """Probe the account with one cheap authenticated call (the list of services)."""
        await self.services()

    async def services(self) -> list[str]:
        """``GET /v2/account/{account}/services``: the service names."""
        found = await self._get_model(ServiceList, self._account_path("/services"), "services")
        return found.services

    async def service(self, name: str) -> Service:
        """``GET /v2/service/{account}/{service}``."""
        return await self._get_model(Service, self._service_path(name), f"service {name!r}")

    async def delete_service(self, name: str) -> OkAnswer:
        """``POST /v2/service/{account}/{service}/delete`` (its running backends are
        terminated). Never retried."""
        return await self._write_ok(
            "POST", self._service_path(name, "/delete"), f"delete service {name!r}"
        )

    async def related(self, resource: Resource) -> dict[str, list[str]]:
        """A service's images, newest first: tag, digest and upload time."""
        if resource.kind != "service":
            return {}
        lines = []
        for image in await self.images(resource.id):
            when = (
                datetime.fromtimestamp(image.upload_time, UTC).strftime("%Y-%m-%d %H:%M")
                if image.upload_time
                else ""
            )
            lines.append(f"{image.tag or '(no tag)'}  {image.digest[:19]}  {when}".rstrip())
        return {"images": lines}

    async def images(self, service: str) -> list[Image]:
        """``GET /v2/service/{account}/{service}/images``, newest first."""
        call = f"images of service {service!r}"
        found = await self._get_model(ImageList, self._service_path(service, "/images"), call)
        return found.images

    async def update_image_tag(self, service: str, image_tag: str) -> OkAnswer:
        """``POST /v2/service/{account}/{service}/update``: the tag or digest new backends
        spawn with. Never retried."""
        call = f"update image of service {service!r}"
        path = self._service_path(service, "/update")
        return await self._write_ok("POST", path, call, {"image_tag": image_tag})
