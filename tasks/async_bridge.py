"""Running a coroutine from sync code (Prefect tasks, the CLI), whatever thread it is in."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def _into(box: dict[str, Any], coro: Coroutine[Any, Any, Any]) -> None:
    box["value"] = await coro


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when this thread already runs an event loop.

    The result comes back through a box, not as the main task's result: in the main thread
    ``asyncio.run`` checks its SIGINT handler with ``signal.getsignal``, whose failed enum
    lookup formats the handler's repr, hence the main task's and its result's (a whole
    batch: ~1 s for 300 pages with their MinHash signatures)."""
    box: dict[str, Any] = {}
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_into(box, coro))
        result: T = box["value"]
        return result

    def target() -> None:
        try:
            asyncio.run(_into(box, coro))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
