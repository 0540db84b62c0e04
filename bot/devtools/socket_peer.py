"""Slack's end of Socket Mode, on loopback: the WebSocket an app connects to after ``apps.connections.open``.

As Slack does it (docs.slack.dev, "Using Socket Mode"): ``apps.connections.open`` hands out a URL with a
one-time ticket; the app connects and is greeted with ``{"type": "hello", ...}``; events, slash commands and
interactivity then arrive as envelopes ``{"envelope_id", "type", "payload", "accepts_response_payload"}``, each
answered on the socket with ``{"envelope_id"[, "payload"]}``; ``{"type": "disconnect", "reason":
"refresh_requested"}`` asks the app to open a new connection. The URL is ``ws://`` on a loopback port, which
slack_sdk's built-in client reaches without TLS (it wraps the socket in TLS only on port 443).
"""
from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from bot.devtools.websocket import PING, TEXT, HandshakeError, ServerSocket, read_upgrade, refuse, switch


@dataclass
class Connection:
    """One app connection as the peer sees it."""
    number: int
    ws: ServerSocket
    open: bool = True
    received: list[dict[str, Any]] = field(default_factory=list)   # every JSON message the app sent
    pongs: list[bytes] = field(default_factory=list)


class SocketModePeer:
    def __init__(self, *, app_id: str = "A0ITBOT"):
        self.app_id = app_id
        self.connections: list[Connection] = []
        self.refused: list[str] = []   # why handshakes were refused
        self._tickets: set[str] = set()
        self._acks: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # lifecycle ----------------------------------------------------------------
    def start(self) -> "SocketModePeer":
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._spawn(self._accept, "socket-peer")
        return self

    def stop(self) -> None:
        if self._listener is None:
            return
        listener, self._listener = self._listener, None
        try:
            listener.shutdown(socket.SHUT_RDWR)   # wakes the accept() below; close() alone does not
        except OSError:
            pass
        listener.close()
        for conn in list(self.connections):
            conn.ws.close(1001, "going away")
            conn.ws.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)

    def issue_url(self) -> str:
        """What ``apps.connections.open`` returns: a fresh URL whose ticket is good for one connection."""
        assert self._listener, "SocketModePeer is not started"
        ticket = secrets.token_hex(8)
        with self._cond:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket={ticket}&app_id={self.app_id}"

    # what Slack sends -----------------------------------------------------------
    def send(self, message: dict[str, Any], *, connection: Connection | None = None) -> None:
        """Send a message on ``connection`` (default: the newest open one)."""
        conn = connection or self.wait_connection()
        conn.ws.send_text(json.dumps(message))

    def send_envelope(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False,
                      **extra: Any) -> str:
        envelope_id = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(6)}"
        self.send({"envelope_id": envelope_id, "type": kind, "payload": payload,
                   "accepts_response_payload": accepts_response_payload, **extra})
        return envelope_id

    def request_refresh(self, reason: str = "refresh_requested") -> Connection:
        """Tell the app to reconnect, as Slack does before it recycles a connection; the connection asked."""
        conn = self.wait_connection()
        self.send({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-local"}}, connection=conn)
        return conn

    def close_connection(self, code: int = 1001, reason: str = "going away") -> Connection:
        """Close the newest connection from Slack's side (the closing handshake); the connection closed."""
        conn = self.wait_connection()
        conn.ws.close(code, reason)
        return conn

    def ping(self, payload: bytes = b"peer") -> Connection:
        conn = self.wait_connection()
        conn.ws.send(PING, payload)
        return conn

    # reading back ---------------------------------------------------------------
    def wait_connection(self, count: int = 1, *, timeout: float = 30.0) -> Connection:
        """The newest open connection, once at least ``count`` connections were made."""
        return self._wait(lambda: len(self.connections) >= count and self._newest_open(),
                          timeout, f"{count} Socket Mode connection(s)")

    def wait_closed(self, conn: Connection, *, timeout: float = 15.0) -> None:
        self._wait(lambda: not conn.open, timeout, f"connection {conn.number} to close")

    def wait_pong(self, conn: Connection, payload: bytes, *, timeout: float = 15.0) -> None:
        self._wait(lambda: payload in conn.pongs, timeout, f"pong {payload!r} on connection {conn.number}")

    def wait_ack(self, envelope_id: str, *, timeout: float = 15.0) -> dict[str, Any]:
        return self._wait(lambda: self._acks.get(envelope_id), timeout, f"the ack of envelope {envelope_id}")

    def _newest_open(self) -> Connection | None:
        return next((c for c in reversed(self.connections) if c.open), None)

    def _wait(self, found: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := found()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {what} within {timeout}s (refused handshakes: {self.refused or 'none'})")
                self._cond.wait(remaining)
            return result

    # serving ----------------------------------------------------------------------
    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while self._listener is not None:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self._spawn(self._serve, "socket-peer-conn", sock)

    def _serve(self, sock: socket.socket) -> None:
        try:
            path, query, accept = read_upgrade(sock)
            ticket = (query.get("ticket") or [""])[0]
            with self._cond:
                if path != "/link/" or ticket not in self._tickets:
                    raise HandshakeError("401 Unauthorized", f"unknown or used ticket on {path}")
                self._tickets.discard(ticket)
            switch(sock, accept)
        except (HandshakeError, OSError) as exc:
            with self._cond:
                self.refused.append(str(exc))
                self._cond.notify_all()
            if isinstance(exc, HandshakeError):
                try:
                    refuse(sock, exc.status)
                except OSError:
                    pass
            sock.close()
            return
        with self._cond:
            conn = Connection(len(self.connections) + 1, ServerSocket(sock))
            conn.ws.on_pong = lambda data: self._record(conn.pongs, data)
            conn.ws.send_text(json.dumps({
                "type": "hello", "num_connections": 1 + sum(c.open for c in self.connections),
                "debug_info": {"host": "applink-local", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id}}))
            self.connections.append(conn)
            self._cond.notify_all()
        self._read(conn)

    def _record(self, into: list[Any], item: Any) -> None:
        with self._cond:
            into.append(item)
            self._cond.notify_all()

    def _read(self, conn: Connection) -> None:
        while (message := conn.ws.receive()) is not None:
            opcode, data = message
            if opcode != TEXT:
                continue
            try:
                body = json.loads(data)
            except ValueError:
                conn.ws.close(1007, "Socket Mode messages are JSON")
                break
            if "envelope_id" in body:
                with self._cond:
                    self._acks.setdefault(body["envelope_id"], body)
            self._record(conn.received, body)
        conn.ws.shutdown()
        with self._cond:
            conn.open = False
            self._cond.notify_all()
