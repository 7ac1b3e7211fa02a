"""Seed intake: seed files (articles or URL lists) into candidates.

Any bytes give candidates or a ``BadInput`` with a stable reason; nothing else escapes.

An article file: line 1 title, line 2 date ``YYYYMMDD``, line 3 source URL, then the body, one
paragraph a line; ``Comment:`` lines are the publisher's editorial comments. A URL list: every
non-blank line that is not a ``#`` comment is an http(s) URL.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from charset_normalizer import from_bytes

from newsflow.tasks.errors import BadInput, item_error
from newsflow.tasks.normalize import is_http_url
from newsflow.tasks.records import Candidate, DateClaim, Note, RejectRow

COMMENT_PREFIX = "Comment:"
DEFAULT_MAX_BYTES = 10_000_000  # NEWSFLOW_SEED_MAX_BYTES
# Files in a seed folder that are configuration or documentation, not seeds.
_NOT_SEEDS = {".toml", ".opml", ".md", ".json", ".yaml", ".yml"}
# Control, surrogate and private-use characters: a few are noise, many mean binary data.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff]")
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_EARLIEST_YEAR = 1991  # the web's first pages; earlier dates are typos
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def discover(paths: Iterable[Path]) -> list[Path]:
    """Seed files named directly, or found (recursively, sorted) in folders.

    Hidden files and configuration files (``feeds.toml``, ``*.opml``, ...) in folders are
    skipped; a file named explicitly is always taken.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                # Not only regular files: a FIFO or a dangling link gets its reject when read.
                if not child.is_dir() and child.suffix.lower() not in _NOT_SEEDS:
                    found.append(child)
        else:
            found.append(path)
    return found


def decode(data: bytes, source: str) -> str:
    """Bytes to text: a BOM decides, else UTF-8, else a confident detection, else reject."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _check_text(data.decode(encoding), source)
            except UnicodeDecodeError as exc:
                raise BadInput(source, f"invalid {encoding}: {exc}", reason="bad_encoding") from exc
    if b"\x00" in data:
        raise BadInput(source, "NUL bytes: a binary file, not text", reason="binary")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        if best is None or best.chaos > 0.2:
            raise BadInput(
                source, "not UTF-8 and no encoding fits the bytes", reason="bad_encoding"
            ) from None
        text = str(best)
    return _check_text(text, source)


def _check_text(text: str, source: str) -> str:
    controls = len(_CONTROL.findall(text))
    if "\x00" in text or controls > max(2, len(text) // 200):
        raise BadInput(source, f"{controls} control characters: a binary file", reason="binary")
    return text


def parse_seed(data: bytes, source: str, *, now: datetime | None = None) -> list[Candidate]:
    """One seed file's bytes into candidates: one with text for an article file, one per URL
    (to be fetched) for a URL list. Raises ``BadInput`` for anything else."""
    now = now or datetime.now(UTC)
    text = decode(data, source)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    content = [line for line in lines if line]
    if not content:
        raise BadInput(source, "the file has no text", reason="empty_file")
    listed = [line for line in content if not line.startswith("#")]
    if listed and all(is_http_url(line) for line in listed):
        return [Candidate(origin="seed", source=source, url=url, seen_at=now) for url in listed]
    return [_parse_article(content, source, now)]


def _parse_article(lines: list[str], source: str, now: datetime) -> Candidate:
    title = lines[0]
    rest = lines[1:]
    notes: list[Note] = []
    dates: list[DateClaim] = []
    if rest and is_http_url(rest[0]):  # the date line is missing
        notes.append(Note("bad_date", "no date line; published_at left NULL"))
        url, body = rest[0], rest[1:]
    elif len(rest) >= 2:
        published, problem = parse_seed_date(rest[0], now)
        if published is None:
            notes.append(Note("bad_date", f"{problem}; published_at left NULL"))
        else:
            dates.append(DateClaim("published", published, "seed"))
        url, body = rest[1], rest[2:]
    else:
        raise BadInput(source, "needs a title, a date, a URL and a body", reason="parse_error")
    if not is_http_url(url):
        raise BadInput(source, f"line 3 is not an http(s) URL: {url[:200]!r}", reason="bad_url")
    paragraphs: list[str] = []
    comments: list[str] = []
    for line in body:
        if line.startswith(COMMENT_PREFIX):
            comment = line[len(COMMENT_PREFIX) :].strip()
            if comment:
                comments.append(comment)
        else:
            paragraphs.append(line)
    if not paragraphs:
        raise BadInput(source, "no article text after the header lines", reason="empty_text")
    return Candidate(
        origin="seed",
        source=source,
        url=url,
        title=title,
        dates=dates,
        text="\n".join(paragraphs),
        comments=comments,
        notes=notes,
        seen_at=now,
    )


def parse_seed_date(value: str, now: datetime) -> tuple[datetime | None, str]:
    """``YYYYMMDD`` (or ``YYYY-MM-DD``) as midnight UTC, or None and why not."""
    match = _DATE.match(value)
    if not match:
        return None, f"date line {value[:40]!r} is not YYYYMMDD"
    try:
        year, month, day = (int(g) for g in match.groups())
        parsed = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None, f"date {value!r} does not exist"
    if parsed.year < _EARLIEST_YEAR or parsed > now:
        return None, f"date {value!r} is before the web or in the future"
    return parsed, ""


def read_seed_bytes(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """A seed file's bytes, or ``BadInput``: only a regular file, only up to ``max_bytes``.

    Opened without blocking (a FIFO would wait for a writer forever) and checked with fstat
    on the open file before reading, so a huge or special file costs nothing to reject.
    """
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError as exc:
        if path.is_symlink():
            target = os.readlink(path)
            raise BadInput(
                source, f"symbolic link to {target}, which does not exist", reason="broken_link"
            ) from exc
        raise BadInput(source, f"cannot open: {exc.strerror}", reason="unreadable") from exc
    except OSError as exc:
        raise BadInput(source, f"cannot open: {exc.strerror}", reason="unreadable") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "not a regular file"
            raise BadInput(source, f"{kind}: only regular files are read", reason="not_a_file")
        if info.st_size > max_bytes:
            raise BadInput(
                source,
                f"{info.st_size} bytes > {max_bytes} (NEWSFLOW_SEED_MAX_BYTES)",
                reason="too_large",
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the check
        raise BadInput(source, f"more than {max_bytes} bytes", reason="too_large")
    return data


def read_seed_files(
    paths: Iterable[Path],
    run_id: str,
    *,
    now: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[list[Candidate], list[RejectRow]]:
    """Read and parse seed files: candidates for the good ones, rejects for the rest."""
    now = now or datetime.now(UTC)
    candidates: list[Candidate] = []
    rejects: list[RejectRow] = []
    for path in paths:
        source = str(path)
        try:
            data = read_seed_bytes(path, max_bytes)
        except BadInput as error:
            rejects.append(RejectRow(source, "intake", error.reason, error.detail, run_id, now))
            continue
        except OSError as exc:
            rejects.append(RejectRow(source, "intake", "unreadable", str(exc), run_id, now))
            continue
        try:
            candidates.extend(parse_seed(data, source, now=now))
        except Exception as exc:  # one file's problem, whatever it is, is only its own
            failed = item_error(exc, source)
            rejects.append(RejectRow(source, "intake", failed.reason, failed.detail, run_id, now))
    return candidates, rejects
