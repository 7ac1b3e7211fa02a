"""Operator errors: a bad setting, an unusable ``--db``, a missing filesystem package, a full
disk. The command line prints each as one line and exits 2, never with a traceback.

``describe`` recognises them among exceptions (the cause chain included, since flows and
workers wrap what they hit) and says what to do; anything else is not an operator error.
"""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from newsflow.settings import Settings

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "disk is full")
_QUOTED_PATH = re.compile(r"[\"']((?:/|\./|\.\./|[A-Za-z]:\\)[^\"']+)[\"']")


class MissingFilesystem(Exception):
    """A spool URL whose fsspec filesystem package is not installed."""


def check_spool_filesystem(spool: str) -> None:
    """Refuse a spool URL whose filesystem cannot be loaded (``s3://`` without s3fs)."""
    protocol, sep, _ = spool.partition("://")
    if not sep or len(protocol) < 2:  # a plain path (or a Windows drive letter)
        return
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MissingFilesystem(f"NEWSFLOW_SPOOL={spool}: {detail}") from exc


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)


def _settings_message(error: ValidationError) -> str:
    fields = Settings.model_fields
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else ""
        variable = f"NEWSFLOW_{name.upper()}" if name in fields else name or "settings"
        value = item.get("input")
        shown = f"={value}" if isinstance(value, str | int | float) else ""
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{variable}{shown}: {message}")
    return "bad setting: " + "; ".join(problems)


def _disk_full(exc: BaseException, settings: Settings | None) -> str | None:
    for current in _chain(exc):
        path: str | None = None
        if isinstance(current, OSError) and current.errno in _DISK_FULL:
            path = current.filename or current.filename2
            reason = current.strerror or "No space left on device"
        elif any(text in str(current) for text in _DISK_FULL_TEXT):
            match = _QUOTED_PATH.search(str(current))
            path = match.group(1) if match else None
            reason = next(t for t in _DISK_FULL_TEXT if t in str(current))
        else:
            continue
        if path is None and settings is not None:
            path = f"{settings.db} or the spool {settings.spool}"
        where = f" writing {path}" if path else ""
        return (
            f"disk full{where} ({reason}): free space there and run again; batches already "
            "spooled are kept and load on the next run"
        )
    return None


def describe(exc: BaseException, settings: Settings | None = None) -> str | None:
    """One line saying what the operator must fix, or None if ``exc`` is not theirs."""
    from newsflow.warehouse.db import UnusableWarehouse

    for current in _chain(exc):
        if isinstance(current, ValidationError) and current.title == Settings.__name__:
            return _settings_message(current)
        if isinstance(current, UnusableWarehouse | MissingFilesystem):
            return str(current)
    return _disk_full(exc, settings)


class HideOperatorTracebacks(logging.Filter):
    """Drops the console's error records of an operator error (Prefect logs a failed run's
    traceback); the command prints its one line instead, and the API log keeps the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # a full disk is said once, by the command's own line, whoever met it first
        if any(text in record.getMessage() for text in _DISK_FULL_TEXT):
            return False
        if record.levelno < logging.ERROR:
            return True
        if record.exc_info and record.exc_info[1] is not None:
            return describe(record.exc_info[1]) is None
        return True


@contextmanager
def quiet_operator_errors() -> Iterator[None]:
    """``HideOperatorTracebacks`` on every console handler of the ``prefect`` loggers."""
    hide = HideOperatorTracebacks()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name == "prefect" or name.startswith("prefect.")
    ]
    handlers = {
        id(h): h
        for lg in loggers
        for h in lg.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    }
    for handler in handlers.values():
        handler.addFilter(hide)
    try:
        yield
    finally:
        for handler in handlers.values():
            handler.removeFilter(hide)
