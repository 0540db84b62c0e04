"""Entra ID app-only tokens for Microsoft Graph: client credentials through msal, cached per process.

One ``msal.ConfidentialClientApplication`` exists per (authority, client id, credential) in the process;
msal keeps the token in its in-memory cache and answers from it until shortly before expiry, so the
token endpoint is called about once an hour however many connectors are built.

msal returns errors in the result dict rather than raising. They become a ``PermissionDeniedError``
(bad secret, unknown tenant or client, missing consent) or a ``TransientError`` (the identity platform
is busy or unreachable), with the AAD code kept (``AADSTS7000215`` …). The secret never appears in
a message: the text msal hands back is scrubbed of it before it is used.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msal
import msal.exceptions
import requests

from workflows.directory import PermissionDeniedError, TransientError
from workflows.redact import scrub_text

log = logging.getLogger(__name__)

SYSTEM = "entra"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
_MULTI_TENANT = {"common", "organizations", "consumers"}
_TRANSIENT_ERRORS = {"temporarily_unavailable", "server_error", "slow_down"}


def _reveal(secret: Any) -> str:
    """Accept a plain string or any holder with ``reveal()`` (bot.settings.Secret)."""
    return secret.reveal() if hasattr(secret, "reveal") else str(secret or "")


@dataclass(frozen=True)
class GraphConfig:
    """What the Entra connector needs; ``client_secret`` is a str or an object with ``reveal()``."""

    tenant_id: str
    client_id: str
    client_secret: Any
    authority_host: str = DEFAULT_AUTHORITY_HOST
    graph_url: str = DEFAULT_GRAPH_URL
    upn_domain: str | None = None      # bare usernames become username@upn_domain
    timeout: float = 10.0              # seconds, on every HTTP call (Graph and token endpoint)

    def __post_init__(self) -> None:
        if not self.tenant_id or self.tenant_id.lower() in _MULTI_TENANT:
            raise ValueError("AZURE_TENANT_ID must be the tenant's id or verified domain, not a multi-tenant alias")
        if not self.client_id or not _reveal(self.client_secret):
            raise ValueError("AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are required for Entra ID")

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    @property
    def base_url(self) -> str:
        return self.graph_url.rstrip("/")

    @property
    def scope(self) -> str:
        """``https://graph.microsoft.com/.default`` for the public cloud; follows GRAPH_URL elsewhere."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}/.default"

    def secrets(self) -> list[str]:
        """Credential values, for the log redactor."""
        return [_reveal(self.client_secret)]

    def __repr__(self) -> str:
        return (f"GraphConfig(tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, client_secret='***', "
                f"authority_host={self.authority_host!r}, graph_url={self.graph_url!r})")


_apps: dict[tuple[str, str, str], msal.ConfidentialClientApplication] = {}
_apps_lock = threading.Lock()


def _app_for(config: GraphConfig) -> msal.ConfidentialClientApplication:
    secret = _reveal(config.client_secret)
    key = (config.authority, config.client_id, hashlib.sha256(secret.encode()).hexdigest())
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = msal.ConfidentialClientApplication(
                config.client_id, client_credential=secret, authority=config.authority,
                timeout=config.timeout, instance_discovery=False)
            _apps[key] = app
        return app


def forget_apps() -> None:
    """Drop the per-process msal apps (tests: msal caches failures, so a retry needs a fresh app)."""
    with _apps_lock:
        _apps.clear()


class TokenSource:
    """Hands out Graph access tokens; ``fetches`` counts the calls that reached the token endpoint."""

    def __init__(self, config: GraphConfig):
        self._config = config
        self.fetches = 0

    def token(self) -> str:
        secret = _reveal(self._config.client_secret)
        try:
            result = _app_for(self._config).acquire_token_for_client(scopes=[self._config.scope])
        except requests.Timeout:
            raise TransientError("the Entra token endpoint timed out", system=SYSTEM, code="timeout") from None
        except requests.RequestException as exc:
            raise TransientError(f"the Entra token endpoint is unreachable ({type(exc).__name__})",
                                 system=SYSTEM, code="connection_error") from None
        except msal.exceptions.MsalServiceError as exc:   # msal raises this for a 5xx answer
            raise TransientError(f"the Entra token endpoint failed: {scrub_text(str(exc), [secret])}",
                                 system=SYSTEM, code="token_endpoint_error") from None
        except ValueError as exc:  # msal: the authority's metadata could not be read (unknown tenant)
            raise PermissionDeniedError(f"Entra authority {self._config.authority} rejected: "
                                        f"{scrub_text(str(exc), [secret])}", system=SYSTEM,
                                        code="invalid_authority") from None
        if "access_token" not in result:
            raise token_error(result, secret)
        if result.get("token_source") != "cache":
            self.fetches += 1
            log.debug("graph token acquired from the identity platform")
        return result["access_token"]


def token_error(result: dict, secret: str = "") -> PermissionDeniedError | TransientError:
    """The error msal returned in its result dict, as a directory error keeping the AAD code."""
    error = str(result.get("error") or "unknown_error")
    codes = result.get("error_codes") or []
    code = f"AADSTS{codes[0]}" if codes else error
    summary = str(result.get("error_description") or "").splitlines()[0:1]
    text = scrub_text(summary[0] if summary else error, [secret] if secret else [])
    message = f"Entra token request failed: {error}: {text}"
    if error in _TRANSIENT_ERRORS:
        return TransientError(message, system=SYSTEM, code=code)
    return PermissionDeniedError(message, system=SYSTEM, code=code)
