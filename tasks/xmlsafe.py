"""The one DOCTYPE and entity policy for XML we did not write (feeds, OPML, sitemaps).

Entity declarations live in a DOCTYPE's internal subset, and they are how billion-laughs and
quadratic-blowup documents expand. No feed, OPML file or sitemap needs its own entities, so
a DOCTYPE with an internal subset is dropped whole before any XML parser (feedparser's
included) sees the bytes; the caller records that it happened.

A DOCTYPE is scanned as an XML parser reads it, not with a pattern: it ends at the first
``>`` outside quoted strings, the ``[...]`` subset and the comments in it, so a ``<`` inside
an entity value (``<!ENTITY a "<b/>">``) cannot hide it. UTF-16 and UTF-32 documents are
scanned as text and written back in their encoding. A DOCTYPE that never ends is refused
(``UnsafeXML``): no parser gets a document whose declarations we could not delimit.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

ENTITIES_REMOVED = "entity declarations removed"
# (byte-order mark or the first character's pattern, codec, bytes to keep before the text)
_WIDE = (
    (codecs.BOM_UTF32_LE, "utf-32-le", 4),
    (codecs.BOM_UTF32_BE, "utf-32-be", 4),
    (codecs.BOM_UTF16_LE, "utf-16-le", 2),
    (codecs.BOM_UTF16_BE, "utf-16-be", 2),
    (b"<\0\0\0", "utf-32-le", 0),
    (b"\0\0\0<", "utf-32-be", 0),
    (b"<\0", "utf-16-le", 0),
    (b"\0<", "utf-16-be", 0),
)
_DOCTYPE = re.compile("<!DOCTYPE", re.IGNORECASE)
_ENTITY_DECL = re.compile(r"""<!ENTITY\s+([^\s%][^\s"']*)\s*(?:"([^"]*)"|'([^']*)')?""")
_CHAR_REF = re.compile(r"&#(?:[0-9]{1,7}|x[0-9a-fA-F]{1,6});")
_PREDEFINED = {"amp", "lt", "gt", "quot", "apos"}
# CDATA sections and comments: references in them are text, kept as they are
_VERBATIM = re.compile(r"<!\[CDATA\[.*?\]\]>|<!--.*?-->", re.DOTALL)


class UnsafeXML(ValueError):
    """The document cannot be made safe (a DOCTYPE that never ends, undecodable UTF-16)."""


@dataclass(frozen=True, slots=True)
class Cleaned:
    data: bytes
    problem: str | None = None  # what was removed, for the item's health / error column


def _doctype_end(text: str, start: int) -> int:
    """Index just past the DOCTYPE starting at ``start`` (at ``<!DOCTYPE``); -1 if it never
    ends. Quoted strings are skipped everywhere, comments and processing instructions inside
    the ``[...]`` subset too: a ``>`` or ``<`` in them does not end anything."""
    i, depth, n = start + len("<!DOCTYPE"), 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            close = text.find(ch, i + 1)
            if close < 0:
                return -1
            i = close + 1
        elif depth and text.startswith("<!--", i):
            close = text.find("-->", i + 4)
            if close < 0:
                return -1
            i = close + 3
        elif depth and text.startswith("<?", i):
            close = text.find("?>", i + 2)
            if close < 0:
                return -1
            i = close + 2
        elif ch == "[":
            depth += 1
            i += 1
        elif ch == "]":
            depth = max(0, depth - 1)
            i += 1
        elif ch == ">" and not depth:
            return i + 1
        else:
            i += 1
    return -1


def _has_subset(decl: str) -> bool:
    """Whether a whole DOCTYPE declaration has an internal subset (a ``[`` outside quotes)."""
    quote = ""
    for ch in decl:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            return True
    return False


def _declared(subset: str, into: dict[str, str]) -> None:
    """The general entities a removed subset declared -> what their references become: a
    short literal value or one character reference (``<!ENTITY nbsp "&#160;">``) is kept,
    as it cannot grow the document; anything else (a reference to other entities, markup,
    an external entity, a long value) becomes nothing."""
    for match in _ENTITY_DECL.finditer(subset):
        name, value = match.group(1), match.group(2) or match.group(3)
        if name in _PREDEFINED or name in into:
            continue  # the first declaration of a name is the one that counts
        safe = value is not None and (
            _CHAR_REF.fullmatch(value) is not None
            or (len(value) <= 4 and not any(c in value for c in "&<%"))
        )
        into[name] = value if safe and value is not None else ""


def _strip(text: str) -> tuple[str, str | None]:
    """``text`` without any DOCTYPE that has an internal subset, and the problem met. Every
    ``<!DOCTYPE`` is looked at, not only the first of the prolog: one after stray text or a
    comment is removed too (never needed, and a lenient parser might still read it).
    References to the entities removed are replaced (``_declared``) outside CDATA sections
    and comments, so the document stays well-formed and parses on the strict, fast path."""
    pieces: list[str] = []
    entities: dict[str, str] = {}
    kept = 0
    pos = 0
    while (match := _DOCTYPE.search(text, pos)) is not None:
        end = _doctype_end(text, match.start())
        if end < 0:
            raise UnsafeXML("a DOCTYPE that never ends")
        if _has_subset(text[match.start() : end]):
            pieces.append(text[kept : match.start()])
            _declared(text[match.start() : end], entities)
            kept = end
        pos = end
    if not pieces:
        return text, None
    pieces.append(text[kept:])
    stripped = "".join(pieces)
    return _replace_references(stripped, entities) if entities else stripped, ENTITIES_REMOVED


def _replace_references(text: str, entities: dict[str, str]) -> str:
    """``&name;`` -> ``entities[name]`` outside CDATA sections and comments. One pattern per
    replacement value, substituted in C (no Python call per reference: a bomb holds many)."""
    by_value: dict[str, list[str]] = {}
    for name, value in entities.items():
        by_value.setdefault(value, []).append(name)
    patterns = [
        (
            re.compile(
                "&(?:" + "|".join(re.escape(n) for n in sorted(names, key=len)[::-1]) + ");"
            ),
            value.replace("\\", "\\\\"),
        )
        for value, names in by_value.items()
    ]
    pieces: list[str] = []
    kept = 0
    for match in [*_VERBATIM.finditer(text), None]:
        start = len(text) if match is None else match.start()
        part = text[kept:start]
        for pattern, value in patterns:
            part = pattern.sub(value, part)
        pieces.append(part)
        if match is not None:
            pieces.append(match.group(0))
            kept = match.end()
    return "".join(pieces)


def strip_doctype(data: bytes) -> Cleaned:
    """``data`` with every DOCTYPE internal subset (entity declarations) removed, and the
    problem to record; ``UnsafeXML`` when that cannot be done."""
    for mark, codec, keep in _WIDE:
        if data.startswith(mark):
            try:
                text = data[keep:].decode(codec)
            except UnicodeDecodeError as exc:
                raise UnsafeXML(f"not valid {codec}: {exc.reason}") from exc
            stripped, problem = _strip(text)
            return (
                Cleaned(data[:keep] + stripped.encode(codec), problem) if problem else Cleaned(data)
            )
    if b"<!" not in data:
        return Cleaned(data)
    # ASCII-compatible encodings (UTF-8 and the rest): latin-1 maps each byte to one
    # character and back, so every byte outside a removed DOCTYPE is kept exactly
    stripped, problem = _strip(data.decode("latin-1"))
    return Cleaned(stripped.encode("latin-1"), problem) if problem else Cleaned(data)
