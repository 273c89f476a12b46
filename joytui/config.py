"""The config file: a TOML contract (see DESIGN.md), read with tomllib and validated with pydantic.

Every provider section is a list of accounts. A secret is a literal string,
``{ env = "VAR" }`` or ``{ command = ["argv", ...] }``; resolved secrets are
``pydantic.SecretStr``, whose ``repr`` and ``str`` are masked, so no log line,
traceback or error message can show one.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import platformdirs
import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
)

from joytui.model import PROVIDERS

SECRET_COMMAND_TIMEOUT = 10.0


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not a URL (expected http:// or https:// and a host)")
    return value.rstrip("/")


Url = Annotated[str, AfterValidator(_check_url)]
NonEmpty = Annotated[str, Field(min_length=1)]


class EnvSecret(BaseModel):
    """A secret read from an environment variable."""

    model_config = ConfigDict(extra="forbid")
    env: NonEmpty = Field(description="Name of the environment variable holding the secret.")


class CommandSecret(BaseModel):
    """A secret printed on stdout by a command (e.g. a password manager)."""

    model_config = ConfigDict(extra="forbid")
    command: list[str] = Field(min_length=1, description="argv of the command; no shell.")
    timeout_seconds: float = Field(
        SECRET_COMMAND_TIMEOUT, gt=0, description="How long the command may take."
    )


_SECRET_KINDS = SecretStr | EnvSecret | CommandSecret


def _secret_source(value: Any) -> Any:
    """Route a raw secret setting to its kind, with one clear message when it fits none."""
    if isinstance(value, SecretStr | EnvSecret | CommandSecret):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    if isinstance(value, dict):
        model = EnvSecret if "env" in value else CommandSecret if "command" in value else None
        if model is not None:
            try:
                return model.model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
                raise ValueError(f"{where}: {msg}") from None
    raise ValueError('expected a string, { env = "VAR" } or { command = ["argv", ...] }')


SecretSource = Annotated[_SECRET_KINDS, BeforeValidator(_secret_source)]


DEFAULT_MAX_CONCURRENCY = 64
"""Requests in flight per account unless the config says otherwise. Sized for a WAN: at 20 ms
a round trip, 10,000 Joy machine_info calls take at least 10,000 x 20 ms / width, so 32 can
never list them within 5 s (6.25 s at best; 7.7 s measured) and 64 can (3.1 s at best). A 429
halves it and it recovers slowly, so the default stays polite to a server that says so."""


class Account(BaseModel):
    """Settings every account has, whatever its provider."""

    model_config = ConfigDict(extra="forbid")

    name: NonEmpty = Field(description="Your label for the account, shown everywhere.")
    base_url: Url = Field(description="The API's host root; the client appends its own paths.")
    refresh_seconds: float | None = Field(
        None, gt=0, description="Poll interval for this account (default: the global one)."
    )
    timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one HTTP request.")
    verify_tls: bool = Field(True, description="Check the server's TLS certificate.")
    max_concurrency: int = Field(
        DEFAULT_MAX_CONCURRENCY,
        ge=1,
        le=1024,
        description="Most requests in flight at once to this account (Joy's machine_info "
        "fan-out, say); halved after a 429 (too many requests), then recovered slowly.",
    )
    alerts: bool = Field(
        True, description="Raise alerts for this account (false silences it; see [alerts])."
    )
    read_only: bool = Field(
        False, description="Refuse this account's state-changing actions (shown disabled)."
    )

    def secret_fields(self) -> dict[str, SecretSource]:
        """This account's secret settings by field name."""
        return {
            name: getattr(self, name)
            for name, info in type(self).model_fields.items()
            if info.annotation == _SECRET_KINDS
        }


class JoyAccount(Account):
    """A Joy `/api/connect` account."""

    api_token: SecretSource = Field(description="The x-api-token header value.")
    api_key: SecretSource = Field(description="The x-api-key header value.")


class CockpitAccount(Account):
    """A Cockpit cluster, logged into with a username and password."""

    username: NonEmpty = Field(description="Login name.")
    password: SecretSource = Field(description="Login password.")


class JamsocketAccount(Account):
    """A Jamsocket account, reached with an access token."""

    account: NonEmpty = Field(description="The Jamsocket account name in API paths.")
    token: SecretSource = Field(description="The access token (Authorization: Bearer).")


class InstancesAccount(Account):
    """A REST instances API, reached with an API key."""

    api_key: SecretSource = Field(description="The X-API-Key header value.")


ACCOUNT_MODELS: dict[str, type[Account]] = {
    "joy": JoyAccount,
    "cockpit": CockpitAccount,
    "jamsocket": JamsocketAccount,
    "instances": InstancesAccount,
}


class DetailSettings(BaseModel):
    """``[detail]``: the detail pane's own poll and its history."""

    model_config = ConfigDict(extra="forbid")
    poll_seconds: float = Field(
        2.0, gt=0, description="How often an open detail polls its resource's metrics."
    )
    history_points: int = Field(
        900, ge=10, le=100_000, description="Readings kept per resource (900 = 30 min at 2 s)."
    )


