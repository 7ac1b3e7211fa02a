"""The one HTTP client and a bounded ``fetch``: everything newsflow reads from the web.

Every byte from the web is untrusted, so:

- ``make_client`` is the only place a client is made: identifying User-Agent, no proxies or
  netrc from the environment, no automatic redirects, and a connection guard (SSRF) that
  resolves the host itself, refuses private, loopback, link-local, reserved, multicast and
  unspecified addresses (also IPv4-mapped IPv6 and numeric forms like ``2130706434``, which
  the resolver turns into addresses) unless ``NEWSFLOW_ALLOW_PRIVATE`` lists them, and then
  connects to the very address it checked: no second DNS lookup to rebind.
- ``fetch`` follows redirects itself (at most ``MAX_REDIRECTS`` hops, each one going through
  the guard, robots and politeness again), under one deadline for the whole request
  (httpx's timeouts are per phase: a server trickling a byte at a time never trips them).
- Bodies are bounded: a Content-Length over the cap is refused before reading, the stream
  stops at the cap, and content codings are decoded here with a bounded output (httpx
  decodes each network chunk whole, the decompression-bomb bug class).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import random
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import certifi
import httpcore
import httpx
from httpcore._backends.auto import AutoBackend

from newsflow.settings import IPNetwork, Settings
from newsflow.tasks.errors import FetchRefused, TransientError

MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

try:  # brotli only when installed and able to bound its output
    import brotli  # type: ignore[import-not-found,unused-ignore]

    _BROTLI = hasattr(brotli.Decompressor, "can_accept_more_data")
except ImportError:  # pragma: no cover - depends on the environment
    _BROTLI = False

ACCEPT_ENCODING = "gzip, deflate" + (", br" if _BROTLI else "")

# A hop guard wraps each hop's request: robots check and per-host politeness slot.
HopGuard = Callable[[str], AbstractAsyncContextManager[Any]]


class BlockedAddress(Exception):
    """The host resolved only to addresses we may not connect to."""

    def __init__(self, host: str, addresses: list[str]) -> None:
        self.host = host
        self.addresses = addresses
        super().__init__(f"{host} resolves to {', '.join(addresses)}: not a public address")


class ResolveFailed(Exception):
    """The host name did not resolve."""


def is_public(ip: IPAddress) -> bool:
    """Whether an address is an ordinary public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def address_allowed(address: str, allow: list[IPNetwork]) -> bool:
    """Public addresses, and exactly the private ones the user listed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if is_public(ip):
        return True
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return any(ip in net or (mapped is not None and mapped in net) for net in allow)


async def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """Every address of ``host`` (numeric forms such as ``2130706434`` included)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolveFailed(f"{host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves, checks, and connects to the checked address."""

    def __init__(self, allow: list[IPNetwork]) -> None:
        self._allow = list(allow)
        self._inner = AutoBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = [str(ipaddress.ip_address(host))]  # a literal: nothing to resolve
        except ValueError:
            addresses = await _resolve(host, port, timeout)
        allowed = [a for a in addresses if address_allowed(a, self._allow)]
        if not allowed:
            raise BlockedAddress(host, addresses)
        error: Exception | None = None
        for address in allowed[:3]:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that uses ``GuardedBackend``."""

    def __init__(self, allow: list[IPNetwork], limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow),
        )


def make_client(settings: Settings) -> httpx.AsyncClient:
    """The one way newsflow makes an HTTP client."""
    connections = max(settings.fetch_concurrency, 4) * 2
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        transport=GuardedTransport(settings.allow_private, limits),
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        timeout=httpx.Timeout(settings.http_timeout),
        follow_redirects=False,
        trust_env=False,
    )


@dataclass(slots=True)
class Response:
    """A fetched response: final URL after redirects and the decoded, capped body."""

    url: str
    final_url: str
    status: int
    headers: httpx.Headers
    body: bytes = b""
    truncated: bool = False
    redirects: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", ""))


class _Decoder:
    """Content-coding decoder whose output never exceeds what we ask for."""

    def __init__(self, coding: str, item: str) -> None:
        self._coding = coding
        self._first = True
        self._zlib: Any = None
        self._brotli: Any = None
        if coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
        elif coding == "br" and _BROTLI:
            self._brotli = brotli.Decompressor()
        elif coding not in ("", "identity"):
            raise FetchRefused(item, f"content coding {coding!r}", reason="bad_encoding")
        self._item = item

    def feed(self, data: bytes, limit: int) -> bytes:
        """Decoded bytes for ``data``, at most ``limit`` (reaching it means: too large)."""
        try:
            if self._zlib is not None:
                if self._first and self._coding == "deflate" and data and (data[0] & 0x0F) != 8:
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no header
                self._first = False
                return self._inflate(data, limit)
            if self._brotli is not None:
                out: bytes = self._brotli.process(data, output_buffer_limit=limit)
                return out
        except Exception as exc:  # zlib.error, brotli.error: corrupt data
            raise FetchRefused(self._item, f"{self._coding}: {exc}", reason="bad_encoding") from exc
        return data

    def _inflate(self, data: bytes, limit: int) -> bytes:
        """zlib output for ``data``; a gzip body may be several members one after another
        (RFC 1952), each decoded in turn within the same ``limit``."""
        out = bytearray()
        while True:
            if self._zlib.eof:
                rest = self._zlib.unused_data + data
                if self._coding == "deflate":
                    return bytes(out)  # one zlib stream; anything after it is ignored
                rest = rest.lstrip(b"\x00")  # gzip files may be padded with zeros
                if not rest:
                    return bytes(out)
                self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = rest
            out += self._zlib.decompress(data, limit - len(out))
            data = b""
            if len(out) >= limit or not self._zlib.eof or not self._zlib.unused_data:
                return bytes(out)


async def _read_body(
    resp: httpx.Response, cap: int, truncate: bool, item: str
) -> tuple[bytes, bool]:
    coding = resp.headers.get("content-encoding", "").strip().lower()
    declared = resp.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > cap and not truncate:
        raise FetchRefused(item, f"Content-Length {declared} > {cap}", reason="too_large")
    decoder = _Decoder(coding, item)
    out = bytearray()
    raw = 0
    async for chunk in resp.aiter_raw():
        raw += len(chunk)
        out += decoder.feed(chunk, cap - len(out) + 1)
        if len(out) > cap or raw > cap:
            if truncate:
                return bytes(out[:cap]), True
            raise FetchRefused(item, f"body larger than {cap} bytes", reason="too_large")
    return bytes(out), False


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def check_status(resp: Response) -> Response:
    """Raise the stable error for a non-success status; 2xx and 304 pass."""
    status = resp.status
    if 200 <= status < 300 or status == 304:
        return resp
    reason = f"http_{status}"
    detail = f"HTTP {status} from {resp.final_url}"
    if status in (408, 425, 429) or status >= 500:
        wait = retry_after_seconds(resp.headers.get("retry-after"))
        raise TransientError(resp.url, detail, reason=reason, retry_after=wait)
    raise FetchRefused(resp.url, detail, reason=reason)


async def _hop(
    client: httpx.AsyncClient,
    url: str,
    current: str,
    settings: Settings,
    budget: float,
    cap: int,
    truncate: bool,
    headers: Mapping[str, str] | None,
) -> tuple[str | None, Response | None, float]:
    """One request: (Location, None) for a redirect, else (None, Response); and the budget
    left."""
    location: str | None = None
    result: Response | None = None
    started = time.monotonic()
    try:
        async with asyncio.timeout(budget):
            request = client.build_request("GET", current, headers=headers)
            resp = await client.send(request, stream=True)
            try:
                if resp.status_code in _REDIRECTS and "location" in resp.headers:
                    location = resp.headers["location"]
                else:
                    body, truncated = b"", False
                    if resp.status_code < 300:
                        body, truncated = await _read_body(resp, cap, truncate, url)
                    result = Response(url, current, resp.status_code, resp.headers, body, truncated)
            finally:
                await resp.aclose()
    except TimeoutError as exc:
        raise TransientError(
            url, f"no complete response within {settings.http_timeout:g}s", reason="timeout"
        ) from exc
    except httpx.TimeoutException as exc:
        raise TransientError(url, f"{type(exc).__name__}", reason="timeout") from exc
    except BlockedAddress as exc:
        raise FetchRefused(url, str(exc), reason="blocked_private") from exc
    except ResolveFailed as exc:
        raise TransientError(url, str(exc), reason="dns_error") from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise FetchRefused(url, str(exc), reason="bad_url") from exc
    except httpx.HTTPError as exc:
        raise TransientError(
            url, f"{type(exc).__name__}: {exc}", reason="connection_error"
        ) from exc
    budget -= time.monotonic() - started
    return location, result, budget


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    *,
    headers: Mapping[str, str] | None = None,
    max_bytes: int | None = None,
    truncate: bool = False,
    guard: HopGuard | None = None,
) -> Response:
    """GET ``url`` once (redirects included): a ``Response`` for 2xx/304, else the error.

    ``guard(url)`` wraps every hop (robots, politeness); the deadline counts only time spent
    on the network, not time queued for a host's turn.
    """
    cap = max_bytes or settings.max_bytes
    budget = settings.http_timeout
    current = url
    seen = {url}
    redirects: list[str] = []
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchRefused(url, f"not an http(s) URL: {current[:200]}", reason="bad_url")
        try:
            async with guard(current) if guard else nullcontext():
                location, result, budget = await _hop(
                    client, url, current, settings, budget, cap, truncate, headers
                )
        except FetchRefused as exc:
            if exc.item != url:  # a later hop (or its robots.txt) refused: report the item
                raise FetchRefused(url, exc.detail, reason=exc.reason) from exc
            raise
        if location is None:
            assert result is not None
            result.redirects = redirects
            return check_status(result)
        try:
            nxt = urljoin(current, location.strip())
        except ValueError as exc:
            raise FetchRefused(url, f"bad Location {location[:200]!r}", reason="bad_url") from exc
        nxt = nxt.split("#", 1)[0]
        if nxt in seen:
            raise FetchRefused(url, f"redirect loop at {nxt}", reason="redirect_loop")
        seen.add(nxt)
        redirects.append(nxt)
        current = nxt
    raise FetchRefused(url, f"more than {MAX_REDIRECTS} redirects", reason="redirect_loop")


def backoff(attempt: int, settings: Settings) -> float:
    """Jittered exponential backoff before retry ``attempt`` (0-based)."""
    return float(min(settings.retry_max_wait, 0.5 * 2**attempt * random.uniform(0.5, 1.5)))


async def fetch_retrying(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    *,
    on_retry_after: Callable[[str, float], None] | None = None,
    **kwargs: Any,
) -> Response:
    """``fetch`` with transient failures retried (jittered backoff, Retry-After honoured).

    A Retry-After longer than ``NEWSFLOW_RETRY_MAX_WAIT`` is not waited for: the error is
    raised at once so the item is tried again on a later run.
    """
    attempt = 0
    while True:
        try:
            return await fetch(client, url, settings, **kwargs)
        except TransientError as error:
            if attempt >= settings.http_retries:
                raise
            delay = backoff(attempt, settings)
            if error.retry_after is not None:
                if error.retry_after > settings.retry_max_wait:
                    raise
                delay = max(delay, error.retry_after)
                if on_retry_after is not None:
                    on_retry_after(url, error.retry_after)
            attempt += 1
            await asyncio.sleep(delay)
