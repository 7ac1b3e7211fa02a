"""The errors a stage can raise about one item.

    NewsflowError              (every error carries the item it concerns and a stable reason)
    ├── TransientError         worth retrying later: timeouts, connection errors, 429, 5xx
    └── PermanentError         retrying cannot help; the item becomes a ``rejects`` row
        ├── FetchRefused       http_404, http_410, not_html, too_large, blocked_private, robots,
        │                      robots_unavailable
        └── BadInput           parse_error, empty_text, no_story, empty_file, binary, bad_encoding,
                               bad_url, process_error (any other exception on one item:
                               ``item_error``)

Prefect retries only ``TransientError`` (see ``retry_transient``). ``reason`` is a short code that
never changes once published (analysts group ``rejects`` by it); ``detail`` is for people.
``REASONS`` lists every code a ``rejects`` row can carry; tests/test_reasons.py checks that the
code emits no other and that README.md lists each.
"""

from __future__ import annotations

from typing import Any

# Every ``rejects.reason``, with what it means (README.md, "Reject reasons", says the same).
# ``http_<status>`` stands for every HTTP status that is not a success (``http_404``, ...).
REASONS: dict[str, str] = {
    "http_<status>": "the server answered with that status (after retries, for 429/5xx)",
    "timeout": "no complete response within NEWSFLOW_HTTP_TIMEOUT",
    "connection_error": "the connection failed (refused, reset, TLS)",
    "dns_error": "the host name does not resolve",
    "not_html": "the page is not HTML (a PDF, an image, JSON)",
    "too_large": "the body is over NEWSFLOW_MAX_BYTES (after decompression), or a seed file "
    "over NEWSFLOW_SEED_MAX_BYTES",
    "blocked_private": "a private, loopback or reserved address not in NEWSFLOW_ALLOW_PRIVATE",
    "robots": "a robots.txt rule disallows the page",
    "robots_unavailable": "robots.txt could not be fetched (5xx, refused, DNS, timeout): "
    "not fetched, per RFC 9309; the cause is in detail",
    "redirect_loop": "a redirect loop, or more than 5 redirects",
    "bad_url": "not an http(s) URL, or a bad redirect Location",
    "bad_encoding": "a content or text encoding that cannot be decoded",
    "parse_error": "not a readable HTML document, feed, sitemap or seed file",
    "empty_text": "no text at all",
    "no_story": "the page has text but no story (navigation, links, a listing, a removed or "
    "not-found page, a login stub, boilerplate only); the kind is in detail",
    "consent_wall": "a consent wall, and no feed summary to keep instead",
    "bot_challenge": "a bot challenge, and no feed summary to keep instead",
    "extract_error": "extraction failed on the page (a bug: the detail has the exception)",
    "extract_timeout": "extraction took too long",
    "extract_crash": "the extraction worker died twice on the page",
    "process_error": "processing one item failed (a bug: the detail names the exception)",
    "empty_file": "a seed file with no text",
    "binary": "a seed file that is binary, not text",
    "unreadable": "a seed file that cannot be read",
    "not_a_file": "a seed path that is a FIFO, socket or device (never opened for reading)",
    "broken_link": "a seed path that is a symbolic link to nothing",
    "sitemap_limit": "sitemaps left unread: the limit of sitemap files per root was reached",
    "not_a_feed": "a feed URL that does not serve a feed",
    "no_link": "a feed entry with no http(s) link",
}


class NewsflowError(Exception):
    """An error about one item (a URL, a seed path, a feed)."""

    reason: str = "error"

    def __init__(self, item: str, detail: str = "", *, reason: str | None = None) -> None:
        self.item = item
        self.detail = detail
        if reason is not None:
            self.reason = reason
        super().__init__(f"{self.reason}: {item}" + (f" ({detail})" if detail else ""))


class TransientError(NewsflowError):
    """A failure that may succeed when tried again later."""

    reason = "transient"

    def __init__(
        self,
        item: str,
        detail: str = "",
        *,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(item, detail, reason=reason)
        self.retry_after = retry_after


class PermanentError(NewsflowError):
    """A failure that retrying cannot fix: the item is rejected with ``reason``."""

    reason = "permanent"


class FetchRefused(PermanentError):
    """The fetcher would not or could not get a usable page (404, robots, too large, ...)."""

    reason = "fetch_refused"


class BadInput(PermanentError):
    """The bytes we were given cannot become an article."""

    reason = "parse_error"


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry a task only when it failed transiently."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


def item_error(exc: BaseException, item: str) -> NewsflowError:
    """Any exception met while handling one item, as that item's error: the one per-item
    boundary of every processing path, so one hostile item is rejected, never the run.

    A ``NewsflowError`` stays as it is; a charset the codecs cannot decode with
    (``LookupError``, ``UnicodeError``) is ``bad_encoding``; anything else (a bug, a library
    tripping on odd input) is ``process_error`` with the exception's class in ``detail``."""
    if isinstance(exc, NewsflowError):
        return exc
    detail = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, LookupError | UnicodeError) and not isinstance(exc, KeyError | IndexError):
        return BadInput(item, detail, reason="bad_encoding")
    return BadInput(item, detail, reason="process_error")
