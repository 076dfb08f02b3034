"""A scripted HTTP server on 127.0.0.1: answers each request with the next planned reply.

For the fault tests: a 503 then success, a server that answers too late, and a record
of what arrived (headers, bodies) to check what the sender did.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from servers import serving


@dataclass
class Reply:
    status: int
    body: dict | str = ""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stub:
    url: str
    plan: list[Reply]
    requests: list[dict] = field(default_factory=list)


@contextmanager
def http_stub(plan: list[Reply], default: Reply | None = None, tls: ssl.SSLContext | None = None
              ) -> Iterator[Stub]:
    """Serve ``plan`` in order, then ``default`` (or the last reply) for ever after; over
    https when given a server ``tls`` context."""
    lock = threading.Lock()
    stub = Stub("", list(plan))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with lock:
                stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                reply = stub.plan.pop(0) if stub.plan else (default or plan[-1])
            if reply.delay:
                time.sleep(reply.delay)
            data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json" if isinstance(reply.body, dict)
                                 else "text/plain")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data.encode())))
                self.end_headers()
                self.wfile.write(data.encode())
            except OSError:  # the client gave up (time-out test)
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    stub.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    with serving(server):
        yield stub


def free_port() -> int:
    """A port nothing listens on (bound then released: a refused connection, for the tests)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def tcp_stub(mode: str) -> Iterator[tuple[str, int, list[bytes]]]:
    """A TCP listener on 127.0.0.1 that misbehaves: ``silent`` reads and never answers,
    ``close`` reads and hangs up. Yields (host, port, what it received)."""
    import socket

    received: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(2)
            try:
                received.append(conn.recv(65536))
            except OSError:
                pass
            if mode == "close":
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", listener.getsockname()[1], received
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


def self_signed(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 with a throw-away self-signed certificate (openssl),
    and the certificate's path (a CA bundle a client may choose to trust)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert
