"""The errors a stage can raise about one item.

    NewsflowError              (every error carries the item it concerns and a stable reason)
    ├── TransientError         worth retrying later: timeouts, connection errors, 429, 5xx
    └── PermanentError         retrying cannot help; the item becomes a ``rejects`` row
        ├── FetchRefused       http_404, http_410, not_html, too_large, blocked_private, robots
        └── BadInput           parse_error, empty_text, empty_file, binary, bad_encoding, bad_url,
                               process_error (any other exception on one item: ``item_error``)

Prefect retries only ``TransientError`` (see ``retry_transient``). ``reason`` is a short code that
never changes once published (analysts group ``rejects`` by it); ``detail`` is for people.
"""

from __future__ import annotations

from typing import Any


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
