"""Where Control Room keeps its data, and the settings read from `control-room.toml`.

The data directory is `--data-dir`, else `$CONTROL_ROOM_HOME`, else `./.control-room`. It holds
registry.db, control-room.toml, operator.token (mode 0600), runs/ and worktrees/.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from control_room.domain import InvalidInput, StoreError
from control_room.domain.permissions import PERMISSION_MODES, ClaudeSettings
from control_room.domain.routing import RoutingRules
from control_room.domain.urls import is_postgres_url, unknown_kind
from control_room.routing_config import routing_rules
from control_room.ui_names import KEY_IDS, theme_names

DEFAULT_HOME = ".control-room"
HOME_ENV = "CONTROL_ROOM_HOME"
REGISTRY_ENV = "CONTROL_ROOM_REGISTRY"


@dataclass(frozen=True, slots=True)
class Home:
    """The data directory and the files in it."""

    root: Path
    # The registry when it is not this directory's registry.db: a PostgreSQL URL, or another
    # SQLite file's absolute path (--registry, $CONTROL_ROOM_REGISTRY; see registry_location).
    url: str | None = None

    @property
    def registry(self) -> Path:
        """The SQLite registry file: registry.db here, unless `url` names another file."""
        if self.url and not is_postgres_url(self.url):
            return Path(self.url)
        return self.root / "registry.db"

    @property
    def config(self) -> Path:
        return self.root / "control-room.toml"

    @property
    def operator_token(self) -> Path:
        return self.root / "operator.token"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def worktrees(self) -> Path:
        return self.root / "worktrees"


def resolve_home(data_dir: str | None = None, registry: str | None = None) -> Home:
    """The data directory, with the registry named by --registry or $CONTROL_ROOM_REGISTRY."""
    chosen = data_dir or os.environ.get(HOME_ENV) or DEFAULT_HOME
    return Home(Path(chosen).expanduser().absolute(), given_registry(registry))


def given_registry(given: str | None = None) -> str | None:
    """The registry named by --registry or $CONTROL_ROOM_REGISTRY, if any: a PostgreSQL URL,
    or a SQLite file's absolute path (a relative one is relative to the current directory)."""
    url = given or os.environ.get(REGISTRY_ENV)
    return _normalised(url, Path.cwd()) if url else None


def registry_location(home: Home, settings: Settings) -> str | Path:
    """The registry: --registry, else $CONTROL_ROOM_REGISTRY, else `[registry] url` (a relative
    path: relative to the data directory), else the data directory's registry.db. A PostgreSQL
    URL comes back as it is; a SQLite file as its Path."""
    url = home.url or (
        _normalised(settings.registry_url, home.root) if settings.registry_url else ""
    )
    if is_postgres_url(url):
        return url
    return Path(url) if url else home.registry


def with_registry(home: Home, settings: Settings, given: str | None = None) -> Home:
    """`home` with the registry it uses (see registry_location) in its `url`."""
    named = given_registry(given) if given or not home.url else home.url
    if named:
        home = Home(home.root, named)
    where = registry_location(home, settings)
    return home if where == home.root / "registry.db" else Home(home.root, str(where))


def _normalised(url: str, base: Path) -> str:
    if is_postgres_url(url):
        return url
    if refusal := unknown_kind(url):
        raise StoreError(refusal)
    path = Path(url.removeprefix("sqlite://")).expanduser()
    return str(path if path.is_absolute() else (base / path).absolute())


@dataclass(frozen=True, slots=True)
class Settings:
    synchronous: str = "FULL"
    registry_url: str = ""  # [registry] url: PostgreSQL URL or SQLite path; "" is registry.db here
    busy_timeout_ms: int = 10_000
    check_seconds: float = 5.0
    lease_seconds: float = 300.0
    host: str = "127.0.0.1"
    port: int = 3003
    keep_alive_seconds: int = 75
    registration_secret: str | None = None
    mcp_idle_seconds: float = 600.0
    server_hosts: tuple[str, ...] = ()
    theme: str = "control-room-dark"
    keys: tuple[tuple[str, str], ...] = ()  # binding id -> key(s), for the screen
    finished_rows: int = 200  # finished tasks the screen shows after the open ones
    check_timeout_seconds: float = 600.0
    routing: RoutingRules = field(default_factory=RoutingRules)
    wall_clock_seconds: float = 3600.0
    on_shutdown: str = "stop"
    claude_binary: str = "claude"
    max_turns: int = 40
    anthropic_model: str = "claude-sonnet-5-5"
    start_backoff_seconds: float = 30.0
    max_start_failures: int = 5
    stall_seconds: float = 600.0
    max_repeats: int = 5
    worktrees: bool = True
    worktree_cleanup: str = "completed"
    notify_urls: tuple[str, ...] = ()
    delivery_author: str = "Control Room <control-room@localhost>"
    delivery_merge: str = "manual"
    delivery_remote: str = "origin"
    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    permission_mode: str = "acceptEdits"
    extra_args: tuple[str, ...] = ()
    permission_timeout_seconds: float = 600.0
    gone_seconds: float = 30.0
    engine_host: str | None = None

    @property
    def claude(self) -> ClaudeSettings:
        """The [agents] defaults for claude-code agents."""
        return ClaudeSettings(
            self.allowed_tools, self.disallowed_tools, self.permission_mode, self.extra_args
        )


# (section, key) -> (Settings field, accepted type)
_KEYS: dict[tuple[str, str], tuple[str, type | tuple[type, ...]]] = {
    ("store", "synchronous"): ("synchronous", str),
    ("store", "busy_timeout_ms"): ("busy_timeout_ms", int),
    ("store", "check_seconds"): ("check_seconds", (int, float)),
    ("leases", "seconds"): ("lease_seconds", (int, float)),
    ("server", "host"): ("host", str),
    ("server", "port"): ("port", int),
    ("server", "keep_alive_seconds"): ("keep_alive_seconds", int),
    ("server", "registration_secret"): ("registration_secret", str),
    ("server", "mcp_idle_seconds"): ("mcp_idle_seconds", (int, float)),
    ("server", "hosts"): ("server_hosts", list),
    ("screen", "theme"): ("theme", str),
    ("screen", "keys"): ("keys", dict),
    ("screen", "finished_rows"): ("finished_rows", int),
    ("validation", "timeout_seconds"): ("check_timeout_seconds", (int, float)),
    ("agents", "wall_clock_seconds"): ("wall_clock_seconds", (int, float)),
    ("agents", "on_shutdown"): ("on_shutdown", str),
    ("agents", "claude_binary"): ("claude_binary", str),
    ("agents", "max_turns"): ("max_turns", int),
    ("agents", "anthropic_model"): ("anthropic_model", str),
    ("agents", "allowed_tools"): ("allowed_tools", list),
    ("agents", "disallowed_tools"): ("disallowed_tools", list),
    ("agents", "permission_mode"): ("permission_mode", str),
    ("agents", "extra_args"): ("extra_args", list),
    ("agents", "permission_timeout_seconds"): ("permission_timeout_seconds", (int, float)),
    ("agents", "start_backoff_seconds"): ("start_backoff_seconds", (int, float)),
    ("agents", "max_start_failures"): ("max_start_failures", int),
    ("agents", "stall_seconds"): ("stall_seconds", (int, float)),
    ("agents", "max_repeats"): ("max_repeats", int),
    ("worktrees", "enabled"): ("worktrees", bool),
    ("worktrees", "cleanup"): ("worktree_cleanup", str),
    ("notify", "urls"): ("notify_urls", list),
    ("delivery", "author"): ("delivery_author", str),
    ("delivery", "merge"): ("delivery_merge", str),
    ("delivery", "remote"): ("delivery_remote", str),
    ("engine", "gone_seconds"): ("gone_seconds", (int, float)),
    ("engine", "host"): ("engine_host", str),
    ("registry", "url"): ("registry_url", str),
}
CHOICES = {
    "on_shutdown": ("agents.on_shutdown", ("stop", "leave")),
    "worktree_cleanup": ("worktrees.cleanup", ("completed", "always", "never")),
    "delivery_merge": ("delivery.merge", ("manual", "on-checks")),
    "permission_mode": ("agents.permission_mode", PERMISSION_MODES),
}
AUTHOR = re.compile(r"[^<>\n]*[^<>\s][^<>\n]* <[^<>\s]+>")  # Name <email>


