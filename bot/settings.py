"""Settings, read once from the environment plus config/: the only reader of os.environ.

A missing or malformed value raises ``SettingsError`` whose text is one line naming the
variable (or ``ConfigError`` naming the file and line), so nothing starts half-configured.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from workflows.config import ConfigError
from workflows.directory_plans import DirectoryPolicy, load_directory_policy
from workflows.durations import DurationError, parse_seconds
from workflows.org import OrgConfig, load_org

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///itbot.db"
DEFAULT_SPOOL_PATH = "itbot-spool.db"
# The default configuration: bot/default_config in an installed wheel (setup.py maps config/ there), the
# repository's config/ in a source checkout.
_INSTALLED_CONFIG = Path(__file__).resolve().parent / "default_config"
_PACKAGED_CONFIG = _INSTALLED_CONFIG if _INSTALLED_CONFIG.is_dir() else Path(__file__).resolve().parent.parent / "config"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_DB_SCHEMES = ("sqlite", "postgresql", "postgres")
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
LDAP_VARIABLES = ("LDAP_URL", "LDAP_STARTTLS", "LDAP_BIND_DN", "LDAP_BIND_PASSWORD", "LDAP_CA_FILE", "LDAP_TLS_NAME",
                  "LDAP_BASE_DN", "LDAP_USERS_OU", "LDAP_DISABLED_OU", "LDAP_GROUPS_BASE", "LDAP_UPN_DOMAIN",
                  "LDAP_CONNECT_TIMEOUT", "LDAP_RECEIVE_TIMEOUT", "LDAP_PAGE_SIZE")
ENTRA_VARIABLES = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST", "GRAPH_URL",
                   "ENTRA_UPN_DOMAIN")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
_MULTI_TENANT = ("common", "organizations", "consumers")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SettingsError(ValueError):
    """An environment variable is missing or malformed; the message names it."""


class Secret:
    """A credential that never shows itself in repr, str or a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    slack_bot_token: Secret | None
    slack_signing_secret: Secret | None
    slack_app_token: Secret | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "0.0.0.0"
    port: int = 3000
    config_dir: Path = _PACKAGED_CONFIG
    log_level: str = "INFO"
    log_format: str = "json"
    http_timeout: float = 10.0
    outbox_lease: float = 120.0      # seconds a sender holds an outbox row before another may take it again
    worker_poll: float = 2.0         # seconds between the worker's looks for due steps and messages to send
    org: OrgConfig = field(default_factory=OrgConfig)
    directory: DirectoryPolicy = field(default_factory=DirectoryPolicy)
    # Active Directory (all None: not configured)
    ldap_url: str | None = None
    ldap_starttls: bool = False
    ldap_bind_dn: str | None = None
    ldap_bind_password: Secret | None = None
    ldap_ca_file: str | None = None
    ldap_tls_name: str | None = None
    ldap_base_dn: str | None = None
    ldap_users_ou: str | None = None
    ldap_disabled_ou: str | None = None
    ldap_groups_base: str | None = None
    ldap_upn_domain: str | None = None
    ldap_connect_timeout: float = 10.0
    ldap_receive_timeout: int = 30
    ldap_page_size: int = 500
    # Entra ID (all None: not configured)
    azure_tenant_id: str | None = None
    azure_client_id: str | None = None
    azure_client_secret: Secret | None = None
    azure_authority_host: str = DEFAULT_AUTHORITY_HOST
    graph_url: str = DEFAULT_GRAPH_URL
    entra_upn_domain: str | None = None
    # HR system webhook (None: /hooks/hr answers 503)
    hr_webhook_secret: Secret | None = None
    # "sandbox": an in-memory directory for trying itbot (never for production)
    directory_mode: str = "real"
    # handle Slack events in a separate process (the serving process only verifies and acks)
    event_process: bool = True
    # the local file where events wait between their ack and their handling (not the main store)
    spool_path: str = DEFAULT_SPOOL_PATH
    # worker and clock: serve /metrics, /readyz and /healthz on this port (None: not served)
    metrics_port: int | None = None

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def ad_configured(self) -> bool:
        return self.ldap_url is not None

    @property
    def entra_configured(self) -> bool:
        return self.azure_tenant_id is not None

    def secrets(self) -> list[str]:
        """Every credential value, for the log redactor."""
        held = (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.ldap_bind_password,
                self.azure_client_secret, self.hr_webhook_secret)
        return [s.reveal() for s in held if s]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require_slack: bool = True,
                 require_signing: bool = True) -> "Settings":
        """Every variable is read even after a mistake; the first mistake is raised (one line), carrying all of
        them in its ``problems`` (``itbot check-config`` prints every one)."""
        env = os.environ if env is None else env
        problems: list[ValueError] = []

        def read(reader: Callable[[], Any], default: Any = None) -> Any:
            try:
                return reader()
            except (SettingsError, ConfigError) as exc:
                problems.append(exc)
                return default

        app_token = read(lambda: _token(env, "SLACK_APP_TOKEN", "xapp-", required=False))
        config_dir = config_dir_from_env(env)
        config_ok = config_dir.is_dir()
        if not config_ok:
            problems.append(SettingsError(f"ITBOT_CONFIG_DIR={config_dir} is not a directory"))
        values = dict(
            slack_bot_token=read(lambda: _token(env, "SLACK_BOT_TOKEN", "xoxb-", required=require_slack)),
            slack_signing_secret=read(lambda: _signing_secret(
                env, required=require_slack and require_signing and app_token is None and
                not env.get("SLACK_APP_TOKEN", "").strip())),
            slack_app_token=app_token,
            slack_api_url=read(lambda: _url(env, "SLACK_API_URL", DEFAULT_SLACK_API_URL)),
            database_url=read(lambda: _database_url(env)),
            host=env.get("HOST", "0.0.0.0") or "0.0.0.0",
            port=read(lambda: _int(env, "PORT", 3000, 1, 65535)),
            config_dir=config_dir,
            log_level=read(lambda: _choice(env, "LOG_LEVEL", "INFO", _LOG_LEVELS)),
            log_format=read(lambda: _choice(env, "LOG_FORMAT", "json", ("json", "text"))),
            http_timeout=read(lambda: _seconds(env, "ITBOT_HTTP_TIMEOUT", 10.0, 0.1, 300.0)),
            outbox_lease=read(lambda: _seconds(env, "ITBOT_OUTBOX_LEASE", 120.0, 1.0, 3600.0)),
            worker_poll=read(lambda: _seconds(env, "ITBOT_WORKER_POLL", 2.0, 0.05, 60.0)),
            org=read(lambda: load_org(config_dir)) if config_ok else None,
            directory=read(lambda: load_directory_policy(config_dir)) if config_ok else None,
            **read(lambda: _active_directory(env), {}),
            **read(lambda: _entra(env), {}),
            hr_webhook_secret=read(lambda: _hr_webhook_secret(env)),
            directory_mode=read(lambda: _choice(env, "ITBOT_DIRECTORY", "real", ("real", "sandbox"))),
            event_process=read(lambda: _choice(env, "ITBOT_EVENT_PROCESS", "1", ("1", "0"))) == "1",
            spool_path=read(lambda: _spool_path(env)),
            metrics_port=read(lambda: _int(env, "METRICS_PORT", 0, 1, 65535) or None),
        )
        if problems:
            first = problems[0]
            first.problems = problems   # type: ignore[attr-defined]
            raise first
        return cls(**values)


