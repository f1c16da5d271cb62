"""Small real HTTP servers on 127.0.0.1 for the HTTP client tests.

Every server runs in background threads of the test process and is shut down
by its fixture; handlers get a connected socket and do whatever the test needs
(answer, stall, reset, send garbage...).
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import uvloop

Handler = Callable[[socket.socket, "ServerState"], None]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on a fresh uvloop event loop (the generator's loop)."""
    return uvloop.run(coro)


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes


@dataclass
class ServerState:
    connections: int = 0
    requests: list[Request] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def next(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter


def read_request(sock: socket.socket, buf: bytearray) -> Request | None:
    """One HTTP/1.1 request from ``sock`` (``buf`` keeps leftover bytes); None on EOF."""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    raw = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        raw.append((k.strip(), v.strip()))
    headers = {k.lower(): v for k, v in raw}
    n = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < n:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    buf[:] = body[n:]
    return Request(method, target, headers, raw, bytes(body[:n]))


def response(status: int = 200, body: bytes = b"", headers: list[tuple[str, str]] | None = None,
             reason: str = "OK", length: bool = True) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    for k, v in headers or []:
        lines.append(f"{k}: {v}")
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ThreadedServer:
    """Accepts on 127.0.0.1 (or another host) and runs ``handler`` per connection
    in a daemon thread."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1",
                 ssl_context: ssl.SSLContext | None = None) -> None:
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.handler = handler
        self.ssl = ssl_context
        self.state = ServerState()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.state.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self.state.lock:
                self.state.connections += 1
                self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.ssl is not None:
                conn.settimeout(5)
                try:
                    conn = self.ssl.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    conn.close()
                    return
                conn.settimeout(None)
            self.handler(conn, self.state)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self.state.stop.set()
        self.sock.close()
        with self.state.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
        self.thread.join(2)


# -- handlers -------------------------------------------------------------------------
def normal_handler(sock: socket.socket, state: ServerState) -> None:
    """Keep-alive server whose behaviour depends on the path."""
    buf = bytearray()
    while not state.stop.is_set():
        req = read_request(sock, buf)
        if req is None:
            return
        with state.lock:
            state.requests.append(req)
        path = req.target.split("?", 1)[0]
        head = req.method == "HEAD"
        if path == "/echo":
            body = json.dumps({"method": req.method, "target": req.target,
                               "headers": req.raw_headers,
                               "body": req.body.decode("utf-8", "replace")}).encode()
            sock.sendall(response(200, body, [("Content-Type", "application/json")]))
        elif path == "/chunked":
            sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: text/plain; charset=latin-1\r\n\r\n"
                         b"3\r\nh\xe9l\r\n")
            time.sleep(0.02)
            sock.sendall(b"2\r\nlo\r\n0\r\n\r\n")
        elif path == "/close":
            sock.sendall(response(200, b"bye", [("Connection", "close")]))
            return
        elif path in ("/204", "/304"):
            status = int(path[1:])
            sock.sendall(f"HTTP/1.1 {status} X\r\nX-A: 1\r\n\r\n".encode())
        elif path == "/big":
            n = int(req.target.split("n=", 1)[1]) if "n=" in req.target else 1 << 20
            body = bytes(range(256)) * (n // 256)
            sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                         + (b"" if head else body))
        elif path == "/bigchunked":
            part = b"x" * 100_000
            sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(10):
                sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        elif path == "/eof":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-eof")
            return
        elif path == "/slow":
            time.sleep(float(req.target.split("s=", 1)[1]) if "s=" in req.target else 0.05)
            sock.sendall(response(200, b"slow"))
        elif path == "/slowbody":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc")
            time.sleep(0.05)
            sock.sendall(b"def")
        elif path == "/interim":
            sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
            sock.sendall(response(201, b"final", [("X-Final", "yes")], reason="Created"))
        elif path == "/cookies":
            sock.sendall(response(200, b"{}", [("Set-Cookie", "a=1"), ("set-cookie", "b=2"),
                                               ("Content-Type", "application/json")]))
        elif path == "/badjson":
            sock.sendall(response(200, b"{nope", [("Content-Type", "application/json")]))
        elif path == "/partial":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            time.sleep(0.02)
            return
        elif path == "/utf8":
            sock.sendall(response(200, "héllo wörld".encode(),
                                  [("Content-Type", "text/plain; charset=utf-8")]))
        else:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: 5\r\n\r\n" + (b"" if head else b"hello"))


def reset_handler(sock: socket.socket, state: ServerState) -> None:
    """Accept, read a little, then RST (SO_LINGER 0)."""
    sock.settimeout(1)
    try:
        sock.recv(65536)
    except OSError:
        pass
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def stall_handler(sock: socket.socket, state: ServerState) -> None:
    """Accept and never answer."""
    state.stop.wait(30)


def garbage_handler(sock: socket.socket, state: ServerState) -> None:
    read_request(sock, bytearray())
    sock.sendall(b"HELLO\r\n\r\n")
    state.stop.wait(5)


def stale_keepalive_handler(sock: socket.socket, state: ServerState) -> None:
    """Answers the first request of each connection (keep-alive), then closes the
    connection without answering the second: a keep-alive race as seen by clients."""
    buf = bytearray()
    req = read_request(sock, buf)
    if req is None:
        return
    state.requests.append(req)
    sock.sendall(response(200, b"first"))
    req = read_request(sock, buf)
    if req is not None:
        state.requests.append(req)
    # close without answering


def only_first_handler(sock: socket.socket, state: ServerState) -> None:
    """The first request ever is answered (keep-alive); every later request on any
    connection is met with a close: the transparent retry fails too."""
    buf = bytearray()
    while True:
        req = read_request(sock, buf)
        if req is None:
            return
        if state.next() == 1:
            sock.sendall(response(200, b"only"))
        else:
            return


def idle_close_handler(sock: socket.socket, state: ServerState) -> None:
    """Answers one request, then closes the idle keep-alive connection shortly after."""
    buf = bytearray()
    req = read_request(sock, buf)
    if req is None:
        return
    sock.sendall(response(200, b"once"))
    time.sleep(0.05)
