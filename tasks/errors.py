"""The errors a stage can raise about one item.

    NewsflowError              (every error carries the item it concerns and a stable reason)
    ├── TransientError         worth retrying later: timeouts, connection errors, 429, 5xx
    └── PermanentError         retrying cannot help; the item becomes a ``rejects`` row
        ├── FetchRefused       http_404, http_410, not_html, too_large, blocked_private, robots
        └── BadInput           parse_error, empty_text, empty_file, binary, bad_encoding, bad_url

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
