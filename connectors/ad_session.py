"""One TLS-protected, reused ldap3 connection to a domain controller, and the AD error mapping.

LDAPS or StartTLS only, with certificate validation; a dropped connection (a DC idles them out
after MaxConnIdleTime, 900 s by default) is reopened and the operation retried once. Every
operation is counted in ``round_trips`` so the cost of a workflow can be measured.
"""
from __future__ import annotations

import logging
import re
import ssl
import threading
from pathlib import Path
from typing import Callable, Iterator, TypeVar
from urllib.parse import urlsplit

from ldap3 import AUTO_BIND_NO_TLS, AUTO_BIND_TLS_BEFORE_BIND, BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core import exceptions as lx

from workflows.directory import (
    ConflictError,
    DirectoryError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    TransientError,
)
from workflows.redact import scrub_text

log = logging.getLogger("itbot.ad")
T = TypeVar("T")
PAGED_RESULTS = "1.2.840.113556.1.4.319"

_BY_RESULT = {
    32: NotFoundError, 68: ConflictError, 20: ConflictError, 66: ConflictError,
    50: PermissionDeniedError, 49: PermissionDeniedError, 8: PermissionDeniedError, 13: PermissionDeniedError,
    19: InvalidInputError, 21: InvalidInputError, 17: InvalidInputError, 16: InvalidInputError,
    34: InvalidInputError, 64: InvalidInputError, 65: InvalidInputError, 67: InvalidInputError,
    53: InvalidInputError,
    3: TransientError, 51: TransientError, 52: TransientError,   # timeLimitExceeded, busy, unavailable
}
_WINDOWS_CODE = re.compile(r"\b([0-9A-F]{8})\b")
# Windows codes that decide the class whatever the LDAP result says.
_BY_WINDOWS_CODE = {"0000052D": InvalidInputError, "00002071": ConflictError, "00000525": NotFoundError,
                    "00002030": NotFoundError, "00000005": PermissionDeniedError}
_DROPPED = (lx.LDAPSocketSendError, lx.LDAPSocketReceiveError, lx.LDAPSessionTerminatedByServerError,
            lx.LDAPSocketCloseError, lx.LDAPSocketOpenError)


