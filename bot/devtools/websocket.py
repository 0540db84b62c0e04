"""The server side of RFC 6455, as small as a test peer needs: the opening handshake, text frames,
fragments, ping/pong and the closing handshake. Frames from the client must be masked (§5.1); frames
from the server never are.
"""
from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from typing import Callable
from urllib.parse import parse_qs, urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_HANDSHAKE = 16 * 1024


class HandshakeError(ValueError):
    """The opening request was not a WebSocket upgrade this server accepts; ``status`` goes back."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def read_upgrade(sock: socket.socket) -> tuple[str, dict[str, list[str]], str]:
    """Read the client's opening handshake; (path, query, Sec-WebSocket-Accept value)."""
    data = b""
    while not data.endswith(b"\r\n\r\n"):   # a byte at a time: what follows is the client's first frame
        chunk = sock.recv(1)
        if not chunk or len(data) > MAX_HANDSHAKE:
            raise HandshakeError("400 Bad Request", "incomplete handshake")
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, target, version = (head[0].split(" ") + ["", "", ""])[:3]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
    if method != "GET" or version != "HTTP/1.1":
        raise HandshakeError("400 Bad Request", f"not a GET over HTTP/1.1: {head[0]!r}")
    if headers.get("upgrade", "").lower() != "websocket" or "upgrade" not in headers.get("connection", "").lower():
        raise HandshakeError("400 Bad Request", "not an upgrade to websocket")
    if headers.get("sec-websocket-version") != "13":
        raise HandshakeError("426 Upgrade Required", "Sec-WebSocket-Version must be 13")
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except ValueError:
        raise HandshakeError("400 Bad Request", "bad Sec-WebSocket-Key") from None
    parts = urlsplit(target)
    return parts.path, parse_qs(parts.query), accept_key(key)


def refuse(sock: socket.socket, status: str) -> None:
    sock.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())


def switch(sock: socket.socket, accept: str) -> None:
    sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())


class ProtocolError(Exception):
    """The client broke RFC 6455; the connection is failed with ``code``."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code


class ServerSocket:
    """One accepted, upgraded connection: ``receive`` returns whole messages; control frames are handled."""

    def __init__(self, sock: socket.socket, on_pong: Callable[[bytes], None] = lambda data: None):
        self.sock = sock
        self.on_pong = on_pong
        self._send_lock = threading.Lock()
        self.closing = False   # a close frame was sent

    def send(self, opcode: int, payload: bytes = b"") -> None:
        n = len(payload)
        length = bytes([n]) if n < 126 else (bytes([126]) + struct.pack("!H", n) if n < 1 << 16
                                             else bytes([127]) + struct.pack("!Q", n))
        with self._send_lock:
            self.sock.sendall(bytes([0x80 | opcode]) + length + payload)

    def send_text(self, text: str) -> None:
        self.send(TEXT, text.encode("utf-8"))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start (or answer) the closing handshake."""
        if not self.closing:
            self.closing = True
            try:
                self.send(CLOSE, struct.pack("!H", code) + reason.encode("utf-8"))
            except OSError:
                pass

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _frame(self) -> tuple[bool, int, bytes]:
        b1, b2 = self._exact(2)
        if b1 & 0x70:
            raise ProtocolError(1002, "reserved bits set without an extension")
        if not b2 & 0x80:
            raise ProtocolError(1002, "client frames must be masked")
        n = b2 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exact(8))[0]
        mask = self._exact(4)
        data = self._exact(n)
        return bool(b1 & 0x80), b1 & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def receive(self) -> tuple[int, bytes] | None:
        """The next data message (opcode, payload); None once the connection is closed."""
        opcode, parts = None, []
        while True:
            try:
                fin, op, data = self._frame()
            except (EOFError, OSError):
                return None
            except ProtocolError as exc:
                self.close(exc.code, str(exc))
                return None
            if op == PING:
                self.send(PONG, data)
            elif op == PONG:
                self.on_pong(data)
            elif op == CLOSE:
                self.close(struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1000)
                return None
            elif op in (TEXT, BINARY, CONTINUATION):
                if (op == CONTINUATION) != (opcode is not None):
                    self.close(1002, "unexpected continuation frame")
                    return None
                opcode = op if opcode is None else opcode
                parts.append(data)
                if fin:
                    return opcode, b"".join(parts)
            else:
                self.close(1002, f"unknown opcode {op}")
                return None

    def shutdown(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
