"""Query results as JSON lines: one object a line, keyed by column name, in column order."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TextIO
from uuid import UUID


def _plain(value: Any) -> Any:
    """A JSON-ready form of a DuckDB value (dates ISO 8601, decimals as numbers)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or Infinity
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    return value


def write_rows(out: TextIO, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    for row in rows:
        record = {name: _finite(value) for name, value in zip(columns, row, strict=True)}
        out.write(json.dumps(record, ensure_ascii=False, default=_plain))
        out.write("\n")