class _NoPasswordDumps(logging.Filter):
    """ldap3's own debug log (detail EXTENDED) dumps modify requests, unicodePwd value included (in
    hex, so its 'hide sensitive data' misses it). Drop every ldap3 record that mentions unicodePwd."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "unicodepwd" not in record.getMessage().lower()


if not any(isinstance(f, _NoPasswordDumps) for f in logging.getLogger("ldap3").filters):
    logging.getLogger("ldap3").addFilter(_NoPasswordDumps())


def map_error(exc: Exception, action: str, secrets: tuple[str, ...] = ()) -> DirectoryError:
    """The directory error for an ldap3 exception, keeping the LDAP result and Windows code."""
    if isinstance(exc, lx.LDAPOperationResult):
        text = str(exc.message or exc.description or "")
        win = _WINDOWS_CODE.search(text)
        code = f"{exc.result} {exc.description}" + (f" {win.group(1)}" if win else "")
        cls = (win and _BY_WINDOWS_CODE.get(win.group(1))) or _BY_RESULT.get(exc.result, DirectoryError)
        return cls(scrub_text(f"AD {action} failed: {text}", secrets), system="ad", code=code)
    text = scrub_text(str(exc), secrets)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower() or "hostname" in text.lower():
        return DirectoryError(f"AD {action} failed: the domain controller's TLS certificate was not "
                              f"accepted (check LDAP_CA_FILE and LDAP_TLS_NAME): {text}",
                              system="ad", code="TLS_CERTIFICATE")
    if isinstance(exc, (lx.LDAPCommunicationError, lx.LDAPResponseTimeoutError, OSError)):
        return TransientError(f"AD {action} failed: {text}", system="ad", code=type(exc).__name__)
    return DirectoryError(f"AD {action} failed: {text}", system="ad", code=type(exc).__name__)


class ADSession:
    def __init__(self, url: str, bind_dn: str, bind_password, *, ca_file: str | None = None,
                 tls_name: str | None = None, starttls: bool = False, connect_timeout: float = 10,
                 receive_timeout: float = 30):
        parts = urlsplit(url)
        if parts.scheme not in ("ldaps", "ldap") or not parts.hostname:
            raise ValueError(f"LDAP_URL must look like ldaps://dc.example.com, got {url!r}")
        if parts.scheme == "ldap" and not starttls:
            raise ValueError(f"refusing plain LDAP to {url}: passwords and directory data would cross "
                             "the network unencrypted; use ldaps://… or enable StartTLS (LDAP_STARTTLS=1)")
        if parts.scheme == "ldaps" and starttls:
            raise ValueError("StartTLS is for ldap:// URLs; an ldaps:// URL is already encrypted")
        if ca_file and not Path(ca_file).is_file():
            raise ValueError(f"LDAP_CA_FILE {ca_file!r} does not exist")
        self.url = url
        self.host, self.starttls = parts.hostname, starttls
        self.port = parts.port or (389 if parts.scheme == "ldap" else 636)
        self.tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file,
                       valid_names=[tls_name] if tls_name else None)
        self.bind_dn, self._password = bind_dn, bind_password
        self.connect_timeout, self.receive_timeout = connect_timeout, receive_timeout
        self.round_trips = 0
        self.reconnects = 0
        self._conn: Connection | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"ADSession({self.url!r}, bind_dn={self.bind_dn!r})"

    # --- connection ----------------------------------------------------------------------------

    def _open(self) -> Connection:
        server = Server(self.host, port=self.port, use_ssl=not self.starttls, tls=self.tls,
                        get_info=NONE, connect_timeout=self.connect_timeout)
        password = self._password.reveal() if hasattr(self._password, "reveal") else self._password
        auto_bind = AUTO_BIND_TLS_BEFORE_BIND if self.starttls else AUTO_BIND_NO_TLS
        try:
            conn = Connection(server, self.bind_dn, password, auto_bind=auto_bind, raise_exceptions=True,
                              receive_timeout=self.receive_timeout, return_empty_attributes=True)
        except lx.LDAPException as exc:
            raise map_error(exc, f"bind to {self.url} as {self.bind_dn}", (password,)) from None
        self.round_trips += 2 if self.starttls else 1   # (StartTLS +) bind
        return conn

    def connection(self) -> Connection:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = self._open()
            return self._conn

    def drop(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.unbind()
            except Exception:  # the socket is already gone; nothing to tidy
                pass

    close = drop

    def call(self, action: str, operation: Callable[[Connection], T], *, retry: bool = True,
             secrets: tuple[str, ...] = ()) -> T:
        """Run one LDAP operation; reopen and retry once if the connection had been dropped."""
        with self._lock:
            for attempt in (1, 2):
                conn = self.connection()
                self.round_trips += 1
                try:
                    return operation(conn)
                except _DROPPED as exc:
                    self.drop()
                    if attempt == 2 or not retry or "timed out" in str(exc):
                        raise map_error(exc, action, secrets) from None
                    self.reconnects += 1
                    log.info("AD connection lost (%s); reconnecting once", type(exc).__name__)
                except lx.LDAPException as exc:
                    raise map_error(exc, action, secrets) from None
        raise AssertionError("unreachable")

    # --- operations ----------------------------------------------------------------------------

    def search(self, base: str, ldap_filter: str, attributes: list[str], *, scope=SUBTREE,
               size_limit: int = 0) -> list[tuple[str, dict]]:
        def run(conn: Connection):
            conn.search(base, ldap_filter, scope, attributes=attributes, size_limit=size_limit)
            return _entries(conn.response)

        try:
            return self.call(f"search under {base}", run)
        except NotFoundError:
            if scope == BASE:
                return []
            raise

    def paged_search(self, base: str, ldap_filter: str, attributes: list[str], *,
                     page_size: int = 500) -> Iterator[tuple[str, dict]]:
        """All entries, fetched ``page_size`` at a time (a drop after the first page is not retried:
        the paging cookie belongs to the lost connection)."""
        cookie: bytes | None = None
        first = True
        while True:
            def run(conn: Connection, cookie=cookie):
                conn.search(base, ldap_filter, SUBTREE, attributes=attributes, paged_size=page_size,
                            paged_cookie=cookie)
                control = (conn.result.get("controls") or {}).get(PAGED_RESULTS) or {}
                return _entries(conn.response), control.get("value", {}).get("cookie")

            entries, cookie = self.call(f"paged search under {base}", run, retry=first)
            first = False
            yield from entries
            if not cookie:
                return

    def add(self, dn: str, object_class: list[str], attributes: dict) -> None:
        self.call(f"create {dn}", lambda c: c.add(dn, object_class, attributes))

    def modify(self, dn: str, changes: dict, *, action: str | None = None,
               secrets: tuple[str, ...] = ()) -> None:
        self.call(action or f"modify {dn}", lambda c: c.modify(dn, changes), secrets=secrets)

    def modify_dn(self, dn: str, rdn: str, new_superior: str) -> None:
        self.call(f"move {dn} to {new_superior}", lambda c: c.modify_dn(dn, rdn, new_superior=new_superior))


def _entries(response) -> list[tuple[str, dict]]:
    """Search entries only (Samba also returns referrals to its DNS partitions)."""
    return [(r["dn"], dict(r["attributes"])) for r in response or () if r.get("type") == "searchResEntry"]