class LogsSettings(BaseModel):
    """``[logs]``: the logs view."""

    model_config = ConfigDict(extra="forbid")
    buffer_lines: int = Field(
        10_000, ge=100, le=1_000_000, description="Lines kept; older ones are dropped."
    )


AlertTrigger = Literal["error", "account_down", "gone"]
"""What can raise an alert: a resource going into error, an account going down, a resource
disappearing."""


class AlertSettings(BaseModel):
    """``[alerts]``: which changes alert, and how."""

    model_config = ConfigDict(extra="forbid")
    bell: bool = Field(True, description="Ring the terminal bell on an alert.")
    notify: bool = Field(True, description="Show a notification on an alert.")
    on: list[AlertTrigger] = Field(
        default_factory=lambda: ["error", "account_down"],
        description="What alerts: 'error' (a resource goes into error), 'account_down' (an "
        "account stops answering), 'gone' (a resource disappears).",
    )
    min_interval_seconds: float = Field(
        300.0,
        ge=0,
        description="At most one alert per resource (or account) in this many seconds.",
    )


class Config(BaseModel):
    """The whole config file."""

    model_config = ConfigDict(extra="forbid")

    refresh_seconds: float = Field(5.0, gt=0, description="Default poll interval, in seconds.")
    theme: str = Field("joy-dark", description="Theme name (see `joytui --help` for the list).")
    read_only: bool = Field(False, description="Refuse every state-changing action.")
    keymap: dict[str, str] = Field(
        default_factory=dict,
        description="Key overrides by binding id, e.g. refresh = 'ctrl+r'.",
    )
    columns: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Columns per view, in order, e.g. vms = ['name', 'status', 'ip'] "
        "(view ids: all, machines, hosts, vms, services, backends, instances; c in the "
        "dashboard changes them for the session).",
    )
    detail: DetailSettings = Field(
        default_factory=DetailSettings, description="The detail pane's poll and history."
    )
    logs: LogsSettings = Field(default_factory=LogsSettings, description="The logs view.")
    alerts: AlertSettings = Field(
        default_factory=AlertSettings, description="Which changes alert, and how."
    )
    max_resource_series: int = Field(
        5000,
        ge=0,
        description="The exporter exports per-resource series (status, CPU, memory) while "
        "the fleet has at most this many resources; past it, only the counts.",
    )
    joy: list[JoyAccount] = Field(default_factory=list, description="Joy accounts.")
    cockpit: list[CockpitAccount] = Field(default_factory=list, description="Cockpit clusters.")
    jamsocket: list[JamsocketAccount] = Field(
        default_factory=list, description="Jamsocket accounts."
    )
    instances: list[InstancesAccount] = Field(
        default_factory=list, description="Instances API accounts."
    )

    def accounts(self) -> list[tuple[str, Account]]:
        """Every account as (provider, account), in file order by provider."""
        return [(p, a) for p in PROVIDERS for a in getattr(self, p)]


def default_path() -> Path:
    """Where the config lives when neither --config nor JOYTUI_CONFIG says otherwise."""
    return platformdirs.user_config_path("joytui") / "config.toml"


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config path: ``explicit`` (--config), else $JOYTUI_CONFIG, else the default."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("JOYTUI_CONFIG")
    if env:
        return Path(env).expanduser()
    return default_path()


