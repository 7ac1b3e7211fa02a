"""A real threaded HTTP server for fetch tests and benchmarks, with the faults the web has.

Routes are callables ``route(handler) -> None`` that write a whole response; every request
is recorded (path, headers, time). Bounded: daemon threads, closed by ``stop()``.
"""

from __future__ import annotations

import gzip
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = Callable[[BaseHTTPRequestHandler], None]


def article_html(title: str, paragraphs: list[str], *, head: str = "", charset: str = "") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head>{meta}<title>{title}</title>{head}</head><body>"
        f"<header><nav><a href='/'>Home</a></nav></header><main><article><h1>{title}</h1>"
        f"{body}</article></main><footer>Footer text</footer></body></html>"
    )


def sample_paragraphs(topic: str, n: int = 5) -> list[str]:
    return [
        f"Paragraph {i} about {topic}: the council met on Tuesday to discuss the budget, "
        f"and members argued at length about roads, schools and the harbour in {topic}."
        for i in range(1, n + 1)
    ]


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class FaultServer:
    host: str = "127.0.0.1"
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    latency: Callable[[], float] | None = None
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def count(self, path: str) -> int:
        """How many times ``path`` was requested (query included)."""
        return sum(1 for h in self.hits if h.path == path)

    def nth(self, path: str) -> int:
        """Increment and return how many times the route was called (for 503-then-200)."""
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1
            return self._counts[path]

    def start(self, port: int = 0) -> FaultServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: without TCP_NODELAY, Nagle plus the
            # client's delayed ACK add ~40 ms to every response (real servers set it too)
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.hits.append(Hit(self.path, dict(self.headers), time.time()))
                if server.latency is not None:
                    time.sleep(server.latency())
                route = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                try:
                    if route is None:
                        send(self, 404, b"not found", "text/plain")
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self._server = _QuietServer((self.host, port), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up on purpose (caps, deadlines) are expected here


def send(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    h.end_headers()
    h.wfile.write(body)


def page(body: str | bytes, content_type: str = "text/html; charset=utf-8", **kw: Any) -> Route:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return lambda h: send(h, 200, data, content_type, kw.get("headers"))


def status(code: int, **headers: str) -> Route:
    return lambda h: send(h, code, f"status {code}".encode(), "text/plain", headers)


def redirect(location: str, code: int = 302) -> Route:
    return lambda h: send(h, code, b"", "text/plain", {"Location": location})


def trickle(interval: float = 0.5, total: int = 60) -> Route:
    """Declares a body and sends it one byte every ``interval`` seconds (bounded)."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        for _ in range(total):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(interval)

    return route


def huge(size: int, *, declare: bool) -> Route:
    """``size`` bytes of HTML-ish filler, with or without a Content-Length."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        if declare:
            h.send_header("Content-Length", str(size))
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        chunk = b"<p>" + b"a" * 65530 + b"</p>"
        sent = 0
        while sent < size:
            piece = chunk[: size - sent]
            h.wfile.write(piece)
            sent += len(piece)

    return route


def gzip_bomb(decompressed: int = 1 << 30) -> bytes:
    """About 1 MB of valid gzip that inflates to ``decompressed`` bytes of zeros.

    After a full flush deflate starts afresh, so every 1 MiB block of zeros compresses to the
    same bytes: compress one block, repeat its bytes, and write the trailer by hand.
    """
    block = b"\0" * (1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    piece = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    header = first[: len(first) - len(piece)]
    end = comp.flush(zlib.Z_FINISH)[:-8]  # the final empty block, without the 2-block trailer
    blocks = decompressed >> 20
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    trailer = struct.pack("<II", crc, decompressed & 0xFFFFFFFF)
    return header + piece * blocks + end + trailer


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body)


def conditional(body: bytes, etag: str, content_type: str) -> Route:
    """200 with an ETag, or 304 when the client sends it back."""

    def route(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == etag:
            h.send_response(304)
            h.send_header("ETag", etag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        send(h, 200, body, content_type, {"ETag": etag})

    return route