def _hr_webhook_secret(env: Mapping[str, str]) -> Secret | None:
    value = env.get("HR_WEBHOOK_SECRET", "").strip()
    if not value:
        return None
    if len(value) < 32 or re.search(r"\s", value):
        raise SettingsError("HR_WEBHOOK_SECRET is too weak: use at least 32 characters without spaces "
                            "(python -c 'import secrets; print(secrets.token_hex(32))')")
    return Secret(value)


def config_dir_from_env(env: Mapping[str, str]) -> Path:
    """Where config/ is read from: ITBOT_CONFIG_DIR, else ./config if present, else the packaged one."""
    return Path(env.get("ITBOT_CONFIG_DIR") or _default_config_dir())


def _default_config_dir() -> Path:
    local = Path.cwd() / "config"
    return local if (local / "itbot.yaml").is_file() else _PACKAGED_CONFIG


def _token(env: Mapping[str, str], name: str, prefix: str, *, required: bool) -> Secret | None:
    value = env.get(name, "").strip()
    if not value:
        if required:
            raise SettingsError(f"{name} is not set: copy the {prefix}… token from your Slack app's settings")
        return None
    if not value.startswith(prefix) or re.search(r"\s", value):
        raise SettingsError(f"{name} is malformed: expected a token starting with {prefix!r}")
    return Secret(value)


