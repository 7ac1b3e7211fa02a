"""Identity and text normalization: canonical URL, article_id, content_hash, word count.

All pure and deterministic: the same input gives the same ids on every machine and run.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

import courlan

_WS = re.compile(r"[^\S\n]+")
_BLANKS = re.compile(r"\n{2,}")
_WORD = re.compile(r"\w+")
# Zero-width and bidi control characters that make equal texts hash differently.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def normalize_text(text: str) -> str:
    """NFC, invisible characters dropped, runs of spaces folded, one paragraph per line."""
    text = unicodedata.normalize("NFC", text)
    if not text.isascii() and any(chr(c) in text for c in _INVISIBLE):
        text = text.translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # One pass over the whole text (_WS never matches a newline), then per-line trimming.
    lines = (line.strip() for line in _WS.sub(" ", text).split("\n"))
    return "\n".join(line for line in lines if line)


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace."""
    if not value or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, default port, tracking parameters and fragment dropped.

    Tracking parameters come from courlan's maintained list (utm_*, fbclid, gclid, ...).
    """
    url = url.strip()
    try:
        normalized = courlan.normalize_url(url, strict=False)
    except Exception:  # courlan raises assorted errors on odd input; keep the plain form
        normalized = url
    parts = urlsplit(normalized)
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def article_id(canonical: str) -> str:
    """A stable id for a canonical URL: 16 hex digits of its BLAKE2b hash."""
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=8).hexdigest()


def content_hash(text: str, words: list[str] | None = None) -> str:
    """Hash of the text with case, punctuation and spacing folded, for exact dedup.

    ``words``: ``\\w+`` runs of ``text.casefold()``, if the caller has them already.
    """
    if words is None:
        words = _WORD.findall(text.casefold())
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=16).hexdigest()


def word_count(text: str) -> int:
    return len(_WORD.findall(text))