def load_settings(path: Path, *, required: bool = False) -> Settings:
    """Settings from a TOML file; errors name file and key. A missing file gives the defaults,
    unless `required` (a file the user named)."""
    if not path.exists():
        if required:
            raise InvalidInput(str(path), "no such config file")
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InvalidInput(str(path), f"cannot read the config: {error}") from None
    values: dict[str, Any] = {
        "routing": routing_rules(path, data.pop("routing", {}), data.pop("agent_types", None))
    }
    for section, table in data.items():
        if not isinstance(table, dict):
            raise InvalidInput(f"{path}: {section}", "expected a [section] table")
        for key, value in table.items():
            known = _KEYS.get((section, key))
            if known is None:
                raise InvalidInput(f"{path}: {section}.{key}", "unknown setting")
            name, kind = known
            if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
                raise InvalidInput(f"{path}: {section}.{key}", f"has the wrong type ({value!r})")
            if isinstance(value, list):
                if not all(isinstance(item, str) for item in value):
                    raise InvalidInput(f"{path}: {section}.{key}", "must be a list of strings")
                value = tuple(value)
            if isinstance(value, dict):
                if not all(isinstance(v, str) and v.strip() for v in value.values()):
                    raise InvalidInput(f"{path}: {section}.{key}", "each key must be a string")
                value = tuple(sorted(value.items()))
            values[name] = value
    settings = Settings(**values)
    if settings.synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise InvalidInput(f"{path}: store.synchronous", "use FULL, NORMAL, EXTRA or OFF")
    if not math.isfinite(settings.check_seconds) or settings.check_seconds < 0:
        raise InvalidInput(f"{path}: store.check_seconds", "must be a number of seconds, 0 or more")
    if not math.isfinite(settings.lease_seconds) or settings.lease_seconds <= 0:
        raise InvalidInput(f"{path}: leases.seconds", "must be a positive number of seconds")
    if not math.isfinite(settings.check_timeout_seconds) or settings.check_timeout_seconds <= 0:
        raise InvalidInput(f"{path}: validation.timeout_seconds", "must be a positive number")
    _check_screen(path, settings)
    for name, (key, allowed) in CHOICES.items():
        if getattr(settings, name) not in allowed:
            raise InvalidInput(f"{path}: {key}", f"use one of {', '.join(allowed)}")
    if not math.isfinite(settings.wall_clock_seconds) or settings.wall_clock_seconds <= 0:
        raise InvalidInput(f"{path}: agents.wall_clock_seconds", "must be a positive number")
    for key in ("allowed_tools", "disallowed_tools", "extra_args"):
        if not all(item.strip() for item in getattr(settings, key)):
            raise InvalidInput(f"{path}: agents.{key}", "must be a list of non-empty strings")
    timeout = settings.permission_timeout_seconds
    if not math.isfinite(timeout) or not 0 < timeout <= 86_400:
        raise InvalidInput(
            f"{path}: agents.permission_timeout_seconds",
            "must be a positive number of seconds (at most 86400)",
        )
    backoff = settings.start_backoff_seconds
    if not math.isfinite(backoff) or not 0 < backoff <= 86_400:
        raise InvalidInput(f"{path}: agents.start_backoff_seconds", "must be from 0 to 86400 s")
    if not 1 <= settings.max_start_failures <= 1000:
        raise InvalidInput(f"{path}: agents.max_start_failures", "must be from 1 to 1000")
    if not math.isfinite(settings.stall_seconds) or not 0 <= settings.stall_seconds <= 86_400:
        raise InvalidInput(f"{path}: agents.stall_seconds", "must be from 0 (off) to 86400 s")
    if not 0 <= settings.max_repeats <= 10_000:
        raise InvalidInput(f"{path}: agents.max_repeats", "must be from 0 (off) to 10000")
    if not 1 <= settings.max_turns <= 10_000:
        raise InvalidInput(f"{path}: agents.max_turns", "must be from 1 to 10000")
    if settings.busy_timeout_ms < 0:
        raise InvalidInput(f"{path}: store.busy_timeout_ms", "must not be negative")
    if not AUTHOR.fullmatch(settings.delivery_author):
        raise InvalidInput(f"{path}: delivery.author", "use the form 'Name <email>'")
    if not settings.delivery_remote.strip() or settings.delivery_remote.startswith("-"):
        raise InvalidInput(f"{path}: delivery.remote", "must be a remote name or URL")
    if not 1 <= settings.keep_alive_seconds <= 3600:
        raise InvalidInput(f"{path}: server.keep_alive_seconds", "must be from 1 to 3600")
    if not math.isfinite(settings.mcp_idle_seconds) or settings.mcp_idle_seconds <= 0:
        raise InvalidInput(f"{path}: server.mcp_idle_seconds", "must be a positive number")
    if not math.isfinite(settings.gone_seconds) or not 1 <= settings.gone_seconds <= 86_400:
        raise InvalidInput(f"{path}: engine.gone_seconds", "must be from 1 to 86400 s")
    if settings.engine_host is not None and not settings.engine_host.strip():
        raise InvalidInput(f"{path}: engine.host", "must not be empty")
    if not 0 < settings.port < 65536:
        raise InvalidInput(f"{path}: server.port", "must be from 1 to 65535")
    return settings


def _check_screen(path: Path, settings: Settings) -> None:
    """A theme or key id the screen does not have is an error, as any unknown setting."""
    themes = theme_names()
    if settings.theme not in themes:
        raise InvalidInput(
            f"{path}: screen.theme", f"no theme {settings.theme!r}: use one of {', '.join(themes)}"
        )
    for key_id, _ in settings.keys:
        if key_id not in KEY_IDS:
            raise InvalidInput(
                f"{path}: screen.keys.{key_id}",
                f"no key has this id: use one of {', '.join(KEY_IDS)}",
            )