def _signing_secret(env: Mapping[str, str], *, required: bool) -> Secret | None:
    value = env.get("SLACK_SIGNING_SECRET", "").strip()
    if not value:
        if required:
            raise SettingsError("SLACK_SIGNING_SECRET is not set: HTTP mode needs the app's signing secret "
                                "(Basic Information page), or set SLACK_APP_TOKEN for Socket Mode")
        return None
    if not re.fullmatch(r"[0-9A-Za-z]{16,128}", value):
        raise SettingsError("SLACK_SIGNING_SECRET is malformed: expected the app's hexadecimal signing secret")
    return Secret(value)


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not re.match(r"https?://[^/\s]+", value):
        raise SettingsError(f"{name} is malformed: expected an http(s) URL, got {value!r}")
    return value if value.endswith("/") else value + "/"


def _database_url(env: Mapping[str, str]) -> str:
    value = env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    scheme = value.split(":", 1)[0].split("+", 1)[0]
    if "://" not in value or scheme not in _DB_SCHEMES:
        raise SettingsError("DATABASE_URL is malformed: expected sqlite:///FILE or postgresql://USER@HOST/DB")
    return value


def _spool_path(env: Mapping[str, str]) -> str:
    value = env.get("ITBOT_SPOOL_PATH", "").strip() or DEFAULT_SPOOL_PATH
    parent = Path(value).expanduser().resolve().parent
    if not parent.is_dir():
        raise SettingsError(f"ITBOT_SPOOL_PATH={value}: the directory {parent} does not exist")
    if Path(value).is_dir():
        raise SettingsError(f"ITBOT_SPOOL_PATH={value} is a directory: name a file, e.g. {value.rstrip('/')}/itbot-spool.db")
    return str(Path(value).expanduser())


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} is malformed: expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} is out of range: expected {low}–{high}, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """Seconds: a plain number (``2``, ``0.5``) or a duration in the one grammar (``90s``, ``2m``)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse_seconds(raw, what=name)
    except DurationError as exc:
        raise SettingsError(f"{name} is malformed: {exc}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} is out of range: expected {low:g}–{high:g} seconds, got {value:g}")
    return value


def _whole_seconds(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _seconds(env, name, default, low, high)
    if value != int(value):
        raise SettingsError(f"{name} is malformed: expected a whole number of seconds, got {value:g}")
    return int(value)


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip()
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"{name} is malformed: expected 1 or 0 (true/false, yes/no), got {raw!r}")


def _set(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _required(env: Mapping[str, str], name: str, why: str) -> str:
    value = _set(env, name)
    if value is None:
        raise SettingsError(f"{name} is not set: {why}")
    return value


def _dn_key(name: str, value: str) -> tuple:
    from connectors.ad_values import dn_key   # the same DN rules the AD connector compares with
    from workflows.directory import DirectoryError
    try:
        key = dn_key(value)
    except DirectoryError:
        key = ()
    if not key or any(not attr or not part for attr, part in key):
        raise SettingsError(f"{name} is malformed: expected a distinguished name such as "
                            f"OU=Users,DC=corp,DC=example,DC=com, got {value!r}")
    return key


def _active_directory(env: Mapping[str, str]) -> dict:
    """The LDAP_* settings; {} (Active Directory not configured) when none is set."""
    given = [name for name in LDAP_VARIABLES if _set(env, name)]
    if not given:
        return {}
    url = _set(env, "LDAP_URL")
    if url is None:
        raise SettingsError(f"LDAP_URL is not set, but {given[0]} is: set LDAP_URL (ldaps://dc1.corp.example.com) "
                            f"to use Active Directory, or unset the LDAP_* variables")
    parts = urlsplit(url)
    try:
        parts.port
    except ValueError:
        raise SettingsError(f"LDAP_URL is malformed: bad port in {url!r}") from None
    if parts.scheme not in ("ldaps", "ldap") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.username:
        raise SettingsError(f"LDAP_URL is malformed: expected ldaps://HOST[:PORT] (or ldap://HOST with "
                            f"LDAP_STARTTLS=1), got {url!r}")
    starttls = _bool(env, "LDAP_STARTTLS")
    if parts.scheme == "ldap" and not starttls:
        raise SettingsError(f"LDAP_URL {url} is plain LDAP: passwords would cross the network unencrypted; "
                            f"use ldaps://… or set LDAP_STARTTLS=1")
    if parts.scheme == "ldaps" and starttls:
        raise SettingsError("LDAP_STARTTLS=1 is for ldap:// URLs; LDAP_URL is ldaps:// and already encrypted")
    needed = "Active Directory (LDAP_URL) needs it"
    bind_dn = _required(env, "LDAP_BIND_DN", f"{needed}: the service account, as a DN or user@domain")
    if "=" in bind_dn:
        _dn_key("LDAP_BIND_DN", bind_dn)
    password = env.get("LDAP_BIND_PASSWORD", "")
    if not password.strip():
        raise SettingsError(f"LDAP_BIND_PASSWORD is not set: {needed}: the service account's password")
    base_dn = _required(env, "LDAP_BASE_DN", f"{needed}, e.g. DC=corp,DC=example,DC=com")
    base = _dn_key("LDAP_BASE_DN", base_dn)
    users_ou = _required(env, "LDAP_USERS_OU", f"{needed}: the OU new accounts are created in")
    dns = {"LDAP_USERS_OU": users_ou, "LDAP_DISABLED_OU": _set(env, "LDAP_DISABLED_OU"),
           "LDAP_GROUPS_BASE": _set(env, "LDAP_GROUPS_BASE")}
    for name, value in dns.items():
        if value is not None and _dn_key(name, value)[-len(base):] != base:
            raise SettingsError(f"{name} ({value}) is not under LDAP_BASE_DN ({base_dn})")
    ca_file = _set(env, "LDAP_CA_FILE")
    if ca_file is not None and not Path(ca_file).is_file():
        raise SettingsError(f"LDAP_CA_FILE={ca_file} does not exist (the CA certificate, PEM, that signed the "
                            f"domain controller's certificate)")
    tls_name = _set(env, "LDAP_TLS_NAME")
    if tls_name is not None and not _HOST.fullmatch(tls_name):
        raise SettingsError(f"LDAP_TLS_NAME is malformed: expected the host name in the DC's certificate, "
                            f"got {tls_name!r}")
    upn_domain = _set(env, "LDAP_UPN_DOMAIN")
    if upn_domain is None:   # DC=corp,DC=example,DC=com → corp.example.com
        upn_domain = ".".join(part for attr, part in base if attr == "dc") or None
    if upn_domain is not None and not _DOMAIN.fullmatch(upn_domain):
        raise SettingsError(f"LDAP_UPN_DOMAIN is malformed: expected a domain such as corp.example.com, "
                            f"got {upn_domain!r}")
    if upn_domain is None:
        raise SettingsError("LDAP_UPN_DOMAIN is not set and LDAP_BASE_DN has no DC= parts to derive it from")
    return {
        "ldap_url": url, "ldap_starttls": starttls, "ldap_bind_dn": bind_dn, "ldap_bind_password": Secret(password),
        "ldap_ca_file": ca_file, "ldap_tls_name": tls_name, "ldap_base_dn": base_dn, "ldap_users_ou": users_ou,
        "ldap_disabled_ou": dns["LDAP_DISABLED_OU"], "ldap_groups_base": dns["LDAP_GROUPS_BASE"],
        "ldap_upn_domain": upn_domain.lower(),
        "ldap_connect_timeout": _seconds(env, "LDAP_CONNECT_TIMEOUT", 10.0, 0.1, 300.0),
        # whole seconds: ldap3 packs it into SO_RCVTIMEO as an integer (a float fails on connect)
        "ldap_receive_timeout": _whole_seconds(env, "LDAP_RECEIVE_TIMEOUT", 30, 1, 600),
        "ldap_page_size": _int(env, "LDAP_PAGE_SIZE", 500, 1, 1000),   # AD's MaxPageSize is 1000
    }


def _https_url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (_set(env, name) or default).rstrip("/")
    parts = urlsplit(value)
    loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK
    if not (parts.scheme == "https" or loopback) or not parts.hostname or parts.query:
        raise SettingsError(f"{name} is malformed: expected an https:// URL, got {value!r}")
    return value


def _entra(env: Mapping[str, str]) -> dict:
    """The AZURE_*/GRAPH_URL/ENTRA_UPN_DOMAIN settings; {} (Entra ID not configured) when none is set."""
    given = [name for name in ENTRA_VARIABLES if _set(env, name)]
    if not given:
        return {}
    tenant = _set(env, "AZURE_TENANT_ID")
    if tenant is None:
        raise SettingsError(f"AZURE_TENANT_ID is not set, but {given[0]} is: set AZURE_TENANT_ID (the tenant's id "
                            f"or verified domain) to use Entra ID, or unset the Entra variables")
    if tenant.lower() in _MULTI_TENANT:
        raise SettingsError(f"AZURE_TENANT_ID is {tenant!r}, a multi-tenant alias: itbot signs in to one tenant; "
                            f"use its id (a GUID) or its verified domain (contoso.onmicrosoft.com)")
    if not (_GUID.fullmatch(tenant) or _DOMAIN.fullmatch(tenant)):
        raise SettingsError(f"AZURE_TENANT_ID is malformed: expected a GUID or a domain, got {tenant!r}")
    needed = "Entra ID (AZURE_TENANT_ID) needs it"
    client_id = _required(env, "AZURE_CLIENT_ID", f"{needed}: the app registration's Application (client) ID")
    if not _GUID.fullmatch(client_id):
        raise SettingsError(f"AZURE_CLIENT_ID is malformed: expected the Application (client) ID, a GUID, "
                            f"got {client_id!r}")
    secret = env.get("AZURE_CLIENT_SECRET", "")
    if not secret.strip():
        raise SettingsError(f"AZURE_CLIENT_SECRET is not set: {needed}: a client secret value of the app "
                            f"registration (Certificates & secrets)")
    graph_url = _https_url(env, "GRAPH_URL", DEFAULT_GRAPH_URL)
    if not graph_url.endswith("/v1.0"):
        raise SettingsError(f"GRAPH_URL is malformed: itbot uses Microsoft Graph v1.0, so it must end in /v1.0, "
                            f"got {graph_url!r}")
    upn_domain = _required(env, "ENTRA_UPN_DOMAIN", f"{needed}: the verified domain new accounts' sign-in "
                                                    f"names end in (contoso.com)")
    if not _DOMAIN.fullmatch(upn_domain):
        raise SettingsError(f"ENTRA_UPN_DOMAIN is malformed: expected a domain such as contoso.com, "
                            f"got {upn_domain!r}")
    return {
        "azure_tenant_id": tenant, "azure_client_id": client_id, "azure_client_secret": Secret(secret),
        "azure_authority_host": _https_url(env, "AZURE_AUTHORITY_HOST", DEFAULT_AUTHORITY_HOST),
        "graph_url": graph_url, "entra_upn_domain": upn_domain.lower(),
    }


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip() or default
    normalised = value.upper() if choices[0].isupper() else value.lower()
    if normalised not in choices:
        raise SettingsError(f"{name} is malformed: expected one of {', '.join(choices)}, got {value!r}")
    return normalised


__all__ = ["ConfigError", "Secret", "Settings", "SettingsError"]