def permission_warning(path: Path) -> str | None:
    """A warning when group or others may read ``path`` (it may hold secrets)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"{path}: readable by group/others (mode {stat.S_IMODE(mode):04o}); "
            f"it may hold secrets: run chmod 600 {shlex.quote(str(path))}"
        )
    return None


def _where(data: Any, loc: tuple[Any, ...]) -> str:
    """``cockpit[1] 'lab': base_url`` for a pydantic error location."""
    if len(loc) >= 2 and loc[0] in PROVIDERS and isinstance(loc[1], int):
        provider, index = loc[0], loc[1]
        name = None
        try:
            name = data[provider][index].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        label = f"{provider}[{index}]" + (f" {name!r}" if isinstance(name, str) else "")
        # Drop pydantic's union-branch tags (e.g. "str", "EnvSecret") from the field path.
        rest = [str(p) for p in loc[2:] if not (isinstance(p, str) and p[:1].isupper())]
        rest = [p for p in rest if p not in ("str", "function-after[_check_url(), str]")]
        return f"{label}: {'.'.join(rest)}" if rest else label
    return ".".join(str(p) for p in loc) or "(top level)"


def _messages(data: Any, exc: ValidationError, path: Path) -> list[str]:
    problems: dict[str, str] = {}
    for err in exc.errors():
        where = _where(data, tuple(err["loc"]))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        # A union (secret) reports one error per branch; keep the first per place.
        problems.setdefault(where, f"{path}: {where}: {msg}")
    return list(problems.values())


def parse_config(text: str, path: Path) -> Config:
    """Validate config ``text`` read from ``path``; raises :class:`ConfigError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_messages(data, exc, path)) from None
    problems = []
    for provider in PROVIDERS:
        seen: set[str] = set()
        for index, account in enumerate(getattr(config, provider)):
            if account.name in seen:
                where = f"{provider}[{index}] {account.name!r}"
                problems.append(f"{path}: {where}: name: used twice in [[{provider}]]")
            seen.add(account.name)
    if problems:
        raise ConfigError(problems)
    return config


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path``; raises :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: no config file here; run `joytui config init` or try `joytui demo`"]
        ) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_config(text, path)


class SecretError(Exception):
    """A secret that could not be resolved; the message never contains the secret."""


def _plain_secret(source: SecretSource, env: dict[str, str] | None) -> SecretStr | None:
    """A literal or ``{env}`` secret's value; None for a ``{command}`` secret."""
    if isinstance(source, SecretStr):
        return source
    if isinstance(source, EnvSecret):
        value = (os.environ if env is None else env).get(source.env)
        if not value:
            raise SecretError(f"environment variable {source.env} is not set")
        return SecretStr(value)
    return None


def _command_output(argv: list[str], returncode: int, stdout: str, stderr: str) -> SecretStr:
    """The secret a finished command printed, or why there is none."""
    if returncode != 0:
        # stderr is the command's own explanation; stdout might hold the secret, so never shown.
        err = " ".join(stderr.split())[:200] or "no message"
        raise SecretError(f"secret command {argv[0]} exited {returncode}: {err}")
    value = stdout.strip("\r\n")
    if not value:
        raise SecretError(f"secret command {argv[0]} printed nothing")
    return SecretStr(value.splitlines()[0])


def _command_failed(argv: list[str], exc: OSError) -> SecretError:
    if isinstance(exc, FileNotFoundError):
        return SecretError(f"secret command not found: {argv[0]}")
    return SecretError(f"secret command {argv[0]} failed to run: {exc.strerror}")


def _command_timed_out(source: CommandSecret) -> SecretError:
    return SecretError(
        f"secret command {source.command[0]} took longer than {source.timeout_seconds:g} s"
    )


def resolve_secret(source: SecretSource, env: dict[str, str] | None = None) -> SecretStr:
    """The secret's value, masked in repr/str. Raises :class:`SecretError` with a useful message."""
    plain = _plain_secret(source, env)
    if plain is not None:
        return plain
    assert isinstance(source, CommandSecret)
    argv = source.command
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=source.timeout_seconds,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _command_timed_out(source) from None
    except OSError as exc:
        raise _command_failed(argv, exc) from None
    return _command_output(argv, done.returncode, done.stdout, done.stderr)


async def resolve_secret_async(source: SecretSource) -> SecretStr:
    """:func:`resolve_secret` without blocking the event loop: a command runs as a subprocess
    the loop waits on, killed at its timeout."""
    plain = _plain_secret(source, None)
    if plain is not None:
        return plain
    assert isinstance(source, CommandSecret)
    argv = source.command
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise _command_failed(argv, exc) from None
    try:
        async with asyncio.timeout(source.timeout_seconds):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise _command_timed_out(source) from None
    except asyncio.CancelledError:
        proc.kill()
        raise
    decode = "utf-8", "replace"
    return _command_output(argv, proc.returncode or 0, out.decode(*decode), err.decode(*decode))


def resolve_account_secrets(provider: str, account: Account) -> dict[str, SecretStr]:
    """Every secret of ``account``, resolved; errors name the account and the field."""
    resolved = {}
    for field, source in account.secret_fields().items():
        try:
            resolved[field] = resolve_secret(source)
        except SecretError as exc:
            raise SecretError(f"{provider} {account.name!r}: {field}: {exc}") from None
    return resolved


async def resolve_account_secrets_async(provider: str, account: Account) -> dict[str, SecretStr]:
    """:func:`resolve_account_secrets` off the event loop, every field at once."""
    fields = account.secret_fields()
    results = await asyncio.gather(
        *(resolve_secret_async(source) for source in fields.values()), return_exceptions=True
    )
    resolved = {}
    for field, result in zip(fields, results, strict=True):
        if isinstance(result, SecretError):
            raise SecretError(f"{provider} {account.name!r}: {field}: {result}") from None
        if isinstance(result, BaseException):
            raise result
        resolved[field] = result
    return resolved


def dump_config(data: dict[str, Any]) -> str:
    """TOML text for config ``data`` (plain JSON-like values)."""
    return tomli_w.dumps(data)


def write_config(path: Path, data: dict[str, Any], force: bool = False) -> None:
    """Write ``data`` as TOML to ``path`` with mode 0600; refuses to overwrite unless ``force``."""
    text = dump_config(data)
    parse_config(text, path)  # never write a file we would refuse to read
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError([f"{path}: already exists; pass --force to overwrite it"]) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def account_template(provider: str) -> dict[str, Literal["secret", "text", "url"]]:
    """The fields ``config init`` asks for, by provider, and what kind each is."""
    model = ACCOUNT_MODELS[provider]
    kinds: dict[str, Literal["secret", "text", "url"]] = {"name": "text", "base_url": "url"}
    for name, info in model.model_fields.items():
        if name in kinds or name in Account.model_fields:
            continue
        kinds[name] = "secret" if info.annotation == _SECRET_KINDS else "text"
    return kinds
